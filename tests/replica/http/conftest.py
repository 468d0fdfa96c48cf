"""Fixtures for the HTTP interface tests: a running replica service, request builders and
`ApiClient`, which sends requests through the project's whole ASGI application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import cbor2
import pytest
import wasmtime

from icframework.core import Principal
from icframework.identity import Ed25519Identity, Identity
from icframework.protocol import (
    CallContent,
    Content,
    QueryContent,
    ReadStateContent,
    sign_envelope,
)
from icframework.replica.service import ReplicaService, start_service, stop_service

EMPTY = b"DIDL\x00\x00"
MINUTE_NS = 60 * 1_000_000_000

# A canister for certification tests: `certify` sets certified data to its argument bytes,
# query `certificate` replies with the raw data certificate, query `refuse` rejects.
DATA_CERTIFICATE_WAT = r"""
(module
  (import "ic0" "msg_arg_data_size" (func $arg_size (result i32)))
  (import "ic0" "msg_arg_data_copy" (func $arg_copy (param i32 i32 i32)))
  (import "ic0" "certified_data_set" (func $certify (param i32 i32)))
  (import "ic0" "data_certificate_present" (func $present (result i32)))
  (import "ic0" "data_certificate_size" (func $size (result i32)))
  (import "ic0" "data_certificate_copy" (func $copy (param i32 i32 i32)))
  (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
  (import "ic0" "msg_reply" (func $reply))
  (import "ic0" "msg_reject" (func $reject (param i32 i32)))
  (memory 2)
  (data (i32.const 0) "no certificate")
  (func (export "canister_update certify")
    (call $arg_copy (i32.const 1024) (i32.const 0) (call $arg_size))
    (call $certify (i32.const 1024) (call $arg_size))
    (call $reply))
  (func (export "canister_query certificate")
    (if (i32.eqz (call $present))
      (then (call $reject (i32.const 0) (i32.const 14)) (return)))
    (call $copy (i32.const 1024) (i32.const 0) (call $size))
    (call $append (i32.const 1024) (call $size))
    (call $reply))
  (func (export "canister_query refuse")
    (call $reject (i32.const 0) (i32.const 14))))
"""


def _custom_section(name: str, content: bytes) -> bytes:
    def uleb(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    encoded = name.encode()
    payload = uleb(len(encoded)) + encoded + content
    return b"\x00" + uleb(len(payload)) + payload


def data_certificate_wasm() -> bytes:
    """The module above with ``icp:public greeting`` and ``icp:private secret`` metadata."""
    wasm = bytes(wasmtime.wat2wasm(DATA_CERTIFICATE_WAT))
    return (
        wasm
        + _custom_section("icp:public greeting", b"hello")
        + _custom_section("icp:private secret", b"s3cret")
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path)
    deadline = time.monotonic() + 10
    while running.run(lambda replica: replica.subnet.height) == 0:
        assert time.monotonic() < deadline, "the round loop did not run a first round"
        time.sleep(0.01)
    yield running
    stop_service()


class Answer:
    """An HTTP answer: ``status_code``, ``content`` and headers by case-insensitive name
    (``answer["Content-Type"]``, ``"Allow" in answer``), as Django's test client has them."""

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], content: bytes) -> None:
        self.status_code = status
        self.content = content
        self.headers = {name.decode("latin-1").lower(): value.decode("latin-1")
                        for name, value in headers}

    def __getitem__(self, name: str) -> str:
        return self.headers[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self.headers

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


class ApiClient:
    """Requests through ``config.asgi.application`` (request limits, the ``/api/``
    application, Django): what a server hands the application, without a socket.

    The methods take Django test client style header keywords (``HTTP_ACCEPT=…``,
    ``CONTENT_LENGTH=…``, ``QUERY_STRING=…``); header values are sent as UTF-8 bytes,
    whatever they hold. Each request runs on its own event loop (`asyncio.run`);
    `arequest` is the same on the caller's loop.
    """

    async def arequest(self, method: str, url: str, body: bytes = b"",
                       content_type: str | None = None, **extra: str) -> Answer:
        from config.asgi import application

        parts = urlsplit(url)
        query = extra.pop("QUERY_STRING", parts.query)
        headers = [(b"host", b"testserver")]
        if content_type is not None:
            headers.append((b"content-type", content_type.encode()))
        if "CONTENT_LENGTH" not in extra:
            headers.append((b"content-length", str(len(body)).encode()))
        for key, value in extra.items():
            name = key.removeprefix("HTTP_").replace("_", "-").lower()
            headers.append((name.encode(), value.encode()))
        scope: MutableMapping[str, Any] = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": unquote(parts.path),
            "raw_path": parts.path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        sent = False
        status = 0
        response_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        done = asyncio.Event()

        async def receive() -> MutableMapping[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, response_headers
            if message["type"] == "http.response.start":
                status, response_headers = message["status"], list(message["headers"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    done.set()

        await application(scope, receive, send)
        done.set()
        return Answer(status, response_headers, b"".join(chunks))

    def request(self, method: str, url: str, body: bytes = b"",
                content_type: str | None = None, **extra: str) -> Answer:
        return asyncio.run(self.arequest(method, url, body, content_type, **extra))

    def generic(self, method: str, url: str, body: bytes = b"",
                content_type: str | None = None, **extra: str) -> Answer:
        return self.request(method, url, body, content_type, **extra)

    def get(self, url: str, **extra: str) -> Answer:
        return self.request("GET", url, **extra)

    def options(self, url: str, **extra: str) -> Answer:
        return self.request("OPTIONS", url, **extra)

    def post(self, url: str, body: bytes = b"", content_type: str | None = None,
             **extra: str) -> Answer:
        return self.request("POST", url, body, content_type, **extra)


@pytest.fixture
def client() -> ApiClient:
    return ApiClient()


@pytest.fixture
def owner() -> Ed25519Identity:
    return Ed25519Identity.generate()


@pytest.fixture
def canister(service: ReplicaService, owner: Ed25519Identity) -> Principal:
    """An installed `data_certificate_wasm` canister controlled by ``owner``."""
    created: Principal = service.run(lambda r: r.create_canister(sender=owner.principal))
    service.run(lambda r: r.install_code(created, data_certificate_wasm(), sender=owner.principal))
    return created


def expiry(offset_ns: int = 2 * MINUTE_NS) -> int:
    return time.time_ns() + offset_ns


def call_content(
    identity: Identity, canister: Principal, method: str, arg: bytes = EMPTY, **fields: Any
) -> CallContent:
    fields.setdefault("ingress_expiry", expiry())
    fields.setdefault("nonce", time.time_ns().to_bytes(16, "big"))
    return CallContent(canister, method, arg, identity.principal, **fields)


def query_content(
    identity: Identity, canister: Principal, method: str, arg: bytes = EMPTY
) -> QueryContent:
    return QueryContent(canister, method, arg, identity.principal, expiry())


def read_state_content(identity: Identity, *paths: tuple[bytes, ...]) -> ReadStateContent:
    return ReadStateContent(identity.principal, expiry(), tuple(paths))


def post(client: ApiClient, url: str, body: bytes, **extra: Any) -> Answer:
    extra.setdefault("content_type", "application/cbor")
    return client.post(url, body, **extra)


def post_signed(client: ApiClient, url: str, content: Content, identity: Identity) -> Answer:
    return post(client, url, sign_envelope(content, identity).to_cbor())


def cbor_body(response: Answer) -> Any:
    assert response["Content-Type"] == "application/cbor", response.content[:300]
    return cbor2.loads(response.content)
