"""Reports, auto-hiding, moderation and visibility of the video canister, in plain CPython.

A video is hidden after `limits.AUTO_HIDE_REPORTS` *distinct* reporters (one reporter
counts once), its creator still sees it with the reason, moderators work through the
queue and keep, remove or blur; a suspended user's videos and profile disappear and
they can no longer act. Also: who may subscribe to which socket topic.
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import CanisterError, LocalCanister

from .world import ANON, APP, MOD, SECOND, As, fresh, limits, ready_video, user

R = APP.social_records
N = limits.AUTO_HIDE_REPORTS
ALICE, BOB = user("alice"), user("bob")


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


def person(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle), 4 * SECOND)
    who.register(handle, handle.title())
    return who


def video_target(video_id: int) -> Any:
    return R.ReportTarget(video=video_id)


def user_target(who: Any) -> Any:
    return R.ReportTarget(user=who)


class World:
    def __init__(self) -> None:
        self.c = fresh()
        self.alice = person(self.c, "alice")
        self.viewer = person(self.c, "viewer")
        self.reporters = [person(self.c, f"reporter{n}") for n in range(N + 2)]
        self.mod = As(self.c, MOD)
        self.video = ready_video(self.c, self.alice.who)

    def report(self, n: int, reason: str = "spam", video_id: int | None = None) -> None:
        target = video_target(self.video.id if video_id is None else video_id)
        self.reporters[n].report(target, reason)

    def sees(self, who: As) -> bool:
        return who.video(self.video.id) is not None


@pytest.fixture
def w() -> World:
    return World()


def test_distinct_reporters_hide_a_video_one_reporter_counts_once(w: World) -> None:
    w.report(0)
    rejects(w.report, 0, match=f"you already reported video:{w.video.id}")
    for n in range(1, N - 1):
        w.report(n)
    assert w.sees(w.viewer)  # N - 1 distinct reporters: still shown
    w.report(N - 1, "violent\x00 content")
    assert not w.sees(w.viewer)
    assert w.viewer.video_stats(w.video.id) is None
    rejects(w.viewer.like, w.video.id, match="no video")
    # Its creator still sees it, with the reason; so do moderators.
    assert w.sees(w.alice) and w.sees(w.mod)
    assert w.alice.video_hidden_reason(w.video.id) == "hidden after reports, until a " \
        "moderator looks at it"
    assert w.viewer.video_hidden_reason(w.video.id) is None
    assert w.mod.video_stats(w.video.id).reports == N


def test_what_cannot_be_reported(w: World) -> None:
    rejects(w.alice.report, video_target(w.video.id), "mine",
            match=f"video {w.video.id} is yours: delete it instead")
    rejects(w.viewer.report, video_target(999), "x", match="no video 999 to report")
    rejects(w.viewer.report, video_target(w.video.id), " \x07 ",
            match="a report's reason is required")
    rejects(w.viewer.report, user_target(w.viewer.who), "x", match="you cannot report yourself")
    rejects(w.viewer.report, user_target(user("nobody")), "x", match="has no profile")
    rejects(As(w.c, ANON).report, video_target(w.video.id), "x", match="sign in first")
    rejects(w.viewer.report, video_target(w.video.id), "r" * (limits.MAX_REASON_CHARS + 1),
            match="a report's reason is at most 500 characters")


def test_the_queue_is_for_moderators_oldest_case_first(w: World) -> None:
    second = ready_video(w.c, w.alice.who)
    w.report(0)
    w.report(1, "dup", video_id=second.id)
    w.report(2)
    w.viewer.report(user_target(ALICE), "impersonates someone")
    rejects(w.viewer.moderation_queue, None, match="is not a moderator")
    page = w.mod.moderation_queue(None)
    assert page.next is None
    cases = [(c.target.tag, c.target.value, c.reporters) for c in page.items]
    assert cases == [("video", w.video.id, 2), ("video", second.id, 1), ("user", ALICE, 1)]
    assert [r.reason for r in page.items[0].reports] == ["spam", "spam"]
    assert w.viewer.i_am_moderator() is False and w.mod.i_am_moderator() is True


def test_keep_shows_the_video_again_and_starts_the_count_over(w: World) -> None:
    for n in range(N):
        w.report(n)
    assert not w.sees(w.viewer)
    rejects(w.viewer.moderate, video_target(w.video.id), R.Decision.keep,
            match="is not a moderator")
    w.mod.moderate(video_target(w.video.id), R.Decision.keep)
    assert w.sees(w.viewer)
    assert w.mod.moderation_queue(None).items == []
    rejects(w.report, 0, match="you already reported")  # a reporter still counts once
    w.report(N)
    assert w.sees(w.viewer)  # one new reporter is not N
    [case] = w.mod.moderation_queue(None).items
    assert case.reporters == 1
    notes = w.alice.notifications(None).items
    assert (notes[0].kind, notes[0].text) == (R.NotificationKind.moderation,
                                              "a moderator reviewed your video and kept it")


def test_remove_hides_for_good_and_blur_marks_sensitive(w: World) -> None:
    w.mod.moderate(video_target(w.video.id), R.Decision.remove)
    assert not w.sees(w.viewer) and w.sees(w.alice)
    assert w.alice.video_hidden_reason(w.video.id) == "removed by a moderator"
    assert w.alice.notifications(None).items[0].text == "your video was removed by a moderator"
    w.mod.moderate(video_target(w.video.id), R.Decision.blur)
    assert w.sees(w.viewer)
    assert w.viewer.video(w.video.id).sensitive is True
    rejects(w.mod.moderate, user_target(ALICE), R.Decision.blur,
            match="blur applies to videos: keep or remove a user")
    rejects(w.mod.moderate, video_target(404), R.Decision.keep, match="no video 404")


def test_a_suspended_user_disappears_and_cannot_act(w: World) -> None:
    w.viewer.follow(ALICE)
    w.mod.moderate(user_target(ALICE), R.Decision.remove)
    assert not w.sees(w.viewer)
    assert w.viewer.profile(ALICE) is None
    assert w.mod.profile(ALICE) is not None
    rejects(w.alice.follow, w.viewer.who, match="your account is suspended by a moderator")
    rejects(w.alice.comment, w.video.id, None, "hi", match="suspended")
    w.mod.moderate(user_target(ALICE), R.Decision.keep)
    assert w.sees(w.viewer)
    w.alice.follow(w.viewer.who)


def test_socket_topics(w: World) -> None:
    me, other = w.viewer, w.alice
    assert me.can_subscribe(f"user:{me.who.to_text()}") is True
    assert me.can_subscribe(f"uploads:{me.who.to_text()}") is True
    assert me.can_subscribe(f"user:{other.who.to_text()}") is False
    assert me.can_subscribe(f"uploads:{other.who.to_text()}") is False
    anon = As(w.c, ANON)
    assert anon.can_subscribe(f"user:{ANON.to_text()}") is False
    assert anon.can_subscribe(f"video:{w.video.id}") is True
    assert me.can_subscribe("video:999") is False
    assert me.can_subscribe("video:1x") is False
    assert me.can_subscribe("room:1") is False
    w.alice.block(me.who)
    assert me.can_subscribe(f"video:{w.video.id}") is False
    assert anon.can_subscribe(f"video:{w.video.id}") is True
    for n in range(N):
        w.report(n)
    assert anon.can_subscribe(f"video:{w.video.id}") is False
    assert other.can_subscribe(f"video:{w.video.id}") is True
