"""Order-preserving key encoding: ``a < b`` exactly when ``encode(a) < encode(b)`` as bytes.

Key types: ``int`` (any size up to 126 bytes of magnitude), the fixed-width ints
(``nat8``..``nat64``, ``int8``..``int64``: big-endian, sign-flipped), ``bool``,
``str`` (UTF-8, which orders like code points), ``bytes``, `Principal` (its bytes),
``Optional[T]`` (None first) and tuples of these (lexicographic, like Python).

Layout: a variable int is one prefix byte (``0x80 + L`` for a non-negative value of L
magnitude bytes, ``0x7F - L`` for a negative one) then L bytes (for negatives,
``256**L - |n|``, so larger magnitudes sort lower). Text and bytes are stored raw when
they are the last component; inside a tuple they are made self-delimiting by escaping
``00`` as ``00 FF`` and ending with ``00 01``. An optional is ``00`` (None) or ``01``
followed by the value.
"""

from __future__ import annotations

import struct
import types as pytypes
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Union

from icframework.candid import (
    INT8,
    INT16,
    INT32,
    INT64,
    NAT,
    NAT8,
    NAT16,
    NAT32,
    NAT64,
    CandidType,
)
from icframework.core import Principal
from icframework.sdk.errors import StorageError

__all__ = ["KeyCodec", "key_codec"]

Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes, int], tuple[Any, int]]

_MAX_INT_BYTES = 126
_FIXED: dict[CandidType, tuple[int, bool]] = {
    NAT8: (1, False),
    NAT16: (2, False),
    NAT32: (4, False),
    NAT64: (8, False),
    INT8: (1, True),
    INT16: (2, True),
    INT32: (4, True),
    INT64: (8, True),
}


@dataclass(frozen=True, slots=True)
class KeyCodec:
    """Encoder and decoder of one key type (``decode(data) -> value``)."""

    hint: Any
    encode: Encoder
    read: Decoder

    def decode(self, data: bytes, pos: int = 0) -> Any:
        value, end = self.read(data, pos)
        if end != len(data):
            raise StorageError(f"key has {len(data) - end} trailing byte(s): {data.hex()}")
        return value

    def prefixed(self, prefix: bytes) -> Encoder:
        """``encode`` with ``prefix`` in front, in one step for a fixed-width int (one
        ``struct.pack``; the same bytes and errors as ``prefix + encode(v)``)."""
        encode = self.encode
        spec = _fixed_spec(self.hint)
        if spec is None:
            def encode_prefixed(v: Any) -> bytes:
                return prefix + encode(v)

            return encode_prefixed
        width, signed = spec
        bias = 1 << (8 * width - 1) if signed else 0
        pack = struct.Struct(f">{len(prefix)}s{_UNSIGNED[width]}").pack

        def encode_fixed(v: Any) -> bytes:
            if type(v) is int:
                try:
                    return pack(prefix, v + bias)
                except struct.error:
                    pass
            return prefix + encode(v)  # the errors, and int subclasses

        return encode_fixed


def _check_int(v: Any) -> int:
    if type(v) is not int:
        if isinstance(v, int) and not isinstance(v, bool):
            return int(v)
        raise StorageError(f"expected an int key, got {type(v).__name__}: {v!r}")
    return v


def _enc_int(v: Any) -> bytes:
    n = _check_int(v)
    if n >= 0:
        size = (n.bit_length() + 7) >> 3
        if size > _MAX_INT_BYTES:
            raise StorageError(f"int key {n} is too large (over {_MAX_INT_BYTES} bytes)")
        return bytes((0x80 + size,)) + n.to_bytes(size, "big")
    a = -n
    size = (a.bit_length() + 7) >> 3
    if size > _MAX_INT_BYTES:
        raise StorageError(f"int key {n} is too large (over {_MAX_INT_BYTES} bytes)")
    return bytes((0x7F - size,)) + ((1 << (8 * size)) - a).to_bytes(size, "big")


def _dec_int(d: bytes, p: int) -> tuple[int, int]:
    head = d[p]
    if head >= 0x80:
        size = head - 0x80
        return int.from_bytes(d[p + 1 : p + 1 + size], "big"), p + 1 + size
    size = 0x7F - head
    body = int.from_bytes(d[p + 1 : p + 1 + size], "big")
    return body - (1 << (8 * size)), p + 1 + size


def _enc_nat(v: Any) -> bytes:
    n = _check_int(v)
    if n < 0:
        raise StorageError(f"nat key must be >= 0, got {n}")
    return _enc_int(n)


_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _fixed_spec(hint: Any) -> tuple[int, bool] | None:
    """(width, signed) if ``hint`` is a fixed-width int key type, else None."""
    if typing.get_origin(hint) is Annotated:
        for m in typing.get_args(hint)[1:]:
            if m in _FIXED:
                return _FIXED[m]
            if m == NAT:
                return None
    return None


def _fixed(width: int, signed: bool) -> tuple[Encoder, Decoder]:
    bias = 1 << (8 * width - 1) if signed else 0
    top = 1 << (8 * width)
    pack = struct.Struct(f">{_UNSIGNED[width]}").pack

    def enc(v: Any) -> bytes:
        if type(v) is int:  # the common case: one pack (it rejects what is out of range)
            try:
                return pack(v + bias)
            except struct.error:
                pass
        n = _check_int(v) + bias
        if not 0 <= n < top:
            raise StorageError(f"key {v} is out of range for a {width * 8}-bit int")
        return n.to_bytes(width, "big")

    def dec(d: bytes, p: int) -> tuple[int, int]:
        return int.from_bytes(d[p : p + width], "big") - bias, p + width

    return enc, dec


