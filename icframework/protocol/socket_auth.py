"""Proving a key over a WebSocket: the challenge a client signs to authenticate a socket.

A canister socket (docs/events.md) sends a fresh random ``nonce``; the client signs
``SOCKET_DOMAIN ‖ canister_id ‖ nonce`` with the same key (or delegation chain) it signs
its HTTP calls with, so the socket's principal is the one its calls have. The domain
separator keeps the signature from being replayable as a request signature (those are
over ``"\\x0Aic-request" ‖ request_id``) and binding the canister id keeps it from being
replayed against another canister's socket; the nonce is single-use per connection.

Sans-IO: `challenge_message` builds the bytes to sign, `sign_challenge` signs them with
an `Identity`, `auth_frame` / `proof_from_frame` turn the answer into the socket's JSON
``auth`` frame and back, `verify_challenge` checks it and returns its principal.

In the frame, bytes are base64 and a delegation chain (root first) is a list of
``{"delegation": {"pubkey": b64 DER, "expiration": "<ns since the epoch, decimal>",
"targets": ["<principal text>", ...]}, "signature": b64}`` (``targets`` only when the
delegation restricts them; the expiration is text because JavaScript numbers cannot
hold it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass

from icframework.core import Principal, PrincipalError
from icframework.identity import Identity
from icframework.identity.delegation import Delegation, SignedDelegation
from icframework.identity.errors import IdentityError
from icframework.identity.verify import verify_signature
from icframework.protocol.delegation import MAX_DELEGATIONS, verify_delegation_chain
from icframework.protocol.errors import AuthenticationError, MalformedRequestError

__all__ = [
    "NONCE_BYTES",
    "SOCKET_DOMAIN",
    "SocketProof",
    "auth_frame",
    "challenge_message",
    "proof_from_frame",
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


def auth_frame(proof: SocketProof) -> dict[str, object]:
    """The socket's JSON ``auth`` frame carrying ``proof`` (see the module docstring)."""
    frame: dict[str, object] = {
        "op": "auth",
        "public_key": _b64(proof.public_key),
        "signature": _b64(proof.signature),
    }
    if proof.delegations:
        frame["delegations"] = [_delegation_json(signed) for signed in proof.delegations]
    return frame


def proof_from_frame(frame: Mapping[str, object]) -> SocketProof:
    """The `SocketProof` of an ``auth`` frame; raises `MalformedRequestError` naming the
    field that is missing or malformed (no signature is checked here)."""
    entries = frame.get("delegations", [])
    if not isinstance(entries, list):
        raise MalformedRequestError("\"delegations\" must be a list of signed delegations")
    if len(entries) > MAX_DELEGATIONS:
        raise MalformedRequestError(
            f"\"delegations\" has {len(entries)} entries; the maximum is {MAX_DELEGATIONS}")
    chain = tuple(_delegation_from_json(index, entry)
                  for index, entry in enumerate(entries, start=1))
    return SocketProof(_unb64(frame, "public_key", "the auth frame"),
                       _unb64(frame, "signature", "the auth frame"), chain)


def _delegation_json(signed: SignedDelegation) -> dict[str, object]:
    delegation = signed.delegation
    inner: dict[str, object] = {
        "pubkey": _b64(delegation.pubkey),
        "expiration": str(delegation.expiration),
    }
    if delegation.targets is not None:
        inner["targets"] = [target.to_text() for target in delegation.targets]
    return {"delegation": inner, "signature": _b64(signed.signature)}


def _delegation_from_json(index: int, entry: object) -> SignedDelegation:
    where = f"delegation {index}"
    inner = entry.get("delegation") if isinstance(entry, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(inner, Mapping):
        raise MalformedRequestError(
            f"{where} must be {{\"delegation\": {{pubkey, expiration, targets?}}, "
            "\"signature\": ...}")
    expiration = inner.get("expiration")
    if not isinstance(expiration, str) or not expiration.isdigit():
        raise MalformedRequestError(
            f"{where}: \"expiration\" must be nanoseconds since the epoch as a decimal "
            f"string, not {expiration!r}")
    targets = inner.get("targets")
    if targets is not None and (
            not isinstance(targets, list) or not all(isinstance(t, str) for t in targets)):
        raise MalformedRequestError(f"{where}: \"targets\" must be a list of principal texts")
    try:
        scope = None if targets is None else tuple(Principal.from_text(t) for t in targets)
    except PrincipalError as exc:
        raise MalformedRequestError(f"{where}: a target is not a principal: {exc}") from None
    return SignedDelegation(
        Delegation(_unb64(inner, "pubkey", where), int(expiration), scope),
        _unb64(entry, "signature", where))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(mapping: Mapping[str, object], name: str, where: str) -> bytes:
    value = mapping.get(name)
    if not isinstance(value, str):
        raise MalformedRequestError(f"{where}: \"{name}\" must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedRequestError(f"{where}: \"{name}\" is not valid base64: {exc}") from None
