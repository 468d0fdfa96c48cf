"""Build the shared Python-canister runtime component, and cache it and its compiled form.

How it works: every Python canister runs the same component, built by componentize-py
from the canister ABI (``icframework/abi/canister.wit``) and the guest modules in
``icframework/compiler/runtime/``. A build takes tens of seconds, so its output is
cached under ``<cache_dir>/<key>.wasm``, where the key hashes the WIT, the guest
sources, the bundled pure-Python packages (`BUNDLED_PACKAGES`: the SDK and what it
needs) and the componentize-py version: editing any of them rebuilds, nothing else
does. Compiling the component with wasmtime takes seconds more, so `load_runtime` also
caches ``Component.serialize()`` under ``<cache_dir>/<key>-<wasmtime version>.cwasm``
(a file wasmtime rejects, e.g. after an engine configuration change, is recompiled).

The cache directory defaults to ``.build/runtime`` under the current directory; its
files are trusted (deserialising compiled code runs it).

Both long steps say how long they will take (`icframework.compiler.progress`): the
time they took last on this machine (``<cache_dir>/timings.json``), else the figures
measured on a 2-core machine (`COMPONENTIZE_SECONDS`, `COMPILE_SECONDS`), with a live
bar on a terminal.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import wasmtime
from wasmtime import component

from icframework.abi import WIT_PATH, WORLD
from icframework.compiler import bulk_bytes
from icframework.compiler.progress import StepTimes, timed_step
from icframework.compiler.runtime import GUEST_MODULE, RUNTIME_DIR

__all__ = [
    "BUNDLED_PACKAGES",
    "COMPILE_SECONDS",
    "COMPONENTIZE_SECONDS",
    "DEFAULT_CACHE_DIR",
    "BuildError",
    "RuntimeArtifact",
    "build_runtime",
    "clean_cache",
    "guest_sources",
    "load_runtime",
    "runtime_key",
]

DEFAULT_CACHE_DIR = Path(".build/runtime")
"""Where built and compiled runtimes are cached, relative to the current directory."""

Progress = Callable[[str], None]

COMPONENTIZE_SECONDS = 13.0
"""componentize-py building the runtime, measured on a 2-core machine (12.2 s and 12.5 s)."""
COMPILE_SECONDS = 17.0
"""wasmtime compiling the 20 MB runtime, measured on a 2-core machine (18.1 s and 16.2 s)."""
_MEASURED_ON = "the first time (measured on a 2-core machine)"


def _times(cache: Path) -> StepTimes:
    return StepTimes(cache / "timings.json")


class BuildError(Exception):
    """The runtime component could not be built; the message carries componentize-py's output."""


@dataclass(frozen=True, slots=True)
class RuntimeArtifact:
    """A built runtime: its component bytes, cache key, and how it was obtained."""

    wasm: bytes
    key: str
    path: Path
    cached: bool
    seconds: float


def _print_progress(message: str) -> None:
    print(f"[runtime] {message}", file=sys.stderr, flush=True)


BUNDLED_PACKAGES = ("icframework.core", "icframework.candid", "icframework.sdk")
"""Pure-Python packages compiled into the runtime (with ``icframework/__init__.py``), so
apps can use the SDK; the glue pre-imports them at build time."""

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def guest_sources() -> dict[str, bytes]:
    """Every file staged for componentize-py, by path relative to the stage directory.

    The guest modules (by file name, not the host's ``__init__``), then the
    `BUNDLED_PACKAGES` (``icframework/...``, their ``*.py`` files, recursively).
    """
    sources = {
        path.name: path.read_bytes()
        for path in sorted(RUNTIME_DIR.glob("*.py"))
        if path.name != "__init__.py"
    }
    top = _PACKAGE_ROOT / "icframework" / "__init__.py"
    sources[top.relative_to(_PACKAGE_ROOT).as_posix()] = top.read_bytes()
    for package in BUNDLED_PACKAGES:
        directory = _PACKAGE_ROOT.joinpath(*package.split("."))
        for path in sorted(directory.rglob("*.py")):
            sources[path.relative_to(_PACKAGE_ROOT).as_posix()] = path.read_bytes()
    return sources


def runtime_key() -> str:
    """The cache key: SHA-256 (16 hex digits) of WIT, the bulk-bytes rewrite, guest sources
    and bundled packages, and the componentize-py version."""
    digest = hashlib.sha256()
    digest.update(b"componentize-py " + version("componentize-py").encode() + b"\0")
    digest.update(b"world " + WORLD.encode() + b"\0")
    digest.update(WIT_PATH.read_bytes() + b"\0")
    # the rewrite applied to componentize-py's output, as this process runs it
    digest.update(b"bulk_bytes " + bulk_bytes.SOURCE_DIGEST.encode() + b"\0")
    for name, data in guest_sources().items():
        digest.update(name.encode() + b"\0" + data + b"\0")
    return digest.hexdigest()[:16]


