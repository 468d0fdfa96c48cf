"""The gateway middleware without a replica in the process: routing still answers first,
and a canister named by ``?canisterId=`` is sent to its own origin, never served on ours."""

from __future__ import annotations

import pytest
from django.test import Client

from icframework.replica.gateway import VERIFICATION_HEADER
from icframework.replica.service import get_service
from tests.replica.gateway.test_mapping import CANISTER, OTHER


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
    assert b"canisterId 'nope' is not a valid canister id" in response.content


def test_other_requests_pass_through(settings: object, tmp_path: object) -> None:
    settings.ICFRAMEWORK = {"STATE_DIR": str(tmp_path)}  # type: ignore[attr-defined]
    response = Client().get("/")
    assert response.status_code == 200
    assert VERIFICATION_HEADER not in response


@pytest.mark.parametrize("method", ["get", "head", "post", "put", "delete"])
def test_a_canister_id_on_the_main_host_is_sent_to_the_canister_origin(method: str) -> None:
    # The attack: a page of any canister, opened as /<path>?canisterId=<id>, ran on the
    # apps' origin and read their keys. Now nothing of the canister is served there.
    response = getattr(Client(), method)(
        f"/shop/item?canisterId={CANISTER}&q=a+b", HTTP_HOST="127.0.0.1:4943",
        SERVER_PORT="4943")
    assert response.status_code == 307
    assert response["Location"] == f"http://{CANISTER}.localhost:4943/shop/item?q=a+b"
    assert response["Cache-Control"] == "no-store"
    assert VERIFICATION_HEADER not in response
    if method != "head":
        assert response.content == (
            f"canister {CANISTER} is served on its own origin: "
            f"http://{CANISTER}.localhost:4943/shop/item?q=a+b\n").encode()


def test_the_location_takes_nothing_but_the_principal_and_the_server_port() -> None:
    # A Host header (its port too) and a path or query chosen by an attacker cannot pick
    # the origin of the redirect or split the header.
    response = Client().get(
        "/x//evil.example/%0d%0aSet-Cookie:%20x=1", {"canisterId": f" {CANISTER}",
                                                   "next": "\r\nX: y"},
        HTTP_HOST="localhost:1234", SERVER_PORT="8000")
    assert response.status_code == 307
    location = response["Location"]
    assert location.startswith(f"http://{CANISTER}.localhost:8000/")
    assert location == (f"http://{CANISTER}.localhost:8000/x//evil.example/%0D%0ASet-Cookie:"
                        "%20x%3D1?next=%0D%0AX%3A+y")
    assert "\r" not in location and "\n" not in location


def test_the_default_port_is_left_out() -> None:
    response = Client().get(f"/?canisterId={CANISTER}", SERVER_PORT="80")
    assert response["Location"] == f"http://{CANISTER}.localhost/"


def test_the_canister_origin_itself_is_served_not_redirected() -> None:
    # On <id>.localhost the host decides; a canisterId naming another canister is ignored.
    response = Client().get(f"/?canisterId={OTHER}", HTTP_HOST=f"{CANISTER}.localhost:4943")
    assert response.status_code == 503  # the gateway answered (no replica in this process)
    raw = Client().get(f"/?canisterId={OTHER}", HTTP_HOST=f"{CANISTER}.raw.localhost:4943")
    assert raw.status_code == 503


def test_the_ic_http_interface_is_never_redirected() -> None:
    response = Client().get(f"/api/v2/status?canisterId={CANISTER}")
    assert response.status_code != 307
