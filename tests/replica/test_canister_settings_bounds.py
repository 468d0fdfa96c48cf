"""Canister settings are bounded as on the IC: creation and ``update_settings`` refuse a
value out of range, naming the setting, the value and the range, and change nothing.

Before the bounds, anyone could create a canister (``provisional_create_canister_with_cycles``
is open) or update their own with a 302-digit freezing threshold or memory allocation,
which every later fee computation and status reply carried along; a refusal part-way
through ``update_settings`` also left the controllers it had already changed.
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal, RejectCode
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.management import (
    CANISTER_SETTINGS,
    CREATE_RESULT,
    MAX_CYCLES,
    PROVISIONAL_CREATE_ARGS,
    SETTING_BOUNDS,
)

OWNER = Principal.self_authenticating(b"owner key")
OTHERS = [Principal.self_authenticating(bytes([n]) * 8) for n in range(11)]

# setting: (largest value, the range as the refusal shows it, its unit)
BOUNDS = {
    "compute_allocation": (100, "[0..100]", "percent"),
    "memory_allocation": (2**48, "[0..2^48]", "bytes"),
    "freezing_threshold": (2**64 - 1, "[0..2^64-1]", "seconds"),
    "reserved_cycles_limit": (2**128 - 1, "[0..2^128-1]", "cycles"),
    "wasm_memory_limit": (2**48, "[0..2^48]", "bytes"),
    "wasm_memory_threshold": (2**64 - 1, "[0..2^64-1]", "bytes"),
}


@pytest.fixture
def replica() -> Replica:
    return Replica.open()


@pytest.fixture
def canister(replica: Replica) -> Principal:
    return replica.create_canister(sender=OWNER)


def snapshot(replica: Replica) -> tuple[object, ...]:
    subnet = replica.subnet
    return (
        sorted(subnet.canister_state.states), subnet.canister_state.next_canister_index,
        {raw: (state.cycles, state.version, state.settings.to_data(), len(state.history))
         for raw, state in subnet.canister_state.states.items()},
    )


def create_with(replica: Replica, settings: dict[str, Any]) -> Principal:
    full = {field.label: None for field in CANISTER_SETTINGS.fields}
    full.update(settings)
    arg = encode([PROVISIONAL_CREATE_ARGS], [{
        "amount": None, "settings": full, "specified_id": None, "sender_canister_version": None}])
    reply = replica.update(Principal.management_canister(),
                           "provisional_create_canister_with_cycles", arg, sender=OWNER)
    (result,) = decode(reply, [CREATE_RESULT])
    created: Principal = result["canister_id"]
    return created


def refused_update(replica: Replica, canister: Principal,
                   settings: dict[str, Any]) -> CanisterError:
    before = snapshot(replica)
    with pytest.raises(CanisterError) as info:
        replica.update_settings(canister, settings, sender=OWNER)
    assert snapshot(replica) == before
    return info.value


def refused_create(replica: Replica, settings: dict[str, Any]) -> CanisterError:
    before = snapshot(replica)
    with pytest.raises(CanisterError) as info:
        create_with(replica, settings)
    assert snapshot(replica) == before
    return info.value


def out_of_range(name: str, shown: str) -> str:
    _, bounds, unit = BOUNDS[name]
    return f"Invalid settings: {name} expected to be in the range {bounds} ({unit}), got {shown}"


def test_the_table_matches_the_replicas_bounds() -> None:
    assert {name: bound for name, (bound, _, _) in SETTING_BOUNDS.items()} == {
        name: bound for name, (bound, _, _) in BOUNDS.items()}
    assert BOUNDS["reserved_cycles_limit"][0] == MAX_CYCLES


@pytest.mark.parametrize("name", BOUNDS)
def test_update_settings_accepts_the_largest_value(replica: Replica, canister: Principal,
                                                   name: str) -> None:
    largest = BOUNDS[name][0]
    replica.update_settings(canister, {name: largest}, sender=OWNER)
    assert replica.canister_status(canister, sender=OWNER)["settings"][name] == largest


@pytest.mark.parametrize("name", BOUNDS)
def test_update_settings_refuses_one_more(replica: Replica, canister: Principal,
                                          name: str) -> None:
    beyond = BOUNDS[name][0] + 1
    error = refused_update(replica, canister, {name: beyond})
    assert error.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert error.reject_code is RejectCode.CANISTER_ERROR
    assert error.message == out_of_range(name, f"{beyond:,}")


@pytest.mark.parametrize("name", BOUNDS)
def test_a_huge_value_is_refused_and_shown_by_its_size(replica: Replica, canister: Principal,
                                                        name: str) -> None:
    error = refused_update(replica, canister, {name: 2**1000})
    assert error.message == out_of_range(name, "a 302-digit amount (at least 2**1000)")
    assert len(error.message) < 200


@pytest.mark.parametrize("name", BOUNDS)
def test_creation_accepts_the_largest_value(replica: Replica, name: str) -> None:
    largest = BOUNDS[name][0]
    created = create_with(replica, {name: largest})
    assert replica.canister_status(created, sender=OWNER)["settings"][name] == largest


@pytest.mark.parametrize("name", BOUNDS)
def test_creation_refuses_one_more_and_spends_no_canister_id(replica: Replica,
                                                             name: str) -> None:
    beyond = BOUNDS[name][0] + 1
    error = refused_create(replica, {name: beyond})
    assert error.error_code is ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert error.message == out_of_range(name, f"{beyond:,}")
    first = Principal.from_canister_index(replica.subnet.config.first_canister_index)
    assert replica.create_canister(sender=OWNER) == first


@pytest.mark.parametrize(("name", "value", "shown"), [
    ("compute_allocation", 101, "101"),
    ("freezing_threshold", 2**64, "18,446,744,073,709,551,616"),
])
def test_a_refused_update_keeps_the_controllers_it_was_given_with(
        replica: Replica, canister: Principal, name: str, value: int, shown: str) -> None:
    """The attack: one update_settings hands the canister to others and sets a value out
    of range; the refusal must not leave the hand-over done."""
    error = refused_update(replica, canister, {"controllers": OTHERS[:2], name: value})
    assert error.message == out_of_range(name, shown)
    status = replica.canister_status(canister, sender=OWNER)
    assert status["settings"]["controllers"] == [OWNER]


def test_at_most_ten_controllers(replica: Replica, canister: Principal) -> None:
    error = refused_update(replica, canister, {"controllers": OTHERS})
    assert error.error_code is ErrorCode.INVALID_MANAGEMENT_PAYLOAD
    assert error.message == "Invalid settings: 11 controllers given; at most 10 are allowed"
    error = refused_create(replica, {"controllers": OTHERS})
    assert error.message == "Invalid settings: 11 controllers given; at most 10 are allowed"
    ten = [OWNER, *OTHERS[:9]]
    replica.update_settings(canister, {"controllers": ten}, sender=OWNER)
    assert replica.canister_status(canister, sender=OWNER)["settings"]["controllers"] == ten


def test_at_most_ten_log_viewers(replica: Replica, canister: Principal) -> None:
    error = refused_update(replica, canister,
                           {"log_visibility": {"allowed_viewers": OTHERS}})
    assert error.error_code is ErrorCode.INVALID_MANAGEMENT_PAYLOAD
    assert error.message == (
        "Invalid settings: log_visibility allowed_viewers lists 11 principals; at most 10 "
        "are allowed")
    replica.update_settings(canister, {"log_visibility": {"allowed_viewers": OTHERS[:10]}},
                            sender=OWNER)
    settings = replica.subnet.canister_state.states[canister.raw].settings
    assert settings.log_visibility == "allowed_viewers"


def test_zero_is_accepted_for_every_setting(replica: Replica, canister: Principal) -> None:
    replica.update_settings(canister, dict.fromkeys(BOUNDS, 0), sender=OWNER)
    settings = replica.canister_status(canister, sender=OWNER)["settings"]
    assert {name: settings[name] for name in BOUNDS} == dict.fromkeys(BOUNDS, 0)
