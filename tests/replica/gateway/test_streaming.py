"""A Python canister streams a 5 MiB file through the gateway: Django's test client, the
project's ASGI application (``config.asgi``) driven message by message, and uvicorn with
an HTTP client, against a running replica serving ``tests/sdk/streaming_canister.py``.

The canister keeps the file as 2 MiB chunks in a stable map; the gateway streams the
body: the first chunk goes out before the ``http_stream`` callback is queried, and each
further chunk is queried when the server asks for it (the callback queries are counted
in the replica's metrics, never timed). A client that disconnects stops the queries; a
callback that rejects mid-stream truncates the response. The canister answers a
``Range`` itself with 206 from the one chunk it touches, and ``If-None-Match`` with 304.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import socket
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from django.http import StreamingHttpResponse
from django.test import Client

from icframework.candid import BLOB, NAT32, NAT64, TEXT, decode, encode
from icframework.compiler.app_build import build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.gateway import VERIFICATION_HEADER, StreamAborted
from icframework.replica.service import ReplicaService, start_service, stop_service
from icframework.sdk.http import etag_of
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

OWNER = Principal.self_authenticating(b"streaming test owner")
CHUNK = 2 * 1024 * 1024
BODY = bytes((p * 13 + 5) % 251 for p in range(5 * 1024 * 1024 + 321))
CALLBACKS = 2  # the two chunks after the first
BROKEN = "broken"  # a file whose chunk 1 is replaced by a short one after the commit
SOURCE = Path(__file__).resolve().parents[2] / "sdk" / "streaming_canister.py"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReplicaService, Principal]]:
    runtime_component()
    previous = set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR,
                                                    progress=None))
    root = tmp_path_factory.mktemp("streaming")
    app = root / "apps" / "files"
    app.mkdir(parents=True)
    (app / "canister.py").write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    wasm = build_app(app, pack_python_module, cache_dir=root / "cache", progress=None).wasm
    service = start_service(root / "state")
    try:
        canister = service.run(lambda r: r.create_canister(sender=OWNER))
        service.run(lambda r: r.install_code(canister, wasm, sender=OWNER))
        def update(method: str, arg: bytes) -> bytes:
            return service.run(lambda r: r.update(canister, method, arg, sender=OWNER))

        for name in ("clip", BROKEN):
            for index in range(-(-len(BODY) // CHUNK)):
                update("put_chunk", encode([TEXT, NAT32, BLOB],
                                           [name, index, BODY[index * CHUNK:(index + 1) * CHUNK]]))
            reply = update("commit", encode([TEXT, NAT64, TEXT], [name, len(BODY), "video/mp4"]))
            assert decode(reply, [BLOB]) == (hashlib.sha256(BODY).digest(),)
        # After the commit, chunk 1 of BROKEN loses its last byte: its callback rejects.
        update("put_chunk", encode([TEXT, NAT32, BLOB], [BROKEN, 1, BODY[CHUNK:2 * CHUNK - 1]]))
        yield service, canister
    finally:
        stop_service()
        set_runtime_loader(previous)


def host(canister: Principal) -> str:
    return f"{canister}.localhost"


def callback_queries(service: ReplicaService, canister: Principal) -> int:
    """How many ``http_stream`` queries the canister has answered (or rejected), from the
    replica's recent calls (a ring far longer than this module's calls)."""
    calls = service.run(lambda r: r.metrics())["calls"]
    return sum(1 for call in calls
               if call["canister"] == canister.to_text() and call["method"] == "http_stream")


def streamed(response: Any) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def test_the_gateway_streams_the_body_to_the_test_client(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/files/clip", HTTP_HOST=host(canister))
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == etag_of(hashlib.sha256(BODY).digest())
    assert response[VERIFICATION_HEADER] == "not-certified"
    assert not response.has_header("Content-Length")
    content = streamed(response)
    assert len(content) == len(BODY) and content == BODY


def test_the_canister_answers_a_range_from_one_chunk(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/files/clip", HTTP_HOST=host(canister),
                            HTTP_RANGE="bytes=3000000-3000099")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 3000000-3000099/{len(BODY)}"
    assert response.content == BODY[3_000_000:3_000_100]


def test_an_open_range_gets_at_most_one_chunk_length(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/files/clip", HTTP_HOST=host(canister), HTTP_RANGE="bytes=1000-")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000-{1000 + CHUNK - 1}/{len(BODY)}"
    assert response.content == BODY[1000:1000 + CHUNK]


def test_unsatisfiable_range_and_if_none_match(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    refused = Client().get("/files/clip", HTTP_HOST=host(canister),
                           HTTP_RANGE=f"bytes={len(BODY)}-")
    assert refused.status_code == 416
    assert refused["Content-Range"] == f"bytes */{len(BODY)}"
    etag = etag_of(hashlib.sha256(BODY).digest())
    cached = Client().get("/files/clip", HTTP_HOST=host(canister), HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304
    assert cached.content == b""


# -- the project's ASGI application, message by message -----------------------------------------


Message = MutableMapping[str, Any]


class AsgiExchange:
    """One GET through ``config.asgi.application``: what the application sends, and the
    callback queries counted when the first body bytes were sent. With ``disconnect``,
    the client goes away as soon as it has the first body bytes."""

    def __init__(self, service: ReplicaService, canister: Principal, path: str, *,
                 disconnect: bool = False) -> None:
        self.service, self.canister, self.path = service, canister, path
        self.disconnect = disconnect
        self.messages: list[Message] = []
        self.queries_at_first_byte: int | None = None
        self.error: BaseException | None = None

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages[1:])

    @property
    def completed(self) -> bool:
        """Whether the application ended the response (a body message without more_body)."""
        return any(m["type"] == "http.response.body" and not m.get("more_body", False)
                   for m in self.messages)

    def run(self) -> AsgiExchange:
        from config.asgi import application

        self.before = callback_queries(self.service, self.canister)
        got_first_byte = asyncio.Event()
        requested = False

        async def receive() -> Message:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if self.disconnect:
                await got_first_byte.wait()
            else:
                await asyncio.Event().wait()  # never: the client stays
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            self.messages.append(message)
            if message.get("body") and self.queries_at_first_byte is None:
                self.queries_at_first_byte = (callback_queries(self.service, self.canister)
                                              - self.before)
                got_first_byte.set()
            await asyncio.sleep(0)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": self.path,
            "raw_path": self.path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", host(self.canister).encode())],
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }

        async def exchange() -> None:
            try:
                await application(scope, receive, send)
            except Exception as exc:  # what the server sees: it closes the connection
                self.error = exc

        asyncio.run(exchange())  # waits for the worker threads (a query in flight) too
        self.after = callback_queries(self.service, self.canister) - self.before
        return self


def test_asgi_sends_the_first_chunk_before_any_callback_query(
        site: tuple[ReplicaService, Principal]) -> None:
    exchange = AsgiExchange(*site, "/files/clip").run()
    assert exchange.error is None
    assert exchange.status == 200
    headers = {name.lower(): value for name, value in exchange.messages[0]["headers"]}
    assert headers[b"content-type"] == b"video/mp4"
    assert headers[VERIFICATION_HEADER.lower().encode()] == b"not-certified"
    assert exchange.queries_at_first_byte == 0
    assert exchange.after == CALLBACKS
    assert exchange.completed
    assert exchange.body == BODY


def test_asgi_client_disconnect_stops_the_callback_queries(
        site: tuple[ReplicaService, Principal]) -> None:
    exchange = AsgiExchange(*site, "/files/clip", disconnect=True).run()
    assert exchange.error is None
    assert exchange.queries_at_first_byte == 0
    # The query asked for when the client left may complete; none is made after it.
    assert exchange.after <= 1 < CALLBACKS
    assert not exchange.completed
    assert len(exchange.body) < len(BODY)


def test_asgi_callback_reject_mid_stream_aborts_the_response(
        site: tuple[ReplicaService, Principal]) -> None:
    exchange = AsgiExchange(*site, f"/files/{BROKEN}").run()
    assert exchange.status == 200
    assert isinstance(exchange.error, StreamAborted)
    assert "http_stream was rejected" in str(exchange.error)
    assert f"chunk 1 of {BROKEN!r} has {CHUNK - 1} bytes" in str(exchange.error)
    assert exchange.after == 1  # the rejected one; never the chunk after it
    assert not exchange.completed
    assert exchange.body == BODY[:CHUNK]


# -- uvicorn and an HTTP client -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(site: tuple[ReplicaService, Principal]) -> Iterator[str]:
    """``config.asgi.application`` served by uvicorn on a free loopback port."""
    from config.asgi import application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    serving = uvicorn.Server(uvicorn.Config(application, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=serving.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not serving.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn stopped before serving")
            threading.Event().wait(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        serving.should_exit = True
        thread.join()
        sock.close()


def test_http_client_reads_the_first_chunk_before_later_queries(
        site: tuple[ReplicaService, Principal], server: str) -> None:
    service, canister = site
    before = callback_queries(service, canister)
    received = bytearray()
    with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{server}/files/clip", headers={"Host": host(canister)}) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        pieces = response.iter_raw()
        received += next(pieces)
        # uvicorn pauses a stream whose client does not read: at most the next chunk's
        # query has run (socket buffers may hold part of chunk 0); never the last one.
        assert callback_queries(service, canister) - before < CALLBACKS
        for piece in pieces:
            received += piece
    assert bytes(received) == BODY
    assert callback_queries(service, canister) - before == CALLBACKS


def test_http_client_sees_a_truncated_body_when_a_callback_rejects(
        site: tuple[ReplicaService, Principal], server: str) -> None:
    _, canister = site
    received = bytearray()
    with httpx.Client(timeout=60) as client, client.stream(
            "GET", f"{server}/files/{BROKEN}", headers={"Host": host(canister)}) as response:
        assert response.status_code == 200  # sent before the failure
        with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
            for piece in response.iter_raw():
                received += piece
    assert bytes(received) == BODY[:len(received)]
    assert len(received) == CHUNK < len(BODY)
