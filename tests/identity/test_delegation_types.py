"""Delegation values and DelegationIdentity (signing lives in protocol.delegation)."""

from __future__ import annotations

import pytest

from icframework.core import Principal
from icframework.identity import (
    Delegation,
    DelegationChain,
    DelegationIdentity,
    Ed25519Identity,
    IdentityError,
    SignedDelegation,
)


def _chain(to: bytes, targets: tuple[Principal, ...] | None) -> DelegationChain:
    root = Ed25519Identity.generate()
    return DelegationChain(
        root.der_public_key,
        (SignedDelegation(Delegation(to, 1_700_000_000 * 10**9, targets), b"s" * 64),),
    )


def test_delegation_map_omits_absent_targets() -> None:
    assert Delegation(b"k", 5).to_map() == {"pubkey": b"k", "expiration": 5}
    with_targets = Delegation(b"k", 5, (Principal.from_canister_index(1),)).to_map()
    assert with_targets["targets"] == [Principal.from_canister_index(1).raw]


def test_chain_json_round_trip() -> None:
    session = Ed25519Identity.generate()
    for targets in (None, (Principal.from_canister_index(3), Principal.anonymous())):
        chain = _chain(session.der_public_key, targets)
        assert DelegationChain.from_json(chain.to_json()) == chain


def test_chain_json_errors() -> None:
    with pytest.raises(IdentityError, match="malformed delegation chain JSON"):
        DelegationChain.from_json('{"delegations": [{}], "publicKey": "00"}')


def test_delegation_identity_sends_as_root() -> None:
    session = Ed25519Identity.generate()
    chain = _chain(session.der_public_key, None)
    identity = DelegationIdentity(session, chain)
    assert identity.der_public_key == chain.public_key
    assert identity.principal == Principal.self_authenticating(chain.public_key)
    assert identity.sender_delegation == chain.delegations
    assert identity.sign(b"m") == session.sign(b"m")


def test_delegation_identity_refuses_foreign_inner_key() -> None:
    chain = _chain(Ed25519Identity.generate().der_public_key, None)
    with pytest.raises(IdentityError, match="not the key the chain delegates to"):
        DelegationIdentity(Ed25519Identity.generate(), chain)
    with pytest.raises(IdentityError, match="at least one delegation"):
        DelegationIdentity(Ed25519Identity.generate(), DelegationChain(b"k", ()))
