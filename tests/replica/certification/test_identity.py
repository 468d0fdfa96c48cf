"""Subnet identities and delegations in the embedded replica (no HTTP).

A subnet that is not the root signs its state with its own key; every certificate it
hands out carries the root key's delegation, which verifies under the root key alone
and vouches only for the subnet's canister range. The embedded default stays the root
subnet, with no delegation.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.protocol import (
    BlsKeyPair,
    CertificateError,
    decode_canister_ranges,
    lookup_value,
    make_subnet_delegation,
    parse_certificate,
    verify_certificate,
)
from icframework.replica import Replica
from icframework.replica.certification import DELEGATION_REFRESH_NS, SubnetIdentity
from icframework.replica.errors import ReplicaError
from tests.replica.certification.subnets import app_range, app_subnet, narrow_subnet
from tests.replica.http.conftest import data_certificate_wasm

ROOT = BlsKeyPair.generate()
APP = app_subnet(ROOT, 1)
DAY_NS = 24 * 3600 * 1_000_000_000


@pytest.fixture(scope="module")
def app_replica() -> Replica:
    """Application subnet 1 with a certifying canister (certified data ``b"app"``)."""
    replica = Replica.open(identity=APP)
    canister = replica.create_canister()
    replica.install_code(canister, data_certificate_wasm())
    replica.update(canister, "certify", b"app")
    return replica


def installed(replica: Replica) -> Principal:
    (canister,) = (Principal(raw) for raw in replica.canister_records())
    return canister


def test_the_embedded_default_is_the_root_subnet_without_delegation() -> None:
    with Replica.open() as replica:
        canister = replica.create_canister()
        identity = replica.identity
        assert identity.is_root and identity.delegation is None
        assert replica.subnet.config.root_key == replica.key.public_key_der
        assert replica.subnet_id == Principal.self_authenticating(replica.key.public_key_der)
        certificate = replica.certified_state().certificate([("canister", canister.raw)])
        assert parse_certificate(certificate).delegation is None
        verify_certificate(certificate, replica.key.public_key_der, canister_id=canister)


def test_a_non_root_subnet_runs_with_its_identity(app_replica: Replica) -> None:
    config = app_replica.subnet.config
    assert app_replica.subnet_id == APP.subnet_id != Principal.self_authenticating(
        ROOT.public_key_der)
    assert config.root_key == ROOT.public_key_der  # ic0.root_key_copy and status see the root key
    assert (config.first_canister_index, config.last_canister_index) == app_range(1)
    canister = installed(app_replica)
    assert canister == Principal.from_canister_index(app_range(1)[0])


def test_its_certificates_carry_the_delegation_and_verify_under_the_root_key(
    app_replica: Replica,
) -> None:
    canister = installed(app_replica)
    data = app_replica.certified_state().certificate([("canister", canister.raw, "module_hash")])
    certificate = verify_certificate(data, ROOT.public_key_der, canister_id=canister,
                                     now_ns=time.time_ns())
    assert certificate.delegation == APP.delegation
    sid = APP.subnet_id.raw
    state = app_replica.certified_state().tree
    # The subnet's own tree names its own key; the root key is only in the delegation.
    assert lookup_value(["subnet", sid, "public_key"], state) == APP.key.public_key_der
    with pytest.raises(CertificateError, match="delegation is invalid"):
        verify_certificate(data, APP.key.public_key_der, canister_id=canister)


def test_the_delegation_reveals_the_subnet_key_ranges_and_time() -> None:
    assert APP.delegation is not None
    inner = verify_certificate(APP.delegation.certificate, ROOT.public_key_der)
    sid = APP.subnet_id.raw
    assert inner.delegation is None
    assert lookup_value(["subnet", sid, "public_key"], inner.tree) == APP.key.public_key_der
    low, high = (Principal.from_canister_index(index) for index in app_range(1))
    ranges = lookup_value(["subnet", sid, "canister_ranges"], inner.tree)
    assert ranges is not None and decode_canister_ranges(ranges) == ((low, high),)
    assert lookup_value(["canister_ranges", sid, low.raw], inner.tree) == ranges
    assert inner.time_ns is not None and APP.delegation_time_ns() == inner.time_ns


def test_data_certificates_of_queries_carry_the_delegation(app_replica: Replica) -> None:
    canister = installed(app_replica)
    data = app_replica.query(canister, "certificate")
    certificate = verify_certificate(data, ROOT.public_key_der, canister_id=canister,
                                     now_ns=time.time_ns())
    assert certificate.delegation is not None
    assert certificate.lookup(["canister", canister.raw, "certified_data"]).value == b"app"


def test_a_canister_outside_the_delegated_range_is_refused() -> None:
    identity = narrow_subnet(ROOT)
    with Replica.open(identity=identity) as replica:
        vouched = replica.create_canister()
        stray = replica.create_canister()
        data = replica.certified_state().certificate([("canister", stray.raw, "controllers")])
    assert identity.delegated_ranges() == ((vouched, vouched),)
    with pytest.raises(CertificateError, match="not authorised to certify canister"):
        verify_certificate(data, ROOT.public_key_der, canister_id=stray)
    verify_certificate(data, ROOT.public_key_der, canister_id=vouched)


@settings(max_examples=40, deadline=None)
@given(index=st.integers(app_range(1)[0] - 3 * 0x100000, app_range(1)[1] + 3 * 0x100000))
def test_the_verifier_accepts_exactly_the_delegated_range(index: int) -> None:
    first, last = app_range(1)
    canister = Principal.from_canister_index(index)
    try:
        verify_certificate(app_certificate(), ROOT.public_key_der, canister_id=canister)
    except CertificateError as exc:
        assert not first <= index <= last, exc
        assert "outside the subnet's canister ranges" in str(exc)
    else:
        assert first <= index <= last


def app_certificate() -> bytes:
    """A certificate signed by APP's key with its delegation (built once)."""
    global _APP_CERTIFICATE
    if _APP_CERTIFICATE is None:
        with Replica.open(identity=APP) as replica:
            replica.subnet.execute_round()
            _APP_CERTIFICATE = replica.certified_state().certificate([("time",)])
    return _APP_CERTIFICATE


