"""Body-size limits, the lingering close after a refusal and back-pressure of
`icframework.replica.asgi_limits`, on a real ``manage.py runreplica`` driven over raw
sockets, httpx and Node's fetch, plus the middleware alone with a recording ASGI
application (what the application is handed of an endless body, what lingering reads)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from icframework.replica import asgi_limits
from icframework.replica.asgi_limits import (
    API_MAX_REQUEST_BYTES,
    LINGER_MAX_BYTES,
    Message,
    RequestLimits,
)
from tests.agent.live_replica import running_replica
from tests.node import requires_node, run_node

GIB_2 = 2 * 1024**3
CHUNK = 64 * 1024
SOME_CANISTER = "ryjl3-tyaaa-aaaaa-aaaba-cai"
CALL = f"/api/v2/canister/{SOME_CANISTER}/call"
# What a direct install_code of a module 1.5 MB over the ingress limit sends.
OVER = API_MAX_REQUEST_BYTES + 1_500_000


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("limits") / "state") as running:
        yield running


@pytest.fixture(scope="module")
def busy_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A replica allowing 2 requests in flight and 1 WebSocket (tests/replica/limits_settings)."""
    with running_replica(tmp_path_factory.mktemp("busy") / "state",
                         settings_module="tests.replica.limits_settings") as running:
        yield running


def _open(url: str) -> tuple[socket.socket, str]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock, f"{parts.hostname}:{parts.port}"


def _head(sock: socket.socket, method: str, path: str, host: str, **headers: str) -> None:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), body (by Content-Length)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(65536)
        assert more, f"the connection closed before a response: {data!r}"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        more = sock.recv(65536)
        assert more, "the connection closed inside the body"
        body += more
    return int(status_line.split()[1]), headers, body


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _too_large_api(size: str) -> str:
    return (f"Request body is {size}, larger than the maximum of {API_MAX_REQUEST_BYTES} "
            "bytes (the IC's ingress limit for /api/); send less (large Wasm modules go "
            "through upload_chunk and install_chunked_code).\n")


# -- body sizes on the real server -----------------------------------------------------------


@pytest.mark.parametrize(("where", "limit", "named"), [
    ("api", API_MAX_REQUEST_BYTES, "the IC's ingress limit for /api/"),
    ("gateway", 2 * 1024 * 1024, "ICFRAMEWORK['GATEWAY_MAX_REQUEST_BYTES']"),
    ("page", 64 * 1024, "ICFRAMEWORK['PAGE_MAX_REQUEST_BYTES']"),
])
def test_a_declared_2_gib_body_is_refused_before_a_byte_of_it_is_sent(
    url: str, where: str, limit: int, named: str
) -> None:
    sock, host = _open(url)
    path = {"api": f"/api/v2/canister/{SOME_CANISTER}/query", "gateway": "/upload",
            "page": "/market/faucet"}[where]
    if where == "gateway":
        host = f"{SOME_CANISTER}.localhost:{host.rsplit(':', 1)[1]}"
    with sock:
        _head(sock, "POST", path, host, Content_Type="application/cbor",
              Content_Length=str(GIB_2))
        status, headers, body = _response(sock)  # only the headers were sent
        assert status == 413
        assert body.decode() == (
            f"Request body is {GIB_2} bytes, larger than the maximum of {limit} bytes "
            f"({named}); send less"
            + (" (large Wasm modules go through upload_chunk and install_chunked_code)"
               if where == "api" else f", or raise {named}")
            + ".\n")
        assert headers["connection"] == "close"
        # A client that sends nothing after its headers: the lingering close waits for
        # the body at most LINGER_SECONDS, then closes.
        assert _closed(sock)


