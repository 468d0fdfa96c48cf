"""ECDSA identities on secp256k1 (dfx's default key type) and P-256 (WebCrypto keys).

Signatures are the IC's 64-byte ``r ‖ s`` (big-endian, 32 bytes each) over SHA-256 of the
message, with ``s`` normalised to the lower half of the group order, as libsecp256k1
and the IC's own signers produce.
"""

from __future__ import annotations

from typing import ClassVar, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from icframework.identity._der import KeyKind, wrap_der
from icframework.identity.base import Identity
from icframework.identity.errors import IdentityError

PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64


class _EcdsaIdentity(Identity):
    """Shared code of the two ECDSA curves; subclasses fix the curve."""

    __slots__ = ("_der", "_private_key")

    CURVE: ClassVar[ec.EllipticCurve]
    KIND: ClassVar[KeyKind]
    ORDER: ClassVar[int]

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if private_key.curve.name != self.CURVE.name:
            raise IdentityError(
                f"{type(self).__name__} needs a {self.CURVE.name} key, got {private_key.curve.name}"
            )
        self._private_key = private_key
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self._der = wrap_der(self.KIND, raw)

    @classmethod
    def generate(cls) -> Self:
        """A fresh random key pair."""
        return cls(ec.generate_private_key(cls.CURVE))

    @classmethod
    def from_private_key_bytes(cls, secret: bytes) -> Self:
        """The key pair of a 32-byte big-endian private scalar."""
        if not isinstance(secret, bytes) or len(secret) != PRIVATE_KEY_BYTES:
            raise IdentityError(f"an ECDSA private key is {PRIVATE_KEY_BYTES} bytes")
        scalar = int.from_bytes(secret, "big")
        if not 0 < scalar < cls.ORDER:
            raise IdentityError(f"ECDSA private key is outside 1..n-1 of {cls.CURVE.name}")
        return cls(ec.derive_private_key(scalar, cls.CURVE))

    @property
    def private_key_bytes(self) -> bytes:
        """The 32-byte big-endian private scalar. Keep it secret."""
        return self._private_key.private_numbers().private_value.to_bytes(PRIVATE_KEY_BYTES, "big")

    @property
    def der_public_key(self) -> bytes:
        return self._der

    def sign(self, message: bytes) -> bytes:
        """64-byte ``r ‖ s`` over SHA-256(message), low-S normalised."""
        der_sig = self._private_key.sign(message, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der_sig)
        if s > self.ORDER // 2:
            s = self.ORDER - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (64-byte ``r ‖ s``) signs ``message`` under this key."""
        return verify_ecdsa(self._private_key.public_key(), message, signature)

    def to_pem(self) -> str:
        """SEC1 ``BEGIN EC PRIVATE KEY`` text, the format dfx writes for secp256k1."""
        return self._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode("ascii")


class Secp256k1Identity(_EcdsaIdentity):
    """ECDSA on secp256k1; DER public key 88 bytes. The default of ``dfx identity new``."""

    __slots__ = ()
    CURVE = ec.SECP256K1()
    KIND = KeyKind.SECP256K1
    ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class P256Identity(_EcdsaIdentity):
    """ECDSA on NIST P-256 (secp256r1); DER public key 91 bytes. What WebCrypto makes."""

    __slots__ = ()
    CURVE = ec.SECP256R1()
    KIND = KeyKind.P256
    ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def verify_ecdsa(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> bool:
    """Check a 64-byte ``r ‖ s`` signature over SHA-256(message); high S is accepted."""
    if len(signature) != SIGNATURE_BYTES:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if r == 0 or s == 0:
        return False
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
