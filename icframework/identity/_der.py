"""DER SubjectPublicKeyInfo encodings of the public keys the IC accepts.

Every key type the IC knows has a fixed DER prefix followed by the raw key, so wrapping
and unwrapping is prefix concatenation and comparison rather than general ASN.1 parsing.
"""

from __future__ import annotations

from enum import Enum

from icframework.identity.errors import IdentityError

# SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32 bytes) }
ED25519_DER_PREFIX = bytes.fromhex("302a300506032b6570032100")
# SEQUENCE { SEQUENCE { OID id-ecPublicKey, OID secp256k1 } BIT STRING (65 bytes) }
SECP256K1_DER_PREFIX = bytes.fromhex("3056301006072a8648ce3d020106052b8104000a034200")
# SEQUENCE { SEQUENCE { OID id-ecPublicKey, OID prime256v1 } BIT STRING (65 bytes) }
P256_DER_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
# SEQUENCE { SEQUENCE { OID bls12381 G2, OID IC curve } BIT STRING (96 bytes) }
BLS12381_G2_DER_PREFIX = bytes.fromhex(
    "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"
)


class KeyKind(Enum):
    """The signature scheme a DER public key belongs to."""

    ED25519 = "ed25519"
    SECP256K1 = "secp256k1"
    P256 = "p256"
    BLS12381_G2 = "bls12381-g2"


_LAYOUT: dict[KeyKind, tuple[bytes, int]] = {
    KeyKind.ED25519: (ED25519_DER_PREFIX, 32),
    KeyKind.SECP256K1: (SECP256K1_DER_PREFIX, 65),
    KeyKind.P256: (P256_DER_PREFIX, 65),
    KeyKind.BLS12381_G2: (BLS12381_G2_DER_PREFIX, 96),
}


def wrap_der(kind: KeyKind, raw_key: bytes) -> bytes:
    """DER-encode a raw public key (32 bytes Ed25519, 65 bytes uncompressed EC, 96 BLS)."""
    prefix, length = _LAYOUT[kind]
    if len(raw_key) != length:
        raise IdentityError(
            f"a raw {kind.value} public key is {length} bytes, got {len(raw_key)}: {raw_key.hex()}"
        )
    return prefix + raw_key


def unwrap_der(der_public_key: bytes) -> tuple[KeyKind, bytes]:
    """Split a DER public key into its kind and raw key bytes.

    Raises `IdentityError` when the key has none of the known prefixes or a wrong length.
    """
    for kind, (prefix, length) in _LAYOUT.items():
        if der_public_key.startswith(prefix):
            if len(der_public_key) != len(prefix) + length:
                raise IdentityError(
                    f"DER {kind.value} public key is {len(der_public_key)} bytes; "
                    f"expected {len(prefix) + length}"
                )
            return kind, der_public_key[len(prefix) :]
    raise IdentityError(
        "unsupported DER public key (expected Ed25519, ECDSA secp256k1 or P-256, "
        f"or BLS12-381): {der_public_key[:32].hex()}{'…' if len(der_public_key) > 32 else ''}"
    )
