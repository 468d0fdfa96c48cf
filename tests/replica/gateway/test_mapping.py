"""The gateway's pure logic: Candid mapping, opaque streaming tokens, routing, ranges, flow.

The flow tests drive `Gateway` through a fake `CanisterBackend` that plays a canister
from Python, so streaming caps, upgrades and rejects are checked without a replica.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from icframework.candid import (
    BLOB,
    BOOL,
    NAT,
    NAT16,
    NULL,
    PRINCIPAL,
    TEXT,
    Field,
    Func,
    FuncRef,
    Opt,
    Record,
    Some,
    Variant,
    Vec,
    decode,
    encode,
)
from icframework.core import ErrorCode, Principal
from icframework.replica.errors import CanisterError
from icframework.replica.gateway import (
    HEADERS,
    HTTP_REQUEST,
    HTTP_UPDATE_REQUEST,
    VERIFICATION_HEADER,
    Gateway,
    GatewayError,
    GatewayResponse,
    HttpRequest,
    apply_range,
    canister_url,
    decode_http_response,
    decode_streaming_chunk,
    encode_http_request,
    encode_http_update_request,
    resolve_canister,
)
from icframework.sdk.http import RangeNotSatisfiable, parse_range

CANISTER = Principal.from_canister_index(0x8000000000100000)
OTHER = Principal.from_canister_index(0x8000000000100001)

# A deliberately awkward token: nested record, variant, vec, principal and an opt.
TOKEN = Record([
    Field("key", TEXT),
    Field("index", NAT),
    Field("mode", Variant([Field("identity", NULL), Field("range", Record.tuple_of(NAT, NAT))])),
    Field("owners", Vec(PRINCIPAL)),
    Field("sha256", Opt(BLOB)),
])
TOKEN_VALUE = {"key": "/big.bin", "index": 3, "mode": {"range": (5, 9)},
               "owners": [CANISTER, OTHER], "sha256": b"\x01" * 32}


def chunk_type(token: object, *, optional: bool) -> Record | Opt:
    record = Record([Field("body", BLOB), Field("token", Opt(token))])  # type: ignore[arg-type]
    return Opt(record) if optional else record


def response_type(token: object = TOKEN) -> Record:
    callback = Func((token,), (chunk_type(token, optional=False),), ("query",))  # type: ignore[arg-type]
    strategy = Variant([Field("Callback", Record([Field("callback", callback),
                                                 Field("token", token)]))])  # type: ignore[arg-type]
    return Record([
        Field("status_code", NAT16), Field("headers", HEADERS), Field("body", BLOB),
        Field("upgrade", Opt(BOOL)), Field("streaming_strategy", Opt(strategy)),
    ])


def http_response(status: int = 200, body: bytes = b"",
                  headers: list[tuple[str, str]] | None = None, *,
                  upgrade: bool | None = None, callback: FuncRef | None = None,
                  token: object = None, token_type: object = TOKEN) -> bytes:
    strategy = None if callback is None else {"Callback": {"callback": callback, "token": token}}
    return encode([response_type(token_type)], [{
        "status_code": status, "headers": headers or [], "body": body, "upgrade": upgrade,
        "streaming_strategy": strategy,
    }])


# -- Candid mapping ------------------------------------------------------------------------


def test_http_request_record() -> None:
    request = HttpRequest("POST", "/submit?a=1", (("Content-Type", "text/plain"),), b"hi")
    (value,) = decode(encode_http_request(request), [HTTP_REQUEST])
    assert value == {"method": "POST", "url": "/submit?a=1",
                     "headers": [("Content-Type", "text/plain")], "body": b"hi",
                     "certificate_version": 2}
    (update,) = decode(encode_http_update_request(request), [HTTP_UPDATE_REQUEST])
    assert update == {key: value[key] for key in ("method", "url", "headers", "body")}


def test_response_without_optional_fields() -> None:
    # Older canisters reply with only status_code, headers and body.
    minimal = Record([Field("status_code", NAT16), Field("headers", HEADERS),
                      Field("body", BLOB)])
    data = encode([minimal], [{"status_code": 204, "headers": [("X-A", "1")], "body": b""}])
    response = decode_http_response(data)
    assert (response.status_code, response.headers, response.body) == (204, (("X-A", "1"),), b"")
    assert response.upgrade is False and response.streaming is None


def test_upgrade_flag() -> None:
    assert decode_http_response(http_response(upgrade=True)).upgrade is True
    assert decode_http_response(http_response(upgrade=False)).upgrade is False


def test_streaming_token_is_reencoded_with_the_canisters_type() -> None:
    callback = FuncRef(CANISTER, "http_streaming")
    response = decode_http_response(
        http_response(body=b"first", callback=callback, token=TOKEN_VALUE))
    assert response.streaming is not None
    assert response.streaming.callback == callback
    assert decode(response.streaming.token_arg, [TOKEN]) == (TOKEN_VALUE,)


def test_nullish_token_type() -> None:
    # With `opt nat` as the token type, null is a token and `opt opt nat` needs `Some`.
    token_type = Opt(NAT)
    data = http_response(callback=FuncRef(CANISTER, "next"), token=None, token_type=token_type)
    response = decode_http_response(data)
    assert response.streaming is not None
    assert decode(response.streaming.token_arg, [token_type]) == (None,)
    reply = encode([chunk_type(token_type, optional=False)], [{"body": b"", "token": Some(None)}])
    chunk = decode_streaming_chunk(reply)
    assert chunk.next_token_arg is not None
    assert decode(chunk.next_token_arg, [token_type]) == (None,)


@pytest.mark.parametrize("optional", [False, True])
def test_streaming_chunk_forms(optional: bool) -> None:
    typ = chunk_type(TOKEN, optional=optional)
    more = decode_streaming_chunk(encode([typ], [{"body": b"abc", "token": TOKEN_VALUE}]))
    assert more.body == b"abc"
    assert more.next_token_arg is not None
    assert decode(more.next_token_arg, [TOKEN]) == (TOKEN_VALUE,)
    last = decode_streaming_chunk(encode([typ], [{"body": b"z", "token": None}]))
    assert (last.body, last.next_token_arg) == (b"z", None)


def test_streaming_chunk_null_ends_the_body() -> None:
    chunk = decode_streaming_chunk(encode([chunk_type(TOKEN, optional=True)], [None]))
    assert (chunk.body, chunk.next_token_arg) == (b"", None)


@pytest.mark.parametrize(("data", "message"), [
    (b"not candid", "is not Candid"),
    (encode([TEXT], ["hello"]), "is not an HttpResponse"),
    (b"DIDL\x00\x00", "holds no value"),
])
def test_bad_replies_are_502(data: bytes, message: str) -> None:
    with pytest.raises(GatewayError, match=message) as caught:
        decode_http_response(data)
    assert caught.value.status == 502


def test_bad_chunk_is_502() -> None:
    with pytest.raises(GatewayError, match=re.escape("record { body : blob; token : opt Token }")):
        decode_streaming_chunk(encode([Record([Field("body", BLOB)])], [{"body": b""}]))


# -- routing ------------------------------------------------------------------------------

CANISTER_TEXT = CANISTER.to_text()


@pytest.mark.parametrize(("host", "path", "query", "expected"), [
    (f"{CANISTER_TEXT}.localhost", "/", "", (CANISTER, False)),
    (f"{CANISTER_TEXT}.localhost:4943", "/a/b", "x=1", (CANISTER, False)),
    (f"{CANISTER_TEXT.upper()}.LOCALHOST", "/", "", (CANISTER, False)),
    (f"{CANISTER_TEXT}.raw.localhost:8000", "/", "", (CANISTER, True)),
    (f"app.{CANISTER_TEXT}.localhost", "/", "", (CANISTER, False)),
    ("localhost:8000", "/", f"canisterId={CANISTER_TEXT}", (CANISTER, False)),
    ("127.0.0.1:8000", "/index.html", f"a=1&canisterId={CANISTER_TEXT}", (CANISTER, False)),
    (f"{CANISTER_TEXT}.localhost", "/", f"canisterId={OTHER}", (CANISTER, False)),
    ("localhost:8000", "/", "", None),
    ("raw.localhost", "/", "", None),
    ("[::1]:8000", "/", "", None),
    ("testserver", "/", "canisterid=x", None),
    (f"{CANISTER_TEXT}.localhost", "/api/v2/status", "", None),
    ("localhost", "/api/v3/canister/x/call", f"canisterId={CANISTER_TEXT}", None),
])
def test_resolve_canister(host: str, path: str, query: str,
                          expected: tuple[Principal, bool] | None) -> None:
    route = resolve_canister(host, path, query)
    assert (None if route is None else (route.canister_id, route.raw)) == expected


@pytest.mark.parametrize(("host", "query", "named"), [
    ("not-a-principal.localhost", "", "host label 'not-a-principal'"),
    ("localhost", "canisterId=abc", "canisterId 'abc'"),
    ("localhost", "canisterId=", "canisterId ''"),
])
def test_invalid_canister_ids_are_400(host: str, query: str, named: str) -> None:
    with pytest.raises(GatewayError) as caught:
        resolve_canister(host, "/", query)
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"{named} is not a valid canister id")


@pytest.mark.parametrize(("path", "query", "url"), [
    ("/", "", "/"),
    ("/a%20b", "x=1&y=2", "/a%20b?x=1&y=2"),
    ("/", f"canisterId={CANISTER_TEXT}", "/"),
    ("/p", f"canisterId={CANISTER_TEXT}&q=hello+world", "/p?q=hello+world"),
])
def test_canister_url_drops_the_routing_parameter(path: str, query: str, url: str) -> None:
    assert canister_url(path, query) == url


# -- ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "size", "expected"), [
    ("bytes=0-0", 10, (0, 0)),
    ("bytes=2-5", 10, (2, 5)),
    ("bytes=2-", 10, (2, 9)),
    ("bytes=5-100", 10, (5, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)),
    (" Bytes = 1 - 2 ", 10, (1, 2)),
    ("bytes=5-2", 10, None),
    ("bytes=0-1,4-5", 10, None),
    ("items=0-1", 10, None),
    ("bytes=-", 10, None),
    ("bytes=x-1", 10, None),
])
def test_parse_range(value: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(value, size) == expected


@pytest.mark.parametrize(("value", "size"), [
    ("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0),
])
def test_unsatisfiable_ranges(value: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable, match=f"not satisfiable for a body of {size} bytes"):
        parse_range(value, size)


BODY = bytes(range(100))
OK = GatewayResponse(200, (("Content-Type", "video/mp4"),), BODY)


def get(*headers: tuple[str, str], method: str = "GET") -> HttpRequest:
    return HttpRequest(method, "/v.mp4", headers)


def test_apply_range_206() -> None:
    served = apply_range(get(("Range", "bytes=10-19")), OK)
    assert served.status == 206
    assert served.body == BODY[10:20]
    assert served.header("content-range") == "bytes 10-19/100"
    assert served.header("accept-ranges") == "bytes"
    assert served.header("content-type") == "video/mp4"


def test_apply_range_416() -> None:
    served = apply_range(get(("range", "bytes=100-")), OK)
    assert served.status == 416
    assert served.header("Content-Range") == "bytes */100"
    assert served.header("Content-Type") == "text/plain; charset=utf-8"
    assert b"not satisfiable" in served.body


@pytest.mark.parametrize("request_", [
    get(),
    get(("Range", "bytes=0-1"), ("If-Range", '"etag"')),
    get(("Range", "bytes=0-1,5-6")),
    get(("Range", "bytes=0-1"), method="POST"),
])
def test_apply_range_serves_the_whole_body(request_: HttpRequest) -> None:
    served = apply_range(request_, OK)
    assert (served.status, served.body) == (200, BODY)


def test_apply_range_leaves_other_statuses_alone() -> None:
    partial = GatewayResponse(206, (("Content-Range", "bytes 0-1/9"),), b"ab")
    assert apply_range(get(("Range", "bytes=5-")), partial) == partial
    missing = GatewayResponse(404, (), b"nope")
    assert apply_range(get(("Range", "bytes=0-1")), missing) == missing


# -- the gateway flow with a fake canister --------------------------------------------------


@dataclass
class FakeBackend:
    """Plays one canister: ``methods`` map a method name to a function of the argument."""

    queries: dict[str, Callable[[bytes], bytes]]
    updates: dict[str, Callable[[bytes], bytes]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        self.calls.append(("query", method))
        if canister_id != CANISTER:
            raise CanisterError(ErrorCode.CANISTER_NOT_FOUND, f"Canister {canister_id} not found")
        if method not in self.queries:
            raise CanisterError(ErrorCode.CANISTER_METHOD_NOT_FOUND,
                                f"Canister has no query method '{method}'.")
        return self.queries[method](arg)

    def update(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        self.calls.append(("update", method))
        return self.updates[method](arg)

    def root_key(self) -> bytes:
        raise AssertionError("uncertified responses need no root key")

    def now_ns(self) -> int:
        return 0


def streaming_backend(chunks: list[bytes], *, service: Principal = CANISTER) -> FakeBackend:
    """``http_request`` answers chunk 0 and a token; ``next`` serves the rest, in order."""
    def first(arg: bytes) -> bytes:
        token = dict(TOKEN_VALUE, index=1)
        return http_response(body=chunks[0], callback=FuncRef(service, "next"), token=token)

    def following(arg: bytes) -> bytes:
        (token,) = decode(arg, [TOKEN])
        index = token["index"]
        more = dict(token, index=index + 1) if index + 1 < len(chunks) else None
        return encode([chunk_type(TOKEN, optional=True)], [{"body": chunks[index], "token": more}])

    return FakeBackend({"http_request": first, "next": following})


def test_streaming_assembles_the_body() -> None:
    chunks = [b"a" * 10, b"b" * 20, b"", b"c" * 5]
    backend = streaming_backend(chunks)
    served = Gateway(backend).handle(CANISTER, get())
    assert served.status == 200
    assert served.body == b"".join(chunks)
    assert served.header(VERIFICATION_HEADER) == "not-certified"
    assert backend.calls == [("query", "http_request")] + [("query", "next")] * 3


def test_streaming_size_cap() -> None:
    served = Gateway(streaming_backend([b"a" * 10] * 5), max_body_bytes=35).handle(CANISTER, get())
    assert served.status == 502
    assert b"exceeds the gateway's limit of 35 bytes" in served.body


def test_streaming_call_cap() -> None:
    served = Gateway(streaming_backend([b""] * 5), max_streaming_calls=3).handle(CANISTER, get())
    assert served.status == 502
    assert b"more than 3 streaming callbacks" in served.body


def test_streaming_callback_must_be_on_the_same_canister() -> None:
    served = Gateway(streaming_backend([b"a", b"b"], service=OTHER)).handle(CANISTER, get())
    assert served.status == 502
    assert f"is not a method of canister {CANISTER}".encode() in served.body


def test_upgrade_makes_an_update_call() -> None:
    seen: list[dict[str, object]] = []

    def update(arg: bytes) -> bytes:
        seen.append(decode(arg, [HTTP_UPDATE_REQUEST])[0])
        return http_response(201, b"made", [("Location", "/x")], upgrade=True)

    backend = FakeBackend({"http_request": lambda arg: http_response(200, b"ignored",
                                                                     upgrade=True)},
                          {"http_request_update": update})
    request = HttpRequest("POST", "/items", (("Content-Type", "text/plain"),), b"payload")
    served = Gateway(backend).handle(CANISTER, request)
    assert (served.status, served.body) == (201, b"made")
    assert served.header("location") == "/x"
    assert served.header(VERIFICATION_HEADER) == "update-call"
    assert seen == [{"method": "POST", "url": "/items",
                     "headers": [("Content-Type", "text/plain")], "body": b"payload"}]


def test_rejects_become_http_errors() -> None:
    backend = FakeBackend({})
    missing = Gateway(backend).handle(OTHER, get())
    assert missing.status == 404
    assert missing.body == f"canister {OTHER} not found on this replica\n".encode()
    no_method = Gateway(backend).handle(CANISTER, get())
    assert no_method.status == 502
    assert no_method.body == (
        f"canister {CANISTER} rejected the request: reject code 5 (CANISTER_ERROR), "
        "IC0536: Canister has no query method 'http_request'.\n").encode()


def test_hop_by_hop_headers_are_dropped_and_status_checked() -> None:
    headers = [("Content-Length", "999"), ("Transfer-Encoding", "chunked"), ("X-Kept", "1")]
    backend = FakeBackend({"http_request": lambda arg: http_response(200, b"ok", headers)})
    served = Gateway(backend).handle(CANISTER, get())
    assert served.headers[:1] == (("X-Kept", "1"),)
    bad = FakeBackend({"http_request": lambda arg: http_response(42, b"")})
    assert Gateway(bad).handle(CANISTER, get()).status == 502


def test_apply_range_honours_an_if_range_naming_the_strong_etag() -> None:
    """Browsers send the cached ETag as ``If-Range`` with every range request after the
    first (a seek): RFC 9110 §13.1.5 serves the range when it matches, else the whole body."""
    tagged = GatewayResponse(200, (("Content-Type", "video/mp4"), ("ETag", '"v1"')), BODY)
    seek = apply_range(get(("Range", "bytes=10-19"), ("If-Range", '"v1"')), tagged)
    assert (seek.status, seek.body) == (206, BODY[10:20])
    for stale in ('"v0"', 'W/"v1"', "Sat, 05 Dec 2026 10:00:00 GMT"):
        whole = apply_range(get(("Range", "bytes=10-19"), ("If-Range", stale)), tagged)
        assert (whole.status, whole.body) == (200, BODY)
    weak = GatewayResponse(200, (("ETag", 'W/"v1"'),), BODY)
    assert apply_range(get(("Range", "bytes=0-1"), ("If-Range", 'W/"v1"')), weak).status == 200
