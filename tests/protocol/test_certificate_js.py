"""Certificates made here, checked by @dfinity/agent's Certificate.create (noble BLS)."""

from __future__ import annotations

import time

from icframework.core import Principal
from icframework.protocol import (
    BlsKeyPair,
    build_tree,
    make_subnet_delegation,
    sign_certificate,
)
from tests.node import requires_node, run_node

CANISTER = Principal.from_text("rrkah-fqaaa-aaaaa-aaaaq-cai")
OUTSIDE = Principal.from_canister_index(1000)


@requires_node
def test_agent_js_accepts_our_certificates_and_rejects_bad_ones() -> None:
    now = time.time_ns()
    root, subnet = BlsKeyPair.generate(), BlsKeyPair.generate()
    subnet_id = Principal.self_authenticating(subnet.public_key_der)
    tree = build_tree({"canister": {CANISTER.raw: {"certified_data": b"\x22" * 32}}, "time": now})
    stale = build_tree({"time": now - 10 * 60 * 10**9})
    delegation = make_subnet_delegation(
        root,
        subnet_id,
        subnet.public_key_der,
        [(Principal.from_canister_index(0), Principal.from_canister_index(99))],
        now,
    )
    good = sign_certificate(tree, root)
    tampered = bytearray(good)
    tampered[tampered.index(b"\x22" * 32)] ^= 1
    cases = [
        (good, root, CANISTER),
        (sign_certificate(tree, subnet, delegation), root, CANISTER),
        (good, subnet, CANISTER),
        (bytes(tampered), root, CANISTER),
        (sign_certificate(stale, root), root, CANISTER),
        (sign_certificate(tree, subnet, delegation), root, OUTSIDE),
    ]
    out = run_node(
        "protocol_certificate.mjs",
        {
            "cases": [
                {
                    "certificate": cert.hex(),
                    "rootKey": key.public_key_der.hex(),
                    "canisterId": canister.to_text(),
                    "lookup": ["canister", {"b": CANISTER.raw.hex()}, "certified_data"],
                }
                for cert, key, canister in cases
            ]
        },
    )
    results = out["results"]
    assert [r["ok"] for r in results] == [True, True, False, False, False, False]
    assert results[0]["value"] == results[1]["value"] == "22" * 32
    assert '"Invalid signature"' in results[2]["error"]  # wrong root key
    assert '"Invalid signature"' in results[3]["error"]  # tampered tree
    assert "Certificate is signed more than 5 minutes in the past" in results[4]["error"]
    assert f"does not include the canister {OUTSIDE}" in results[5]["error"]
