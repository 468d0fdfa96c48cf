"""Likes, super-likes, comments, views and shares of the video canister, in plain CPython.

Counters against the sets they count (Hypothesis), the rolling super-like window, one
counted view per user and video per hour with watch time capped at the duration,
threaded comments with paging and deletion rights, blocks, and the live counters
published on ``video:<id>``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid import decode
from icframework.sdk import CanisterError, LocalCanister, set_backend
from icframework.sdk.types import TypeMapper

from .world import ANON, APP, MOD, SECOND, As, fresh, limits, mp4, ready_video, upload, user

R = APP.social_records
HOUR = limits.HOUR
ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


def person(c: LocalCanister, handle: str, tick_ns: int = 4 * SECOND) -> As:
    who = As(c, user(handle), tick_ns)
    who.register(handle, handle.title())
    return who


def live(c: LocalCanister) -> list[tuple[str, Any]]:
    """The `VideoLive` events published since the last call, decoded."""
    info = TypeMapper().info(R.VideoLive)
    assert info.from_wire is not None
    out = [(topic, info.from_wire(decode(data, [info.candid])[0]))
           for topic, data in c.backend.events if topic.startswith("video:")]
    c.backend.events.clear()
    return out


def stats(c: LocalCanister, video_id: int) -> Any:
    return c.query("video_stats", video_id, caller=MOD)


class World:
    def __init__(self) -> None:
        self.c = fresh()
        self.alice, self.bob, self.carol = (person(self.c, n) for n in ("alice", "bob", "carol"))
        self.video = ready_video(self.c, self.alice.who, duration_ms=20_000)


@pytest.fixture
def w() -> World:
    return World()


# -- likes ----------------------------------------------------------------------------------


def test_a_like_is_counted_once_and_published_live(w: World) -> None:
    live(w.c)
    w.bob.like(w.video.id)
    w.bob.like(w.video.id)
    assert stats(w.c, w.video.id).likes == 1
    assert w.alice.me().likes_received == 1
    [(topic, event)] = live(w.c)
    assert topic == f"video:{w.video.id}"
    assert (event.video_id, event.likes, event.comments, event.views) == (w.video.id, 1, 0, 0)
    w.bob.unlike(w.video.id)
    w.bob.unlike(w.video.id)
    assert (stats(w.c, w.video.id).likes, w.alice.me().likes_received) == (0, 0)
    assert [e.likes for _t, e in live(w.c)] == [0]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["like", "unlike"]), st.integers(0, 2)),
                max_size=30))
def test_like_counts_always_equal_the_set_of_likers(steps: list[tuple[str, int]]) -> None:
    w = World()
    people = [w.alice, w.bob, w.carol]
    likers: set[int] = set()
    for action, n in steps:
        getattr(people[n], action)(w.video.id)
        (likers.add if action == "like" else likers.discard)(n)
    assert stats(w.c, w.video.id).likes == len(likers)
    assert w.alice.me().likes_received == len(likers)
    previous = set_backend(w.c.backend)
    try:
        assert {n for n, p in enumerate(people)
                if APP.interactions.has_liked(w.video.id, p.who)} == likers
    finally:
        set_backend(previous)


def test_only_ready_visible_videos_take_likes(w: World) -> None:
    processing = upload(w.c, w.alice.who, mp4(64))
    rejects(w.bob.like, processing.id, match=f"no video {processing.id} for you")
    rejects(w.bob.like, 999, match="no video 999 for you: it does not exist")
    rejects(As(w.c, ANON).like, w.video.id, match="sign in first")
    rejects(As(w.c, user("dave")).like, w.video.id, match="call register")


# -- super-likes ----------------------------------------------------------------------------


def test_super_likes_are_limited_per_rolling_day(w: World) -> None:
    videos = [ready_video(w.c, w.alice.who) for _ in range(limits.SUPER_LIKES_PER_DAY + 1)]
    assert w.bob.super_likes_left() == limits.SUPER_LIKES_PER_DAY
    left = [w.bob.super_like(v.id) for v in videos[:-1]]
    assert left == list(range(limits.SUPER_LIKES_PER_DAY - 1, -1, -1))
    rejects(w.bob.super_like, videos[-1].id,
            match=r"you have used your 3 super-likes of the last 24 h: the next one is "
                  r"available in 2\d\.\d h")
    # The window rolls: the first super-like leaves it 24 h after it was given.
    w.c.backend.advance_time(24 * HOUR - 14 * SECOND)
    assert w.bob.super_like(videos[-1].id) == 0
    assert w.bob.super_likes_left() == 0
    s = stats(w.c, videos[0].id)
    assert (s.super_likes, s.likes) == (1, 1)  # a super-like likes the video too


def test_a_super_like_is_once_per_video_and_never_ones_own(w: World) -> None:
    w.bob.like(w.video.id)
    w.bob.super_like(w.video.id)
    s = stats(w.c, w.video.id)
    assert (s.likes, s.super_likes) == (1, 1)
    rejects(w.bob.super_like, w.video.id, match=f"you already super-liked video {w.video.id}")
    rejects(w.alice.super_like, w.video.id, match="you cannot super-like your own video")


# -- blocks ---------------------------------------------------------------------------------


def test_blocked_users_cannot_touch_each_others_videos(w: World) -> None:
    bob_comment = w.bob.comment(w.video.id, None, "before the block")
    w.alice.block(BOB)
    for call, args in ((w.bob.like, (w.video.id,)), (w.bob.super_like, (w.video.id,)),
                       (w.bob.comment, (w.video.id, None, "hi"))):
        rejects(call, *args, match="one of you blocked the other")
    assert w.bob.video_stats(w.video.id) is None
    rejects(w.bob.comments, w.video.id, None, match="no video")
    # The blocker no longer sees the blocked user's comments; others still do.
    assert w.alice.comments(w.video.id, None).items == []
    assert [v.id for v in w.carol.comments(w.video.id, None).items] == [bob_comment.id]
    carol_comment = w.carol.comment(w.video.id, None, "hello")
    bob_video = ready_video(w.c, w.bob.who)
    rejects(w.alice.like, bob_video.id, match="you blocked @bob; unblock them first")
    w.alice.unblock(BOB)
    w.bob.like_comment(carol_comment.id)
    w.bob.like(w.video.id)


# -- comments -------------------------------------------------------------------------------


def test_comments_and_one_level_of_replies(w: World) -> None:
    root = w.bob.comment(w.video.id, None, "  first!\x07 ")
    assert (root.text, root.parent, root.can_delete) == ("first!", None, True)
    reply = w.alice.comment(w.video.id, root.id, "thanks")
    deeper = w.carol.comment(w.video.id, reply.id, "me too")
    assert (reply.parent, deeper.parent) == (root.id, root.id)  # a reply answers the root
    [shown] = w.carol.comments(w.video.id, None).items
    assert (shown.id, shown.replies) == (root.id, 2)
    assert [r.text for r in w.carol.replies(root.id, None).items] == ["thanks", "me too"]
    assert stats(w.c, w.video.id).comments == 3
    other = ready_video(w.c, w.alice.who)
    rejects(w.bob.comment, other.id, root.id, "x",
            match=f"comment {root.id} belongs to video {w.video.id}, not {other.id}")
    rejects(w.bob.comment, w.video.id, 999, "x", match="no comment 999")
    rejects(w.bob.comment, w.video.id, None, " \n ", match="a comment is required")
    rejects(w.bob.comment, w.video.id, None, "x" * (limits.MAX_COMMENT_CHARS + 1),
            match="a comment is at most 500 characters, got 501")


def test_comment_pages_are_newest_first_without_repeats(w: World) -> None:
    made = [w.bob.comment(w.video.id, None, f"comment {n}").id
            for n in range(limits.PAGE_SIZE + 3)]
    first = w.carol.comments(w.video.id, None)
    second = w.carol.comments(w.video.id, first.next)
    assert second.next is None
    assert [c.id for c in first.items + second.items] == made[::-1]
    rejects(w.carol.comments, w.video.id, "x1", match="is not a comment cursor")


def test_who_may_delete_a_comment(w: World) -> None:
    root = w.bob.comment(w.video.id, None, "root")
    replies = [w.carol.comment(w.video.id, root.id, f"reply {n}") for n in range(3)]
    rejects(w.carol.delete_comment, root.id,
            match=f"comment {root.id} is not yours: only its author, the video's creator "
                  "or a moderator")
    w.carol.delete_comment(replies[0].id)  # its author
    w.alice.delete_comment(replies[1].id)  # the video's creator
    assert w.bob.comments(w.video.id, None).items[0].replies == 1
    assert stats(w.c, w.video.id).comments == 2
    As(w.c, MOD).delete_comment(root.id)  # a moderator: the root goes with its reply
    assert stats(w.c, w.video.id).comments == 0
    assert w.bob.comments(w.video.id, None).items == []
    rejects(w.bob.delete_comment, replies[2].id, match=f"no comment {replies[2].id}")


def test_comment_likes(w: World) -> None:
    root = w.bob.comment(w.video.id, None, "like me")
    w.alice.like_comment(root.id)
    w.alice.like_comment(root.id)
    w.carol.like_comment(root.id)
    [seen] = w.alice.comments(w.video.id, None).items
    assert (seen.likes, seen.liked_by_me) == (2, True)
    w.alice.unlike_comment(root.id)
    [seen] = w.alice.comments(w.video.id, None).items
    assert (seen.likes, seen.liked_by_me) == (1, False)
    rejects(w.alice.like_comment, 42, match="no comment 42")


# -- views and shares -----------------------------------------------------------------------


def seen(c: LocalCanister, who: Any, video_id: int) -> Any:
    previous = set_backend(c.backend)
    try:
        return APP.interactions.seen(who, video_id)
    finally:
        set_backend(previous)


def test_one_view_per_user_and_hour_with_watch_time_capped(w: World) -> None:
    vid = w.video.id  # 20 s long
    w.bob.record_view(vid, 5_000)
    w.bob.record_view(vid, 3_000)  # the same viewing: the longest report counts
    w.bob.record_view(vid, 60_000)  # capped at the duration, now a completion
    s = stats(w.c, vid)
    assert (s.views, s.watch_ms, s.completions) == (1, 20_000, 1)
    first = seen(w.c, BOB, vid)
    assert first.watched_ms == 20_000
    w.c.backend.advance_time(HOUR)
    w.bob.record_view(vid, 17_000)  # 85 %: a new view, not a completion
    w.carol.record_view(vid, 18_000)  # 90 %: a completion
    s = stats(w.c, vid)
    assert (s.views, s.watch_ms, s.completions) == (3, 55_000, 2)
    assert seen(w.c, BOB, vid).at > first.at
    assert seen(w.c, ALICE, vid) is None
    # Each change is published; the report that changed nothing (3 s) is not.
    assert [(e.views, e.likes) for _t, e in live(w.c)] == [(1, 0), (1, 0), (2, 0), (3, 0)]


def test_signed_out_and_own_views_are_not_counted_and_unready_videos_refuse_views(
        w: World) -> None:
    As(w.c, ANON).record_view(w.video.id, 1_000)
    w.alice.record_view(w.video.id, 1_000)  # the creator
    assert stats(w.c, w.video.id).views == 0
    assert seen(w.c, ALICE, w.video.id) is None
    processing = upload(w.c, w.alice.who, mp4(64))
    rejects(w.bob.record_view, processing.id, 1_000, match=f"no video {processing.id}")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 30_000), st.booleans()),
                max_size=25))
def test_views_watch_time_and_completions_stay_consistent(
        reports: list[tuple[int, int, bool]]) -> None:
    """Whatever the reports: views count (user, hour) pairs, each view's watch time is at
    most the duration, a completion is a view that reached 90 %."""
    w = World()  # a 20 s video
    duration = 20_000
    viewers = [w.bob, w.carol, person(w.c, "dave")]
    best: dict[tuple[int, int], int] = {}  # (viewer, hour) -> longest report
    hour = 0
    for n, watched, next_hour in reports:
        if next_hour:
            w.c.backend.advance_time(HOUR)
            hour += 1
        viewers[n].record_view(w.video.id, watched)
        key = (n, hour)
        best[key] = max(best.get(key, 0), min(watched, duration))
    s = stats(w.c, w.video.id)
    assert s.views == len(best)
    assert s.watch_ms == sum(best.values()) <= s.views * duration
    assert s.completions == sum(1 for v in best.values() if v * 100 >= duration * 90)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["root", "reply", "delete"]), st.integers(0, 2),
                          st.integers(0, 50)), max_size=20))
def test_the_comment_count_equals_the_comments_left(steps: list[tuple[str, int, int]]) -> None:
    w = World()
    people = [w.alice, w.bob, w.carol]
    alive: dict[int, int | None] = {}  # comment id -> root id (None for a root)
    for action, n, pick in steps:
        ids = sorted(alive)
        if action == "root" or not ids:
            alive[people[n].comment(w.video.id, None, f"root {pick}").id] = None
        elif action == "reply":
            target = ids[pick % len(ids)]
            root = alive[target] if alive[target] is not None else target
            alive[people[n].comment(w.video.id, target, f"reply {pick}").id] = root
        else:
            target = ids[pick % len(ids)]
            w.alice.delete_comment(target)  # the creator may delete any
            gone = {target} | {c for c, r in alive.items() if r == target}
            alive = {c: r for c, r in alive.items() if c not in gone}
    assert stats(w.c, w.video.id).comments == len(alive)
    roots = w.carol.comments(w.video.id, None).items
    assert sorted(c.id for c in roots) == sorted(c for c, r in alive.items() if r is None)
    for c in roots:
        assert c.replies == sum(1 for r in alive.values() if r == c.id)


def test_a_share_counts_once_per_user(w: World) -> None:
    assert w.bob.share(w.video.id) == 1
    assert w.bob.share(w.video.id) == 1
    assert w.carol.share(w.video.id) == 2
    rejects(As(w.c, ANON).share, w.video.id, match="sign in first")
    assert stats(w.c, w.video.id).shares == 2


# -- deleting a video -----------------------------------------------------------------------


def test_a_deleted_videos_social_state_goes_in_batches(w: World) -> None:
    fans = [person(w.c, f"fan{n:02d}") for n in range(40)]
    for fan in fans:
        fan.like(w.video.id)
        fan.share(w.video.id)
        root = fan.comment(w.video.id, None, "root")
        for n in range(11):
            fan.comment(w.video.id, root.id, f"reply {n}")
        w.bob.like_comment(root.id)
    w.bob.report(R.ReportTarget(video=w.video.id), "spam")
    kept = ready_video(w.c, w.alice.who)
    w.bob.like(kept.id)
    w.bob.comment(kept.id, None, "stays")
    store = APP.social_store
    tables = ("likes", "like_notified", "shared", "comments", "video_comments", "replies_of",
              "comment_likes", "reports", "forgotten")

    def sizes() -> dict[str, int]:
        previous = set_backend(w.c.backend)
        try:
            return {name: len(getattr(store, name)) for name in tables}
        finally:
            set_backend(previous)

    before = sizes()
    assert before["comments"] == 40 * 12 + 1 and before["likes"] == 41
    assert w.alice.me().likes_received == 41
    w.alice.delete_video(w.video.id)
    assert w.alice.me().likes_received == 1  # the kept video's like
    assert w.alice.video_stats(w.video.id) is None
    first = sizes()
    removed = sum(before[t] - first[t] for t in tables if t != "forgotten")
    # One batch: it stops once the budget is spent, at most one comment (its two entries
    # and its likes) past it.
    assert first["forgotten"] == 1
    assert limits.FORGET_BATCH <= removed <= limits.FORGET_BATCH + 2
    runs = w.c.advance_time(SECOND)  # the timer takes the rest
    assert runs >= 1
    assert sizes() == {"likes": 1, "like_notified": 1, "shared": 0, "comments": 1,
                       "video_comments": 1, "replies_of": 0, "comment_likes": 0, "reports": 0,
                       "forgotten": 0}
    assert [c.text for c in w.bob.comments(kept.id, None).items] == ["stays"]
