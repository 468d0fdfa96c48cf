"""Resumable chunked uploads: assembly in any order, resume, dedup, expiry and hostile input."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid import decode
from icframework.sdk import CanisterError, LocalCanister, Principal, candid_type_of

from .world import (
    ANON,
    APP,
    CHUNK,
    MOD,
    WORKER,
    As,
    chunks_of,
    fresh,
    limits,
    mp4,
    process,
    ready_video,
    records,
    upload,
    upload_input,
    user,
)

Status = records.VideoStatus
ALICE, BOB = user("alice"), user("bob")


def original(c: LocalCanister, video_id: int, chunks: int) -> bytes:
    """The stored original, read back through the worker's interface."""
    worker = As(c, WORKER)
    return b"".join(worker.worker_original_chunk(video_id, n) for n in range(chunks))


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


# -- assembly ------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_chunks_in_any_order_with_duplicates_and_a_reload_assemble_the_file(
        data: st.DataObject) -> None:
    size = data.draw(st.one_of(st.integers(16, 3 * CHUNK + 1000),
                               st.sampled_from([CHUNK, CHUNK + 1, 2 * CHUNK - 1, 3 * CHUNK + 9])),
                     label="size")
    file = mp4(size, salt=size)
    parts = chunks_of(file)
    sends = data.draw(st.lists(st.sampled_from(range(len(parts))), max_size=3 * len(parts)),
                      label="sends")
    sends += data.draw(st.permutations(range(len(parts))), label="rest")
    reload_after = data.draw(st.integers(0, len(sends)), label="reload after")
    c = fresh()
    alice = As(c, ALICE)
    ticket = alice.begin_upload(upload_input(file, "first"))
    assert (ticket.chunks, ticket.chunk_bytes, ticket.received) == (len(parts), CHUNK, [])
    sent: set[int] = set()
    for step, index in enumerate(sends):
        if step == reload_after:
            again = alice.begin_upload(upload_input(file, "after reload"))
            assert again.video_id == ticket.video_id and not again.deduplicated
            assert again.received == sorted(sent)
        assert alice.put_chunk(ticket.video_id, index, parts[index]) == len(sent | {index})
        sent.add(index)
        progress = alice.upload_progress(ticket.video_id)
        assert (progress.status, progress.received) == (Status.uploading, len(sent))
    video = alice.finish_upload(ticket.video_id)
    assert video.status == Status.processing
    assert video.size == size and video.sha256 == hashlib.sha256(file).digest()
    assert original(c, video.id, len(parts)) == file
    assert [v.id for v in alice.my_videos()] == [ticket.video_id]


def test_finish_names_the_missing_chunks_and_a_second_finish_returns_the_video() -> None:
    c = fresh()
    alice = As(c, ALICE)
    file = mp4(3 * CHUNK)
    ticket = alice.begin_upload(upload_input(file))
    alice.put_chunk(ticket.video_id, 1, chunks_of(file)[1])
    rejects(alice.finish_upload, ticket.video_id, match=r"has 1 of 3 chunks: send chunks 0, 2")
    for index, part in enumerate(chunks_of(file)):
        alice.put_chunk(ticket.video_id, index, part)
    first = alice.finish_upload(ticket.video_id)
    assert alice.finish_upload(ticket.video_id) == first
    rejects(alice.put_chunk, ticket.video_id, 0, chunks_of(file)[0],
            match="is processing, not uploading")


def published(c: LocalCanister, who: Principal) -> list[tuple[int, str, int, str | None]]:
    """(video id, status, chunks received, reason) of each event on ``uploads:<who>``."""
    kind = candid_type_of(records.UploadProgress)
    found = []
    for topic, payload in c.backend.events:
        if topic == f"uploads:{who.to_text()}":
            [event] = decode(payload, [kind])
            found.append((event["video_id"], next(iter(event["status"])), event["received"],
                          event["reason"]))
    return found


