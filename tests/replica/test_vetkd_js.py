"""Interop: npm ``@dfinity/vetkeys`` 0.4.0, unmodified, with keys from a canister on
``manage.py runreplica``.

The node script (tests/js/vetkd_interop.mjs) installs the Python vetKD canister
(tests/sdk/vetkd_canister.py) over HTTP with @dfinity/agent, makes a transport key,
asks the canister for its public key and an encrypted key, and lets the library decrypt
and verify it, derive the context key offline from the canister key, seal and open an
AES-GCM message with `DerivedKeyMaterial`, and do an IBE round trip. The Python side
then decrypts the same encrypted key with the replica's arithmetic and must find the
vetKey the library found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyblst import BlstP1Element

from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.vetkd import (
    decrypt_vetkey,
    encrypted_key_is_well_formed,
    verify_vetkey,
)
from icframework.sdk import load_canister, service_did
from tests.agent.live_replica import running_replica
from tests.node import requires_node, run_node

pytestmark = requires_node

SOURCE = Path(__file__).parents[1] / "sdk" / "vetkd_canister.py"


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    did = service_did(load_canister("tests.sdk.vetkd_canister"))
    module = pack_python_module({"vetkd_canister.py": SOURCE.read_text()}, "vetkd_canister.py",
                                did=did)
    with running_replica(tmp_path_factory.mktemp("vetkd-replica"), startup_seconds=120) as url:
        result: dict[str, Any] = run_node("vetkd_interop.mjs", {"host": url, "wasm": module.hex()},
                                          timeout=300)
    print(result)
    assert result["ok"], result
    yield result


def test_library_decrypts_and_verifies_the_canister_key(interop: dict[str, Any]) -> None:
    assert interop["transportKeyValid"] is True
    assert len(bytes.fromhex(interop["encryptedKey"])) == 192
    assert interop["signatureVerifies"] is True
    assert interop["otherInputVerifies"] is False
    assert interop["wrongTransportSecretRefused"] is True


def test_python_finds_the_vetkey_the_library_found(interop: dict[str, Any]) -> None:
    encrypted = bytes.fromhex(interop["encryptedKey"])
    public_key = bytes.fromhex(interop["publicKey"])
    input_ = bytes.fromhex(interop["input"])
    # The library (noble-curves) serializes the transport secret big-endian.
    secret = int.from_bytes(bytes.fromhex(interop["transportSecret"]), "big")
    generator = BlstP1Element.uncompress(bytes.fromhex(
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af0"
        "0adb22c6bb"))
    transport_key = bytes(generator.scalar_mul(secret).compress())
    assert encrypted_key_is_well_formed(encrypted, transport_key, public_key, input_)
    vetkey = decrypt_vetkey(encrypted, secret)
    assert vetkey.hex() == interop["vetKey"]
    assert verify_vetkey(vetkey, public_key, input_)


def test_offline_sub_key_and_fresh_ciphertexts(interop: dict[str, Any]) -> None:
    assert interop["offlineSubKeyMatches"] is True
    assert interop["secondCiphertextDiffers"] is True
    assert interop["secondVetKeySame"] is True


def test_symmetric_and_ibe_round_trips(interop: dict[str, Any]) -> None:
    assert interop["materialIsDerivedKeyMaterial"] is True
    assert interop["aesRoundTrip"] == "dear diary"
    assert interop["ibeRoundTrip"] == "for your eyes only"
    assert interop["ibeWrongIdentityRefused"] is True


def test_rejects_seen_over_http(interop: dict[str, Any]) -> None:
    assert interop["badTransportKey"].startswith(
        "4: vetkd_derive_key: the transport public key is invalid")
    assert interop["unknownKey"].startswith(
        "3: Unable to route management canister request vetkd_derive_key: ChainKeyError("
        '"Requested unknown or disabled threshold key: vetkd:Bls12_381_G2:key_2, existing '
        "enabled keys: [vetkd:Bls12_381_G2:dfx_test_key, ")
    assert interop["ingress"]["refused"] is True
    assert "Only canisters can call ic00 method vetkd_public_key" in interop["ingress"]["message"]
