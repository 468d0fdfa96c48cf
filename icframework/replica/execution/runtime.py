"""The shared Python runtime component and its process-wide loader.

What it owns: which runtime component Python canisters run on, and caching it. Every
Python canister runs the same component, built by ``icframework.compiler.runtime_build``
from the canister ABI; the replica must not import the compiler (a higher layer), so
whoever starts a replica registers a loader (`set_runtime_loader`) and the replica asks
for the runtime through `shared_runtime`, which loads it once per wasmtime engine (a
weak cache: an engine that goes away takes its runtime with it).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import wasmtime
from wasmtime import component

from icframework.replica.errors import ReplicaError

__all__ = ["RuntimeLoader", "RuntimeUnavailableError", "set_runtime_loader", "shared_runtime"]

RuntimeLoader = Callable[[wasmtime.Engine], component.Component]
"""Loads the runtime component compiled for an engine (e.g. the compiler's ``load_runtime``)."""

_runtime_loader: RuntimeLoader | None = None
_runtimes: weakref.WeakKeyDictionary[wasmtime.Engine, component.Component] = (
    weakref.WeakKeyDictionary()
)


class RuntimeUnavailableError(ReplicaError):
    """No runtime loader is configured, or it failed: Python canisters cannot run."""


def set_runtime_loader(loader: RuntimeLoader | None) -> RuntimeLoader | None:
    """Set the process-wide loader of the runtime component (None: Python canisters off);
    returns the previous one (tests put it back).

    The replica cannot build the runtime itself (that is ``icframework.compiler``, a
    layer it must not import); whoever starts a replica registers, for instance,
    ``functools.partial(runtime_build.load_runtime, progress=None)``. Loaded runtimes
    are cached per engine; setting a loader forgets them.
    """
    global _runtime_loader
    previous, _runtime_loader = _runtime_loader, loader
    _runtimes.clear()
    return previous


def shared_runtime(
    engine: wasmtime.Engine, loader: RuntimeLoader | None = None
) -> component.Component:
    """The runtime compiled for ``engine``, loaded once per engine.

    Uses ``loader`` or the process-wide one (`set_runtime_loader`); raises
    `RuntimeUnavailableError` if there is none or it fails.
    """
    runtime = _runtimes.get(engine)
    if runtime is not None:
        return runtime
    load = loader or _runtime_loader
    if load is None:
        raise RuntimeUnavailableError(
            "this replica cannot run Python canisters: no runtime loader is configured; "
            "register one with icframework.replica.set_runtime_loader"
        )
    try:
        runtime = load(engine)
    except Exception as exc:  # a build or compile failure, reported to the installer
        raise RuntimeUnavailableError(f"the Python runtime could not be loaded: {exc}") from exc
    _runtimes[engine] = runtime
    return runtime

