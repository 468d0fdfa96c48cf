"""Body-size limits and back-pressure of `icframework.replica.asgi_limits`, on a real
``manage.py runreplica`` driven over raw sockets, plus the middleware alone with a
recording ASGI application (what the application is handed of an endless body)."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from icframework.replica.asgi_limits import API_MAX_REQUEST_BYTES, Message, RequestLimits
from tests.agent.live_replica import running_replica

GIB_2 = 2 * 1024**3
CHUNK = 64 * 1024
SOME_CANISTER = "ryjl3-tyaaa-aaaaa-aaaba-cai"


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
        assert _closed(sock)


def test_a_chunked_body_is_cut_off_at_the_limit(url: str) -> None:
    sock, host = _open(url)
    sent = 0
    with sock:
        _head(sock, "POST", f"/api/v2/canister/{SOME_CANISTER}/query", host,
              Content_Type="application/cbor", Transfer_Encoding="chunked")
        chunk = f"{CHUNK:x}\r\n".encode() + b"\0" * CHUNK + b"\r\n"
        try:
            while sent < 256 * 1024 * 1024:  # a 3 GiB body would not get further either
                sock.sendall(chunk)
                sent += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: it reads no more of the body
        status, headers, body = _response(sock)
    assert status == 413
    found = re.search(r"reading stopped at (\d+)\)", body.decode())
    assert found, body
    received = int(found[1])  # what the server handed the application before the 413
    assert API_MAX_REQUEST_BYTES < received <= API_MAX_REQUEST_BYTES + 1024 * 1024
    # Kernel socket buffers take some more, but nowhere near the 256 MiB offered.
    assert sent < 64 * 1024 * 1024
    assert headers["connection"] == "close"


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
    assert pulled == API_MAX_REQUEST_BYTES // CHUNK + 1  # one chunk past it, then no more
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


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