def _enc_bool(v: Any) -> bytes:
    if type(v) is not bool:
        raise StorageError(f"expected a bool key, got {type(v).__name__}: {v!r}")
    return b"\x01" if v else b"\x00"


def _dec_bool(d: bytes, p: int) -> tuple[bool, int]:
    return d[p] == 1, p + 1


def _raw_bytes(to_bytes: Callable[[Any], bytes], last: bool) -> Encoder:
    if last:
        return to_bytes

    def enc(v: Any) -> bytes:
        return to_bytes(v).replace(b"\x00", b"\x00\xff") + b"\x00\x01"

    return enc


def _read_escaped(d: bytes, p: int) -> tuple[bytes, int]:
    parts = []
    start = p
    while True:
        i = d.find(b"\x00", start)
        if i < 0 or i + 1 >= len(d):
            raise StorageError(f"unterminated text/bytes component in key {d.hex()}")
        parts.append(d[start:i])
        if d[i + 1] == 0x01:
            return b"\x00".join(parts), i + 2
        start = i + 2


def _str_bytes(v: Any) -> bytes:
    if type(v) is not str:
        raise StorageError(f"expected a str key, got {type(v).__name__}: {v!r}")
    return v.encode("utf-8", "surrogatepass")


def _bytes_bytes(v: Any) -> bytes:
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise StorageError(f"expected a bytes key, got {type(v).__name__}: {v!r}")
    return bytes(v)


def _principal_bytes(v: Any) -> bytes:
    if not isinstance(v, Principal):
        raise StorageError(f"expected a Principal key, got {type(v).__name__}: {v!r}")
    return v.raw


def _raw_reader(convert: Callable[[bytes], Any], last: bool) -> Decoder:
    if last:
        def read_last(d: bytes, p: int) -> tuple[Any, int]:
            return convert(d[p:]), len(d)

        return read_last

    def read(d: bytes, p: int) -> tuple[Any, int]:
        raw, end = _read_escaped(d, p)
        return convert(raw), end

    return read


def _build(hint: Any, last: bool) -> tuple[Encoder, Decoder]:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *meta = typing.get_args(hint)
        for m in meta:
            if m in _FIXED:
                return _fixed(*_FIXED[m])
            if m == NAT:
                return _enc_nat, _dec_int
        return _build(base, last)
    if hint is bool:
        return _enc_bool, _dec_bool
    if hint is int:
        return _enc_int, _dec_int
    if hint is str:
        return _raw_bytes(_str_bytes, last), _raw_reader(
            lambda b: b.decode("utf-8", "surrogatepass"), last
        )
    if hint is bytes:
        return _raw_bytes(_bytes_bytes, last), _raw_reader(bytes, last)
    if hint is Principal:
        return _raw_bytes(_principal_bytes, last), _raw_reader(Principal, last)
    if origin is Union or origin is pytypes.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return _optional(*_build(args[0], last))
    if origin is tuple:
        items = typing.get_args(hint)
        if items and items[-1] is not Ellipsis and items != ((),):
            parts = [_build(a, i == len(items) - 1 and last) for i, a in enumerate(items)]
            return _tuple(parts)
    raise StorageError(
        f"{hint!r} cannot be a storage key; use int, str, bytes, bool, Principal, a "
        "fixed-width int (nat64...), Optional of one of those, or a tuple of them"
    )


def _optional(enc: Encoder, dec: Decoder) -> tuple[Encoder, Decoder]:
    def enc_opt(v: Any) -> bytes:
        return b"\x00" if v is None else b"\x01" + enc(v)

    def dec_opt(d: bytes, p: int) -> tuple[Any, int]:
        if d[p] == 0:
            return None, p + 1
        return dec(d, p + 1)

    return enc_opt, dec_opt


def _tuple(parts: list[tuple[Encoder, Decoder]]) -> tuple[Encoder, Decoder]:
    encoders = tuple(e for e, _ in parts)
    decoders = tuple(d for _, d in parts)
    n = len(parts)

    def enc(v: Any) -> bytes:
        if not isinstance(v, tuple) or len(v) != n:
            raise StorageError(f"expected a tuple of {n} values as key, got {v!r}")
        return b"".join(e(x) for e, x in zip(encoders, v, strict=True))

    def dec(d: bytes, p: int) -> tuple[Any, int]:
        out = []
        for reader in decoders:
            x, p = reader(d, p)
            out.append(x)
        return tuple(out), p

    return enc, dec


_CACHE: dict[Any, KeyCodec] = {}


def key_codec(hint: Any) -> KeyCodec:
    """The (cached) `KeyCodec` of a key type hint; raises `StorageError` if it cannot be a key."""
    codec = _CACHE.get(hint)
    if codec is None:
        enc, dec = _build(hint, True)
        codec = _CACHE[hint] = KeyCodec(hint, enc, dec)
    return codec


def component_codec(hint: Any) -> KeyCodec:
    """A codec for ``hint`` as a non-final tuple component (self-delimiting)."""
    enc, dec = _build(hint, False)
    return KeyCodec(hint, enc, dec)
