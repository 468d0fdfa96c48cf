"""The bundle's browser keys sign what the replica verifies: `signCallEnvelope` with a
non-extractable P-256 key and with a WebCrypto Ed25519 key (a migrated localStorage
key) gives envelopes `icframework.protocol.decode_request` accepts, sender and all.
(IndexedDB and the migration itself run in Chromium: apps/*/tests/test_browser.py.)"""

from __future__ import annotations

import time

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import decode_request
from icframework.protocol.envelope import CallContent
from tests.frontend.node_runner import run_script
from tests.node import requires_node

pytestmark = requires_node

LEDGER = Principal.from_canister_index(0x8000000000100002)


def test_signed_envelopes_verify_with_the_users_principal() -> None:
    legacy = Ed25519Identity.from_seed(bytes(range(32)))
    out = run_script("sign_envelope.mjs", {
        "canisterId": LEDGER.to_text(), "methodName": "faucet", "argHex": "4449444c0000",
        "seedHex": legacy.seed.hex(), "derHex": legacy.der_public_key.hex()})
    assert out["emptyArgHex"] == "4449444c0000"
    assert out["ed25519Principal"] == legacy.principal.to_text()  # migration keeps it
    for name in ("p256", "ed25519"):
        envelope = decode_request(bytes.fromhex(out[name]), now_ns=time.time_ns())
        content = envelope.content
        assert isinstance(content, CallContent)
        assert (content.canister_id, content.method_name, content.arg) == (
            LEDGER, "faucet", b"DIDL\x00\x00")
        assert content.sender.to_text() == out[f"{name}Principal"]
        assert content.nonce is not None and len(content.nonce) == 16
    assert envelope.sender_pubkey == legacy.der_public_key
