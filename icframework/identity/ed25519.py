"""Ed25519 identities (PyNaCl), the key type of ``dfx identity new --storage-mode plaintext``."""

from __future__ import annotations

import nacl.exceptions
import nacl.signing

from icframework.identity._der import KeyKind, wrap_der
from icframework.identity.base import Identity
from icframework.identity.errors import IdentityError

SEED_BYTES = 32
SIGNATURE_BYTES = 64


class Ed25519Identity(Identity):
    """An Ed25519 key pair. The DER public key is 44 bytes; signatures are 64 bytes."""

    __slots__ = ("_der", "_signing_key")

    def __init__(self, signing_key: nacl.signing.SigningKey) -> None:
        self._signing_key = signing_key
        self._der = wrap_der(KeyKind.ED25519, bytes(signing_key.verify_key))

    @classmethod
    def generate(cls) -> Ed25519Identity:
        """A fresh random key pair."""
        return cls(nacl.signing.SigningKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Ed25519Identity:
        """The key pair of a 32-byte seed (the RFC 8032 private key)."""
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise IdentityError(
                f"an Ed25519 seed is {SEED_BYTES} bytes, got {type(seed).__name__} "
                f"of length {len(seed) if isinstance(seed, bytes) else '?'}"
            )
        return cls(nacl.signing.SigningKey(seed))

    @property
    def seed(self) -> bytes:
        """The 32-byte secret seed. Keep it secret."""
        return bytes(self._signing_key)

    @property
    def raw_public_key(self) -> bytes:
        """The 32-byte public key."""
        return bytes(self._signing_key.verify_key)

    @property
    def der_public_key(self) -> bytes:
        return self._der

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self._signing_key.sign(message).signature

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``message``."""
        try:
            self._signing_key.verify_key.verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
            return False
        return True

    def to_pem(self) -> str:
        """PKCS#8 v1 ``BEGIN PRIVATE KEY`` text, the format current dfx writes."""
        from icframework.identity.pem import ed25519_to_pem

        return ed25519_to_pem(self.seed)
