"""The dashboard's subnet sources on the embedded replica: a one-subnet list, read by the
same code a scale-out front end's copies go through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings

from icframework.core import Principal
from icframework.dashboard import overview
from icframework.dashboard.subnets import find_canister, subnet_sources, subnet_summary
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests.dashboard.support import OWNER


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path / "state")
    with override_settings(BASE_DIR=tmp_path):
        yield running
    stop_service()


def test_no_replica_no_sources() -> None:
    assert subnet_sources() == []


def test_the_embedded_replica_is_one_subnet(service: ReplicaService) -> None:
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    (source,) = subnet_sources()
    identity = service.replica.identity
    assert source.name == "local" and source.reader is service
    assert source.ranges == (f"{identity.first_canister_index:#x}.."
                             f"{identity.last_canister_index:#x}",)
    assert source.is_root and source.lease is None and source.committed_height is None
    summary = subnet_summary(source)
    assert summary["subnet_id"] == service.replica.subnet_id.to_text()
    assert summary["height"] == summary["committed_height"] == service.replica.height
    assert summary["lag"] == 0 and summary["lease_holder"] is None
    assert find_canister(canister, [source]) is source
    absent = Principal.from_canister_index(identity.last_canister_index)
    assert find_canister(absent, [source]) is None
    (shown,) = overview.subnets([source], {})
    assert [row["id"] for row in shown["rows"]] == [canister.to_text()]
    assert shown["rows"][0]["subnet"] == "local"


def test_the_embedded_page_has_no_cluster_table(service: ReplicaService) -> None:
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    page = Client().get("/").content.decode()
    assert "Local replica" in page and 'id="subnets"' not in page
    detail = Client().get(f"/canisters/{canister}/").content.decode()
    assert 'data-subnet="local"' in detail
    assert service.replica.subnet_id.to_text() in detail
