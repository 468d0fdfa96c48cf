"""The gateway middleware without a replica in the process: routing still answers first."""

from __future__ import annotations

from django.test import Client

from icframework.replica.gateway import VERIFICATION_HEADER
from icframework.replica.service import get_service
from tests.replica.gateway.test_mapping import CANISTER


def test_gateway_requests_need_a_replica() -> None:
    assert get_service() is None
    response = Client().get("/", HTTP_HOST=f"{CANISTER}.localhost")
    assert response.status_code == 503
    assert response.content == (
        b"this process serves no replica: start it with `python manage.py runreplica`\n")


def test_bad_canister_ids_are_refused_before_anything_else() -> None:
    response = Client().get("/?canisterId=nope")
    assert response.status_code == 400
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_other_requests_pass_through(settings: object, tmp_path: object) -> None:
    settings.ICFRAMEWORK = {"STATE_DIR": str(tmp_path)}  # type: ignore[attr-defined]
    response = Client().get("/")
    assert response.status_code == 200
    assert VERIFICATION_HEADER not in response
