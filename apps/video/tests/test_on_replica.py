"""The built video canister on a real replica: a 3 MiB upload in 1 MiB chunks, the worker's
3 MiB rendition, and the rendition served through the real gateway (Django's test client):
whole bodies assembled from the streaming callback, Range with 206 and exact bytes, 416, 304.

The module is built with the app build cache under ``.build/apps`` (as ``manage.py build
video``), so an unchanged canister is not packed again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from icframework.compiler.app_build import build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.demo import TypedCaller
from icframework.replica import CanisterError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.service import ReplicaService, start_service, stop_service
from icframework.sdk import Canister
from icframework.sdk.dispatch import encode_args
from icframework.sdk.http import etag_of
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

from .world import APP, APP_DIR, CHUNK, MOD, WORKER, chunks_of, mp4, records, upload_input, user

BUILD_CACHE = APP_DIR.parents[1] / ".build" / "apps"
OWNER = Principal.self_authenticating(b"video replica test owner")
ALICE = user("alice")
ORIGINAL = mp4(3 * CHUNK + 4321)
RENDITION = bytes((n * 31 + n // 4096) % 253 for n in range(3 * CHUNK + 77))


class Site:
    """The replica service, the canister (and its module) and typed calls to it."""

    def __init__(self, service: ReplicaService, canister: Principal, wasm: bytes) -> None:
        self.service, self.canister, self.wasm = service, canister, wasm
        self.methods = Canister(APP.__name__).methods

    def call(self, sender: Principal, method: str, *args: Any) -> Any:
        return self.service.run(
            lambda r: TypedCaller(r, self.canister, self.methods)(sender, method, *args))

    def get(self, path: str, **headers: str) -> Any:
        return Client().get(path, HTTP_HOST=f"{self.canister}.localhost", **headers)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    runtime_component()
    previous = set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR,
                                                    progress=None))
    wasm = build_app(APP_DIR, pack_python_module, cache_dir=BUILD_CACHE, progress=None).wasm
    init = Canister(APP.__name__).hooks["init"]
    arg = encode_args(init, (records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None),))
    service = start_service(Path(tmp_path_factory.mktemp("video")) / "state")
    try:
        canister = service.run(lambda r: r.create_canister(sender=OWNER))
        service.run(lambda r: r.install_code(canister, wasm, arg=arg, sender=OWNER))
        yield Site(service, canister, wasm)
    finally:
        stop_service()
        set_runtime_loader(previous)


@pytest.fixture(scope="module")
def video(site: Site) -> Any:
    """A ready video: the 3 MiB original uploaded, the worker's 3 MiB rendition stored."""
    ticket = site.call(ALICE, "begin_upload", upload_input(ORIGINAL, "on the replica #real"))
    assert (ticket.chunks, ticket.chunk_bytes) == (4, CHUNK)
    for index in (3, 1, 0, 2, 1):
        site.call(ALICE, "put_chunk", ticket.video_id, index, chunks_of(ORIGINAL)[index])
    finished = site.call(ALICE, "finish_upload", ticket.video_id)
    assert finished.status == records.VideoStatus.processing
    job = site.call(WORKER, "worker_claim", ticket.video_id)
    original = b"".join(site.call(WORKER, "worker_original_chunk", ticket.video_id, n)
                        for n in range(job.chunks))
    assert original == ORIGINAL
    digest = hashlib.sha256(RENDITION).digest()
    for index, part in enumerate(chunks_of(RENDITION)):
        site.call(WORKER, "worker_put_rendition", ticket.video_id, records.RenditionUpload(
            records.RenditionKind.r720, "video/mp4", len(RENDITION), 720, 1280, digest,
            index, part))
    ready = site.call(WORKER, "worker_complete", ticket.video_id,
                      records.MediaInfo(9_000, 1080, 1920))
    assert ready.status == records.VideoStatus.ready
    return ready


def test_the_whole_rendition_is_assembled_from_the_streaming_callback(
        site: Site, video: Any) -> None:
    response = site.get(video.renditions[0].path)
    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["ETag"] == etag_of(hashlib.sha256(RENDITION).digest())
    assert b"".join(response.streaming_content) == RENDITION


@pytest.mark.parametrize(("value", "first", "last"), [
    ("bytes=0-99", 0, 99),
    (f"bytes={CHUNK - 10}-{CHUNK + 9}", CHUNK - 10, CHUNK + 9),
    (f"bytes={2 * CHUNK}-", 2 * CHUNK, 3 * CHUNK - 1),
    ("bytes=-77", 3 * CHUNK, 3 * CHUNK + 76),
])
def test_a_range_gets_206_with_the_exact_bytes(site: Site, video: Any, value: str, first: int,
                                               last: int) -> None:
    response = site.get(video.renditions[0].path, HTTP_RANGE=value)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{len(RENDITION)}"
    assert response.content == RENDITION[first:last + 1]


def test_past_the_end_is_416_and_a_known_etag_304(site: Site, video: Any) -> None:
    refused = site.get(video.renditions[0].path, HTTP_RANGE=f"bytes={len(RENDITION)}-")
    assert refused.status_code == 416
    assert refused["Content-Range"] == f"bytes */{len(RENDITION)}"
    etag = etag_of(hashlib.sha256(RENDITION).digest())
    cached = site.get(video.renditions[0].path, HTTP_IF_NONE_MATCH=etag)
    assert cached.status_code == 304 and cached.content == b""


def test_the_original_is_gone_and_unknown_paths_are_404(site: Site, video: Any) -> None:
    with pytest.raises(CanisterError, match="ready, not processing"):
        site.call(WORKER, "worker_original_chunk", video.id, 0)
    assert site.get(f"/v/{video.id}/360.mp4").status_code == 404
    assert site.get("/v/424242/720.mp4").status_code == 404


def test_an_upload_resumes_across_an_upgrade(site: Site) -> None:
    """The upgraded instance has no running hash: finish hashes the stored chunks."""
    file = mp4(2 * CHUNK + 99)
    parts = chunks_of(file)
    ticket = site.call(ALICE, "begin_upload", upload_input(file, "across an upgrade"))
    site.call(ALICE, "put_chunk", ticket.video_id, 0, parts[0])
    upgrade = Canister(APP.__name__).hooks["post_upgrade"]
    arg = encode_args(upgrade, (None,))
    site.service.run(lambda r: r.install_code(site.canister, site.wasm, arg=arg,
                                              mode="upgrade", sender=OWNER))
    resumed = site.call(ALICE, "begin_upload", upload_input(file, "across an upgrade"))
    assert (resumed.video_id, resumed.received) == (ticket.video_id, [0])
    for index in (2, 1):
        site.call(ALICE, "put_chunk", ticket.video_id, index, parts[index])
    finished = site.call(ALICE, "finish_upload", ticket.video_id)
    assert finished.status == records.VideoStatus.processing
    assert b"".join(site.call(WORKER, "worker_original_chunk", ticket.video_id, n)
                    for n in range(3)) == file
