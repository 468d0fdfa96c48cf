"""Fair scheduling under load: other users' latency next to canisters that spin.

Everything runs on an in-process `ReplicaService` (memory store, the round loop in its
own thread, callers through `ReplicaService.run`, as the HTTP views do), with the
per-message limit set to `MESSAGE_LIMIT` instructions so that a spinner's heartbeat
takes about a second here, and the round budget scaled alike (`ROUND_LIMIT`; a replica
from before the round budget existed runs without it).

Tables (wall time with ``time.perf_counter``):

1. Latency with N = 0, 1 and 3 spinners: hand-written WAT canisters whose
   ``canister_heartbeat`` loops until it runs out of instructions, every round. A
   victim counter canister (another user's) then gets `SAMPLES` ``inc`` updates one at
   a time (submit through ``run``, then poll the ingress status every millisecond, as
   the HTTP gateway does) and `SAMPLES` ``get`` queries, each sent
   `QUERY_OFFSET_SECONDS` after the previous call so that it lands inside a round. Per
   row: p50 and max latency, and the ratio of the p50 to the p50 with no spinner (the
   reference, same run).
2. A message that loops on a System API call (``ic0.time``) at a limit of
   `HOST_LOOP_LIMIT` instructions: its wall time until the limit stops it. Host calls cost the
   replica far more time than wasm instructions, so the instruction limit bounds wall
   time only if each call is charged what it costs.

Usage: ``.venv/bin/python bench/bench_scheduling.py`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import wasmtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from icframework.core import Principal  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.errors import CanisterError  # noqa: E402
from icframework.replica.service import ReplicaService  # noqa: E402
from icframework.replica.subnet import SubnetConfig  # noqa: E402

MESSAGE_LIMIT = 1_000_000_000
# The default round budget scaled like the message limit (2 B of 5 B).
ROUND_LIMIT = MESSAGE_LIMIT * 2 // 5
HOST_LOOP_LIMIT = 2_000_000
SAMPLES = 5
QUERY_OFFSET_SECONDS = 0.3
SPINNER_COUNTS = (0, 1, 3)

SPINNER_WAT = r"""
(module
  (memory 1)
  (func (export "canister_heartbeat") (loop $forever (br $forever))))
"""

VICTIM_WAT = r"""
(module
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (memory 1)
  (data (i32.const 0) "DIDL\00\01\78")
  (global $counter (mut i64) (i64.const 0))
  (func $reply_counter
    (i64.store (i32.const 7) (global.get $counter))
    (call $append (i32.const 0) (i32.const 15))
    (call $reply))
  (func (export "canister_update inc")
    (global.set $counter (i64.add (global.get $counter) (i64.const 1)))
    (call $reply_counter))
  (func (export "canister_query get") (call $reply_counter)))
"""

HOST_LOOP_WAT = r"""
(module
  (import "ic0" "time" (func $time (result i64)))
  (memory 1)
  (func (export "canister_update spin")
    (loop $forever (drop (call $time)) (br $forever))))
"""


def _wasm(wat: str) -> bytes:
    return bytes(wasmtime.wat2wasm(wat))


def _install(replica: Replica, wat: str) -> Principal:
    canister = replica.create_canister()
    replica.install_code(canister, _wasm(wat))
    return canister


def _update_latency(service: ReplicaService, canister: Principal) -> float:
    start = time.perf_counter()
    request_id = service.run(lambda replica: replica.submit(canister, "inc"))
    while True:
        status = service.run(lambda replica: replica.subnet.ingress_status(request_id))
        if status is not None and status.state.terminal:
            return time.perf_counter() - start
        time.sleep(0.001)


def _query_latency(service: ReplicaService, canister: Principal) -> float:
    # Arrive at some point of a round, not just after the last update's round ended.
    time.sleep(QUERY_OFFSET_SECONDS)
    start = time.perf_counter()
    service.run(lambda replica: replica.query(canister, "get"))
    return time.perf_counter() - start


def _sample(measure: Callable[[], float]) -> list[float]:
    return [measure() for _ in range(SAMPLES)]


def latency_rows() -> list[tuple[int, str, list[float]]]:
    rows: list[tuple[int, str, list[float]]] = []
    for spinners in SPINNER_COUNTS:
        replica = Replica.open(config=SubnetConfig(
            update_instruction_limit=MESSAGE_LIMIT, round_instruction_limit=ROUND_LIMIT))
        victim = _install(replica, VICTIM_WAT)
        for _ in range(spinners):
            _install(replica, SPINNER_WAT)
        service = ReplicaService(replica, idle_round_seconds=0.05)
        service.start()
        try:
            # Let the spinners' heartbeats start before the first sample.
            time.sleep(0.2)
            rows.append((spinners, "update inc",
                         _sample(partial(_update_latency, service, victim))))
            rows.append((spinners, "query get", _sample(partial(_query_latency, service, victim))))
        finally:
            service.stop()
    return rows


def host_loop_row() -> tuple[float, str]:
    replica = Replica.open(config=SubnetConfig(update_instruction_limit=HOST_LOOP_LIMIT))
    canister = _install(replica, HOST_LOOP_WAT)
    start = time.perf_counter()
    try:
        replica.update(canister, "spin")
        outcome = "replied"
    except CanisterError as error:
        outcome = str(error.error_code)
    return time.perf_counter() - start, outcome


def main() -> None:
    print(f"bench_scheduling: per-message limit {MESSAGE_LIMIT:,} instructions, round "
          f"budget {ROUND_LIMIT:,}, {SAMPLES} samples per row")
    rows = latency_rows()
    reference = {kind: statistics.median(times) for n, kind, times in rows if n == 0}
    print(f"{'spinners':>8}  {'call':<11} {'p50 s':>9} {'max s':>9} {'p50 / N=0':>10}")
    for spinners, kind, times in rows:
        p50 = statistics.median(times)
        print(f"{spinners:>8}  {kind:<11} {p50:>9.4f} {max(times):>9.4f} "
              f"{p50 / reference[kind]:>10.1f}")
    elapsed, outcome = host_loop_row()
    print(f"\nic0.time loop at a limit of {HOST_LOOP_LIMIT:,} instructions: {elapsed:.3f} s "
          f"wall, ended {outcome}")


if __name__ == "__main__":
    main()
