"""Layer 1: who sends requests. Key pairs, dfx PEM files, signature checks, delegations.

`Identity` is the interface the agent and the envelope builder use: a principal, a DER
public key (or none, for anonymous) and ``sign``. Concrete identities are
`Ed25519Identity`, `Secp256k1Identity` (dfx's default), `P256Identity` (WebCrypto),
`AnonymousIdentity` and `DelegationIdentity`. `verify_signature` checks a signature
against any DER user key. This package depends on `icframework.core` only; signing and
verifying delegation chains lives in `icframework.protocol.delegation`.
"""

from icframework.identity._der import KeyKind, unwrap_der, wrap_der
from icframework.identity.anonymous import AnonymousIdentity
from icframework.identity.base import Identity
from icframework.identity.delegation import (
    Delegation,
    DelegationChain,
    DelegationIdentity,
    SignedDelegation,
)
from icframework.identity.ecdsa import P256Identity, Secp256k1Identity
from icframework.identity.ed25519 import Ed25519Identity
from icframework.identity.errors import IdentityError
from icframework.identity.pem import load_pem
from icframework.identity.verify import verify_signature

__all__ = [
    "AnonymousIdentity",
    "Delegation",
    "DelegationChain",
    "DelegationIdentity",
    "Ed25519Identity",
    "Identity",
    "IdentityError",
    "KeyKind",
    "P256Identity",
    "Secp256k1Identity",
    "SignedDelegation",
    "load_pem",
    "unwrap_der",
    "verify_signature",
    "wrap_der",
]
