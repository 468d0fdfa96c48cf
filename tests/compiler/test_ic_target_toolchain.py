"""The IC target's toolchain errors and the generated WASI shim (no build needed)."""

from __future__ import annotations

import sys

import pytest
import wasmtime

from icframework.compiler.ic_target import shim, toolchain
from icframework.compiler.ic_target.toolchain import ToolchainError
from tests.node import requires_node


def test_missing_zig_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ziglang", None)  # import ziglang -> ImportError
    with pytest.raises(ToolchainError, match=r"pip install -e '\.\[ic\]'.*ziglang==0\.17\.1"):
        toolchain.zig()


@requires_node
def test_missing_binaryen_tool_names_npm_ci() -> None:
    with pytest.raises(ToolchainError, match=r"binaryen's wasm-nothing is missing: run `npm ci`"):
        toolchain.node_tool("wasm-nothing")


def test_the_shim_defines_each_wasi_import_over_ic0() -> None:
    functions = [
        ("fd_write", ("i32", "i32", "i32", "i32"), ("i32",)),
        ("clock_time_get", ("i32", "i64", "i32"), ("i32",)),
        ("random_get", ("i32", "i32"), ("i32",)),
        ("path_open", ("i32",) * 5 + ("i64", "i64", "i32", "i32"), ("i32",)),
        ("proc_exit", ("i32",), ()),
    ]
    module = wasmtime.Module(wasmtime.Engine(), bytes(wasmtime.wat2wasm(shim.shim_wat(functions))))
    assert {(i.module, i.name) for i in module.imports} == {
        ("ic0", "debug_print"), ("ic0", "time"), ("ic0", "trap"), ("main", "memory"),
    }
    assert [e.name for e in module.exports] == [name for name, _, _ in functions]


def test_a_wasi_import_the_shim_cannot_answer_is_refused() -> None:
    with pytest.raises(ToolchainError, match="no shim for it"):
        shim.shim_wat([("odd", ("i32",), ("i64",))])
