"""An upgrade keeps the video canister's social state: profiles, follows, blocks, likes,
comments, views, the super-like window, reports and hidden videos, notifications with
their read marker, and rate-limit windows (everything is in stable structures)."""

from __future__ import annotations

import pytest

from icframework.sdk import CanisterError, LocalCanister

from .world import APP, MOD, SECOND, WORKER, As, fresh, limits, ready_video, records, user

R = APP.social_records


def person(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle), 4 * SECOND)
    who.register(handle, handle.title())
    return who


def test_social_state_survives_an_upgrade() -> None:
    c = fresh()
    alice, bob, carol = (person(c, n) for n in ("alice", "bob", "carol"))
    reporters = [person(c, f"reporter{n}") for n in range(limits.AUTO_HIDE_REPORTS)]
    video = ready_video(c, alice.who, duration_ms=10_000)
    doomed = ready_video(c, alice.who)
    bob.follow(alice.who)
    carol.block(bob.who)
    bob.like(video.id)
    for _ in range(limits.SUPER_LIKES_PER_DAY):
        bob.super_like(ready_video(c, alice.who).id)
    root = bob.comment(video.id, None, "before the upgrade")
    alice.comment(video.id, root.id, "a reply")
    bob.record_view(video.id, 9_500)
    for r in reporters:
        r.report(R.ReportTarget(video=doomed.id), "spam")
    alice.mark_read()
    alice.like_comment(root.id)  # bob hears of it: his notifications are not all read
    before = (alice.me(), bob.me(), bob.video_stats(video.id), bob.comments(video.id, None),
              alice.notifications(None), bob.notifications(None))

    c.upgrade(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None))

    after = (alice.me(), bob.me(), bob.video_stats(video.id), bob.comments(video.id, None),
             alice.notifications(None), bob.notifications(None))
    assert after == before
    assert after[0].followers == 1 and after[2].views == 1 and after[3].items[0].replies == 1
    assert (after[4].unread, after[5].unread) == (0, 2)  # alice read hers; bob: reply, like
    assert bob.video(doomed.id) is None  # still hidden
    assert [case.target.value for case in As(c, MOD).moderation_queue(None).items] == [doomed.id]
    assert carol.profile(bob.who).blocked_by_me is True
    assert bob.super_likes_left() == 0  # the rolling window is kept
    with pytest.raises(CanisterError, match="you have used your 3 super-likes"):
        bob.super_like(video.id)
    bob.record_view(video.id, 10_000)  # the same hour's view: its watch time grows
    assert bob.video_stats(video.id).views == 1
