"""Dirty-page instrumentation: marks cover every written page, semantics and counts unchanged.

Each program runs twice on fresh instances: the module as written, and as
`load_canister_module` instruments it. The instrumented run must leave the same memory,
mark (in the ``__icfw_dirty_pages`` bitmap) every page whose bytes changed and few
others, and use the same instructions once the marking's own (counted in the bitmap
memory's last 8 bytes) are taken out.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import decode_uleb128, encode_uleb128
from icframework.replica.execution.dirty_pages import (
    BITMAP_EXPORT,
    COUNTER_BYTES,
    PAGE_SIZE,
    REFUND,
    STORE_WIDTHS,
    STORES,
)
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.wasm_code import decode_locals, instructions
from icframework.replica.execution.wasm_module import MEMORY_EXPORT, load_canister_module
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm
from tests.replica.test_wasm_code import code_bodies

ENGINE = ExecutionEngine()
WASM_PAGES = 4  # 256 KiB: 64 pages of 4 KiB
HEAP = WASM_PAGES * 65536
RUN = "canister_update run"

# WAT store instruction -> (value type, bytes written, lane suffix)
STORE_KINDS: dict[str, tuple[str, int, str]] = {
    "i32.store": ("i32", 4, ""), "i64.store": ("i64", 8, ""), "f32.store": ("f32", 4, ""),
    "f64.store": ("f64", 8, ""), "i32.store8": ("i32", 1, ""), "i32.store16": ("i32", 2, ""),
    "i64.store8": ("i64", 1, ""), "i64.store16": ("i64", 2, ""), "i64.store32": ("i64", 4, ""),
    "v128.store": ("v128", 16, ""), "v128.store8_lane": ("v128", 1, " 15"),
    "v128.store16_lane": ("v128", 2, " 7"), "v128.store32_lane": ("v128", 4, " 3"),
    "v128.store64_lane": ("v128", 8, " 1"),
}


def _value(valtype: str, seed: int) -> str:
    if valtype == "v128":
        return f"(v128.const i64x2 {seed} {seed * 7 + 1})"
    if valtype in ("f32", "f64"):
        bits = "i32" if valtype == "f32" else "i64"
        return f"({valtype}.reinterpret_{bits} ({bits}.const {seed}))"
    return f"({valtype}.const {seed})"


@dataclass(frozen=True)
class Store:
    kind: str
    address: int
    offset: int
    seed: int
    via: str  # "local": address in a local; "computed": the sum of two constants

    def wat(self, index: str) -> str:
        valtype, _, lane = STORE_KINDS[self.kind]
        if self.via == "local":
            address = "(local.get $p)"
            prefix = f"(local.set $p ({index}.const {self.address}))\n"
        else:
            half = self.address // 2
            address = f"({index}.add ({index}.const {half}) ({index}.const {self.address - half}))"
            prefix = ""
        return (f"{prefix}({self.kind} offset={self.offset}{lane} {address} "
                f"{_value(valtype, self.seed)})")

    @property
    def span(self) -> range:
        start = self.address + self.offset
        return range(start, start + STORE_KINDS[self.kind][1])


@dataclass(frozen=True)
class Bulk:
    kind: str  # fill, copy or init
    destination: int
    source: int
    length: int

    def wat(self, index: str) -> str:
        d, n = f"({index}.const {self.destination})", f"({index}.const {self.length})"
        if self.kind == "fill":
            return f"(memory.fill {d} (i32.const {self.source % 256}) {n})"
        if self.kind == "copy":
            return f"(memory.copy {d} ({index}.const {self.source}) {n})"
        return f"(memory.init $data {d} (i32.const {self.source}) (i32.const {self.length}))"

    @property
    def span(self) -> range:
        return range(self.destination, self.destination + self.length)


DATA = bytes(range(1, 256)) * 40  # the passive segment memory.init copies from


def program(operations: list[Store | Bulk], memory64: bool, *, loop: int = 1) -> bytes:
    """A canister module whose ``run`` performs ``operations`` ``loop`` times."""
    index = "i64" if memory64 else "i32"
    body = "\n".join(op.wat(index) for op in operations)
    data = "".join(f"\\{byte:02x}" for byte in DATA)
    return bytes(wasmtime.wat2wasm(f"""
