"""Who may be a canister, and how many cycles one may hold: the open management methods.

``provisional_create_canister_with_cycles`` is open to anyone on a local replica, so its
``specified_id`` must name a canister id of the subnet's range: were a user's principal
accepted, its creator would install code there and call other canisters as that user.
No credit (provisional creation, ``provisional_top_up_canister``, ``deposit_cycles``)
may lift a balance above a u128. Each refusal leaves the subnet as it was.
"""

from __future__ import annotations

from typing import Any

import pytest
import wasmtime

from icframework.candid.binary import encode
from icframework.core import ErrorCode, Principal, RejectCode
from icframework.identity import Ed25519Identity
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.management import CANISTER_ID, MAX_CYCLES
from tests.replica.wat_counter import counter_wasm, nat64_reply

VICTIM = Ed25519Identity.from_seed(bytes(range(32))).principal
ATTACKER = Principal.self_authenticating(b"attacker key")


@pytest.fixture
def replica() -> Replica:
    return Replica.open()


def subnet_snapshot(replica: Replica) -> tuple[object, ...]:
    subnet = replica.subnet
    return (sorted(subnet.canister_state.states), subnet.canister_state.next_canister_index,
            {raw: state.cycles for raw, state in subnet.canister_state.states.items()})


def refused(replica: Replica, **create: Any) -> CanisterError:
    before = subnet_snapshot(replica)
    with pytest.raises(CanisterError) as info:
        replica.create_canister(sender=ATTACKER, **create)
    assert subnet_snapshot(replica) == before
    return info.value


HOSTILE_IDS = {
    "a user's self-authenticating principal": VICTIM,
    "the anonymous principal": Principal.anonymous(),
    "the management canister": Principal.management_canister(),
    "not a canister id": Principal(b"\x07"),
}


@pytest.mark.parametrize("kind", HOSTILE_IDS)
def test_a_specified_id_that_is_no_canister_id_is_refused(replica: Replica, kind: str) -> None:
    replica.create_canister(sender=ATTACKER)
    hostile = HOSTILE_IDS[kind]
    error = refused(replica, specified_id=hostile)
    assert error.error_code is ErrorCode.CANISTER_NOT_HOSTED_BY_SUBNET
    assert error.reject_code is RejectCode.CANISTER_REJECT
    config = replica.subnet.config
    low = Principal.from_canister_index(config.first_canister_index).to_text()
    high = Principal.from_canister_index(config.last_canister_index).to_text()
    assert error.message == (
        f"Unsuccessful validation of specified ID: Specified CanisterId {hostile.to_text()} is "
        f"not hosted by subnet {Principal(config.subnet_id).to_text()} ({kind}). Specify a "
        f"canister id from {low} to {high} (indexes 0x8000000000100000 to 0x80000000001fffff), "
        "or none.")


@pytest.mark.parametrize("index", [0, 7, 0x80000000000FFFFF, 0x8000000000200000, 2**64 - 1])
def test_a_canister_id_outside_the_subnets_range_is_refused(replica: Replica,
                                                             index: int) -> None:
    outside = Principal.from_canister_index(index)
    error = refused(replica, specified_id=outside)
    assert error.error_code is ErrorCode.CANISTER_NOT_HOSTED_BY_SUBNET
    assert (f"Specified CanisterId {outside.to_text()} is not hosted by subnet"
            in error.message)
    assert f"(a canister id outside this subnet's range (index {index:#x}))" in error.message


def test_a_canister_id_inside_the_range_is_granted(replica: Replica) -> None:
    last = Principal.from_canister_index(replica.subnet.config.last_canister_index)
    assert replica.create_canister(sender=ATTACKER, specified_id=last) == last
    assert refused(replica, specified_id=last).error_code is ErrorCode.CANISTER_ID_ALREADY_EXISTS


def test_the_victims_principal_cannot_be_made_a_canister_that_calls_as_the_victim(
        replica: Replica) -> None:
    """The attack: create a canister under the victim's principal and let it call a
    canister the victim owns, which would believe the victim is calling."""
    victims = replica.create_canister(sender=VICTIM)
    replica.install_code(victims, counter_wasm(), sender=VICTIM)
    refused(replica, specified_id=VICTIM)
    with pytest.raises(CanisterError) as info:
        replica.install_code(VICTIM, counter_wasm(), sender=ATTACKER)
    assert info.value.error_code is ErrorCode.CANISTER_NOT_FOUND
    with pytest.raises(CanisterError) as info:
        replica.stop_canister(victims, sender=ATTACKER)
    assert info.value.error_code is ErrorCode.CANISTER_INVALID_CONTROLLER
    assert replica.update(victims, "inc") == nat64_reply(1)


