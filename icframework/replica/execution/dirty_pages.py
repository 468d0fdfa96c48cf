"""Dirty-page instrumentation: every write to linear memory marks its 4 KiB page in a bitmap.

How it works: at load time (`wasm_module.load_canister_module`; the engine caches the
compiled result by hash, so this is paid once per module) every function body is
rewritten so that each store to memory 0 also writes ``1`` into a *dirty bitmap*, an
extra memory appended to the module (one byte per 4 KiB page, exported as
`BITMAP_EXPORT`). After a message the sandbox reads only the bitmap bytes that cover
the heap (``bytes.find``: ~100 KB at a 380 MiB heap), copies exactly the marked pages
into the committed image (commit) or back from it (rollback, and after every query),
and clears those bytes, so a message costs O(pages written), not O(heap).

A store ``T.store offset=o`` of ``w`` bytes whose address operand was pushed by
``local.get $p`` (or ``local.tee $p``) with nothing setting ``$p`` in between (traced
back through plain instructions and direct calls; three quarters of a Motoko module's
stores) becomes::

    T.store offset=o                                  ;; unchanged
    local.get $p  i32.const 12  i32.shr_u             ;; page b of the address
    i32.const 0x0101  i32.store16 $bitmap offset=(o >> 12)   ;; <mark> of 2 pages

and any other store keeps its operands in scratch locals first::

    local.set $v  local.tee $a  local.get $v  T.store offset=o
    local.get $a  i32.const 12  i32.shr_u  <mark>

(``i64`` address arithmetic for a 64-bit memory; the bitmap then is 64-bit too). The
mark comes after the store, so only stores that succeeded mark anything and the
bitmap index is in bounds. Adding ``o >> 12`` in the bitmap store's own offset instead
of adding ``o`` to the address saves instructions: the bytes lie in pages
``b + (o >> 12)`` to ``b + ((o + w + 4094) >> 12)``, one to three pages, marked by an
8-, 16- or 32-bit store of ``0x01`` bytes (the last marks a fourth page). Extra marks
are harmless: the sandbox compares each candidate page with the image before
counting it as dirty. A store whose pages an earlier mark from the same unchanged
local already covers, in the same straight-line run of code (no block, branch or end
in between), gets no mark at all.

``memory.fill``, ``memory.copy`` and ``memory.init`` keep their destination and length
in locals and then call a generated function that sets the bitmap bytes of the
destination's pages with one ``memory.fill``. ``memory.grow`` needs nothing: the
sandbox treats pages past the committed size as dirty. Writes by the host (System API
copies into the heap) are marked by the sandbox.

Cost and compensation: the marking runs 5 instructions per store through a local (0
when deduplicated), 8 per other store, 6 per straight-line run that marks (the refund
below), and for a bulk write about 45 plus one per marked page (wasmtime charges
``memory.fill`` per byte). Wasmtime fuel counts them all, so every straight-line run
that marks adds its static count (the refund's own 6 included) to a `MarkingCounter`
(an i64 in the bitmap memory's last 8 bytes) at the run's end, and the marking
function adds its own. The sandbox subtracts the counter from the fuel used, so a
message's instruction count, its cycles and its limit are those of the code as
written (the tests check the counts equal the uninstrumented module's), and gives an
instrumented module twice its instruction limit in fuel as room for the marking. A
run cut short by a trap keeps its unrefunded instructions, which only raises the
count of a message that failed anyway, and ``ic0.performance_counter`` may count the
few of the runs still in progress. The price is wall time: the marking burns 0.3%
more fuel than the message itself for a Motoko counter's ``inc`` and 20% for a Motoko
update that builds and writes 1 MiB.

Only modules with exactly one memory (all canister toolchains emit that) are
instrumented; `instrument_code` raises `UnsupportedInstructionError` for a body it
cannot decode, and the module loader then keeps the sandbox's whole-heap comparison.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from icframework.core import decode_uleb128, encode_sleb128, encode_uleb128
from icframework.replica.execution.wasm_code import (
    CONTROL,
    FC,
    FD,
    LOCAL_GET,
    LOCAL_SET,
    LOCAL_TEE,
    STACK_EFFECTS,
    Instruction,
    UnsupportedInstructionError,
    decode_locals,
    scan,
)

BITMAP_EXPORT = "__icfw_dirty_pages"
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
WASM_PAGE = 65536
# Bitmap bytes written past a store's first candidate page (see the module docstring).
MARK_SPAN = 4
MAX_MEMORY32_PAGES = 1 << 16
# A 64-bit memory without a smaller maximum is capped at 64 GiB (the IC allows far less),
# so its bitmap (16 MiB, untouched pages cost no RAM) covers every page it can have.
MAX_MEMORY64_PAGES = 1 << 20
COUNTER_BYTES = 8

_I32, _I64, _F32, _F64, _V128 = 0x7F, 0x7E, 0x7D, 0x7C, 0x7B
# Store opcode -> type of the stored value.
STORES: dict[int, int] = {
    0x36: _I32, 0x37: _I64, 0x38: _F32, 0x39: _F64, 0x3A: _I32, 0x3B: _I32, 0x3C: _I64,
    0x3D: _I64, 0x3E: _I64, FD | 11: _V128, FD | 88: _V128, FD | 89: _V128, FD | 90: _V128,
    FD | 91: _V128,
}
MEMORY_INIT = FC | 8
MEMORY_COPY = FC | 10
MEMORY_FILL = FC | 11
BULK_WRITES = frozenset({MEMORY_INIT, MEMORY_COPY, MEMORY_FILL})
_WRITES = frozenset(STORES) | BULK_WRITES

_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE, _CALL = LOCAL_GET, LOCAL_SET, LOCAL_TEE, 0x10
# Store opcode -> bytes written.
STORE_WIDTHS: dict[int, int] = {
    0x36: 4, 0x37: 8, 0x38: 4, 0x39: 8, 0x3A: 1, 0x3B: 2, 0x3C: 1, 0x3D: 2, 0x3E: 4,
    FD | 11: 16, FD | 88: 1, FD | 89: 2, FD | 90: 4, FD | 91: 8,
}
# The bitmap store marking 1, 2 or 3 pages (the last as 4 bytes): value, opcode,
# memarg flags (alignment 1, memory index follows).
_MARKS = {
    1: b"\x41\x01\x3a\x40",
    2: b"\x41" + encode_sleb128(0x0101) + b"\x3b\x40",
    3: b"\x41" + encode_sleb128(0x01010101) + b"\x36\x40",
}
_LOCAL_OPS = frozenset({0x20, 0x21, 0x22})
# How far back `_address_local` looks for the instruction that pushed an address.
_MAX_WALK = 64
# Instructions added per mark: from a local (get, const, shr, const, store), with
# scratch locals (3 more), around a bulk write (5 local operations, 2 gets, the call),
# (the refund is `MarkingCounter.add`).
_LOCAL_MARK = 5
_SCRATCH_MARK = 8
_BULK_MARK = 8
_I64_EXTEND_I32_U, _I32_WRAP_I64 = 0xAD, 0xA7


def bitmap_pages(heap_max_pages: int) -> int:
    """Wasm pages of a bitmap covering a heap of ``heap_max_pages`` 64 KiB pages.

    Its last 8 bytes are the `MarkingCounter`, past every page's byte.
    """
    entries = heap_max_pages * (WASM_PAGE // PAGE_SIZE) + MARK_SPAN + COUNTER_BYTES
    return -(-entries // WASM_PAGE)


def mark_function_type(memory64: bool) -> bytes:
    """The type-section entry of the range-marking function: ``(addr, length) -> ()``."""
    address = _I64 if memory64 else _I32
    return bytes((0x60, 2, address, address, 0))


@dataclass(frozen=True)
class MarkingCounter:
    """Where the marking counts its own instructions: an i64 in the bitmap memory's last
    8 bytes (the sandbox reads and clears it with plain memory access, far cheaper than
    a wasmtime global from the host)."""

    memory64: bool
    bitmap: int
    address: int

    def add(self, instructions: int) -> bytes:
        """Code adding ``instructions`` to the counter (`REFUND` instructions itself)."""
        return self.load() + b"\x42" + encode_sleb128(instructions) + b"\x7c" + self.store()

    def load(self) -> bytes:
        """Code pushing the counter's address twice and loading it (3 instructions)."""
        zero = b"\x42\x00" if self.memory64 else b"\x41\x00"
        return zero + zero + b"\x29" + self._memarg()

    def store(self) -> bytes:
        """Code storing the i64 on top of the stack into the counter (1 instruction)."""
        return b"\x37" + self._memarg()

    def _memarg(self) -> bytes:
        return b"\x43" + encode_uleb128(self.bitmap) + encode_uleb128(self.address)


