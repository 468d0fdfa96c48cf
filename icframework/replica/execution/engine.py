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
are raised exactly as `wasmtime.Func.__call__` raises them. `define_raw_host` is the
other direction: a host function whose arguments arrive raw (one `struct` unpack) and
whose exception becomes a trap that the calling `RawFunc` or `wasmtime.Func` re-raises,
as wasmtime-py's own trampoline does, without building a `Caller` and a `Val` per
argument.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import struct
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wasmtime
import wasmtime._func
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
    function raised (`wasmtime.WasmtimeError` too for a wrong number of arguments).
    Arguments must fit their types (i32 in -2**31 .. 2**31 - 1), else `struct.error`.
    """

    __slots__ = ("_arity", "_func", "_length", "_params", "_ref", "_results", "store")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func) -> None:
        func_type = func.type(store)
        self.store = store
        self._func = func  # keeps the reference below alive
        self._ref = ctypes.byref(func._func)
        self._arity = len(func_type.params)
        self._params = _raw_format(func_type.params)
        self._results = _raw_format(func_type.results)
        self._length = max(1, self._params.size // _RAW_SIZE, self._results.size // _RAW_SIZE)

    def __call__(self, *args: int | float) -> tuple[Any, ...]:
        if len(args) != self._arity:
            # Unchecked means wasm would read arguments that are not there: refuse, with
            # wasmtime-py's words.
            raise wasmtime.WasmtimeError(
                f"too {'many' if len(args) > self._arity else 'few'} parameters provided: "
                f"given {len(args)}, expected {self._arity}"
            )
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


_RESULT_TYPES = {"i32": ctypes.c_int32, "i64": ctypes.c_int64}
HostCallback = Any
"""A ctypes callback of `define_raw_host`: keep it alive as long as any store that
instantiated through the linker."""


def define_raw_host(linker: wasmtime.Linker, module: str, name: str,
                    params: list[wasmtime.ValType], results: list[wasmtime.ValType],
                    func: Callable[..., Any]) -> HostCallback:
    """Define ``module.name`` in ``linker`` as ``func`` called with raw arguments.

    ``func`` gets the arguments as Python ints or floats (i32 and i64 signed, as
    wasmtime-py passes them) and returns None (no result) or one i32 or i64 (wrapped to
    its width, as wasmtime-py does). An exception it raises traps the wasm caller and
    is re-raised by the call into wasm. Returns the callback, which the caller must keep
    alive while any instance linked through ``linker`` may run.
    """
    unpack = _raw_format(params)
    if len(results) > 1:
        raise TypeError(f"define_raw_host takes at most one result, not {len(results)}")
    result_type = _RESULT_TYPES[str(results[0])] if results else None

    def callback(_env: object, _caller: object, values: Any, _count: int) -> int:
        try:
            address = ctypes.cast(values, ctypes.c_void_p).value or 0
            result = func(*unpack.unpack(ctypes.string_at(address, unpack.size)))
            if result_type is None:
                if result is not None:
                    raise wasmtime.WasmtimeError("callback produced results when it shouldn't")
            else:
                result_type.from_address(address).value = result
            return 0
        except BaseException as exc:  # carried across wasm and re-raised by the caller
            wasmtime._func.LAST_EXCEPTION = exc  # type: ignore[assignment]  # as its trampoline
            trap = wasmtime.Trap("python exception")._consume()
            return ctypes.cast(trap, ctypes.c_void_p).value or 0

    raw_callback = ffi.wasmtime_func_unchecked_callback_t(callback)
    func_type = wasmtime.FuncType(params, results)
    module_bytes = module.encode()
    name_bytes = name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(), ctypes.create_string_buffer(module_bytes), len(module_bytes),
        ctypes.create_string_buffer(name_bytes), len(name_bytes), func_type.ptr(),
        raw_callback, None, _NO_FINALIZER,
    )
    if error:
        raise wasmtime.WasmtimeError._from_ptr(error)
    return raw_callback


_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)()
