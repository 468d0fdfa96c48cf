"""Raw calls into and out of wasm (`RawFunc`, `define_raw_host`) behave as wasmtime-py's
own calls: the same values, traps, errors and host exceptions."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
import wasmtime

from icframework.replica.execution.engine import RawFunc, define_raw_host

I32 = wasmtime.ValType.i32()
I64 = wasmtime.ValType.i64()

MODULE_WAT = r"""
(module
  (import "host" "add" (func $add (param i32 i64) (result i64)))
  (import "host" "fail" (func $fail))
  (import "host" "wide" (func $wide (result i32)))
  (global $a (mut i32) (i32.const -7))
  (global $b (mut i64) (i64.const 1))
  (global $c (mut f32) (f32.const 1.5))
  (global $d (mut f64) (f64.const -2.25))
  (func (export "get") (result i32 i64 f32 f64)
    (global.get $a) (global.get $b) (global.get $c) (global.get $d))
  (func (export "set") (param i32 i64 f32 f64)
    (global.set $a (local.get 0)) (global.set $b (local.get 1))
    (global.set $c (local.get 2)) (global.set $d (local.get 3)))
  (func (export "add") (param i32 i64) (result i64) (call $add (local.get 0) (local.get 1)))
  (func (export "fail") (call $fail))
  (func (export "wide") (result i32) (call $wide))
  (func (export "unreachable") unreachable)
  (func (export "spin") (loop $again (br $again))))
"""


class HostFailure(Exception):
    pass


@dataclass
class Instance:
    store: wasmtime.Store
    funcs: dict[str, wasmtime.Func]
    callbacks: list[Any]
    """Kept alive while the instance may call them."""


@pytest.fixture
def instance() -> Instance:
    config = wasmtime.Config()
    config.consume_fuel = True
    engine = wasmtime.Engine(config)
    linker = wasmtime.Linker(engine)
    def add(a: int, b: int) -> int:
        return a + b

    def fail() -> None:
        raise HostFailure("from the host")

    callbacks = [
        define_raw_host(linker, "host", "add", [I32, I64], [I64], add),
        define_raw_host(linker, "host", "fail", [], [], fail),
        define_raw_host(linker, "host", "wide", [], [I32], lambda: 2**32 + 5),
    ]
    store = wasmtime.Store(engine)
    store.set_fuel(1_000_000)
    module = wasmtime.Module(engine, wasmtime.wat2wasm(MODULE_WAT))
    exports = linker.instantiate(store, module).exports(store)
    funcs = {name: item for name, item in exports.items() if isinstance(item, wasmtime.Func)}
    return Instance(store, funcs, callbacks)


def test_results_and_arguments_are_those_of_wasmtime_py(instance):
    store, funcs = instance.store, instance.funcs
    get = RawFunc(store, funcs["get"])
    assert get() == tuple(funcs["get"](store)) == (-7, 1, 1.5, -2.25)
    RawFunc(store, funcs["set"])(-(2**31), -(2**63), 0.25, math.pi)
    assert get() == tuple(funcs["get"](store)) == (-(2**31), -(2**63), 0.25, math.pi)


def test_a_raw_host_function_gets_signed_arguments_and_its_result_is_wrapped(instance):
    store, funcs = instance.store, instance.funcs
    add = RawFunc(store, funcs["add"])
    assert add(-3, 10) == (7,)
    assert add(-1, 2**62) == (2**62 - 1,)
    assert RawFunc(store, funcs["wide"])() == (5,)  # an i32 result wraps to 32 bits


def test_a_host_exception_comes_out_of_the_call_into_wasm(instance):
    store, funcs = instance.store, instance.funcs
    with pytest.raises(HostFailure, match="from the host"):
        RawFunc(store, funcs["fail"])()
    with pytest.raises(HostFailure, match="from the host"):
        funcs["fail"](store)  # wasmtime-py's own call re-raises it too


def test_traps_and_running_out_of_fuel_are_wasmtime_traps(instance):
    store, funcs = instance.store, instance.funcs
    with pytest.raises(wasmtime.Trap) as trapped:
        RawFunc(store, funcs["unreachable"])()
    assert trapped.value.trap_code == wasmtime.TrapCode.UNREACHABLE
    store.set_fuel(1000)
    with pytest.raises(wasmtime.Trap) as trapped:
        RawFunc(store, funcs["spin"])()
    assert trapped.value.trap_code == wasmtime.TrapCode.OUT_OF_FUEL


def test_a_wrong_number_of_arguments_is_refused_before_wasm_runs(instance):
    store, funcs = instance.store, instance.funcs
    add = RawFunc(store, funcs["add"])
    with pytest.raises(wasmtime.WasmtimeError, match="too few parameters provided: given 1, "
                       "expected 2"):
        add(1)
    with pytest.raises(wasmtime.WasmtimeError, match="too many parameters provided"):
        add(1, 2, 3)
