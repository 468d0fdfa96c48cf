"""Signature verification for any DER public key the IC accepts from users."""

from __future__ import annotations

from functools import lru_cache

import nacl.exceptions
import nacl.signing
from cryptography.hazmat.primitives.asymmetric import ec

from icframework.identity._der import KeyKind, unwrap_der
from icframework.identity.ecdsa import verify_ecdsa
from icframework.identity.errors import IdentityError

_CURVES: dict[KeyKind, ec.EllipticCurve] = {
    KeyKind.SECP256K1: ec.SECP256K1(),
    KeyKind.P256: ec.SECP256R1(),
}


def verify_signature(der_public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` signs ``message`` under ``der_public_key``.

    Dispatches on the key's DER algorithm: Ed25519 (64-byte signature), ECDSA secp256k1
    or P-256 (64-byte ``r ‖ s`` over SHA-256(message)). Returns False for a wrong
    signature; raises `IdentityError` for a key that is malformed or of an unsupported
    kind (BLS keys are verified by `icframework.protocol.certificate`, not here).
    """
    kind, raw = unwrap_der(der_public_key)
    if kind is KeyKind.ED25519:
        if len(signature) != 64:
            return False
        try:
            _ed25519_key(raw).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return False
        return True
    if kind in _CURVES:
        return verify_ecdsa(_ecdsa_key(kind, raw), message, signature)
    raise IdentityError(f"{kind.value} keys cannot sign requests")


@lru_cache(maxsize=4096)
def _ed25519_key(raw: bytes) -> nacl.signing.VerifyKey:
    return nacl.signing.VerifyKey(raw)


@lru_cache(maxsize=4096)
def _ecdsa_key(kind: KeyKind, raw: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[kind], raw)
    except ValueError as exc:
        raise IdentityError(f"{kind.value} public key {raw.hex()} is not a curve point") from exc
