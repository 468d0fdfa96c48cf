"""Decoding of wasm function bodies: the locals header and every instruction's extent.

How it works: `decode_locals` reads a body's local declarations and `scan` walks
its instructions one by one and returns the byte range, opcode and memory argument of
those a pass asks for, so it can copy a body and rewrite single instructions
(`icframework.replica.execution.dirty_pages`). The walk is table-driven: each
opcode maps to the shape of its immediates. It knows the MVP, sign extension,
saturating conversions and bulk memory (``0xFC``), reference types and typed function
references, multi-value block types, tail calls, multi-memory memargs and SIMD with
relaxed SIMD (``0xFD``). Anything else (threads' ``0xFE``, GC's ``0xFB``, exception
handling) raises `UnsupportedInstructionError` rather than guessing at its immediates;
validating the code is left to wasmtime.

`STACK_EFFECTS` gives the operand-stack effect of the plain (non-control, non-call)
instructions, so a pass can trace an operand back to the instruction that pushed it.

Opcodes are ints: the byte for one-byte opcodes, ``prefix << 16 | sub-opcode`` for
prefixed ones (``memory.fill`` is ``0xFC000B``).
"""

from __future__ import annotations

from typing import NamedTuple

from icframework.core import LEB128Error, decode_sleb128, decode_uleb128
from icframework.replica.errors import ReplicaError


class UnsupportedInstructionError(ReplicaError):
    """A function body holds an opcode this decoder does not know (or a truncated one)."""


class MemArg(NamedTuple):
    """A load's or store's memory argument: alignment exponent, memory index, offset (bytes)."""

    align: int
    memory: int
    offset: int


class Instruction(NamedTuple):
    """One decoded instruction: its bytes are ``body[start:end]``."""

    start: int
    end: int
    opcode: int
    memarg: MemArg | None


FC = 0xFC << 16
FD = 0xFD << 16

# Immediate shapes.
_NONE, _U32, _U32X2, _BR_TABLE, _BLOCK, _SLEB, _F32, _F64 = range(8)
_MEMARG, _MEMARG_LANE, _LANE, _BYTES16, _SELECT_T, _HEAPTYPE, _UNKNOWN = range(8, 15)

_ONE_BYTE = [_UNKNOWN] * 256
for _op in (0x00, 0x01, 0x05, 0x0B, 0x0F, 0x1A, 0x1B, 0xD1, 0xD3, 0xD5):
    _ONE_BYTE[_op] = _NONE
for _op in range(0x45, 0xC5):  # numeric (MVP) and sign extension
    _ONE_BYTE[_op] = _NONE
for _op in (0x02, 0x03, 0x04):  # block, loop, if
    _ONE_BYTE[_op] = _BLOCK
for _op in (0x0C, 0x0D, 0x10, 0x12, 0x14, 0x15, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26,
            0x3F, 0x40, 0xD2, 0xD4, 0xD6):
    # br, br_if, call, return_call, call_ref, return_call_ref, local/global/table get/set,
    # memory.size/grow (memory index), ref.func, br_on_null, br_on_non_null
    _ONE_BYTE[_op] = _U32
for _op in (0x11, 0x13):  # call_indirect, return_call_indirect: type, table
    _ONE_BYTE[_op] = _U32X2
for _op in range(0x28, 0x3F):  # loads and stores
    _ONE_BYTE[_op] = _MEMARG
_ONE_BYTE[0x0E] = _BR_TABLE
_ONE_BYTE[0x1C] = _SELECT_T
_ONE_BYTE[0x41] = _SLEB
_ONE_BYTE[0x42] = _SLEB
_ONE_BYTE[0x43] = _F32
_ONE_BYTE[0x44] = _F64
_ONE_BYTE[0xD0] = _HEAPTYPE

