"""Principals: the IC's identifiers for users, canisters, subnets and nodes.

A principal is at most 29 bytes. Its text form is the CRC32 (big-endian) of the bytes
followed by the bytes, base32-encoded without padding, lower-cased and grouped in fives
with dashes (``rrkah-fqaaa-aaaaa-aaaaq-cai``). The last byte names the class:
``0x01`` opaque (canisters), ``0x02`` self-authenticating (SHA-224 of a DER public key),
``0x04`` anonymous; the management canister is the empty principal (``aaaaa-aa``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from dataclasses import dataclass
from typing import ClassVar

from icframework.core.errors import PrincipalError

MAX_PRINCIPAL_BYTES = 29
_TYPE_OPAQUE = 0x01
_TYPE_SELF_AUTHENTICATING = 0x02
_TYPE_DERIVED = 0x03
_TYPE_ANONYMOUS = 0x04
_TYPE_RESERVED = 0x7F
_BASE32_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


@dataclass(frozen=True, slots=True, order=True)
class Principal:
    """An IC principal, compared and ordered by its bytes (shorter prefix first)."""

    raw: bytes

    MANAGEMENT_TEXT: ClassVar[str] = "aaaaa-aa"
    ANONYMOUS_TEXT: ClassVar[str] = "2vxsx-fae"

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes):
            raise PrincipalError(
                f"principal bytes must be bytes, got {type(self.raw).__name__}: {self.raw!r}"
            )
        if len(self.raw) > MAX_PRINCIPAL_BYTES:
            raise PrincipalError(
                f"principal is {len(self.raw)} bytes long ({self.raw.hex()}); "
                f"the maximum is {MAX_PRINCIPAL_BYTES}"
            )

    # -- constructors -------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str) -> Principal:
        """Parse the textual form (case-insensitive); raise `PrincipalError` naming the bad part."""
        if not isinstance(text, str):
            raise PrincipalError(f"principal text must be str, got {type(text).__name__}")
        lowered = text.strip().lower()
        if not lowered:
            raise PrincipalError("principal text is empty; expected e.g. 'aaaaa-aa'")
        groups = lowered.split("-")
        for index, group in enumerate(groups):
            if not group:
                raise PrincipalError(
                    f"principal {text!r} has an empty group (doubled or edge dash)"
                )
            if index < len(groups) - 1 and len(group) != 5:
                raise PrincipalError(
                    f"principal {text!r}: group {group!r} has {len(group)} characters; "
                    "every group but the last has exactly 5"
                )
        if len(groups[-1]) > 5:
            raise PrincipalError(f"principal {text!r}: last group {groups[-1]!r} is longer than 5")
        compact = "".join(groups)
        bad = sorted(set(compact) - _BASE32_ALPHABET)
        if bad:
            raise PrincipalError(
                f"principal {text!r} contains {''.join(bad)!r}, not in the base32 alphabet a-z2-7"
            )
        padded = compact.upper() + "=" * (-len(compact) % 8)
        try:
            decoded = base64.b32decode(padded)
        except binascii.Error as exc:
            raise PrincipalError(f"principal {text!r} is not valid base32: {exc}") from exc
        if len(decoded) < 4:
            raise PrincipalError(f"principal {text!r} is too short to hold its 4-byte checksum")
        checksum, raw = decoded[:4], decoded[4:]
        if len(raw) > MAX_PRINCIPAL_BYTES:
            raise PrincipalError(
                f"principal {text!r} decodes to {len(raw)} bytes; "
                f"the maximum is {MAX_PRINCIPAL_BYTES}"
            )
        if zlib.crc32(raw).to_bytes(4, "big") != checksum:
            raise PrincipalError(f"principal {text!r} has a wrong checksum (a typo?)")
        principal = cls(raw)
        if principal.to_text() != lowered:
            raise PrincipalError(
                f"principal {text!r} is not in canonical form; "
                f"did you mean {principal.to_text()!r}?"
            )
        return principal

    @classmethod
    def from_hex(cls, hex_text: str) -> Principal:
        """Build from hex-encoded bytes."""
        try:
            return cls(bytes.fromhex(hex_text))
        except ValueError as exc:
            raise PrincipalError(f"principal hex {hex_text!r} is not valid hex: {exc}") from exc

    @classmethod
    def self_authenticating(cls, der_public_key: bytes) -> Principal:
        """The user principal of a DER-encoded public key: SHA-224(der) ‖ 0x02."""
        return cls(hashlib.sha224(der_public_key).digest() + bytes((_TYPE_SELF_AUTHENTICATING,)))

    @classmethod
    def anonymous(cls) -> Principal:
        """The anonymous principal ``2vxsx-fae`` (the single byte 0x04)."""
        return cls(bytes((_TYPE_ANONYMOUS,)))

    @classmethod
    def management_canister(cls) -> Principal:
        """The management canister ``aaaaa-aa`` (the empty principal)."""
        return cls(b"")

    @classmethod
    def from_canister_index(cls, index: int) -> Principal:
        """The canister id with the given 64-bit index: 8 bytes big-endian ‖ 0x01 0x01."""
        if not 0 <= index < 1 << 64:
            raise PrincipalError(f"canister index {index} is outside 0..2**64-1")
        return cls(index.to_bytes(8, "big") + b"\x01\x01")

    # -- views --------------------------------------------------------------------

    def to_text(self) -> str:
        """The canonical textual form."""
        checksum = zlib.crc32(self.raw).to_bytes(4, "big")
        encoded = base64.b32encode(checksum + self.raw).decode("ascii").lower().rstrip("=")
        return "-".join(encoded[i : i + 5] for i in range(0, len(encoded), 5))

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"Principal({self.to_text()!r})"

    def __bytes__(self) -> bytes:
        return self.raw

    @property
    def is_anonymous(self) -> bool:
        return self.raw == bytes((_TYPE_ANONYMOUS,))

    @property
    def is_management_canister(self) -> bool:
        return self.raw == b""

    @property
    def is_self_authenticating(self) -> bool:
        return len(self.raw) == MAX_PRINCIPAL_BYTES and self.raw[-1] == _TYPE_SELF_AUTHENTICATING

    @property
    def is_reserved(self) -> bool:
        return bool(self.raw) and self.raw[-1] == _TYPE_RESERVED

    def canister_index(self) -> int:
        """The 64-bit index of a canister id; raise `PrincipalError` for other principals."""
        if len(self.raw) != 10 or self.raw[8:] != b"\x01\x01":
            raise PrincipalError(f"{self.to_text()} is not a canister id (8-byte index ‖ 01 01)")
        return int.from_bytes(self.raw[:8], "big")
