"""The video demo seeder on a replica with SQLite state: the canister installed once, controlled
by the demo admin alone, with the state directory's worker as its transcoding worker; the
creators' real clips uploaded through the upload API and left processing (seeding never
waits for transcoding); the jobs then processed here as the worker identity with the real
transcoder, after which a run adds the engagement (views, comments with replies, shares,
super-likes, likes) and the next adds nothing, also after the replica is reopened. In a
replica service, the seeder's `Finisher` adds the engagement by itself once the worker has
made the videos ready.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path
from typing import Any

from django.test import override_settings

from apps.chat.seed import demo_identities as chat_identities
from apps.chat.tests.test_seed_control import assert_anonymous_is_refused, controllers
from apps.marketplace.seed import demo_identities as market_identities
from apps.video.canister import records as R
from apps.video.seed import (
    CANISTER_MODULE,
    COMMENTS,
    DEMO_CREATORS,
    FOLLOWS,
    LIKES,
    SHARES,
    SUPER_LIKES,
    clip_bytes,
    clips_dir,
    demo_identities,
    run_demo,
    seed_demo,
    served_caller,
)
from apps.video.transcode import transcode
from icframework.core import Principal
from icframework.demo import TypedCaller, admin_identity, method_table
from icframework.deployments import recorded_id, save_canister_id
from icframework.replica import start_service, stop_service
from icframework.replica.embedded import Replica
from icframework.workers import worker_identity
from tests.demo_server import share_build_caches

URL = "http://127.0.0.1:4943"
CLIPS = [clip for creator in DEMO_CREATORS for clip in creator.clips]
HANG_GUARD_SECONDS = 300  # not a performance bound


def caller(replica: Replica) -> TypedCaller:
    canister = recorded_id("video", URL)
    assert canister is not None
    return TypedCaller(replica, canister, method_table(CANISTER_MODULE))


def work_as_worker(call: TypedCaller, worker: Principal) -> list[Any]:
    """What `apps.video.tasks.transcode_video` does for every listed job, as ``worker``:
    claim, download the original, transcode it, store the renditions, complete."""
    done = []
    for job in call(worker, "worker_jobs"):
        vid = int(job.video_id)
        job = call(worker, "worker_claim", vid)
        original = b"".join(call(worker, "worker_original_chunk", vid, n)
                            for n in range(int(job.chunks)))
        assert hashlib.sha256(original).digest() == job.sha256
        with tempfile.TemporaryDirectory() as directory:
            source = Path(directory) / "original"
            source.write_bytes(original)
            made = transcode(source, Path(directory) / "out")
            for file in made.renditions:
                data = file.path.read_bytes()
                step = int(job.chunk_bytes)
                for index in range(max(1, -(-len(data) // step))):
                    call(worker, "worker_put_rendition", vid, R.RenditionUpload(
                        R.RenditionKind(file.kind), file.content_type, file.size, file.width,
                        file.height, file.sha256, index, data[index * step:(index + 1) * step]))
        done.append(call(worker, "worker_complete", vid, R.MediaInfo(
            made.duration_ms, made.width, made.height)))
    return done


def videos_by_clip(call: TypedCaller, users: dict[str, Principal]) -> dict[str, Any]:
    found = {}
    for creator in DEMO_CREATORS:
        mine = {v.caption: v for v in call(users[creator.handle], "my_videos")}
        for clip in creator.clips:
            found[clip.key] = mine[clip.caption]
    return found


def test_seeding_uploads_once_and_engages_the_videos_the_worker_made_ready(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    share_build_caches(tmp_path, ("apps",))  # the clips are rendered and kept here, checked
    token = Principal.self_authenticating(b"a marketplace token")
    with override_settings(BASE_DIR=tmp_path):
        save_canister_id("marketplace_token", token, URL)  # the marketplace seeder's record
        with Replica.open(state) as replica:
            first = run_demo(replica, URL, state)
            again = run_demo(replica, URL, state)
            canister = recorded_id("video", URL)
            assert canister is not None
            admin = admin_identity(state).principal
            assert controllers(replica, canister) == [admin]
            assert_anonymous_is_refused(replica, canister)
            call = caller(replica)
            users = {h: i.principal for h, i in demo_identities(state).items()}
            waiting = videos_by_clip(call, users)
            worker = worker_identity(state).principal
            jobs = call(worker, "worker_jobs")
            made = work_as_worker(call, worker)
            engaged = run_demo(replica, URL, state)
            settled = run_demo(replica, URL, state)
            rendered = sorted(clips_dir().glob("*.mp4"))
        with Replica.open(state) as replica:
            reopened = run_demo(replica, URL, state)
            check_demo(caller(replica), state, admin)

    assert first[0] == f"  video:     {URL}/video/"
    assert first[1].endswith(f"(created; added {len(DEMO_CREATORS)} creators, {len(CLIPS)} "
                             f"uploads, {len(FOLLOWS)} follows)")
    assert first[3].startswith(f"             {len(CLIPS)} videos are being transcoded by "
                               "the worker and become ready over the next seconds")
    assert f"tips ledger {token.to_text()}" in first[4]
    assert again[1].endswith("(unchanged; nothing new to seed)")
    # the uploads went through the upload API and wait for the worker
    assert {v.caption for v in waiting.values()} == {c.caption for c in CLIPS}
    assert all(v.status is R.VideoStatus.processing for v in waiting.values())
    assert all(v.size > 0 and v.renditions == [] for v in waiting.values())
    assert sorted(int(j.video_id) for j in jobs) == sorted(int(v.id) for v in waiting.values())
    assert len(rendered) == len(CLIPS)  # kept for the next fresh state directory
    assert [v.status for v in made] == [R.VideoStatus.ready] * len(CLIPS)
    # once ready, one run engages every video and the next adds nothing
    assert engaged[1].endswith(f"(unchanged; added engagement of {len(CLIPS)} videos "
                               "(views, comments, likes))")
    assert len(engaged) == 5  # no "being transcoded" line any more
    for lines in (settled, reopened):
        assert lines[1].endswith("(unchanged; nothing new to seed)")


def check_demo(call: TypedCaller, state: Path, admin: Principal) -> None:
    """The seeded app, as the page sees it through the canister's queries."""
    people = {h: i.principal for h, i in demo_identities(state).items()}
    chat, market = chat_identities(state), market_identities(state)
    for handle in ("alice", "bob", "carol"):
        assert people[handle] == chat[handle].principal
    for handle in ("ana", "ben", "cleo"):
        assert people[handle] == market[handle].principal
    assert call(admin, "i_am_moderator") is True

    videos = videos_by_clip(call, people)
    for clip in CLIPS:
        video = videos[clip.key]
        assert video.status is R.VideoStatus.ready
        assert {r.kind for r in video.renditions} == set(R.RenditionKind)
        upright = clip.rotation in (90, 270)
        tall = (clip.height > clip.width) != upright
        assert (video.height > video.width) == tall, clip.key
        stats = call(people["alice"], "video_stats", video.id)
        assert stats.likes == len(LIKES[clip.key])
        assert stats.shares == len(SHARES.get(clip.key, ()))
        assert stats.super_likes == len(SUPER_LIKES.get(clip.key, ()))
        assert stats.comments == sum(1 for c in COMMENTS if c[0] == clip.key)
        assert stats.views >= len(LIKES[clip.key]) - 1 and stats.watch_ms > 0

    # threaded comments: a root comment with its replies
    routine = videos["mika-routine"]
    roots = call(people["bob"], "comments", routine.id, None).items
    first = next(c for c in roots if c.author.handle == "cleo")
    assert first.replies == 1
    replies = call(people["bob"], "replies", first.id, None).items
    assert [(r.author.handle, r.parent) for r in replies] == [("mika_moves", first.id)]

    # follows, hashtags, mentions and the feeds
    mika = call(people["alice"], "profile_by_handle", "mika_moves")
    assert mika.followed_by_me and mika.videos == 3
    assert mika.followers == sum(1 for _a, b in FOLLOWS if b == "mika_moves")
    dance = call(people["alice"], "hashtag", "dance", None, 10).items
    assert {c.video.id for c in dance} == {videos[k].id for k in
                                          ("mika-routine", "mika-studio", "mika-duet")}
    assert any(t.tag == "bikes" for t in call(people["alice"], "trending_tags", 20))
    mentioned = call(people["bob"], "notifications", None).items
    assert mentioned  # a mention in alice's caption, likes and comments
    following = call(people["alice"], "following_feed", None, 30).items
    followed = {people[b] for a, b in FOLLOWS if a == "alice"}
    assert following and {c.video.creator for c in following} <= followed
    for_you = call(people["zara_trails"], "for_you", None, 10).items
    assert len(for_you) == 10 and all(c.score > 0 for c in for_you)