# 0xFC: 0-7 saturating truncation, 8 memory.init, 9 data.drop, 10 memory.copy,
# 11 memory.fill, 12 table.init, 13 elem.drop, 14 table.copy, 15-17 table.grow/size/fill.
_FC_SHAPES = {
    **dict.fromkeys(range(8), _NONE), 8: _U32X2, 9: _U32, 10: _U32X2, 11: _U32, 12: _U32X2,
    13: _U32, 14: _U32X2, 15: _U32, 16: _U32, 17: _U32,
}
# 0xFD: loads and v128.store take a memarg, lane accesses a lane byte, v128.const and
# i8x16.shuffle 16 bytes; every other SIMD and relaxed-SIMD opcode has no immediate.
_FD_SHAPES = {
    **dict.fromkeys(range(0x114), _NONE), **dict.fromkeys(range(12), _MEMARG), 12: _BYTES16,
    13: _BYTES16, **dict.fromkeys(range(21, 35), _LANE),
    **dict.fromkeys(range(84, 92), _MEMARG_LANE), 92: _MEMARG, 93: _MEMARG,
}
_PREFIXED = {0xFC: _FC_SHAPES, 0xFD: _FD_SHAPES}

LOCAL_GET, LOCAL_SET, LOCAL_TEE = 0x20, 0x21, 0x22
# Instructions that start, end or leave a straight-line run of code.
CONTROL = frozenset({0x00, 0x02, 0x03, 0x04, 0x05, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x12, 0x13,
                     0x15, 0xD4, 0xD6})


def _stack_effects() -> dict[int, tuple[int, int]]:
    """(values popped, values pushed) of the MVP's plain instructions (no control, no calls)."""
    effects: dict[int, tuple[int, int]] = {
        0x01: (0, 0), 0x1A: (1, 0), 0x1B: (3, 1), 0x1C: (3, 1), LOCAL_GET: (0, 1),
        LOCAL_SET: (1, 0), LOCAL_TEE: (1, 1), 0x23: (0, 1), 0x24: (1, 0), 0x3F: (0, 1),
        0x40: (1, 1), 0x41: (0, 1), 0x42: (0, 1), 0x43: (0, 1), 0x44: (0, 1),
        0x45: (1, 1), 0x50: (1, 1),
    }
    unary = [*range(0x67, 0x6A), *range(0x79, 0x7C), *range(0x8B, 0x92), *range(0x99, 0xA0),
             *range(0xA7, 0xC5), *range(0x28, 0x36), *(FC | sub for sub in range(8))]
    binary = [*range(0x46, 0x50), *range(0x51, 0x67), *range(0x6A, 0x79), *range(0x7C, 0x8B),
              *range(0x92, 0x99), *range(0xA0, 0xA7)]
    effects.update(dict.fromkeys(range(0x36, 0x3F), (2, 0)))  # stores
    effects.update(dict.fromkeys((FC | 8, FC | 10, FC | 11), (3, 0)))  # memory.init/copy/fill
    effects.update(dict.fromkeys(unary, (1, 1)))
    effects.update(dict.fromkeys(binary, (2, 1)))
    return effects


STACK_EFFECTS = _stack_effects()

# One-byte value types: numeric, v128, funcref, externref and the other abstract
# reference shorthands of typed references; 0x63/0x64 (ref null ht / ref ht) take a
# heap type.
_SHORT_VALTYPES = frozenset({0x7F, 0x7E, 0x7D, 0x7C, 0x7B, 0x70, 0x6F, 0x6E, 0x6D, 0x6C, 0x6B,
                             0x6A, 0x69, 0x71, 0x72, 0x73, 0x74})
_REF_VALTYPES = (0x63, 0x64)


def _fail(body: bytes, pos: int, reason: str) -> UnsupportedInstructionError:
    return UnsupportedInstructionError(f"function body byte {pos}: {reason}")


def _uleb(body: bytes, pos: int) -> tuple[int, int]:
    byte = body[pos] if pos < len(body) else -1
    if 0 <= byte < 0x80:
        return byte, pos + 1
    try:
        return decode_uleb128(body, pos)
    except LEB128Error as exc:
        raise _fail(body, pos, str(exc)) from None


def _sleb(body: bytes, pos: int) -> int:
    try:
        return decode_sleb128(body, pos)[1]
    except LEB128Error as exc:
        raise _fail(body, pos, str(exc)) from None


def skip_valtype(body: bytes, pos: int) -> int:
    """The position after the value type at ``pos``."""
    if pos >= len(body):
        raise _fail(body, pos, "a value type is cut off")
    byte = body[pos]
    if byte in _SHORT_VALTYPES:
        return pos + 1
    if byte in _REF_VALTYPES:
        return _sleb(body, pos + 1)
    raise _fail(body, pos, f"unknown value type 0x{byte:02x}")


