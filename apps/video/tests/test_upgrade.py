"""An upgrade keeps videos, uploads in progress, jobs, shared media and the expiry timer;
with an argument it replaces the moderators and workers."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import CanisterError, LocalCanister, Principal

from .world import (
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

ALICE, BOB = user("alice"), user("bob")


def snapshot(c: LocalCanister, paths: list[str]) -> tuple[object, ...]:
    return (As(c, ALICE).my_videos(), As(c, BOB).my_videos(), As(c, WORKER).worker_jobs(),
            [c.query("http_request", records.HttpRequest("GET", p, [], b"")) for p in paths],
            [c.query("http_request", records.HttpRequest("GET", p, [("Range", "bytes=5-9")],
                                                         b"")) for p in paths])


def test_upgrade_keeps_everything_and_work_continues() -> None:
    c = fresh()
    shared = mp4(3000)
    ready = ready_video(c, ALICE, "kept #upgrade")
    first = process(c, upload(c, ALICE, shared).id)
    twin = upload(c, BOB, shared)
    waiting = upload(c, BOB, mp4(200))
    partial = mp4(2 * CHUNK)
    ticket = As(c, ALICE).begin_upload(upload_input(partial, "half"))
    As(c, ALICE).put_chunk(ticket.video_id, 1, chunks_of(partial)[1])
    paths = [r.path for v in (ready, first, twin) for r in v.renditions]
    before = snapshot(c, paths)

    c.upgrade(None)
    assert snapshot(c, paths) == before

    resumed = As(c, ALICE).begin_upload(upload_input(partial, "half"))
    assert (resumed.video_id, resumed.received) == (ticket.video_id, [1])
    As(c, ALICE).put_chunk(ticket.video_id, 0, chunks_of(partial)[0])
    assert As(c, ALICE).finish_upload(ticket.video_id).status == records.VideoStatus.processing
    assert process(c, waiting.id).status == records.VideoStatus.ready
    As(c, ALICE).delete_video(first.id)
    assert c.query("http_request", records.HttpRequest(
        "GET", twin.renditions[0].path, [], b"")).status_code == 200


def test_the_expiry_timer_survives_an_upgrade() -> None:
    c = fresh()
    ticket = As(c, ALICE).begin_upload(upload_input(mp4(100)))
    c.upgrade(None)
    c.advance_time(limits.UPLOAD_TTL_NS + limits.SECOND)
    assert As(c, ALICE).upload_progress(ticket.video_id) is None


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


def test_an_upgrade_argument_replaces_moderators_and_workers() -> None:
    c = fresh()
    video = upload(c, ALICE, mp4(100))
    new_worker, new_mod = user("new worker"), user("new moderator")
    c.upgrade(records.InitArgs(admins=[new_mod], workers=[new_worker], ledger=None))
    rejects(As(c, WORKER).worker_jobs, match="is not a transcoding worker")
    assert [j.video_id for j in As(c, new_worker).worker_jobs()] == [video.id]
    rejects(As(c, MOD).delete_video, video.id, match="is not yours")
    As(c, new_mod).delete_video(video.id)
    with pytest.raises(Exception, match="anonymous principal cannot be a worker"):
        c.upgrade(records.InitArgs(admins=[], workers=[Principal.anonymous()], ledger=None))