REFUND = 6
# Fuel `mark_function_body` burns up to its early exit: the refund, 3 instructions and
# 1 that wasmtime charges for entering a function (measured by the tests).
_MARK_ENTRY = REFUND + 3 + 1


def mark_function_body(memory64: bool, counter: MarkingCounter) -> bytes:
    """Code of ``mark(dst, n)``: set the bitmap bytes of pages ``dst .. dst+n-1`` (if n > 0).

    It adds the fuel it burns to ``counter`` itself: wasmtime charges ``memory.fill``
    one unit per byte besides the instruction, so the refund after the fill adds the
    page count it computed to its static cost.
    """
    if memory64:
        const, add, sub, shr, eqz, widen = 0x42, 0x7C, 0x7D, 0x88, 0x50, b""
    else:
        const, add, sub, shr, eqz, widen = 0x41, 0x6A, 0x6B, 0x76, 0x45, b"\xad"
    address = _I64 if memory64 else _I32
    count_pages = (
        bytes((_LOCAL_GET, 0, const, PAGE_SHIFT, shr, _LOCAL_TEE, 2))  # first page
        + b"\x41\x01"  # value 1
        + bytes((_LOCAL_GET, 0, _LOCAL_GET, 1, add, const, 1, sub, const, PAGE_SHIFT, shr))
        + bytes((_LOCAL_GET, 2, sub, const, 1, add, _LOCAL_TEE, 1))  # last - first + 1
        + b"\xfc\x0b" + encode_uleb128(counter.bitmap)
    )
    # counter += pages + static: load (3), local.get, widen, add, const, add, store (1).
    static = 4 + 1 + 7 + 5 + 1 + 3 + 1 + len(widen) + 3 + 1
    refund_tail = (
        counter.load() + bytes((_LOCAL_GET, 1)) + widen + b"\x7c"
        + b"\x42" + encode_sleb128(static) + b"\x7c" + counter.store()
    )
    code = (
        b"\x01\x01" + bytes((address,))  # one local: the first page
        + counter.add(_MARK_ENTRY)
        + bytes((_LOCAL_GET, 1, eqz, 0x0D, 0))  # br_if 0 when n = 0
        + count_pages
        + refund_tail
        + b"\x0b"
    )
    return encode_uleb128(len(code)) + code


