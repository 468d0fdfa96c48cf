"""The socket challenge's ``auth`` frame: delegation chains travel in it and verify as
they do for a call (expiry, targets), and malformed frames are named."""

from __future__ import annotations

import json
import os
import re
import time

import pytest

from icframework.core import Principal
from icframework.identity import DelegationIdentity, Ed25519Identity
from icframework.protocol import AuthenticationError, MalformedRequestError
from icframework.protocol.delegation import create_delegation_chain
from icframework.protocol.socket_auth import (
    NONCE_BYTES,
    SocketProof,
    auth_frame,
    proof_from_frame,
    sign_challenge,
    verify_challenge,
)

ROOT = Ed25519Identity.from_seed(b"r" * 32)
CANISTER = Principal.from_canister_index(7)
OTHER = Principal.from_canister_index(8)
HOUR = 3600 * 10**9


def _delegated(expiration: int, targets: list[Principal] | None) -> DelegationIdentity:
    middle, session = Ed25519Identity.generate(), Ed25519Identity.generate()
    first = create_delegation_chain(ROOT, middle.der_public_key, expiration, targets)
    chain = create_delegation_chain(middle, session.der_public_key, expiration, None, first)
    return DelegationIdentity(session, chain)


def test_a_delegation_chain_survives_the_json_frame_and_verifies_as_the_root() -> None:
    now = time.time_ns()
    nonce = os.urandom(NONCE_BYTES)
    identity = _delegated(now + HOUR, [OTHER, CANISTER])
    proof = sign_challenge(identity, CANISTER, nonce)
    assert len(proof.delegations) == 2
    frame = json.loads(json.dumps(auth_frame(proof)))
    assert frame["delegations"][0]["delegation"]["targets"] == [OTHER.to_text(),
                                                                CANISTER.to_text()]
    assert frame["delegations"][0]["delegation"]["expiration"] == str(now + HOUR)
    assert proof_from_frame(frame) == proof
    assert verify_challenge(proof_from_frame(frame), CANISTER, nonce, now_ns=now) == (
        ROOT.principal)
    # a plain key sends no delegations at all
    assert "delegations" not in auth_frame(sign_challenge(ROOT, CANISTER, nonce))


def test_expired_and_off_target_delegations_are_refused() -> None:
    now = time.time_ns()
    nonce = os.urandom(NONCE_BYTES)
    expired = sign_challenge(_delegated(now - 1, None), CANISTER, nonce)
    with pytest.raises(AuthenticationError, match="Invalid delegation: delegation 1 expired"):
        verify_challenge(expired, CANISTER, nonce, now_ns=now)
    elsewhere = sign_challenge(_delegated(now + HOUR, [OTHER]), CANISTER, nonce)
    with pytest.raises(AuthenticationError, match=f"canister {CANISTER} is not among the "
                                                  "delegation targets"):
        verify_challenge(elsewhere, CANISTER, nonce, now_ns=now)
    # the chain's signing key must sign: the root key's own signature does not do
    stolen = SocketProof(expired.public_key, ROOT.sign(b"x"), elsewhere.delegations)
    with pytest.raises(AuthenticationError):
        verify_challenge(stolen, CANISTER, nonce, now_ns=now)


@pytest.mark.parametrize(("change", "message"), [
    ({"delegations": {}}, '"delegations" must be a list of signed delegations'),
    ({"delegations": [{}] * 21}, '"delegations" has 21 entries; the maximum is 20'),
    ({"delegations": [{"signature": "AA=="}]},
     'delegation 1 must be {"delegation": {pubkey, expiration, targets?}, "signature": ...}'),
    ({"delegations": [{"delegation": {"pubkey": "AA==", "expiration": 5}, "signature": "AA=="}]},
     'delegation 1: "expiration" must be nanoseconds since the epoch as a decimal string, '
     "not 5"),
    ({"delegations": [{"delegation": {"pubkey": "AA==", "expiration": "5",
                                      "targets": ["nope"]}, "signature": "AA=="}]},
     "delegation 1: a target is not a principal"),
    ({"delegations": [{"delegation": {"pubkey": "%%", "expiration": "5"}, "signature": "AA=="}]},
     'delegation 1: "pubkey" is not valid base64'),
    ({"public_key": 3}, 'the auth frame: "public_key" must be a base64 string'),
])
def test_malformed_frames_are_named(change: dict[str, object], message: str) -> None:
    frame = {"op": "auth", "public_key": "AA==", "signature": "AA==", **change}
    with pytest.raises(MalformedRequestError, match=re.escape(message)):
        proof_from_frame(frame)
