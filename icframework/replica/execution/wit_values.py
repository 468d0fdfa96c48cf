"""Python values to and from component-model values, through wasmtime-py's C bindings.

What it owns: the converters between Python values and the canister ABI's WIT values
(``_lifter``, ``_lowerer``), calling a component export with them (`ExportFunc`) and
defining host functions that receive them (`add_host_func`).

How it works: wasmtime-py converts component values one by one in Python, element by
element for a ``list<u8>`` (~0.7 µs per byte), and re-reads every function's type on
each call. The ABI's functions have fixed types, so the sandbox builds one converter per
parameter and result when it links, calls the exports through `ExportFunc` and receives
the imports through ``_host_call``. A ``list<u8>`` (a ``blob``) is converted in bulk:
the C API represents it as an array of 32-byte values, which extended slices of a byte
buffer read and write at C speed.

That takes wasmtime-py's private API — ``wasmtime._ffi`` (the ctypes declarations of
the C API), ``wasmtime.component._enter`` (raising a host function's exception in the
caller) and the private handles ``Func._func``, ``Store._context()`` and
``WasmtimeError._from_ptr`` — because its public API offers no bulk conversion. It was
checked against wasmtime-py 50.0.1 (the ``wasmtime>=50,<51`` pin); every use of the
private API stays inside this module, so a new wasmtime-py version is checked here.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from typing import Any, cast

import wasmtime
from wasmtime import _ffi as ffi
from wasmtime import component
from wasmtime.component import _enter

__all__ = ["ExportFunc", "add_host_func"]

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


def _lift_latin1(c: Any) -> bytes:
    text = c.of.string
    n = text.size
    if not n:
        return b""
    return ctypes.string_at(_address(text.data), n).decode("utf-8").encode("latin-1")


def _lower_latin1(value: Any, c: Any) -> None:
    if type(value) is not bytes:
        if not isinstance(value, (bytearray, memoryview)):
            raise TypeError(f"expected bytes for a blob, got {type(value).__name__}")
        value = bytes(value)
    text = value if value.isascii() else value.decode("latin-1").encode("utf-8")
    n = len(text)
    vector = ffi.wasm_byte_vec_t()
    ffi.wasm_byte_vec_new_uninitialized(ctypes.byref(vector), n)
    if n:
        ctypes.memmove(vector.data, text, n)  # one copy (wasmtime-py's helper makes two)
    c.kind = _STRING_KIND
    c.of.string = vector


def _lift_string(c: Any) -> str:
    return ffi.to_str(c.of.string)


def _lower_string(value: Any, c: Any) -> None:
    text = ffi.str_to_capi(value)  # TypeError unless a str
    c.kind = _STRING_KIND
    c.of.string = text


def _lifter(ty: Any, *, latin1: bool = False) -> _Lift:
    """The converter of a C value of WIT type ``ty`` to Python (which frees nothing);
    with ``latin1`` a ``string`` is bytes, one per character (see `ExportFunc`)."""
    wt = component
    if latin1 and isinstance(ty, wt.String):
        return _lift_latin1
    if isinstance(ty, wt.ListType):
        element = ty.element
        if isinstance(element, wt.U8):
            return _lift_blob
        item = _lifter(element, latin1=latin1)

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
        parts = [_lifter(t, latin1=latin1) for t in ty.elements]

        def lift_tuple(c: Any) -> tuple[Any, ...]:
            data = c.of.tuple.data
            return tuple(part(data[i]) for i, part in enumerate(parts))

        return lift_tuple
    if isinstance(ty, wt.RecordType):
        fields = [(name, _lifter(t, latin1=latin1)) for name, t in ty.fields]

        def lift_record(c: Any) -> _Record:
            data = c.of.record.data
            return _Record({name: lift(data[i].val) for i, (name, lift) in enumerate(fields)})

        return lift_record
    if isinstance(ty, wt.OptionType):
        payload = _lifter(ty.payload, latin1=latin1)

        def lift_option(c: Any) -> Any:
            inner = c.of.option
            return payload(inner[0]) if inner else None

        return lift_option
    if isinstance(ty, wt.VariantType):
        cases = {name: None if t is None else _lifter(t, latin1=latin1) for name, t in ty.cases}

        def lift_variant(c: Any) -> tuple[str, Any]:
            variant = c.of.variant
            tag = ffi.to_str(variant.discriminant)
            lift = cases[tag]
            return tag, None if lift is None else lift(variant.val[0])

        return lift_variant
    if isinstance(ty, wt.EnumType):
        return lambda c: ffi.to_str(c.of.enumeration)
    raise NotImplementedError(f"the canister ABI does not use WIT type {ty!r}")


def _lowerer(ty: Any, *, latin1: bool = False) -> _Lower:
    """The converter of a Python value to a C value of WIT type ``ty``; with ``latin1``
    a ``string`` is given as bytes, one per character (see `ExportFunc`)."""
    wt = component
    if latin1 and isinstance(ty, wt.String):
        return _lower_latin1
    if isinstance(ty, wt.ListType):
        element = ty.element
        if isinstance(element, wt.U8):
            return _lower_blob
        item = _lowerer(element, latin1=latin1)

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
        parts = [_lowerer(t, latin1=latin1) for t in ty.elements]
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
        payload = _lowerer(ty.payload, latin1=latin1)

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


class ExportFunc:
    """An export of the runtime, called with converters built once (see the module docstring).

    With ``latin1`` the export's ``string`` parameters and result are bytes: the runtime
    build declares the blobs of the message exports to the host as latin-1 strings
    (`icframework.compiler.bulk_bytes`), which cross as one buffer instead of one value
    per byte. They are given and returned as ``bytes`` and sent as the UTF-8 of their
    latin-1 text, which wasmtime transcodes to one byte per character in the guest.
    """

    __slots__ = ("_func", "_lift", "_lowers", "post_return")

    def __init__(
        self, func: component.Func, store: wasmtime.Store, *, latin1: bool = False
    ) -> None:
        ty = func.type(store)
        self._func = func
        self._lowers = tuple(_lowerer(t, latin1=latin1) for _name, t in ty.params)
        result = ty.result
        self._lift = None if result is None else _lifter(result, latin1=latin1)
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


def add_host_func(
    instance: component.LinkerInstance, name: str, func: Callable[..., Any], ty: Any,
    *, latin1: bool = False,
) -> None:
    """Define ``func`` (``func(store, *params)``) as ``name`` of a linker instance.

    ``ty`` is the function's component type (its parameters and result give the
    converters); with ``latin1`` its strings are bytes, as in `ExportFunc`. Raises
    `wasmtime.WasmtimeError` if the linker refuses the definition.
    """
    ident = next(_host_ids)
    result = ty.result
    _HOST_FUNCS[ident] = (
        func, tuple(_lifter(t, latin1=latin1) for _name, t in ty.params),
        None if result is None else _lowerer(result, latin1=latin1),
    )
    raw = name.encode("utf-8")
    error = ffi.wasmtime_component_linker_instance_add_func(
        instance.ptr(), ctypes.create_string_buffer(raw), len(raw), _host_call, ident,
        _host_forget,
    )
    if error:
        _HOST_FUNCS.pop(ident, None)
        raise wasmtime.WasmtimeError._from_ptr(error)

