"""Module loading: which modules get the dirty bitmap, and the memories it leaves them."""

from __future__ import annotations

import pytest
import wasmtime

from icframework.replica.execution.dirty_pages import (
    BITMAP_EXPORT,
    MAX_MEMORY64_PAGES,
    bitmap_pages,
)
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.wasm_module import MEMORY_EXPORT, load_canister_module

ENGINE = ExecutionEngine()
STORE = '(func (export "canister_update f") (i32.store (i32.const 0) (i32.const 1)))'


def _memories(wat: str) -> dict[str, wasmtime.MemoryType]:
    module = load_canister_module(bytes(wasmtime.wat2wasm(wat)))
    compiled = ENGINE.compile(module)
    return {
        item.name: item.type for item in compiled.exports
        if isinstance(item.type, wasmtime.MemoryType)
    }


@pytest.mark.parametrize(
    ("memory", "limits", "bitmap"),
    [
        ("(memory 2)", (2, 65536), bitmap_pages(65536)),  # 4 GiB: a 1 MiB bitmap (+ 1 page)
        ("(memory 2 10)", (2, 10), 1),
        ("(memory i64 3)", (3, MAX_MEMORY64_PAGES), bitmap_pages(MAX_MEMORY64_PAGES)),
        ("(memory i64 1 100)", (1, 100), 1),
    ],
)
def test_the_bitmap_covers_every_page_the_memory_can_reach(
    memory: str, limits: tuple[int, int], bitmap: int
) -> None:
    store = STORE.replace("(i32.const 0)", "(i64.const 0)") if "i64" in memory else STORE
    memories = _memories(f"(module {memory} {store})")
    heap, marks = memories[MEMORY_EXPORT], memories[BITMAP_EXPORT]
    assert (heap.limits.min, heap.limits.max) == limits
    assert marks.limits.min == marks.limits.max == bitmap
    assert marks.is_64 == heap.is_64
    # One byte per 4 KiB page the heap can reach, the marks past its end, the counter.
    assert bitmap * 65536 >= limits[1] * 16 + 4 + 8


@pytest.mark.parametrize(
    "module",
    [
        f"(module (memory 1) (memory 1) {STORE})",  # two memories (multi-memory)
        f"(module (memory 1 1 shared) {STORE})",  # a shared memory (threads)
        '(module (memory 1) (func (export "canister_update f") '
        "(i32.atomic.store (i32.const 0) (i32.const 1))))",  # an opcode the decoder lacks
    ],
    ids=["two memories", "shared memory", "atomic store"],
)
def test_modules_the_pass_does_not_handle_keep_their_code(module: str) -> None:
    wasm = bytes(wasmtime.wat2wasm(module))
    loaded = load_canister_module(wasm)
    assert not loaded.dirty_bitmap
    ENGINE.compile(loaded)
    assert BITMAP_EXPORT not in _memories(module)


def test_a_module_without_memory_gets_no_bitmap() -> None:
    loaded = load_canister_module(bytes(wasmtime.wat2wasm(
        '(module (func (export "canister_update f")))'
    )))
    assert not loaded.dirty_bitmap and not loaded.has_memory
