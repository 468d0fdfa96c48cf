"""Pre-initialisation: run a module's set-up on wasmtime and bake the memory it leaves into it.

What it owns: `snapshot`, the same transformation Wizer makes, done here on wasmtime-py.
The module is instantiated (every defined global exported under a temporary name so its
value can be read), the caller's ``initialise`` runs, and a new module is written from
the original one with:

- each mutable global's initialiser set to the value it holds now;
- the memory's minimum set to its current size;
- the data section replaced by the memory's non-zero ranges (zero runs of at least
  `ZERO_GAP` bytes split segments, so there are few of them and no zero bytes stored).

Nothing else changes (code, tables, imports), so the module behaves as if its set-up had
just run. The output depends only on the module and what the set-up does, which is
deterministic here (hash seed 0, the shim's fixed random seed, a fixed clock).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import wasmtime

from icframework.compiler.ic_target._wasm import Export, Module

__all__ = ["ZERO_GAP", "Host", "memory_segments", "snapshot"]

ZERO_GAP = 4096
"""Bytes of zeros that end a data segment (fewer are stored inside one)."""

_GLOBAL_EXPORT = "__icf_snapshot_global_{}"

Host = Callable[[wasmtime.Linker, wasmtime.Store], None]
"""Defines the module's imports on the linker (WASI, ic0 stubs) for the set-up run."""


def memory_segments(memory: bytes, gap: int = ZERO_GAP) -> list[tuple[int, bytes]]:
    """The non-zero ranges of ``memory`` as ``(offset, bytes)``, split at ``gap`` zeros."""
    segments = []
    start = 0
    for zeros in re.finditer(b"\x00{%d,}" % gap, memory):
        if zeros.start() > start:
            segments.append((start, memory[start:zeros.start()]))
        start = zeros.end()
    tail = memory[start:].rstrip(b"\x00")
    if tail:
        segments.append((start, tail))
    return segments


def snapshot(
    wasm: bytes,
    define_imports: Host,
    initialise: Callable[[wasmtime.Instance, wasmtime.Store], Any],
    *,
    engine: wasmtime.Engine | None = None,
) -> tuple[Module, Any]:
    """Run ``initialise`` on an instance of ``wasm``; answer the snapshotted module (to
    edit further, e.g. its exports) and what ``initialise`` returned."""
    original = Module(wasm)
    globals_ = original.globals()
    first = original.imported_counts()["global"]
    instrumented = Module(wasm)
    instrumented.set_exports(instrumented.exports() + [
        Export(_GLOBAL_EXPORT.format(i), "global", first + i) for i in range(len(globals_))
    ])
    engine = engine or wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    define_imports(linker, store)
    module = wasmtime.Module(engine, instrumented.to_bytes())
    instance = linker.instantiate(store, module)
    result = initialise(instance, store)
    exports = instance.exports(store)
    memory = exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    data = bytes(memory.read(store, 0, memory.data_len(store)))
    values = []
    for i, global_ in enumerate(globals_):
        if global_.mutable:
            handle = exports[_GLOBAL_EXPORT.format(i)]
            assert isinstance(handle, wasmtime.Global)
            values.append(global_.with_value(handle.value(store)))
        else:
            values.append(global_)
    original.set_globals(values)
    original.set_memory_minimum(memory.size(store))
    original.set_data(memory_segments(data))
    return original, result