class _Locals:
    """Scratch locals of one function, allocated on first use after its own locals."""

    def __init__(self, first: int) -> None:
        self.next = first
        self.by_role: dict[str, int] = {}
        self.types: list[int] = []

    def get(self, role: str, valtype: int) -> bytes:
        index = self.by_role.get(role)
        if index is None:
            index = self.by_role[role] = self.next
            self.next += 1
            self.types.append(valtype)
        return encode_uleb128(index)


def _mark_span(offset: int, width: int) -> tuple[int, int]:
    """(first, count) of the pages a ``width``-byte store at ``a + offset`` may touch,
    relative to page ``a >> 12``: with ``a = 4096 b + r`` (``r`` < 4096) its bytes lie
    in pages ``b + (offset >> 12)`` to ``b + ((offset + width + 4094) >> 12)``."""
    first = offset >> PAGE_SHIFT
    return first, ((offset + width + PAGE_SIZE - 2) >> PAGE_SHIFT) - first + 1


def _address_local(
    body: bytes, code: list[Instruction], store: int, calls: tuple[tuple[int, int], ...]
) -> int | None:
    """The local whose value is the address of the store ``code[store]``, if that is plain.

    Walks back from the store through plain instructions (`STACK_EFFECTS`) to the one
    that pushed the address operand; if that is ``local.get``/``local.tee`` of a local
    that nothing in between sets, the address is that local's value at the store.
    ``calls[f]`` is function ``f``'s (parameter count, result count), for direct calls.
    None when the walk meets control flow or an instruction of unknown effect.
    """
    needed = 2  # the address is the second operand from the top
    written: set[int] = set()
    for index in range(store - 1, max(store - _MAX_WALK, -1), -1):
        ins = code[index]
        effect = STACK_EFFECTS.get(ins.opcode)
        if effect is None:
            if ins.opcode != _CALL:
                return None
            function = decode_uleb128(body, ins.start + 1)[0]
            if function >= len(calls):
                return None
            effect = calls[function]
        pops, pushes = effect
        local = decode_uleb128(body, ins.start + 1)[0] if ins.opcode in _LOCAL_OPS else -1
        if needed <= pushes:
            if ins.opcode in (LOCAL_GET, LOCAL_TEE) and local not in written:
                return local
            return None
        if ins.opcode in (LOCAL_SET, LOCAL_TEE):
            written.add(local)
        needed += pops - pushes
    return None


