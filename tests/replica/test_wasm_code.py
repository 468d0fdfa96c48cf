"""Wasm code decoding: every opcode class's immediates, unknown opcodes, real modules."""

from __future__ import annotations

import itertools

import pytest
import wasmtime
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import decode_uleb128
from icframework.replica.execution.wasm_code import (
    FC,
    FD,
    Instruction,
    MemArg,
    UnsupportedInstructionError,
    decode_locals,
    instructions,
)
from tests.replica.corpus import wat_wasm

# (encoding, opcode, memarg) of one instruction per immediate shape and opcode class.
TABLE: list[tuple[str, int, MemArg | None]] = [
    ("00", 0x00, None),  # unreachable
    ("01", 0x01, None),  # nop
    ("0240", 0x02, None),  # block (empty type)
    ("037f", 0x03, None),  # loop (result i32)
    ("047b", 0x04, None),  # if (result v128)
    ("0205", 0x02, None),  # block (type index 5: multi-value)
    ("02e407", 0x02, None),  # block (type index 996, two LEB bytes)
    ("02636f", 0x02, None),  # block (result (ref null extern))
    ("05", 0x05, None),  # else
    ("0b", 0x0B, None),  # end
    ("0c03", 0x0C, None),  # br 3
    ("0d8001", 0x0D, None),  # br_if 128
    ("0e03000102ff01", 0x0E, None),  # br_table 0 1 2 default 255
    ("0f", 0x0F, None),  # return
    ("10e807", 0x10, None),  # call 1000
    ("110200", 0x11, None),  # call_indirect type 2 table 0
    ("120a", 0x12, None),  # return_call
    ("130301", 0x13, None),  # return_call_indirect type 3 table 1
    ("1404", 0x14, None),  # call_ref
    ("1504", 0x15, None),  # return_call_ref
    ("1a", 0x1A, None),  # drop
    ("1b", 0x1B, None),  # select
    ("1c017f", 0x1C, None),  # select (result i32)
    ("1c02646f70", 0x1C, None),  # select with (ref extern) and funcref
    ("2005", 0x20, None),  # local.get
    ("21ff7f", 0x21, None),  # local.set 16383
    ("2200", 0x22, None),  # local.tee
    ("2301", 0x23, None),  # global.get
    ("2401", 0x24, None),  # global.set
    ("2500", 0x25, None),  # table.get
    ("2600", 0x26, None),  # table.set
    ("280210", 0x28, MemArg(2, 0, 16)),  # i32.load align=4 offset=16
    ("2903ffff03", 0x29, MemArg(3, 0, 65535)),  # i64.load offset=65535
    ("3602808080800f", 0x36, MemArg(2, 0, 0xF0000000)),  # i32.store, large offset
    ("3700" + "00", 0x37, MemArg(0, 0, 0)),  # i64.store
    ("3a400300", 0x3A, MemArg(0, 3, 0)),  # i32.store8 to memory 3 (multi-memory)
    ("3e42010c", 0x3E, MemArg(2, 1, 12)),  # i64.store32 memory 1 offset 12
    ("3f00", 0x3F, None),  # memory.size
    ("4000", 0x40, None),  # memory.grow
    ("417f", 0x41, None),  # i32.const -1
    ("41808080807f", 0x41, None),  # i32.const -2^31 (5 bytes)
    ("42ffffffffffffffff7f", 0x42, None),  # i64.const -1 (10 bytes)
    ("430000803f", 0x43, None),  # f32.const 1.0
    ("44000000000000f03f", 0x44, None),  # f64.const 1.0
    ("6a", 0x6A, None),  # i32.add
    ("c4", 0xC4, None),  # i64.extend32_s (sign extension)
    ("d070", 0xD0, None),  # ref.null func
    ("d002", 0xD0, None),  # ref.null (type index 2)
    ("d1", 0xD1, None),  # ref.is_null
    ("d207", 0xD2, None),  # ref.func 7
    ("d3", 0xD3, None),  # ref.as_non_null
    ("d401", 0xD4, None),  # br_on_null
    ("d5", 0xD5, None),  # ref.eq
    ("d600", 0xD6, None),  # br_on_non_null
    ("fc00", FC | 0, None),  # i32.trunc_sat_f32_s
    ("fc07", FC | 7, None),  # i64.trunc_sat_f64_u
    ("fc080100", FC | 8, None),  # memory.init 1 0
    ("fc0901", FC | 9, None),  # data.drop
    ("fc0a0000", FC | 10, None),  # memory.copy 0 0
    ("fc0b00", FC | 11, None),  # memory.fill 0
    ("fc0c0200", FC | 12, None),  # table.init
    ("fc0d02", FC | 13, None),  # elem.drop
    ("fc0e0001", FC | 14, None),  # table.copy
    ("fc0f00", FC | 15, None),  # table.grow
    ("fc1000", FC | 16, None),  # table.size
    ("fc1100", FC | 17, None),  # table.fill
    ("fd000400", FD | 0, MemArg(4, 0, 0)),  # v128.load
    ("fd0a0008", FD | 10, MemArg(0, 0, 8)),  # v128.load64_splat
    ("fd0b0410", FD | 11, MemArg(4, 0, 16)),  # v128.store
    ("fd0c" + "11" * 16, FD | 12, None),  # v128.const
    ("fd0d" + "00" * 16, FD | 13, None),  # i8x16.shuffle
    ("fd0e", FD | 14, None),  # i8x16.swizzle
    ("fd150f", FD | 21, None),  # i8x16.extract_lane_s 15
    ("fd2201", FD | 34, None),  # f64x2.replace_lane 1
    ("fd5400000f", FD | 84, MemArg(0, 0, 0)),  # v128.load8_lane lane 15
    ("fd58000401", FD | 88, MemArg(0, 0, 4)),  # v128.store8_lane offset=4 lane 1
    ("fd5b032001", FD | 91, MemArg(3, 0, 32)),  # v128.store64_lane offset=32 lane 1
    ("fd5c0200", FD | 92, MemArg(2, 0, 0)),  # v128.load32_zero
    ("fd6e", FD | 110, None),  # i8x16.add
    ("fdff01", FD | 255, None),  # f64x2.promote_low_f32x4 (two-byte sub-opcode)
    ("fd8002", FD | 0x100, None),  # i8x16.relaxed_swizzle (relaxed SIMD)
    ("fd9302", FD | 0x113, None),  # i32x4.relaxed_dot_i8x16_i7x16_add_s
]


