"""BLS12-381 "min-sig" signatures as the IC uses them for certificates (via blst).

Signatures are G1 points (48 bytes compressed), public keys G2 points (96 bytes),
messages are hashed to G1 with the ciphersuite ``BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_``.
Verification is the pairing check ``e(sig, g2) == e(H(msg), pk)``. blst's
``uncompress`` already rejects points off the curve or outside the prime-order
subgroup; the identity point is rejected here.
"""

from __future__ import annotations

import secrets

from pyblst import BlstP1Element, BlstP2Element, final_verify, miller_loop

from icframework.identity import KeyKind, unwrap_der, wrap_der
from icframework.identity.errors import IdentityError

DST = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
SIGNATURE_BYTES = 48
PUBLIC_KEY_BYTES = 96
_G2_GENERATOR = BlstP2Element.uncompress(
    bytes.fromhex(
        "93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5"
        "ac7d055d042b7e024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac"
        "0326a805bbefd48056c8c121bdb8"
    )
)
_G1_IDENTITY = BlstP1Element()
_G2_IDENTITY = BlstP2Element()


class BlsKeyPair:
    """A BLS secret scalar and its G2 public key (the root or a subnet key)."""

    __slots__ = ("_secret", "public_key")

    def __init__(self, secret: int) -> None:
        if not 0 < secret < CURVE_ORDER:
            raise ValueError("a BLS secret key is an integer in 1..r-1 (r = BLS12-381 group order)")
        self._secret = secret
        self.public_key: bytes = bytes(_G2_GENERATOR.scalar_mul(secret).compress())

    @classmethod
    def generate(cls) -> BlsKeyPair:
        """A fresh random key."""
        return cls(secrets.randbelow(CURVE_ORDER - 1) + 1)

    @classmethod
    def from_secret(cls, secret: int | bytes) -> BlsKeyPair:
        """From a scalar, or 32 big-endian bytes (reduced modulo the group order)."""
        scalar = (
            int.from_bytes(secret, "big") % CURVE_ORDER if isinstance(secret, bytes) else secret
        )
        return cls(scalar)

    @property
    def secret(self) -> int:
        """The secret scalar. Keep it secret."""
        return self._secret

    @property
    def public_key_der(self) -> bytes:
        """The 133-byte DER public key, as served in ``/api/v2/status`` ``root_key``."""
        return wrap_der(KeyKind.BLS12381_G2, self.public_key)

    def sign(self, message: bytes) -> bytes:
        """The 48-byte signature of ``message`` (deterministic)."""
        return bytes(BlstP1Element.hash_to_group(message, DST).scalar_mul(self._secret).compress())

    def __repr__(self) -> str:
        return f"BlsKeyPair(public_key={self.public_key[:8].hex()}…)"


def bls_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (48 bytes) signs ``message`` under ``public_key`` (96 bytes)."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        sig_point = BlstP1Element.uncompress(signature)
        key_point = BlstP2Element.uncompress(public_key)
    except ValueError:
        return False
    if sig_point == _G1_IDENTITY or key_point == _G2_IDENTITY:
        return False
    message_point = BlstP1Element.hash_to_group(message, DST)
    return bool(
        final_verify(miller_loop(sig_point, _G2_GENERATOR), miller_loop(message_point, key_point))
    )


def bls_key_from_der(der_public_key: bytes) -> bytes:
    """The 96-byte key inside a 133-byte DER BLS key; raise `IdentityError` otherwise."""
    kind, raw = unwrap_der(der_public_key)
    if kind is not KeyKind.BLS12381_G2:
        raise IdentityError(f"expected a BLS12-381 DER public key, got a {kind.value} key")
    return raw
