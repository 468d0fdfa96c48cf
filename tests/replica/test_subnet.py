"""Subnet semantics with a hand-written canister: atomicity, queries, rejects, persistence."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import icframework.replica.subnet as subnet_module
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.management import ManagementCanister
from icframework.replica.subnet import SubnetConfig
from tests.replica.wat_counter import counter_wasm, nat64_reply

CONTROLLER = Principal.self_authenticating(b"test controller key")
STRANGER = Principal.self_authenticating(b"someone else")


@pytest.fixture
def replica() -> Replica:
    return Replica.open()


@pytest.fixture
def counter(replica: Replica) -> Principal:
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
    return canister


def test_update_and_query(replica: Replica, counter: Principal) -> None:
    assert replica.update(counter, "inc") == nat64_reply(1)
    assert replica.update(counter, "inc") == nat64_reply(2)
    assert replica.query(counter, "get") == nat64_reply(2)
    assert replica.query(counter, "memory_counter") == nat64_reply(2)


def test_query_changes_are_discarded(replica: Replica, counter: Principal) -> None:
    replica.update(counter, "inc")
    assert replica.query(counter, "bump_in_query") == nat64_reply(2)
    assert replica.query(counter, "get") == nat64_reply(1)
    assert replica.query(counter, "memory_counter") == nat64_reply(1)


def test_trap_rolls_back_globals_memory_and_stable(replica: Replica, counter: Principal) -> None:
    replica.update(counter, "inc")
    replica.update(counter, "save_stable")
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "inc_then_trap")
    assert info.value.error_code is ErrorCode.CANISTER_CALLED_TRAP
    assert "Canister called `ic0.trap` with message: 'oops'" in info.value.message
    assert counter.to_text() in info.value.message
    assert replica.query(counter, "get") == nat64_reply(1)
    assert replica.query(counter, "memory_counter") == nat64_reply(1)
    assert replica.query(counter, "load_stable") == nat64_reply(1)


def test_trap_after_memory_grow_restores_the_heap(replica: Replica, counter: Principal) -> None:
    replica.update(counter, "inc")
    size_before = replica.subnet.canister_state.sandboxes[counter.raw].heap_size
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "grow_then_trap")
    assert info.value.error_code is ErrorCode.CANISTER_TRAPPED
    assert "unreachable" in info.value.message
    assert replica.subnet.canister_state.sandboxes[counter.raw].heap_size == size_before
    assert replica.update(counter, "inc") == nat64_reply(2)


def test_explicit_reject_keeps_state(replica: Replica, counter: Principal) -> None:
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "refuse")
    assert info.value.error_code is ErrorCode.CANISTER_REJECTED_MESSAGE
    assert info.value.message == "no thanks"
    assert replica.query(counter, "get") == nat64_reply(1)


def test_no_reply_is_ic0506(replica: Replica, counter: Principal) -> None:
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "no_reply")
    assert info.value.error_code is ErrorCode.CANISTER_DID_NOT_REPLY


def test_unknown_method_and_missing_canister(replica: Replica, counter: Principal) -> None:
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "nope")
    assert info.value.error_code is ErrorCode.CANISTER_METHOD_NOT_FOUND
    assert "has no update method 'nope'" in info.value.message
    with pytest.raises(CanisterError) as info:
        replica.query(counter, "inc")
    assert info.value.error_code is ErrorCode.CANISTER_METHOD_NOT_FOUND
    with pytest.raises(CanisterError) as info:
        replica.update(Principal.from_canister_index(12345), "inc")
    assert info.value.error_code is ErrorCode.CANISTER_NOT_FOUND


def test_instruction_limit() -> None:
    replica = Replica.open(config=SubnetConfig(update_instruction_limit=20_000_000))
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
    with pytest.raises(CanisterError) as info:
        replica.update(canister, "spin")
    assert info.value.error_code is ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED
    assert "limit of 20000000 instructions" in info.value.message
    assert replica.update(canister, "inc") == nat64_reply(1)


def test_only_controllers_manage(replica: Replica, counter: Principal) -> None:
    with pytest.raises(CanisterError) as info:
        replica.install_code(counter, counter_wasm(), mode="reinstall", sender=STRANGER)
    assert info.value.error_code is ErrorCode.CANISTER_INVALID_CONTROLLER
    with pytest.raises(CanisterError) as info:
        replica.install_code(counter, counter_wasm(), sender=CONTROLLER)
    assert info.value.error_code is ErrorCode.CANISTER_ALREADY_INSTALLED


def test_upgrade_resets_heap_keeps_stable(replica: Replica, counter: Principal) -> None:
    replica.update(counter, "inc")
    replica.update(counter, "inc")
    replica.update(counter, "save_stable")
    replica.install_code(counter, counter_wasm(), mode="upgrade", sender=CONTROLLER)
    assert replica.query(counter, "get") == nat64_reply(0)
    assert replica.query(counter, "load_stable") == nat64_reply(2)
    replica.install_code(counter, counter_wasm(), mode="reinstall", sender=CONTROLLER)
    assert replica.query(counter, "load_stable") == nat64_reply(0)


def test_stop_start_delete_and_status(replica: Replica, counter: Principal) -> None:
    replica.update(counter, "inc")
    status = replica.canister_status(counter, sender=CONTROLLER)
    assert status["status"] == {"running": None}
    assert status["settings"]["controllers"] == [CONTROLLER]
    assert status["module_hash"] is not None
    assert status["cycles"] < 100_000_000_000_000
    replica.stop_canister(counter, sender=CONTROLLER)
    with pytest.raises(CanisterError) as info:
        replica.update(counter, "inc")
    assert info.value.error_code is ErrorCode.CANISTER_STOPPED
    replica.start_canister(counter, sender=CONTROLLER)
    assert replica.update(counter, "inc") == nat64_reply(2)
    with pytest.raises(CanisterError) as info:
        replica.delete_canister(counter, sender=CONTROLLER)
    assert info.value.error_code is ErrorCode.CANISTER_NOT_STOPPED
    replica.stop_canister(counter, sender=CONTROLLER)
    replica.delete_canister(counter, sender=CONTROLLER)
    with pytest.raises(CanisterError) as info:
        replica.query(counter, "get")
    assert info.value.error_code is ErrorCode.CANISTER_NOT_FOUND


def test_state_survives_restart(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        canister = replica.create_canister(sender=CONTROLLER)
        replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
        for _ in range(3):
            replica.update(canister, "inc")
        replica.update(canister, "save_stable")
    with Replica.open(tmp_path) as replica:
        assert replica.query(canister, "get") == nat64_reply(3)
        assert replica.query(canister, "memory_counter") == nat64_reply(3)
        assert replica.query(canister, "load_stable") == nat64_reply(3)
        assert replica.update(canister, "inc") == nat64_reply(4)
        with pytest.raises(CanisterError):
            replica.update(canister, "inc_then_trap")
    with Replica.open(tmp_path) as replica:
        assert replica.query(canister, "get") == nat64_reply(4)


def test_subnet_takes_the_management_canister_by_injection() -> None:
    tree = ast.parse(Path(subnet_module.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "icframework.replica.management" not in imported
    replica = Replica.open()
    assert isinstance(replica.subnet.management, ManagementCanister)
    # A reloaded subnet is built with the same handler, for the new subnet.
    replica.reload()
    assert isinstance(replica.subnet.management, ManagementCanister)
    assert replica.subnet.management.subnet is replica.subnet
