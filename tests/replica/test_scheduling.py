"""Fair rounds: a round's instruction budget, priority across canisters, System API
charges, callers let in between the messages of a round, and a failed round's reload."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import wasmtime

from icframework.core import ErrorCode, Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import BlsKeyPair
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.system_api import (
    DEFAULT_SYSTEM_API_OVERHEAD,
    HOST_CALL_COMPLEXITY,
)
from icframework.replica.management import ManagementCanister
from icframework.replica.service import ReplicaService
from icframework.replica.state import IngressState
from icframework.replica.store import MemoryStateStore, RoundChanges
from icframework.replica.subnet import RoundReport, Subnet, SubnetConfig

LIMIT = 20_000_000
CONFIG = SubnetConfig(update_instruction_limit=LIMIT, round_instruction_limit=LIMIT)

SPINNER_WAT = r"""
(module
  (memory 1)
  (func (export "canister_heartbeat") (loop $forever (br $forever))))
"""

VICTIM_WAT = r"""
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "debug_print" (func $print (param i32 i32)))
  (import "ic0" "time" (func $time (result i64)))
  (memory 1)
  (data (i32.const 0) "DIDL\00\01\78")
  (data (i32.const 32) "victim")
  (global $counter (mut i64) (i64.const 0))
  (func $reply_counter
    (i64.store (i32.const 7) (global.get $counter))
    (call $append (i32.const 0) (i32.const 15))
    (call $reply))
  (func (export "canister_update inc")
    (call $print (i32.const 32) (i32.const 6))
    (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
    (call $reply_counter))
  (func (export "canister_update read_time_1000_times")
    (local $i i32)
    (loop $again
      (drop (call $time))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000))))
    (call $reply_counter))
  (func (export "canister_query get") (call $reply_counter)))
