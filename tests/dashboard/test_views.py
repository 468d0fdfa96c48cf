"""The dashboard page, with and without a replica served by this process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from icframework.core import Principal
from icframework.replica.service import ReplicaService, start_service, stop_service


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path)
    yield running
    stop_service()


def test_without_a_replica(settings: object, tmp_path: Path) -> None:
    settings.ICFRAMEWORK = {"STATE_DIR": str(tmp_path)}  # type: ignore[attr-defined]
    page = Client().get("/").content.decode()
    assert "This process serves no replica" in page


def test_lists_canisters(service: ReplicaService) -> None:
    owner = Principal.self_authenticating(b"dashboard owner")
    canister = service.run(lambda replica: replica.create_canister(sender=owner))
    page = Client().get("/").content.decode()
    assert canister.to_text() in page
    assert Principal(service.replica.subnet.config.subnet_id).to_text() in page


def test_links_each_canister_at_its_own_origin(service: ReplicaService) -> None:
    owner = Principal.self_authenticating(b"dashboard owner")
    canister = service.run(lambda replica: replica.create_canister(sender=owner))
    page = Client().get("/", SERVER_PORT="4943").content.decode()
    assert f'<a href="http://{canister}.localhost:4943/"' in page
    assert "canisterId=" not in page