def instrument_body(
    body: bytes, params: int, *, memory64: bool, bitmap: int, mark_function: int,
    counter: MarkingCounter, calls: tuple[tuple[int, int], ...] = (),
) -> bytes:
    """One function body (without its size prefix) with its memory writes marking pages.

    ``params`` is the function's parameter count (locals are numbered after them),
    ``bitmap`` the bitmap's memory index, ``mark_function`` the index of the function
    built from `mark_function_body`, ``counter`` where added instructions are counted,
    ``calls`` every function's (parameter count, result count). Raises
    `UnsupportedInstructionError`.

    A store whose address is a local's value (`_address_local`; most stores compiled
    code emits) is left as it is and followed by the mark computed from that local (5
    instructions); a store whose pages a previous mark in the same straight-line run
    already covered (same local, not set since) gets no mark at all. Other stores
    keep their operands in scratch locals (8 instructions).
    """
    declared, code_start = decode_locals(body, 0)
    if not scan(body, code_start, len(body), _WRITES):
        return body
    code = scan(body, code_start, len(body), None)
    address = _I64 if memory64 else _I32
    const, shr = (b"\x42", b"\x88") if memory64 else (b"\x41", b"\x76")
    page_of = const + bytes((PAGE_SHIFT,)) + shr
    locals_ = _Locals(params + declared)
    bitmap_index = encode_uleb128(bitmap)
    out = bytearray()
    copied = code_start
    # Marks made in the current straight-line run: local -> page spans (first, count).
    marked: dict[int, list[tuple[int, int]]] = {}
    added = 0  # instructions added to the current run, refunded at its end
    for position, ins in enumerate(code):
        opcode = ins.opcode
        if opcode in CONTROL:
            marked.clear()
            if added:
                out += body[copied : ins.start] + counter.add(added + REFUND)
                copied = ins.start
                added = 0
            continue
        if opcode in (LOCAL_SET, LOCAL_TEE):
            marked.pop(decode_uleb128(body, ins.start + 1)[0], None)
            continue
        if opcode not in _WRITES:
            continue
        out += body[copied : ins.start]
        original = body[ins.start : ins.end]
        copied = ins.end
        valtype = STORES.get(opcode)
        if valtype is not None:
            assert ins.memarg is not None
            first, count = _mark_span(ins.memarg.offset, STORE_WIDTHS[opcode])
            base = _address_local(body, code, position, calls)
            if base is not None:
                spans = marked.setdefault(base, [])
                if any(f <= first and first + count <= f + c for f, c in spans):
                    out += original
                    continue
                spans.append((first, count))
                out += original + bytes((_LOCAL_GET,)) + encode_uleb128(base)
                added += _LOCAL_MARK
            else:
                a = locals_.get("address", address)
                v = locals_.get(f"value {valtype}", valtype)
                out += bytes((_LOCAL_SET,)) + v + bytes((_LOCAL_TEE,)) + a
                out += bytes((_LOCAL_GET,)) + v + original + bytes((_LOCAL_GET,)) + a
                added += _SCRATCH_MARK
            out += page_of + _MARKS[count] + bitmap_index + encode_uleb128(first)
            continue
        a = locals_.get("address", address)
        n = locals_.get("length", address)
        # The middle operand: fill's byte value and init's source offset are i32,
        # copy's source an address.
        middle = address if opcode == MEMORY_COPY else _I32
        s = locals_.get(f"value {middle}", middle)
        widen = opcode == MEMORY_INIT and memory64
        added += _BULK_MARK + 2 * widen
        if widen:
            out.append(_I64_EXTEND_I32_U)
        out += bytes((_LOCAL_SET,)) + n + bytes((_LOCAL_SET,)) + s + bytes((_LOCAL_TEE,)) + a
        out += bytes((_LOCAL_GET,)) + s + bytes((_LOCAL_GET,)) + n
        if widen:
            out.append(_I32_WRAP_I64)
        out += original
        out += bytes((_LOCAL_GET,)) + a + bytes((_LOCAL_GET,)) + n
        out += bytes((_CALL,)) + encode_uleb128(mark_function)
    # The body's last instruction is its final ``end``, which flushed the last refund.
    out += body[copied:]
    groups, groups_end = decode_uleb128(body, 0)
    header = encode_uleb128(groups + len(locals_.types)) + body[groups_end:code_start]
    header += b"".join(b"\x01" + bytes((valtype,)) for valtype in locals_.types)
    return header + bytes(out)


@functools.lru_cache(maxsize=16)
def instrument_code(
    entries: bytes, count: int, calls: tuple[tuple[int, int], ...], *, memory64: bool,
    bitmap: int, mark_function: int, counter: MarkingCounter,
) -> bytes:
    """A code section's entries (``count`` size-prefixed bodies) instrumented one by one.

    ``calls[f]`` is function ``f``'s (parameter count, result count), imports first;
    the code section holds the functions after the imports. Raises
    `UnsupportedInstructionError` if any body cannot be decoded. The last results are
    cached: decoding costs about 1 µs per instruction (~0.1 s for a 250 KB Motoko
    module), and a replica loads the same module for every canister and restart.
    """
    out = bytearray()
    pos = 0
    for index in range(count):
        size, start = decode_uleb128(entries, pos)
        body = entries[start : start + size]
        if len(body) != size:
            raise UnsupportedInstructionError(f"function body {index} is cut off")
        new = instrument_body(
            body, calls[len(calls) - count + index][0], memory64=memory64, bitmap=bitmap,
            mark_function=mark_function, counter=counter, calls=calls,
        )
        out += encode_uleb128(len(new)) + new
        pos = start + size
    return bytes(out)

