"""Durable state of the video canister's videos, uploads, originals, renditions and jobs.

Nothing is cached in Python; every map reads the canister's key-value store, so state
survives upgrades and rolled-back messages leave no trace.

* ``videos[id] -> Video`` is THE list of videos; ``by_creator[(creator, id)]`` lists a
  creator's; ``counters`` hands out ids.
* An upload in progress is ``uploads[id] -> UploadState`` plus
  ``open_uploads[(creator, sha256)] -> id`` (how a reload resumes it) and
  ``upload_expiry[(expires_at, id)]`` (what the expiry timer drops). Its chunks, and
  after ``finish_upload`` the original's, are ``original_chunks[(id, n)]`` until the
  worker completes the video.
* A processing video is ``jobs[id] -> JobState`` (attempts, lease); the renditions the
  worker sends are ``pending[(id, kind)]`` with chunks in ``rendition_chunks``.
* Stored renditions belong to a media entry, ``media[media_id] -> Media`` (the id of
  the video that was processed), shared by every video with the same original SHA-256
  (``media_by_hash``, ``video_media[video] -> media_id``) and counted by ``refs``: the
  chunks ``rendition_chunks[(media_id, kind, n)]`` go when the last video does.
* ``moderators``, ``workers`` and ``config`` (the ledger) come from `InitArgs`;
  ``begin_log[user]`` is the sliding window of ``begin_upload`` times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from icframework.sdk import Principal, StableBTreeMap, StableCell, nat32, nat64

from .limits import CHUNK_BYTES
from .records import MediaInfo, Rendition, Video


@dataclass
class Counters:
    next_video: nat64 = 1


@dataclass
class Config:
    ledger: Principal | None = None


@dataclass
class UploadState:
    """An unfinished upload: ``received`` lists the chunk indexes in (sorted)."""

    content_type: str
    chunks: nat32
    received: list[nat32]
    expires_at: nat64


@dataclass
class JobState:
    """A processing video's original type, its claims so far and the last claim."""

    content_type: str
    chunks: nat32
    attempts: nat32 = 0
    worker: Principal | None = None
    lease_until: nat64 = 0


@dataclass
class PendingRendition:
    """A rendition the worker is sending: its announced description and chunks in."""

    rendition: Rendition
    chunks: nat32
    received: list[nat32] = field(default_factory=list)


@dataclass
class Media:
    """Stored renditions shared by the videos of one original (``refs`` of them)."""

    sha256: bytes
    refs: nat32
    info: MediaInfo
    renditions: list[Rendition]


MIN_PRINCIPAL = Principal.management_canister()
"""The smallest principal (no bytes): the start of a scan over one user's keys."""
MAX_PRINCIPAL = Principal(b"\xff" * 29)
"""Larger than every real principal: the (exclusive) end of such a scan."""
MAX_ID = (1 << 64) - 1

videos = StableBTreeMap[nat64, Video]("videos")
by_creator = StableBTreeMap[tuple[Principal, nat64], bool]("by_creator")
counters = StableCell[Counters]("counters", default=Counters())
config = StableCell[Config]("config", default=Config())
moderators = StableBTreeMap[Principal, bool]("moderators")
workers = StableBTreeMap[Principal, bool]("workers")

uploads = StableBTreeMap[nat64, UploadState]("uploads")
open_uploads = StableBTreeMap[tuple[Principal, bytes], nat64]("open_uploads")
upload_expiry = StableBTreeMap[tuple[nat64, nat64], bool]("upload_expiry")
original_chunks = StableBTreeMap[tuple[nat64, nat32], bytes]("original_chunks")
begin_log = StableBTreeMap[Principal, list[nat64]]("begin_log")
sweep_at = StableCell[nat64]("sweep_at", default=0)

jobs = StableBTreeMap[nat64, JobState]("jobs")
pending = StableBTreeMap[tuple[nat64, str], PendingRendition]("pending")
rendition_chunks = StableBTreeMap[tuple[nat64, str, nat32], bytes]("rendition_chunks")
media = StableBTreeMap[nat64, Media]("media")
media_by_hash = StableBTreeMap[bytes, nat64]("media_by_hash")
video_media = StableBTreeMap[nat64, nat64]("video_media")


def next_video_id() -> int:
    state = counters.get()
    value = state.next_video
    state.next_video = value + 1
    counters.set(state)
    return value


def chunk_count(size: int) -> int:
    """How many `CHUNK_BYTES` chunks carry ``size`` bytes."""
    return -(-size // CHUNK_BYTES)


def chunk_length(size: int, index: int) -> int:
    """The exact length of chunk ``index`` of a ``size``-byte file (the last is shorter)."""
    return min(CHUNK_BYTES, size - index * CHUNK_BYTES)
