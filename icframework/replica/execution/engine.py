"""The wasmtime engine shared by all canisters, the compiled-module cache, and raw calls.

One `ExecutionEngine` per replica process: memory64 on (current Motoko emits 64-bit
memory), fuel on (fuel = instructions). Compiling a module takes from milliseconds to
seconds, so compiled code is cached in memory and, when a cache directory is given, on
disk keyed by the SHA-256 of the instrumented module and the wasmtime version
(``Module.serialize``/``deserialize``; the directory is the replica's own, so its files
are trusted).

`RawFunc` calls a wasm function through wasmtime's unchecked call API: arguments and
results travel as raw 16-byte values packed with one `struct` format, instead of
wasmtime-py's per-call type lookup and one `Val` object per value (a Motoko module's
32-global accessor cost ~70 µs per call that way, ~3 µs this way). Traps and errors
are raised exactly as `wasmtime.Func.__call__` raises them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime._func import maybe_raise_last_exn

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


# One raw value is a 16-byte union; a number sits at its start (little-endian).
_RAW_SIZE = ctypes.sizeof(ffi.wasmtime_val_raw_t)
_RAW_FORMATS = {"i32": "i12x", "i64": "q8x", "f32": "f12x", "f64": "d8x"}


def _raw_format(types: list[wasmtime.ValType]) -> struct.Struct:
    try:
        return struct.Struct("<" + "".join(_RAW_FORMATS[str(valtype)] for valtype in types))
    except KeyError as exc:
        raise TypeError(
            f"RawFunc takes numeric types only (i32, i64, f32, f64), not {exc.args[0]}; "
            "call this function through wasmtime.Func"
        ) from None


class RawFunc:
    """A numeric wasm function of ``store``, called without `Val` conversions (see the
    module docstring).

    Calling it returns the results as a tuple (Python ints and floats, i32 and i64
    signed, as wasmtime-py returns them); it raises `wasmtime.Trap` or
    `wasmtime.WasmtimeError` like ``func(store, ...)``, or the exception a host
    function raised. Arguments must fit their types (i32 in -2**31 .. 2**31 - 1),
    else `struct.error`.
    """

    __slots__ = ("_func", "_length", "_params", "_ref", "_results", "store")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func) -> None:
        func_type = func.type(store)
        self.store = store
        self._func = func  # keeps the reference below alive
        self._ref = ctypes.byref(func._func)
        self._params = _raw_format(func_type.params)
        self._results = _raw_format(func_type.results)
        self._length = max(1, self._params.size, self._results.size) // _RAW_SIZE

    def __call__(self, *args: int | float) -> tuple[Any, ...]:
        values = (ffi.wasmtime_val_raw_t * self._length)()
        if args:
            self._params.pack_into(values, 0, *args)
        trap = ctypes.POINTER(ffi.wasm_trap_t)()
        error = ffi.wasmtime_func_call_unchecked(
            self.store._context(), self._ref, values, self._length, ctypes.byref(trap)
        )
        # As wasmtime-py's `enter_wasm`: a host function's exception wins over the trap
        # or error that carried it out of wasm.
        if error:
            error_object = wasmtime.WasmtimeError._from_ptr(error)
            maybe_raise_last_exn()
            raise error_object
        if trap:
            trap_object = wasmtime.Trap._from_ptr(trap)
            maybe_raise_last_exn()
            raise trap_object
        return self._results.unpack_from(values)
