"""``zlib`` on the IC target: the checksums only (this CPython was built without zlib).

``crc32`` is `binascii.crc32` (CPython's own table-driven version) and ``adler32`` is
computed here; compressing and decompressing raise `error` saying so, so code that only
needs the checksums (principals' text form) works and code that compresses fails clearly.
"""

from __future__ import annotations

import binascii

__all__ = ["adler32", "compress", "crc32", "decompress", "error"]

MAX_WBITS = 15
_UNAVAILABLE = (
    "zlib compression is not available on the IC target (its CPython is built without "
    "zlib); compress on the client, or use the component target"
)


class error(Exception):
    """zlib's error type."""


def crc32(data: bytes, value: int = 0) -> int:
    """CRC-32 of ``data``, continuing from ``value``."""
    return binascii.crc32(data, value)


def adler32(data: bytes, value: int = 1) -> int:
    """Adler-32 of ``data``, continuing from ``value``."""
    a, b = value & 0xFFFF, (value >> 16) & 0xFFFF
    for start in range(0, len(data), 3800):
        for byte in data[start:start + 3800]:
            a += byte
            b += a
        a %= 65521
        b %= 65521
    return (b << 16) | a


def compress(data: bytes, level: int = -1, wbits: int = MAX_WBITS) -> bytes:
    raise error(_UNAVAILABLE)


def decompress(data: bytes, wbits: int = MAX_WBITS, bufsize: int = 16384) -> bytes:
    raise error(_UNAVAILABLE)
