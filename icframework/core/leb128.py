"""LEB128 variable-length integers (unsigned and signed), as used by Candid and the IC.

Decoders take a buffer and an offset and return ``(value, next_offset)`` so callers can
walk a message without copying it. They accept overlong encodings (the Candid spec
allows them) and raise `LEB128Error` naming the offset when the input ends early.
"""

from icframework.core.errors import LEB128Error


def encode_uleb128(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128 (shortest form).

    Linear in the number's size, also for huge values (Candid ``nat`` is unbounded).
    """
    if value < 0x80:
        if value < 0:
            raise LEB128Error(f"unsigned LEB128 cannot encode negative value {value}")
        return bytes((value,))
    if value.bit_length() <= 448:
        out = bytearray()
        while value >= 0x80:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
        return bytes(out)
    return _encode_wide(value, (value.bit_length() + 6) // 7)


def encode_sleb128(value: int) -> bytes:
    """Encode an integer as signed (two's complement) LEB128 (shortest form)."""
    if -0x40 <= value < 0x40:
        return bytes((value & 0x7F,))
    if value.bit_length() <= 448:
        out = bytearray()
        while True:
            byte = value & 0x7F
            value >>= 7
            if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
                out.append(byte)
                return bytes(out)
            out.append(byte | 0x80)
    groups = (value.bit_length() + 7) // 7  # room for the sign bit
    return _encode_wide(value & ((1 << (7 * groups)) - 1), groups)


def _encode_wide(value: int, groups: int) -> bytes:
    """LEB128 of a large non-negative ``value`` in exactly ``groups`` bytes.

    Works on 56-bit chunks so the cost stays linear; the byte-at-a-time loop is
    quadratic for numbers of thousands of bits.
    """
    chunks = (groups + 7) // 8
    raw = value.to_bytes(7 * chunks, "little")
    out = bytearray()
    for start in range(0, len(raw), 7):
        chunk = int.from_bytes(raw[start : start + 7], "little")
        spread = 0
        for j in range(8):
            spread |= (((chunk >> (7 * j)) & 0x7F) | 0x80) << (8 * j)
        out += spread.to_bytes(8, "little")
    del out[groups:]
    out[-1] &= 0x7F
    return bytes(out)


def decode_uleb128(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode unsigned LEB128 at ``offset``; return ``(value, offset_after)``.

    Raises `LEB128Error` if the buffer ends before the terminating byte.
    """
    byte = data[offset] if offset < len(data) else -1
    if 0 <= byte < 0x80:
        return byte, offset + 1
    result = 0
    shift = 0
    pos = offset
    end = len(data)
    while True:
        if pos >= end:
            raise LEB128Error(f"truncated LEB128 number starting at byte offset {offset}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def decode_sleb128(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int]:
    """Decode signed LEB128 at ``offset``; return ``(value, offset_after)``.

    Raises `LEB128Error` if the buffer ends before the terminating byte.
    """
    result = 0
    shift = 0
    pos = offset
    end = len(data)
    while True:
        if pos >= end:
            raise LEB128Error(f"truncated signed LEB128 number starting at byte offset {offset}")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                result -= 1 << shift
            return result, pos
