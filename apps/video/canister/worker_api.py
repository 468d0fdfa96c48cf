"""What the transcoding worker may call: jobs, claims, the original's chunks, renditions.

Only principals named in `InitArgs.workers` may call these methods. A worker lists the
processing videos (`worker_jobs`), claims one (`worker_claim`: counts an attempt and
leases the job for `CLAIM_LEASE_NS`), reads the original chunk by chunk
(`worker_original_chunk`), sends each rendition in chunks (`worker_put_rendition`,
idempotent: a chunk sent again replaces itself) and completes the video
(`worker_complete`: every rendition complete and matching its SHA-256; the original's
chunks are dropped; the video is ready) or rejects it with a reason (`worker_reject`).
A video claimed `MAX_ATTEMPTS` times whose last lease ends unfinished is rejected with
"processing failed 3 times" (`expire_leases`, a timer).

Renditions are stored under the media entry of the processed video, shared by every
later video with the same original (see `media`).
"""

from __future__ import annotations

from collections.abc import Callable

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, set_timer, update

from . import media, store, uploads
from .limits import (
    CHUNK_BYTES,
    CLAIM_LEASE_NS,
    MAX_ATTEMPTS,
    MAX_DIMENSION,
    MAX_DURATION_MS,
    MAX_JOBS_LISTED,
    MAX_RENDITIONS_BYTES,
    RENDITION_TYPES,
)
from .records import (
    Job,
    MediaInfo,
    Rendition,
    RenditionKind,
    RenditionUpload,
    Video,
    VideoStatus,
)
from .store import JobState, Media, PendingRendition

VIDEO_KINDS = (RenditionKind.r720, RenditionKind.r360)
"""A ready video has at least one of these (the poster is optional)."""


def require_worker() -> Principal:
    caller = ic.caller()
    if caller not in store.workers:
        raise Reject(f"{caller.to_text()} is not a transcoding worker: only the workers "
                     "named at install or upgrade (InitArgs.workers) may call this")
    return caller


def _processing(video_id: int) -> tuple[Video, JobState]:
    video = media.require_video(video_id)
    job = store.jobs.get(video_id)
    if job is None or video.status != VideoStatus.processing:
        raise Reject(f"video {video_id} is {video.status.value}, not processing: it has no "
                     "job")
    return video, job


def _job(video: Video, job: JobState) -> Job:
    return Job(video.id, video.size, video.sha256, job.content_type, CHUNK_BYTES, job.chunks,
               job.attempts)


def fail(video: Video, reason: str) -> Video:
    """Reject a processing ``video`` with ``reason``: its original and the renditions
    sent so far are dropped."""
    job = store.jobs.remove(video.id)
    if job is not None:
        media.drop_original(video.id, job.chunks)
    media.drop_pending(video.id)
    return media.set_status(video, VideoStatus.rejected, reason)


def expire_leases() -> None:
    """Timer: reject the videos whose last allowed claim's lease ended unfinished."""
    now = ic.time()
    for video_id, job in list(store.jobs.items()):
        if job.attempts >= MAX_ATTEMPTS and job.lease_until <= now:
            video = store.videos.get(video_id)
            if video is not None and video.status == VideoStatus.processing:
                fail(video, f"processing failed {MAX_ATTEMPTS} times")


@query
def worker_jobs() -> list[Job]:
    """Processing videos no worker holds a lease on (oldest first, at most
    `MAX_JOBS_LISTED`)."""
    require_worker()
    now = ic.time()
    found: list[Job] = []
    for video_id, job in store.jobs.items():
        if job.lease_until > now or job.attempts >= MAX_ATTEMPTS:
            continue
        video = store.videos.get(video_id)
        if video is not None:
            found.append(_job(video, job))
        if len(found) >= MAX_JOBS_LISTED:
            break
    return found


@update
def worker_claim(video_id: nat64) -> Job:
    """Claim a processing video: one more attempt, leased to the caller for
    `CLAIM_LEASE_NS` (the same worker may claim again, e.g. after a restart)."""
    worker = require_worker()
    video, job = _processing(video_id)
    now = ic.time()
    if job.worker is not None and job.worker != worker and job.lease_until > now:
        raise Reject(f"video {video_id} is claimed by {job.worker.to_text()} until "
                     f"{job.lease_until} ns: take another job")
    if job.attempts >= MAX_ATTEMPTS:
        raise Reject(f"video {video_id} already had {MAX_ATTEMPTS} processing attempts, the "
                     "most: it is rejected when the last one's lease ends unless it completes")
    job.attempts += 1
    job.worker = worker
    job.lease_until = now + CLAIM_LEASE_NS
    store.jobs[video_id] = job
    if job.attempts >= MAX_ATTEMPTS:
        set_timer(CLAIM_LEASE_NS, expire_leases)
    return _job(video, job)


@query
def worker_original_chunk(video_id: nat64, index: nat32) -> bytes:
    """Chunk ``index`` of a processing video's original."""
    require_worker()
    _, job = _processing(video_id)
    if index >= job.chunks:
        raise Reject(f"the original of video {video_id} has chunks 0 to {job.chunks - 1}, "
                     f"got {index}")
    return store.original_chunks[(video_id, index)]


def _pending(video_id: int) -> list[tuple[RenditionKind, PendingRendition]]:
    """The renditions being sent for ``video_id``, by kind."""
    found = ((kind, store.pending.get((video_id, kind.value))) for kind in RenditionKind)
    return [(kind, sent) for kind, sent in found if sent is not None]


