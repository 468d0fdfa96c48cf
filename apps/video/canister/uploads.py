"""Resumable chunked uploads of originals, their checks, expiry and content-hash dedup.

A creator announces the whole file (`begin_upload`: caption, size, SHA-256, content
type) and gets a video id in ``uploading``; chunks of exactly `CHUNK_BYTES` (the last
shorter) arrive in any order with `put_chunk` (a chunk sent again replaces itself);
`finish_upload` checks every chunk is in, the SHA-256 and the container (`sniff`) and
moves the video to ``processing`` for the worker — or to ``rejected`` with the reason
when the bytes are not a video. Announcing the same SHA-256 again while that upload is
unfinished resumes it (the ticket lists the chunks received). A SHA-256 whose media
the canister already keeps makes a new video sharing it, ready at once, with no
chunk sent (``deduplicated``). An upload that receives nothing for `UPLOAD_TTL_NS` is
dropped with its chunks by a timer (`sweep`).

Dedup trusts a SHA-256 only after the canister computed it over bytes it holds: media
enter `store.media_by_hash` when the worker completes a video whose original matched
its announced digest, so nobody can plant other bytes under a popular file's hash.
Announcing a known hash without having the file gives a copy of a ready (public) video,
no more than its URL gives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, set_timer, update

from . import catalogue, media, store
from .limits import (
    CHUNK_BYTES,
    EXPIRE_BATCH,
    HOUR,
    MAX_OPEN_UPLOADS,
    MAX_VIDEO_BYTES,
    SECOND,
    UPLOAD_TTL_NS,
    UPLOADS_PER_HOUR,
    VIDEO_TYPES,
)
from .records import UploadInput, UploadProgress, UploadTicket, Video, VideoStatus
from .store import JobState, UploadState

# -- containers ---------------------------------------------------------------------------

_MP4_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
"""ISO BMFF / QuickTime boxes a file may start with (``ftyp`` in MP4, the others in
older QuickTime files)."""


def sniff(head: bytes) -> str | None:
    """The container of a file whose first bytes are ``head`` (at least 12 bytes for a
    verdict): an MP4/QuickTime box, a WebM/Matroska EBML header, AVI or Ogg; None for
    anything else."""
    if len(head) >= 12 and head[4:8] in _MP4_BOXES and int.from_bytes(head[:4], "big") >= 8:
        return "video/quicktime" if head[8:10] == b"qt" or head[4:8] != b"ftyp" \
            else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"OggS"):
        return "video/ogg"
    return None


def describe(head: bytes) -> str:
    """The first bytes of a file, shown in a rejection reason."""
    return head[:8].hex(" ") or "nothing"


# -- checks -------------------------------------------------------------------------------


def _rate_limit(caller: Principal) -> None:
    now = ic.time()
    recent = [t for t in store.begin_log.get(caller, []) if t > now - HOUR]
    if len(recent) >= UPLOADS_PER_HOUR:
        wait = (min(recent) + HOUR - now) / SECOND
        raise Reject(f"rate limit on uploads: at most {UPLOADS_PER_HOUR} begin_upload calls "
                     f"per hour; try again in {wait:.0f} s")
    recent.append(now)
    store.begin_log[caller] = recent


def _check_input(data: UploadInput) -> None:
    if not 1 <= data.size <= MAX_VIDEO_BYTES:
        raise Reject(f"a video is 1 to {MAX_VIDEO_BYTES} bytes "
                     f"({MAX_VIDEO_BYTES // (1024 * 1024)} MiB), got {data.size}: "
                     "upload a shorter or more compressed video")
    if len(data.sha256) != 32:
        raise Reject(f"sha256 is the 32-byte SHA-256 digest of the whole file, got "
                     f"{len(data.sha256)} bytes")
    kind = data.content_type.split(";", 1)[0].strip().lower()
    if not (kind.startswith("video/") or kind in VIDEO_TYPES) or len(kind) > 100:
        raise Reject(f"content type {data.content_type[:60]!r} is not a video type: use "
                     f"video/... (e.g. {', '.join(VIDEO_TYPES[:3])}); the file's own "
                     "header decides its container")


def _open_count(caller: Principal) -> int:
    return sum(1 for _ in store.open_uploads.range((caller, b""), (caller, b"\xff" * 33)))


def _own_upload(video_id: int, caller: Principal) -> tuple[Video, UploadState]:
    """The caller's unfinished upload ``video_id``; `Reject` otherwise."""
    video = media.require_video(video_id)
    if video.creator != caller:
        raise Reject(f"video {video_id} is not yours: upload chunks of your own videos")
    upload = store.uploads.get(video_id)
    if upload is None or video.status != VideoStatus.uploading:
        raise Reject(f"video {video_id} is {video.status.value}, not uploading: it takes "
                     "no more chunks")
    return video, upload


