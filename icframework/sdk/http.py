"""The IC HTTP gateway's Candid records and the small answers canisters build from them.

A canister that serves browsers through the gateway exports
``@query def http_request(request: HttpRequest) -> HttpResponse``; these dataclasses
are the interface's records (in the ``.did``: ``HttpRequest`` and ``HttpResponse``,
headers ``vec record { text; text }``). The helpers cover what canisters repeat:
a plain-text answer (`text_response`) and an immutable, content-addressed one with
an ETag that answers ``If-None-Match`` with 304 (`immutable_response`).
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk.types import nat16

__all__ = [
    "IMMUTABLE",
    "HeaderField",
    "HttpRequest",
    "HttpResponse",
    "etag_of",
    "header",
    "immutable_response",
    "text_response",
    "url_path",
]

HeaderField = tuple[str, str]
"""A header as the gateway sends it: ``(name, value)``; names in any case."""

IMMUTABLE = "public, max-age=31536000, immutable"
"""``cache-control`` of an answer whose URL changes whenever its bytes do (one year)."""


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: list[HeaderField]
    body: bytes
    certificate_version: nat16 | None = None


@dataclass
class HttpResponse:
    status_code: nat16
    headers: list[HeaderField]
    body: bytes
    upgrade: bool | None = None


def url_path(request: HttpRequest) -> str:
    """The request URL's path: the query string (``?...``) cut off, not decoded."""
    return request.url.split("?", 1)[0]


def header(request: HttpRequest, name: str) -> str | None:
    """The value of the first header called ``name`` (any case), or None."""
    name = name.lower()
    for key, value in request.headers:
        if key.lower() == name:
            return value
    return None


def text_response(status: int, message: str) -> HttpResponse:
    """A ``text/plain`` UTF-8 answer (errors, 404s), with ``nosniff``."""
    return HttpResponse(status, [("content-type", "text/plain; charset=utf-8"),
                                 ("x-content-type-options", "nosniff")],
                        message.encode("utf-8"))


def etag_of(sha256: bytes) -> str:
    """The quoted ETag of content with this SHA-256 digest (its first 16 bytes in hex)."""
    return '"' + sha256.hex()[:32] + '"'


def immutable_response(request: HttpRequest, content_type: str, body: bytes,
                       sha256: bytes) -> HttpResponse:
    """200 with ``body`` (empty for ``HEAD``), cached for a year with the ETag of
    ``sha256``; 304 without a body when ``If-None-Match`` lists that ETag. For content
    whose URL changes when it does (an id per version); ``nosniff`` keeps browsers
    from reading it as another type."""
    etag = etag_of(sha256)
    headers = [("content-type", content_type), ("cache-control", IMMUTABLE),
               ("etag", etag), ("x-content-type-options", "nosniff")]
    wanted = header(request, "if-none-match")
    if wanted is not None and etag in (tag.strip() for tag in wanted.split(",")):
        return HttpResponse(304, headers, b"")
    return HttpResponse(200, headers, b"" if request.method == "HEAD" else body)
