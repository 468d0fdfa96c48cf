"""Replica execution cost: a Motoko counter through every layer, throughput, checkpoints.

Tables (all figures measured in this run, wall time with ``time.perf_counter_ns``):

1. Motoko ``counter`` (``tests/replica/canisters/counter.mo``): ``inc`` through
   `Replica.update` (submit + one round + commit) and ``get`` through `Replica.query`,
   with the in-memory store and with the SQLite store in a temporary directory;
   instructions per message (the round's `RoundReport` / `QueryResult.instructions`),
   p50/p99 wall time over `CALLS` calls, and the p50 of the first and the last 100 calls
   (a per-call cost that grows with the ingress history shows there).
2. The same exports one layer at a time, to split the replica's overhead: a bare wasmtime
   loop (the instrumented module loaded with the installed canister's heap image and
   globals, ic0 imports as benchmark-only stubs that copy the argument and keep the reply
   bytes; with fuel off and with fuel on; the query loop also undoes the few pages one
   call writes, since Motoko traps on a second query that was not rolled back),
   `Sandbox.execute` alone (no subnet, no store), then the replica rows of table 1. The
   ratio column is time / bare (fuel on, the replica's engine configuration). Tables 1
   and 2 are timed together in `PASSES` interleaved passes, so background load on the
   machine falls on all rows alike.
3. Messages per second per subnet: `K` ``inc`` ingress messages submitted at once
   (`Replica.submit`), then rounds until idle; on one canister and round-robin on
   `FANOUT` canisters, for both stores.
4. Checkpoint cost against dirty pages: a hand-written WAT canister with a 64 MiB heap
   whose update writes one word to each of N distinct 4 KiB pages; time per update
   through the replica with the SQLite store (dirty-bitmap read + image copy +
   commit) against `Sandbox.execute` with ``persist=False`` (the same execution with
   rollback of the marked pages but no commit: the reference), `Sandbox.execute` with
   ``persist=True`` (dirty detection and image copy, no store) and the bare wasm call.

5. Heap size against cost: a hand-written WAT canister whose heap is 5 MiB, 64 MiB or
   380 MiB and whose ``touch`` writes one word (one 4 KiB page, a different one each
   call); ``touch`` as an update (`Replica.update`, in-memory store) and as a query
   (`Replica.query`, whose write is rolled back), median over `HEAP_CALLS` calls. The
   reference is the same canister with one atomic store the loader does not
   instrument, so its sandbox finds written pages by comparing the whole heap (the
   method before the dirty bitmap), measured in the same run; "x 5 MiB" is a row's
   time over the same column at 5 MiB.

Then a cProfile of `PROFILE_CALLS` `Replica.update` calls of ``inc`` (SQLite store): the
top functions by cumulative time and by own time, per update.

Without node and the ``motoko`` npm package (and no cached build under ``.build``) the
Motoko tables are skipped. Usage: ``.venv/bin/python bench/bench_replica.py`` or
``main()`` (``bench/run.py``). Takes about 30-60 s.
"""

from __future__ import annotations

import contextlib
import cProfile
import ctypes
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import wasmtime

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import round_reports  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.core.ic0 import Context  # noqa: E402
from icframework.replica.embedded import EMPTY_ARGS, Replica  # noqa: E402
from icframework.replica.execution.dirty_pages import BITMAP_EXPORT, COUNTER_BYTES  # noqa: E402
from icframework.replica.execution.sandbox import Sandbox  # noqa: E402
from icframework.replica.execution.wasm_module import MEMORY_EXPORT, CanisterModule  # noqa: E402
from icframework.replica.state import IngressState  # noqa: E402

CALLS = 1000
PASSES = 10
WARMUP = 50
K = 2000
FANOUT = 8
PAGE_COUNTS = (1, 16, 256, 4096)
HEAP_PAGES = 16384  # 64 MiB of 4 KiB pages
PROFILE_CALLS = 300
HEAP_SIZES_MIB = (5, 64, 380)
HEAP_CALLS = 200
CALLER = Principal.anonymous()

