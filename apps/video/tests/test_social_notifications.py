"""Notifications of the video canister in plain CPython: what each action stores and for
whom, the live events on ``user:<p>``, unread counts and ``mark_read``, paging, the
per-user cap, blocks and self-actions, and a rejected action that publishes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.candid import decode
from icframework.sdk import CanisterError, LocalCanister, set_backend
from icframework.sdk.types import TypeMapper

from .world import ANON, APP, SECOND, As, fresh, limits, ready_video, user

R = APP.social_records
K = R.NotificationKind
ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")


def person(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle), 4 * SECOND)
    who.register(handle, handle.title())
    return who


def user_events(c: LocalCanister) -> list[tuple[str, Any]]:
    """The `NotificationEvent`s published since the last call, decoded."""
    info = TypeMapper().info(R.NotificationEvent)
    assert info.from_wire is not None
    out = [(topic, info.from_wire(decode(data, [info.candid])[0]))
           for topic, data in c.backend.events if topic.startswith("user:")]
    c.backend.events.clear()
    return out


def kinds(who: As) -> list[tuple[Any, str | None, str]]:
    return [(n.kind, None if n.actor is None else n.actor.handle, n.text)
            for n in who.notifications(None).items]


class World:
    def __init__(self) -> None:
        self.c = fresh()
        self.alice, self.bob, self.carol = (person(self.c, n) for n in ("alice", "bob", "carol"))
        self.video = ready_video(self.c, self.alice.who)
        self.alice.mark_read()
        user_events(self.c)


@pytest.fixture
def w() -> World:
    return World()


def test_each_action_notifies_the_right_person(w: World) -> None:
    vid = w.video.id
    w.bob.follow(ALICE)
    w.bob.like(vid)
    w.bob.unlike(vid)
    w.bob.like(vid)  # a like is told once
    w.carol.super_like(vid)
    root = w.bob.comment(vid, None, "great video")
    w.alice.comment(vid, root.id, "thank you")  # the creator answers: bob hears of it
    w.carol.comment(vid, root.id, "agreed")  # bob (reply) and alice (comment)
    w.alice.like_comment(root.id)
    assert kinds(w.alice)[:6] == [
        (K.comment, "carol", "agreed"),
        (K.comment, "bob", "great video"),
        (K.super_like, "carol", "super-liked your video"),
        (K.like, "bob", "liked your video"),
        (K.follow, "bob", "started following you"),
        (K.processing_done, None, "your video is ready"),
    ]
    assert kinds(w.bob) == [
        (K.comment_like, "alice", "great video"),
        (K.reply, "carol", "agreed"),
        (K.reply, "alice", "thank you"),
    ]
    assert all(n.video_id == vid for n in w.bob.notifications(None).items)


def test_every_notification_is_published_on_the_recipients_topic(w: World) -> None:
    w.bob.like(w.video.id)
    [(topic, event)] = user_events(w.c)
    assert topic == f"user:{ALICE.to_text()}"
    assert (event.unread, event.notification.kind, event.notification.actor.handle) == \
        (1, K.like, "bob")
    assert w.alice.unread_count() == 1
    w.alice.mark_read()
    [(topic, event)] = user_events(w.c)
    assert (topic, event.notification, event.unread) == (f"user:{ALICE.to_text()}", None, 0)
    assert w.alice.unread_count() == 0
    assert all(n.read for n in w.alice.notifications(None).items)
    w.alice.mark_read()  # nothing new: nothing published
    assert user_events(w.c) == []


def test_self_actions_and_blocked_actors_notify_nobody(w: World) -> None:
    w.alice.like(w.video.id)
    w.alice.comment(w.video.id, None, "my own")
    w.carol.block(BOB)
    bob_video = ready_video(w.c, w.bob.who)
    w.bob.mark_read()
    w.alice.like(bob_video.id)
    user_events(w.c)
    previous = set_backend(w.c.backend)
    try:
        APP.notifications.notify(CAROL, "follow", BOB, None, "hi")  # blocked: dropped
        APP.notifications.notify(ANON, "processing_done", None, 1, "x")  # anonymous: dropped
        with pytest.raises(ValueError, match="unknown notification kind 'poke'; use one of "
                                             "like, super_like"):
            APP.notifications.notify(CAROL, "poke", BOB, None, "hi")
    finally:
        set_backend(previous)
    assert w.alice.unread_count() == 0
    assert w.carol.notifications(None).items == []
    assert [t for t, _e in user_events(w.c)] == []
    assert w.bob.unread_count() == 1


def test_a_rejected_action_pushes_nothing(w: World) -> None:
    with pytest.raises(CanisterError, match="a comment is required"):
        w.bob.comment(w.video.id, None, "   ")
    assert user_events(w.c) == []
    assert w.alice.unread_count() == 0


def test_pages_newest_first_and_the_per_user_cap(w: World) -> None:
    vid = w.video.id
    total = limits.MAX_NOTIFICATIONS + 5
    for n in range(total):
        (w.bob if n % 2 else w.carol).comment(vid, None, f"comment {n}")
    texts: list[str] = []
    cursor = None
    while True:
        page = w.alice.notifications(cursor)
        assert len(page.items) <= limits.PAGE_SIZE
        texts += [n.text for n in page.items]
        cursor = page.next
        if cursor is None:
            break
    assert len(texts) == limits.MAX_NOTIFICATIONS  # the oldest went first
    assert texts == [f"comment {n}" for n in range(total - 1, 4, -1)]
    assert page.unread == limits.MAX_NOTIFICATIONS
    with pytest.raises(CanisterError, match="is not a notification cursor"):
        w.alice.notifications("latest")
    with pytest.raises(CanisterError, match="sign in first"):
        As(w.c, ANON).notifications(None)
    assert As(w.c, ANON).unread_count() == 0