def _componentize_command(stage: Path, output: Path) -> list[str]:
    script = Path(sys.executable).with_name("componentize-py")
    runner = [str(script)] if script.exists() else [
        sys.executable, "-c", "import sys, componentize_py; sys.exit(componentize_py.script())"
    ]
    return [
        *runner, "-d", str(WIT_PATH), "-w", WORLD, "componentize",
        "-p", str(stage), GUEST_MODULE, "-o", str(output),
    ]


def build_runtime(
    cache_dir: Path | None = None,
    *,
    force: bool = False,
    progress: Progress | None = _print_progress,
) -> RuntimeArtifact:
    """The runtime component, built with componentize-py unless cached (or ``force``).

    Raises `BuildError` with componentize-py's output if the build fails.
    """
    say = progress or (lambda _message: None)
    cache = (cache_dir or DEFAULT_CACHE_DIR).resolve()
    key = runtime_key()
    path = cache / f"{key}.wasm"
    started = time.perf_counter()
    if path.exists() and not force:
        wasm = path.read_bytes()
        return RuntimeArtifact(wasm, key, path, True, time.perf_counter() - started)
    cache.mkdir(parents=True, exist_ok=True)
    with (
        timed_step(progress, f"building the runtime component {key} with componentize-py",
                   step="componentize", default_seconds=COMPONENTIZE_SECONDS,
                   default_source=_MEASURED_ON, times=_times(cache), done="built"),
        tempfile.TemporaryDirectory(dir=cache, prefix="stage-") as tmp,
    ):
        stage = Path(tmp) / "python"
        stage.mkdir()
        for name, data in guest_sources().items():
            target = stage / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        output = Path(tmp) / "runtime.wasm"
        env = dict(os.environ)
        # componentize-py bundles the active virtualenv's site-packages when it sees one;
        # the runtime is standard library only, so hide it.
        env.pop("VIRTUAL_ENV", None)
        env["PIPENV_ACTIVE"] = ""
        result = subprocess.run(
            _componentize_command(stage, output), cwd=tmp, env=env,
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0 or not output.exists():
            raise BuildError(
                f"componentize-py failed (exit {result.returncode}) building {GUEST_MODULE} "
                f"against {WIT_PATH}:\n{result.stdout}{result.stderr}"
            )
        try:
            wasm = bulk_bytes.latin1_exports(output.read_bytes())
        except bulk_bytes.BulkBytesError as exc:
            raise BuildError(f"the runtime component built by componentize-py: {exc}") from exc
        _write_atomically(path, wasm)
    seconds = time.perf_counter() - started
    say(f"cached {path.name} ({len(wasm) / 1e6:.1f} MB)")
    return RuntimeArtifact(wasm, key, path, False, seconds)


def load_runtime(
    engine: wasmtime.Engine,
    cache_dir: Path | None = None,
    *,
    progress: Progress | None = _print_progress,
) -> component.Component:
    """The runtime compiled for ``engine``: deserialised from the cache, or built and compiled.

    The compiled form is only valid for an engine with the same configuration as the
    one that produced it; a mismatch is detected by wasmtime and the file recompiled.
    """
    say = progress or (lambda _message: None)
    cache = (cache_dir or DEFAULT_CACHE_DIR).resolve()
    key = runtime_key()
    compiled_path = cache / f"{key}-wasmtime{version('wasmtime')}.cwasm"
    if compiled_path.exists():
        try:
            return component.Component.deserialize_file(engine, str(compiled_path))
        except wasmtime.WasmtimeError:
            compiled_path.unlink(missing_ok=True)
    artifact = build_runtime(cache, progress=progress)
    with timed_step(progress, "compiling the runtime component with wasmtime, once per "
                    "runtime version", step="compile", default_seconds=COMPILE_SECONDS,
                    default_source=_MEASURED_ON, times=_times(cache), done="compiled"):
        compiled = component.Component(engine, artifact.wasm)
    _write_atomically(compiled_path, bytes(compiled.serialize()))
    say(f"cached as {compiled_path.name}")
    return compiled


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def clean_cache(cache_dir: Path | None = None) -> None:
    """Remove every cached runtime build and compiled form."""
    shutil.rmtree(cache_dir or DEFAULT_CACHE_DIR, ignore_errors=True)
