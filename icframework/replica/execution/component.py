"""Python canisters on the host: the shared runtime component, one instance per canister.

How it works: every Python canister runs the same component (built by
``icframework.compiler.runtime_build`` from the canister ABI, ``icframework/abi``). A
`ComponentSandbox` instantiates it with a wasmtime component `Linker` whose imports are
this module's Python functions: the ABI's ``ic0`` mirror (each call checked and carried
out by a `SystemApi`, so contexts, limits and error messages are the ones standard
modules get), the key-value store (`KeyValueStore`, one transaction per message),
``events``, and a virtual WASI: ``wall-clock`` is the message time, ``random`` a
generator seeded per message, ``environment`` empty; every other WASI import (file
system, sockets, stdio, exit) traps. It then hands the app's source to the export
``install`` and runs each message through the export ``call`` with fuel = instructions.

A message's effects are applied only if it does not trap: its key-value writes are
kept in the transaction and committed after ``call`` returns (never for queries or
with ``persist=False``). Python state inside the instance cannot be rolled back, so a
trap *discards the instance*; the next message re-instantiates (~6 ms) and re-installs
the source (~2 M instructions, not charged to the message). Module globals of a Python
canister are therefore caches: durable state belongs in the key-value store.

Bytes cross the boundary as ``list<u8>`` (see docs/abi.md), converted in bulk by this
module's own converters (`_lifter`, `_lowerer`): wasmtime-py's would go byte by byte.
Ordinary messages run through the export ``call-method`` (the method's index in the
export list ``install`` returned), everything else through ``call``.
"""

from __future__ import annotations

import ctypes
import hashlib
import heapq
import itertools
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import wasmtime
from sortedcontainers import SortedList  # type: ignore[import-untyped]
from wasmtime import _ffi as ffi
from wasmtime import component
from wasmtime.component import _enter

from icframework.abi import interface_name
from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.core.outcome import OutcomeError, decode_outcome
from icframework.replica.errors import ReplicaError
from icframework.replica.execution.page_map import PageMap
from icframework.replica.execution.sandbox import (
    ExecutionResult,
    consume_fuel,
    instruction_limit_trap,
)
from icframework.replica.execution.system_api import (
    CanisterTrap,
    ExecutionInput,
    ExecutionOutput,
    SystemApi,
)
from icframework.replica.execution.wasm_module import CanisterModule

__all__ = [
    "INSTALL_INSTRUCTION_LIMIT",
    "ComponentExecutionResult",
    "ComponentSandbox",
    "KeyValueStore",
    "RuntimeLoader",
    "RuntimeUnavailableError",
    "install_input",
    "set_runtime_loader",
    "shared_runtime",
]

INSTALL_INSTRUCTION_LIMIT = 5_000_000_000
"""Instructions allowed for loading an app's source (``install``), per instantiation."""

_U64 = (1 << 64) - 1
_CANISTER_INTERFACE = interface_name("canister")

# Callbacks: a reply context runs the export with kind reply-callback, a reject context
# with reject-callback; the callback id travels in the staged call's `reply_env`.
_CALLBACK_KINDS = {
    Context.REPLY_CALLBACK: "reply-callback",
    Context.COMPOSITE_REPLY_CALLBACK: "reply-callback",
    Context.REJECT_CALLBACK: "reject-callback",
    Context.COMPOSITE_REJECT_CALLBACK: "reject-callback",
}
_METHOD_PREFIXES = ("canister_update ", "canister_query ", "canister_composite_query ")
_SYSTEM_EXPORTS = {
    "canister_init": "init",
    "canister_pre_upgrade": "pre-upgrade",
    "canister_post_upgrade": "post-upgrade",
    "canister_heartbeat": "heartbeat",
    "canister_global_timer": "timer",
    "canister_inspect_message": "inspect",
}


# -- crossing the component boundary ----------------------------------------------------------
#
# wasmtime-py converts component values one by one in Python, element by element for a
# `list<u8>` (~0.7 µs per byte), and re-reads every function's type on each call. The
# ABI's functions have fixed types, so the sandbox builds one converter per parameter
# and result when it links (`_lifter`, `_lowerer`), calls the exports through
# `_ExportFunc` and receives the imports through `_host_call`. A `list<u8>` (a `blob`)
# is converted in bulk: the C API represents it as an array of 32-byte values, which
# extended slices of a byte buffer read and write at C speed.

_Val = ffi.wasmtime_component_val_t
_VAL_SIZE = ctypes.sizeof(_Val)
_PAYLOAD = _Val.of.offset  # where a u8's value sits inside a value
_BOOL_KIND = ffi.WASMTIME_COMPONENT_BOOL.value
_U8_KIND = ffi.WASMTIME_COMPONENT_U8.value
_U32_KIND = ffi.WASMTIME_COMPONENT_U32.value
_U64_KIND = ffi.WASMTIME_COMPONENT_U64.value
_STRING_KIND = ffi.WASMTIME_COMPONENT_STRING.value
_LIST_KIND = ffi.WASMTIME_COMPONENT_LIST.value
_TUPLE_KIND = ffi.WASMTIME_COMPONENT_TUPLE.value
_ENUM_KIND = ffi.WASMTIME_COMPONENT_ENUM.value
_OPTION_KIND = ffi.WASMTIME_COMPONENT_OPTION.value
# Blobs up to this size are read with one copy and take their kinds from `_U8_KINDS`.
_U8_RUN = 4096
_U8_KINDS = bytes((_U8_KIND,)) * _U8_RUN

_Lift = Callable[[Any], Any]  # a C value (read, never freed here) -> Python
_Lower = Callable[[Any, Any], None]  # (Python value, C value to fill) -> None


