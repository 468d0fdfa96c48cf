"""The runtime build's bulk-bytes rewrite: what the host sees, the realloc shim, refusals."""

from __future__ import annotations

import pytest
import wasmtime
from wasmtime import component

from icframework.abi import interface_name
from icframework.compiler.bulk_bytes import (
    LATIN1_IMPORT_FUNCTIONS,
    SHRINKING_REALLOC,
    BulkBytesError,
    latin1_exports,
)
from tests.compiler.runtime_support import runtime, runtime_component

__all__ = ["runtime"]


def _function_types(instance_name: str, *, imported: bool) -> dict[str, component.FuncType]:
    engine, compiled = runtime_component()
    items = compiled.type.imports(engine) if imported else compiled.type.exports(engine)
    instance = items[interface_name(instance_name)].ty
    assert isinstance(instance, component.ComponentInstanceType)
    return {
        name: item.ty for name, item in instance.exports(engine).items()
        if isinstance(item.ty, component.FuncType)
    }


def test_the_message_exports_take_and_answer_strings(runtime: object) -> None:
    exports = _function_types("canister", imported=False)
    for name in ("call-method", "call-callback"):
        ty = exports[name]
        assert isinstance(ty.params[-1][1], component.String), name
        assert isinstance(ty.result, component.String), name
    # `call` keeps its list<u8> argument (it is not a message export the rewrite knows)
    assert isinstance(exports["call"].params[-1][1], component.ListType)


def test_the_key_value_store_speaks_strings_and_ic0_keeps_lists(runtime: object) -> None:
    kv = _function_types("kv", imported=True)
    assert sorted(LATIN1_IMPORT_FUNCTIONS) == sorted(kv)
    assert isinstance(kv["get"].params[0][1], component.String)
    result = kv["get"].result
    assert isinstance(result, component.OptionType)
    assert isinstance(result.payload, component.String)
    ic0 = _function_types("ic0", imported=True)
    assert isinstance(ic0["msg-reply"].params[0][1], component.ListType)


def _shim() -> tuple[wasmtime.Store, wasmtime.Func, list[tuple[int, ...]]]:
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    calls: list[tuple[int, ...]] = []
    i32 = wasmtime.ValType.i32()

    def allocate(*args: int) -> int:
        calls.append(args)
        return 4096

    forward = wasmtime.Func(store, wasmtime.FuncType([i32] * 4, [i32]), allocate)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, SHRINKING_REALLOC), [forward])
    realloc = instance.exports(store)["realloc"]
    assert isinstance(realloc, wasmtime.Func)
    return store, realloc, calls


def test_the_realloc_shim_forwards_allocations_and_shrinks_in_place() -> None:
    store, realloc, calls = _shim()
    assert realloc(store, 0, 0, 2, 300) == 4096
    assert calls == [(0, 0, 2, 300)]
    assert realloc(store, 4096, 300, 2, 200) == 4096  # shrunk in place, nothing forwarded
    assert realloc(store, 4096, 300, 2, 300) == 4096
    assert calls == [(0, 0, 2, 300)]


def test_the_realloc_shim_refuses_to_grow() -> None:
    store, realloc, _calls = _shim()
    with pytest.raises(wasmtime.Trap):
        realloc(store, 4096, 200, 2, 300)


def test_a_module_that_is_not_a_component_is_refused() -> None:
    with pytest.raises(BulkBytesError, match="not a WebAssembly component"):
        latin1_exports(SHRINKING_REALLOC)


def test_a_component_without_the_message_exports_is_refused() -> None:
    empty = b"\x00asm\x0d\x00\x01\x00"
    with pytest.raises(BulkBytesError, match=r"\('index', 'arg'\) 0 times instead of 3"):
        latin1_exports(empty)