def test_status_changes_are_published_to_the_creator() -> None:
    c = fresh()
    video = ready_video(c, ALICE, size=CHUNK + 1)
    assert video.status == Status.ready and video.ready_at is not None
    assert published(c, ALICE) == [(video.id, "uploading", 0, None),
                                   (video.id, "processing", 2, None),
                                   (video.id, "ready", 2, None)]
    failed = upload(c, ALICE, b"not a video at all")
    assert published(c, ALICE)[-1] == (failed.id, "rejected", 1, failed.reason)
    assert published(c, BOB) == []


# -- dedup ---------------------------------------------------------------------------------


def test_a_known_file_makes_a_ready_video_sharing_the_media_without_chunks() -> None:
    c = fresh()
    file = mp4(CHUNK + 10)
    first = upload(c, ALICE, file, "original")
    first = process(c, first.id)
    bob = As(c, BOB)
    ticket = bob.begin_upload(upload_input(file, "again"))
    assert ticket.deduplicated and ticket.received == [0, 1]
    shared = bob.video(ticket.video_id)
    assert shared.status == Status.ready and shared.creator == BOB
    assert shared.caption == "again" and shared.duration_ms == first.duration_ms
    assert [r.path for r in shared.renditions] == [
        f"/v/{shared.id}/720.mp4", f"/v/{shared.id}/360.mp4", f"/v/{shared.id}/poster.jpg"]
    assert [r.sha256 for r in shared.renditions] == [r.sha256 for r in first.renditions]
    assert bob.finish_upload(ticket.video_id) == shared


def serve(c: LocalCanister, path: str) -> Any:
    return c.query("http_request", records.HttpRequest("GET", path, [], b""))


def test_deleting_shared_media_frees_the_bytes_only_with_the_last_video() -> None:
    c = fresh()
    file = mp4(5000)
    first = process(c, upload(c, ALICE, file).id)
    second = upload(c, BOB, file)
    third = upload(c, user("carol"), file)
    assert second.status == third.status == Status.ready
    path = first.renditions[0].path
    body = serve(c, path).body
    As(c, ALICE).delete_video(first.id)
    assert serve(c, path).status_code == 404
    assert serve(c, second.renditions[0].path).body == body
    As(c, MOD).delete_video(second.id)
    assert serve(c, third.renditions[0].path).body == body
    assert c.query("video", second.id, caller=BOB) is None
    As(c, user("carol")).delete_video(third.id)
    assert serve(c, third.renditions[0].path).status_code == 404
    # Nothing of the media is left: the same file uploads (and is processed) again.
    again = upload(c, ALICE, file)
    assert again.status == Status.processing


def test_a_file_finished_while_its_twin_was_processing_shares_the_twins_media() -> None:
    c = fresh()
    file = mp4(3000)
    one = upload(c, ALICE, file)
    two = upload(c, BOB, file)
    assert one.status == two.status == Status.processing
    one = process(c, one.id)
    two = process(c, two.id)
    assert [r.sha256 for r in two.renditions] == [r.sha256 for r in one.renditions]
    As(c, ALICE).delete_video(one.id)
    assert serve(c, two.renditions[0].path).status_code == 200


# -- expiry --------------------------------------------------------------------------------