def test_absurd_provisional_amounts_are_refused(replica: Replica) -> None:
    error = refused(replica, cycles=2**1000)
    assert error.error_code is ErrorCode.INVALID_MANAGEMENT_PAYLOAD
    assert error.message == (
        "ic00 method provisional_create_canister_with_cycles: a 302-digit amount (at least "
        "2**1000) cycles would give the new canister a balance above the largest a canister "
        "can hold, 2**128-1 cycles (a u128); its balance is 0, so add at most "
        f"{MAX_CYCLES:,} cycles.")
    assert refused(replica, cycles=MAX_CYCLES + 1).error_code is (
        ErrorCode.INVALID_MANAGEMENT_PAYLOAD)
    full = replica.create_canister(sender=ATTACKER, cycles=MAX_CYCLES)
    assert replica.subnet.canister_state.states[full.raw].cycles == MAX_CYCLES


def test_a_hostile_specified_id_with_absurd_cycles_is_refused(replica: Replica) -> None:
    error = refused(replica, specified_id=VICTIM, cycles=2**1000)
    assert error.error_code is ErrorCode.CANISTER_NOT_HOSTED_BY_SUBNET


def test_a_refused_creation_does_not_spend_a_canister_id(replica: Replica) -> None:
    refused(replica, controllers=[ATTACKER] * 11)
    first = replica.create_canister(sender=ATTACKER)
    assert first == Principal.from_canister_index(replica.subnet.config.first_canister_index)


def test_top_up_never_lifts_a_balance_above_a_u128(replica: Replica) -> None:
    canister = replica.create_canister(sender=ATTACKER, cycles=MAX_CYCLES - 5)
    for amount in (6, 2**1000):
        with pytest.raises(CanisterError) as info:
            replica.top_up(canister, amount, sender=ATTACKER)
        assert info.value.error_code is ErrorCode.INVALID_MANAGEMENT_PAYLOAD
        assert info.value.message.startswith("ic00 method provisional_top_up_canister: ")
        assert (f"would give {canister.to_text()} a balance above the largest a canister can "
                f"hold, 2**128-1 cycles (a u128); its balance is {MAX_CYCLES - 5:,}, so add "
                "at most 5 cycles.") in info.value.message
        assert replica.subnet.canister_state.states[canister.raw].cycles == MAX_CYCLES - 5
    replica.top_up(canister, 5, sender=ATTACKER)
    assert replica.subnet.canister_state.states[canister.raw].cycles == MAX_CYCLES


# A canister that calls ``aaaaa-aa.deposit_cycles`` with cycles attached: its argument is
# the amount (u128, little-endian) followed by the Candid argument of deposit_cycles.
# It replies "ok", or the reject message it got.
DEPOSITOR_WAT = r"""
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reject_msg_size" (func $reject_size (result i32)))
  (import "ic0" "msg_reject_msg_copy" (func $reject_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "call_new" (func $call_new (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (import "ic0" "call_data_append" (func $call_data_append (param i32 i32)))
  (import "ic0" "call_cycles_add128" (func $call_cycles_add128 (param i64 i64)))
  (import "ic0" "call_perform" (func $call_perform (result i32)))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $on_reply $on_reject)
  (data (i32.const 0) "deposit_cycles")
  (data (i32.const 32) "ok")

  (func (export "canister_update deposit")
    (call $arg_copy (i32.const 1024) (i32.const 0) (call $arg_size))
    (call $call_new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 14)
                    (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0))
    (call $call_data_append (i32.const 1040) (i32.sub (call $arg_size) (i32.const 16)))
    (call $call_cycles_add128 (i64.load (i32.const 1032)) (i64.load (i32.const 1024)))
    (drop (call $call_perform)))

  (func $on_reply (param $env i32)
    (call $append (i32.const 32) (i32.const 2))
    (call $reply))

  (func $on_reject (param $env i32)
    (call $reject_copy (i32.const 2048) (i32.const 0) (call $reject_size))
    (call $append (i32.const 2048) (call $reject_size))
    (call $reply)))
"""


def test_deposit_cycles_never_lifts_a_balance_above_a_u128(replica: Replica) -> None:
    depositor = replica.create_canister(sender=ATTACKER)
    replica.install_code(depositor, bytes(wasmtime.wat2wasm(DEPOSITOR_WAT)), sender=ATTACKER)
    target = replica.create_canister(sender=ATTACKER, cycles=MAX_CYCLES - 1_000)
    arg = encode([CANISTER_ID], [{"canister_id": target}])

    def deposit(amount: int) -> bytes:
        return replica.update(depositor, "deposit", amount.to_bytes(16, "little") + arg)

    spendable = replica.subnet.canister_state.states[depositor.raw].cycles
    reply = deposit(10**12)
    assert reply.decode() == (
        f"ic00 method deposit_cycles: 1,000,000,000,000 cycles would give {target.to_text()} a "
        "balance above the largest a canister can hold, 2**128-1 cycles (a u128); its balance is "
        f"{MAX_CYCLES - 1_000:,}, so add at most 1,000 cycles.")
    assert replica.subnet.canister_state.states[target.raw].cycles == MAX_CYCLES - 1_000
    refunded = replica.subnet.canister_state.states[depositor.raw].cycles
    assert spendable - refunded < 10**12 // 10  # the attached cycles came back; fees were spent
    assert deposit(1_000) == b"ok"
    assert replica.subnet.canister_state.states[target.raw].cycles == MAX_CYCLES