"""


def _install(replica: Replica, wat: str) -> Principal:
    canister = replica.create_canister()
    replica.install_code(canister, bytes(wasmtime.wat2wasm(wat)))
    return canister


def _counter(value: int) -> bytes:
    return b"DIDL\x00\x01\x78" + value.to_bytes(8, "little")


def _spinner_turns(report: RoundReport) -> list[bytes]:
    return [canister for canister, line in report.logs
            if line.startswith(b"[TRAP in canister_heartbeat]")]


def _round_cost(report: RoundReport) -> int:
    return report.instructions + report.complexity


@pytest.mark.parametrize("count", [1, 3])
def test_ingress_to_an_idle_canister_runs_first_in_the_next_round(count: int) -> None:
    replica = Replica.open(config=CONFIG)
    victim = _install(replica, VICTIM_WAT)
    spinners = [_install(replica, SPINNER_WAT) for _ in range(count)]
    for _ in range(3):
        replica.subnet.execute_round()
    request_id = replica.submit(victim, "inc")
    report = replica.subnet.execute_round()
    status = replica.subnet.ingress_status(request_id)
    assert status is not None and status.state is IngressState.REPLIED
    assert report.logs[0] == (victim.raw, b"victim"), "the victim went before every spinner"
    assert _spinner_turns(report) == [], "no spinner delays the commit of the reply"
    # Having just run does not put the victim behind canisters that spin every round.
    replica.submit(victim, "inc")
    report = replica.subnet.execute_round()
    assert report.logs[0] == (victim.raw, b"victim")
    next_turns = _spinner_turns(replica.subnet.execute_round())
    assert len(next_turns) == 1 and next_turns[0] in {s.raw for s in spinners}


def test_a_round_stays_within_its_budget_plus_one_message() -> None:
    replica = Replica.open(config=CONFIG)
    victim = _install(replica, VICTIM_WAT)
    for _ in range(3):
        _install(replica, SPINNER_WAT)
    for _ in range(20):
        replica.submit(victim, "inc")
    for _ in range(6):
        report = replica.subnet.execute_round()
        assert _round_cost(report) <= CONFIG.round_instruction_limit + LIMIT
        assert len(_spinner_turns(report)) <= 1


def test_spinners_take_turns_and_none_starves() -> None:
    replica = Replica.open(config=CONFIG)
    spinners = [_install(replica, SPINNER_WAT).raw for _ in range(3)]
    turns: Counter[bytes] = Counter()
    for _ in range(9):
        round_turns = _spinner_turns(replica.subnet.execute_round())
        assert len(round_turns) == 1, "one heartbeat at the limit uses the round's budget"
        turns.update(round_turns)
    assert turns == Counter({spinner: 3 for spinner in spinners})


def test_system_api_calls_are_charged() -> None:
    replica = Replica.open(config=CONFIG)
    victim = _install(replica, VICTIM_WAT)
    # 1,000 ic0.time calls are a few thousand wasm instructions, but ~25 ms of host
    # time here: charged as such they exceed a 20 M limit.
    with pytest.raises(CanisterError) as info:
        replica.update(victim, "read_time_1000_times")
    assert info.value.error_code is ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED
    assert f"limit of {LIMIT} instructions" in info.value.message
    replica.submit(victim, "inc")
    report = replica.subnet.execute_round()
    # debug_print, msg_reply_data_append and msg_reply: their overhead is instructions
    # (charged in cycles), their host cost is complexity only.
    assert report.complexity == 3 * HOST_CALL_COMPLEXITY
    assert report.instructions >= 100 + 2 * DEFAULT_SYSTEM_API_OVERHEAD
    assert report.instructions < HOST_CALL_COMPLEXITY


def test_callers_get_in_between_the_messages_of_a_round() -> None:
    big = SubnetConfig(update_instruction_limit=200_000_000,
                       round_instruction_limit=10 * 200_000_000)
    round_started = threading.Event()

    def clock() -> int:
        if threading.current_thread().name == "replica-rounds":
            round_started.set()
        return time_ns()

    from time import time_ns

    replica = Replica.open(config=big, clock=clock)
    victim = _install(replica, VICTIM_WAT)
    replica.update(victim, "inc")
    for _ in range(3):
        _install(replica, SPINNER_WAT)
    service = ReplicaService(replica, idle_round_seconds=60)
    seen: dict[str, object] = {}

    def look(r: Replica) -> None:
        seen["in_round"] = r.subnet.in_round
        seen["reply"] = r.query(victim, "get")
        seen["certified"] = r.certified_state().height == r.subnet.committed_height
        request_id = r.submit(victim, "inc")
        seen["submitted"] = r.subnet.ingress_status(request_id)

    service.start()
    try:
        assert round_started.wait(30)
        service.run(look)
        assert seen["in_round"] is True, "the query waited for the whole round"
        assert seen["reply"] == _counter(1)
        assert seen["certified"] is True
        status = seen["submitted"]
        assert status is not None and status.state is IngressState.RECEIVED  # type: ignore[attr-defined]
    finally:
        service.stop()


class _FailingStore(MemoryStateStore):
    """A memory store whose next commit fails, like a full disk."""

    fail_next = False

    def commit_round(self, changes: RoundChanges) -> None:
        if self.fail_next:
            self.fail_next = False
            raise OSError("disk full")
        super().commit_round(changes)


def _replica_on(store: MemoryStateStore, config: SubnetConfig) -> Replica:
    key = BlsKeyPair.generate()
    subnet = Subnet(store, ExecutionEngine(), config, management=ManagementCanister)
    return Replica(subnet, store, key, Ed25519Identity.generate())


def test_a_failed_round_shows_no_uncommitted_reply_and_reloads() -> None:
    store = _FailingStore()
    replica = _replica_on(store, CONFIG)
    victim = _install(replica, VICTIM_WAT)
    _install(replica, SPINNER_WAT)
    request_id = replica.submit(victim, "inc")
    seen = []
    replica.subnet.between_messages = lambda: seen.append(
        replica.subnet.ingress_status(request_id))
    store.fail_next = True
    with pytest.raises(OSError, match="disk full"):
        replica.subnet.execute_round()
    assert seen, "the round called its hook between messages"
    assert all(s is not None and not s.state.terminal for s in seen)
    replica.reload()
    assert not replica.subnet.in_round
    assert replica.query(victim, "get") == _counter(0)
    assert replica.update(victim, "inc") == _counter(1)


def test_a_round_finished_by_a_caller_let_in_returns_that_commit() -> None:
    replica = Replica.open(config=CONFIG)
    victim = _install(replica, VICTIM_WAT)
    _install(replica, SPINNER_WAT)
    replies: list[bytes] = []

    def let_in() -> None:
        replica.subnet.between_messages = None
        replies.append(replica.update(victim, "inc"))

    replica.subnet.between_messages = let_in
    replica.submit(victim, "inc")
    report = replica.subnet.execute_round()
    assert not replica.subnet.in_round
    assert replies == [_counter(2)]
    assert report.height < replica.subnet.height
    assert replica.query(victim, "get") == _counter(2)