def test_an_abandoned_upload_expires_with_its_chunks_but_activity_keeps_it() -> None:
    c = fresh()
    alice = As(c, ALICE)
    kept_file, dropped_file = mp4(2 * CHUNK), mp4(2 * CHUNK)
    kept = alice.begin_upload(upload_input(kept_file))
    dropped = alice.begin_upload(upload_input(dropped_file))
    alice.put_chunk(dropped.video_id, 0, chunks_of(dropped_file)[0])
    c.advance_time(limits.UPLOAD_TTL_NS // 2)
    alice.put_chunk(kept.video_id, 0, chunks_of(kept_file)[0])
    c.advance_time(limits.UPLOAD_TTL_NS // 2 + limits.SECOND)
    assert alice.upload_progress(dropped.video_id) is None
    assert [v.id for v in alice.my_videos()] == [kept.video_id]
    again = alice.begin_upload(upload_input(dropped_file))
    assert again.video_id != dropped.video_id and again.received == []
    assert alice.upload_progress(kept.video_id).received == 1
    c.advance_time(limits.UPLOAD_TTL_NS + limits.SECOND)
    assert alice.my_videos() == []


# -- hostile input -------------------------------------------------------------------------


def test_hostile_input_is_refused_with_a_precise_reason() -> None:
    c = fresh()
    alice, bob = As(c, ALICE), As(c, BOB)
    file = mp4(CHUNK + 100)
    rejects(As(c, ANON).begin_upload, upload_input(file), match="anonymous")
    big = records.UploadInput("", limits.MAX_VIDEO_BYTES + 1, bytes(32), "video/mp4")
    rejects(alice.begin_upload, big, match=f"1 to {limits.MAX_VIDEO_BYTES} bytes")
    rejects(alice.begin_upload, records.UploadInput("", 0, bytes(32), "video/mp4"),
            match="got 0")
    rejects(alice.begin_upload, records.UploadInput("", 10, b"short", "video/mp4"),
            match="32-byte")
    rejects(alice.begin_upload, upload_input(file, content_type="text/html"),
            match="'text/html' is not a video type")
    rejects(alice.begin_upload, upload_input(file, content_type="video/" + "x" * 100),
            match="is not a video type")
    rejects(alice.begin_upload, upload_input(file, caption="x" * 301),
            match="at most 300 characters, got 301")
    rejects(alice.begin_upload, upload_input(file, caption="a\x07b"), match="U\\+0007")
    ticket = alice.begin_upload(upload_input(file, "  fine  "))
    assert alice.video(ticket.video_id).caption == "fine"
    parts = chunks_of(file)
    rejects(alice.put_chunk, ticket.video_id, 2, b"x", match="chunks 0 to 1, got 2")
    rejects(alice.put_chunk, ticket.video_id, 0, parts[0][:-1],
            match=f"chunk 0 of upload {ticket.video_id} must be {CHUNK} bytes, "
                  f"got {CHUNK - 1}")
    rejects(alice.put_chunk, ticket.video_id, 1, parts[1] + b"!", match="must be 100 bytes")
    rejects(bob.put_chunk, ticket.video_id, 0, parts[0], match="is not yours")
    rejects(bob.finish_upload, ticket.video_id, match="is not yours")
    rejects(alice.put_chunk, 999, 0, parts[0], match="no video 999")
    rejects(alice.begin_upload,
            records.UploadInput("", file.__len__() + 1, hashlib.sha256(file).digest(),
                                "video/mp4"),
            match=f"is {len(file)} bytes, not {len(file) + 1}")
    alice.put_chunk(ticket.video_id, 0, parts[0])
    alice.put_chunk(ticket.video_id, 1, b"\x00" * 100)
    rejects(alice.finish_upload, ticket.video_id, match="not the announced")
    alice.put_chunk(ticket.video_id, 1, parts[1])  # resent: replaces the bad chunk
    assert alice.finish_upload(ticket.video_id).status == Status.processing
    assert bob.upload_progress(ticket.video_id) is None


@pytest.mark.parametrize("head", [
    b"<html><script>alert(1)</script></html>" + b" " * 40,
    b"\x89PNG\r\n\x1a\n" + bytes(100),
    b"\x00\x00\x00\x04ftypisom" + bytes(100),  # a box shorter than its own header
    bytes(200),
])
def test_a_file_that_is_no_video_is_rejected_with_the_reason(head: bytes) -> None:
    c = fresh()
    alice = As(c, ALICE)
    video = upload(c, alice, head)
    assert video.status == Status.rejected
    assert video.reason.startswith("not a video: the file starts with ")
    assert alice.upload_progress(video.id).status == Status.rejected
    assert As(c, WORKER).worker_jobs() == []
    rejects(As(c, WORKER).worker_original_chunk, video.id, 0, match="rejected, not processing")


@pytest.mark.parametrize(("head", "container"), [
    (b"\x00\x00\x00\x18ftypisom", "video/mp4"),
    (b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
    (b"\x00\x00\x00\x08wide\x00\x00\x00\x00", "video/quicktime"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01matroska", "video/x-matroska"),
    (b"RIFF\x00\x00\x01\x00AVI LIST", "video/x-msvideo"),
    (b"OggS\x00\x02" + bytes(8), "video/ogg"),
])
def test_each_video_container_is_recognised(head: bytes, container: str) -> None:
    """Whatever type the upload announced (browsers guess from the name)."""
    c = fresh()
    file = head + bytes(64)
    video = As(c, ALICE).begin_upload(upload_input(file, content_type="video/x-m4v"))
    As(c, ALICE).put_chunk(video.video_id, 0, file)
    video = As(c, ALICE).finish_upload(video.video_id)
    assert video.status == Status.processing
    assert As(c, WORKER).worker_claim(video.id).content_type == container


def test_open_uploads_and_begin_calls_per_user_are_limited() -> None:
    c = fresh()
    alice = As(c, ALICE)
    for _ in range(limits.MAX_OPEN_UPLOADS):
        alice.begin_upload(upload_input(mp4(100)))
    rejects(alice.begin_upload, upload_input(mp4(100)),
            match=f"you have {limits.MAX_OPEN_UPLOADS} unfinished uploads")
    busy = As(c, BOB, tick_ns=0)
    file = mp4(100)
    for _ in range(limits.UPLOADS_PER_HOUR):
        busy.begin_upload(upload_input(file))  # resumes count too
    rejects(busy.begin_upload, upload_input(file), match="rate limit on uploads")
    c.advance_time(limits.HOUR)
    assert busy.begin_upload(upload_input(file)).received == []


def test_deleting_an_unfinished_upload_frees_its_slot_and_chunks() -> None:
    c = fresh()
    alice = As(c, ALICE)
    file = mp4(CHUNK + 1)
    ticket = alice.begin_upload(upload_input(file))
    alice.put_chunk(ticket.video_id, 0, chunks_of(file)[0])
    rejects(As(c, BOB).delete_video, ticket.video_id, match="is not yours")
    alice.delete_video(ticket.video_id)
    assert alice.my_videos() == [] and alice.upload_progress(ticket.video_id) is None
    again = alice.begin_upload(upload_input(file))
    assert again.video_id != ticket.video_id and again.received == []


def test_captions_are_edited_by_the_creator_or_a_moderator_only() -> None:
    c = fresh()
    video = ready_video(c, ALICE, "first")
    assert As(c, ALICE).edit_caption(video.id, "  second #tag \r\nline ").caption == \
        "second #tag \nline"
    assert As(c, MOD).set_sensitive(video.id, True).sensitive
    rejects(As(c, BOB).edit_caption, video.id, "mine", match="is not yours")
    rejects(As(c, BOB).set_sensitive, video.id, False, match="is not yours")
    rejects(As(c, ALICE).edit_caption, video.id, "\u202eevil", match="U\\+202E")
    assert As(c, BOB).video(video.id).sensitive


def test_without_the_running_hash_finish_hashes_the_stored_chunks() -> None:
    """The running hash is a cache of the instance (gone after a rebuild): finishing
    without it reads every stored chunk and still catches a wrong one."""
    c = fresh()
    alice = As(c, ALICE)
    file = mp4(2 * CHUNK + 5)
    ticket = alice.begin_upload(upload_input(file))
    parts = chunks_of(file)
    alice.put_chunk(ticket.video_id, 0, parts[0])
    alice.put_chunk(ticket.video_id, 1, b"\x01" * CHUNK)
    alice.put_chunk(ticket.video_id, 2, parts[2])
    APP.uploads._hashing.clear()
    rejects(alice.finish_upload, ticket.video_id, match="not the announced")
    alice.put_chunk(ticket.video_id, 1, parts[1])
    APP.uploads._hashing.clear()
    assert alice.finish_upload(ticket.video_id).status == Status.processing
    assert original(c, ticket.video_id, 3) == file
