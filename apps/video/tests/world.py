"""Shared helpers of the video canister's tests: a fresh canister, users, calls as one user,
and videos driven through the real upload and worker methods.

`As(c, who)` calls the canister's methods as one user (queries as queries), moving the
clock 2 s before each update. `ready_video` uploads a small MP4-looking original in
chunks, finishes it, and plays the worker (claim, renditions of a few bytes, complete),
so a test gets a ready video exactly as the app makes one. Each call makes new bytes
(a counter), so videos never share media unless a test sends the same bytes itself.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from icframework.compiler.app_build import load_app
from icframework.sdk import LocalCanister, Principal

APP_DIR = Path(__file__).resolve().parents[1]
APP = load_app(APP_DIR)
records = APP.records
limits = APP.limits
SECOND: int = limits.SECOND
CHUNK: int = limits.CHUNK_BYTES

MOD = Principal.self_authenticating(b"video moderator's key")
WORKER = Principal.self_authenticating(b"video worker's key")
ANON = Principal.anonymous()

_serial = itertools.count(1)


def user(name: str) -> Principal:
    return Principal.self_authenticating(f"{name}'s key".encode())


class As:
    """Calls the canister's methods as ``who`` (queries as queries, updates as updates)."""

    def __init__(self, c: LocalCanister, who: Principal, tick_ns: int = 2 * SECOND) -> None:
        self.c, self.who, self.tick_ns = c, who, tick_ns

    def __getattr__(self, method: str) -> Callable[..., Any]:
        kind = self.c.canister.methods[method].kind

        def call(*args: Any) -> Any:
            if kind == "query":
                return self.c.query(method, *args, caller=self.who)
            self.c.backend.advance_time(self.tick_ns)
            return self.c.update(method, *args, caller=self.who)

        return call


def fresh() -> LocalCanister:
    """A canister installed with `MOD` as its moderator, `WORKER` as its worker, no ledger."""
    c = LocalCanister(APP)
    c.install(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None))
    return c


def mp4(size: int, salt: int | None = None) -> bytes:
    """``size`` (≥ 16) bytes that sniff as MP4: an ``ftyp`` box, then bytes made from
    ``salt`` (default: a fresh counter value, so two calls never give the same file)."""
    if size < 16:
        raise ValueError(f"an MP4-looking file needs at least 16 bytes, got {size}")
    salt = next(_serial) if salt is None else salt
    head = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    seed = hashlib.sha256(b"video test %d" % salt).digest()
    body = (seed * (-(-(size - len(head)) // 32)))[:size - len(head)]
    return head + body


def chunks_of(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [b""]


def upload_input(data: bytes, caption: str = "",
                 content_type: str = "video/mp4") -> Any:
    return records.UploadInput(caption, len(data), hashlib.sha256(data).digest(),
                               content_type)


def upload(c: LocalCanister, creator: Principal | As, data: bytes,
           caption: str = "a video") -> Any:
    """Begin, send every chunk and finish ``data`` as ``creator``: the finished `Video`
    (processing, or ready when the canister already had the file)."""
    me = creator if isinstance(creator, As) else As(c, creator)
    ticket = me.begin_upload(upload_input(data, caption))
    if not ticket.deduplicated:
        for index, chunk in enumerate(chunks_of(data)):
            me.put_chunk(ticket.video_id, index, chunk)
    return me.finish_upload(ticket.video_id)


def rendition(kind: Any, data: bytes, index: int = 0, width: int = 720,
              height: int = 1280) -> Any:
    """Chunk ``index`` of a rendition of ``data`` (its whole description repeated)."""
    content_type = "image/jpeg" if kind == records.RenditionKind.poster else "video/mp4"
    part = data[index * CHUNK:(index + 1) * CHUNK]
    return records.RenditionUpload(kind, content_type, len(data),
                                   width, height, hashlib.sha256(data).digest(), index, part)


def rendition_bytes(video_id: int, kind: Any, size: int = 48) -> bytes:
    """Small distinct bytes standing for one rendition of one video."""
    seed = hashlib.sha256(f"rendition {video_id} {kind.value}".encode()).digest()
    return (seed * (-(-size // 32)))[:size]


def process(c: LocalCanister, video_id: int, duration_ms: int = 15_000,
            files: dict[Any, bytes] | None = None) -> Any:
    """Play the worker for processing video ``video_id``: claim it, send its renditions
    (``files`` by kind; default a few bytes of each kind) and complete it."""
    worker = As(c, WORKER)
    worker.worker_claim(video_id)
    if files is None:
        files = {kind: rendition_bytes(video_id, kind) for kind in records.RenditionKind}
    for kind, data in files.items():
        width, height = (720, 1280) if kind != records.RenditionKind.r360 else (360, 640)
        for index in range(len(chunks_of(data))):
            worker.worker_put_rendition(video_id, rendition(kind, data, index, width, height))
    return worker.worker_complete(video_id, records.MediaInfo(duration_ms, 720, 1280))


def ready_video(c: LocalCanister, creator: Principal | As, caption: str = "a video",
                duration_ms: int = 15_000, size: int = 4096) -> Any:
    """A ready `Video` of ``creator`` made through the real upload and worker methods."""
    video = upload(c, creator, mp4(size), caption)
    if video.status == records.VideoStatus.ready:
        return video
    return process(c, video.id, duration_ms)
