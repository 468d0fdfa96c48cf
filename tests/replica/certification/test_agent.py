"""The Python agent against a served non-root subnet, trusting the root key only.

Update replies (v3 certificates), read_state and query node signatures (whose node keys
come from a ``/subnet`` read_state) all verify through the subnet's delegation; status
reports the root key; a canister id outside the delegated range is refused.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.agent import AsyncAgent, AsyncManagementCanister, CertificateVerificationError
from icframework.core import Principal
from icframework.protocol import BlsKeyPair, Certificate, lookup_value, verify_certificate
from icframework.replica import ReplicaService
from tests.replica.certification.served import serving, status, with_agent
from tests.replica.certification.subnets import app_subnet, outside

ROOT = BlsKeyPair.generate()
APP = app_subnet(ROOT, 2)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService,
                                                                        Principal]]:
    state: Path = tmp_path_factory.mktemp("app2")
    with serving(state, APP) as (service, (canister,)):
        yield service, canister


@pytest.fixture
def canister(served: tuple[ReplicaService, Principal]) -> Principal:
    return served[1]


def test_status_reports_the_root_key(canister: Principal) -> None:
    reported = status()
    assert reported["root_key"] == ROOT.public_key_der != APP.key.public_key_der


def test_update_reply_certificate_verifies_through_the_delegation(canister: Principal) -> None:
    async def work(agent: AsyncAgent) -> tuple[bytes, bytes]:
        reply = await agent.update(canister, "certify", b"certified by app2")
        return reply, await agent.query(canister, "certificate", b"")

    reply, data_certificate = with_agent(ROOT.public_key_der, work)
    assert reply == b""
    # The query's node signature was checked (keys from a delegated /subnet read_state);
    # its reply is the data certificate, which verifies under the root key too.
    certificate = verify_certificate(data_certificate, ROOT.public_key_der,
                                     canister_id=canister, now_ns=time.time_ns())
    assert certificate.delegation is not None
    assert certificate.delegation.subnet_id == APP.subnet_id
    assert certificate.lookup(["canister", canister.raw, "certified_data"]).value == (
        b"certified by app2")


def test_read_state_verifies_through_the_delegation(canister: Principal) -> None:
    async def work(agent: AsyncAgent) -> Certificate:
        return await agent.read_state(canister, [["subnet", APP.subnet_id.raw, "public_key"],
                                                 ["canister", canister.raw, "module_hash"]])

    certificate = with_agent(ROOT.public_key_der, work)
    assert certificate.delegation is not None
    tree = certificate.tree
    assert lookup_value(["subnet", APP.subnet_id.raw, "public_key"], tree) == (
        APP.key.public_key_der)
    assert lookup_value(["canister", canister.raw, "module_hash"], tree) is not None


def test_the_subnet_key_is_not_a_root_key(canister: Principal) -> None:
    async def work(agent: AsyncAgent) -> bytes:
        return await agent.query(canister, "certificate", b"")

    with pytest.raises(CertificateVerificationError, match="delegation is invalid"):
        with_agent(APP.key.public_key_der, work)


def test_a_canister_outside_the_delegated_range_is_refused(canister: Principal) -> None:
    stray = outside(APP)

    async def read(agent: AsyncAgent) -> object:
        return await agent.read_state(stray, [["time"]])

    async def query(agent: AsyncAgent) -> object:
        return await agent.query(stray, "certificate", b"")

    for work in (read, query):
        with pytest.raises(CertificateVerificationError, match="not authorised to certify"):
            with_agent(ROOT.public_key_der, work)


def test_creating_a_canister_needs_an_effective_id_in_the_subnet_range(
    canister: Principal,
) -> None:
    """As on the IC: the create call's certificate is checked against its effective
    canister id, and ``aaaaa-aa`` lies in no subnet's range (agent-js does the same)."""

    async def create(agent: AsyncAgent, ecid: Principal | None) -> Principal:
        return await AsyncManagementCanister(agent).provisional_create_canister_with_cycles(
            effective_canister_id=ecid)

    created = with_agent(ROOT.public_key_der, lambda agent: create(agent, canister))
    assert APP.first_canister_index < created.canister_index() <= APP.last_canister_index
    with pytest.raises(CertificateVerificationError, match="not authorised to certify"):
        with_agent(ROOT.public_key_der, lambda agent: create(agent, None))
