"""LEB128 variable-length integers (unsigned and signed), as used by Candid and the IC.

Decoders take a buffer and an offset and return ``(value, next_offset)`` so callers can
walk a message without copying it. They accept overlong encodings (the Candid spec
allows them) and raise `LEB128Error` naming the offset when the input ends early.
"""

from icframework.core.errors import LEB128Error


def encode_uleb128(value: int) -> bytes:
    """Encode a non-negative integer as unsigned LEB128 (shortest form)."""
    if value < 0:
        raise LEB128Error(f"unsigned LEB128 cannot encode negative value {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def encode_sleb128(value: int) -> bytes:
    """Encode an integer as signed (two's complement) LEB128 (shortest form)."""
    if -0x40 <= value < 0x40:
        return bytes((value & 0x7F,))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


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