def test_in_a_replica_service_the_finisher_engages_the_videos_once_ready(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    share_build_caches(tmp_path)  # the module and the clips rendered before
    with override_settings(BASE_DIR=tmp_path):
        service = start_service(state)
        try:
            demo = service.run(lambda replica: seed_demo(replica, URL, state))
            assert demo.finisher is not None and len(demo.waiting) == len(CLIPS)
            worker = worker_identity(state).principal
            # the worker's calls go through the service, as the HTTP interface makes them
            made = work_as_worker(served_caller(service, demo.canister_id), worker)
            assert demo.finisher.join(HANG_GUARD_SECONDS)
            assert demo.finisher.waiting == []
            # each pass engages what became ready since the one before
            notes = [re.fullmatch(r"engagement of (\d+) videos? \(views, comments, likes\)",
                                  note) for note in demo.finisher.added]
            assert all(notes)
            assert sum(int(n[1]) for n in notes if n) == len(CLIPS)
            stats = served_caller(service, demo.canister_id)(
                demo.users["bob"], "video_stats", made[0].id)
            again = service.run(lambda replica: run_demo(replica, URL, state))
        finally:
            stop_service()
    assert stats.likes > 0 and stats.views > 0
    assert again[1].endswith("(unchanged; nothing new to seed)")


def test_an_upload_cut_off_mid_way_is_resumed_and_a_deleted_clip_uploaded_again(
        tmp_path: Path) -> None:
    state = tmp_path / "state"
    share_build_caches(tmp_path)  # the module and the clips rendered before
    clip = DEMO_CREATORS[0].clips[0]
    with override_settings(BASE_DIR=tmp_path), Replica.open(state) as replica:
        run_demo(replica, URL, state)
        call = caller(replica)
        alice = demo_identities(state)["alice"].principal
        gone = next(v for v in call(alice, "my_videos") if v.caption == clip.caption)
        call(alice, "delete_video", gone.id)
        data = clip_bytes(clip)
        begun = call(alice, "begin_upload", R.UploadInput(
            clip.caption, len(data), hashlib.sha256(data).digest(), "video/mp4"))
        assert begun.received == []  # as if the server stopped before its chunks
        again = run_demo(replica, URL, state)
        mine = [v for v in call(alice, "my_videos") if v.caption == clip.caption]
    assert again[1].endswith("(unchanged; added 1 upload)")
    assert [(v.id, v.status) for v in mine] == [(begun.video_id, R.VideoStatus.processing)]
