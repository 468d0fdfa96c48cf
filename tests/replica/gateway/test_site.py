"""The gateway end to end: Django's test client against a running replica serving http_site.mo.

The canister (``tests/replica/canisters/http_site.mo``) serves an HTML page certified with
a v1 asset tree the test builds (Motoko's core library has no SHA-256), a page whose body
does not match its certificate, a 3 MB body through a streaming callback (streamed on to
the client), a 1 MB body for Range requests, and a counter behind ``upgrade = opt true``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.core.asgi import get_asgi_application
from django.test import Client

from icframework.candid import BLOB, NAT, decode, encode
from icframework.core import Principal
from icframework.protocol import build_tree, encode_tree, reconstruct
from icframework.replica.gateway import VERIFICATION_HEADER
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm

pytestmark = requires_node

OWNER = Principal.self_authenticating(b"http site owner")
INDEX_HTML = b"<!doctype html><title>http_site</title><h1>Hello from http_site</h1>\n"
BIG = (bytes(range(251)) * (3 * 1_048_576 // 251 + 100))[: 3 * 1_048_576 + 12_345]
VIDEO = (bytes((7 * p + 3) % 256 for p in range(256)) * 4000)[:1_000_003]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService, Principal]]:
    wasm = motoko_wasm("http_site")
    digest = hashlib.sha256(INDEX_HTML).digest()
    tree = build_tree({"http_assets": {"/": digest, "/tampered": digest}})
    init = encode([BLOB, BLOB], [encode_tree(tree), reconstruct(tree)])
    service = start_service(Path(tmp_path_factory.mktemp("gateway-replica")))
    try:
        canister = service.run(lambda r: r.create_canister(sender=OWNER))
        service.run(lambda r: r.install_code(canister, wasm, init, sender=OWNER))
        yield service, canister
    finally:
        stop_service()


def host(canister: Principal, *, raw: bool = False, port: str = "") -> str:
    return f"{canister}.{'raw.' if raw else ''}localhost{port}"


def test_certified_page_through_the_host(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/", HTTP_HOST=host(canister, port=":8000"))
    assert response.status_code == 200
    assert response.content == INDEX_HTML
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response[VERIFICATION_HEADER] == "verified-v1"
    assert response["IC-Certificate"].startswith("certificate=:")


def test_certified_page_through_the_canister_id_parameter(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get(f"/?canisterId={canister}", follow=True)
    assert response.redirect_chain == [(f"http://{canister}.localhost/", 307)]
    assert response.status_code == 200
    assert response.content == INDEX_HTML
    assert response[VERIFICATION_HEADER] == "verified-v1"


def test_tampered_body_fails_verification(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/tampered", HTTP_HOST=host(canister))
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert b"the response was altered" in response.content
    assert response[VERIFICATION_HEADER] == "failed"


def test_raw_host_skips_verification(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/tampered", HTTP_HOST=host(canister, raw=True))
    assert response.status_code == 200
    assert response.content == b"<!doctype html><h1>Not what was certified</h1>\n"
    assert response[VERIFICATION_HEADER] == "skipped-raw"


def test_streamed_body_is_byte_exact(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/big.bin", HTTP_HOST=host(canister))
    assert response.status_code == 200
    assert response.streaming  # the gateway streams callback bodies
    content = b"".join(response.streaming_content)
    assert len(content) == len(BIG) > 3 * 1024 * 1024
    assert content == BIG
    assert response[VERIFICATION_HEADER] == "not-certified"
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(("value", "first", "last"), [
    ("bytes=0-99", 0, 99),
    ("bytes=1000000-", 1_000_000, 1_000_002),
    ("bytes=-500", 1_000_003 - 500, 1_000_002),
    ("bytes=999990-2000000", 999_990, 1_000_002),
])
def test_range_requests(site: tuple[ReplicaService, Principal], value: str, first: int,
                        last: int) -> None:
    _, canister = site
    response = Client().get("/video.mp4", HTTP_HOST=host(canister), HTTP_RANGE=value)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(VIDEO)}"
    assert response["Content-Type"] == "video/mp4"
    assert response.content == VIDEO[first:last + 1]


def test_range_request_on_a_streamed_body(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    start = 1_048_576 - 10
    response = Client().get("/big.bin", HTTP_HOST=host(canister),
                            HTTP_RANGE=f"bytes={start}-{start + 19}")
    assert response.status_code == 206
    assert response.content == BIG[start:start + 20]


def test_unsatisfiable_range(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/video.mp4", HTTP_HOST=host(canister), HTTP_RANGE="bytes=2000000-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(VIDEO)}"


def test_whole_video_without_range(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/video.mp4", HTTP_HOST=host(canister))
    assert response.status_code == 200
    assert response.content == VIDEO


def test_upgrade_to_update_call_increments_the_counter(
        site: tuple[ReplicaService, Principal]) -> None:
    service, canister = site
    before = decode(service.run(lambda r: r.query(canister, "get_counter")), [NAT])[0]
    first = Client().get("/counter", HTTP_HOST=host(canister))
    second = Client().get(f"/counter?canisterId={canister}", follow=True)
    assert first.status_code == second.status_code == 200
    assert first.content == f"counter={before + 1}".encode()
    assert second.content == f"counter={before + 2}".encode()
    assert first[VERIFICATION_HEADER] == "update-call"
    after = decode(service.run(lambda r: r.query(canister, "get_counter")), [NAT])[0]
    assert after == before + 2


def test_canister_404_page(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/no/such/page?x=1", HTTP_HOST=host(canister))
    assert response.status_code == 404
    assert response.content == b"not found: /no/such/page"


def test_unknown_canister_is_404(site: tuple[ReplicaService, Principal]) -> None:
    unknown = Principal.from_canister_index(0x80000000001FFFF0)
    response = Client().get("/", HTTP_HOST=host(unknown))
    assert response.status_code == 404
    assert f"canister {unknown} not found".encode() in response.content


def test_canister_without_code_is_502(site: tuple[ReplicaService, Principal]) -> None:
    service, _ = site
    empty = service.run(lambda r: r.create_canister(sender=OWNER))
    response = Client().get("/", HTTP_HOST=host(empty))
    assert response.status_code == 502
    assert b"reject code 5 (CANISTER_ERROR), IC0537" in response.content


@pytest.mark.parametrize("request_kwargs", [
    {"path": "/", "HTTP_HOST": "not-a-canister.localhost"},
    {"path": "/?canisterId=xyz"},
])
def test_invalid_canister_id_is_400(site: tuple[ReplicaService, Principal],
                                    request_kwargs: dict[str, str]) -> None:
    response = Client().get(**request_kwargs)
    assert response.status_code == 400
    assert b"is not a valid canister id" in response.content


def test_other_requests_reach_the_url_router(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    page = Client().get("/")
    assert page.status_code == 200
    assert VERIFICATION_HEADER not in page
    api = Client().get("/api/v2/status", HTTP_HOST=host(canister))
    assert VERIFICATION_HEADER not in api


def test_async_stack_serves_the_gateway(site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site

    async def fetch() -> tuple[int, bytes, str | None]:
        # Django's AsyncClient cannot follow a 307; httpx follows it to the canister origin.
        transport = httpx.ASGITransport(app=get_asgi_application())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                     follow_redirects=True) as client:
            response = await client.get(f"/?canisterId={canister}")
        return response.status_code, response.content, response.headers.get(VERIFICATION_HEADER)

    assert asyncio.run(fetch()) == (200, INDEX_HTML, "verified-v1")