@pytest.mark.parametrize("framing", ["chunked", "declared"])
def test_a_body_sent_on_past_the_lingering_cap_is_cut_off(url: str, framing: str) -> None:
    sock, host = _open(url)
    sent = 0
    with sock:
        if framing == "chunked":
            _head(sock, "POST", f"/api/v2/canister/{SOME_CANISTER}/query", host,
                  Content_Type="application/cbor", Transfer_Encoding="chunked")
            chunk = _chunk(b"\0" * CHUNK)
        else:
            _head(sock, "POST", f"/api/v2/canister/{SOME_CANISTER}/query", host,
                  Content_Type="application/cbor", Content_Length=str(GIB_2))
            chunk = b"\0" * CHUNK
        try:
            while sent < 256 * 1024 * 1024:  # a 3 GiB body would not get further either
                sock.sendall(chunk)
                sent += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: it reads no more of the body
        status, headers, body = _response(sock)  # what arrived before the reset is kept
    assert status == 413
    if framing == "chunked":
        found = re.search(r"reading stopped at (\d+)\)", body.decode())
        assert found, body
        received = int(found[1])  # what the server handed the application before the 413
        assert API_MAX_REQUEST_BYTES < received <= API_MAX_REQUEST_BYTES + 1024 * 1024
    else:
        assert body.decode() == _too_large_api(f"{GIB_2} bytes")
    # The server read the limit (chunked) and discarded at most LINGER_MAX_BYTES more;
    # kernel socket buffers take some more, but nowhere near the 256 MiB offered.
    assert sent < API_MAX_REQUEST_BYTES + LINGER_MAX_BYTES + 48 * 1024 * 1024
    assert headers["connection"] == "close"


# -- lingering close: a client still sending its body reads the 413 ------------------------


