"""The IC HTTP gateway's Candid records and the small answers canisters build from them.

A canister that serves browsers through the gateway exports
``@query def http_request(request: HttpRequest) -> HttpResponse``; these dataclasses
are the interface's records (in the ``.did``: ``HttpRequest`` and ``HttpResponse``,
headers ``vec record { text; text }``). The helpers cover what canisters repeat:
a plain-text answer (`text_response`) and an immutable, content-addressed one with
an ETag that answers ``If-None-Match`` with 304 (`immutable_response`).

Streaming: a reply to one message carries at most a few MiB, so a larger body goes out
as its first chunk plus a ``streaming_strategy`` naming a query method of the canister
(a ``func`` reference, `icframework.candid.FuncRef`) and a token; the gateway calls
that method with the token, appends the chunk it answers and repeats with the next
token until there is none. `ChunkedBody` describes a body of ``size`` bytes read in
chunks (e.g. chunks kept in a stable map); `streaming_response` answers a request for
it and `streaming_chunk` answers the callback. A ``Range`` request is answered by the
canister itself with 206 from only the chunks it covers (`parse_range`, with the
gateway's semantics), 416 when no byte satisfies it; ``If-None-Match`` with 304.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from icframework.candid import FuncRef
from icframework.sdk import ic
from icframework.sdk.types import VariantValue, func_type, nat16, nat64, variant

__all__ = [
    "IMMUTABLE",
    "CallbackStrategy",
    "ChunkedBody",
    "FuncRef",
    "HeaderField",
    "HttpRequest",
    "HttpResponse",
    "RangeNotSatisfiable",
    "StreamingCallback",
    "StreamingCallbackHttpResponse",
    "StreamingStrategy",
    "StreamingToken",
    "chunk_indexes",
    "etag_of",
    "header",
    "if_range_holds",
    "immutable_response",
    "parse_range",
    "streaming_chunk",
    "streaming_response",
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
class StreamingToken:
    """Where a streamed body continues: the body's ``key`` and the next chunk's index."""

    key: str
    index: nat64


@dataclass
class StreamingCallbackHttpResponse:
    """A streaming callback's answer: one chunk, and the token of the next (None: done)."""

    body: bytes
    token: StreamingToken | None = None


StreamingCallback = Annotated[
    FuncRef, func_type([StreamingToken], [StreamingCallbackHttpResponse], "query")]
"""``func (StreamingToken) -> (StreamingCallbackHttpResponse) query``."""


@dataclass
class CallbackStrategy:
    """``record { callback; token }``: the gateway calls ``callback(token)`` next."""

    callback: StreamingCallback
    token: StreamingToken


@variant
class StreamingStrategy(VariantValue):
    """``variant { Callback : CallbackStrategy }``: ``StreamingStrategy(Callback=...)``."""

    Callback: CallbackStrategy


@dataclass
class HttpResponse:
    status_code: nat16
    headers: list[HeaderField]
    body: bytes
    upgrade: bool | None = None
    streaming_strategy: StreamingStrategy | None = None


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


# -- ranges -------------------------------------------------------------------------------

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE | re.ASCII)
_POSITION_DIGITS = 18
_POSITION_CAP: int = 10**_POSITION_DIGITS  # byte positions saturate here (past any body)


class RangeNotSatisfiable(ValueError):
    """A ``Range`` no byte of the body satisfies (answered with 416)."""

    def __init__(self, size: int, value: str) -> None:
        shown = value if len(value) <= 80 else value[:80] + "…"
        super().__init__(f"range {shown!r} is not satisfiable for a body of {size} bytes")
        self.size = size


def _position(digits: str) -> int:
    """A byte position from decimal digits, saturated at `_POSITION_CAP` (no huge ints)."""
    significant = digits.lstrip("0")
    if len(significant) > _POSITION_DIGITS:
        return _POSITION_CAP
    return min(int(significant or "0"), _POSITION_CAP)


