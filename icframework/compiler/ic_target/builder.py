"""The IC-target build: the shared base module (made once) and each app's module from it.

How it works, in three cached steps:

1. **link** (`link.link_runtime`): the C runtime and the static CPython into a WASI
   reactor; cached as ``<cache>/link-<link key>.wasm``.
2. **base**: the reactor is instantiated on wasmtime with the standard library and the
   bundled ``icframework`` packages mapped in (`boot_wasi.BootWasi`: a read-only WASI
   whose answers do not depend on the host), ``icf_boot`` starts CPython and
   imports the glue, and the memory is snapshotted (`snapshot.snapshot`); the WASI shim
   (`shim`) is then merged in, so the base imports only ``ic0``. Cached as
   ``<cache>/base-<base key>.wasm``; every app starts from it.
3. **app**: the base is instantiated again (no WASI now; ``ic0`` stubbed), the app's
   files go in through ``icf_alloc``, ``icf_load_app`` executes them, and the memory is
   snapshotted again. The numbered ``icf_entry_<i>`` exports become the app's IC export
   names (``canister_update inc`` ...), every other export but ``memory`` goes, the
   ``icp:public candid:service`` and ``icp:public icframework:*`` custom sections are
   added. The bytes depend only on the inputs (`build_ic_module` tests it), and the
   gzip is written with mtime 0 and no file name. Cached as
   ``<cache>/apps/<name>/<app key>.wasm``.

Every key hashes what its output depends on (sources, tool versions, this package's
own files), so editing the SDK rebuilds the base and a changed app only its module.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import wasmtime

from icframework.compiler.app_build import AppSources, BuildError, collect_sources, validate
from icframework.compiler.ic_target import link, shim, snapshot
from icframework.compiler.ic_target._wasm import Export
from icframework.compiler.ic_target.boot_wasi import BootWasi
from icframework.compiler.ic_target.toolchain import CPYTHON_VERSION, ToolchainError, cpython
from icframework.compiler.runtime_build import BUNDLED_PACKAGES

__all__ = [
    "BOOT_TIME_NS",
    "GUEST_MODULE",
    "IcTargetError",
    "app_key",
    "base_key",
    "build",
    "build_app_module",
    "build_base",
    "deterministic_gzip",
]

Progress = Callable[[str], None]
GUEST_MODULE = Path(__file__).resolve().parent / "guest" / "icframework_ic_runtime.py"
BOOT_TIME_NS = 1_700_000_000 * 10**9
"""What ``ic0.time`` answers while the base and the apps are snapshotted (fixed, so the
bytes do not depend on when the build ran)."""
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]
_HERE = Path(__file__).resolve().parent


class IcTargetError(Exception):
    """The IC-target module cannot be built; the message names what failed and the fix."""


def _bundled_files() -> dict[str, bytes]:
    files = {path.name: path.read_bytes() for path in sorted(GUEST_MODULE.parent.glob("*.py"))}
    top = _PACKAGE_ROOT / "icframework" / "__init__.py"
    files["icframework/__init__.py"] = top.read_bytes()
    for package in BUNDLED_PACKAGES:
        directory = _PACKAGE_ROOT.joinpath(*package.split("."))
        for path in sorted(directory.rglob("*.py")):
            files[path.relative_to(_PACKAGE_ROOT).as_posix()] = path.read_bytes()
    return files


def base_key() -> str:
    """SHA-256 (16 hex digits) of the link key, the bundled Python and this package's code."""
    digest = hashlib.sha256()
    digest.update(f"link {link.link_key()} wasmtime {version('wasmtime')}\0".encode())
    for name, data in sorted(_bundled_files().items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    for path in sorted(_HERE.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


# ---- host functions for the set-up runs ------------------------------------------------------


class _Ic0Stubs:
    """``ic0`` during a snapshot: ``debug_print`` is kept, ``time`` is `BOOT_TIME_NS`,
    ``trap`` and every other import fail the build with what the code asked for."""

    def __init__(self) -> None:
        self.printed: list[str] = []

    def define(self, linker: wasmtime.Linker, module: wasmtime.Module) -> None:
        defined = set()
        for item in module.imports:
            if item.module != "ic0" or item.name in defined:
                continue
            defined.add(item.name)
            func_type = item.type
            assert isinstance(func_type, wasmtime.FuncType)
            name = item.name or ""
            linker.define_func("ic0", name, func_type, self._function(name), access_caller=True)

    def _function(self, name: str) -> Callable[..., object]:
        def read(caller: wasmtime.Caller, ptr: int, size: int) -> str:
            memory = caller.get("memory")
            assert isinstance(memory, wasmtime.Memory)
            return bytes(memory.read(caller, ptr, ptr + size)).decode("utf-8", "replace")

        if name == "debug_print":
            def debug_print(caller: wasmtime.Caller, ptr: int, size: int) -> None:
                self.printed.append(read(caller, ptr, size))
            return debug_print
        if name == "time":
            return lambda caller: BOOT_TIME_NS
        if name == "trap":
            def trap(caller: wasmtime.Caller, ptr: int, size: int) -> None:
                raise IcTargetError(f"the app trapped while loading:\n{read(caller, ptr, size)}")
            return trap

        def unavailable(caller: wasmtime.Caller, *args: object) -> object:
            raise IcTargetError(
                f"ic0.{name} was called while the module was being built (at import time): "
                "call the System API from entry points, not at module level"
            )
        return unavailable


def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.cranelift_opt_level = "speed"  # the replica's setting: same native stack use
    return wasmtime.Engine(config)


def _result(instance: wasmtime.Instance, store: wasmtime.Store) -> str:
    exports = instance.exports(store)
    ptr_fn, size_fn = exports["icf_result_ptr"], exports["icf_result_size"]
    memory = exports["memory"]
    assert isinstance(ptr_fn, wasmtime.Func) and isinstance(size_fn, wasmtime.Func)
    assert isinstance(memory, wasmtime.Memory)
    ptr, size = ptr_fn(store), size_fn(store)
    assert isinstance(ptr, int) and isinstance(size, int)
    return bytes(memory.read(store, ptr, ptr + size)).decode("utf-8", "replace")


# ---- step 1 and 2: the base ------------------------------------------------------------------


def _linked(cache: Path, say: Progress) -> Path:
    path = cache / f"link-{link.link_key()}.wasm"
    if path.is_file():
        return path
    python = cpython(cache / "toolchain")
    say("linking the runtime (zig cc, static CPython 3.11): once per toolchain")
    with tempfile.TemporaryDirectory(dir=cache, prefix="link-") as tmp:
        out = Path(tmp) / "runtime.wasm"
        link.link_runtime(python, out)
        os.replace(out, path)
    return path


def build_base(cache: Path, progress: Progress | None = None) -> Path:
    """The base module (CPython booted, SDK imported, WASI shimmed away), built if needed."""
    say = progress or (lambda _message: None)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"base-{base_key()}.wasm"
    if path.is_file():
        return path
    linked = _linked(cache, say)
    python = cpython(cache / "toolchain")
    say("booting CPython and importing the SDK into a snapshot")
    with tempfile.TemporaryDirectory(dir=cache, prefix="base-") as tmp:
        work = Path(tmp)
        pkgs = work / "pkgs"
        for name, data in _bundled_files().items():
            target = pkgs / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        wasm = linked.read_bytes()
        stubs = _Ic0Stubs()
        engine = _engine()
        compiled = wasmtime.Module(engine, wasm)
        wasi_imports = [
            (item.name or "", item.type) for item in compiled.imports
            if item.module == shim.WASI_MODULE
        ]

        wasi = BootWasi({"/lib": python.stdlib, "/pkgs": pkgs}, BOOT_TIME_NS)

        def define(linker: wasmtime.Linker, store: wasmtime.Store) -> None:
            wasi.define(linker, compiled, shim.WASI_MODULE)
            stubs.define(linker, compiled)

        def boot(instance: wasmtime.Instance, store: wasmtime.Store) -> None:
            exports = instance.exports(store)
            initialize, icf_boot = exports["_initialize"], exports["icf_boot"]
            assert isinstance(initialize, wasmtime.Func) and isinstance(icf_boot, wasmtime.Func)
            initialize(store)
            if icf_boot(store) != 0:
                raise IcTargetError("the runtime did not boot:\n" + _result(instance, store))

        booted, _ = snapshot.snapshot(wasm, define, boot, engine=engine)
        booted.set_exports([e for e in booted.exports() if e.name != "_initialize"])
        booted_path, shim_path, merged = work / "booted.wasm", work / "shim.wasm", work / "m.wasm"
        booted_path.write_bytes(booted.to_bytes())
        functions = []
        for name, func_type in wasi_imports:
            assert isinstance(func_type, wasmtime.FuncType)
            functions.append((name, tuple(str(p) for p in func_type.params),
                              tuple(str(r) for r in func_type.results)))
        shim_path.write_bytes(wasmtime.wat2wasm(shim.shim_wat(functions)))
        say("merging the WASI shim (wasm-merge)")
        shim.merge_shim(booted_path, shim_path, merged)
        os.replace(merged, path)
    return path


# ---- step 3: an app ------------------------------------------------------------------------------


def _payload(sources: AppSources) -> bytes:
    return json.dumps({"files": dict(sorted(sources.files.items()))}, sort_keys=True).encode()


def app_key(base: str, sources: AppSources) -> str:
    """SHA-256 (16 hex digits) of the base module's name (its key) and the app's files."""
    digest = hashlib.sha256(f"base {base}\0".encode())
    digest.update(_payload(sources))
    return digest.hexdigest()[:16]


def build_app_module(base: Path, sources: AppSources, did: str) -> tuple[bytes, list[str]]:
    """The app's module from the base: its files loaded, snapshotted, exports named."""
    stubs = _Ic0Stubs()
    engine = _engine()
    wasm = base.read_bytes()
    compiled = wasmtime.Module(engine, wasm)
    payload = _payload(sources)

    def define(linker: wasmtime.Linker, store: wasmtime.Store) -> None:
        stubs.define(linker, compiled)

    def load(instance: wasmtime.Instance, store: wasmtime.Store) -> list[str]:
        exports = instance.exports(store)
        alloc, load_app, free = exports["icf_alloc"], exports["icf_load_app"], exports["icf_free"]
        memory = exports["memory"]
        assert isinstance(alloc, wasmtime.Func) and isinstance(load_app, wasmtime.Func)
        assert isinstance(free, wasmtime.Func) and isinstance(memory, wasmtime.Memory)
        ptr = alloc(store, len(payload))
        assert isinstance(ptr, int)
        memory.write(store, payload, ptr)
        failed = load_app(store, ptr, len(payload))
        free(store, ptr)
        text = _result(instance, store)
        if failed:
            raise BuildError(f"{sources.name}: the app failed to load in the IC runtime:\n{text}")
        names: list[str] = json.loads(text)
        return names

    try:
        module, names = snapshot.snapshot(wasm, define, load, engine=engine)
    except wasmtime.Trap as exc:
        raise BuildError(
            f"{sources.name}: the app failed to load in the IC runtime: {exc}"
        ) from None
    if len(names) > link.ENTRY_POINTS:
        raise BuildError(
            f"{sources.name}: {len(names)} entry points; the IC runtime offers {link.ENTRY_POINTS}"
        )
    by_name = {e.name: e for e in module.exports()}
    exports = [Export("memory", "memory", by_name["memory"].index)]
    for i, name in enumerate(names):
        exports.append(Export(name, "func", by_name[f"icf_entry_{i}"].index))
    module.set_exports(exports)
    module.drop_custom()
    module.add_custom("icp:public candid:service", did.encode("utf-8"))
    module.add_custom("icp:public icframework:target", b"ic")
    python = ".".join(str(part) for part in CPYTHON_VERSION)
    module.add_custom("icp:public icframework:python", python.encode())
    return module.to_bytes(), names


def deterministic_gzip(data: bytes) -> bytes:
    """gzip with mtime 0 and no file name: the same bytes for the same input."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as stream:
        stream.write(data)
    return out.getvalue()


def build(
    app_dir: Path, cache_dir: Path, progress: Progress | None
) -> tuple[str, bytes, bytes, str, bool, float]:
    """``(name, wasm, gzipped, did, cached, seconds)`` of the app in ``app_dir`` built for
    the IC (the gzip is cached too: compressing 20 MB takes seconds)."""
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    sources = collect_sources(Path(app_dir))
    cache = Path(cache_dir).resolve()
    try:
        base = build_base(cache, say)
    except ToolchainError as exc:
        raise IcTargetError(str(exc)) from None
    key = app_key(base.name, sources)
    app_cache = cache / "apps" / sources.name
    wasm_path, did_path = app_cache / f"{key}.wasm", app_cache / f"{key}.did"
    gz_path = app_cache / f"{key}.wasm.gz"
    if wasm_path.is_file() and did_path.is_file() and gz_path.is_file():
        return (sources.name, wasm_path.read_bytes(), gz_path.read_bytes(),
                did_path.read_text(encoding="utf-8"), True, time.perf_counter() - started)
    say(f"{sources.name}: checking {len(sources.files)} file(s) with the SDK")
    did = validate(sources)
    say(f"{sources.name}: loading the app into the IC runtime and snapshotting it")
    wasm, _ = build_app_module(base, sources, did)
    gzipped = deterministic_gzip(wasm)
    app_cache.mkdir(parents=True, exist_ok=True)
    for path, data in ((did_path, did.encode("utf-8")), (gz_path, gzipped), (wasm_path, wasm)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    seconds = time.perf_counter() - started
    say(f"{sources.name}: {len(wasm):,} bytes in {seconds:.1f} s")
    return sources.name, wasm, gzipped, did, False, seconds
