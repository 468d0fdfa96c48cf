"""Dirty-page instrumentation: every write to linear memory marks its 4 KiB page in a bitmap.

How it works: at load time (`wasm_module.load_canister_module`; the engine caches the
compiled result by hash, so this is paid once per module) every function body is
rewritten so that each store to memory 0 also writes ``1`` into a *dirty bitmap*, an
extra memory appended to the module (one byte per 4 KiB page, exported as
`BITMAP_EXPORT`). After a message the sandbox reads only the bitmap bytes that cover
the heap (``bytes.find``: ~100 KB at a 380 MiB heap), copies exactly the marked pages
into the committed image (commit) or back from it (rollback, and after every query),
and clears those bytes, so a message costs O(pages written), not O(heap).

A store ``<addr> <value> T.store offset=o`` becomes::

    local.set $v  local.tee $a  local.get $v  T.store offset=o      ;; the original
    local.get $a  i32.const 12  i32.shr_u                           ;; page of addr
    i32.const 0x0101  i32.store16 $bitmap offset=0                  ;; if o = 0
    i32.const 0x01010101  i32.store $bitmap offset=(o >> 12)        ;; if o > 0

(``i64`` address arithmetic for a 64-bit memory; the bitmap then is 64-bit too). The
mark comes after the store, so only stores that succeeded mark anything and the
bitmap index is in bounds. Adding ``o >> 12`` in the bitmap store's own offset instead
of adding ``o`` to the address saves two instructions: the stored bytes (up to 16)
start on page ``(a >> 12) + (o >> 12)`` or the next and end at most two pages further,
so marking 2 (no offset) or 4 pages covers them. Extra marks are harmless: the sandbox
compares each candidate page with the image before counting it as dirty.

``memory.fill``, ``memory.copy`` and ``memory.init`` keep their destination and length
in locals and then call a generated function that ``memory.fill``\\ s the bitmap over
the destination's pages. ``memory.grow`` needs nothing: the sandbox treats pages past
the committed size as dirty. Writes by the host (System API copies into the heap)
are marked by the sandbox.

Cost: a store executes 8 more instructions (each counts as one unit of wasmtime fuel,
so a message's instruction count, and the cycles charged for it, rise by 8 per store
executed); a bulk-memory write 6 more plus the marking call (about 20). This is not
compensated: the IC's own instrumentation charges for its bookkeeping too, and a
per-store refund would need a counter that costs as much as it refunds.

Only modules with exactly one memory (all canister toolchains emit that) are
instrumented; `instrument_code` raises `UnsupportedInstructionError` for a body it
cannot decode, and the module loader then keeps the sandbox's whole-heap comparison.
"""

from __future__ import annotations