def _digits_less(left: str, right: str) -> bool:
    """``int(left) < int(right)`` for decimal digit strings of any length."""
    left, right = left.lstrip("0"), right.lstrip("0")
    return (len(left), left) < (len(right), right)


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The inclusive byte positions ``(first, last)`` a ``Range`` header selects.

    One ``bytes=first-last``, ``bytes=first-`` or ``bytes=-suffix`` range (RFC 9110
    §14.1.2), the last position clamped to the body of ``size`` bytes. None for anything
    else (several ranges, other units, bad syntax, last before first): ignore the header
    and send the whole body. Raises `RangeNotSatisfiable` when the range starts at or
    after the end, or is an empty suffix. The gateway (`icframework.replica.gateway`)
    uses this parser too, for the ranges it serves from assembled bodies.
    """
    match = _RANGE.match(value)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(size, value)
        return max(size - suffix, 0), size - 1
    if last_text and _digits_less(last_text, first_text):
        return None
    first = _position(first_text)
    if first >= size:
        raise RangeNotSatisfiable(size, value)
    last = _position(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def if_range_holds(if_range: str | None, etag: str | None) -> bool:
    """Whether a ``Range`` may be served under the request's ``If-Range`` (RFC 9110 §13.1.5).

    No ``If-Range``: yes. An entity tag: only if it is strong and equal to the
    representation's strong ``etag`` (a weak tag never matches; browsers send the ETag
    they cached on every range request after the first). A date: no, since these answers
    carry no ``Last-Modified`` to compare it with, so the whole body is sent.
    """
    if if_range is None:
        return True
    wanted = if_range.strip()
    if not wanted.startswith('"') or etag is None or etag.startswith("W/"):
        return False
    return wanted == etag.strip()


def chunk_indexes(first: int, last: int, chunk_bytes: int) -> range:
    """The indexes of the ``chunk_bytes``-byte chunks that hold bytes ``first..last``."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
    return range(first // chunk_bytes, last // chunk_bytes + 1)


# -- streaming ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkedBody:
    """A body of ``size`` bytes kept as chunks of ``chunk_bytes`` (the last one shorter).

    ``read(index)`` returns chunk ``index`` (0 ≤ index < `count`); ``key`` names the body
    in streaming tokens, so the callback method can find it again.
    """

    key: str
    size: int
    chunk_bytes: int
    read: Callable[[int], bytes]

    def __post_init__(self) -> None:
        if self.chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be positive, got {self.chunk_bytes}")
        if self.size < 0:
            raise ValueError(f"size must not be negative, got {self.size}")

    @property
    def count(self) -> int:
        """How many chunks carry the body (0 for an empty body)."""
        return -(-self.size // self.chunk_bytes)

    def chunk(self, index: int) -> bytes:
        """Chunk ``index``, checked against the length the size implies."""
        expected = min(self.chunk_bytes, self.size - index * self.chunk_bytes)
        data = self.read(index)
        if len(data) != expected:
            raise ValueError(
                f"chunk {index} of {self.key!r} has {len(data)} bytes, expected {expected} "
                f"(size {self.size}, chunk_bytes {self.chunk_bytes}); the stored chunks do "
                "not match the size")
        return data

    def slice(self, first: int, last: int) -> bytes:
        """Bytes ``first..last`` (inclusive), reading only the chunks that hold them."""
        indexes = chunk_indexes(first, last, self.chunk_bytes)
        data = b"".join(self.chunk(i) for i in indexes)
        offset = indexes.start * self.chunk_bytes
        return data[first - offset:last - offset + 1]

    def next_token(self, index: int) -> StreamingToken | None:
        """The token of chunk ``index + 1``, None after the last chunk."""
        return StreamingToken(self.key, index + 1) if index + 1 < self.count else None


def _callback_ref(callback: str | FuncRef) -> FuncRef:
    return callback if isinstance(callback, FuncRef) else FuncRef(ic.id(), callback)


def streaming_response(request: HttpRequest, body: ChunkedBody, callback: str | FuncRef, *,
                       content_type: str, headers: list[HeaderField] | None = None,
                       sha256: bytes | None = None,
                       max_range_bytes: int | None = None) -> HttpResponse:
    """The answer to ``request`` for a chunked ``body``.

    * With ``sha256``, the answer carries its ETag and the immutable cache header, and
      an ``If-None-Match`` listing the ETag gets 304 without a body.
    * A satisfiable ``Range`` (GET, with no ``If-Range`` or one naming this ETag: see
      `if_range_holds`) gets 206 with ``Content-Range`` and
      the bytes read from only the chunks they lie in; at most ``max_range_bytes``
      (default ``chunk_bytes``) are sent, and the client asks for the rest. An
      unsatisfiable one gets 416 with ``Content-Range: bytes */size``.
    * Otherwise 200 with the first chunk and, if there are more, a streaming strategy
      whose callback is ``callback`` (a method name of this canister, or a `FuncRef`),
      which should answer with `streaming_chunk`. ``HEAD`` gets the headers only.
    """
    out = [("content-type", content_type), ("accept-ranges", "bytes"),
           ("x-content-type-options", "nosniff"), *(headers or [])]
    etag = etag_of(sha256) if sha256 is not None else None
    if etag is not None:
        out += [("cache-control", IMMUTABLE), ("etag", etag)]
        wanted = header(request, "if-none-match")
        if wanted is not None and etag in (tag.strip() for tag in wanted.split(",")):
            return HttpResponse(304, out, b"")
    wanted_range = header(request, "range")
    if (wanted_range is not None and request.method == "GET"
            and if_range_holds(header(request, "if-range"), etag)):
        try:
            selected = parse_range(wanted_range, body.size)
        except RangeNotSatisfiable as exc:
            kept = [(k, v) for k, v in out if k != "content-type"]
            return HttpResponse(416, [*kept, ("content-range", f"bytes */{body.size}"),
                                      ("content-type", "text/plain; charset=utf-8")],
                                str(exc).encode())
        if selected is not None:
            first, last = selected
            last = min(last, first + (max_range_bytes or body.chunk_bytes) - 1)
            return HttpResponse(206, [*out, ("content-range",
                                             f"bytes {first}-{last}/{body.size}")],
                                body.slice(first, last))
    if request.method == "HEAD" or body.count == 0:
        return HttpResponse(200, out, b"")
    token = body.next_token(0)
    strategy = None if token is None else StreamingStrategy(
        Callback=CallbackStrategy(_callback_ref(callback), token))
    return HttpResponse(200, out, body.chunk(0), streaming_strategy=strategy)


def streaming_chunk(token: StreamingToken, body: ChunkedBody) -> StreamingCallbackHttpResponse:
    """The streaming callback's answer for ``token``: its chunk and the next token.

    Raises `ValueError` for a token that names another body or a chunk past the end
    (the callback is a public query: anyone may call it with any token).
    """
    if token.key != body.key or not 0 <= token.index < body.count:
        raise ValueError(
            f"streaming token ({token.key!r}, {token.index}) names no chunk of "
            f"{body.key!r} ({body.count} chunks)")
    return StreamingCallbackHttpResponse(body.chunk(token.index), body.next_token(token.index))