# Benchmark-only canister: `touch` reads N (u32 LE, raw bytes, not Candid) and writes
# the bumped generation counter into N pages spread evenly over its 64 MiB heap.
TOUCH_WAT = """
(module
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (memory 1024)
  (global $generation (mut i32) (i32.const 0))
  (func (export "canister_update touch")
    (local $n i32) (local $stride i32) (local $i i32)
    (call $arg_copy (i32.const 0) (i32.const 0) (i32.const 4))
    (local.set $n (i32.load (i32.const 0)))
    (local.set $stride (i32.div_u (i32.const 16384) (local.get $n)))
    (global.set $generation (i32.add (global.get $generation) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store offset=8
          (i32.mul (i32.mul (local.get $i) (local.get $stride)) (i32.const 4096))
          (global.get $generation))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (call $reply))
)
"""


# Benchmark-only canister: `touch` (update or query) writes the call counter into the next
# 4 KiB page of its heap of {pages} 64 KiB pages; {extra} is empty, or a function with an
# atomic store the loader does not instrument (the whole-heap reference).
HEAP_WAT = """
(module
  (import "ic0" "msg_reply" (func $reply))
  (memory {pages})
  (global $calls (mut i32) (i32.const 0))
  (func $touch
    (global.set $calls (i32.add (global.get $calls) (i32.const 1)))
    (i32.store offset=64
      (i32.mul (i32.rem_u (global.get $calls) (i32.const {pages4k})) (i32.const 4096))
      (global.get $calls))
    (call $reply))
  (func (export "canister_update touch") (call $touch))
  (func (export "canister_query touch_query") (call $touch))
  {extra}
)
"""
UNINSTRUMENTED = "(func $uninstrumented (i32.atomic.store (i32.const 0) (i32.const 0)))"


# -- timing helpers ----------------------------------------------------------------------------


def _samples(fn: Callable[[], object], count: int, warmup: int = WARMUP) -> list[float]:
    """Seconds of each of ``count`` calls of ``fn`` (after ``warmup`` untimed calls)."""
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    out = []
    for _ in range(count):
        start = clock()
        fn()
        out.append((clock() - start) / 1e9)
    return out


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.3f}"


@contextlib.contextmanager
def _replica(kind: str) -> Iterator[Replica]:
    """A fresh replica with the in-memory store or the SQLite store in a temp dir."""
    if kind == "memory":
        with Replica.open(None) as replica:
            yield replica
        return
    with tempfile.TemporaryDirectory(prefix="icfw-bench-") as directory, Replica.open(
        Path(directory) / "state"
    ) as replica:
        yield replica


def _install(replica: Replica, wasm: bytes) -> Principal:
    canister = replica.create_canister()
    replica.install_code(canister, wasm)
    return canister


# -- the bare wasmtime loop --------------------------------------------------------------------