from icframework.core import decode_uleb128, encode_sleb128, encode_uleb128
from icframework.replica.execution.wasm_code import (
    FC,
    FD,
    UnsupportedInstructionError,
    decode_locals,
    instructions,
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

_LOCAL_GET, _LOCAL_SET, _LOCAL_TEE, _CALL = 0x20, 0x21, 0x22, 0x10
_I32_STORE, _I32_STORE16 = 0x36, 0x3B
_I64_EXTEND_I32_U, _I32_WRAP_I64 = 0xAD, 0xA7
_MARK_TWO = encode_sleb128(0x0101)
_MARK_FOUR = encode_sleb128(0x01010101)


def bitmap_pages(heap_max_pages: int) -> int:
    """Wasm pages of a bitmap covering a heap of ``heap_max_pages`` 64 KiB pages."""
    entries = heap_max_pages * (WASM_PAGE // PAGE_SIZE) + MARK_SPAN
    return -(-entries // WASM_PAGE)


def mark_function_type(memory64: bool) -> bytes:
    """The type-section entry of the range-marking function: ``(addr, length) -> ()``."""
    address = _I64 if memory64 else _I32
    return bytes((0x60, 2, address, address, 0))


def mark_function_body(memory64: bool, bitmap: int) -> bytes:
    """Code of ``mark(dst, n)``: set the bitmap bytes of pages ``dst .. dst+n-1`` (if n > 0)."""
    if memory64:
        const, add, sub, shr, eqz = 0x42, 0x7C, 0x7D, 0x88, 0x50
    else:
        const, add, sub, shr, eqz = 0x41, 0x6A, 0x6B, 0x76, 0x45
    first = bytes((_LOCAL_GET, 0, const, PAGE_SHIFT, shr))
    code = (
        b"\x00"  # no locals
        + bytes((_LOCAL_GET, 1, eqz, 0x0D, 0))  # br_if 0 when n = 0
        + first + b"\x41\x01"  # bitmap destination, value 1
        + bytes((_LOCAL_GET, 0, _LOCAL_GET, 1, add, const, 1, sub, const, PAGE_SHIFT, shr))
        + first + bytes((sub, const, 1, add))  # last page - first page + 1
        + b"\xfc\x0b" + encode_uleb128(bitmap)
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


def instrument_body(
    body: bytes, params: int, *, memory64: bool, bitmap: int, mark_function: int
) -> bytes:
    """One function body (without its size prefix) with its memory writes marking pages.

    ``params`` is the function's parameter count (locals are numbered after them),
    ``bitmap`` the bitmap's memory index, ``mark_function`` the index of the function
    built from `mark_function_body`. Raises `UnsupportedInstructionError`.
    """
    declared, code_start = decode_locals(body, 0)
    sites = [
        ins for ins in instructions(body, code_start, len(body))
        if ins.opcode in STORES or ins.opcode in BULK_WRITES
    ]
    if not sites:
        return body
    address = _I64 if memory64 else _I32
    const, shr = (b"\x42", b"\x88") if memory64 else (b"\x41", b"\x76")
    page_of = const + bytes((PAGE_SHIFT,)) + shr
    locals_ = _Locals(params + declared)
    out = bytearray()
    copied = code_start
    for ins in sites:
        out += body[copied : ins.start]
        original = body[ins.start : ins.end]
        copied = ins.end
        a = locals_.get("address", address)
        valtype = STORES.get(ins.opcode)
        if valtype is not None:
            assert ins.memarg is not None
            v = locals_.get(f"value {valtype}", valtype)
            out += bytes((_LOCAL_SET,)) + v + bytes((_LOCAL_TEE,)) + a + bytes((_LOCAL_GET,)) + v
            out += original
            out += bytes((_LOCAL_GET,)) + a + page_of
            bitmap_offset = ins.memarg.offset >> PAGE_SHIFT
            if ins.memarg.offset == 0:
                out += b"\x41" + _MARK_TWO + bytes((_I32_STORE16, 0x40))
            else:
                out += b"\x41" + _MARK_FOUR + bytes((_I32_STORE, 0x40))
            out += encode_uleb128(bitmap) + encode_uleb128(bitmap_offset)
            continue
        n = locals_.get("length", address)
        # The middle operand: fill's byte value and init's source offset are i32,
        # copy's source an address.
        middle = address if ins.opcode == MEMORY_COPY else _I32
        s = locals_.get(f"value {middle}", middle)
        widen = ins.opcode == MEMORY_INIT and memory64
        if widen:
            out.append(_I64_EXTEND_I32_U)
        out += bytes((_LOCAL_SET,)) + n + bytes((_LOCAL_SET,)) + s + bytes((_LOCAL_TEE,)) + a
        out += bytes((_LOCAL_GET,)) + s + bytes((_LOCAL_GET,)) + n
        if widen:
            out.append(_I32_WRAP_I64)
        out += original
        out += bytes((_LOCAL_GET,)) + a + bytes((_LOCAL_GET,)) + n
        out += bytes((_CALL,)) + encode_uleb128(mark_function)
    out += body[copied:]
    groups, groups_end = decode_uleb128(body, 0)
    header = encode_uleb128(groups + len(locals_.types)) + body[groups_end:code_start]
    header += b"".join(b"\x01" + bytes((valtype,)) for valtype in locals_.types)
    return header + bytes(out)


def instrument_code(
    entries: bytes, count: int, param_counts: list[int], *, memory64: bool, bitmap: int,
    mark_function: int,
) -> bytes:
    """A code section's entries (``count`` size-prefixed bodies) instrumented one by one.

    ``param_counts[i]`` is the parameter count of the i-th defined function. Raises
    `UnsupportedInstructionError` if any body cannot be decoded.
    """
    out = bytearray()
    pos = 0
    for index in range(count):
        size, start = decode_uleb128(entries, pos)
        body = entries[start : start + size]
        if len(body) != size:
            raise UnsupportedInstructionError(f"function body {index} is cut off")
        new = instrument_body(
            body, param_counts[index], memory64=memory64, bitmap=bitmap,
            mark_function=mark_function,
        )
        out += encode_uleb128(len(new)) + new
        pos = start + size
    return bytes(out)

