"""Python canisters on the shared runtime component: build, load, instantiate, call, crossing.

Rows (all measured in this run; wall time with ``time.perf_counter``, medians):

- runtime build (componentize-py): cold if nothing is cached (about 20 s), else the
  cached read; wasmtime compile: ``Component.serialize()`` cache load, and the cold
  compile only if it was not cached;
- instantiate (fresh store + `Linker.instantiate`) and install (``exec`` of a small app
  source) per `ComponentSandbox`, in instructions and ms;
- a noop query and a counter increment kept in the key-value store
  (`ComponentSandbox.execute`): instructions and µs per call;
- the crossing cost of a 64 KiB payload carried as a latin-1 ``string`` (echo: in as the
  argument, out as the reply), against the noop call it rides on.

The ``probe`` column holds the ARCHITECTURE.md figures (componentize-py 0.25, wasmtime-py
50, a probe with a bare ``() -> ()`` export), so the ratio shows what our ABI and host add.
Usage: ``.venv/bin/python bench/bench_component.py`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from icframework.compiler import runtime_build  # noqa: E402
from icframework.core.ic0 import Context  # noqa: E402
from icframework.replica.execution.component import ComponentSandbox  # noqa: E402
from icframework.replica.execution.engine import ExecutionEngine  # noqa: E402
from icframework.replica.execution.system_api import ExecutionInput  # noqa: E402

CACHE_DIR = ROOT / ".build" / "runtime"
CALLS = 300
INSTANCES = 20
LIMIT = 1_000_000_000
PAYLOAD = bytes(range(256)) * 256  # 64 KiB, every byte value

APP = """\
import icframework_runtime as rt


@rt.query
def noop(arg):
    return b""


@rt.update
def inc(arg):
    value = int(rt.kv_get(b"counter") or b"0") + 1
    rt.kv_put(b"counter", str(value).encode())
    return str(value).encode()


@rt.update
def echo(arg):
    return arg
"""

def _median_us(run: Callable[[], object], count: int) -> float:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def _message(context: Context, arg: bytes = b"") -> ExecutionInput:
    return ExecutionInput(
        context=context, canister_id=b"\x01", caller=b"\x02", time_ns=1_700_000_000 * 10**9,
        cycle_balance=10**12, arg=arg,
    )


def _row(name: str, ours: str, probe: str, ratio: str) -> None:
    print(f"{name:<38} {ours:>22} {probe:>16} {ratio:>7}")


def _ratio(ours: float, probe: float | None) -> str:
    return "-" if not probe else f"{ours / probe:.1f}x"


def main() -> None:
    started = time.perf_counter()
    artifact = runtime_build.build_runtime(CACHE_DIR, progress=None)
    build_seconds = time.perf_counter() - started
    engine = ExecutionEngine().engine
    key = artifact.key
    compiled_cached = any(CACHE_DIR.glob(f"{key}-wasmtime*.cwasm"))
    started = time.perf_counter()
    runtime = runtime_build.load_runtime(engine, CACHE_DIR, progress=None)
    first_load = time.perf_counter() - started
    started = time.perf_counter()
    runtime = runtime_build.load_runtime(engine, CACHE_DIR, progress=None)
    cached_load = time.perf_counter() - started

    sandboxes = []
    instantiate_ms, install_ms = [], []
    for _ in range(INSTANCES):
        sandbox = ComponentSandbox(engine, runtime, APP, filename="bench_app.py")
        instantiate_ms.append(sandbox.instantiate_seconds * 1e3)
        install_ms.append(sandbox.install_seconds * 1e3)
        sandboxes.append(sandbox)
    sandbox = sandboxes[-1]

    query = _message(Context.QUERY)
    sandbox.execute("canister_query noop", query, LIMIT, persist=False)  # warm up
    noop = sandbox.execute("canister_query noop", query, LIMIT, persist=False)
    noop_us = _median_us(
        lambda: sandbox.execute("canister_query noop", query, LIMIT, persist=False), CALLS
    )
    update = _message(Context.UPDATE)
    sandbox.execute("canister_update inc", update, LIMIT, persist=True)  # warm up
    inc = sandbox.execute("canister_update inc", update, LIMIT, persist=True)
    inc_us = _median_us(
        lambda: sandbox.execute("canister_update inc", update, LIMIT, persist=True), CALLS
    )
    big = _message(Context.UPDATE, PAYLOAD)
    echo = sandbox.execute("canister_update echo", big, LIMIT, persist=True)
    assert echo.output is not None and echo.output.response is not None
    echo_us = _median_us(
        lambda: sandbox.execute("canister_update echo", big, LIMIT, persist=True), CALLS // 3
    )

    print(f"runtime {key}: {len(artifact.wasm) / 1e6:.1f} MB component, {CALLS} calls per row")
    _row("measure", "ours", "probe", "ratio")
    build = "cached" if artifact.cached else "cold"
    _row(f"build (componentize-py, {build})", f"{build_seconds:.2f} s", "-", "-")
    if not compiled_cached:
        _row("compile (wasmtime, cold)", f"{first_load:.1f} s", "6 s", _ratio(first_load, 6.0))
    _row("load compiled (serialize cache)", f"{cached_load * 1e3:.0f} ms", "200 ms",
         _ratio(cached_load, 0.2))
    inst = statistics.median(instantiate_ms)
    _row("instantiate", f"{inst:.1f} ms", "6 ms", _ratio(inst, 6.0))
    _row("install (exec app source)",
         f"{sandbox.install_instructions:,} instr", "1,800,000 instr",
         _ratio(sandbox.install_instructions, 1_800_000))
    _row("install wall time", f"{statistics.median(install_ms):.1f} ms", "-", "-")
    _row("noop query, instructions", f"{noop.instructions:,}", "11,500",
         _ratio(noop.instructions, 11_500))
    _row("noop query, host wall time", f"{noop_us:.0f} µs", "32 µs", _ratio(noop_us, 32.0))
    _row("counter inc (kv get+commit), instr", f"{inc.instructions:,}", "16,000 (dict)",
         _ratio(inc.instructions, 16_000))
    _row("counter inc, host wall time", f"{inc_us:.0f} µs", "-", "-")
    crossing = echo_us - noop_us
    _row("64 KiB echo as string, wall time", f"{echo_us:.0f} µs", "-", "-")
    list_u8_us = 2 * len(PAYLOAD) * 0.7
    _row("  of which 2 x 64 KiB crossing", f"{crossing:.0f} µs",
         f"{list_u8_us / 1e3:.0f} ms list<u8>*", _ratio(crossing, list_u8_us))
    _row("64 KiB echo, instructions", f"{echo.instructions:,}", "-", "-")
    print("* list<u8> at ~0.7 µs per byte (ARCHITECTURE.md) for the same 2 x 64 KiB.")


if __name__ == "__main__":
    main()
