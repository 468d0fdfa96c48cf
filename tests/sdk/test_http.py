"""The HTTP gateway records and answers of `icframework.sdk.http`."""

from __future__ import annotations

import hashlib
import sys
import types

import pytest

from icframework.sdk import HttpRequest, HttpResponse, service_did
from icframework.sdk.http import etag_of, header, immutable_response, text_response, url_path

DIGEST = hashlib.sha256(b"picture").digest()


def get(url: str, *headers: tuple[str, str], method: str = "GET") -> HttpRequest:
    return HttpRequest(method, url, list(headers), b"")


def test_path_and_headers() -> None:
    assert url_path(get("/images/1?v=2")) == "/images/1"
    request = get("/", ("Accept", "a"), ("accept", "b"))
    assert header(request, "ACCEPT") == "a"
    assert header(request, "if-none-match") is None


def test_text_response() -> None:
    answer = text_response(404, "no image 3 — gone")
    assert answer == HttpResponse(404, [("content-type", "text/plain; charset=utf-8"),
                                        ("x-content-type-options", "nosniff")],
                                  "no image 3 — gone".encode())


def test_immutable_response_get_head_and_304() -> None:
    etag = etag_of(DIGEST)
    assert etag == '"' + DIGEST.hex()[:32] + '"'
    full = immutable_response(get("/a"), "image/png", b"png", DIGEST)
    assert (full.status_code, full.body) == (200, b"png")
    assert dict(full.headers) == {"content-type": "image/png",
                                  "cache-control": "public, max-age=31536000, immutable",
                                  "etag": etag, "x-content-type-options": "nosniff"}
    head = immutable_response(get("/a", method="HEAD"), "image/png", b"png", DIGEST)
    assert (head.status_code, head.body, head.headers) == (200, b"", full.headers)
    for sent in (etag, f'"other", {etag}'):
        cached = immutable_response(get("/a", ("If-None-Match", sent)), "image/png", b"png",
                                    DIGEST)
        assert (cached.status_code, cached.body) == (304, b"")
    stale = immutable_response(get("/a", ("if-none-match", '"old"')), "image/png", b"png",
                               DIGEST)
    assert stale.status_code == 200


def test_the_records_candid(monkeypatch: pytest.MonkeyPatch) -> None:
    source = (
        "from icframework.sdk import HttpRequest, HttpResponse, query\n"
        "from icframework.sdk.http import text_response\n"
        "@query\n"
        "def http_request(request: HttpRequest) -> HttpResponse:\n"
        "    return text_response(200, 'ok')\n"
    )
    module = types.ModuleType("web_canister")
    exec(source, module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    did = service_did(module)
    assert "type HttpRequest = record {" in did and "type HttpResponse = record {" in did
    assert "headers : vec record { text; text };" in did
    assert "certificate_version : opt nat16;" in did and "upgrade : opt bool;" in did
    assert "http_request : (HttpRequest) -> (HttpResponse) query;" in did
