"""The wasmtime engine shared by all canisters, and the compiled-module cache.

One `ExecutionEngine` per replica process: memory64 on (current Motoko emits 64-bit
memory), fuel on (fuel = instructions). Compiling a module takes from milliseconds to
seconds, so compiled code is cached in memory and, when a cache directory is given, on
disk keyed by the SHA-256 of the instrumented module and the wasmtime version
(``Module.serialize``/``deserialize``; the directory is the replica's own, so its files
are trusted).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import wasmtime

from icframework.replica.errors import InvalidModuleError
from icframework.replica.execution.wasm_module import CanisterModule


def _wasmtime_version() -> str:
    from importlib.metadata import version

    return version("wasmtime")


class ExecutionEngine:
    """Owns the wasmtime `Engine` and compiles canister modules (cached by hash)."""

    def __init__(self, cache_dir: Path | None = None) -> None:
        config = wasmtime.Config()
        config.wasm_memory64 = True
        config.consume_fuel = True
        config.cranelift_opt_level = "speed"
        self.engine = wasmtime.Engine(config)
        self.cache_dir = cache_dir
        self._modules: dict[bytes, wasmtime.Module] = {}
        self._version = _wasmtime_version()
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)

    def compile(self, module: CanisterModule) -> wasmtime.Module:
        """The compiled form of ``module``; raises `InvalidModuleError` if wasmtime rejects it."""
        key = hashlib.sha256(module.wasm + self._version.encode()).digest()
        compiled = self._modules.get(key)
        if compiled is not None:
            return compiled
        path = self.cache_dir / f"{key.hex()}.cwasm" if self.cache_dir else None
        if path is not None and path.exists():
            try:
                compiled = wasmtime.Module.deserialize_file(self.engine, str(path))
            except wasmtime.WasmtimeError:
                path.unlink(missing_ok=True)
        if compiled is None:
            try:
                compiled = wasmtime.Module(self.engine, module.wasm)
            except wasmtime.WasmtimeError as exc:
                first_line = str(exc).strip().splitlines()[0]
                raise InvalidModuleError(f"wasm module failed validation: {first_line}") from None
            if path is not None:
                self._store_serialized(path, compiled.serialize())
        self._modules[key] = compiled
        return compiled

    @staticmethod
    def _store_serialized(path: Path, data: bytes | bytearray) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
