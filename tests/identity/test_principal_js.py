"""Principal text and bytes agree with @dfinity/principal on a corpus."""

from __future__ import annotations

import pytest

from icframework.core import Principal, PrincipalError
from icframework.identity import Ed25519Identity, P256Identity, Secp256k1Identity
from tests.node import requires_node, run_node

HEX_CORPUS = [
    "",
    "04",
    "00000000000000010101",
    "00000000000000020101",
    "80000000001000010101",
    "ffffffffffe000000101",
    "abcd01",
    "ff" * 29,
    "01",
    "7f",
    "00" * 10,
    bytes(range(29)).hex(),
]
TEXT_CORPUS = [
    "aaaaa-aa",
    "2vxsx-fae",
    "rrkah-fqaaa-aaaaa-aaaaq-cai",
    "ryjl3-tyaaa-aaaaa-aaaba-cai",
    "em77e-bvlzu-aq",
    "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe",
    "rrkah-fqaaa-aaaaa-aaaaq-caj",  # bad checksum
    "rrkah-fqaaa",  # truncated
]


@requires_node
def test_principals_agree_with_agent_js() -> None:
    keys = [
        Ed25519Identity.generate().der_public_key,
        Secp256k1Identity.generate().der_public_key,
        P256Identity.generate().der_public_key,
    ]
    out = run_node(
        "identity_principal.mjs",
        {"hexes": HEX_CORPUS, "texts": TEXT_CORPUS, "ders": [k.hex() for k in keys]},
    )
    assert out["texts"] == [Principal.from_hex(h).to_text() for h in HEX_CORPUS]
    ours: list[str | None] = []
    for text in TEXT_CORPUS:
        try:
            ours.append(Principal.from_text(text).raw.hex())
        except PrincipalError:
            ours.append(None)
    assert out["hexes"] == ours
    assert out["selfAuth"] == [Principal.self_authenticating(k).to_text() for k in keys]


def test_corpus_values_known() -> None:
    assert Principal.from_text("em77e-bvlzu-aq").raw == bytes.fromhex("abcd01")
    with pytest.raises(PrincipalError, match="rrkah-fqaaa-aaaaa-aaaaq-caj"):
        Principal.from_text("rrkah-fqaaa-aaaaa-aaaaq-caj")
    # Deliberate difference: core parses upper case, agent-js's fromText refuses it.
    assert Principal.from_text("RRKAH-FQAAA-AAAAA-AAAAQ-CAI") == Principal.from_canister_index(1)
