"""The IC target (`manage.py build --target ic`) against the component build of the same app.

The app is ``bench/canisters/sdk_app.py`` (the SDK rows of ``bench_python_canister.py``).
Tables (all measured in this run, on one in-process replica; nothing asserts on times):

1. Build: the runtime link (zig, into a scratch file), the shared base (boot snapshot and
   WASI shim, in a scratch cache), the app cold and cached; module size raw and gzipped;
   install time on the replica (create + install of the gzipped module: the replica
   compiles the 20 MB module).
2. Messages: instructions per message (median of up to `CALLS`) for every row of
   ``bench_python_canister.py`` on the IC target, the component and the Motoko canister
   (``canisters/motoko_app.mo``), with Basilisk's published figures. Queries on the IC
   target run as on the IC: the replica discards a query's heap changes, so nothing a
   query computes stays cached for the next one.
3. Map: `StableBTreeMap[nat64, nat64]` on stable memory at `MAP_SIZES` entries (filled by
   ``fill`` updates of `BATCH` inserts), ``map_insert`` (update) and ``map_get`` (query)
   per message: a flat cost across sizes is the goal.

Usage: ``.venv/bin/python bench/bench_ic_target.py`` (or ``bench/run.py ic_target``).
Takes 3-6 minutes the first time on 2 cores (the toolchain fetch and the base), about 2
minutes with ``.build/ic`` warm (filling the map to a million entries takes about 15 s).
"""

from __future__ import annotations

import gzip
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from icframework.candid import NAT64  # noqa: E402
from icframework.candid.binary import encode  # noqa: E402
from icframework.compiler.ic_target import build_ic_module  # noqa: E402
from icframework.compiler.ic_target import link as ic_link  # noqa: E402
from icframework.compiler.ic_target.builder import build_base  # noqa: E402
from icframework.compiler.ic_target.toolchain import cpython  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402

CACHE = ROOT / ".build" / "ic"
CALLS = 20
MAP_SIZES = (1_000, 10_000, 100_000, 1_000_000)
BATCH = 25_000  # inserts per ``fill`` update: about 1.5 billion instructions (the IC allows 40)


def _python_bench() -> ModuleType:
    """``bench_python_canister`` (its `Target`, `python_module`, runtime loader, table)."""
    path = ROOT / "bench" / "bench_python_canister.py"
    spec = importlib.util.spec_from_file_location("bench_python_canister", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _seconds(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def build_table(pb: ModuleType, work: Path) -> tuple[bytes, list[list[str]]]:
    """Build the app (timing each step); answers the gzipped module and the rows."""
    rows: list[list[str]] = []
    python = cpython(CACHE / "toolchain")
    started = time.perf_counter()
    ic_link.link_runtime(python, work / "link.wasm")
    rows.append(["runtime link (zig cc, cold)", _seconds(started)])
    scratch = work / "cache"
    scratch.mkdir()
    (scratch / "toolchain").symlink_to(CACHE / "toolchain")
    shutil.copy(work / "link.wasm", scratch / f"link-{ic_link.link_key()}.wasm")
    started = time.perf_counter()
    build_base(scratch)
    rows.append(["base: boot snapshot + WASI shim (cold)", _seconds(started)])
    app = work / "sdk_app"
    app.mkdir()
    shutil.copy(ROOT / "bench" / "canisters" / "sdk_app.py", app / "canister.py")
    started = time.perf_counter()
    built = build_ic_module(app, cache_dir=scratch, progress=None)
    rows.append(["app: load + snapshot (cold)", _seconds(started)])
    started = time.perf_counter()
    build_ic_module(app, cache_dir=scratch, progress=None)
    rows.append(["app (cached)", _seconds(started)])
    component = pb.python_module("sdk_app", with_did=True)
    rows.append(["module size, raw", f"{len(built.wasm):,} B"])
    rows.append(["module size, gzipped", f"{len(built.gzipped):,} B"])
    rows.append(["component build's module (app only)", f"{len(component):,} B"])
    rows.append(["gzip check", "ok" if gzip.decompress(built.gzipped) == built.wasm else "BAD"])
    return built.gzipped, rows


def _median(target: object, kind: str, method: str, arg: bytes, calls: int = CALLS) -> int:
    call = target.query if kind == "query" else target.update  # type: ignore[attr-defined]
    call(method, arg)
    return int(statistics.median(call(method, arg)[0] for _ in range(calls)))


def main() -> None:
    begun = time.perf_counter()
    pb = _python_bench()
    with tempfile.TemporaryDirectory(prefix="bench-ic-") as tmp:
        ic_module, rows = build_table(pb, Path(tmp))
    motoko_wasm, _how = pb.motoko_module()
    with pb._runtime_loader(), Replica.open() as replica:
        started = time.perf_counter()
        ic = pb.Target(replica, ic_module)
        rows.append(["install on the replica (gzipped, compile)", _seconds(started)])
        print("1. Build and install (this run)")
        pb._table(["step", "value"], rows, first=40)
        component = pb.Target(replica, pb.python_module("sdk_app", with_did=True))
        motoko = pb.Target(replica, motoko_wasm)
        table = []
        for label, kind, method, arg, calls, expected in pb.WORKLOADS:
            if expected is not None:
                got = pb._nat64(ic.query(method, arg)[1])
                assert got == expected, (label, got)
            n = min(calls, CALLS)
            ours = _median(ic, kind, method, arg, n)
            theirs = _median(component, kind, method, arg, n)
            mo = _median(motoko, kind, pb.MOTOKO_METHODS.get(method, method), arg, n)
            basilisk = pb.BASILISK.get(label)
            table.append([label, f"{ours:,}", f"{theirs:,}", f"{ours / theirs:.2f}",
                          f"{mo:,}", f"{ours / mo:.2f}",
                          f"{basilisk:,}" if basilisk else "-",
                          f"{ours / basilisk:.2f}" if basilisk else "-"])
        print(f"2. Instructions per message (median of up to {CALLS}; queries as on the IC: "
              "their heap changes are discarded)")
        pb._table(["message", "IC target", "component", "ic/comp", "Motoko", "ic/mo",
                   "Basilisk", "ic/bsk"], table, first=34)
        print("Basilisk's increment is `count += 1` on a module global, kept by the heap until "
              "an upgrade: on the IC target that is the module-global row, the same semantics. "
              "The StableCell row is a durable write to stable memory (a log record and its "
              "commit), which survives upgrades; its figure is shown against Basilisk's too.")
        map_rows = []
        filled = 0
        for size in MAP_SIZES:
            while filled < size:
                batch = min(BATCH, size - filled)
                ic.update("fill", encode([NAT64, NAT64], [filled, batch]))
                filled += batch
            insert = _median(ic, "update", "map_insert",
                             encode([NAT64, NAT64], [10**12 + size, 1]))
            get = _median(ic, "query", "map_get", encode([NAT64], [size // 2]))
            map_rows.append([f"{size:,} entries", f"{insert:,}", f"{get:,}"])
        print("3. StableBTreeMap[nat64, nat64] on stable memory, instructions per message")
        pb._table(["size", "map_insert", "map_get"], map_rows)
    print(f"total {time.perf_counter() - begun:.0f} s")


if __name__ == "__main__":
    main()
