"""Motoko canisters compiled by the `motoko` npm package, run through the replica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from icframework.candid import (
    BOOL,
    NAT,
    NAT8,
    NAT64,
    PRINCIPAL,
    TEXT,
    CandidType,
    Field,
    Opt,
    Record,
)
from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm

pytestmark = requires_node

CONTROLLER = Principal.self_authenticating(b"motoko test controller")
NANOS = 1_000_000_000


class Clock:
    """A controllable clock for the subnet (nanoseconds)."""

    def __init__(self) -> None:
        self.now = 1_750_000_000 * NANOS

    def __call__(self) -> int:
        return self.now


def call(
    replica: Replica,
    canister: Principal,
    method: str,
    types: list[CandidType],
    values: list[Any],
    results: list[CandidType],
    *,
    query: bool = False,
) -> Any:
    arg = encode(types, values)
    raw = (replica.query if query else replica.update)(canister, method, arg)
    decoded = decode(raw, results)
    return decoded[0] if len(decoded) == 1 else decoded


def install(replica: Replica, name: str, arg: bytes = b"DIDL\x00\x00") -> Principal:
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, motoko_wasm(name), arg, sender=CONTROLLER)
    return canister


def test_counter_persists_across_upgrade_and_restart(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        counter = install(replica, "counter")
        for expected in (1, 2, 3):
            assert call(replica, counter, "inc", [], [], [NAT]) == expected
        replica.install_code(counter, motoko_wasm("counter"), mode="upgrade", sender=CONTROLLER)
        assert call(replica, counter, "get", [], [], [NAT], query=True) == 3
        assert call(replica, counter, "inc", [], [], [NAT]) == 4
    with Replica.open(tmp_path) as replica:
        assert call(replica, counter, "get", [], [], [NAT], query=True) == 4
        assert call(replica, counter, "inc", [], [], [NAT]) == 5


def test_inter_canister_reply_and_callee_trap() -> None:
    replica = Replica.open()
    callee = install(replica, "callee")
    caller = install(replica, "caller", encode([PRINCIPAL], [callee]))
    assert call(replica, caller, "forward", [NAT], [7], [NAT]) == 0
    assert call(replica, callee, "get", [], [], [NAT], query=True) == 7
    message = call(replica, caller, "call_trapping", [NAT], [99], [TEXT])
    assert message.startswith("5")
    assert "set_then_trap refused 99" in message
    assert call(replica, callee, "get", [], [], [NAT], query=True) == 7
    assert call(replica, callee, "call_count", [], [], [NAT], query=True) == 1
    assert call(replica, caller, "counters", [], [], [NAT, NAT], query=True) == (2, 1)
    assert call(replica, caller, "echo_via", [TEXT], ["hi"], [TEXT]) == "hi"
    assert call(replica, callee, "last_caller", [], [], [Opt(PRINCIPAL)], query=True) == caller


def test_trap_after_state_change_is_rolled_back() -> None:
    replica = Replica.open()
    trapper = install(replica, "trapper")
    assert call(replica, trapper, "set", [NAT], [5], [NAT]) == 5
    for method in ("set_then_trap", "set_then_assert", "set_then_underflow"):
        with pytest.raises(CanisterError) as info:
            call(replica, trapper, method, [NAT], [9], [NAT])
        assert info.value.error_code in (ErrorCode.CANISTER_CALLED_TRAP, ErrorCode.CANISTER_TRAPPED)
        assert trapper.to_text() in info.value.message
        assert call(replica, trapper, "get", [], [], [NAT], query=True) == 5
    assert call(replica, trapper, "history_size", [], [], [NAT], query=True) == 1


def test_global_timer_fires_in_round_time() -> None:
    clock = Clock()
    replica = Replica.open(clock=clock)
    timer = install(replica, "timer")
    replica.subnet.execute_round()
    assert call(replica, timer, "count", [], [], [NAT], query=True) == 1
    assert call(replica, timer, "arm", [NAT64], [60 * NANOS], [BOOL]) in (True, False)
    before = call(replica, timer, "count", [], [], [NAT], query=True)
    clock.now += 30 * NANOS
    replica.subnet.execute_round()
    assert call(replica, timer, "count", [], [], [NAT], query=True) == before
    clock.now += 31 * NANOS
    replica.subnet.execute_round()
    assert call(replica, timer, "count", [], [], [NAT], query=True) == before + 1
    fired_at = call(replica, timer, "last_fired_at", [], [], [NAT64], query=True)
    assert fired_at == replica.subnet.time_ns


def test_ten_megabyte_blob_in_stable_memory_survives_upgrade_and_restart(
    tmp_path: Path,
) -> None:
    size = 10 * 1024 * 1024
    with Replica.open(tmp_path) as replica:
        blob = install(replica, "stable_blob")
        call(replica, blob, "store", [NAT, NAT8], [size, 7], [NAT64])
        expected_sum = call(replica, blob, "sum", [], [], [NAT], query=True)
        replica.install_code(blob, motoko_wasm("stable_blob"), mode="upgrade", sender=CONTROLLER)
        assert call(replica, blob, "stored_size", [], [], [NAT], query=True) == size
        assert call(replica, blob, "verify", [], [], [BOOL], query=True) is True
    with Replica.open(tmp_path) as replica:
        assert call(replica, blob, "stored_size", [], [], [NAT], query=True) == size
        assert call(replica, blob, "sum", [], [], [NAT], query=True) == expected_sum
        assert call(replica, blob, "verify", [], [], [BOOL], query=True) is True


def test_canister_status_shows_cycles_spent() -> None:
    replica = Replica.open()
    canister = install(replica, "counter")
    before = replica.canister_status(canister, sender=CONTROLLER)
    for _ in range(5):
        call(replica, canister, "inc", [], [], [NAT])
    after = replica.canister_status(canister, sender=CONTROLLER)
    assert after["cycles"] < before["cycles"]
    spent = before["cycles"] - after["cycles"]
    # Five ingress messages cost at least the base fees of reception and execution.
    assert spent >= 5 * (1_200_000 + 5_000_000)
    assert after["memory_metrics"]["wasm_memory_size"] > 0
    assert after["module_hash"] == replica.subnet.canister_state.states[canister.raw].module_hash


def test_cycles_move_with_calls_and_come_back_on_reject() -> None:
    replica = Replica.open()
    sender = install(replica, "cycles")
    receiver = install(replica, "cycles")
    callee = install(replica, "callee")
    balance = replica.subnet.canister_state.states
    before_sender = balance[sender.raw].cycles
    before_receiver = balance[receiver.raw].cycles
    amount = 7_000_000_000
    accepted, refunded = call(replica, sender, "send", [PRINCIPAL, NAT], [receiver, amount],
                              [NAT, NAT])
    assert (accepted, refunded) == (amount, 0)
    assert call(replica, receiver, "total_received", [], [], [NAT], query=True) == amount
    # The receiver gained the amount minus what executing `deposit` cost it.
    assert before_receiver + amount - 100_000_000 < balance[receiver.raw].cycles
    assert balance[receiver.raw].cycles < before_receiver + amount
    assert balance[sender.raw].cycles < before_sender - amount
    # A call that is rejected (no such method) refunds everything attached.
    before = balance[sender.raw].cycles
    with pytest.raises(CanisterError):
        call(replica, sender, "send", [PRINCIPAL, NAT], [callee, amount], [NAT, NAT])
    assert before - balance[sender.raw].cycles < amount


def test_missing_method_and_state_committed_at_await() -> None:
    replica = Replica.open()
    callee = install(replica, "callee")
    caller = install(replica, "caller", encode([PRINCIPAL], [callee]))
    message = call(replica, caller, "call_missing", [], [], [TEXT])
    assert message.startswith("5")
    assert "no_such_method" in message
    with pytest.raises(CanisterError) as info:
        call(replica, caller, "forward_then_trap", [NAT], [11], [NAT])
    assert "caller: trap after await" in info.value.message
    # The callee's update and the caller's change before `await` are committed; the
    # caller's change after `await` is rolled back with the trap.
    assert call(replica, callee, "get", [], [], [NAT], query=True) == 11
    attempts, after_await = call(replica, caller, "counters", [], [], [NAT, NAT], query=True)
    assert (attempts, after_await) == (2, 0)


def test_stopping_waits_for_outstanding_calls() -> None:
    from icframework.replica.state import CanisterStatus, IngressState
    from icframework.replica.subnet import SubnetConfig

    replica = Replica.open(config=SubnetConfig(max_messages_per_round=1))
    callee = install(replica, "callee")
    caller = install(replica, "caller", encode([PRINCIPAL], [callee]))
    forward = replica.submit(caller, "forward", encode([NAT], [3]))
    replica.subnet.execute_round()
    stop = replica.submit(Principal.management_canister(), "stop_canister",
                          encode([Record([Field("canister_id", PRINCIPAL)])],
                                 [{"canister_id": caller}]),
                          sender=CONTROLLER, effective_canister_id=caller)
    replica.subnet.execute_round()
    assert replica.subnet.canister_state.states[caller.raw].status is CanisterStatus.STOPPING
    assert not replica.subnet.ingress_status(stop).state.terminal
    assert replica.wait(forward).state is IngressState.REPLIED
    assert replica.wait(stop).state is IngressState.REPLIED
    assert replica.subnet.canister_state.states[caller.raw].status is CanisterStatus.STOPPED


def test_frozen_canister_is_refused_until_topped_up() -> None:
    replica = Replica.open()
    canister = install(replica, "counter")
    replica.update_settings(canister, {"freezing_threshold": 10**12}, sender=CONTROLLER)
    with pytest.raises(CanisterError) as info:
        call(replica, canister, "inc", [], [], [NAT])
    assert info.value.error_code is ErrorCode.CANISTER_OUT_OF_CYCLES
    assert "out of cycles" in info.value.message
    needed = replica.subnet.canister_state.freezing_threshold(canister.raw)
    replica.top_up(canister, needed, sender=CONTROLLER)
    assert call(replica, canister, "inc", [], [], [NAT]) == 1