class BareInstance:
    """The instrumented module in a plain wasmtime store with do-nothing ic0 stubs.

    Only what the benchmarked exports need does anything: the argument is copied in,
    reply bytes are kept, ``msg_reply`` sets a flag; any other import raises. The heap
    image and globals of an installed canister can be loaded, so the export runs on the
    same state as in the replica. Fuel (if the engine meters it) is set once, very high.
    """

    def __init__(self, engine: wasmtime.Engine, module: CanisterModule,
                 compiled: wasmtime.Module | None = None) -> None:
        self.module = module
        self.compiled = compiled or wasmtime.Module(engine, module.wasm)
        self.store = wasmtime.Store(engine)
        self.metered = True
        try:
            self.store.set_fuel(1 << 62)
        except wasmtime.WasmtimeError:
            self.metered = False
        self.arg = EMPTY_ARGS
        self.reply = bytearray()
        self.replied = False
        self.restored_pages = 0
        linker = wasmtime.Linker(engine)
        for item in self.compiled.imports:
            assert isinstance(item.type, wasmtime.FuncType), item.name
            linker.define_func(item.module, item.name or "", item.type,
                               self._stub(item.name or ""))
        instance = linker.instantiate(self.store, self.compiled)
        self.exports: dict[str, Any] = dict(instance.exports(self.store).items())
        self.memory: wasmtime.Memory = self.exports[MEMORY_EXPORT]

    def _stub(self, name: str) -> Callable[..., Any]:
        memory = lambda: self.memory  # noqa: E731  (bound after instantiation)

        def msg_arg_data_size() -> int:
            return len(self.arg)

        def msg_arg_data_copy(dst: int, offset: int, size: int) -> None:
            memory().write(self.store, self.arg[offset : offset + size], dst)

        def msg_reply_data_append(src: int, size: int) -> None:
            self.reply += memory().read(self.store, src, src + size)

        def msg_reply() -> None:
            self.replied = True

        def performance_counter(_kind: int) -> int:
            return 0

        def unexpected(*args: int) -> None:
            detail = ""
            if name == "trap":
                detail = ": " + bytes(memory().read(self.store, args[0], args[0] + args[1])
                                      ).decode(errors="replace")
            raise RuntimeError(f"benchmark stub: ic0.{name} was not expected{detail}")

        stubs: dict[str, Callable[..., Any]] = {
            "msg_arg_data_size": msg_arg_data_size,
            "msg_arg_data_copy": msg_arg_data_copy,
            "msg_reply_data_append": msg_reply_data_append,
            "msg_reply": msg_reply,
            "performance_counter": performance_counter,
        }
        return stubs.get(name, unexpected)

    def load(self, image: bytes | bytearray, global_values: dict[int, Any]) -> None:
        """Load a committed heap image and globals (as `Sandbox.restore_image` does)."""
        current = self.memory.data_len(self.store)
        if len(image) > current:
            self.memory.grow(self.store, (len(image) - current) // 65536)
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        ctypes.memmove(base, bytes(image), len(image))
        for index, value in global_values.items():
            self.exports[self.module.global_export(index)].set_value(self.store, value)

    def call(self, export: str) -> Callable[[], bytes]:
        func = self.exports[export]
        store = self.store

        def run() -> bytes:
            self.reply = bytearray()
            self.replied = False
            func(store)
            return bytes(self.reply)

        return run

    def _snapshot(self) -> tuple[bytes, dict[int, Any]]:
        size = self.memory.data_len(self.store)
        base = ctypes.addressof(self.memory.data_ptr(self.store).contents)
        values = {index: self.exports[self.module.global_export(index)].value(self.store)
                  for index in self.module.mutable_globals}
        return ctypes.string_at(base, size), values

    def discarding_call(self, export: str) -> Callable[[], bytes]:
        """Like `call`, then undo exactly what one call changes (as a query must be undone).

        Motoko's runtime refuses a second query on an instance whose first query was not
        rolled back, so the bare loop restores the pages and globals one call writes; they
        are found once, by comparing full snapshots, so each call pays only the copy-back
        of those few pages (no whole-heap comparison).
        """
        run = self.call(export)
        memory_before, globals_before = self._snapshot()
        run()
        memory_after, globals_after = self._snapshot()
        assert len(memory_after) == len(memory_before), "the call grew the memory"
        pages = [
            (offset, memory_before[offset : offset + 4096])
            for offset in range(0, len(memory_before), 4096)
            if memory_before[offset : offset + 4096] != memory_after[offset : offset + 4096]
        ]
        changed_globals = [
            (self.exports[self.module.global_export(index)], value)
            for index, value in globals_before.items() if globals_after[index] != value
        ]
        memory, store = self.memory, self.store

        def restore() -> None:
            base = ctypes.addressof(memory.data_ptr(store).contents)
            for offset, data in pages:
                ctypes.memmove(base + offset, data, 4096)
            for exported, value in changed_globals:
                exported.set_value(store, value)

        restore()
        self.restored_pages = len(pages)

        def run_and_discard() -> bytes:
            reply = run()
            restore()
            return reply

        return run_and_discard

    def _marking(self) -> int:
        """Instructions the dirty-page marking burnt so far (`dirty_pages.MarkingCounter`)."""
        bitmap = self.exports.get(BITMAP_EXPORT)
        if not isinstance(bitmap, wasmtime.Memory):
            return 0
        end = ctypes.addressof(bitmap.data_ptr(self.store).contents) + bitmap.data_len(self.store)
        return ctypes.c_int64.from_address(end - COUNTER_BYTES).value

    def instructions(self, run: Callable[[], object]) -> int:
        """Instructions of one ``run``: fuel used less the dirty-page marking's own."""
        if not self.metered:
            return 0
        before, marking = self.store.get_fuel(), self._marking()
        run()
        return before - self.store.get_fuel() - (self._marking() - marking)


def _no_fuel_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.wasm_memory64 = True
    config.cranelift_opt_level = "speed"
    return wasmtime.Engine(config)


# -- 1 + 2: the Motoko counter through every layer ---------------------------------------------


class Row:
    """One measured path: p50/p99 of all samples, and the p50 of the first and last 100."""

    def __init__(self, label: str, method: str, instructions: int, samples: list[float]):
        self.label = label
        self.method = method
        self.instructions = instructions
        self.p50, self.p99 = _p50_p99(samples)
        self.first = statistics.median(samples[:100])
        self.last = statistics.median(samples[-100:])


class Timed:
    """A callable to time, with what it is and its instruction count (0 if unmetered)."""

    def __init__(self, label: str, method: str, run: Callable[[], object],
                 instructions: Callable[[], int]) -> None:
        self.label, self.method, self.run = label, method, run
        self.instructions = instructions
        self.samples: list[float] = []


def _replica_paths(replica: Replica, canister: Principal, store: str) -> list[Timed]:
    def inc() -> bytes:
        return replica.update(canister, "inc")

    def get() -> bytes:
        return replica.query(canister, "get")

    def inc_instructions() -> int:
        reports, undo = round_reports(replica.subnet)
        try:
            for _ in range(20):
                inc()
        finally:
            undo()
        return int(statistics.median(r.instructions for r in reports))

    def get_instructions() -> int:
        return replica.subnet.query(CALLER.raw, canister.raw, "get", EMPTY_ARGS).instructions

    return [
        Timed(f"Replica.update, {store} store", "inc", inc, inc_instructions),
        Timed(f"Replica.query, {store} store", "get", get, get_instructions),
    ]


def _layer_paths(replica: Replica, canister: Principal) -> list[Timed]:
    """Bare wasmtime and Sandbox.execute paths on the state of an installed counter.

    Uses the replica's own sandbox of ``canister``: the replica must not run it again.
    """
    subnet = replica.subnet
    sandbox = subnet.canister_state.sandboxes[canister.raw]
    state = subnet.canister_state.states[canister.raw]
    image, global_values = sandbox.heap_image(), dict(sandbox.committed_globals)
    paths: list[Timed] = []
    for label, engine, compiled in (
        ("bare, fuel off", _no_fuel_engine(), None),
        ("bare, fuel on", subnet.engine.engine, subnet.engine.compile(sandbox.module)),
    ):
        bare = BareInstance(engine, sandbox.module, compiled)
        bare.load(image, global_values)
        inc = bare.call("canister_update inc")
        assert inc().startswith(b"DIDL") and bare.replied
        get = bare.discarding_call("canister_query get")
        assert get().startswith(b"DIDL") and bare.replied
        paths.append(Timed(label, "inc", inc, partial(bare.instructions, inc)))
        paths.append(Timed(f"{label}, +undo of {bare.restored_pages} pages", "get", get,
                          partial(bare.instructions, get)))

    def execute(context: Context, export: str, limit: int, persist: bool) -> Callable[[], int]:
        inp = subnet.canister_state.execution_input(state, context, CALLER.raw, arg=EMPTY_ARGS)

        def run() -> int:
            result = sandbox.execute(export, inp, limit, persist=persist)
            assert result.trap is None
            return result.instructions

        return run

    run_inc = execute(Context.UPDATE, "canister_update inc",
                      subnet.config.update_instruction_limit, True)
    run_get = execute(Context.QUERY, "canister_query get",
                      subnet.config.query_instruction_limit, False)
    paths.append(Timed("Sandbox.execute, persist=True", "inc", run_inc, run_inc))
    paths.append(Timed("Sandbox.execute, persist=False", "get", run_get, run_get))
    return paths


def _motoko_rows(wasm: bytes) -> tuple[list[Row], list[Row]]:
    """(replica rows, layer rows), timed in `PASSES` interleaved passes over all paths.

    Interleaving spreads background load on the machine evenly over the paths.
    """
    with contextlib.ExitStack() as stack:
        paths: list[Timed] = []
        for kind, store in (("memory", "memory"), ("sqlite", "SQLite")):
            replica = stack.enter_context(_replica(kind))
            paths += _replica_paths(replica, _install(replica, wasm), store)
        layer_replica = stack.enter_context(_replica("memory"))
        layer_canister = _install(layer_replica, wasm)
        for _ in range(WARMUP):
            layer_replica.update(layer_canister, "inc")
        layers = _layer_paths(layer_replica, layer_canister)
        everything = paths + layers
        for path in everything:
            for _ in range(WARMUP):
                path.run()
        for _ in range(PASSES):
            for path in everything:
                path.samples += _samples(path.run, CALLS // PASSES, warmup=0)
        replica_rows = [Row(p.label, p.method, p.instructions(), p.samples) for p in paths]
        layer_rows = [Row(p.label, p.method, p.instructions(), p.samples) for p in layers]
    return replica_rows, layer_rows


def _print_rows(rows: list[Row], reference: dict[str, Row] | None) -> None:
    if reference:
        extra_head, width = f"{'× bare':>8} {'+µs vs prev':>12}", 114
    else:
        extra_head, width = f"{'p50 1st 100':>12} {'p50 last 100':>13}", 119
    print(f"{'path':<40} {'method':<6} {'instr/msg':>10} {'p50 µs':>10} {'p99 µs':>10} "
          f"{'msgs/s@p50':>11} {extra_head}")
    print("-" * width)
    previous: dict[str, float] = {}
    for row in rows:
        instructions = f"{row.instructions:,}" if row.instructions else "—"
        line = (f"{row.label:<40} {row.method:<6} {instructions:>10} {_us(row.p50):>10} "
                f"{_us(row.p99):>10} {1 / row.p50:>11,.0f}")
        if not reference:
            line += f" {_us(row.first):>12} {_us(row.last):>13}"
        else:
            ref = reference[row.method]
            step = row.p50 - previous[row.method] if row.method in previous else 0.0
            line += f" {row.p50 / ref.p50:>7.1f}x {_us(step):>12}"
            previous[row.method] = row.p50
        print(line)


# -- 3: throughput -----------------------------------------------------------------------------


def _throughput(kind: str, wasm: bytes, canisters: int) -> str:
    with _replica(kind) as replica:
        targets = [_install(replica, wasm) for _ in range(canisters)]
        for target in targets:  # warm each sandbox and the compiled module
            replica.update(target, "inc")
        start = time.perf_counter()
        request_ids = [replica.submit(targets[i % canisters], "inc") for i in range(K)]
        submitted = time.perf_counter()
        reports = replica.subnet.run_until_idle()
        done = time.perf_counter()
        replied = sum(
            1 for rid in request_ids
            if (status := replica.subnet.ingress_status(rid)) is not None
            and status.state is IngressState.REPLIED
        )
    submit_s, execute_s = submitted - start, done - submitted
    messages = sum(r.messages for r in reports)
    instructions = sum(r.instructions for r in reports)
    name = "memory" if kind == "memory" else "SQLite"
    return (f"{name:<7} {canisters:>9} {K:>6} {replied:>8} {len(reports):>7} "
            f"{submit_s * 1e3:>10.0f} {execute_s * 1e3:>10.0f} {messages / execute_s:>12,.0f} "
            f"{K / (submit_s + execute_s):>12,.0f} {instructions // max(messages, 1):>10,}")


# -- 4: checkpoint cost vs dirty pages ---------------------------------------------------------


def _repeats(pages: int) -> int:
    return max(10, min(200, 4000 // pages))


def _checkpoint_rows() -> list[str]:
    wasm = bytes(wasmtime.wat2wasm(TOUCH_WAT))
    lines = []
    with _replica("sqlite") as replica:
        canister = _install(replica, wasm)
        subnet = replica.subnet
        live = subnet.canister_state.sandboxes[canister.raw]
        module = live.module
        state = subnet.canister_state.states[canister.raw]
        limit = subnet.config.update_instruction_limit
        # A separate sandbox for the direct rows, so the replica's image stays its own.
        direct = Sandbox(subnet.engine, module, type(live.stable)(),
                         subnet.canister_state.execution_input(state, Context.START, b""), limit)
        bare = BareInstance(subnet.engine.engine, module, subnet.engine.compile(module))
        touch = bare.call("canister_update touch")
        for pages in PAGE_COUNTS:
            arg = pages.to_bytes(4, "little")
            repeats = _repeats(pages)
            inp = subnet.canister_state.execution_input(state, Context.UPDATE, CALLER.raw, arg=arg)

            def update(arg: bytes = arg) -> None:
                replica.update(canister, "touch", arg)

            def execute(persist: bool, inp: Any = inp) -> Callable[[], None]:
                def run() -> None:
                    assert direct.execute("canister_update touch", inp, limit,
                                          persist=persist).trap is None

                return run

            bare.arg = arg
            replica_s = statistics.median(_samples(update, repeats, warmup=3))
            persist_s = statistics.median(_samples(execute(True), repeats, warmup=3))
            rollback_s = statistics.median(_samples(execute(False), repeats, warmup=3))
            bare_s = statistics.median(_samples(touch, repeats, warmup=3))
            mib = pages * 4096 / 2**20
            lines.append(
                f"{pages:>6} {mib:>7.3f} {_ms(bare_s):>9} {_ms(rollback_s):>14} "
                f"{_ms(persist_s):>14} {_ms(replica_s):>13} {replica_s / rollback_s:>8.1f}x "
                f"{_ms(replica_s - persist_s):>14}"
            )
    return lines


# -- 5: heap size ------------------------------------------------------------------------------


def _heap_wasm(mib: int, *, reference: bool) -> bytes:
    pages = mib * 16
    return bytes(wasmtime.wat2wasm(HEAP_WAT.format(
        pages=pages, pages4k=pages * 16, extra=UNINSTRUMENTED if reference else "")))


def _heap_rows() -> list[str]:
    """Per heap size: update and query p50 with the dirty bitmap and the reference."""
    results: dict[tuple[int, str], tuple[float, float]] = {}
    for mib in HEAP_SIZES_MIB:
        for kind in ("bitmap", "reference"):
            with _replica("memory") as replica:
                canister = _install(replica, _heap_wasm(mib, reference=kind == "reference"))
                sandbox = replica.subnet.canister_state.sandboxes[canister.raw]
                assert sandbox.heap_size == mib * 2**20
                assert isinstance(sandbox, Sandbox)
                assert (sandbox.checkpoint.bitmap is None) == (kind == "reference")

                def update(canister: Principal = canister, replica: Replica = replica) -> None:
                    replica.update(canister, "touch")

                def query(canister: Principal = canister, replica: Replica = replica) -> None:
                    replica.query(canister, "touch_query")

                results[mib, kind] = (
                    statistics.median(_samples(update, HEAP_CALLS, warmup=10)),
                    statistics.median(_samples(query, HEAP_CALLS, warmup=10)),
                )
    lines = []
    small = HEAP_SIZES_MIB[0]
    for mib in HEAP_SIZES_MIB:
        update, query = results[mib, "bitmap"]
        ref_update, ref_query = results[mib, "reference"]
        lines.append(
            f"{mib:>5} {_ms(update):>10} {update / results[small, 'bitmap'][0]:>8.2f}x "
            f"{_ms(ref_update):>10} {ref_update / update:>8.1f}x "
            f"{_ms(query):>10} {query / results[small, 'bitmap'][1]:>8.2f}x "
            f"{_ms(ref_query):>10} {ref_query / query:>8.1f}x"
        )
    return lines


# -- profile -----------------------------------------------------------------------------------


def _short(location: tuple[str, int, str]) -> str:
    filename, line, func = location
    if filename == "~":
        return func
    path = Path(filename)
    with contextlib.suppress(ValueError):
        path = path.relative_to(ROOT)
    parts = path.parts
    short = "/".join(parts[-3:]) if len(parts) > 3 else str(path)
    return f"{short}:{line}({func})"


def _profile(wasm: bytes) -> None:
    with _replica("sqlite") as replica:
        canister = _install(replica, wasm)
        for _ in range(WARMUP):
            replica.update(canister, "inc")
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(PROFILE_CALLS):
            replica.update(canister, "inc")
        profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = [(loc, nc, tt, ct) for loc, (_cc, nc, tt, ct, _callers) in stats.items()]
    total = max(ct for _loc, _nc, _tt, ct in rows)
    print(f"cProfile of {PROFILE_CALLS} Replica.update('inc'), SQLite store "
          f"({total / PROFILE_CALLS * 1e6:,.0f} µs/update under the profiler); per update:")
    for title, key, count in (("by cumulative time", 3, 12), ("by own time", 2, 8)):
        print(f"  top {count} {title}:")
        print(f"    {'cum µs':>8} {'own µs':>8} {'calls':>6}  function")
        for loc, nc, tt, ct in sorted(rows, key=lambda r: r[key], reverse=True)[:count]:
            print(f"    {ct / PROFILE_CALLS * 1e6:>8,.1f} {tt / PROFILE_CALLS * 1e6:>8,.1f} "
                  f"{nc / PROFILE_CALLS:>6.1f}  {_short(loc)}")


# -- main --------------------------------------------------------------------------------------


def _motoko_counter() -> bytes | None:
    try:
        from tests.replica.corpus import motoko_wasm

        return motoko_wasm("counter")
    except Exception as exc:  # no node / npm package: skip the Motoko tables
        print(f"(Motoko tables skipped: cannot build counter.mo: {str(exc).splitlines()[0]})")
        return None


def main() -> None:
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
          f"({platform.python_implementation()}) on {platform.machine()}, "
          f"wasmtime-py {version('wasmtime')}")
    wasm = _motoko_counter()
    if wasm is not None:
        print()
        print(f"1. Motoko counter through the replica ({CALLS} calls per row after "
              f"{WARMUP} warm-up, in {PASSES} passes interleaved with table 2's rows; "
              "update = submit + round + commit)")
        rows, layer = _motoko_rows(wasm)
        _print_rows(rows, None)

        print()
        print("2. The same exports layer by layer (ratio = p50 / bare wasmtime with fuel on; "
              "+µs = p50 minus the row above)")
        reference = {row.method: row for row in layer if row.label.startswith("bare, fuel on")}
        ordered = [row for method in ("inc", "get")
                   for row in layer + rows if row.method == method]
        _print_rows(ordered, reference)

        print()
        print(f"3. Subnet throughput: {K} `inc` ingress messages submitted at once, then "
              "rounds until idle")
        print(f"{'store':<7} {'canisters':>9} {'msgs':>6} {'replied':>8} {'rounds':>7} "
              f"{'submit ms':>10} {'rounds ms':>10} {'msgs/s exec':>12} {'msgs/s e2e':>12} "
              f"{'instr/msg':>10}")
        print("-" * 100)
        for kind in ("memory", "sqlite"):
            for canisters in (1, FANOUT):
                print(_throughput(kind, wasm, canisters))

    print()
    print("4. Checkpoint cost vs dirty 4 KiB pages: WAT update writing N pages of a 64 MiB "
          "heap (median ms/update)")
    print(f"{'pages':>6} {'MiB':>7} {'bare ms':>9} {'rollback ms':>14} {'persist ms':>14} "
          f"{'replica ms':>13} {'vs ref':>9} {'round+commit':>14}")
    print(f"{'':>6} {'':>7} {'(wasm)':>9} {'[reference]':>14} {'(no store)':>14} "
          f"{'(SQLite)':>13} {'':>9} {'ms':>14}")
    print("-" * 92)
    for line in _checkpoint_rows():
        print(line)
    print("bare = the export alone; rollback = Sandbox.execute(persist=False): bitmap read "
          "+ copy-back;\npersist = Sandbox.execute(persist=True): bitmap read + compare + "
          "image copy; replica = Replica.update: persist + round + SQLite commit; round+commit = "
          "replica - persist.")

    print()
    print(f"5. Heap size against cost: WAT canister writing one 4 KiB page per call "
          f"(median ms of {HEAP_CALLS} calls, in-memory store)")
    print(f"{'MiB':>5} {'update':>10} {'x 5 MiB':>9} {'ref upd.':>10} {'ref/new':>9} "
          f"{'query':>10} {'x 5 MiB':>9} {'ref query':>10} {'ref/new':>9}")
    print("-" * 89)
    for line in _heap_rows():
        print(line)
    print("update/query = dirty bitmap; ref = the same canister checkpointed by comparing "
          "the whole heap (uninstrumented).")

    if wasm is not None:
        print()
        _profile(wasm)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
