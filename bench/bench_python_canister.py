"""Python canisters (SDK) against Motoko canisters of the same logic, on one in-process replica.

Canisters (``bench/canisters``): ``sdk_app.py`` (the Python SDK: type hints as Candid,
`StableCell`, `StableBTreeMap`), ``motoko_app.mo`` (the same methods in Motoko, with a
persistent ``mo:core/Map`` B-tree) and ``raw_app.py`` (noop methods on the bare runtime
ABI, no SDK: the floor under the SDK rows). The Motoko source is compiled by
``tests/js/motoko_build.mjs`` (the ``motoko`` npm package) and cached under
``.build/motoko`` with the key of ``tests.replica.corpus.cache_key``.

Tables (all in this run; wall time with ``time.perf_counter_ns``; memory store,
`Replica.open()`):

1. Setup: the runtime build (componentize-py; "cached" unless nothing was built yet), the
   runtime load for the replica's engine (deserialising the compiled component), the
   Motoko compile (cached or cold); module size; install time (create + install, median);
   the Python canister's instantiate and app-load time and instructions; RSS growth per
   canister over `INSTANCES` installs of each kind (``/proc/self/statm``, after one
   warm-up install so the shared runtime's load is not counted).
2. Messages: instructions per message (`QueryResult.instructions` for queries, the
   subnet's `RoundReport.instructions` for updates) and p50 wall time of `Replica.query`
   / `Replica.update`, Python against Motoko, with Basilisk's published figures for the
   same workloads beside ours (their ratio: ours over theirs).
3. Where the instructions go: each compute method's ``*_body`` twin returns the
   performance counter around the body alone; the rest of the message is dispatch,
   Candid and the runtime boundary. The raw-ABI noop shows what the SDK adds; Candid's
   in-canister decode/encode rows are the steady state (third call); the echo rows
   send a blob of random bytes through the bare ABI and back (its "around" column: over
   the noop).
3b. Bulk bytes: one message through `ComponentSandbox.execute` (no subnet around it), p50
   wall time per MiB each way at `ECHO_SIZES` of random bytes (the worst case for the
   latin-1 transcoding, see `icframework.compiler.bulk_bytes`): argument in, reply out,
   key-value put and get (the value crossing from the store: each get reads a key the
   instance has not cached), for the bare ABI and for an SDK method taking and returning
   ``bytes`` (Candid ``blob``); beside them the ``list<u8>`` path this replaced and a host
   ``memmove`` of the same size (the floor). The old path is measured in the same run for
   arguments and replies (the generic ``call`` export still takes and answers ``list<u8>``:
   a sandbox that routes every message there); the key-value store has no old path left,
   so its rows show `LIST_PATH_MS_PER_MIB` (measured on the same machine before the change,
   marked "before").
4. Maps: `StableBTreeMap[nat64, nat64]` against a Motoko ``Map<Nat64, Nat64>`` at
   `MAP_SIZES` entries (1,000 to 1,000,000). The first size is filled by ``fill`` updates
   of `BATCH` inserts each on both sides (its instructions per insert and time are rows);
   past it the Python map is written host-side, straight into the canister's store with
   the SDK's own codecs (`ComponentSandbox.reset_instance` then drops the instance's
   cache), and the Motoko map by ``fill`` updates of `BIG_BATCH`. Per size then
   ``map_get`` (query, existing random key) and ``map_insert`` (update, a new key) per
   message: ordinary single calls.

Nothing here asserts on timings. Usage: ``.venv/bin/python bench/bench_python_canister.py``
or ``main()`` (``bench/run.py``). Takes about 70-100 s when the runtime and the Motoko
build are cached (most of it filling the million-entry maps).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import importlib.util
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.support import round_reports  # noqa: E402
from icframework.candid import NAT32, NAT64, Opt, parse_type  # noqa: E402
from icframework.candid.binary import decode, encode  # noqa: E402
from icframework.compiler import runtime_build  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.core.ic0 import Context  # noqa: E402
from icframework.replica.embedded import EMPTY_ARGS, Replica  # noqa: E402
from icframework.replica.execution.component import ComponentSandbox  # noqa: E402
from icframework.replica.execution.engine import ExecutionEngine  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from icframework.replica.execution.system_api import ExecutionInput  # noqa: E402
from icframework.sdk import nat64, service_did  # noqa: E402
from icframework.sdk.keys import key_codec  # noqa: E402
from icframework.sdk.stable import ValueCodec, namespace  # noqa: E402
from tests.replica.corpus import (  # noqa: E402
    CACHE_DIR as MOTOKO_CACHE,
)
from tests.replica.corpus import (  # noqa: E402
    MotokoBuildError,
    cache_key,
    run_motoko_build,
)

CANISTERS = Path(__file__).resolve().parent / "canisters"
RUNTIME_CACHE = ROOT / ".build" / "runtime"
CALLS = 200  # timed calls per cheap row (after WARMUP)
HEAVY_CALLS = 10  # for rows over ~10 M instructions
WARMUP = 20
INSTANCES = 20
INSTALLS = 5
MAP_SIZES = (1_000, 100_000, 1_000_000)
BATCH = 1_000
BIG_BATCH = 50_000  # Motoko fill batches past the first size
MAP_CALLS = 100
CALLER = Principal.anonymous()
MIB = 1024 * 1024
ECHO_SIZES = (64 * 1024, MIB, 2 * MIB)  # blob argument and reply, both ways
ECHO_CALLS = 10
ECHO_APP = """\
import icframework_runtime as rt