class _Record:
    """A lifted WIT record: its fields as attributes (``write.key``, ``write.value``)."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


def _address(pointer: Any) -> int:
    return cast(int, ctypes.cast(pointer, ctypes.c_void_p).value or 0)


def _lift_blob(c: Any) -> bytes:
    items = c.of.list
    n = items.size
    if not n:
        return b""
    size = n * _VAL_SIZE
    address = _address(items.data)
    if n <= _U8_RUN:
        return ctypes.string_at(address, size)[_PAYLOAD::_VAL_SIZE]
    view = memoryview((ctypes.c_char * size).from_address(address)).cast("B")
    return bytes(view[_PAYLOAD::_VAL_SIZE])


def _lower_blob(value: Any, c: Any) -> None:
    if type(value) is bytes:
        data = value
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    else:
        raise TypeError(f"expected bytes for a blob, got {type(value).__name__}")
    n = len(data)
    items = ffi.wasmtime_component_vallist_t()
    if n:
        ffi.wasmtime_component_vallist_new_uninit(items, n)
        # Write the kind and the byte of every value in place (the other bytes of a u8
        # value are never read).
        view = memoryview(
            (ctypes.c_char * (n * _VAL_SIZE)).from_address(_address(items.data))
        ).cast("B")
        view[0::_VAL_SIZE] = _U8_KINDS[:n] if n <= _U8_RUN else bytes((_U8_KIND,)) * n
        view[_PAYLOAD::_VAL_SIZE] = data
    else:
        ffi.wasmtime_component_vallist_new_empty(items)
    c.kind = _LIST_KIND
    c.of.list = items


def _lift_string(c: Any) -> str:
    return ffi.to_str(c.of.string)


def _lower_string(value: Any, c: Any) -> None:
    text = ffi.str_to_capi(value)  # TypeError unless a str
    c.kind = _STRING_KIND
    c.of.string = text


def _lifter(ty: Any) -> _Lift:
    """The converter of a C value of WIT type ``ty`` to Python (which frees nothing)."""
    wt = component
    if isinstance(ty, wt.ListType):
        element = ty.element
        if isinstance(element, wt.U8):
            return _lift_blob
        item = _lifter(element)

        def lift_list(c: Any) -> list[Any]:
            items = c.of.list
            data = items.data
            return [item(data[i]) for i in range(items.size)]

        return lift_list
    if isinstance(ty, wt.String):
        return _lift_string
    if isinstance(ty, wt.Bool):
        return lambda c: bool(c.of.boolean)
    if isinstance(ty, wt.U32):
        return lambda c: int(c.of.u32)
    if isinstance(ty, wt.U64):
        return lambda c: int(c.of.u64)
    if isinstance(ty, wt.TupleType):
        parts = [_lifter(t) for t in ty.elements]

        def lift_tuple(c: Any) -> tuple[Any, ...]:
            data = c.of.tuple.data
            return tuple(part(data[i]) for i, part in enumerate(parts))

        return lift_tuple
    if isinstance(ty, wt.RecordType):
        fields = [(name, _lifter(t)) for name, t in ty.fields]

        def lift_record(c: Any) -> _Record:
            data = c.of.record.data
            return _Record({name: lift(data[i].val) for i, (name, lift) in enumerate(fields)})

        return lift_record
    if isinstance(ty, wt.OptionType):
        payload = _lifter(ty.payload)

        def lift_option(c: Any) -> Any:
            inner = c.of.option
            return payload(inner[0]) if inner else None

        return lift_option
    if isinstance(ty, wt.VariantType):
        cases = {name: None if t is None else _lifter(t) for name, t in ty.cases}

        def lift_variant(c: Any) -> tuple[str, Any]:
            variant = c.of.variant
            tag = ffi.to_str(variant.discriminant)
            lift = cases[tag]
            return tag, None if lift is None else lift(variant.val[0])

        return lift_variant
    if isinstance(ty, wt.EnumType):
        return lambda c: ffi.to_str(c.of.enumeration)
    raise NotImplementedError(f"the canister ABI does not use WIT type {ty!r}")


def _lowerer(ty: Any) -> _Lower:
    """The converter of a Python value to a C value of WIT type ``ty``."""
    wt = component
    if isinstance(ty, wt.ListType):
        element = ty.element
        if isinstance(element, wt.U8):
            return _lower_blob
        item = _lowerer(element)

        def lower_list(value: Any, c: Any) -> None:
            values = list(value)
            n = len(values)
            items = ffi.wasmtime_component_vallist_t()
            ffi.wasmtime_component_vallist_new_uninit(items, n)
            if n:
                ctypes.memset(items.data, _BOOL_KIND, n * _VAL_SIZE)  # safe to free as is
            c.kind = _LIST_KIND
            c.of.list = items  # owned by ``c`` from here: freeing ``c`` frees it
            data = items.data
            for i, v in enumerate(values):
                item(v, data[i])

        return lower_list
    if isinstance(ty, wt.String):
        return _lower_string
    if isinstance(ty, wt.Bool):

        def lower_bool(value: Any, c: Any) -> None:
            c.kind = _BOOL_KIND
            c.of.boolean = bool(value)

        return lower_bool
    if isinstance(ty, (wt.U32, wt.U64)):
        kind, limit = (_U32_KIND, 1 << 32) if isinstance(ty, wt.U32) else (_U64_KIND, 1 << 64)
        field = "u32" if kind == _U32_KIND else "u64"

        def lower_int(value: Any, c: Any) -> None:
            if type(value) is not int or not 0 <= value < limit:
                raise TypeError(f"expected an int in 0..{limit - 1} for {field}, got {value!r}")
            c.kind = kind
            setattr(c.of, field, value)

        return lower_int
    if isinstance(ty, wt.TupleType):
        parts = [_lowerer(t) for t in ty.elements]
        count = len(parts)

        def lower_tuple(value: Any, c: Any) -> None:
            values = tuple(value)
            if len(values) != count:
                raise TypeError(f"expected a tuple of {count} values, got {value!r}")
            items = ffi.wasmtime_component_valtuple_t()
            ffi.wasmtime_component_valtuple_new_uninit(items, count)
            ctypes.memset(items.data, _BOOL_KIND, count * _VAL_SIZE)
            c.kind = _TUPLE_KIND
            c.of.tuple = items
            data = items.data
            for i, part in enumerate(parts):
                part(values[i], data[i])

        return lower_tuple
    if isinstance(ty, wt.OptionType):
        payload = _lowerer(ty.payload)

        def lower_option(value: Any, c: Any) -> None:
            if value is None:
                c.kind = _OPTION_KIND
                c.of.option = None
                return
            inner = _Val()
            payload(value, inner)
            c.kind = _OPTION_KIND
            c.of.option = ffi.wasmtime_component_val_new(ctypes.byref(inner))  # moves it

        return lower_option
    if isinstance(ty, wt.EnumType):
        names = frozenset(ty.names)

        def lower_enum(value: Any, c: Any) -> None:
            if value not in names:
                raise TypeError(f"expected one of {sorted(names)}, got {value!r}")
            c.kind = _ENUM_KIND
            c.of.enumeration = ffi.str_to_capi(value)

        return lower_enum
    raise NotImplementedError(f"the canister ABI does not use WIT type {ty!r}")


def _free(c: Any) -> None:
    ffi.wasmtime_component_val_delete(ctypes.byref(c))


class _ExportFunc:
    """An export of the runtime, called with converters built once (see above)."""

    __slots__ = ("_func", "_lift", "_lowers", "post_return")

    def __init__(self, func: component.Func, store: wasmtime.Store) -> None:
        ty = func.type(store)
        self._func = func
        self._lowers = tuple(_lowerer(t) for _name, t in ty.params)
        result = ty.result
        self._lift = None if result is None else _lifter(result)
        self.post_return = func.post_return

    def __call__(self, store: wasmtime.Store, *args: Any) -> Any:
        n = len(args)
        lowers = self._lowers
        if n != len(lowers):
            raise TypeError(f"expected {len(lowers)} arguments, got {n}")
        params = (_Val * n)()  # zeroed: bool values, safe to free before they are filled
        result = _Val()
        try:
            for i in range(n):
                lowers[i](args[i], params[i])
            error = ffi.wasmtime_component_func_call(
                ctypes.byref(self._func._func), store._context(), params, n,
                ctypes.byref(result) if self._lift is not None else None,
                0 if self._lift is None else 1,
            )
            if error:
                raised = wasmtime.WasmtimeError._from_ptr(error)
                _enter.maybe_raise_last_exn()  # an exception of a host function
                raise raised
            return None if self._lift is None else self._lift(result)
        finally:
            for i in range(n):
                _free(params[i])
            _free(result)


# Host functions of the ABI's own interfaces, by the id handed to the C API.
_HOST_FUNCS: dict[int, tuple[Callable[..., Any], tuple[_Lift, ...], _Lower | None]] = {}
_host_ids = itertools.count(1)


@ffi.wasmtime_component_func_callback_t  # type: ignore[misc]
def _host_call(
    ident: Any, context: Any, _ty: Any, args: Any, nargs: int, results: Any, nresults: int
) -> int:
    func, lifts, lower = _HOST_FUNCS[ident or 0]

    def run(store: Any) -> None:
        result = func(store, *[lifts[i](args[i]) for i in range(nargs)])
        if lower is not None:
            lower(result, results[0])
        elif result is not None:
            raise TypeError(f"host function returned {result!r} for a function without results")

    return cast(int, _enter.catch_exceptions(context, run))


@ctypes.CFUNCTYPE(None, ctypes.c_void_p)
def _host_forget(ident: Any) -> None:
    _HOST_FUNCS.pop(ident or 0, None)


def _add_host_func(
    instance: component.LinkerInstance, name: str, func: Callable[..., Any], ty: Any
) -> None:
    """Define ``func`` (``func(store, *params)``) as ``name`` of a linker instance."""
    ident = next(_host_ids)
    result = ty.result
    _HOST_FUNCS[ident] = (
        func, tuple(_lifter(t) for _name, t in ty.params),
        None if result is None else _lowerer(result),
    )
    raw = name.encode("utf-8")
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(raw), len(raw), _host_call, ident,
        _host_forget,
    )
    if error:
        _HOST_FUNCS.pop(ident, None)
        raise wasmtime.WasmtimeError._from_ptr(error)


# -- the shared runtime ---------------------------------------------------------------------

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
            "this replica cannot run Python canisters: no runtime loader is configured "
            "(icframework.replica.execution.component.set_runtime_loader)"
        )
    try:
        runtime = load(engine)
    except Exception as exc:  # a build or compile failure, reported to the installer
        raise RuntimeUnavailableError(f"the Python runtime could not be loaded: {exc}") from exc
    _runtimes[engine] = runtime
    return runtime


# -- the key-value store --------------------------------------------------------------------


class KeyValueStore:
    """A canister's ordered key-value data, with one open transaction at a time.

    Committed data is a dict plus the keys in a `sortedcontainers.SortedList` (a new key
    costs O(log n), where a plain sorted list moves every later key: about 150 µs a key
    at two million). `begin` opens a transaction whose
    writes (an overlay) are visible to reads and scans; `commit` applies them and
    records the keys as dirty for the next checkpoint, `rollback` drops them.
    """

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = dict(items or {})
        self._keys = SortedList(self._data)
        self._overlay: dict[bytes, bytes | None] | None = None
        self._dirty: set[bytes] = set()
        self._size = sum(len(k) + len(v) for k, v in self._data.items())

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Bytes of committed keys and values (what the canister is charged storage for)."""
        return self._size

    def keys(self) -> list[bytes]:
        """Committed keys in order."""
        return list(self._keys)

    def snapshot(self) -> tuple[dict[bytes, bytes], frozenset[bytes]]:
        """The committed state, for `restore` (an upgrade that fails half way)."""
        return dict(self._data), frozenset(self._dirty)

    def restore(self, snapshot: tuple[dict[bytes, bytes], frozenset[bytes]]) -> None:
        """Go back to a `snapshot`; keys changed since stay dirty so the checkpoint follows."""
        data, dirty = snapshot
        changed = self._dirty | set(dirty)
        self._overlay = None
        self._data = dict(data)
        self._keys = SortedList(self._data)
        self._size = sum(len(k) + len(v) for k, v in self._data.items())
        self._dirty = changed

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries in key order."""
        return ((key, self._data[key]) for key in self._keys)

    # -- transactions --

    def begin(self) -> None:
        """Open a transaction (a no-op if one is open)."""
        if self._overlay is None:
            self._overlay = {}

    def commit(self) -> int:
        """Apply the open transaction; returns the number of keys written."""
        overlay, self._overlay = self._overlay, None
        if not overlay:
            return 0
        for key, value in overlay.items():
            old = self._data.get(key)
            if old is not None:
                self._size -= len(key) + len(old)
            if value is None:
                if self._data.pop(key, None) is not None:
                    self._keys.remove(key)
            else:
                if key not in self._data:
                    self._keys.add(key)
                self._data[key] = value
                self._size += len(key) + len(value)
        self._dirty.update(overlay)
        return len(overlay)

    def rollback(self) -> None:
        """Drop the open transaction's writes."""
        self._overlay = None

    def take_dirty(self) -> dict[bytes, bytes | None]:
        """Keys changed since the last call (value, or None if deleted), for the checkpoint."""
        dirty = {key: self._data.get(key) for key in sorted(self._dirty)}
        self._dirty.clear()
        return dirty

    # -- access (inside or outside a transaction) --

    def get(self, key: bytes) -> bytes | None:
        overlay = self._overlay
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._data.get(key)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if self._overlay is None:
            raise RuntimeError("KeyValueStore: write outside a transaction; call begin() first")
        self._overlay[key] = value

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def scan(
        self, start: bytes, end: bytes | None, *, reverse: bool = False, limit: int = 0
    ) -> list[tuple[bytes, bytes]]:
        """Entries with ``start <= key < end`` (None: unbounded) in key order or reversed.

        At most ``limit`` entries (0: all); the open transaction's writes are included.
        """
        keys_in_order = self._keys
        lo = keys_in_order.bisect_left(start)
        hi = len(keys_in_order) if end is None else keys_in_order.bisect_left(end)
        committed: list[bytes] = keys_in_order[lo:hi]
        overlay = self._overlay or {}
        extra = sorted(
            key for key in overlay
            if key >= start and (end is None or key < end) and key not in self._data
        )
        keys: Iterator[bytes] | list[bytes] = (
            heapq.merge(committed, extra) if extra else committed
        )
        if reverse:
            keys = reversed(list(keys))
        rows: list[tuple[bytes, bytes]] = []
        for key in keys:
            value = overlay[key] if key in overlay else self._data[key]
            if value is None:
                continue
            rows.append((key, value))
            if len(rows) == limit:
                break
        return rows


