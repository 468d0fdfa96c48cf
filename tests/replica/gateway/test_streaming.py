"""A Python canister streams a 5 MiB file through the gateway: Django's test client against
a running replica serving ``tests/sdk/streaming_canister.py``.

The canister keeps the file as 2 MiB chunks in a stable map; the gateway assembles the
whole body from the first chunk and the ``http_stream`` callback, the canister answers a
``Range`` itself with 206 from the one chunk it touches, and ``If-None-Match`` with 304.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client

from icframework.candid import BLOB, NAT32, NAT64, TEXT, decode, encode
from icframework.compiler.app_build import build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.gateway import VERIFICATION_HEADER
from icframework.replica.service import ReplicaService, start_service, stop_service
from icframework.sdk.http import etag_of
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

OWNER = Principal.self_authenticating(b"streaming test owner")
CHUNK = 2 * 1024 * 1024
BODY = bytes((p * 13 + 5) % 251 for p in range(5 * 1024 * 1024 + 321))
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
        for index in range(-(-len(BODY) // CHUNK)):
            arg = encode([TEXT, NAT32, BLOB],
                         ["clip", index, BODY[index * CHUNK:(index + 1) * CHUNK]])
            service.run(lambda r, arg=arg: r.update(canister, "put_chunk", arg, sender=OWNER))
        arg = encode([TEXT, NAT64, TEXT], ["clip", len(BODY), "video/mp4"])
        reply = service.run(lambda r: r.update(canister, "commit", arg, sender=OWNER))
        assert decode(reply, [BLOB]) == (hashlib.sha256(BODY).digest(),)
        yield service, canister
    finally:
        stop_service()
        set_runtime_loader(previous)


def host(canister: Principal) -> str:
    return f"{canister}.localhost"


def test_the_gateway_assembles_the_streamed_body(
        site: tuple[ReplicaService, Principal]) -> None:
    _, canister = site
    response = Client().get("/files/clip", HTTP_HOST=host(canister))
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Accept-Ranges"] == "bytes"
    assert response["ETag"] == etag_of(hashlib.sha256(BODY).digest())
    assert response[VERIFICATION_HEADER] == "not-certified"
    content = response.content
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