@rt.update
def echo(arg):
    return arg
"""
BULK_CALLS = 15
BULK_APP = """\
import icframework_runtime as rt

held = b""


@rt.update
def take(arg):
    global held
    held = arg
    return b""


@rt.update
def give(arg):
    return held


@rt.update
def put(arg):
    rt.kv_put(b"value", arg)
    return b""


@rt.query
def get(arg):
    return rt.kv_get(arg)
"""
BULK_SDK_APP = """\
from icframework.sdk import query, update

held = b""


@update
def put_chunk(data: bytes) -> None:
    global held
    held = data


@query
def get_chunk() -> bytes:
    return held
"""
LIST_PATH_MS_PER_MIB = {"argument in": 75.7, "reply out": 79.5, "kv put": 157.0, "kv get": 150.8}
"""ms per MiB of the same bare-ABI messages (1 MiB) when blobs crossed as ``list<u8>``
values, one 32-byte C value per byte (the runtime before `icframework.compiler.bulk_bytes`;
the issue's 1 MiB echo: ~151 ms and 3.1 M instructions)."""
MOTOKO_METHODS = {"increment_global": "increment"}
"""Python methods whose Motoko twin has another name (a Motoko `var` is durable anyway)."""
THREE_NAT64 = parse_type("record { nat64; nat64; nat64 }")

# Basilisk's published instruction counts for the same workloads (per message).
BASILISK = {
    "noop query": 15_592,
    "increment, StableCell (update)": 15_159,
    "increment, module global (update)": 15_159,
    "fib_iter(25)": 36_553,
    "fib_rec(20)": 29_617_193,
    "sum_to(10000)": 12_767_523,
    "ackermann(3,6)": 284_158_839,
}


# -- helpers -----------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f}"


def _ratio(ours: float, reference: float | None) -> str:
    if not reference:
        return "-"
    value = ours / reference
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def motoko_module() -> tuple[bytes, str]:
    """``canisters/motoko_app.mo`` compiled (cached under ``.build/motoko``); (wasm, how)."""
    source = (CANISTERS / "motoko_app.mo").read_text()
    key = cache_key(source)
    wasm_path = MOTOKO_CACHE / f"{key}.wasm"
    if wasm_path.is_file():
        return wasm_path.read_bytes(), "cached"
    started = time.perf_counter()
    answer = run_motoko_build({"/main.mo": source}, "/main.mo", name="motoko_app")
    elapsed = time.perf_counter() - started
    wasm = bytes.fromhex(answer.pop("wasm_hex"))
    answer["source"] = "bench/canisters/motoko_app.mo"
    MOTOKO_CACHE.mkdir(parents=True, exist_ok=True)
    for path, data in ((wasm_path.with_suffix(".json"), json.dumps(answer, indent=1).encode()),
                       (wasm_path, wasm)):
        fd, tmp = tempfile.mkstemp(dir=MOTOKO_CACHE, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return wasm, f"cold {elapsed:.1f} s"


def python_module(name: str, *, with_did: bool) -> bytes:
    """``canisters/<name>.py`` packed as a Python canister module (with its SDK interface)."""
    source = (CANISTERS / f"{name}.py").read_text()
    did = None
    if with_did:
        module_name = f"_icfw_bench_{name}"
        if module_name not in sys.modules:
            spec = importlib.util.spec_from_file_location(module_name, CANISTERS / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        did = service_did(module_name)
    return pack_python_module({"app.py": source}, "app.py", did=did)


class Target:
    """One installed canister and the replica it lives on, with measuring calls."""

    def __init__(self, replica: Replica, module: bytes) -> None:
        self.replica = replica
        self.canister = replica.create_canister()
        replica.install_code(self.canister, module)

    def state_bytes(self) -> int:
        """Committed state: key-value bytes (Python) or linear memory (wasm)."""
        return self.replica.subnet.canister_state.sandboxes[self.canister.raw].heap_size

    def query(self, method: str, arg: bytes = EMPTY_ARGS) -> tuple[int, bytes]:
        result = self.replica.run_query(self.canister, method, arg, sender=CALLER)
        assert result.reply is not None, (method, result.reject)
        return result.instructions, result.reply

    def update(self, method: str, arg: bytes = EMPTY_ARGS) -> tuple[int, bytes]:
        reports, undo = round_reports(self.replica.subnet)
        try:
            reply = self.replica.update(self.canister, method, arg, sender=CALLER)
        finally:
            undo()
        return sum(r.instructions for r in reports), reply

    def measure(self, kind: str, method: str, args: Callable[[int], bytes],
                calls: int, warmup: int = WARMUP) -> tuple[int, float]:
        """(median instructions, p50 seconds) of ``calls`` calls, argument ``args(i)``."""
        call = self.query if kind == "query" else self.update
        for i in range(warmup):
            call(method, args(i))
        clock = time.perf_counter_ns
        instructions, seconds = [], []
        for i in range(warmup, warmup + calls):
            start = clock()
            used, _ = call(method, args(i))
            seconds.append((clock() - start) / 1e9)
            instructions.append(used)
        return int(statistics.median(instructions)), statistics.median(seconds)


def _fixed(arg: bytes) -> Callable[[int], bytes]:
    return lambda _i: arg


def _nat32s(*values: int) -> bytes:
    return encode([NAT32] * len(values), list(values))


def _nat64s(*values: int) -> bytes:
    return encode([NAT64] * len(values), list(values))


def _nth_key(keys: Sequence[int], i: int) -> bytes:
    return _nat64s(keys[i])


def _new_entry(base: int, i: int) -> bytes:
    return _nat64s(base + i, i)


def _nat64(reply: bytes) -> int:
    return int(decode(reply, [NAT64])[0])


@contextlib.contextmanager
def _runtime_loader() -> Iterator[None]:
    set_runtime_loader(functools.partial(runtime_build.load_runtime, cache_dir=RUNTIME_CACHE,
                                         progress=None))
    try:
        yield
    finally:
        set_runtime_loader(None)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], first: int = 26) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    widths[0] = max(widths[0], first)
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                     for i, h in enumerate(header))
    print(line)
    print("-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                        for i, c in enumerate(row)))
    print()


# -- 1. setup ----------------------------------------------------------------------------------


def setup_table(sdk_module: bytes, motoko_wasm: bytes, motoko_how: str) -> None:
    started = time.perf_counter()
    artifact = runtime_build.build_runtime(RUNTIME_CACHE, progress=None)
    build_seconds = time.perf_counter() - started
    engine = ExecutionEngine().engine
    compiled_cached = any(RUNTIME_CACHE.glob(f"{artifact.key}-wasmtime*.cwasm"))
    started = time.perf_counter()
    runtime = runtime_build.load_runtime(engine, RUNTIME_CACHE, progress=None)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    runtime_build.load_runtime(engine, RUNTIME_CACHE, progress=None)
    reload_seconds = time.perf_counter() - started

    rows: list[list[str]] = []
    rows.append(["runtime build (componentize-py)",
                 f"{'cached read' if artifact.cached else 'cold'} {_ms(build_seconds)}",
                 "-", "-"])
    load_how = "deserialise" if compiled_cached else "cold compile"
    rows.append([f"runtime load ({load_how})", _ms(load_seconds), "-", "-"])
    if not compiled_cached:
        rows.append(["runtime load (deserialise)", _ms(reload_seconds), "-", "-"])
    if artifact.cached:
        rows.append(["  (cold build not run: rm -r .build/runtime)", "-", "-", "-"])
    rows.append([f"runtime component ({len(artifact.wasm) / 1e6:.1f} MB, shared)",
                 f"{len(artifact.wasm):,} B", "-", "-"])
    rows.append(["Motoko compile (moc.js)", "-", motoko_how, "-"])
    rows.append(["module size", f"{len(sdk_module):,} B", f"{len(motoko_wasm):,} B",
                 _ratio(len(sdk_module), len(motoko_wasm))])

    # Install time (create + install_code) and per-instance memory, each kind on its own
    # replica after one warm-up install (the Python one loads the shared runtime).
    install: dict[str, float] = {}
    rss: dict[str, float] = {}
    heap: dict[str, int] = {}
    sandbox: ComponentSandbox | None = None
    for kind, module in (("python", sdk_module), ("motoko", motoko_wasm)):
        with Replica.open() as replica:
            Target(replica, module)
            times = []
            for _ in range(INSTALLS):
                canister = replica.create_canister()
                started = time.perf_counter()
                replica.install_code(canister, module)
                times.append(time.perf_counter() - started)
                heap[kind] = replica.subnet.canister_state.sandboxes[canister.raw].heap_size
                if kind == "python":
                    found = replica.subnet.canister_state.sandboxes[canister.raw]
                    assert isinstance(found, ComponentSandbox)
                    sandbox = found
            install[kind] = statistics.median(times)
            gc.collect()
            before = _rss_bytes()
            kept = [Target(replica, module) for _ in range(INSTANCES)]
            gc.collect()
            rss[kind] = (_rss_bytes() - before) / INSTANCES
            del kept
    rows.append(["install (create + install_code)", _ms(install["python"]),
                 _ms(install["motoko"]), _ratio(install["python"], install["motoko"])])
    rows.append(["state after install (kv bytes / heap)", f"{heap['python']:,} B",
                 f"{heap['motoko']:,} B", "-"])
    if sandbox is not None:
        rows.append(["  Python: instantiate runtime", _ms(sandbox.instantiate_seconds), "-", "-"])
        rows.append(["  Python: load app (exec + SDK)", _ms(sandbox.install_seconds), "-", "-"])
        rows.append(["  Python: load app, instructions", f"{sandbox.install_instructions:,}",
                     "-", "-"])
    rows.append([f"RSS per canister (over {INSTANCES})", f"{rss['python'] / 1e6:.2f} MB",
                 f"{rss['motoko'] / 1e6:.2f} MB", _ratio(rss["python"], rss["motoko"])])
    del runtime
    print("1. Setup: runtime, modules, install, memory")
    _table(["measure", "python", "motoko", "py/mo"], rows, first=40)


# -- 2 and 3. messages -------------------------------------------------------------------------

# (label, kind, method, argument, calls, expected result or None)
WORKLOADS: list[tuple[str, str, str, bytes, int, int | None]] = [
    ("noop query", "query", "noop", EMPTY_ARGS, CALLS, None),
    ("noop update", "update", "noop_update", EMPTY_ARGS, CALLS, None),
    ("increment, StableCell (update)", "update", "increment", EMPTY_ARGS, CALLS, None),
    ("increment, module global (update)", "update", "increment_global", EMPTY_ARGS, CALLS, None),
    ("get (query)", "query", "get", EMPTY_ARGS, CALLS, None),
    ("fib_iter(25)", "query", "fib_iter", _nat32s(25), CALLS, 75_025),
    ("fib_rec(20)", "query", "fib_rec", _nat32s(20), HEAVY_CALLS * 3, 6_765),
    ("sum_to(10000)", "query", "sum_to", _nat32s(10_000), CALLS // 4, 50_005_000),
    ("ackermann(3,6)", "query", "ackermann", _nat32s(3, 6), HEAVY_CALLS, 509),
]


def message_tables(python: Target, motoko: Target, raw: Target, echo: Target) -> None:
    rows = []
    for label, kind, method, arg, calls, expected in WORKLOADS:
        if expected is not None:
            for target in (python, motoko):
                got = _nat64(target.query(method, arg)[1])
                assert got == expected, (label, got)
        warmup = WARMUP if calls >= CALLS // 4 else 2
        py_instr, py_time = python.measure(kind, method, _fixed(arg), calls, warmup)
        mo_method = MOTOKO_METHODS.get(method, method)
        mo_instr, mo_time = motoko.measure(kind, mo_method, _fixed(arg), calls, warmup)
        basilisk = BASILISK.get(label)
        rows.append([
            label, f"{py_instr:,}", f"{mo_instr:,}", _ratio(py_instr, mo_instr),
            f"{basilisk:,}" if basilisk else "-", _ratio(py_instr, basilisk),
            _us(py_time), _us(mo_time), _ratio(py_time, mo_time),
        ])
    print(f"2. Messages: instructions per message and p50 wall time (µs), {CALLS} calls for the "
          f"cheap rows; basilisk = published figures, py/bsk = ours over theirs")
    _table(["workload", "python instr", "motoko instr", "py/mo", "basilisk", "py/bsk",
            "python µs", "motoko µs", "py/mo"], rows)
    print("Basilisk's increment row is `count += 1` on a module global, which an IC "
          "canister's heap keeps until an upgrade; its figure stands beside both of ours. In a "
          "Python canister here a module global is a cache, rebuilt after a trap, an upgrade "
          "or a restart, so a counter that must last is a StableCell (one durable write per "
          "message). Motoko's `var` is durable: one method serves both rows.")
    print("Wall time of a wasm canister includes the replica's comparison of its whole heap "
          "after every message (see the state rows of tables 1 and 4); a Python canister's "
          "state is its key-value store, so it has none.\n")

    rows = []
    raw_instr, raw_time = raw.measure("query", "noop", _fixed(EMPTY_ARGS), CALLS)
    sdk_instr, sdk_time = python.measure("query", "noop", _fixed(EMPTY_ARGS), CALLS)
    mo_instr, mo_time = motoko.measure("query", "noop", _fixed(EMPTY_ARGS), CALLS)
    rows.append(["noop query, bare runtime ABI", f"{raw_instr:,}", "-", "-",
                 f"p50 {_us(raw_time)} µs"])
    rows.append(["noop query, SDK", f"{sdk_instr:,}", "-",
                 f"{sdk_instr - raw_instr:,} SDK", f"p50 {_us(sdk_time)} µs"])
    rows.append(["noop query, Motoko", f"{mo_instr:,}", "-", "-", f"p50 {_us(mo_time)} µs"])
    for label, _kind, method, arg, _calls, expected in WORKLOADS:
        if expected is None:  # only the compute rows have `*_body` twins
            continue
        for name, target in (("python", python), ("motoko", motoko)):
            total, _ = target.query(method, arg)
            body = _nat64(target.query(f"{method}_body", arg)[1])
            rows.append([f"{label}, {name}", f"{total:,}", f"{body:,}",
                         f"{total - body:,}", f"{body / total:.1%} body"])
    # The first calls with a type list teach Candid's caches its fast path (see
    # icframework.candid.binary, "fast paths"); the third shows the steady state.
    for _ in range(3):
        cost = python.query("candid_cost", _nat32s(25))[1]
    decode_instr, encode_instr, probe = (int(v) for v in decode(cost, [THREE_NAT64])[0])
    rows.append(["python, decode (nat32) arg", "-", f"{decode_instr:,}", "-", "in-canister"])
    rows.append(["python, encode (nat64) reply", "-", f"{encode_instr:,}", "-", "in-canister"])
    rows.append(["python, perf counter probe", "-", f"{probe:,}", "-", "per body row"])
    for size in ECHO_SIZES:
        payload = random.Random(size).randbytes(size)
        instr, seconds = echo.measure("update", "echo", _fixed(payload), ECHO_CALLS, 2)
        rows.append([f"echo {size // 1024} KiB, bare runtime ABI", f"{instr:,}", "-",
                     f"{instr - raw_instr:,}",
                     f"p50 {_us(seconds)} µs, {seconds * 1e3 / (size / MIB):.1f} ms/MiB"])
    print("3. Where the instructions go: whole message vs the body alone "
          "(performance counter); around = dispatch + Candid + boundary")
    _table(["message", "total instr", "body instr", "around", "note"], rows, first=30)


# -- 3b. bulk bytes ----------------------------------------------------------------------------


_LEGACY: list[ComponentSandbox] = []  # the sandbox of the old path (set by `bulk_table`)


def _p50_ms(run: Callable[[int], int]) -> tuple[float, int]:
    """(p50 ms, instructions of the last call) of ``run(i)`` over `BULK_CALLS` calls."""
    run(-1)  # warm-up (and, for the "in" rows, what the "out" rows send back)
    times, instructions = [], 0
    for i in range(BULK_CALLS):
        start = time.perf_counter_ns()
        instructions = run(i)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times), instructions


def _memmove_ms(size: int) -> float:
    source = random.Random(size).randbytes(size)
    target = bytearray(size)
    times = []
    for _ in range(BULK_CALLS):
        start = time.perf_counter_ns()
        ctypes.memmove((ctypes.c_char * size).from_buffer(target), source, size)
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


def _bulk_input(context: Context, arg: bytes) -> ExecutionInput:
    return ExecutionInput(context=context, canister_id=b"\x01", caller=CALLER.raw,
                          time_ns=1_700_000_000_000_000_000, cycle_balance=10**12, arg=arg)


def _bulk_runner(box: ComponentSandbox, export: str, arg: Callable[[int], bytes],
                 reply_size: int = 0) -> Callable[[int], int]:
    """Runs ``export`` with argument ``arg(i)``; checks the reply is ``reply_size`` or more."""
    context = Context.QUERY if export.startswith("canister_query") else Context.UPDATE

    def run(i: int) -> int:
        result = box.execute(export, _bulk_input(context, arg(i)), 10**11,
                             persist=context is Context.UPDATE)
        assert result.trap is None and result.output is not None, result.trap
        assert len(getattr(result.output.response, "data", b"")) >= reply_size
        return result.instructions

    return run


def _bulk_rows(raw: ComponentSandbox, sdk: ComponentSandbox, data: bytes, chunk: bytes,
               keys: Sequence[bytes]) -> list[tuple[str, Callable[[int], int]]]:
    """The measured messages of one size (in the order `_p50_ms` must run them)."""
    size = len(data)
    return [
        ("argument in", _bulk_runner(raw, "canister_update take", lambda _i: data)),
        ("reply out", _bulk_runner(raw, "canister_update give", lambda _i: b"", size)),
        ("list<u8> argument in", _bulk_runner(_LEGACY[0], "canister_update take",
                                              lambda _i: data)),
        ("list<u8> reply out", _bulk_runner(_LEGACY[0], "canister_update give",
                                            lambda _i: b"", size)),
        ("kv put", _bulk_runner(raw, "canister_update put", lambda _i: data)),
        ("kv get", _bulk_runner(raw, "canister_query get", lambda i: keys[i + 1], size)),
        ("SDK blob argument in", _bulk_runner(sdk, "canister_update put_chunk", lambda _i: chunk)),
        ("SDK blob reply out",
         _bulk_runner(sdk, "canister_query get_chunk", lambda _i: EMPTY_ARGS, size - 16)),
    ]


def bulk_table() -> None:
    """Table 3b (see the module docstring)."""
    engine = ExecutionEngine().engine
    compiled = runtime_build.load_runtime(engine, RUNTIME_CACHE, progress=None)
    raw = ComponentSandbox(engine, compiled, BULK_APP, filename="app.py")
    sdk = ComponentSandbox(engine, compiled, BULK_SDK_APP, filename="app.py")
    legacy = ComponentSandbox(engine, compiled, BULK_APP, filename="app.py")
    # Without method indices every message takes the generic `call` export, whose blobs
    # are still list<u8>: the old path, measured beside the new one.
    legacy._method_index.clear()
    _LEGACY[:] = [legacy]
    blob = parse_type("blob")
    rows = []
    for size in ECHO_SIZES:
        mib = size / MIB
        data = random.Random(size).randbytes(size)
        chunk = encode([blob], [data[: size - 16]])  # within the reply limit with Candid's header
        keys = [f"value {i}".encode() for i in range(-1, BULK_CALLS)]
        raw.kv.begin()
        for key in keys:  # values written host-side, then never seen by the instance
            raw.kv.put(key, data)
        raw.kv.commit()
        raw.reset_instance()
        floor = _memmove_ms(size) / mib
        measured = {label: _p50_ms(run) for label, run in _bulk_rows(raw, sdk, data, chunk, keys)}
        for label, (ms, instructions) in measured.items():
            if label.startswith("list<u8>"):
                continue
            same_run = measured.get(f"list<u8> {label}")
            before = LIST_PATH_MS_PER_MIB.get(label)
            old = f"{same_run[0] / mib:.2f}" if same_run else (
                f"{before:.1f} before" if before else "-")
            ratio = (same_run[0] / mib if same_run else before or 0) / (ms / mib)
            rows.append([
                f"{label}, {size // 1024} KiB", f"{ms / mib:.2f}", old,
                f"{ratio:.0f}x" if ratio else "-", f"{instructions:,}", f"{floor:.3f}",
            ])
    print("3b. Bulk bytes across the Python canister boundary: p50 ms per MiB of one message "
          f"(ComponentSandbox.execute, {BULK_CALLS} calls, random bytes); list<u8> = the "
          "replaced path (this run, or 1 MiB before the change); floor = host memmove")
    _table(["message", "ms/MiB", "list<u8> ms/MiB", "speed-up", "instructions",
            "memmove ms/MiB"], rows, first=30)
    print("Charged: what the guest executes, about one instruction per byte each way (the "
          "runtime's copy of the bytes into and out of Python objects; an SDK method adds "
          "Candid's copy of the blob, one more per byte) plus one System API call per import. "
          "The host's transcoding of the latin-1 text (wasmtime and the replica, outside the "
          "guest) is not charged, as the list<u8> conversion was not. Random bytes are the "
          "slow case of that transcoding (about half of them take two UTF-8 bytes); text-like "
          "payloads cross several times faster.\n")


# -- 4. maps -----------------------------------------------------------------------------------


def _fill_python_host_side(python: Target, start: int, end: int) -> None:
    """Write entries ``start..end`` of ``sdk_app.py``'s ``entries`` map (key k, value 2k)
    straight into the canister's store, in one transaction, with the SDK's own key and
    value codecs; then drop the instance, whose cache of committed values it bypassed."""
    sandbox = python.replica.subnet.canister_state.sandboxes[python.canister.raw]
    assert isinstance(sandbox, ComponentSandbox)
    prefix = namespace("entries")
    lo = prefix + b"\x01"
    encode_key = key_codec(nat64).encode
    codec = ValueCodec(nat64)
    codec.dump(0)  # compiles itself on first use
    dump = codec.dump
    store = sandbox.kv
    length = store.get(prefix + b"\x00")
    count = 0 if length is None else int.from_bytes(length, "big")
    store.begin()
    for k in range(start, end):
        store.put(lo + encode_key(k), dump(2 * k))
    store.put(prefix + b"\x00", (count + end - start).to_bytes(8, "big"))
    store.commit()
    sandbox.reset_instance()


def map_table(python: Target, motoko: Target) -> None:
    rows = []
    rng = random.Random(7)
    filled = 0
    for size in MAP_SIZES:
        fill: dict[str, tuple[int, float]] = {}
        # The first size is filled by ``fill`` updates on both sides (their cost per
        # insert is a row); past it the Python map is written host-side (a million
        # inserts at ~50 k instructions would take minutes) and the Motoko map by larger
        # ``fill`` batches. The measured get/insert calls are ordinary messages.
        in_canister = filled == 0
        batch = BATCH if in_canister else BIG_BATCH
        for name, target in (("python", python), ("motoko", motoko)):
            instructions = 0
            started = time.perf_counter()
            if name == "python" and not in_canister:
                _fill_python_host_side(target, filled, size)
            else:
                for start in range(filled, size, batch):
                    used, reply = target.update("fill", _nat64s(start, min(batch, size - start)))
                    instructions += used
                    assert _nat64(reply) == min(start + batch, size)
            fill[name] = (instructions, time.perf_counter() - started)
        inserted = size - filled
        filled = size
        py_fill, mo_fill = fill["python"], fill["motoko"]
        if in_canister:
            rows.append([f"fill {inserted:,} (by {batch:,}), instr/insert",
                         f"{py_fill[0] // inserted:,}", f"{mo_fill[0] // inserted:,}",
                         _ratio(py_fill[0], mo_fill[0]), "-", "-", "-"])
            rows.append([f"fill {inserted:,}, total time", _ms(py_fill[1]), _ms(mo_fill[1]),
                         _ratio(py_fill[1], mo_fill[1]), "-", "-", "-"])
        else:
            rows.append([f"fill {inserted:,} (py host-side, mo by {batch:,})",
                         _ms(py_fill[1]), _ms(mo_fill[1]), "-", "-", "-", "-"])
        keys = [rng.randrange(size) for _ in range(MAP_CALLS + WARMUP)]
        get_arg = functools.partial(_nth_key, keys)
        py = python.measure("query", "map_get", get_arg, MAP_CALLS)
        mo = motoko.measure("query", "map_get", get_arg, MAP_CALLS)
        rows.append([f"map_get @ {size:,} (query)", f"{py[0]:,}", f"{mo[0]:,}",
                     _ratio(py[0], mo[0]), _us(py[1]), _us(mo[1]), _ratio(py[1], mo[1])])
        base = 10 * max(MAP_SIZES) + size
        insert_arg = functools.partial(_new_entry, base)
        py = python.measure("update", "map_insert", insert_arg, MAP_CALLS)
        mo = motoko.measure("update", "map_insert", insert_arg, MAP_CALLS)
        rows.append([f"map_insert @ {size:,} (update)", f"{py[0]:,}", f"{mo[0]:,}",
                     _ratio(py[0], mo[0]), _us(py[1]), _us(mo[1]), _ratio(py[1], mo[1])])
        rows.append([f"state at {size:,} (kv bytes / heap)",
                     f"{python.state_bytes() / 1e6:.2f} MB",
                     f"{motoko.state_bytes() / 1e6:.2f} MB",
                     "-", "-", "-", "-"])
        got = python.query("map_get", _nat64s(size // 2))[1]
        assert decode(got, [Opt(NAT64)])[0] == (size // 2) * 2
        store = python.replica.subnet.canister_state.sandboxes[python.canister.raw].kv
        assert store is not None
        length = store.get(namespace("entries") + b"\x00")
        assert length is not None
        inserted_total = sum(MAP_CALLS + WARMUP for s in MAP_SIZES if s <= size)
        assert int.from_bytes(length, "big") == size + inserted_total
    print(f"4. Maps: StableBTreeMap[nat64, nat64] vs Motoko core Map<Nat64, Nat64>; "
          f"{MAP_CALLS} calls per get/insert row (wall time in µs, p50)")
    _table(["operation", "python instr", "motoko instr", "py/mo", "python µs", "motoko µs",
            "py/mo"], rows, first=40)
    print("The Python map's keys live in the host's key-value store (a dict and a sorted key "
          "list), so its lookups cost host time, not instructions; the Motoko B-tree's "
          "search is in its instructions.")


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    begun = time.perf_counter()
    try:
        motoko_wasm, motoko_how = motoko_module()
    except (MotokoBuildError, FileNotFoundError, OSError) as error:
        print(f"Motoko build unavailable ({str(error).splitlines()[0]}); skipping this benchmark")
        return
    sdk_module = python_module("sdk_app", with_did=True)
    raw_module = python_module("raw_app", with_did=False)
    with _runtime_loader():
        setup_table(sdk_module, motoko_wasm, motoko_how)
        with Replica.open() as replica:
            python = Target(replica, sdk_module)
            motoko = Target(replica, motoko_wasm)
            raw = Target(replica, raw_module)
            echo = Target(replica, pack_python_module({"app.py": ECHO_APP}, "app.py"))
            message_tables(python, motoko, raw, echo)
            bulk_table()
            map_table(python, motoko)
    print(f"total {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