# -- one execution ---------------------------------------------------------------------------


class _ScratchHeap:
    """A `HeapAccess` over a small buffer: lets `SystemApi` check and carry out ic0 calls
    whose arguments arrive as values rather than as ranges of a linear memory."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def size(self) -> int:
        return len(self.buffer)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.buffer[address : address + size])

    def write(self, address: int, data: bytes) -> None:
        self.buffer[address : address + len(data)] = data

    def load(self, *parts: bytes) -> list[int]:
        """Make the buffer ``parts`` back to back (plus 16 bytes); returns their offsets."""
        offsets = []
        self.buffer = bytearray()
        for part in parts:
            offsets.append(len(self.buffer))
            self.buffer += part
        self.buffer += bytes(16)
        return offsets


class _Random:
    """Deterministic random bytes: SHA-256 in counter mode over a per-message seed."""

    def __init__(self, seed: bytes) -> None:
        self._given = seed  # hashed on first use: most messages draw nothing
        self._seed = b""
        self._counter = 0
        self._pool = b""

    def bytes(self, size: int) -> bytes:
        if not self._seed:
            self._seed = hashlib.sha256(b"icframework-random\0" + self._given).digest()
        while len(self._pool) < size:
            self._counter += 1
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "little")).digest()
            self._pool += block
        data, self._pool = self._pool[:size], self._pool[size:]
        return data


@dataclass(slots=True)
class ComponentExecutionResult(ExecutionResult):
    """One execution: effects (None if it trapped), trap, instructions, events, timings.

    ``instructions`` are those of the ``call`` itself; a re-installation the execution
    needed first is reported in ``install_instructions`` and is not charged.
    """

    events: list[tuple[str, bytes]] = field(default_factory=list)
    kv_writes: int = 0
    reinstalled: bool = False
    install_instructions: int = 0


class _Message:
    """The state of the execution in progress, seen by the host functions."""

    def __init__(
        self,
        inp: ExecutionInput,
        kv: KeyValueStore | None,
        instructions_used: Callable[[], int],
        seed: bytes,
        entry_point: str,
        consume: Callable[[int], None] | None = None,
    ) -> None:
        self.heap = _ScratchHeap()
        self.api = SystemApi(
            inp, self.heap, PageMap(), instructions_used, memory64=True, entry_point=entry_point,
            consume=consume,
        )
        self.kv = kv
        self.events: list[tuple[str, bytes]] = []
        self.random = _Random(seed)
        self.time_ns = inp.time_ns


def install_input(canister_id: bytes, time_ns: int) -> ExecutionInput:
    """The `ExecutionInput` of loading an app's source: the START context (like a module's
    ``(start)`` function), so only debug_print, trap and performance_counter work."""
    return ExecutionInput(
        context=Context.START, canister_id=canister_id, caller=b"", time_ns=time_ns,
        cycle_balance=0,
    )


# -- the sandbox -----------------------------------------------------------------------------


class ComponentSandbox:
    """One Python canister: an instance of the shared runtime with the app's source installed.

    Not thread-safe (one message at a time). `execute` has the shape of
    `Sandbox.execute` so the subnet can drive both kinds of canister.
    """

    def __init__(
        self,
        engine: wasmtime.Engine,
        runtime: component.Component,
        source: str,
        *,
        filename: str = "canister.py",
        canister_id: bytes = b"",
        kv: KeyValueStore | None = None,
        time_ns: int = 0,
        install_instruction_limit: int = INSTALL_INSTRUCTION_LIMIT,
        module: CanisterModule | None = None,
    ) -> None:
        """Instantiate the runtime and install ``source``; raises `CanisterTrap` if it fails.

        ``kv`` is the canister's committed store (a new empty one if None);
        ``time_ns`` is the clock the source sees while it loads. ``module`` is the
        installed Python canister module; `module` is it with the entry points the
        app registered (what the subnet routes by).
        """
        self.engine = engine
        self.runtime = runtime
        self.source = source
        self.filename = filename
        self.canister_id = canister_id
        self.kv = kv if kv is not None else KeyValueStore()
        self.install_instruction_limit = install_instruction_limit
        self.exports: frozenset[str] = frozenset()
        self.logs: list[bytes] = []
        self.instantiate_seconds = 0.0
        self.install_seconds = 0.0
        self.install_instructions = 0
        self._message: _Message | None = None
        self._fuel_limit = 0
        self._store: wasmtime.Store | None = None
        self._call: _ExportFunc | None = None
        self._call_method: _ExportFunc | None = None
        self._call_callback: _ExportFunc | None = None
        self._method_index: dict[str, int] = {}
        self._linker = self._make_linker()
        self._instantiate_and_install(time_ns, b"install\0" + canister_id)
        self.module = (module or _BARE_MODULE).with_entry_points(self.exports)

    # -- what the subnet expects of a sandbox (`execution.sandbox.CanisterSandbox`) --

    @property
    def heap_size(self) -> int:
        """Bytes of committed key-value data: a Python canister's memory, for storage fees."""
        return self.kv.size_bytes

    @property
    def committed_globals(self) -> dict[int, Any]:
        return {}

    def take_dirty_pages(self) -> dict[int, bytes]:
        return {}

    def take_dirty_kv(self) -> dict[bytes, bytes | None]:
        """Keys changed since the last checkpoint (value, or None if deleted)."""
        return self.kv.take_dirty()

    def mark_all_dirty(self) -> None:
        """Nothing to do: the store is written key by key (a new store's keys are dirty)."""

    def heap_image(self) -> bytes:
        return b""

    def snapshot(self) -> object:
        return self.kv.snapshot()

    def restore(self, snapshot: object) -> None:
        self.kv.restore(cast("tuple[dict[bytes, bytes], frozenset[bytes]]", snapshot))
        # The instance caches committed values, which this just changed under it.
        self._drop_instance()

    # -- linking ------------------------------------------------------------------------------

    def _make_linker(self) -> component.Linker:
        linker = component.Linker(self.engine)
        imports = self.runtime.type.imports(self.engine)
        versions = {name.split("@")[0]: name for name in imports}
        with linker.root() as root:
            for interface, functions in (
                ("ic0", self._ic0_functions()),
                ("kv", self._kv_functions()),
                ("events", {"publish": self._publish}),
            ):
                name = interface_name(interface)
                item = imports.get(name)
                if item is None:
                    continue  # the runtime does not import it
                instance_type = item.ty
                assert isinstance(instance_type, component.ComponentInstanceType)
                types = {k: v.ty for k, v in instance_type.exports(self.engine).items()}
                with root.add_instance(name) as instance:
                    for function_name, function in functions.items():
                        if function_name in types:
                            _add_host_func(instance, function_name, function, types[function_name])
            for interface, functions in self._wasi_functions().items():
                if interface in versions:
                    self._define(root, versions[interface], functions)
        # Everything else the runtime imports (file system, sockets, stdio, exit, ...).
        linker.define_unknown_imports_as_traps(self.runtime)
        return linker

    @staticmethod
    def _define(
        root: component.LinkerInstance, name: str, functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        with root.add_instance(name) as instance:
            for function_name, function in functions.items():
                instance.add_func(function_name, function)

    def _api(self) -> tuple[_Message, SystemApi]:
        message = self._message
        if message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: an import was called outside an execution",
            )
        # Every canister-ABI import passes here once: charge it as one System API call.
        message.api.charge("")
        return message, message.api

    def _ic0_functions(self) -> dict[str, Callable[..., Any]]:
        def cycles(amount: int) -> tuple[int, int]:
            return ((amount >> 64) & _U64, amount & _U64)

        def read128(message: _Message) -> tuple[int, int]:
            return cycles(int.from_bytes(message.heap.buffer[:16], "little"))

        def msg_caller(_store: Any) -> bytes:
            _message, api = self._api()
            api.check_context("msg_caller_size")
            return api.inp.caller

        def msg_reject_code(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("msg_reject_code")
            return api.inp.reject_code

        def msg_reject_msg(_store: Any) -> str:
            _message, api = self._api()
            api.check_context("msg_reject_msg_size")
            return api.inp.reject_message

        def msg_reply(_store: Any, data: bytes) -> None:
            message, api = self._api()
            self._reply(message, api, data)

        def msg_reject(_store: Any, text: str) -> None:
            message, api = self._api()
            self._reject(message, api, text)

        def msg_cycles_available(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_available128(0)
            return read128(message)

        def msg_cycles_refunded(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_refunded128(0)
            return read128(message)

        def msg_cycles_accept(_store: Any, maximum: tuple[int, int]) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_accept128(maximum[0], maximum[1], 0)
            return read128(message)

        def accept_message(_store: Any) -> None:
            _message, api = self._api()
            api.check_context("accept_message")
            api.accept_message()

        def canister_self(_store: Any) -> bytes:
            _message, api = self._api()
            api.check_context("canister_self_size")
            return api.inp.canister_id

        def canister_cycle_balance(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            api.check_context("canister_cycle_balance128")
            message.heap.load()
            api.canister_cycle_balance128(0)
            return read128(message)

        def canister_version(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("canister_version")
            return api.inp.version

        def cycles_burn(_store: Any, amount: tuple[int, int]) -> tuple[int, int]:
            message, api = self._api()
            api.check_context("cycles_burn128")
            message.heap.load()
            api.cycles_burn128(amount[0], amount[1], 0)
            return read128(message)

        def is_controller(_store: Any, principal: bytes) -> bool:
            message, api = self._api()
            api.check_context("is_controller")
            message.heap.load(principal)
            return bool(api.is_controller(0, len(principal)))

        def time_(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("time")
            return api.inp.time_ns

        def global_timer_set(_store: Any, timestamp: int) -> int:
            _message, api = self._api()
            api.check_context("global_timer_set")
            return api.global_timer_set(timestamp) & _U64

        def performance_counter(_store: Any, kind: int) -> int:
            _message, api = self._api()
            return api.performance_counter(kind)

        def certified_data_set(_store: Any, data: bytes) -> None:
            message, api = self._api()
            api.check_context("certified_data_set")
            message.heap.load(data)
            api.certified_data_set(0, len(data))

        def data_certificate(_store: Any) -> bytes | None:
            _message, api = self._api()
            api.check_context("data_certificate_present")
            return api.inp.data_certificate

        def call_perform(
            _store: Any, callee: bytes, method: str, arg: bytes, payment: tuple[int, int],
            callback: int,
        ) -> int:
            message, api = self._api()
            api.check_context("call_new")
            method_bytes = method.encode("utf-8")
            offsets = message.heap.load(callee, method_bytes)
            api.call_new(
                offsets[0], len(callee), offsets[1], len(method_bytes),
                0, callback, 0, callback,
            )
            message.heap.load(arg)
            api.call_data_append(0, len(arg))
            if payment[0] or payment[1]:
                api.call_cycles_add128(payment[0], payment[1])
            return api.call_perform()

        def debug_print(_store: Any, data: bytes) -> None:
            message, api = self._api()
            message.heap.load(data)
            api.debug_print(0, len(data))

        def trap(_store: Any, text: str) -> None:
            message, api = self._api()
            data = text.encode("utf-8")
            message.heap.load(data)
            api.trap(0, len(data))

        return {
            "msg-caller": msg_caller,
            "msg-reject-code": msg_reject_code,
            "msg-reject-msg": msg_reject_msg,
            "msg-reply": msg_reply,
            "msg-reject": msg_reject,
            "msg-cycles-available": msg_cycles_available,
            "msg-cycles-refunded": msg_cycles_refunded,
            "msg-cycles-accept": msg_cycles_accept,
            "accept-message": accept_message,
            "canister-self": canister_self,
            "canister-cycle-balance": canister_cycle_balance,
            "canister-version": canister_version,
            "cycles-burn": cycles_burn,
            "is-controller": is_controller,
            "time": time_,
            "global-timer-set": global_timer_set,
            "performance-counter": performance_counter,
            "certified-data-set": certified_data_set,
            "data-certificate": data_certificate,
            "call-perform": call_perform,
            "debug-print": debug_print,
            "trap": trap,
        }

    @staticmethod
    def _reply(message: _Message, api: SystemApi, data: bytes) -> None:
        message.heap.load(data)
        api.check_context("msg_reply_data_append")
        api.msg_reply_data_append(0, len(data))
        api.msg_reply()

    @staticmethod
    def _reject(message: _Message, api: SystemApi, text: str) -> None:
        data = text.encode("utf-8")
        message.heap.load(data)
        api.check_context("msg_reject")
        api.msg_reject(0, len(data))

    def _store_for(self, operation: str) -> KeyValueStore:
        message, _api = self._api()
        if message.kv is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister violated contract: kv.{operation} called while the app's source "
                "loads; use the store from entry points only",
            )
        return message.kv

    def _kv_functions(self) -> dict[str, Callable[..., Any]]:
        def get(_store: Any, key: bytes) -> bytes | None:
            return self._store_for("get").get(key)

        def put(_store: Any, key: bytes, value: bytes) -> None:
            self._store_for("put").put(key, value)

        def delete(_store: Any, key: bytes) -> None:
            self._store_for("delete").delete(key)

        def scan(
            _store: Any, start: bytes, end: bytes | None, reverse: bool, limit: int
        ) -> list[tuple[bytes, bytes]]:
            return self._store_for("scan").scan(start, end, reverse=reverse, limit=limit)

        def commit(_store: Any, writes: list[Any]) -> None:
            store = self._store_for("commit")
            for write in writes:
                if write.value is None:
                    store.delete(write.key)
                else:
                    store.put(write.key, write.value)

        return {"get": get, "put": put, "delete": delete, "scan": scan, "commit": commit}

    def _publish(self, _store: Any, topic: str, value: bytes) -> None:
        message, _api = self._api()
        if message.kv is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: events.publish called while the app's source loads",
            )
        message.events.append((topic, value))

    def _wasi_functions(self) -> dict[str, dict[str, Callable[..., Any]]]:
        def now(_store: Any) -> _Datetime:
            message = self._message
            if message is None:  # CPython starting up, before any message
                return _Datetime(0, 0)
            # Charged as ic0.time: a loop on time.time() must reach the limit (IC0522)
            # in bounded wall time, as a loop on any other import does.
            message.api.charge("time")
            time_ns = message.time_ns
            return _Datetime(time_ns // 1_000_000_000, time_ns % 1_000_000_000)

        def resolution(_store: Any) -> _Datetime:
            return _Datetime(0, 1)

        def random_bytes(_store: Any, size: int) -> bytes:
            return self._random(size)

        def random_u64(_store: Any) -> int:
            return int.from_bytes(self._random(8), "little")

        return {
            "wasi:clocks/wall-clock": {"now": now, "resolution": resolution},
            "wasi:random/random": {
                "get-random-bytes": random_bytes, "get-random-u64": random_u64
            },
            # No preopened directories: opening a file fails with an error, not a trap.
            "wasi:filesystem/preopens": {"get-directories": lambda _store: []},
            "wasi:cli/environment": {
                "get-environment": lambda _store: [],
                "get-arguments": lambda _store: [],
                "initial-cwd": lambda _store: None,
            },
        }

    def _random(self, size: int) -> bytes:
        if self._message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: random bytes requested outside an execution",
            )
        self._message.api.charge("")
        return self._message.random.bytes(size)

    # -- instantiation and install ----------------------------------------------------------

    def _instantiate_and_install(self, time_ns: int, seed: bytes) -> int:
        """A fresh instance with the source installed; returns the install's instructions."""
        self._store = None
        self._call = None
        self._call_method = None
        self._call_callback = None
        started = time.perf_counter()
        store = wasmtime.Store(self.engine)
        # The component's start-up code runs under fuel too; it is not charged either.
        store.set_fuel(self.install_instruction_limit)
        try:
            instance = self._linker.instantiate(store, self.runtime)
        except wasmtime.WasmtimeError as exc:
            raise CanisterTrap(
                ErrorCode.CANISTER_INVALID_WASM,
                f"Canister's runtime component cannot be instantiated: {exc}",
            ) from None
        interface = instance.get_export_index(store, _CANISTER_INTERFACE)
        funcs = {}
        for name in ("install", "call", "call-method", "call-callback"):
            index = instance.get_export_index(store, name, interface)
            func = None if index is None else instance.get_func(store, index)
            if interface is None or func is None:
                raise CanisterTrap(
                    ErrorCode.CANISTER_INVALID_WASM,
                    f"Canister's runtime component does not export {_CANISTER_INTERFACE}",
                )
            funcs[name] = _ExportFunc(func, store)
        install, call = funcs["install"], funcs["call"]
        self.instantiate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        limit = self.install_instruction_limit
        message = _Message(
            install_input(self.canister_id, time_ns), None, lambda: limit - store.get_fuel(),
            seed, "",
        )
        self.logs = []
        store.set_fuel(limit)
        self._message = message
        try:
            names = install(store, self.filename, self.source)
            install.post_return(store)
        except CanisterTrap:
            raise
        except wasmtime.WasmtimeError as exc:
            raise _translate(exc, store, limit) from None
        finally:
            self._message = None
            self.logs = list(message.api.out.logs)
        self.install_seconds = time.perf_counter() - started
        self.install_instructions = limit - store.get_fuel()
        self.exports = frozenset(names)
        self._method_index = {
            name: i for i, name in enumerate(names) if name.startswith(_METHOD_PREFIXES)
        }
        self._store = store
        self._call = call
        self._call_method = funcs["call-method"]
        self._call_callback = funcs["call-callback"]
        return self.install_instructions

    # -- execution ------------------------------------------------------------------------------

    def has_export(self, name: str) -> bool:
        """Whether the app offers the IC export ``name`` (e.g. ``canister_update inc``)."""
        return name in self.exports

    def execute(
        self,
        target: str | tuple[int, int],
        inp: ExecutionInput,
        instruction_limit: int,
        *,
        persist: bool,
        seed: bytes | None = None,
    ) -> ComponentExecutionResult:
        """Run an entry point atomically, like `Sandbox.execute`.

        ``target`` is an IC export name (``canister_update inc``, ``canister_query get``,
        ``canister_init``, ``canister_global_timer``, ...) or, for a response, the
        callback ``(fun, env)`` of the staged call (``env`` is the app's callback id;
        the context in ``inp`` says reply or reject). With ``persist`` and no trap the
        key-value writes are committed; otherwise they are discarded. ``seed`` seeds
        the message's randomness (the subnet passes one from its random stream; by
        default it is derived from the input). A trap discards the instance.
        """
        kind, method, arg = self._entry(target, inp)
        if seed is None:
            seed = hashlib.sha256(
                repr((inp.canister_id, inp.caller, inp.time_ns, inp.context.value, target))
                .encode() + inp.arg
            ).digest()
        reinstall_instructions = 0
        reinstalled = False
        if self._store is None:
            try:
                reinstall_instructions = self._instantiate_and_install(inp.time_ns, seed)
            except CanisterTrap as failed:
                return ComponentExecutionResult(None, failed, 0)
            reinstalled = True
        store, call = self._store, self._call
        assert store is not None and call is not None
        if kind is None:
            # A cleanup callback: the ABI has none (continuations live in the guest).
            return ComponentExecutionResult(ExecutionOutput(), None, 0)
        if target not in self.exports and isinstance(target, str):
            return ComponentExecutionResult(
                None,
                CanisterTrap(
                    ErrorCode.CANISTER_METHOD_NOT_FOUND, f"Canister has no export {target!r}"
                ),
                0,
                reinstalled=reinstalled,
                install_instructions=reinstall_instructions,
            )
        self.kv.begin()
        message = _Message(
            inp, self.kv, self._instructions_used, seed, target if isinstance(target, str) else "",
            self._consume,
        )
        self._message = message
        store.set_fuel(instruction_limit)
        self._fuel_limit = instruction_limit
        trap: CanisterTrap | None = None
        effects = False
        try:
            index = self._method_index.get(target) if type(target) is str else None
            if index is not None or type(target) is tuple:
                # An ordinary message or a callback: the exports that lift no strings and
                # answer the message outcome (reply, writes and events in one blob).
                if index is not None:
                    fast = self._call_method
                    assert fast is not None
                    blob = fast(store, index, arg)
                else:
                    fast = self._call_callback
                    assert fast is not None and isinstance(target, tuple)
                    blob = fast(store, target[1], kind == "reject-callback", arg)
                fast.post_return(store)
                if blob[:1] == b"\x01":  # a reply alone: the common case
                    self._reply(message, message.api, blob[1:])
                else:
                    effects = self._apply_outcome(message, blob)
            else:
                response = call(store, kind, method, arg)
                call.post_return(store)
                self._respond(message, response)
        except CanisterTrap as exc:
            trap = exc
        except wasmtime.WasmtimeError as exc:
            trap = _translate(exc, store, instruction_limit)
        complexity = message.api.complexity
        instructions = max(0, min(self._instructions_used(), instruction_limit) - complexity)
        self._message = None
        if trap is not None:
            self.kv.rollback()
            # Python state cannot be rolled back: the next message gets a fresh instance.
            self._drop_instance()
            return ComponentExecutionResult(
                None, trap, instructions, complexity, reinstalled=reinstalled,
                install_instructions=reinstall_instructions,
            )
        writes = self.kv.commit() if persist else 0
        if not persist:
            self.kv.rollback()
            if effects:
                # The instance counts its writes as committed (it caches committed
                # values); they are not, so its view is stale: start a fresh one.
                self._drop_instance()
        output = message.api.finish()
        output.instructions = instructions
        return ComponentExecutionResult(
            output, None, instructions, complexity, events=message.events if persist else [],
            kv_writes=writes, reinstalled=reinstalled,
            install_instructions=reinstall_instructions,
        )

    def reset_instance(self) -> None:
        """Forget the instance, as after a trap: the next message instantiates and
        installs afresh. For tools that change `kv` directly (e.g. a benchmark filling a
        large store host-side): the instance caches committed values."""
        self._drop_instance()

    def _drop_instance(self) -> None:
        """Forget the instance: the next message instantiates and installs afresh."""
        self._store = None
        self._call = None
        self._call_method = None
        self._call_callback = None

    def _apply_outcome(self, message: _Message, blob: bytes) -> bool:
        """Apply a message outcome blob (reply, writes, events); True if it had effects.

        Raises `CanisterTrap` (contract violation) for a malformed blob.
        """
        try:
            outcome = decode_outcome(blob)
        except OutcomeError as exc:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister violated contract: malformed message outcome from the runtime: {exc}",
            ) from None
        store = message.kv
        assert store is not None
        for key, value in outcome.writes:
            if value is None:
                store.delete(key)
            else:
                store.put(key, value)
        message.events.extend(outcome.events)
        if outcome.reply is not None:
            self._reply(message, message.api, outcome.reply)
        return bool(outcome.writes or outcome.events)

    def _respond(self, message: _Message, response: tuple[str, Any]) -> None:
        tag, payload = response
        if tag == "reply":
            self._reply(message, message.api, payload)
        elif tag == "reject":
            self._reject(message, message.api, payload)

    def _instructions_used(self) -> int:
        store = self._store
        return 0 if store is None else self._fuel_limit - store.get_fuel()

    def _consume(self, instructions: int) -> None:
        """Take ``instructions`` from the fuel (a System API charge); IC0522 if too few."""
        store = self._store
        assert store is not None
        consume_fuel(store, instructions, self._fuel_limit)

    @staticmethod
    def _entry(target: str | tuple[int, int], inp: ExecutionInput) -> tuple[str | None, str, bytes]:
        """(WIT call kind or None for a no-op, method, argument) of an execution target."""
        if isinstance(target, tuple):
            kind = _CALLBACK_KINDS.get(inp.context)
            if kind is None:
                return None, "", b""
            return kind, str(target[1]), inp.arg if kind == "reply-callback" else b""
        for prefix, kind in (("canister_update ", "update"), ("canister_query ", "query")):
            if target.startswith(prefix):
                return kind, target[len(prefix):], inp.arg
        system = _SYSTEM_EXPORTS.get(target)
        if system == "inspect":
            return system, inp.method_name, inp.arg
        if system in ("init", "post-upgrade"):
            return system, "", inp.arg
        if system is not None:
            return system, "", b""
        return "update", target, inp.arg


_BARE_MODULE = CanisterModule(
    wasm=b"", module_hash=b"", memory64=False, has_memory=False, has_table=False,
    updates=frozenset(), queries=frozenset(), composite_queries=frozenset(),
    system_methods=frozenset(), mutable_globals=(),
)


@dataclass(frozen=True, slots=True)
class _Datetime:
    """WASI ``wall-clock.datetime`` (wasmtime-py lowers records by attribute)."""

    seconds: int
    nanoseconds: int


def _translate(exc: wasmtime.WasmtimeError, store: wasmtime.Store, limit: int) -> CanisterTrap:
    """A wasmtime error from the runtime as the IC's trap (fuel exhausted: IC0522)."""
    if store.get_fuel() == 0:
        return instruction_limit_trap(limit)
    text = str(exc).strip()
    lines = text.splitlines()
    reason = lines[0] if lines else "unknown error"
    if "wasm trap: " in text:
        reason = text.split("wasm trap: ", 1)[1].splitlines()[0]
    return CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {reason}")