def decode_locals(body: bytes, pos: int) -> tuple[int, int]:
    """(number of locals declared, position of the first instruction) of a body at ``pos``."""
    groups, pos = _uleb(body, pos)
    total = 0
    for _ in range(groups):
        count, pos = _uleb(body, pos)
        total += count
        pos = skip_valtype(body, pos)
    return total, pos


def _memarg(body: bytes, pos: int) -> tuple[MemArg, int]:
    flags, pos = _uleb(body, pos)
    memory = 0
    if flags & 0x40:
        memory, pos = _uleb(body, pos)
    offset, pos = _uleb(body, pos)
    return MemArg(flags & ~0x40, memory, offset), pos


def instructions(body: bytes, pos: int, end: int) -> list[Instruction]:
    """Every instruction of ``body[pos:end]`` (a function's code after its locals).

    Raises `UnsupportedInstructionError` naming the byte offset and opcode of the first
    instruction it cannot decode, or if the last one runs past ``end``.
    """
    return scan(body, pos, end, None)


def scan(body: bytes, pos: int, end: int, wanted: frozenset[int] | None) -> list[Instruction]:
    """The instructions of ``body[pos:end]`` whose opcode is in ``wanted`` (all if None).

    Every instruction is decoded (to find where the next one starts); only the wanted
    ones are returned, which keeps a pass over a large module quick (about 1 µs per
    instruction). Raises `UnsupportedInstructionError` as `instructions` does.
    """
    one_byte = _ONE_BYTE
    # tuple.__new__ skips the named tuples' Python-level constructors (a third of the time).
    new_tuple = tuple.__new__
    found: list[Instruction] = []
    start = pos
    try:
        while pos < end:
            start = pos
            op = body[pos]
            pos += 1
            shape = one_byte[op]
            if shape == _UNKNOWN:
                shapes = _PREFIXED.get(op)
                if shapes is None:
                    raise _fail(body, start, f"unsupported opcode 0x{op:02x}")
                sub, pos = _uleb(body, pos)
                known = shapes.get(sub)
                if known is None:
                    raise _fail(body, start, f"unsupported opcode 0x{op:02x} {sub}")
                shape = known
                op = op << 16 | sub
            memarg = None
            if shape == _NONE:
                pass
            elif shape == _U32:
                if body[pos] < 0x80:
                    pos += 1
                else:
                    pos = _uleb(body, pos)[1]
            elif shape == _MEMARG:
                flags = body[pos]
                offset = body[pos + 1]
                if flags < 0x40 and offset < 0x80:  # the usual one-byte alignment and offset
                    memarg = new_tuple(MemArg, (flags, 0, offset))
                    pos += 2
                else:
                    memarg, pos = _memarg(body, pos)
            elif shape == _SLEB:
                if body[pos] < 0x80:
                    pos += 1
                else:
                    pos = _sleb(body, pos)
            elif shape == _BLOCK:
                byte = body[pos] if pos < end else -1
                if byte == 0x40 or byte in _SHORT_VALTYPES:
                    pos += 1
                elif byte in _REF_VALTYPES:
                    pos = _sleb(body, pos + 1)
                else:
                    pos = _sleb(body, pos)  # a type index (s33)
            elif shape == _U32X2:
                pos = _uleb(body, _uleb(body, pos)[1])[1]
            elif shape == _BR_TABLE:
                count, pos = _uleb(body, pos)
                for _ in range(count + 1):
                    pos = _uleb(body, pos)[1]
            elif shape == _F32:
                pos += 4
            elif shape == _F64:
                pos += 8
            elif shape == _MEMARG_LANE:
                memarg, pos = _memarg(body, pos)
                pos += 1
            elif shape == _LANE:
                pos += 1
            elif shape == _BYTES16:
                pos += 16
            elif shape == _SELECT_T:
                count, pos = _uleb(body, pos)
                for _ in range(count):
                    pos = skip_valtype(body, pos)
            elif shape == _HEAPTYPE:
                pos = _sleb(body, pos)
            if pos > end:
                raise _fail(body, start, f"opcode 0x{op:02x} runs past the end of its body")
            if wanted is None or op in wanted:
                found.append(new_tuple(Instruction, (start, pos, op, memarg)))
    except IndexError:
        raise _fail(body, start, "an instruction is cut off by the end of the body") from None
    return found