@pytest.mark.parametrize("pause", [0.0, 0.02], ids=["quickly", "slowly"])
@pytest.mark.parametrize("framing", ["declared", "chunked"])
def test_a_client_sending_an_over_limit_body_reads_the_413_then_a_clean_close(
        url: str, framing: str, pause: float) -> None:
    sock, host = _open(url)
    pieces = [b"\0" * (OVER // 16)] * 16  # written whole before reading, as agents do
    with sock:
        if framing == "declared":
            _head(sock, "POST", CALL, host, Content_Type="application/cbor",
                  Content_Length=str(sum(map(len, pieces))))
        else:
            _head(sock, "POST", CALL, host, Content_Type="application/cbor",
                  Transfer_Encoding="chunked")
            pieces = [*map(_chunk, pieces), b"0\r\n\r\n"]
        for piece in pieces:  # never a reset: the server reads the rest of the body
            sock.sendall(piece)
            time.sleep(pause)
        status, headers, body = _response(sock)
        assert status == 413
        assert headers["connection"] == "close"
        assert headers["access-control-allow-origin"] == "*"
        if framing == "declared":
            assert body.decode() == _too_large_api(f"{OVER // 16 * 16} bytes")
        else:
            stopped = re.fullmatch(r"over \d+ bytes \(reading stopped at (\d+)\)",
                                   body.decode().split(", larger")[0].removeprefix(
                                       "Request body is "))
            assert stopped, body
            assert body.decode() == _too_large_api(stopped[0])
        assert sock.recv(1) == b""  # closed with a FIN once the body was in, not reset


@pytest.mark.parametrize("streamed", [False, True], ids=["bytes", "generator"])
def test_httpx_sending_an_over_limit_body_gets_the_413(url: str, streamed: bool) -> None:
    def pieces() -> Iterator[bytes]:  # httpx sends a generator chunked
        for _ in range(16):
            time.sleep(0.02)
            yield b"\0" * (OVER // 16)

    content = pieces() if streamed else b"\0" * OVER
    with httpx.Client(timeout=30) as client:
        response = client.post(url + CALL, content=content,
                               headers={"content-type": "application/cbor"})
    assert response.status_code == 413
    assert response.text.startswith("Request body is ")
    assert "larger than the maximum of 2097152 bytes" in response.text


@requires_node
def test_node_fetch_sending_an_over_limit_body_gets_the_413(url: str) -> None:
    # undici used to see the connection reset under the body it was writing: 'fetch failed'.
    outcomes = run_node("over_limit_body.mjs",
                        {"url": url + CALL, "bytes": OVER, "pieces": 16, "pauseMs": 20})
    whole, streamed = outcomes
    assert whole == {"status": 413, "text": _too_large_api(f"{OVER} bytes")}
    assert streamed["status"] == 413, streamed
    assert streamed["text"].startswith(f"Request body is over {API_MAX_REQUEST_BYTES} bytes")


def test_lingering_clients_hold_no_place(busy_url: str) -> None:
    # busy_url has 2 places: three clients that pass the limit and then send nothing more
    # (each lingered over, holding its connection) all get their 413, never the 503 a
    # request finding no place gets, and a request from someone else is served.
    lingering = []
    for _ in range(3):
        sock, host = _open(busy_url)
        _head(sock, "POST", CALL, host, Content_Type="application/cbor",
              Transfer_Encoding="chunked")
        for _ in range(API_MAX_REQUEST_BYTES // CHUNK + 1):
            sock.sendall(_chunk(b"\0" * CHUNK))
        assert _response(sock)[0] == 413
        lingering.append(sock)
    other, host = _open(busy_url)
    with other:
        _head(other, "GET", "/api/v2/status", host)
        assert _response(other)[0] == 200
    for sock in lingering:  # ...and each is closed once its lingering time is over
        with sock:
            assert _closed(sock)


@pytest.mark.parametrize("body", [("Content-Length", str(GIB_2)),
                                  ("Transfer-Encoding", "chunked")])
def test_a_websocket_upgrade_with_a_body_is_refused(url: str, body: tuple[str, str]) -> None:
    sock, host = _open(url)
    with sock:
        _head(sock, "GET", f"/ws/canisters/{SOME_CANISTER}/events", host,
              Upgrade="websocket", Connection="Upgrade", Sec_WebSocket_Version="13",
              Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ==", **{body[0].replace("-", "_"): body[1]})
        status, headers, answer = _response(sock)  # the WebSocket layer refuses it itself
        assert (status, answer) == (400, b"Failed to open a WebSocket connection: "
                                         b"invalid request.\n")
        assert headers["connection"] == "close"
        assert _closed(sock)


def test_the_middleware_refuses_an_upgrade_with_a_body_on_any_server() -> None:
    sent: list[Message] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("an upgrade with a body must not reach the consumer")

    async def connect() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def record(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws/canisters/x/events",
             "headers": [(b"content-length", b"5")],
             "extensions": {"websocket.http.response": {}}}
    asyncio.run(RequestLimits(application)(scope, connect, record))
    assert sent[0]["type"] == "websocket.http.response.start" and sent[0]["status"] == 413
    assert sent[1]["body"] == (b"a WebSocket upgrade carries no body, but this one declares "
                               b"5 bytes; send the upgrade request without one\n")
    sent.clear()
    del scope["extensions"]  # a server without the denial response can only close
    asyncio.run(RequestLimits(application)(scope, connect, record))
    assert sent[0]["type"] == "websocket.close" and sent[0]["code"] == 1008


@pytest.mark.parametrize(("value", "status"), [("9" * 5000, 413), ("0" * 5000 + "7", 200),
                                              ("\u00b2", 200)])
def test_a_content_length_of_any_length_is_compared_by_its_digits(
        value: str, status: int) -> None:
    # 5,000 digits cannot even be converted to an int (a ValueError: a 500); a superscript
    # digit passes str.isdigit but is no number. Neither may reach int().
    sent: list[Message] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def body() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def record(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/v2/status", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"content-length", value.encode("latin-1"))]}
    asyncio.run(RequestLimits(application)(scope, body, record))
    assert sent[0]["status"] == status
    if status == 413:
        assert sent[1]["body"].startswith(b"Request body is 99999999999999999999\xe2\x80\xa6 bytes")


# -- back-pressure on the real server --------------------------------------------------------


def test_requests_past_the_concurrency_limit_get_503_with_retry_after(busy_url: str) -> None:
    waiting = []
    for _ in range(2):  # two requests in flight: their application waits for the body
        sock, host = _open(busy_url)
        _head(sock, "POST", f"/api/v2/canister/{SOME_CANISTER}/query", host,
              Content_Type="application/cbor", Content_Length="3", Expect="100-continue")
        assert sock.recv(64).startswith(b"HTTP/1.1 100 Continue")  # the app is reading
        waiting.append(sock)
    third, host = _open(busy_url)
    with third:
        _head(third, "GET", "/api/v2/status", host)
        status, headers, body = _response(third)
        assert status == 503
        assert headers["retry-after"] == "1"
        assert headers["access-control-allow-origin"] == "*"
        assert body.decode() == (
            "The replica is busy: 2 requests are in progress, the maximum set by "
            "ICFRAMEWORK['MAX_CONCURRENT_REQUESTS']; retry after 1 s.\n")
        for sock in waiting:  # the two finish (a 3-byte body is not CBOR: 400)...
            with sock:
                sock.sendall(b"abc")
                assert _response(sock)[0] == 400
        _head(third, "GET", "/api/v2/status", host)  # ...and their places are free again
        assert _response(third)[0] == 200


def test_websockets_past_their_limit_get_503_with_retry_after(busy_url: str) -> None:
    events = f"{busy_url.replace('http://', 'ws://')}/ws/canisters/{SOME_CANISTER}/events"
    with ws_connect(events, open_timeout=30) as first:
        assert '"op":"hello"' in str(first.recv(timeout=30))
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(events, open_timeout=30)
    response = refused.value.response
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert b"1 WebSockets are open" in response.body


# -- the middleware alone -------------------------------------------------------------------


def test_the_application_is_handed_no_more_than_the_limit_of_an_endless_body() -> None:
    handed: list[int] = []
    seen: list[str] = []
    pulled = 0
    sent: list[Message] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] != "http.request":
                return
            handed.append(len(message["body"]))

    async def endless_body() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}

    async def record(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/v2/status", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"transfer-encoding", b"chunked")]}
    asyncio.run(RequestLimits(application)(scope, endless_body, record))
    assert sum(handed) == API_MAX_REQUEST_BYTES  # every chunk up to the limit, none after
    assert seen[-1] == "http.disconnect"
    # One chunk past the limit, then the lingering close discards up to its cap, no more.
    assert pulled == API_MAX_REQUEST_BYTES // CHUNK + 1 + LINGER_MAX_BYTES // CHUNK
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert [m.get("more_body") for m in sent[1:]] == [True, False]  # closed after lingering
    assert sent[2]["body"] == b""


def _over_limit_scope() -> dict[str, Any]:
    return {"type": "http", "path": "/api/v2/status", "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"content-length", str(GIB_2).encode())]}


async def _not_reached(scope: Any, receive: Any, send: Any) -> None:
    raise AssertionError("a refused request never reaches the application")


def test_lingering_discards_at_most_its_cap_of_an_endless_body() -> None:
    pulled = 0
    sent: list[Message] = []

    async def endless_body() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        assert sent[-1] == {"type": "http.response.body", "more_body": True,
                            "body": sent[-1]["body"]}, "the 413 goes out before any reading"
        return {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}

    async def record(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestLimits(_not_reached)(_over_limit_scope(), endless_body, record))
    assert pulled == LINGER_MAX_BYTES // CHUNK
    assert sent[0]["status"] == 413
    assert sent[1]["body"].startswith(f"Request body is {GIB_2} bytes".encode())
    assert sent[2] == {"type": "http.response.body", "body": b"", "more_body": False}


def test_lingering_on_a_client_that_sends_nothing_ends_after_its_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asgi_limits, "LINGER_SECONDS", 0.01)
    sent: list[Message] = []

    async def nothing_comes() -> Message:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def record(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestLimits(_not_reached)(_over_limit_scope(), nothing_comes, record))
    assert sent[0]["status"] == 413
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


@pytest.mark.parametrize("last", [
    {"type": "http.request", "body": b"\0" * CHUNK, "more_body": False},
    {"type": "http.disconnect"},
], ids=["body-ends", "client-goes"])
def test_lingering_stops_when_the_body_ends_or_the_client_goes(last: Message) -> None:
    piece: Message = {"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}
    messages = [piece, piece, piece, last]
    sent: list[Message] = []

    async def body() -> Message:
        return messages.pop(0)

    async def record(message: Message) -> None:
        sent.append(message)

    asyncio.run(RequestLimits(_not_reached)(_over_limit_scope(), body, record))
    assert messages == []  # read to its end, and not a message further
    assert len(sent) == 3 and sent[-1]["more_body"] is False


def test_a_lingering_request_gives_its_place_back_first(settings: Any) -> None:
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "MAX_CONCURRENT_REQUESTS": 1,
                            "REQUEST_QUEUE_SECONDS": 0}
    more = asyncio.Event()
    first_sent: list[Message] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        while (await receive())["type"] == "http.request":
            pass  # reads until the limits tell it the client went away
        if scope["path"] == "/other":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def past_the_limit_then_silent() -> Message:
        if first_sent:  # refused: the lingering close waits here for more of the body
            await more.wait()
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": b"\0" * (API_MAX_REQUEST_BYTES + 1),
                "more_body": True}

    async def scenario() -> list[Message]:
        limits = RequestLimits(application)
        other_sent: list[Message] = []

        async def record_first(message: Message) -> None:
            first_sent.append(message)

        async def record_other(message: Message) -> None:
            other_sent.append(message)

        async def other_body() -> Message:
            return {"type": "http.disconnect"}

        chunked = [(b"host", b"127.0.0.1"), (b"transfer-encoding", b"chunked")]
        first = asyncio.create_task(limits(
            {"type": "http", "path": "/api/v2/status", "query_string": b"", "headers": chunked},
            past_the_limit_then_silent, record_first))
        while not first_sent:
            await asyncio.sleep(0)
        assert first_sent[0]["status"] == 413 and not first.done()  # lingering
        await limits({"type": "http", "path": "/other", "query_string": b"", "headers": []},
                     other_body, record_other)
        assert not first.done()  # still lingering while the other was served
        more.set()
        await first
        assert first_sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
        return other_sent

    assert asyncio.run(scenario())[0]["status"] == 200  # a place, not the 503


def test_a_request_past_the_limit_waits_for_a_place_then_is_refused(settings: Any) -> None:
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "MAX_CONCURRENT_REQUESTS": 1,
                            "REQUEST_QUEUE_SECONDS": 30}
    release = asyncio.Event()
    served: list[str] = []

    async def application(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            await release.wait()
        served.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def nothing() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    def scope(path: str) -> dict[str, Any]:
        return {"type": "http", "path": path, "query_string": b"", "headers": []}

    async def scenario() -> list[Message]:
        limits = RequestLimits(application)
        sent: list[Message] = []

        async def record(message: Message) -> None:
            sent.append(message)

        slow = asyncio.create_task(limits(scope("/slow"), nothing, record))
        waiting = asyncio.create_task(limits(scope("/next"), nothing, record))
        await asyncio.sleep(0)
        assert served == [] and not waiting.done()  # the second waits for the first's place
        release.set()
        await asyncio.gather(slow, waiting)
        assert served == ["/slow", "/next"]  # ...and is served, not refused
        settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "REQUEST_QUEUE_SECONDS": 0}
        release.clear()
        slow = asyncio.create_task(limits(scope("/slow"), nothing, record))
        await asyncio.sleep(0)
        await limits(scope("/refused"), nothing, record)  # no wait: refused at once
        release.set()
        await slow
        return sent

    sent = asyncio.run(scenario())
    statuses = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert statuses == [200, 200, 503, 200]
    assert (b"retry-after", b"1") in sent[4]["headers"]


def test_settings_must_be_positive_numbers(settings: Any) -> None:
    from icframework.conf import ConfigurationError

    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "MAX_CONCURRENT_REQUESTS": 0}

    async def application(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not reached")

    scope = {"type": "http", "path": "/api/v2/status", "query_string": b"", "headers": []}
    with pytest.raises(ConfigurationError, match=re.escape(
            "ICFRAMEWORK['MAX_CONCURRENT_REQUESTS'] must be a positive whole number, not 0")):
        asyncio.run(RequestLimits(application)(scope, None, None))  # type: ignore[arg-type]



def test_a_chunked_body_refused_for_want_of_a_place_is_lingered_over(settings: Any) -> None:
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "MAX_CONCURRENT_REQUESTS": 1,
                            "REQUEST_QUEUE_SECONDS": 0}
    release = asyncio.Event()
    pieces = [{"type": "http.request", "body": b"\0" * CHUNK, "more_body": True}] * 2
    pieces.append({"type": "http.request", "body": b"", "more_body": False})

    async def application(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()  # holds the only place
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def holder_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def chunked_body() -> Message:
        return pieces.pop(0)

    async def scenario() -> list[Message]:
        limits = RequestLimits(application)
        sent: list[Message] = []

        async def ignore(message: Message) -> None:
            pass

        async def record(message: Message) -> None:
            sent.append(message)

        holder = asyncio.create_task(limits(
            {"type": "http", "path": "/slow", "query_string": b"", "headers": []},
            holder_body, ignore))
        await asyncio.sleep(0)
        await limits({"type": "http", "path": "/upload", "query_string": b"",
                      "headers": [(b"transfer-encoding", b"chunked")]}, chunked_body, record)
        release.set()
        await holder
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["status"] == 503
    assert (b"connection", b"close") in sent[0]["headers"]
    assert pieces == []  # the body was read to its end before the connection closed
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
