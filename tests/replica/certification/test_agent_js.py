"""Acceptance: unmodified @dfinity/agent 3.x against `manage.py runreplica` serving a
NON-ROOT subnet (application subnet 1, its state made with a `SubnetIdentity`).

The node script (tests/js/subnet_delegation.mjs) takes the root key from status, then
calls a Motoko counter (v3 certificates), sets and reads certified data on a certifying
canister (v2 call polled through read_state; a query whose node signature agent-js
checks with keys from a delegated ``/subnet`` read_state; the data certificate checked
with ``Certificate.create``), and presents certificates for a canister outside the
delegated range. agent-js verifies every delegation itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icframework.protocol import BlsKeyPair
from icframework.replica import Replica
from tests.agent.live_replica import running_replica
from tests.node import requires_node, run_node
from tests.replica.certification.subnets import app_subnet, outside
from tests.replica.corpus import motoko_wasm
from tests.replica.http.conftest import data_certificate_wasm

pytestmark = requires_node

ROOT = BlsKeyPair.generate()
APP = app_subnet(ROOT, 1)
CERTIFIED = "app1 certified this"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state: Path = tmp_path_factory.mktemp("app1") / "state"
    with Replica.open(state, identity=APP) as replica:
        counter = replica.create_canister()
        replica.install_code(counter, motoko_wasm("counter"))
        certifier = replica.create_canister()
        replica.install_code(certifier, data_certificate_wasm())
    with running_replica(state, startup_seconds=60) as url:
        result: dict[str, Any] = run_node("subnet_delegation.mjs", {
            "host": url,
            "counter": counter.to_text(),
            "certifier": certifier.to_text(),
            "stray": outside(APP).to_text(),
            "certifiedData": CERTIFIED,
            "subnetKey": APP.key.public_key_der.hex(),
        }, timeout=300)
    assert result["ok"], result
    yield result


def test_status_reports_the_root_key(outcome: dict[str, Any]) -> None:
    assert outcome["statusRootKey"] == ROOT.public_key_der.hex()


def test_v3_calls_and_a_signed_query_verify(outcome: dict[str, Any]) -> None:
    assert (outcome["inc1"], outcome["inc2"], outcome["get"]) == ("1", "2", "2")


def test_read_state_polling_verifies_the_delegation(outcome: dict[str, Any]) -> None:
    assert outcome["certifyHttpStatus"] == 202
    assert outcome["certifyReplyBytes"] == 0
    assert outcome["pollCertificateDelegation"] == APP.subnet_id.to_text()


def test_query_signatures_are_checked_with_node_keys_of_the_delegated_subnet(
    outcome: dict[str, Any],
) -> None:
    assert outcome["nodeKeysSubnet"] == APP.subnet_id.to_text()
    assert outcome["nodeKeyCount"] == 1


def test_the_data_certificate_verifies_with_certified_data(outcome: dict[str, Any]) -> None:
    assert outcome["queryStatus"] == "replied"
    assert outcome["certifiedData"] == CERTIFIED
    assert outcome["dataCertificateDelegation"] == APP.subnet_id.to_text()


def test_a_canister_outside_the_delegated_range_is_refused(outcome: dict[str, Any]) -> None:
    for refused in (outcome["strayDataCertificate"], outcome["strayReadState"]):
        assert refused["refused"] is True, refused
        assert refused["codeName"] == "CertificateNotAuthorizedErrorCode", refused


def test_the_subnet_key_is_not_a_root_key(outcome: dict[str, Any]) -> None:
    assert outcome["subnetKeyAsRoot"]["refused"] is True
    assert outcome["subnetKeyAsRoot"]["codeName"] == "CertificateVerificationErrorCode"
