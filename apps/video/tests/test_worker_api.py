"""The transcoding worker's interface: who may call it, jobs, claims and attempts, renditions,
completion checks and rejection."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from icframework.sdk import CanisterError, LocalCanister

from .world import (
    ANON,
    CHUNK,
    MOD,
    WORKER,
    As,
    chunks_of,
    fresh,
    limits,
    mp4,
    records,
    rendition,
    upload,
    user,
)

Status, Kind = records.VideoStatus, records.RenditionKind
ALICE = user("alice")
OTHER_WORKER = user("second worker")


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


def processing(c: LocalCanister, size: int = 2 * CHUNK + 7) -> tuple[Any, bytes]:
    file = mp4(size)
    video = upload(c, ALICE, file)
    assert video.status == Status.processing
    return video, file


def send(worker: As, video_id: int, kind: Any, data: bytes, **sizes: int) -> None:
    for index in range(len(chunks_of(data))):
        worker.worker_put_rendition(video_id, rendition(kind, data, index, **sizes))


INFO = records.MediaInfo(12_345, 1080, 1920)


def test_only_workers_may_call_the_worker_methods() -> None:
    c = fresh()
    video, _ = processing(c)
    part = rendition(Kind.r720, b"abc")
    for who in (ALICE, MOD, ANON):
        caller = As(c, who)
        for method, args in (("worker_jobs", ()), ("worker_claim", (video.id,)),
                             ("worker_original_chunk", (video.id, 0)),
                             ("worker_put_rendition", (video.id, part)),
                             ("worker_complete", (video.id, INFO)),
                             ("worker_reject", (video.id, "no"))):
            rejects(getattr(caller, method), *args,
                    match=f"{who.to_text()} is not a transcoding worker")
    assert As(c, ALICE).video(video.id).status == Status.processing


def test_a_worker_reads_the_original_and_completes_the_video() -> None:
    c = fresh()
    video, file = processing(c)
    worker = As(c, WORKER)
    [job] = worker.worker_jobs()
    assert job == records.Job(video.id, len(file), hashlib.sha256(file).digest(),
                              "video/mp4", CHUNK, 3, 0)
    claimed = worker.worker_claim(video.id)
    assert claimed.attempt == 1 and worker.worker_jobs() == []
    assert b"".join(worker.worker_original_chunk(video.id, n) for n in range(3)) == file
    rejects(worker.worker_original_chunk, video.id, 3, match="chunks 0 to 2, got 3")
    big = bytes(range(256)) * (CHUNK // 256) + b"tail"
    send(worker, video.id, Kind.r720, big, width=720, height=1280)
    poster = b"\xff\xd8\xff poster"
    send(worker, video.id, Kind.poster, poster)
    ready = worker.worker_complete(video.id, INFO)
    assert ready.status == Status.ready
    assert (ready.duration_ms, ready.width, ready.height) == (12_345, 1080, 1920)
    assert [(r.kind, r.path, r.size) for r in ready.renditions] == [
        (Kind.r720, f"/v/{video.id}/720.mp4", len(big)),
        (Kind.poster, f"/v/{video.id}/poster.jpg", len(poster))]
    assert As(c, ANON).video(video.id) == ready
    rejects(worker.worker_original_chunk, video.id, 0, match="ready, not processing")
    rejects(worker.worker_complete, video.id, INFO, match="ready, not processing")


def test_rendition_chunks_are_idempotent_and_any_order() -> None:
    c = fresh()
    video, _ = processing(c)
    worker = As(c, WORKER)
    worker.worker_claim(video.id)
    data = bytes(range(7)) * (CHUNK // 3)
    parts = [rendition(Kind.r360, data, n, width=360, height=640)
             for n in range(len(chunks_of(data)))]
    for part in [parts[2], parts[0], parts[2], parts[1], parts[0]]:
        worker.worker_put_rendition(video.id, part)
    ready = worker.worker_complete(video.id, INFO)
    response = c.query("http_request", records.HttpRequest(
        "GET", ready.renditions[0].path, [("Range", f"bytes={CHUNK - 3}-{CHUNK + 2}")], b""))
    assert response.status_code == 206 and response.body == data[CHUNK - 3:CHUNK + 3]


def test_complete_checks_every_rendition() -> None:
    c = fresh()
    video, _ = processing(c)
    worker = As(c, WORKER)
    worker.worker_claim(video.id)
    rejects(worker.worker_complete, video.id, INFO, match="no complete r720 or r360")
    send(worker, video.id, Kind.poster, b"poster bytes")
    rejects(worker.worker_complete, video.id, INFO, match="no complete r720 or r360")
    data = b"v" * (CHUNK + 5)
    worker.worker_put_rendition(video.id, rendition(Kind.r720, data, 1))
    rejects(worker.worker_complete, video.id, INFO,
            match="the r720 rendition of video .* misses chunks 0")
    # A chunk whose bytes differ from the announced digest is caught at completion.
    lying = rendition(Kind.r720, data, 0)
    lying.data = b"x" * CHUNK
    worker.worker_put_rendition(video.id, lying)
    rejects(worker.worker_complete, video.id, INFO, match="has SHA-256 .*, not the announced")
    worker.worker_put_rendition(video.id, rendition(Kind.r720, data, 0))
    for bad, message in ((records.MediaInfo(0, 720, 1280), "duration_ms is 1 to"),
                         (records.MediaInfo(1000, 0, 1280), "pixels wide and high, got 0x1280")):
        rejects(worker.worker_complete, video.id, bad, match=message)
    assert worker.worker_complete(video.id, INFO).status == Status.ready


def test_rendition_descriptions_are_checked() -> None:
    c = fresh()
    video, _ = processing(c)
    worker = As(c, WORKER)
    part = rendition(Kind.r720, b"abc")
    for field, value, message in (
            ("content_type", "text/html", "r720 rendition is video/mp4 or video/webm"),
            ("size", limits.MAX_RENDITIONS_BYTES + 1, "this one is 1 to"),
            ("sha256", b"x", "32-byte SHA-256"),
            ("width", 0, "pixels wide and high"),
            ("index", 1, "chunks 0 to 0, got 1"),
            ("data", b"abcd", "must be 3 bytes, got 4")):
        wrong = rendition(Kind.r720, b"abc")
        setattr(wrong, field, value)
        rejects(worker.worker_put_rendition, video.id, wrong, match=message)
    worker.worker_put_rendition(video.id, part)
    rejects(worker.worker_put_rendition, 999, part, match="no video 999")
    # The renditions of one video share one size budget.
    most = limits.MAX_RENDITIONS_BYTES - 3
    worker.worker_put_rendition(video.id, rendition(Kind.r360, bytes(most)))
    rejects(worker.worker_put_rendition, video.id, rendition(Kind.poster, b"jpeg"),
            match=f"{limits.MAX_RENDITIONS_BYTES} are taken by the others")


def test_a_new_description_starts_the_rendition_over() -> None:
    c = fresh()
    video, _ = processing(c)
    worker = As(c, WORKER)
    old = b"o" * (2 * CHUNK)
    worker.worker_put_rendition(video.id, rendition(Kind.r720, old, 0))
    worker.worker_put_rendition(video.id, rendition(Kind.r720, old, 1))
    new = b"n" * 10
    send(worker, video.id, Kind.r720, new)
    ready = worker.worker_complete(video.id, INFO)
    assert ready.renditions[0].size == 10
    body = c.query("http_request", records.HttpRequest("GET", ready.renditions[0].path, [],
                                                       b"")).body
    assert body == new


def test_three_claims_then_the_video_is_rejected_when_the_last_lease_ends() -> None:
    c = fresh()
    video, _ = processing(c)
    worker, other = As(c, WORKER), As(c, OTHER_WORKER)
    c.upgrade(records.InitArgs(admins=[MOD], workers=[WORKER, OTHER_WORKER], ledger=None))
    assert worker.worker_claim(video.id).attempt == 1
    rejects(other.worker_claim, video.id, match=f"claimed by {WORKER.to_text()}")
    assert other.worker_jobs() == []
    assert worker.worker_claim(video.id).attempt == 2  # the same worker, after a restart
    c.advance_time(limits.CLAIM_LEASE_NS)
    assert [j.video_id for j in other.worker_jobs()] == [video.id]
    assert other.worker_claim(video.id).attempt == limits.MAX_ATTEMPTS
    rejects(other.worker_claim, video.id, match="already had 3 processing attempts")
    assert As(c, ALICE).video(video.id).status == Status.processing
    c.advance_time(limits.CLAIM_LEASE_NS)
    failed = As(c, ALICE).video(video.id)
    assert (failed.status, failed.reason) == (Status.rejected, "processing failed 3 times")
    assert As(c, ALICE).upload_progress(video.id).reason == "processing failed 3 times"
    rejects(worker.worker_original_chunk, video.id, 0, match="rejected, not processing")


def test_the_last_attempt_may_still_complete_before_its_lease_ends() -> None:
    c = fresh()
    video, _ = processing(c)
    worker = As(c, WORKER)
    for _ in range(limits.MAX_ATTEMPTS):
        worker.worker_claim(video.id)
    send(worker, video.id, Kind.r720, b"done")
    assert worker.worker_complete(video.id, INFO).status == Status.ready
    c.advance_time(limits.CLAIM_LEASE_NS)
    assert As(c, ALICE).video(video.id).status == Status.ready


def test_a_worker_rejects_a_video_with_a_reason_and_its_bytes_go() -> None:
    c = fresh()
    video, file = processing(c)
    worker = As(c, WORKER)
    worker.worker_claim(video.id)
    worker.worker_put_rendition(video.id, rendition(Kind.r720, b"partial"))
    failed = worker.worker_reject(video.id, "  ffmpeg:\n no video stream  ")
    assert (failed.status, failed.reason) == (Status.rejected, "ffmpeg: no video stream")
    assert worker.worker_jobs() == []
    assert As(c, ANON).video(video.id) is None
    assert As(c, ALICE).my_videos()[0].reason == "ffmpeg: no video stream"
    # The file was never made ready, so uploading it again starts from scratch.
    again = upload(c, user("bob"), file)
    assert again.status == Status.processing
