"""Per-user rate limits of the video canister's social writes, in plain CPython.

Calls go through `LocalCanister.update` at a fixed time (no clock tick), so a burst
fills the sliding window; the refusal names the action, the limit and when to retry;
refused attempts are not counted; the window slides; users do not share a window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from icframework.sdk import CanisterError, LocalCanister, set_backend

from .world import APP, SECOND, As, fresh, ready_video, user

R = APP.social_records
LIMITS = APP.limits.RATE_LIMITS
ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")


class World:
    def __init__(self) -> None:
        self.c = fresh()
        for name in ("alice", "bob", "carol"):
            As(self.c, user(name)).register(name, name.title())
        self.video = ready_video(self.c, ALICE)

    def burst(self, who: Any, method: str, args: Callable[[int], tuple[Any, ...]],
              times: int) -> None:
        """``times`` calls of ``method`` as ``who`` at one instant (the n-th with ``args(n)``)."""
        for n in range(times):
            self.c.update(method, *args(n), caller=who)


@pytest.fixture
def w() -> World:
    return World()


def limit(action: str) -> int:
    count: int = LIMITS[action][0]
    return count


def test_comments_are_limited_and_the_refusal_says_when_to_retry(w: World) -> None:
    n = limit("comment")
    w.burst(BOB, "comment", lambda i: (w.video.id, None, f"comment {i}"), n)
    with pytest.raises(CanisterError, match=r"rate limit on comment: at most 20 comments per "
                                            r"1 min; try again in 60\.0 s"):
        w.c.update("comment", w.video.id, None, "one more", caller=BOB)
    w.c.update("comment", w.video.id, None, "carol has her own window", caller=CAROL)
    w.c.backend.advance_time(30 * SECOND)
    with pytest.raises(CanisterError, match=r"try again in 30\.0 s"):  # refusals not counted
        w.c.update("comment", w.video.id, None, "still too soon", caller=BOB)
    w.c.backend.advance_time(30 * SECOND)
    w.c.update("comment", w.video.id, None, "the window slid", caller=BOB)
    assert w.c.query("video_stats", w.video.id, caller=BOB).comments == n + 2


Steps = Callable[[World, int], tuple[str, tuple[Any, ...]]]
STEPS: dict[str, Steps] = {
    # the i-th call of a burst: alternating an action and its undo, so each is a change
    "like": lambda w, i: ("unlike" if i % 2 else "like", (w.video.id,)),
    "follow": lambda w, i: ("unfollow" if i % 2 else "follow", (ALICE,)),
    "view": lambda w, i: ("record_view", (w.video.id, 1 + i)),  # a longer watch each time
}


@pytest.mark.parametrize("action", sorted(STEPS))
def test_likes_follows_and_views_are_limited(w: World, action: str) -> None:
    n = limit(action)
    for i in range(n):
        method, args = STEPS[action](w, i)
        w.c.update(method, *args, caller=BOB)
    method, args = STEPS[action](w, n)
    with pytest.raises(CanisterError, match=f"rate limit on {action}: at most {n} "):
        w.c.update(method, *args, caller=BOB)
    method, args = STEPS[action](w, 0)
    w.c.update(method, *args, caller=CAROL)  # another user's window is their own


def test_unknown_actions_are_a_programming_error(w: World) -> None:
    previous = set_backend(w.c.backend)
    try:
        with pytest.raises(KeyError, match="no rate limit named 'poke'; known: profile, follow"):
            APP.ratelimit.check(BOB, "poke")
    finally:
        set_backend(previous)


def test_every_social_write_is_rate_limited() -> None:
    """Each update method of the social modules names a rate limit in its body."""
    import inspect

    social = ("profiles", "follows", "interactions", "tips", "safety", "notifications")
    methods = {name: m for name, m in LocalCanister(APP).canister.methods.items()
               if m.kind == "update" and m.fn.__module__.rsplit(".", 1)[-1] in social}
    assert sorted(methods) == [
        "block", "comment", "delete_comment", "follow", "like", "like_comment", "mark_read",
        "moderate", "record_view", "register", "report", "share", "super_like", "tip",
        "unblock", "unfollow", "unlike", "unlike_comment", "update_profile"]
    unlimited = [name for name, m in methods.items()
                 if "ratelimit.check(" not in inspect.getsource(m.fn)]
    assert unlimited == []
