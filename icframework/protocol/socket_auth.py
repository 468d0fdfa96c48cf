"""Proving a key over a WebSocket: the challenge a client signs to authenticate a socket.

A canister socket (docs/events.md) sends a fresh random ``nonce``; the client signs
``SOCKET_DOMAIN ‖ canister_id ‖ nonce`` with the same key (or delegation chain) it signs
its HTTP calls with, so the socket's principal is the one its calls have. The domain
separator keeps the signature from being replayable as a request signature (those are
over ``"\\x0Aic-request" ‖ request_id``) and binding the canister id keeps it from being
replayed against another canister's socket; the nonce is single-use per connection.

Sans-IO: `challenge_message` builds the bytes to sign, `sign_challenge` signs them with
an `Identity`, `verify_challenge` checks a client's answer and returns its principal.
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.core import Principal
from icframework.identity import Identity
from icframework.identity.delegation import SignedDelegation
from icframework.identity.errors import IdentityError
from icframework.identity.verify import verify_signature
from icframework.protocol.delegation import verify_delegation_chain
from icframework.protocol.errors import AuthenticationError

__all__ = [
    "NONCE_BYTES",
    "SOCKET_DOMAIN",
    "SocketProof",
    "challenge_message",
    "sign_challenge",
    "verify_challenge",
]

SOCKET_DOMAIN = b"\x17icframework-socket-auth"
NONCE_BYTES = 32


def challenge_message(canister_id: Principal, nonce: bytes) -> bytes:
    """The bytes a client signs to authenticate a socket of ``canister_id``."""
    if len(nonce) != NONCE_BYTES:
        raise AuthenticationError(f"a socket challenge is {NONCE_BYTES} bytes, not {len(nonce)}")
    raw = canister_id.raw
    return SOCKET_DOMAIN + bytes([len(raw)]) + raw + nonce


@dataclass(frozen=True, slots=True)
class SocketProof:
    """A client's answer to a challenge: its DER public key, signature and delegations."""

    public_key: bytes
    signature: bytes
    delegations: tuple[SignedDelegation, ...] = ()


def sign_challenge(identity: Identity, canister_id: Principal, nonce: bytes) -> SocketProof:
    """Answer a challenge with ``identity`` (a key or a delegation identity)."""
    public_key = identity.der_public_key
    if public_key is None:
        raise AuthenticationError("the anonymous identity cannot authenticate a socket")
    signature = identity.sign(challenge_message(canister_id, nonce))
    return SocketProof(public_key, signature, tuple(identity.sender_delegation or ()))


def verify_challenge(
    proof: SocketProof, canister_id: Principal, nonce: bytes, *, now_ns: int
) -> Principal:
    """The principal that answered the challenge; raises `AuthenticationError`.

    With delegations, the last delegated key must have signed and ``canister_id`` must
    be among the chain's targets (if it restricts them), as for a call.
    """
    signing_key = proof.public_key
    if proof.delegations:
        signing_key, targets = verify_delegation_chain(
            proof.public_key, proof.delegations, now_ns=now_ns
        )
        if targets is not None and canister_id not in targets:
            raise AuthenticationError(
                f"Invalid delegation: canister {canister_id} is not among the delegation "
                "targets"
            )
    try:
        valid = verify_signature(signing_key, challenge_message(canister_id, nonce),
                                 proof.signature)
    except IdentityError as exc:
        raise AuthenticationError(f"unusable public key: {exc}") from exc
    if not valid:
        raise AuthenticationError(
            "the signature does not verify over this socket's challenge; sign "
            "SOCKET_DOMAIN + len(canister id) + canister id + nonce with the sender's key"
        )
    return Principal.self_authenticating(proof.public_key)