(module
  (memory {index} {WASM_PAGES})
  (data $data "{data}")
  (func (export "{RUN}") (local $p {index}) (local $i i32)
    (loop $again
      {body}
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {loop})))))
  (func (export "canister_update grow") (drop (memory.grow ({index}.const 1)))
    ({index}.store ({index}.const {HEAP + 8}) ({index}.const 1)))
)"""))


@dataclass
class Run:
    memory: bytes
    fuel: int
    marked: set[int]
    overhead: int


def run(wasm: bytes, export: str = RUN) -> Run:
    """Run ``export`` on a fresh instance of ``wasm`` (as installed, or uninstrumented)."""
    store = wasmtime.Store(ENGINE.engine)
    store.set_fuel(10**9)
    module = wasmtime.Module(ENGINE.engine, wasm)
    exports = wasmtime.Linker(ENGINE.engine).instantiate(store, module).exports(store)
    memory = exports[MEMORY_EXPORT] if MEMORY_EXPORT in exports else exports["memory"]
    assert isinstance(memory, wasmtime.Memory)
    before = store.get_fuel()
    func = exports[export]
    assert isinstance(func, wasmtime.Func)
    func(store)
    fuel = before - store.get_fuel()
    marked: set[int] = set()
    overhead = 0
    if BITMAP_EXPORT in exports:
        bitmap = exports[BITMAP_EXPORT]
        assert isinstance(bitmap, wasmtime.Memory)
        size = memory.data_len(store) // PAGE_SIZE + 4
        base = ctypes.addressof(bitmap.data_ptr(store).contents)
        marked = {page for page, mark in enumerate(ctypes.string_at(base, size)) if mark}
        end = base + bitmap.data_len(store)
        overhead = ctypes.c_int64.from_address(end - COUNTER_BYTES).value
    length = memory.data_len(store)
    data = ctypes.string_at(ctypes.addressof(memory.data_ptr(store).contents), length)
    return Run(data, fuel, marked, overhead)


def check(operations: list[Store | Bulk], memory64: bool, loop: int = 1) -> Run:
    """Run ``operations`` both ways and check memory, marks and instruction counts."""
    wasm = program(operations, memory64, loop=loop)
    module = load_canister_module(wasm)
    assert module.dirty_bitmap
    plain = run(_exporting_memory(wasm))
    marked = run(module.wasm)
    assert marked.memory == plain.memory
    # The memory starts zeroed (the data segment is passive).
    assert _changed_pages(marked.memory) <= marked.marked
    # Marks stay near the writes: a store's mark may start a page early (its offset's
    # page plus the address's) and reach two pages past its last byte.
    near = {
        page for op in operations if len(op.span)
        for page in range(op.span[0] // PAGE_SIZE - 1, op.span[-1] // PAGE_SIZE + 3)
    }
    assert marked.marked <= near
    assert marked.fuel - marked.overhead == plain.fuel
    return marked


def _changed_pages(memory: bytes) -> set[int]:
    zero = bytes(PAGE_SIZE)
    return {
        page for page in range(len(memory) // PAGE_SIZE)
        if memory[page * PAGE_SIZE : (page + 1) * PAGE_SIZE] != zero
    }


def _exporting_memory(wasm: bytes) -> bytes:
    """``wasm`` (one memory, no memory export) with ``(export "memory" (memory 0))`` added."""
    out = bytearray(wasm[:8])
    pos = 8
    while pos < len(wasm):
        section = wasm[pos]
        size, body = decode_uleb128(wasm, pos + 1)
        end = body + size
        if section == 7:
            count, entries = decode_uleb128(wasm, body)
            new = encode_uleb128(count + 1) + wasm[entries:end] + b"\x06memory\x02\x00"
            out += b"\x07" + encode_uleb128(len(new)) + new
        else:
            out += wasm[pos:end]
        pos = end
    return bytes(out)


OFFSETS = st.sampled_from([0, 1, 8, 4090, 4095, 4096, 8191, 12288 + 7])


@st.composite
def stores(draw: st.DrawFn) -> Store:
    kind = draw(st.sampled_from(sorted(STORE_KINDS)))
    offset = draw(OFFSETS)
    width = STORE_KINDS[kind][1]
    address = draw(st.integers(0, HEAP - width - offset))
    return Store(kind, address, offset, draw(st.integers(1, 2**31 - 1)),
                 draw(st.sampled_from(["local", "computed"])))


@st.composite
def bulks(draw: st.DrawFn) -> Bulk:
    kind = draw(st.sampled_from(["fill", "copy", "init"]))
    length = draw(st.integers(0, 3 * PAGE_SIZE))
    if kind == "init":
        length = min(length, len(DATA))
        source = draw(st.integers(0, len(DATA) - length))
    else:
        source = draw(st.integers(0, HEAP - length))
    destination = draw(st.integers(0, HEAP - length))
    return Bulk(kind, destination, source, length)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(stores(), stores(), bulks()), min_size=1, max_size=12), st.booleans())
def test_random_writes_are_marked_and_counted_exactly(
    operations: list[Store | Bulk], memory64: bool
) -> None:
    check(operations, memory64)


@pytest.mark.parametrize("memory64", [False, True], ids=["memory32", "memory64"])
def test_every_store_kind_marks_its_pages(memory64: bool) -> None:
    operations: list[Store | Bulk] = []
    for number, kind in enumerate(sorted(STORE_KINDS)):
        for via in ("local", "computed"):
            page = 2 * number + (via == "computed")
            # The last byte of a page, so wide stores straddle into the next one.
            operations.append(Store(kind, page * PAGE_SIZE * 2 + PAGE_SIZE - 1, 0, 99, via))
    for number, kind in enumerate(("fill", "copy", "init")):
        operations.append(Bulk(kind, (60 + number) * PAGE_SIZE - 10, 5, 20))
    result = check(operations, memory64)
    for op in operations:
        for page in {op.span[0] // PAGE_SIZE, op.span[-1] // PAGE_SIZE}:
            assert page in result.marked


def test_stores_through_one_unchanged_local_share_one_mark() -> None:
    wasm = bytes(wasmtime.wat2wasm(f"""
