"""The app's module for a replica target, built once per process and cached on disk.

``component``: `build_app` packed with the replica's `pack_python_module` (cached under
``<build>/apps``; the shared runtime under ``<build>/runtime``). ``ic``:
`build_ic_module` (toolchain, base and apps cached under ``<build>/ic``; a first build
takes minutes, an app tens of seconds).

``<build>`` is ``$ICFRAMEWORK_BUILD_DIR`` if set, else the ``.build`` directory of the
project the app belongs to (the nearest directory above it holding ``manage.py``, as
``manage.py build`` uses), else ``.build`` in the current directory.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import wasmtime
from wasmtime import component

from icframework.compiler.app_build import build_app
from icframework.compiler.ic_target import build_ic_module
from icframework.compiler.runtime_build import load_runtime
from icframework.replica import pack_python_module

__all__ = ["BUILD_DIR_VARIABLE", "build_dir", "replica_module", "runtime_loader"]

BUILD_DIR_VARIABLE = "ICFRAMEWORK_BUILD_DIR"


def build_dir(app_dir: Path) -> Path:
    """Where builds for ``app_dir`` are cached (see the module docstring)."""
    configured = os.environ.get(BUILD_DIR_VARIABLE, "").strip()
    if configured:
        return Path(configured).resolve()
    app_dir = app_dir.resolve()
    for directory in app_dir.parents:
        if (directory / "manage.py").is_file():
            return directory / ".build"
    return Path.cwd() / ".build"


@functools.cache
def replica_module(app_dir: Path, target: str) -> bytes:
    """The installable module of the app in ``app_dir`` (resolved) for ``target``
    (``component`` or ``ic``), built or taken from the cache once per process.

    Raises `icframework.compiler.app_build.BuildError` for a problem in the app and
    `icframework.compiler.ic_target.IcTargetError` for a missing IC toolchain.
    """
    build = build_dir(app_dir)
    if target == "ic":
        return build_ic_module(app_dir, cache_dir=build / "ic", progress=None).gzipped
    return build_app(app_dir, pack_python_module, cache_dir=build / "apps", progress=None).wasm


def runtime_loader(app_dir: Path) -> Callable[[wasmtime.Engine], component.Component]:
    """Loads the shared Python runtime from (or builds it into) ``<build>/runtime``."""
    return functools.partial(load_runtime, cache_dir=build_dir(app_dir) / "runtime",
                             progress=None)
