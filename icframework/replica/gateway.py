"""The HTTP gateway protocol: browser requests to a canister's `http_request` and back (sans-IO).

How it works: `Gateway.handle` encodes an `HttpRequest` as the Candid record of the IC's
HTTP gateway interface and sends it as a query to ``http_request`` through a
`CanisterBackend` (the replica service in production, a fake in tests). The reply is
decoded with the canister's own wire types (`decode_http_response`), because the
streaming token's type is the canister's choice: the gateway keeps the token's wire
type and re-encodes the token with it for each ``callback(token)`` query. A reply with
``upgrade = opt true`` is replaced by the reply of an update call to
``http_request_update``. Then the response is verified (`verify_response`): with an
``IC-Certificate`` header, the certificate must be signed by the replica's root key and
reveal the canister's certified data equal to the root hash of the header's tree, and
the tree must certify the response (v1: ``http_assets/<path>`` = SHA-256 of the decoded
body; v2: the ``http_expr`` expression path, ``IC-CertificateExpression`` and the
request and response hashes). A failed verification becomes a 503 with a text body;
responses without the header pass, marked as not certified. Finally a ``Range`` header
the canister did not answer is served from the body (`apply_range`).

Streaming: `Gateway.open` answers a streamed body (``StreamingStrategy::Callback``) as a
`StreamedResponse` as soon as the first chunk is in: status and headers are final, and
its `BodyStream` queries the callback for the next chunk only when the server asks for
it, so the client gets its first byte after one query, the gateway holds one chunk at a
time, and a client that goes away (the server closes the stream) stops the queries.
The stream is bounded (``max_streaming_calls`` callbacks, ``max_body_bytes`` bytes). A
failure after the status was sent (a callback reject, a reply that does not decode, a
cap exceeded, a body that does not match its certificate) cannot become an error
status any more: the stream raises `StreamAborted`, which the server must turn into a
closed connection, so the client sees a truncated response, never a complete one.
`Gateway.handle` is `Gateway.open` with the body collected (for callers that want the
whole body; a stream failure is then the error status it would have been).

Certified streamed bodies are streamed too, verified incrementally: everything the
certificate proves apart from the body (the signature, the certified data, the tree's
``http_assets`` entry or the v2 expression path and expression) is checked before the
status is sent (a failure is the 503 as for any response), and the body's SHA-256 (v1:
of the decoded body, a gzip or deflate body decoded as it streams) is computed as
chunks pass. Each chunk's last byte is held back until the next chunk is in, and the
final chunk (with the byte held before it) is sent only once the whole body's hash
matches: on a mismatch the stream aborts short of the end, so the client never
receives a complete body that the certificate does not prove, only a truncated
response (and the connection closes without the message's end). This was chosen over
buffering certified bodies because buffering would keep the first byte of every
certified video behind its whole body (the problem this solves) and memory growing
with the body; the cost is that a client may have consumed the unproven prefix of a
body that turns out wrong, which it must treat like any other broken download (it
never got the end of it).

A ``Range`` request the canister answered itself (206) passes as any response. A Range
request the canister answered with a complete streamed 200 (`apply_range` needs the
whole body) is assembled within the same caps and served from the gateway.

Every response carries ``X-IC-Response-Verification``: ``verified-v1``,
``verified-v2``, ``not-certified`` (no ``IC-Certificate`` header, passed for local
development), ``skipped-raw`` (a ``raw`` host) or ``update-call`` (the reply of
``http_request_update``, answered through consensus).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from icframework.candid import (
    BLOB,
    BOOL,
    NAT16,
    RESERVED,
    TEXT,
    CandidError,
    CandidType,
    Field,
    Func,
    FuncRef,
    Opt,
    Record,
    Some,
    TypeRef,
    Variant,
    Vec,
    decode,
    decode_wire_types,
    encode,
    idl_hash,
)
from icframework.core import ErrorCode, Principal, PrincipalError
from icframework.protocol import (
    CertificateError,
    HashTreeError,
    LookupStatus,
    decode_tree,
    hash_value,
    lookup_path,
    reconstruct,
    verify_certificate,
)
from icframework.protocol._cbor import loads_strict
from icframework.protocol.hashtree import Empty, HashTree, Leaf, lookup_subtree
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.sdk.http import RangeNotSatisfiable, if_range_holds, parse_range

__all__ = [
    "CERTIFICATE_VERSION",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_STREAMING_CALLS",
    "HTTP_REQUEST",
    "HTTP_UPDATE_REQUEST",
    "VERIFICATION_HEADER",
    "BodyCheck",
    "BodyHasher",
    "BodyStream",
    "CanisterBackend",
    "CanisterHttpResponse",
    "CanisterRoute",
    "CertificationExpression",
    "Gateway",
    "GatewayError",
    "GatewayResponse",
    "HttpRequest",
    "StreamAborted",
    "StreamedResponse",
    "StreamingCallback",
    "StreamingChunk",
    "VerificationError",
    "apply_range",
    "canister_url",
    "decode_http_response",
    "decode_streaming_chunk",
    "encode_http_request",
    "encode_http_update_request",
    "expression_path",
    "parse_certificate_expression",
    "parse_certificate_header",
    "reject_response",
    "request_hash",
    "resolve_canister",
    "response_hash",
    "start_verification",
    "verify_response",
]

CERTIFICATE_VERSION = 2
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_STREAMING_CALLS = 10_000
VERIFICATION_HEADER = "X-IC-Response-Verification"
CERTIFICATE_HEADER = "IC-Certificate"
EXPRESSION_HEADER = "IC-CertificateExpression"

# Headers that describe the gateway's connection to the client, not the canister's
# response: the server adapter sets them itself.
_HOP_BY_HOP = frozenset({
    "connection", "content-length", "keep-alive", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade",
})

# -- errors ------------------------------------------------------------------------------


class GatewayError(ReplicaError):
    """A request the gateway cannot serve; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class VerificationError(GatewayError):
    """The response carries a certificate that does not prove it (answered with 503)."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message)


class StreamAborted(GatewayError):
    """A streamed body failed after its status was sent; the server must close the connection.

    ``cause`` is the failure (what the answer would have been before the status was
    sent: a 502, or a `VerificationError`'s 503); ``sent`` the body bytes already given out.
    """

    def __init__(self, canister_id: Principal, cause: GatewayError, sent: int) -> None:
        super().__init__(cause.status, f"the body stream of canister {canister_id} was aborted "
                                       f"after {sent} bytes: {cause.message}")
        self.cause = cause
        self.sent = sent


# -- Candid interface ----------------------------------------------------------------------

HEADER_FIELD = Record.tuple_of(TEXT, TEXT)
HEADERS = Vec(HEADER_FIELD)
HTTP_UPDATE_REQUEST = Record([
    Field("method", TEXT),
    Field("url", TEXT),
    Field("headers", HEADERS),
    Field("body", BLOB),
])
HTTP_REQUEST = Record([*HTTP_UPDATE_REQUEST.fields, Field("certificate_version", Opt(NAT16))])
# What `streaming_strategy` decodes as when the canister's reply has no such field.
_NO_STRATEGY = Opt(Variant([Field("Callback", Record([
    Field("callback", Func((RESERVED,), (RESERVED,), ("query",))),
    Field("token", RESERVED),
]))]))


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request as the canister sees it: ``url`` is path and query, no host."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name)


@dataclass(frozen=True, slots=True)
class StreamingCallback:
    """The next streaming query: ``callback`` method and its Candid-encoded ``token_arg``."""

    callback: FuncRef
    token_arg: bytes


@dataclass(frozen=True, slots=True)
class CanisterHttpResponse:
    """A decoded ``HttpResponse`` record; ``body`` is the first chunk when streaming."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    upgrade: bool = False
    streaming: StreamingCallback | None = None


@dataclass(frozen=True, slots=True)
class StreamingChunk:
    """A decoded ``StreamingCallbackHttpResponse``; no ``next_token_arg`` after the last chunk."""

    body: bytes
    next_token_arg: bytes | None


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    """What the gateway answers the HTTP client: status, headers (in order) and body bytes."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name)


@dataclass(frozen=True, slots=True)
class StreamedResponse:
    """A response whose body follows: final status and headers, ``body`` read lazily.

    Iterate ``body`` (a `BodyStream`) to send it; close it when the client goes away.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: BodyStream

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        return _header(self.headers, name)


def _header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def encode_http_request(request: HttpRequest,
                        certificate_version: int | None = CERTIFICATE_VERSION) -> bytes:
    """The Candid argument of ``http_request`` (``certificate_version``: max one we verify)."""
    return encode([HTTP_REQUEST], [{
        "method": request.method, "url": request.url, "headers": list(request.headers),
        "body": request.body, "certificate_version": certificate_version,
    }])


def encode_http_update_request(request: HttpRequest) -> bytes:
    """The Candid argument of ``http_request_update``: the request without a version."""
    return encode([HTTP_UPDATE_REQUEST], [{
        "method": request.method, "url": request.url, "headers": list(request.headers),
        "body": request.body,
    }])


def _resolve(t: CandidType) -> CandidType:
    return t.resolve() if isinstance(t, TypeRef) else t


def _field_type(t: CandidType, name: str) -> CandidType | None:
    """The type of field ``name`` of a (wire) record or variant type, or None."""
    resolved = _resolve(t)
    if not isinstance(resolved, Record | Variant):
        return None
    wanted = idl_hash(name)
    for entry in resolved.fields:
        if entry.id == wanted:
            return entry.type
    return None


def _single_value_type(data: bytes, what: str) -> CandidType:
    try:
        types = decode_wire_types(data)
    except CandidError as exc:
        raise GatewayError(502, f"the canister's {what} reply is not Candid: {exc}") from exc
    if not types:
        raise GatewayError(502, f"the canister's {what} reply holds no value")
    return types[0]


def _strategy_type(wire: CandidType) -> tuple[CandidType, CandidType | None]:
    """``streaming_strategy`` typed with the wire's callback and token types, and the token's."""
    strategy = _field_type(wire, "streaming_strategy")
    if strategy is None:
        return _NO_STRATEGY, None
    inner = _resolve(strategy)
    if not isinstance(inner, Opt):
        raise GatewayError(502, "streaming_strategy in the canister's HttpResponse is not an opt")
    callback = _field_type(inner.inner, "Callback")
    callback_type = _field_type(callback, "callback") if callback is not None else None
    token_type = _field_type(callback, "token") if callback is not None else None
    if callback_type is None or token_type is None:
        raise GatewayError(
            502, "streaming_strategy in the canister's HttpResponse is not "
            "variant { Callback : record { callback : func; token : Token } }",
        )
    typed = Opt(Variant([Field("Callback", Record([
        Field("callback", callback_type), Field("token", token_type)]))]))
    return typed, token_type


def decode_http_response(data: bytes) -> CanisterHttpResponse:
    """Decode an ``HttpResponse`` reply of ``http_request`` or ``http_request_update``.

    The streaming token is decoded at the canister's own wire type and re-encoded with
    it into `StreamingCallback.token_arg`. Raises `GatewayError` (502) if the reply is
    not an ``HttpResponse``.
    """
    wire = _single_value_type(data, "http_request")
    strategy_type, token_type = _strategy_type(wire)
    expected = Record([
        Field("status_code", NAT16),
        Field("headers", HEADERS),
        Field("body", BLOB),
        Field("upgrade", Opt(BOOL)),
        Field("streaming_strategy", strategy_type),
    ])
    try:
        (value,) = decode(data, [expected])
    except CandidError as exc:
        raise GatewayError(502, f"the canister's reply is not an HttpResponse: {exc}") from exc
    streaming = None
    strategy = value["streaming_strategy"]
    if strategy is not None and token_type is not None:
        callback = strategy["Callback"]
        streaming = StreamingCallback(callback["callback"],
                                      _encode_token(token_type, callback["token"]))
    return CanisterHttpResponse(
        status_code=value["status_code"],
        headers=tuple(value["headers"]),
        body=value["body"],
        upgrade=value["upgrade"] is True,
        streaming=streaming,
    )


def _encode_token(token_type: CandidType, token: Any) -> bytes:
    try:
        return encode([token_type], [token])
    except CandidError as exc:
        raise GatewayError(502, f"cannot re-encode the canister's streaming token: {exc}") from exc


def decode_streaming_chunk(data: bytes) -> StreamingChunk:
    """Decode a streaming callback's reply.

    Accepts ``opt StreamingCallbackHttpResponse`` (the interface specification) and a
    bare ``StreamingCallbackHttpResponse`` (what most canisters declare); null means
    no more data. Raises `GatewayError` (502) for anything else.
    """
    wire = _single_value_type(data, "streaming callback")
    record_type = _resolve(wire)
    optional = isinstance(record_type, Opt)
    if isinstance(record_type, Opt):
        record_type = record_type.inner
    token_opt = _field_type(record_type, "token")
    resolved_opt = _resolve(token_opt) if token_opt is not None else None
    if not isinstance(resolved_opt, Opt):
        raise GatewayError(
            502, "the streaming callback's reply is not record { body : blob; token : opt Token }")
    token_type = resolved_opt.inner
    chunk_type: CandidType = Record([Field("body", BLOB), Field("token", Opt(token_type))])
    try:
        (value,) = decode(data, [Opt(chunk_type) if optional else chunk_type])
    except CandidError as exc:
        raise GatewayError(502, f"the streaming callback's reply does not decode: {exc}") from exc
    if value is None:
        return StreamingChunk(b"", None)
    token = value["token"]
    if token is None:
        return StreamingChunk(value["body"], None)
    if isinstance(token, Some):
        token = token.value
    return StreamingChunk(value["body"], _encode_token(token_type, token))


# -- routing ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CanisterRoute:
    """A request meant for the gateway: the target canister, and whether to skip verification."""

    canister_id: Principal
    raw: bool = False


def _parse_canister_id(text: str, where: str) -> Principal:
    try:
        return Principal.from_text(text)
    except (PrincipalError, ValueError) as exc:
        raise GatewayError(
            400, f"{where} {text!r} is not a valid canister id (a textual principal such as "
            f"rrkah-fqaaa-aaaaa-aaaaq-cai): {exc}",
        ) from exc


def resolve_canister(host: str, path: str, query: str) -> CanisterRoute | None:
    """Which canister a request is for, or None if it is not a gateway request.

    ``<id>.localhost[:port]`` targets canister ``id``, ``<id>.raw.localhost`` does so
    without response verification; otherwise a ``canisterId`` query parameter does.
    Paths under ``/api/`` are always the IC HTTP interface, never the gateway. Raises
    `GatewayError` (400) when the named canister id is not a principal.
    """
    if path.startswith("/api/"):
        return None
    hostname = host.strip().lower()
    if not hostname.startswith("["):
        hostname = hostname.rsplit(":", 1)[0] if ":" in hostname else hostname
    labels = hostname.rstrip(".").split(".")
    if len(labels) >= 2 and labels[-1] == "localhost":
        candidates = labels[:-1]
        raw = candidates[-1] == "raw"
        if raw:
            candidates = candidates[:-1]
        if candidates:
            return CanisterRoute(_parse_canister_id(candidates[-1], "host label"), raw)
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "canisterId":
            return CanisterRoute(_parse_canister_id(value, "canisterId"))
    return None


def canister_url(path: str, query: str) -> str:
    """The ``url`` the canister sees: the path and query, minus the gateway's ``canisterId``."""
    pairs = parse_qsl(query, keep_blank_values=True)
    kept = [(name, value) for name, value in pairs if name != "canisterId"]
    if len(kept) == len(pairs):
        return f"{path}?{query}" if query else path
    return f"{path}?{urlencode(kept)}" if kept else path


# -- ranges -------------------------------------------------------------------------------
# The ``Range`` parser is the SDK's (`icframework.sdk.http.parse_range`), so the gateway
# and canisters that answer ranges themselves read a header the same way.


def apply_range(request: HttpRequest, response: GatewayResponse) -> GatewayResponse:
    """Serve ``request``'s ``Range`` header from a complete 200 response's body.

    Gives 206 with ``Content-Range`` for a satisfiable range, 416 with
    ``Content-Range: bytes */<size>`` for an unsatisfiable one, and the response as is
    otherwise (no or unsupported ``Range``, an ``If-Range`` that does not name the
    response's strong ETag (`icframework.sdk.http.if_range_holds`), a method other
    than GET or HEAD, or a status other than 200). 200 responses to GET and HEAD gain
    ``Accept-Ranges: bytes``.
    """
    if response.status != 200 or request.method not in ("GET", "HEAD"):
        return response
    headers = response.headers
    if _header(headers, "accept-ranges") is None:
        headers = (*headers, ("Accept-Ranges", "bytes"))
    value = request.header("range")
    if value is None or not if_range_holds(request.header("if-range"),
                                           _header(headers, "etag")):
        return GatewayResponse(response.status, headers, response.body)
    size = len(response.body)
    try:
        selected = parse_range(value, size)
    except RangeNotSatisfiable as exc:  # the SDK's parser: canisters answer ranges alike
        kept = tuple((k, v) for k, v in headers if k.lower() != "content-type")
        return GatewayResponse(
            416, (*kept, ("Content-Range", f"bytes */{size}"),
                  ("Content-Type", "text/plain; charset=utf-8")),
            str(exc).encode(),
        )
    if selected is None:
        return GatewayResponse(response.status, headers, response.body)
    first, last = selected
    return GatewayResponse(
        206, (*headers, ("Content-Range", f"bytes {first}-{last}/{size}")),
        response.body[first:last + 1],
    )


# -- response verification ------------------------------------------------------------------


def parse_certificate_header(value: str) -> dict[str, bytes | int | str]:
    """The fields of an ``IC-Certificate`` header (an RFC 8941 dictionary).

    Byte sequences (``:base64:``) become bytes, integers ints, anything else the token
    text. Raises `VerificationError` for a malformed field.
    """
    fields: dict[str, bytes | int | str] = {}
    for member in value.split(","):
        member = member.strip()
        if not member:
            continue
        name, sep, item = member.partition("=")
        name = name.strip()
        item = item.strip()
        if not sep or not name:
            raise VerificationError(f"IC-Certificate field {member!r} is not name=value")
        if len(item) >= 2 and item.startswith(":") and item.endswith(":"):
            try:
                fields[name] = base64.b64decode(item[1:-1], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise VerificationError(
                    f"IC-Certificate field {name!r} is not valid base64: {exc}") from exc
        elif item.isdigit():
            fields[name] = int(item)
        else:
            fields[name] = item.strip('"')
    return fields


@dataclass(frozen=True, slots=True)
class CertificationExpression:
    """A parsed ``IC-CertificateExpression`` (``default_certification(ValidationArgs{…})``).

    ``request_headers`` is None under ``no_request_certification``; ``response_headers``
    lists certified response headers, or excluded ones when ``exclude_response_headers``.
    """

    no_certification: bool = False
    request_headers: tuple[str, ...] | None = None
    query_parameters: tuple[str, ...] = ()
    response_headers: tuple[str, ...] = ()
    exclude_response_headers: bool = False


_CEL_TOKEN = re.compile(r'\s*(?:([A-Za-z_][A-Za-z0-9_]*)|"([^"\n\x00]*)"|([{}()\[\]:,]))')


class _CelParser:
    """Recursive descent over the CEL subset of the gateway specification's grammar."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _CEL_TOKEN.match(text, position)
            if match is None:
                if text[position:].strip():
                    raise VerificationError(
                        f"IC-CertificateExpression: unexpected text at offset {position}: "
                        f"{text[position:position + 20]!r}")
                break
            ident, string, punct = match.groups()
            if ident is not None:
                self.tokens.append(("ident", ident))
            elif string is not None:
                self.tokens.append(("string", string))
            else:
                self.tokens.append(("punct", punct))
            position = match.end()
        self.index = 0

    def take(self, kind: str, value: str | None = None) -> str:
        if self.index >= len(self.tokens):
            raise VerificationError(
                f"IC-CertificateExpression ends early; expected {value or kind}")
        got_kind, got = self.tokens[self.index]
        if got_kind != kind or (value is not None and got != value):
            raise VerificationError(
                f"IC-CertificateExpression: expected {value or kind}, got {got!r}")
        self.index += 1
        return got

    def peek(self, value: str) -> bool:
        return self.index < len(self.tokens) and self.tokens[self.index][1] == value

    def value(self) -> Any:
        if self.peek("["):
            self.take("punct", "[")
            items: list[str] = []
            while not self.peek("]"):
                items.append(self.take("string"))
                if self.peek(","):
                    self.take("punct", ",")
            self.take("punct", "]")
            return items
        return self.object()

    def object(self) -> tuple[str, dict[str, Any]]:
        name = self.take("ident")
        self.take("punct", "{")
        members: dict[str, Any] = {}
        while not self.peek("}"):
            key = self.take("ident")
            self.take("punct", ":")
            members[key] = self.value()
            if self.peek(","):
                self.take("punct", ",")
        self.take("punct", "}")
        return name, members


def _cel_member(obj: tuple[str, dict[str, Any]], expected: str) -> dict[str, Any]:
    name, members = obj
    if name != expected:
        raise VerificationError(f"IC-CertificateExpression: expected {expected}{{…}}, got {name}")
    return members


def _cel_strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise VerificationError(f"IC-CertificateExpression: {what} must be a list of strings")
    return tuple(value)


def parse_certificate_expression(text: str) -> CertificationExpression:
    """Parse an ``IC-CertificateExpression`` value; raise `VerificationError` if malformed."""
    parser = _CelParser(text)
    parser.take("ident", "default_certification")
    parser.take("punct", "(")
    args = _cel_member(parser.object(), "ValidationArgs")
    parser.take("punct", ")")
    if parser.index != len(parser.tokens):
        raise VerificationError("IC-CertificateExpression has text after the closing ')'")
    if "no_certification" in args:
        return CertificationExpression(no_certification=True)
    if "certification" not in args:
        raise VerificationError(
            "IC-CertificateExpression: ValidationArgs needs certification or no_certification")
    certification = _cel_member(args["certification"], "Certification")
    request_headers: tuple[str, ...] | None = None
    query_parameters: tuple[str, ...] = ()
    if "request_certification" in certification:
        request = _cel_member(certification["request_certification"], "RequestCertification")
        request_headers = _cel_strings(
            request.get("certified_request_headers", []), "certified_request_headers")
        query_parameters = _cel_strings(
            request.get("certified_query_parameters", []), "certified_query_parameters")
    elif "no_request_certification" not in certification:
        raise VerificationError("IC-CertificateExpression: Certification needs "
                                "request_certification or no_request_certification")
    if "response_certification" not in certification:
        raise VerificationError(
            "IC-CertificateExpression: Certification needs response_certification")
    response = _cel_member(certification["response_certification"], "ResponseCertification")
    exclude = "response_header_exclusions" in response
    key = "response_header_exclusions" if exclude else "certified_response_headers"
    if key not in response:
        raise VerificationError("IC-CertificateExpression: ResponseCertification needs "
                                "certified_response_headers or response_header_exclusions")
    header_list = _cel_member(response[key], "ResponseHeaderList")
    return CertificationExpression(
        request_headers=request_headers,
        query_parameters=query_parameters,
        response_headers=_cel_strings(header_list.get("headers", []), "headers"),
        exclude_response_headers=exclude,
    )


def _hash_pairs(pairs: Iterable[tuple[str, str | int]]) -> bytes:
    """The representation-independent hash of a map that may repeat keys (headers)."""
    hashed = sorted(hashlib.sha256(key.encode()).digest() + hash_value(value)
                    for key, value in pairs)
    return hashlib.sha256(b"".join(hashed)).digest()


def request_hash(request: HttpRequest, expression: CertificationExpression) -> bytes:
    """SHA-256 of the certified request headers' hash and the body's hash (v2).

    Headers are the certified ones (lower-cased, repeats kept), ``:ic-cert-method``,
    and ``:ic-cert-query`` (the certified query parameters in their original order,
    joined by ``&``) when the URL has a query.
    """
    wanted = {name.lower() for name in expression.request_headers or ()}
    pairs: list[tuple[str, str | int]] = [
        (name.lower(), value) for name, value in request.headers if name.lower() in wanted
    ]
    pairs.append((":ic-cert-method", request.method))
    split = urlsplit(request.url)
    if "?" in request.url.split("#", 1)[0]:
        parameters = {name.lower() for name in expression.query_parameters}
        kept = [part for part in split.query.split("&")
                if part.split("=", 1)[0].lower() in parameters]
        pairs.append((":ic-cert-query", "&".join(kept)))
    return hashlib.sha256(_hash_pairs(pairs) + hashlib.sha256(request.body).digest()).digest()


def response_hash(status: int, headers: Sequence[tuple[str, str]], body: bytes,
                  expression: CertificationExpression) -> bytes:
    """SHA-256 of the certified response headers' hash and the body's hash (v2).

    ``IC-Certificate`` is never included and ``IC-CertificateExpression`` always is;
    ``:ic-cert-status`` carries the status code.
    """
    return _response_digest(status, headers, hashlib.sha256(body).digest(), expression)


def _response_digest(status: int, headers: Sequence[tuple[str, str]], body_digest: bytes,
                     expression: CertificationExpression) -> bytes:
    """`response_hash` from the body's SHA-256 (for bodies hashed as they stream)."""
    listed = {name.lower() for name in expression.response_headers}
    pairs: list[tuple[str, str | int]] = []
    for name, value in headers:
        lower = name.lower()
        if lower == CERTIFICATE_HEADER.lower():
            continue
        if lower == EXPRESSION_HEADER.lower() or (
                (lower in listed) != expression.exclude_response_headers):
            pairs.append((lower, value))
    pairs.append((":ic-cert-status", status))
    return hashlib.sha256(_hash_pairs(pairs) + body_digest).digest()


def expression_path(url_path: str, *, wildcard: bool = False) -> list[str]:
    """The ``http_expr`` tree path certifying ``url_path`` exactly (or as a prefix)."""
    segments = [segment for segment in url_path.split("/") if segment]
    if url_path.endswith("/"):
        segments.append("")
    return ["http_expr", *segments, "<*>" if wildcard else "<$>"]


# Decoded output per decompression step: a gzip bomb is hashed in bounded steps, never held.
_DECODE_STEP = 1 << 20


class BodyHasher:
    """SHA-256 of a body fed in chunks, decoding a gzip or deflate ``Content-Encoding``
    first when ``encoding`` says so (v1 certifies the decoded body).

    Decoding failures raise `VerificationError` (from `update` or `digest`), naming the
    coding.
    """

    def __init__(self, encoding: str | None = None) -> None:
        coding = (encoding or "identity").strip().lower()
        self.coding = coding if coding in ("gzip", "deflate") else "identity"
        self._hash = hashlib.sha256()
        self._inflater: Any = None

    def update(self, data: bytes) -> None:
        """Hash (the decoded form of) the next ``data``."""
        if self.coding == "identity":
            self._hash.update(data)
            return
        try:
            self._inflate(data)
        except zlib.error as exc:
            raise VerificationError(f"the body is not valid {self.coding} data: {exc}") from exc

    def _inflate(self, data: bytes) -> None:
        while data:
            if self._inflater is not None and self._inflater.eof:
                if self.coding == "deflate":
                    return  # as zlib.decompress: what follows the stream is ignored
                data = data.lstrip(b"\0")  # as gzip.decompress: zero padding, then a member
                if not data:
                    return
                self._inflater = None
            if self._inflater is None:
                self._inflater = zlib.decompressobj(31 if self.coding == "gzip" else 15)
            inflater = self._inflater
            self._hash.update(inflater.decompress(data, _DECODE_STEP))
            while inflater.unconsumed_tail and not inflater.eof:
                self._hash.update(inflater.decompress(inflater.unconsumed_tail, _DECODE_STEP))
            data = inflater.unused_data if inflater.eof else b""

    def digest(self) -> bytes:
        """The SHA-256 of the whole (decoded) body; raises `VerificationError` if it is cut."""
        inflater = self._inflater
        if self.coding != "identity" and (
                (inflater is None and self.coding == "deflate")
                or (inflater is not None and not inflater.eof)):
            raise VerificationError(
                f"the body is not valid {self.coding} data: the compressed stream ends early")
        return self._hash.digest()


class BodyCheck:
    """What a certificate proves about a body, checked once the body has streamed past.

    `verify_response` checks everything else before the body is read and returns this;
    feed every chunk to `update`, then `finish` raises `VerificationError` if the body
    is not the certified one.
    """

    def __init__(self, hasher: BodyHasher, compare: Callable[[bytes], None]) -> None:
        self._hasher = hasher
        self._compare = compare

    def update(self, data: bytes) -> None:
        """Hash the next chunk of the body."""
        self._hasher.update(data)

    def finish(self) -> None:
        """Check the whole body's hash against the certified one."""
        self._compare(self._hasher.digest())


def _verify_v1(url: str, headers: Sequence[tuple[str, str]], tree: HashTree) -> BodyCheck:
    path = unquote(urlsplit(url).path)
    found = lookup_path(["http_assets", path], tree)
    if found.status is not LookupStatus.FOUND:
        found = lookup_path(["http_assets", "/index.html"], tree)
    if found.status is not LookupStatus.FOUND or found.value is None:
        raise VerificationError(
            f"the certified tree has no http_assets entry for {path!r} (nor /index.html)")
    certified = found.value

    def compare(digest: bytes) -> None:
        if digest != certified:
            raise VerificationError(
                f"the body's SHA-256 {digest.hex()} is not the certified {certified.hex()} "
                f"for {path!r}: the response was altered")

    return BodyCheck(BodyHasher(_header(headers, "content-encoding")), compare)


def _exists(path: Sequence[str], tree: HashTree) -> bool:
    return lookup_subtree(path, tree) is not None


def _check_expression_path(expr_path: list[str], url: str, tree: HashTree) -> None:
    if (len(expr_path) < 2 or expr_path[0] != "http_expr"
            or expr_path[-1] not in ("<$>", "<*>")
            or any(segment in ("<$>", "<*>") for segment in expr_path[1:-1])):
        raise VerificationError(
            f"expr_path {expr_path} is not http_expr, URL segments, then <$> or <*>")
    exact = expression_path(unquote(urlsplit(url).path))
    if expr_path == exact:
        return
    if _exists(exact, tree):
        raise VerificationError(f"expr_path {expr_path} is not the most specific path: "
                                f"{exact} is certified")
    segments = exact[1:-1]
    prefix = expr_path[1:-1]
    if expr_path[-1] != "<*>" or segments[:len(prefix)] != prefix:
        raise VerificationError(f"expr_path {expr_path} does not match the URL {url!r}")
    for length in range(len(segments), len(prefix), -1):
        more_specific = ["http_expr", *segments[:length], "<*>"]
        if _exists(more_specific, tree):
            raise VerificationError(f"expr_path {expr_path} is not the most specific path: "
                                    f"{more_specific} is certified")


def _verify_v2(request: HttpRequest, status: int, headers: Sequence[tuple[str, str]],
               tree: HashTree, fields: dict[str, bytes | int | str]) -> BodyCheck | None:
    raw_path = fields.get("expr_path")
    if not isinstance(raw_path, bytes):
        raise VerificationError("IC-Certificate version 2 needs an expr_path=:<base64 CBOR>:")
    # The canister chose these bytes: the strict reader refuses CBOR tags (a fraction of
    # two huge bignums would hold the gateway for minutes) and keeps decoding linear.
    expr_path = loads_strict(raw_path, "expr_path", VerificationError)
    if isinstance(expr_path, tuple):
        expr_path = list(expr_path)
    if not isinstance(expr_path, list) or not all(isinstance(s, str) for s in expr_path):
        raise VerificationError("expr_path must be a CBOR array of text")
    _check_expression_path(expr_path, request.url, tree)
    expression_text = _header(headers, EXPRESSION_HEADER)
    if expression_text is None:
        raise VerificationError(f"IC-Certificate version 2 needs an {EXPRESSION_HEADER} header")
    expression = parse_certificate_expression(expression_text)
    expr_hash = hashlib.sha256(expression_text.encode()).digest()
    expr_tree = lookup_subtree([*expr_path, expr_hash], tree)
    if expr_tree is None:
        raise VerificationError(
            f"the certified tree has no expression hash {expr_hash.hex()} under {expr_path}")
    if expression.no_certification:
        return None
    request_label = (b"" if expression.request_headers is None
                     else request_hash(request, expression))

    def compare(body_digest: bytes) -> None:
        response_digest = _response_digest(status, headers, body_digest, expression)
        leaf = lookup_subtree([request_label, response_digest], expr_tree)
        if not (isinstance(leaf, Empty) or leaf == Leaf(b"")):
            raise VerificationError(
                "the certified tree does not hold this request/response pair (response hash "
                f"{response_digest.hex()}): the response was altered")

    return BodyCheck(BodyHasher(), compare)


def verify_response(
    canister_id: Principal,
    request: HttpRequest,
    response: CanisterHttpResponse,
    body: bytes,
    *,
    root_key: bytes,
    now_ns: int | None,
) -> int | None:
    """Verify a canister's HTTP response (``body`` is the complete, streamed body).

    Returns the response-verification version that proved it (1 or 2), or None when
    the response has no ``IC-Certificate`` header. Raises `VerificationError` naming the
    failed check otherwise.
    """
    started = start_verification(canister_id, request, response, root_key=root_key,
                                 now_ns=now_ns)
    if started is None:
        return None
    version, check = started
    if check is not None:
        check.update(body)
        check.finish()
    return version


def start_verification(
    canister_id: Principal,
    request: HttpRequest,
    response: CanisterHttpResponse,
    *,
    root_key: bytes,
    now_ns: int | None,
) -> tuple[int, BodyCheck | None] | None:
    """`verify_response` up to the body: everything the certificate proves but the body.

    Returns None without an ``IC-Certificate`` header, else the version (1 or 2) and
    the `BodyCheck` the body must pass (None when a v2 expression certifies no body).
    Raises `VerificationError` naming the failed check.
    """
    value = _header(response.headers, CERTIFICATE_HEADER)
    if value is None:
        return None
    fields = parse_certificate_header(value)
    certificate = fields.get("certificate")
    tree_bytes = fields.get("tree")
    if not isinstance(certificate, bytes) or not isinstance(tree_bytes, bytes):
        raise VerificationError("IC-Certificate needs certificate=:…: and tree=:…: fields")
    try:
        cert = verify_certificate(certificate, root_key, canister_id=canister_id, now_ns=now_ns)
    except CertificateError as exc:
        raise VerificationError(f"the certificate is not valid: {exc}") from exc
    try:
        tree = decode_tree(tree_bytes)
    except HashTreeError as exc:
        raise VerificationError(f"the tree is not a hash tree: {exc}") from exc
    certified = lookup_path(["canister", canister_id.raw, "certified_data"], cert.tree)
    if certified.status is not LookupStatus.FOUND:
        raise VerificationError(
            f"the certificate does not reveal /canister/{canister_id}/certified_data")
    if certified.value != reconstruct(tree):
        raise VerificationError(
            "the tree's root hash is not the canister's certified data: the tree was altered "
            "or is stale")
    version = fields.get("version", 1)
    if version == 1:
        return 1, _verify_v1(request.url, response.headers, tree)
    if version == 2:
        return 2, _verify_v2(request, response.status_code, response.headers, tree, fields)
    raise VerificationError(f"IC-Certificate version {version!r} is not supported (1 or 2)")


# -- the gateway -----------------------------------------------------------------------------


class CanisterBackend(Protocol):
    """How the gateway reaches canisters; calls raise `CanisterError` on a reject."""

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        """Run a query (with a data certificate if one exists); return the reply bytes."""

    def update(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        """Run an update call to completion; return the reply bytes."""

    def root_key(self) -> bytes:
        """The 133-byte DER BLS root key certificates must be signed with."""

    def now_ns(self) -> int:
        """The current time (ns since the epoch) for certificate freshness."""


def _text_response(status: int, message: str,
                   extra: Sequence[tuple[str, str]] = ()) -> GatewayResponse:
    return GatewayResponse(
        status, (("Content-Type", "text/plain; charset=utf-8"), *extra), message.encode() + b"\n")


_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _check_headers(canister_id: Principal, headers: Sequence[tuple[str, str]]) -> None:
    """Refuse (502) a header the client could not be sent: a name that is not an RFC 9110
    token, or a value with CR, LF, NUL or another control character (header injection)."""
    for name, value in headers:
        if not _HEADER_NAME.fullmatch(name):
            raise GatewayError(
                502, f"canister {canister_id} answered with an invalid header name "
                f"{name[:60]!r}: a header name is letters, digits and !#$%&'*+-.^_`|~ "
                "(RFC 9110 section 5.1)")
        bad = _HEADER_VALUE_FORBIDDEN.search(value)
        if bad is not None:
            raise GatewayError(
                502, f"canister {canister_id} answered with header {name!r} whose value has "
                f"the control character {bad.group()!r} at offset {bad.start()}; header values "
                "may not contain CR, LF or other control characters (RFC 9110 section 5.5)")


def reject_response(canister_id: Principal, error: CanisterError) -> GatewayResponse:
    """404 for an unknown canister, 502 naming the reject code and message otherwise."""
    if error.error_code is ErrorCode.CANISTER_NOT_FOUND:
        return _text_response(404, f"canister {canister_id} not found on this replica")
    return _text_response(
        502, f"canister {canister_id} rejected the request: reject code "
        f"{int(error.reject_code)} ({error.reject_code.name}), {error.error_code}: "
        f"{error.message}")


class BodyStream:
    """The rest of a streamed body, one callback query per chunk, as the server asks for it.

    Iterating gives the first chunk (already in hand) and then each callback's chunk;
    the next query runs only when the previous chunk has been taken. Raises
    `StreamAborted` for a failure (a reject, an undecodable reply, a cap exceeded, a
    body that fails its `BodyCheck`); then, and after `close`, it makes no more
    queries. With a `BodyCheck` each chunk's last byte waits for the next chunk and the
    final chunk for the check (module docstring). Safe to `close` from another thread
    while a query runs.
    """

    def __init__(self, gateway: Gateway, canister_id: Principal, first: bytes,
                 streaming: StreamingCallback, check: BodyCheck | None = None) -> None:
        self._backend = gateway.backend
        self._max_body_bytes = gateway.max_body_bytes
        self._max_calls = gateway.max_streaming_calls
        self._canister_id = canister_id
        self._method = streaming.callback.method
        self._pending: bytes | None = first
        self._token_arg: bytes | None = streaming.token_arg
        self._check = check
        self._held = b""
        self._lock = threading.Lock()
        self._ended = False
        self.closed = False
        self.queries = 0  # callback queries made
        self.received = 0  # body bytes received from the canister
        self.sent = 0  # body bytes given out

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        with self._lock:
            while not (self._ended or self.closed):
                piece = self._pending
                self._pending = None
                if piece is None:
                    piece = self._next_chunk()
                    if piece is None:
                        continue
                out = self._account(piece)
                if out:
                    self.sent += len(out)
                    return out
            raise StopIteration

    def close(self) -> None:
        """Make no more queries (the client went away); a running query still completes."""
        self.closed = True

    def _fail(self, cause: GatewayError) -> StreamAborted:
        self._ended = True
        return StreamAborted(self._canister_id, cause, self.sent)

    def _next_chunk(self) -> bytes | None:
        """The next callback's chunk, or None (and ended) when the token was the last."""
        if self._token_arg is None:
            self._ended = True
            return b"" if self._check is not None or self._held else None
        self.queries += 1
        if self.queries > self._max_calls:
            raise self._fail(GatewayError(
                502, f"the body needs more than {self._max_calls} streaming callbacks"))
        try:
            chunk = decode_streaming_chunk(
                self._backend.query(self._canister_id, self._method, self._token_arg))
        except CanisterError as exc:
            raise self._fail(GatewayError(
                502, f"the streaming callback {self._method} was rejected: reject code "
                f"{int(exc.reject_code)} ({exc.reject_code.name}), {exc.error_code}: "
                f"{exc.message}")) from exc
        except GatewayError as exc:
            raise self._fail(exc) from exc
        self._token_arg = chunk.next_token_arg
        return chunk.body

    def _account(self, piece: bytes) -> bytes:
        """Count, cap and check ``piece``; what may be sent of it now."""
        self.received += len(piece)
        if self.received > self._max_body_bytes:
            raise self._fail(GatewayError(
                502, f"the streamed body exceeds the gateway's limit of "
                f"{self._max_body_bytes} bytes"))
        check = self._check
        if check is None:
            return piece
        try:
            check.update(piece)
            last = self._ended or (self._pending is None and self._token_arg is None)
            if last:
                self._ended = True
                check.finish()
        except VerificationError as exc:
            raise self._fail(exc) from exc
        out = self._held + piece
        if last:
            self._held = b""
            return out
        self._held = out[-1:]  # the last byte waits for the check (module docstring)
        return out[:-1]


class Gateway:
    """Serves HTTP requests from canisters through a `CanisterBackend` (module docstring)."""

    def __init__(self, backend: CanisterBackend, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
                 max_streaming_calls: int = DEFAULT_MAX_STREAMING_CALLS) -> None:
        self.backend = backend
        self.max_body_bytes = max_body_bytes
        self.max_streaming_calls = max_streaming_calls

    def handle(self, canister_id: Principal, request: HttpRequest, *,
               verify: bool = True) -> GatewayResponse:
        """Answer ``request`` from ``canister_id`` with the whole body; never raises for
        canister-side failures (a failed stream is the error it would have been)."""
        answer = self.open(canister_id, request, verify=verify)
        if isinstance(answer, GatewayResponse):
            return answer
        try:
            body = b"".join(answer.body)
        except StreamAborted as exc:
            return _error_response(canister_id, exc.cause)
        return GatewayResponse(answer.status, answer.headers, body)

    def open(self, canister_id: Principal, request: HttpRequest, *,
             verify: bool = True) -> GatewayResponse | StreamedResponse:
        """Answer ``request``: a `StreamedResponse` for a body that streams (its first
        chunk in hand, the rest read lazily), a complete `GatewayResponse` otherwise.

        Never raises for canister-side failures before the status; iterating a
        `StreamedResponse`'s body raises `StreamAborted` for those after it.
        """
        try:
            return self._open(canister_id, request, verify)
        except (CanisterError, GatewayError) as exc:
            return _error_response(canister_id, exc)

    def _open(self, canister_id: Principal, request: HttpRequest,
              verify: bool) -> GatewayResponse | StreamedResponse:
        reply = self.backend.query(canister_id, "http_request", encode_http_request(request))
        response = decode_http_response(reply)
        upgraded = response.upgrade
        if upgraded:
            reply = self.backend.update(
                canister_id, "http_request_update", encode_http_update_request(request))
            response = decode_http_response(reply)
        streaming = response.streaming
        if streaming is not None and streaming.callback.service != canister_id:
            raise GatewayError(
                502, f"the streaming callback {streaming.callback.service}."
                f"{streaming.callback.method} is not a method of canister {canister_id}")
        if not 200 <= response.status_code <= 599:
            # 1xx are interim answers: none can end an exchange, so none is a final response.
            raise GatewayError(
                502, f"canister {canister_id} answered with HTTP status {response.status_code}; "
                "a final response needs a status from 200 to 599")
        _check_headers(canister_id, response.headers)
        check: BodyCheck | None = None
        if upgraded:
            verification = "update-call"
        elif not verify:
            verification = "skipped-raw"
        elif _header(response.headers, CERTIFICATE_HEADER) is None:
            verification = "not-certified"
        else:
            started = start_verification(canister_id, request, response,
                                         root_key=self.backend.root_key(),
                                         now_ns=self.backend.now_ns())
            assert started is not None  # the response has the header
            verification = f"verified-v{started[0]}"
            check = started[1]
        headers = (*(header for header in response.headers
                     if header[0].lower() not in _HOP_BY_HOP),
                   (VERIFICATION_HEADER, verification))
        if streaming is None:
            if check is not None:
                check.update(response.body)
                check.finish()
            return apply_range(request, GatewayResponse(response.status_code, headers,
                                                        response.body))
        stream = BodyStream(self, canister_id, response.body, streaming, check)
        if _range_applies(request, response.status_code, headers):
            # apply_range needs the whole body: assemble it, within the stream's caps.
            try:
                body = b"".join(stream)
            except StreamAborted as exc:
                raise exc.cause from exc
            return apply_range(request, GatewayResponse(response.status_code, headers, body))
        served = apply_range(request, GatewayResponse(response.status_code, headers, b""))
        return StreamedResponse(served.status, served.headers, stream)


def _range_applies(request: HttpRequest, status: int,
                   headers: Sequence[tuple[str, str]]) -> bool:
    """Whether `apply_range` would serve a part of this response's body."""
    return (status == 200 and request.method in ("GET", "HEAD")
            and request.header("range") is not None
            and if_range_holds(request.header("if-range"), _header(headers, "etag")))


def _error_response(canister_id: Principal, error: CanisterError | GatewayError
                    ) -> GatewayResponse:
    if isinstance(error, CanisterError):
        return reject_response(canister_id, error)
    return _text_response(error.status, error.message, (
        (VERIFICATION_HEADER, "failed"),) if isinstance(error, VerificationError) else ())