ROWS = [(bytes.fromhex(encoding), opcode, memarg) for encoding, opcode, memarg in TABLE]


@pytest.mark.parametrize(("raw", "opcode", "memarg"), ROWS, ids=[r[0].hex() for r in ROWS])
def test_each_opcode_class_decodes_to_its_extent(
    raw: bytes, opcode: int, memarg: MemArg | None
) -> None:
    body = b"\x99" + raw + b"\x99"  # junk either side: the decoder must stay in its range
    assert instructions(body, 1, 1 + len(raw)) == [Instruction(1, 1 + len(raw), opcode, memarg)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(range(len(ROWS))), max_size=40))
def test_a_sequence_decodes_to_its_instructions(picks: list[int]) -> None:
    body = b"".join(ROWS[i][0] for i in picks)
    decoded = instructions(body, 0, len(body))
    assert [ins.opcode for ins in decoded] == [ROWS[i][1] for i in picks]
    assert [ins.memarg for ins in decoded] == [ROWS[i][2] for i in picks]
    assert b"".join(body[ins.start : ins.end] for ins in decoded) == body


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("fe1000", "unsupported opcode 0xfe at"),  # threads: i32.atomic.load
        ("fb00", "unsupported opcode 0xfb"),  # GC: struct.new
        ("0640", "unsupported opcode 0x06"),  # legacy exception handling: try
        ("fc12", "unsupported opcode 0xfc 18"),
        ("fd9402", "unsupported opcode 0xfd 276"),
        ("41", "cut off"),  # i32.const without its number
        ("44000000", "runs past the end"),  # f64.const cut off
    ],
)
def test_unknown_or_truncated_instructions_are_refused(raw: str, message: str) -> None:
    body = bytes.fromhex(raw)
    with pytest.raises(UnsupportedInstructionError) as info:
        instructions(body, 0, len(body))
    assert str(info.value).startswith("function body byte 0: ")
    assert message.removesuffix(" at") in str(info.value)


EVERYTHING_WAT = r"""
(module
  (type $pair (func (result i32 i64)))
  (memory 1)
  (table 2 funcref)
  (data $d "abc")
  (elem declare func $pairs)
  (global $g (mut i64) (i64.const 0))
  (func $pairs (type $pair) (i32.const 1) (i64.const 2))
  (func (export "canister_update run") (local $v v128) (local $r funcref)
    (block $b (type $pair) (call $pairs))
    (drop) (drop)
    (local.set $v (v128.const i32x4 1 2 3 4))
    (v128.store offset=16 (i32.const 0) (local.get $v))
    (v128.store32_lane offset=8 2 (i32.const 0) (local.get $v))
    (drop (i8x16.extract_lane_u 3 (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
      (local.get $v) (local.get $v))))
    (local.set $r (ref.func $pairs))
    (drop (ref.is_null (local.get $r)))
    (memory.fill (i32.const 100) (i32.const 7) (i32.const 9))
    (memory.copy (i32.const 200) (i32.const 100) (i32.const 9))
    (memory.init $d (i32.const 300) (i32.const 0) (i32.const 3))
    (data.drop $d)
    (global.set $g (i64.extend32_s (i64.const 5)))
    (drop (i32.trunc_sat_f64_u (f64.const 1.5)))
    (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0)))
    (br_table 0 0 (i32.const 0)))
)
"""


def test_every_function_of_real_modules_decodes_to_its_final_end() -> None:
    for wasm in (bytes(wasmtime.wat2wasm(EVERYTHING_WAT)), wat_wasm("counter"),
                 wat_wasm("mem64")):
        bodies = code_bodies(wasm)
        assert bodies
        for body in bodies:
            _, start = decode_locals(body, 0)
            decoded = instructions(body, start, len(body))
            assert decoded[-1] == Instruction(len(body) - 1, len(body), 0x0B, None)
            assert all(a.end == b.start for a, b in itertools.pairwise(decoded))


def code_bodies(wasm: bytes) -> list[bytes]:
    """The function bodies of a module's code section."""
    pos = 8
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = decode_uleb128(wasm, pos)
        if section == 10:
            count, at = decode_uleb128(wasm, pos)
            bodies = []
            for _ in range(count):
                length, at = decode_uleb128(wasm, at)
                bodies.append(wasm[at : at + length])
                at += length
            return bodies
        pos += size
    return []