def _check_rendition(video_id: int, part: RenditionUpload) -> Rendition:
    allowed = RENDITION_TYPES[part.kind.value]
    if part.content_type not in allowed:
        raise Reject(f"a {part.kind.value} rendition is {' or '.join(allowed)}, got "
                     f"{part.content_type[:60]!r}")
    others = sum(sent.rendition.size for kind, sent in _pending(video_id)
                 if kind != part.kind)
    if not 1 <= part.size <= MAX_RENDITIONS_BYTES - others:
        raise Reject(f"the renditions of a video are at most {MAX_RENDITIONS_BYTES} bytes "
                     f"together; {others} are taken by the others, so this one is 1 to "
                     f"{MAX_RENDITIONS_BYTES - others} bytes, got {part.size}")
    if len(part.sha256) != 32:
        raise Reject(f"sha256 is the rendition's 32-byte SHA-256, got {len(part.sha256)} "
                     "bytes")
    if not (1 <= part.width <= MAX_DIMENSION and 1 <= part.height <= MAX_DIMENSION):
        raise Reject(f"a rendition is 1 to {MAX_DIMENSION} pixels wide and high, got "
                     f"{part.width}x{part.height}")
    return Rendition(part.kind, media.path_of(video_id, part.kind), part.content_type,
                     part.size, part.width, part.height, part.sha256)


@update
def worker_put_rendition(video_id: nat64, part: RenditionUpload) -> None:
    """Chunk ``part.index`` of one rendition of a processing video. Every chunk repeats
    the rendition's description; a different description starts the rendition over."""
    require_worker()
    _processing(video_id)
    described = _check_rendition(video_id, part)
    key = (video_id, part.kind.value)
    sent = store.pending.get(key)
    if sent is None or sent.rendition != described:
        media.drop_pending_kind(video_id, part.kind)
        uploads.forget_hash(key)
        sent = PendingRendition(described, store.chunk_count(part.size))
    if part.index >= sent.chunks:
        raise Reject(f"the {part.kind.value} rendition of video {video_id} has chunks 0 to "
                     f"{sent.chunks - 1}, got {part.index}")
    expected = store.chunk_length(part.size, part.index)
    if len(part.data) != expected:
        raise Reject(f"chunk {part.index} of the {part.kind.value} rendition of video "
                     f"{video_id} must be {expected} bytes, got {len(part.data)}")
    store.rendition_chunks[(video_id, part.kind.value, part.index)] = part.data
    if part.index not in sent.received:
        sent.received = sorted([*sent.received, part.index])
    store.pending[key] = sent
    uploads.hash_along(key, sent.received, part.index, _chunks_of(video_id, part.kind))


def _chunks_of(video_id: int, kind: RenditionKind) -> Callable[[int], bytes]:
    return lambda n: store.rendition_chunks[(video_id, kind.value, n)]


def _checked(video_id: int) -> list[Rendition]:
    """The complete renditions sent for ``video_id``; `Reject` for a missing chunk, a
    wrong SHA-256 or no video rendition at all."""
    done: list[Rendition] = []
    for kind, sent in _pending(video_id):
        if len(sent.received) != sent.chunks:
            missing = [n for n in range(sent.chunks) if n not in sent.received]
            raise Reject(f"the {kind.value} rendition of video {video_id} misses chunks "
                         f"{', '.join(str(n) for n in missing[:10])}: send them first")
        digest = uploads.digest_of((video_id, kind.value), sent.chunks,
                                   _chunks_of(video_id, kind))
        if digest.digest() != sent.rendition.sha256:
            raise Reject(f"the {kind.value} rendition of video {video_id} has SHA-256 "
                         f"{digest.hexdigest()}, not the announced "
                         f"{sent.rendition.sha256.hex()}: send it again")
        done.append(sent.rendition)
    if not any(r.kind in VIDEO_KINDS for r in done):
        raise Reject(f"video {video_id} has no complete r720 or r360 rendition: send one "
                     "before completing")
    return done


@update
def worker_complete(video_id: nat64, info: MediaInfo) -> Video:
    """Finish processing: every rendition sent is complete and matches its SHA-256; the
    original's chunks are dropped and the video is ready."""
    require_worker()
    video, job = _processing(video_id)
    if not 1 <= info.duration_ms <= MAX_DURATION_MS:
        raise Reject(f"duration_ms is 1 to {MAX_DURATION_MS}, got {info.duration_ms}")
    if not (1 <= info.width <= MAX_DIMENSION and 1 <= info.height <= MAX_DIMENSION):
        raise Reject(f"the original is 1 to {MAX_DIMENSION} pixels wide and high, got "
                     f"{info.width}x{info.height}")
    renditions = _checked(video_id)
    store.jobs.remove(video_id)
    media.drop_original(video_id, job.chunks)
    known = store.media_by_hash.get(video.sha256)
    if known is not None:
        # Another upload of the same file became ready meanwhile: share its media.
        media.drop_pending(video_id)
        entry = store.media[known]
        entry.refs += 1
        store.media[known] = entry
        media_id, info, renditions = known, entry.info, entry.renditions
    else:
        for kind in RenditionKind:
            store.pending.remove((video_id, kind.value))
        store.media[video_id] = Media(video.sha256, 1, info, renditions)
        store.media_by_hash[video.sha256] = video_id
        media_id = video_id
    store.video_media[video_id] = media_id
    video.duration_ms, video.width, video.height = info.duration_ms, info.width, info.height
    video.renditions = media.renditions_for(video_id, renditions)
    return media.set_status(video, VideoStatus.ready)


@update
def worker_reject(video_id: nat64, reason: str) -> Video:
    """Reject a processing video (the worker could not read it), with ``reason``."""
    require_worker()
    video, _ = _processing(video_id)
    text = " ".join(reason.split())[:300] or "the worker could not process the video"
    return fail(video, text)