(module
  (memory 1)
  (func (export "{RUN}") (local $p i32)
    (local.set $p (i32.const 4096))
    (i64.store (local.get $p) (i64.const 1))
    (i64.store offset=8 (local.get $p) (i64.const 2))
    (i32.store16 offset=4000 (local.get $p) (i32.const 3))
    (i32.store offset=4096 (local.get $p) (i32.const 4))))
"""))
    instrumented = run(load_canister_module(wasm).wasm)
    plain = run(_exporting_memory(wasm))
    assert instrumented.memory == plain.memory
    # Offsets 0, 8 and 4000 lie in pages 1-2 of the first mark; 4096 needs its own.
    assert instrumented.overhead == 2 * 5 + REFUND
    assert instrumented.marked == {1, 2, 3}
    assert instrumented.fuel - instrumented.overhead == plain.fuel


def test_marks_in_a_loop_are_refunded_every_iteration() -> None:
    operations: list[Store | Bulk] = [Store("i32.store", 100, 4, 3, "local"),
                                      Store("i64.store", 9000, 0, 3, "computed"),
                                      Bulk("fill", 20000, 1, 100)]
    result = check(operations, memory64=False, loop=50)
    assert result.overhead > 50 * (5 + 8 + REFUND)


def test_a_store_into_grown_memory_marks_its_page() -> None:
    wasm = program([], memory64=False)
    grown = run(load_canister_module(wasm).wasm, "canister_update grow")
    assert grown.marked == {HEAP // PAGE_SIZE, HEAP // PAGE_SIZE + 1}
    assert grown.memory[HEAP + 8] == 1


@pytest.mark.parametrize("kind", sorted(STORE_KINDS))
def test_store_widths_match_the_encoded_opcodes(kind: str) -> None:
    valtype, width, lane = STORE_KINDS[kind]
    wasm = bytes(wasmtime.wat2wasm(
        f"(module (memory 1) (func ({kind}{lane} (i32.const 0) {_value(valtype, 1)})))"
    ))
    body = code_bodies(wasm)[0]
    stores = [ins for ins in instructions(body, decode_locals(body, 0)[1], len(body))
              if ins.opcode in STORES]
    assert [STORE_WIDTHS[ins.opcode] for ins in stores] == [width]


@requires_node
@pytest.mark.parametrize("name", ["counter", "stable_blob"])
def test_motoko_modules_are_decoded_and_instrumented(name: str) -> None:
    module = load_canister_module(motoko_wasm(name))
    assert module.dirty_bitmap and module.memory64  # enhanced orthogonal persistence
    ENGINE.compile(module)  # wasmtime validates the instrumented code
