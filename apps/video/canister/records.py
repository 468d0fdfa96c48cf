"""The video canister's shared records: videos, their renditions, uploads and worker jobs.

These dataclasses and enums are the Candid interface (apps/video/video.did is generated
from them). Texts are plain text: the page shows them with ``textContent``. Times are
nanoseconds since the epoch (``ic.time()``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from icframework.sdk import HttpRequest as HttpRequest  # the gateway's records, for clients
from icframework.sdk import HttpResponse as HttpResponse
from icframework.sdk import Principal, nat32, nat64


@dataclass
class InitArgs:
    """``@init``/``@post_upgrade`` argument: moderators, the transcoding workers' principals
    and the ICRC-1/2 ledger tips are paid in."""

    admins: list[Principal]
    workers: list[Principal]
    ledger: Principal | None


class VideoStatus(Enum):
    uploading = "uploading"
    processing = "processing"
    ready = "ready"
    rejected = "rejected"


class RenditionKind(Enum):
    r720 = "r720"
    r360 = "r360"
    poster = "poster"


@dataclass
class Rendition:
    """One stored file of a ready video, served at ``path`` on the canister's origin."""

    kind: RenditionKind
    path: str
    content_type: str
    size: nat64
    width: nat32
    height: nat32
    sha256: bytes


@dataclass
class Video:
    id: nat64
    creator: Principal
    caption: str
    status: VideoStatus
    reason: str | None
    created_at: nat64
    ready_at: nat64 | None
    size: nat64
    sha256: bytes
    duration_ms: nat32
    width: nat32
    height: nat32
    renditions: list[Rendition]
    sensitive: bool


# -- uploads and the worker's interface --------------------------------------------------


@dataclass
class UploadInput:
    """What ``begin_upload`` announces: the whole original's size and SHA-256."""

    caption: str
    size: nat64
    sha256: bytes
    content_type: str


@dataclass
class UploadTicket:
    """Where an upload stands: send chunks ``0..chunks-1`` of ``chunk_bytes`` (the last
    shorter) that are not in ``received``. ``deduplicated``: the canister already had
    this file, so the video is ready and no chunk is needed."""

    video_id: nat64
    chunk_bytes: nat32
    chunks: nat32
    received: list[nat32]
    deduplicated: bool


@dataclass
class UploadProgress:
    """An upload's or processing's state, also published on ``uploads:<creator>``."""

    video_id: nat64
    status: VideoStatus
    chunks: nat32
    received: nat32
    reason: str | None


@dataclass
class Job:
    """A video waiting for the transcoding worker: its original is ``chunks`` chunks of
    ``chunk_bytes`` (``worker_original_chunk``); ``attempt`` counts claims so far."""

    video_id: nat64
    size: nat64
    sha256: bytes
    content_type: str
    chunk_bytes: nat32
    chunks: nat32
    attempt: nat32


@dataclass
class RenditionUpload:
    """One chunk (``index``) of a rendition the worker made; every chunk of one
    rendition repeats the same description (kind, type, size, dimensions, SHA-256)."""

    kind: RenditionKind
    content_type: str
    size: nat64
    width: nat32
    height: nat32
    sha256: bytes
    index: nat32
    data: bytes


@dataclass
class MediaInfo:
    """What the worker measured of the original."""

    duration_ms: nat32
    width: nat32
    height: nat32
