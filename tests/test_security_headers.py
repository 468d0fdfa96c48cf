"""The origin policy of the replica's own pages (`icframework.security_headers`): every
response of the URL router carries it; a canister's response, on its own origin, does not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import AsyncClient, Client

from icframework.core import Principal
from icframework.security_headers import API_HEADERS, SECURITY_HEADERS

CANISTER = Principal.from_canister_index(0x8000000000100000)


@pytest.fixture(autouse=True)
def _state(settings: object, tmp_path: Path) -> None:
    settings.ICFRAMEWORK = {"STATE_DIR": str(tmp_path)}  # type: ignore[attr-defined]


def _assert_policy(response: object, host: str = "testserver") -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response[name] == value, name  # type: ignore[index]
    policy = response["Content-Security-Policy"]  # type: ignore[index]
    for directive in ("script-src 'self'", "object-src 'none'", "base-uri 'none'",
                      "frame-ancestors 'none'", f"connect-src 'self' ws://{host} wss://{host}"):
        assert directive in policy, (directive, policy)


@pytest.mark.parametrize("path", ["/", "/chat/", "/market/", "/static/icframework/ic.js",
                                  "/no/such/page"])
def test_every_response_of_the_replicas_own_origin_has_the_policy(path: str) -> None:
    _assert_policy(Client().get(path, HTTP_HOST="127.0.0.1:4943"), "127.0.0.1:4943")


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v2/status"), ("GET", "/api/v2/no/such/endpoint"),
    ("POST", "/api/v2/canister/aaaaa-aa/query"), ("OPTIONS", "/api/v2/status"),
])
def test_the_ic_http_interface_answers_with_the_api_policy(method: str, path: str) -> None:
    """``/api/`` is answered in front of Django (config.asgi), so the middleware never
    sees it: its answers carry API_HEADERS themselves, whatever the outcome."""
    import asyncio

    from tests.replica.http.conftest import ApiClient

    answer = asyncio.run(ApiClient().arequest(method, path))
    for name, value in API_HEADERS.items():
        assert answer[name] == value, (name, answer.status_code)


def test_the_async_stack_adds_it_too() -> None:
    import asyncio

    async def fetch() -> object:
        return await AsyncClient().get("/")

    _assert_policy(asyncio.run(fetch()))


def test_a_views_own_policy_is_kept() -> None:
    # The marketplace page allows images from its canister's origin; the rest is the same.
    response = Client().get("/market/")
    assert response["Content-Security-Policy"].count("img-src") == 1


def test_a_canister_response_gets_none_of_it() -> None:
    # Served by the gateway on the canister's own origin (here: no replica, so a 503).
    response = Client().get("/", HTTP_HOST=f"{CANISTER}.localhost")
    assert response.status_code == 503
    assert "Content-Security-Policy" not in response
    assert "X-Frame-Options" not in response


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("template", sorted(
    [*(ROOT / "icframework" / "templates").rglob("*.html"),
     *(ROOT / "apps").glob("*/templates/**/*.html")]), ids=lambda path: path.name)
def test_the_pages_have_no_inline_script_or_style(template: Path) -> None:
    # A strict CSP blocks inline code: the pages must not rely on any.
    html = template.read_text(encoding="utf-8")
    assert not re.search(r"<style\b", html), template
    assert not re.search(r"\son[a-z]+\s*=", html), template
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, (template, tag)
