"""Scheduled messages in the chat canister on the test target (the SDK's durable timers)."""

from __future__ import annotations

import pytest

from apps.chat.tests import test_canister as base
from apps.chat.tests.test_canister import EVENTS, SECOND, As, Canister, drain, group, room_topic
from icframework.sdk import Reject

c, alice, bob, carol = base.c, base.alice, base.bob, base.carol
MINUTE = 60 * SECOND


def test_a_scheduled_message_is_posted_by_the_timer(c: Canister, alice: As,
                                                    bob: As) -> None:
    room = group(c, alice, bob)
    now = c.backend.now_ns
    later = alice.schedule_message(room, "  stand-up in 5  ", now + 10 * MINUTE)
    sooner = alice.schedule_message(room, "coffee?", now + 5 * MINUTE)
    assert later.text == "stand-up in 5"
    assert [s.id for s in alice.my_scheduled(None)] == [sooner.id, later.id]
    assert bob.my_scheduled(room) == []
    assert c.advance_time(4 * MINUTE) == 0
    assert alice.history(room, None, 10).messages == []
    drain(c)
    assert c.advance_time(2 * MINUTE) == 1
    posted = alice.history(room, None, 10).messages
    assert [(m.text, m.author) for m in posted] == [("coffee?", alice.who)]
    assert posted[0].created_at >= sooner.at
    if EVENTS:
        assert [e.tag for t, e in drain(c) if t == room_topic(room)] == ["message"]
    assert [s.id for s in alice.my_scheduled(room)] == [later.id]
    # timers are durable: an upgrade keeps the schedule
    c.upgrade(None)
    c.advance_time(5 * MINUTE)
    assert [m.text for m in alice.history(room, None, 10).messages] == [
        "coffee?", "stand-up in 5"]
    assert alice.my_scheduled(None) == []


def test_cancel_and_the_rules(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob)
    now = c.backend.now_ns
    item = alice.schedule_message(room, "never", now + MINUTE)
    with pytest.raises(Reject, match=f"you have no scheduled message {item.id}"):
        bob.cancel_scheduled(item.id)
    alice.cancel_scheduled(item.id)
    with pytest.raises(Reject, match=f"you have no scheduled message {item.id}"):
        alice.cancel_scheduled(item.id)
    c.advance_time(2 * MINUTE)
    assert alice.history(room, None, 10).messages == []
    with pytest.raises(Reject, match="in the future"):
        alice.schedule_message(room, "late", c.backend.now_ns)
    with pytest.raises(Reject, match="at most 366 days ahead"):
        alice.schedule_message(room, "far", c.backend.now_ns + 400 * 24 * 60 * MINUTE)
    with pytest.raises(Reject, match="needs some text"):
        alice.schedule_message(room, "  ", c.backend.now_ns + MINUTE)
    with pytest.raises(Reject, match="not a member"):
        carol.schedule_message(room, "hi", c.backend.now_ns + MINUTE)


def test_a_message_whose_author_left_is_dropped(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    bob.schedule_message(room, "see you", c.backend.now_ns + MINUTE)
    bob.leave_room(room)
    c.advance_time(2 * MINUTE)
    assert [m.text for m in alice.history(room, None, 10).messages] == []
    assert bob.my_scheduled(None) == []


def test_at_most_fifty_pending(c: Canister, alice: As) -> None:
    room = group(c, alice)
    at = c.backend.now_ns + MINUTE
    for i in range(50):
        c.update("schedule_message", room, f"m{i}", at + i, caller=alice.who)
    with pytest.raises(Reject, match="you have 50 scheduled messages already"):
        alice.schedule_message(room, "one more", at)
