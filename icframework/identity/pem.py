"""PEM identity files as written by dfx (``~/.config/dfx/identity/<name>/identity.pem``).

Two formats exist in the wild:

* Ed25519 as PKCS#8 ``BEGIN PRIVATE KEY``: v1 (48 bytes of DER, current dfx) or the v2
  "OneAsymmetricKey" form with the public key appended (85 bytes), which older dfx
  wrote through ``ring``. Both are fixed layouts, so they are matched byte for byte.
* secp256k1 as SEC1 ``BEGIN EC PRIVATE KEY`` (what ``dfx identity new`` makes today),
  sometimes preceded by a ``BEGIN EC PARAMETERS`` block; also PKCS#8 EC keys and P-256.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from icframework.identity.base import Identity
from icframework.identity.ecdsa import P256Identity, Secp256k1Identity
from icframework.identity.ed25519 import Ed25519Identity
from icframework.identity.errors import IdentityError

# PKCS#8 v1: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING } }
_ED25519_PKCS8_V1_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
# PKCS#8 v2: version 1, then [1] IMPLICIT BIT STRING public key after the seed.
_ED25519_PKCS8_V2_PREFIX = bytes.fromhex("3053020101300506032b657004220420")
_ED25519_PKCS8_V2_PUBLIC_TAG = bytes.fromhex("a123032100")

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.DOTALL)
_PRIVATE_LABELS = ("PRIVATE KEY", "EC PRIVATE KEY")


def ed25519_to_pem(seed: bytes) -> str:
    """PKCS#8 v1 PEM text of a 32-byte Ed25519 seed."""
    return _pem("PRIVATE KEY", _ED25519_PKCS8_V1_PREFIX + seed)


def load_pem(pem: str | bytes) -> Identity:
    """Load a dfx identity file; return an `Ed25519Identity`, `Secp256k1Identity` or `P256Identity`.

    Raises `IdentityError` naming the problem when there is no private-key block, the
    key is encrypted, or the key type is not one the IC accepts.
    """
    text = pem.decode("ascii", errors="replace") if isinstance(pem, bytes) else pem
    blocks = {label: body for label, body in _PEM_BLOCK.findall(text)}
    if "ENCRYPTED PRIVATE KEY" in blocks:
        raise IdentityError(
            "the PEM file is encrypted; export it in plaintext first (`dfx identity export <name>`)"
        )
    label = next((name for name in _PRIVATE_LABELS if name in blocks), None)
    if label is None:
        found = ", ".join(sorted(blocks)) or "none"
        raise IdentityError(
            "no 'BEGIN PRIVATE KEY' or 'BEGIN EC PRIVATE KEY' block in the PEM text "
            f"(found: {found})"
        )
    try:
        der = base64.b64decode("".join(blocks[label].split()), validate=True)
    except binascii.Error as exc:
        raise IdentityError(f"the {label!r} PEM block is not valid base64: {exc}") from exc
    if label == "PRIVATE KEY":
        seed = _ed25519_seed(der)
        if seed is not None:
            return Ed25519Identity.from_seed(seed)
    return _load_ec(der, label)


def _ed25519_seed(der: bytes) -> bytes | None:
    """The seed of a PKCS#8 v1 or v2 Ed25519 key, or None if ``der`` is not one."""
    if len(der) == 48 and der.startswith(_ED25519_PKCS8_V1_PREFIX):
        return der[16:]
    if len(der) == 85 and der.startswith(_ED25519_PKCS8_V2_PREFIX):
        seed, tag, public = der[16:48], der[48:53], der[53:]
        if tag != _ED25519_PKCS8_V2_PUBLIC_TAG:
            raise IdentityError("Ed25519 PKCS#8 v2 key has a malformed public-key field")
        if Ed25519Identity.from_seed(seed).raw_public_key != public:
            raise IdentityError(
                "Ed25519 PKCS#8 v2 key is inconsistent: the embedded public key does not "
                "belong to the private key"
            )
        return seed
    return None


def _load_ec(der: bytes, label: str) -> Identity:
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError) as exc:
        raise IdentityError(f"cannot parse the {label!r} PEM block: {exc}") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Identity.from_seed(key.private_bytes_raw())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if isinstance(key.curve, ec.SECP256K1):
            return Secp256k1Identity(key)
        if isinstance(key.curve, ec.SECP256R1):
            return P256Identity(key)
        raise IdentityError(
            f"EC key on curve {key.curve.name} is not supported; the IC accepts "
            "secp256k1 and P-256 (secp256r1)"
        )
    raise IdentityError(
        f"{type(key).__name__} keys are not supported; the IC accepts Ed25519, secp256k1 and P-256"
    )


def _pem(label: str, der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"