# -- hashing as chunks arrive --------------------------------------------------------------

_hashing: dict[Hashable, tuple[int, Any]] = {}
"""A cache, not state: file key → (chunks hashed so far, SHA-256 object over them).

Chunks that arrive in order are hashed as they come (`hash_along`), so finishing a
file only reads the digest (`digest_of`; a 32 MiB file costs 2.6 B instructions to
hash at once). Module globals go when the instance is rebuilt (an upgrade, a trap, a
restart); `digest_of` then hashes the stored chunks itself, as it does when chunks
came out of order. Keys: ``video_id`` for originals, ``(video_id, kind)`` for
renditions."""


def hash_along(key: Hashable, received: list[int], index: int,
               read: Callable[[int], bytes]) -> None:
    """After chunk ``index`` of file ``key`` was stored (``received``: the chunks in,
    ``read(n)``: chunk ``n``): extend the running hash over the chunks now contiguous
    from the start, or forget it when an already hashed chunk was replaced."""
    hashed, digest = _hashing.get(key, (0, None))
    if index < hashed:
        _hashing.pop(key, None)
        return
    if index != hashed:
        return
    digest = digest or hashlib.sha256()
    present = set(received)
    while hashed in present:
        digest.update(read(hashed))
        hashed += 1
    _hashing[key] = (hashed, digest)


def digest_of(key: Hashable, chunks: int, read: Callable[[int], bytes]) -> Any:
    """The SHA-256 object over the ``chunks`` chunks of complete file ``key``."""
    hashed, digest = _hashing.pop(key, (0, None))
    if digest is not None and hashed == chunks:
        return digest
    digest = hashlib.sha256()
    for n in range(chunks):
        digest.update(read(n))
    return digest


def forget_hash(key: Hashable) -> None:
    _hashing.pop(key, None)


def _original(video_id: int) -> Callable[[int], bytes]:
    return lambda n: store.original_chunks[(video_id, n)]


# -- expiry -------------------------------------------------------------------------------


def _arm(at: int) -> None:
    """Make sure `sweep` runs at ``at`` (ns) or earlier."""
    armed = store.sweep_at.get()
    if armed and armed <= at:
        return
    store.sweep_at.set(at)
    set_timer(max(at - ic.time(), 0), sweep)


def _touch(video_id: int, upload: UploadState) -> None:
    """Move the upload's expiry to `UPLOAD_TTL_NS` from now."""
    store.upload_expiry.remove((upload.expires_at, video_id))
    upload.expires_at = ic.time() + UPLOAD_TTL_NS
    store.upload_expiry[(upload.expires_at, video_id)] = True
    _arm(upload.expires_at)


def sweep() -> None:
    """Timer: drop up to `EXPIRE_BATCH` expired uploads (their videos and chunks), then
    arm itself for the next expiry."""
    store.sweep_at.set(0)
    now = ic.time()
    expired = [vid for (_, vid), _ in
               store.upload_expiry.range(None, (now + 1, 0), limit=EXPIRE_BATCH)]
    for video_id in expired:
        video = store.videos.get(video_id)
        if video is None:
            continue
        media.forget_upload(video)
        forget_hash(video_id)
        store.videos.remove(video_id)
        store.by_creator.remove((video.creator, video_id))
        catalogue.on_deleted(video)
    following = store.upload_expiry.first()
    if following is not None:
        _arm(max(following[0][0], now + SECOND))


# -- methods ------------------------------------------------------------------------------


def _ticket(video_id: int, upload: UploadState) -> UploadTicket:
    return UploadTicket(video_id, CHUNK_BYTES, upload.chunks, list(upload.received), False)


def _share(caller: Principal, data: UploadInput, caption: str, media_id: int) -> Video:
    """A new ready video of ``caller`` sharing media ``media_id`` (same original)."""
    entry = store.media[media_id]
    entry.refs += 1
    store.media[media_id] = entry
    video_id = store.next_video_id()
    video = Video(video_id, caller, caption, VideoStatus.ready, None, ic.time(), None,
                  data.size, data.sha256, entry.info.duration_ms, entry.info.width,
                  entry.info.height, media.renditions_for(video_id, entry.renditions), False)
    store.by_creator[(caller, video_id)] = True
    store.video_media[video_id] = media_id
    return media.set_status(video, VideoStatus.ready)


