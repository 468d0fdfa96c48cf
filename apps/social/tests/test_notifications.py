"""Notifications in plain CPython: what is stored for which action, unread counts and
read markers, the live events on the per-user topic and who may subscribe to it,
blocks, the per-user cap, and an upgrade."""

from __future__ import annotations

import pytest

from icframework.sdk import Principal, Reject, set_backend

from .posts_world import ALICE, ANON, APP, BOB, CAROL, TICK_NS, Net, R, people

K = R.NotificationKind


@pytest.fixture
def net() -> Net:
    n = Net()
    people(n, "alice", "bob", "carol")
    n.events()
    return n


def notes(net: Net, who: Principal) -> list[tuple[object, str, str]]:
    page = net.call(who, "my_notifications", None, 100)
    return [(n.kind, n.actor.handle, n.ref) for n in page.notifications]


def test_requests_comments_reactions_and_mentions_are_notified(net: Net) -> None:
    net.call(BOB, "send_request", ALICE, "hi")
    net.call(ALICE, "accept_request", BOB)
    post = net.post(ALICE, "ideas for @carol")
    comment = net.call(BOB, "add_comment", post.id, None, "nice")
    net.call(BOB, "react", post.id, R.ReactionKind.like)
    assert notes(net, ALICE) == [
        (K.reaction, "bob", f"post:{post.id}"),
        (K.comment, "bob", f"comment:{post.id}:{comment.id}"),
        (K.request, "bob", f"profile:{BOB.to_text()}"),
    ]
    assert [k for k, _h, _r in notes(net, BOB)] == [K.accepted]
    assert notes(net, CAROL) == [(K.mention, "alice", f"post:{post.id}")]


def test_unread_counts_and_read_markers(net: Net) -> None:
    post = net.post(ALICE, "a post")
    for who in (BOB, CAROL):
        net.call(who, "add_comment", post.id, None, "first!")
    page = net.call(ALICE, "my_notifications", None, 10)
    assert page.unread == 2 and not any(n.read for n in page.notifications)
    older = page.notifications[-1].id
    assert net.call(ALICE, "mark_notifications_read", older) == 1
    page = net.call(ALICE, "my_notifications", None, 10)
    assert [n.read for n in page.notifications] == [False, True]
    assert net.call(ALICE, "mark_notifications_read", 0) == 1  # a marker never moves back
    assert net.call(ALICE, "mark_all_notifications_read") == 0
    assert net.call(ALICE, "unread_notifications") == 0


def test_each_notification_is_pushed_live_on_the_recipients_topic(net: Net) -> None:
    post = net.post(ALICE, "a post")
    net.events()
    net.call(BOB, "add_comment", post.id, None, "hello")
    [(topic, event)] = net.events()
    assert topic == f"user:{ALICE.to_text()}"
    assert event.unread == 1
    assert (event.notification.kind, event.notification.subject) == (K.comment, "hello")
    net.call(ALICE, "mark_all_notifications_read")
    [(topic, event)] = net.events()
    assert (topic, event.notification, event.unread) == (f"user:{ALICE.to_text()}", None, 0)


def test_only_the_user_may_subscribe_to_their_topic(net: Net) -> None:
    topic = f"user:{ALICE.to_text()}"
    assert net.call(ALICE, "can_subscribe", topic) is True
    assert net.call(BOB, "can_subscribe", topic) is False
    assert net.call(ANON, "can_subscribe", f"user:{ANON.to_text()}") is False
    assert net.call(ALICE, "can_subscribe", "room:1") is False


def test_a_rejected_action_pushes_nothing(net: Net) -> None:
    post = net.post(ALICE, "a post")
    net.events()
    with pytest.raises(Reject, match="a comment is at most 1250 characters"):
        net.call(BOB, "add_comment", post.id, None, "x" * 1251)
    assert net.events() == []
    assert net.call(ALICE, "unread_notifications") == 0


def test_blocked_people_notify_nobody(net: Net) -> None:
    net.call(ALICE, "block", BOB)
    net.events()
    previous = set_backend(net.c.backend)
    try:
        APP.notifications.notify(ALICE, "mention", BOB, "hi", "post:1")
    finally:
        set_backend(previous)
    assert notes(net, ALICE) == []


def test_unknown_kinds_are_a_programming_error_naming_the_known_ones(net: Net) -> None:
    previous = set_backend(net.c.backend)
    try:
        with pytest.raises(ValueError, match="unknown notification kind 'poke'; use one of "
                                             "request, accepted, endorsement"):
            APP.notifications.notify(ALICE, "poke", BOB, "hi", "")
    finally:
        set_backend(previous)


def test_a_user_keeps_the_newest_notifications_only(net: Net) -> None:
    cap = APP.notifications.MAX_KEPT
    previous = set_backend(net.c.backend)
    try:
        for n in range(cap + 3):
            APP.notifications.notify(ALICE, "reaction", BOB, f"n{n}", "post:1")
    finally:
        set_backend(previous)
    ids, cursor = [], None
    while True:
        page = net.call(ALICE, "my_notifications", cursor, 100)
        ids += [n.subject for n in page.notifications]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(ids) == cap and ids[0] == f"n{cap + 2}" and ids[-1] == "n3"
    assert page.unread == cap
    with pytest.raises(Reject, match="'x' is not a notification cursor"):
        net.call(ALICE, "my_notifications", "x", 10)


def test_anonymous_callers_have_no_notifications(net: Net) -> None:
    with pytest.raises(Reject, match="sign in first: notifications belong to a signed-in"):
        net.call(ANON, "my_notifications", None, 10)


def test_notifications_survive_an_upgrade(net: Net) -> None:
    post = net.post(ALICE, "a post")
    net.call(BOB, "add_comment", post.id, None, "kept")
    net.c.upgrade(None)
    net.c.backend.advance_time(TICK_NS)
    assert net.call(ALICE, "unread_notifications") == 1
    assert [k for k, _h, _r in notes(net, ALICE)] == [K.comment]
