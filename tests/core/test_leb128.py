"""LEB128 known answers, round trips and truncation errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.core import (
    LEB128Error,
    decode_sleb128,
    decode_uleb128,
    encode_sleb128,
    encode_uleb128,
)


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, "00"), (127, "7f"), (128, "8001"), (624485, "e58e26")]
)
def test_unsigned_known_answers(value: int, encoded: str) -> None:
    assert encode_uleb128(value).hex() == encoded
    assert decode_uleb128(bytes.fromhex(encoded)) == (value, len(encoded) // 2)


@pytest.mark.parametrize(
    ("value", "encoded"), [(0, "00"), (-1, "7f"), (63, "3f"), (64, "c000"), (-123456, "c0bb78")]
)
def test_signed_known_answers(value: int, encoded: str) -> None:
    assert encode_sleb128(value).hex() == encoded
    assert decode_sleb128(bytes.fromhex(encoded)) == (value, len(encoded) // 2)


def test_overlong_encodings_are_accepted() -> None:
    assert decode_uleb128(bytes.fromhex("8080808000")) == (0, 5)


def test_truncation_names_the_offset() -> None:
    with pytest.raises(LEB128Error, match="byte offset 2"):
        decode_uleb128(b"\x00\x00\x80\x80", 2)
    with pytest.raises(LEB128Error, match="byte offset 0"):
        decode_sleb128(b"\xff")
    with pytest.raises(LEB128Error, match="negative"):
        encode_uleb128(-1)


@given(st.integers(min_value=0, max_value=2**300))
def test_unsigned_round_trip(value: int) -> None:
    encoded = encode_uleb128(value)
    assert decode_uleb128(b"\xaa" + encoded, 1) == (value, len(encoded) + 1)


@given(st.integers(min_value=-(2**300), max_value=2**300))
def test_signed_round_trip(value: int) -> None:
    encoded = encode_sleb128(value)
    assert decode_sleb128(encoded) == (value, len(encoded))


def _reference_uleb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@given(st.integers(min_value=448, max_value=20_000), st.integers(min_value=-1, max_value=1))
def test_huge_numbers_take_the_wide_path_and_agree(bits: int, sign: int) -> None:
    magnitude = (1 << bits) - 12345
    assert encode_uleb128(magnitude) == _reference_uleb(magnitude)
    value = magnitude * (sign or 1)
    encoded = encode_sleb128(value)
    assert decode_sleb128(encoded) == (value, len(encoded))