@update
def begin_upload(data: UploadInput) -> UploadTicket:
    """Start (or resume) uploading a video; see the module docstring."""
    caller = media.signed_in()
    _check_input(data)
    caption = media.clean_caption(data.caption)
    _rate_limit(caller)
    resumed = store.open_uploads.get((caller, data.sha256))
    if resumed is not None:
        video = media.require_video(resumed)
        if video.size != data.size:
            raise Reject(f"your unfinished upload {resumed} of this SHA-256 is "
                         f"{video.size} bytes, not {data.size}: announce the same file")
        upload = store.uploads[resumed]
        if caption != video.caption:
            old, video.caption = video.caption, caption
            store.videos[resumed] = video
            catalogue.on_caption_changed(video, old)
        _touch(resumed, upload)
        store.uploads[resumed] = upload
        return _ticket(resumed, upload)
    known = store.media_by_hash.get(data.sha256)
    if known is not None:
        video = _share(caller, data, caption, known)
        chunks = store.chunk_count(data.size)
        return UploadTicket(video.id, CHUNK_BYTES, chunks, list(range(chunks)), True)
    if _open_count(caller) >= MAX_OPEN_UPLOADS:
        raise Reject(f"you have {MAX_OPEN_UPLOADS} unfinished uploads, the most: finish or "
                     "delete one (my_videos lists them) before beginning another")
    video_id = store.next_video_id()
    video = Video(video_id, caller, caption, VideoStatus.uploading, None, ic.time(), None,
                  data.size, data.sha256, 0, 0, 0, [], False)
    upload = UploadState(data.content_type, store.chunk_count(data.size), [], 0)
    store.videos[video_id] = video
    store.by_creator[(caller, video_id)] = True
    store.open_uploads[(caller, data.sha256)] = video_id
    _touch(video_id, upload)
    store.uploads[video_id] = upload
    media.set_status(video, VideoStatus.uploading)
    return _ticket(video_id, upload)


@update
def put_chunk(video_id: nat64, index: nat32, data: bytes) -> nat32:
    """Chunk ``index`` of the caller's upload; returns how many chunks are in."""
    video, upload = _own_upload(video_id, media.signed_in())
    if index >= upload.chunks:
        raise Reject(f"upload {video_id} has chunks 0 to {upload.chunks - 1}, got {index}")
    expected = store.chunk_length(video.size, index)
    if len(data) != expected:
        raise Reject(f"chunk {index} of upload {video_id} must be {expected} bytes, "
                     f"got {len(data)}")
    store.original_chunks[(video_id, index)] = data
    if index not in upload.received:
        upload.received = sorted([*upload.received, index])
    _touch(video_id, upload)
    store.uploads[video_id] = upload
    hash_along(video_id, upload.received, index, _original(video_id))
    return len(upload.received)


@update
def finish_upload(video_id: nat64) -> Video:
    """Check the caller's complete upload and hand it to the worker (``processing``), or
    reject it with the reason when its bytes are not a video. Finishing a finished
    upload again returns the video as it is."""
    caller = media.signed_in()
    video = media.require_video(video_id)
    if video.creator == caller and video.status != VideoStatus.uploading:
        return video
    video, upload = _own_upload(video_id, caller)
    missing = [n for n in range(upload.chunks) if n not in upload.received]
    if missing:
        shown = ", ".join(str(n) for n in missing[:10]) + (", …" if len(missing) > 10 else "")
        raise Reject(f"upload {video_id} has {len(upload.received)} of {upload.chunks} "
                     f"chunks: send chunks {shown}")
    digest = digest_of(video_id, upload.chunks, _original(video_id))
    if digest.digest() != video.sha256:
        raise Reject(f"the chunks of upload {video_id} have SHA-256 {digest.hexdigest()}, "
                     f"not the announced {video.sha256.hex()}: send every chunk again")
    head = store.original_chunks[(video_id, 0)][:64]
    container = sniff(head)
    if container is None:
        media.forget_upload(video)
        return media.set_status(video, VideoStatus.rejected,
                                f"not a video: the file starts with {describe(head)}, "
                                "which is no MP4/QuickTime, WebM/Matroska, AVI or Ogg "
                                "header")
    store.uploads.remove(video_id)
    store.open_uploads.remove((caller, video.sha256))
    store.upload_expiry.remove((upload.expires_at, video_id))
    known = store.media_by_hash.get(video.sha256)
    if known is not None:
        media.drop_original(video_id, upload.chunks)
        entry = store.media[known]
        entry.refs += 1
        store.media[known] = entry
        store.video_media[video_id] = known
        video.duration_ms, video.width, video.height = (
            entry.info.duration_ms, entry.info.width, entry.info.height)
        video.renditions = media.renditions_for(video_id, entry.renditions)
        return media.set_status(video, VideoStatus.ready)
    store.jobs[video_id] = JobState(container, upload.chunks)
    return media.set_status(video, VideoStatus.processing)


@query
def upload_progress(video_id: nat64) -> UploadProgress | None:
    """Where the caller's video stands (None for another user's or an unknown id)."""
    video = store.videos.get(video_id)
    if video is None or video.creator != ic.caller():
        return None
    return media.progress_of(video)