_APP_CERTIFICATE: bytes | None = None


@pytest.mark.parametrize("broken", ["root with delegation", "no delegation", "other subnet",
                                    "other root", "other key"])
def test_inconsistent_identities_are_refused(broken: str) -> None:
    key = BlsKeyPair.generate()
    other = app_subnet(ROOT, 2)
    stranger_root = BlsKeyPair.generate()
    first, last = app_range(1)
    sid = Principal.self_authenticating(key.public_key_der)
    ranges = APP.canister_ranges
    cases = {
        "root with delegation": lambda: SubnetIdentity(ROOT, ROOT.public_key_der,
                                                       delegation=other.delegation),
        "no delegation": lambda: SubnetIdentity(key, ROOT.public_key_der, first, last),
        "other subnet": lambda: SubnetIdentity(key, ROOT.public_key_der, first, last,
                                               other.delegation),
        "other root": lambda: SubnetIdentity(key, ROOT.public_key_der, first, last,
                                             make_subnet_delegation(
                                                 stranger_root, sid, key.public_key_der, ranges,
                                                 time.time_ns())),
        "other key": lambda: SubnetIdentity(key, ROOT.public_key_der, first, last,
                                            make_subnet_delegation(
                                                ROOT, sid, other.key.public_key_der, ranges,
                                                time.time_ns())),
    }
    with pytest.raises(ReplicaError):
        cases[broken]()


def test_the_identity_is_kept_with_the_state(tmp_path: Path) -> None:
    with Replica.open(tmp_path, identity=APP) as replica:
        replica.create_canister()
    with Replica.open(tmp_path) as reopened:
        assert reopened.identity.subnet_id == APP.subnet_id
        assert reopened.identity.delegation == APP.delegation
        assert reopened.subnet.config.root_key == ROOT.public_key_der
        assert reopened.identity.first_canister_index == APP.first_canister_index
    with pytest.raises(ReplicaError, match="another key"):
        Replica.open(tmp_path, identity=app_subnet(ROOT, 1))


def test_a_delegation_a_day_old_is_refreshed_and_kept(tmp_path: Path) -> None:
    issued = time.time_ns() - DAY_NS - 1
    identity = app_subnet(ROOT, 1, time_ns=issued)
    assert identity.needs_refresh(time.time_ns())
    assert not identity.needs_refresh(issued + DELEGATION_REFRESH_NS)
    with Replica.open(tmp_path, identity=identity) as replica:
        canister = replica.create_canister()
        stale = replica.certified_state().certificate([("canister", canister.raw)])
        fresh = identity.fresh_delegation(ROOT, time.time_ns())
        replica.set_delegation(fresh)
        assert not replica.identity.needs_refresh(time.time_ns())
        renewed = replica.certified_state().certificate([("canister", canister.raw)])
    assert parse_certificate(stale).delegation == identity.delegation
    assert parse_certificate(renewed).delegation == fresh
    verify_certificate(renewed, ROOT.public_key_der, canister_id=canister, now_ns=time.time_ns())
    with Replica.open(tmp_path) as reopened:
        assert reopened.identity.delegation == fresh
