"""Envelopes cross-checked with @dfinity/agent and @dfinity/identity in both directions."""

from __future__ import annotations

import time

from icframework.core import Principal
from icframework.identity import (
    DelegationChain,
    DelegationIdentity,
    Ed25519Identity,
    Secp256k1Identity,
)
from icframework.protocol import (
    CallContent,
    QueryContent,
    ReadStateContent,
    create_delegation_chain,
    decode_request,
    sign_envelope,
    verify_delegation_chain,
)
from tests.node import requires_node, run_node

CANISTER = Principal.from_text("rrkah-fqaaa-aaaaa-aaaaq-cai")
OTHER = Principal.from_text("ryjl3-tyaaa-aaaaa-aaaba-cai")
MINUTE = 60 * 10**9


@requires_node
def test_envelopes_signed_here_verify_in_agent_js() -> None:
    now = time.time_ns()
    ed, k1 = Ed25519Identity.generate(), Secp256k1Identity.generate()
    session = Ed25519Identity.generate()
    chain = create_delegation_chain(k1, ed.der_public_key, now + 10 * MINUTE, targets=[CANISTER])
    chain = create_delegation_chain(ed, session.der_public_key, now + 10 * MINUTE, previous=chain)
    delegated = DelegationIdentity(session, chain)
    envelopes = [
        sign_envelope(CallContent(CANISTER, "greet", b"DIDL\x00\x00", ed.principal, now, b"n"), ed),
        sign_envelope(QueryContent(CANISTER, "q", b"", k1.principal, now + 2**40), k1),
        sign_envelope(
            ReadStateContent(k1.principal, now, ((b"request_status", b"\x01" * 32), (b"time",))), k1
        ),
        sign_envelope(CallContent(CANISTER, "m", b"", delegated.principal, now), delegated),
    ]
    out = run_node(
        "protocol_envelope_verify.mjs", {"envelopes": [e.to_cbor().hex() for e in envelopes]}
    )
    for envelope, result in zip(envelopes, out["results"], strict=True):
        assert result == {
            "requestId": envelope.request_id.hex(),
            "senderMatches": True,
            "delegationsOk": True,
            "signatureOk": True,
        }


@requires_node
def test_envelopes_from_agent_js_verify_here() -> None:
    out = run_node(
        "protocol_envelope_sign.mjs",
        {"canisterId": CANISTER.to_text(), "otherCanisterId": OTHER.to_text()},
    )
    now = time.time_ns()
    by_name = {entry["name"]: entry for entry in out["envelopes"]}
    for name in (
        "ed25519-call",
        "ed25519-query",
        "p256-query",
        "secp256k1-call",
        "delegation-call",
    ):
        entry = by_name[name]
        envelope = decode_request(bytes.fromhex(entry["body"]), now_ns=now)
        assert envelope.content.sender.to_text() == entry["principal"], name
        assert isinstance(envelope.content, CallContent if "call" in name else QueryContent)
        assert entry["url"].endswith(f"/api/v2/canister/{CANISTER}/{name.rsplit('-', 1)[1]}")
    delegated = decode_request(bytes.fromhex(by_name["delegation-call"]["body"]), now_ns=now)
    assert delegated.sender_delegation is not None and len(delegated.sender_delegation) == 2

    read = decode_request(bytes.fromhex(by_name["ed25519-read-state"]["body"]), now_ns=now)
    assert isinstance(read.content, ReadStateContent)
    assert read.content.paths == ((b"request_status", b"\x07" * 32), (b"time",))

    # The agent-js JSON form of a chain parses and verifies with our code too.
    chain = DelegationChain.from_json(by_name["delegation-chain-json"]["chain"])
    assert (
        Principal.self_authenticating(chain.public_key).to_text()
        == by_name["delegation-chain-json"]["principal"]
    )
    _, targets = verify_delegation_chain(chain.public_key, chain.delegations, now_ns=now)
    assert targets == frozenset({CANISTER, OTHER})
