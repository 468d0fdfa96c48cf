"""Threads in the chat canister on the test target (see `test_canister`): replies, counts,
unread, events."""

from __future__ import annotations

import pytest

from apps.chat.tests import test_canister as base
from apps.chat.tests.test_canister import (
    CAROL,
    EVENTS,
    As,
    Canister,
    drain,
    group,
    in_process,
    publishes,
    room_topic,
)
from icframework.sdk import Reject

c, alice, bob, carol = base.c, base.alice, base.bob, base.carol


def test_a_thread_reply_stays_out_of_the_timeline_and_counts_on_its_root(
        c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    root = alice.send_message(room, "lunch plans?", None)
    after = alice.send_message(room, "also: the build is green", None)
    reply = bob.send_thread_reply(room, root.id, "pizza at noon")
    assert reply.thread_root == root.id and reply.thread is None
    timeline = alice.history(room, None, 50).messages
    assert [m.id for m in timeline] == [root.id, after.id]
    assert timeline[0].thread is not None
    assert (timeline[0].thread.reply_count, timeline[0].thread.last_reply_id) == (1, reply.id)
    page = alice.thread(room, root.id, None, 50)
    assert page.root.id == root.id and [m.text for m in page.replies] == ["pizza at noon"]
    # the room's unread count and last message ignore thread replies
    mine = next(v for v in alice.my_rooms() if v.room.id == room)
    assert mine.last_message.id == after.id


@publishes
def test_thread_events_are_live_and_in_the_change_feed(
        c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    root = alice.send_message(room, "root", None)
    seq = alice.history(room, None, 1).seq
    drain(c)
    reply = bob.send_thread_reply(room, root.id, "in the thread")
    events = [(t, e.tag, e.value) for t, e in drain(c) if t == room_topic(room)]
    tags = {tag: value for _t, tag, value in events}
    assert tags["message"].id == reply.id and tags["message"].thread_root == root.id
    assert tags["edited"].id == root.id and tags["edited"].thread.reply_count == 1
    # in seq order (clients drop an event older than one they have applied)
    assert [tag for _t, tag, _v in events] == ["message", "edited"]
    assert events[0][2].seq < events[1][2].seq
    changed = alice.changes_since(room, seq).events
    assert {(e.tag, e.value.id) for e in changed} == {("message", root.id),
                                                      ("message", reply.id)}
    bob.delete_message(room, reply.id)
    after = [(e.tag, e.value) for t, e in drain(c) if t == room_topic(room)]
    assert [tag for tag, _v in after] == ["deleted", "edited"]
    assert after[0][1].seq < after[1][1].seq and after[1][1].thread is None


def test_unread_per_thread_and_read_markers(c: Canister, alice: As, bob: As,
                                            carol: As) -> None:
    room = group(c, alice, bob, carol)
    first = alice.send_message(room, "first topic", None)
    second = alice.send_message(room, "second topic", None)
    bob.send_thread_reply(room, first.id, "one")
    last = bob.send_thread_reply(room, first.id, "two")
    carol.send_thread_reply(room, second.id, "three")
    threads = {t.root.id: t for t in alice.my_threads(None)}
    assert (threads[first.id].unread, threads[second.id].unread) == (2, 1)
    assert threads[first.id].reply_count == 2
    assert [t.root.id for t in alice.my_threads(room)] == [second.id, first.id]  # newest
    alice.mark_thread_read(room, first.id, last.id)
    assert alice.thread(room, first.id, None, 10).unread == 0
    assert {t.root.id: t.unread for t in alice.my_threads(None)}[second.id] == 1
    # carol follows only the thread she replied in; her own reply is not unread
    assert [(t.root.id, t.unread) for t in carol.my_threads(None)] == [(second.id, 0)]
    # reading a thread makes one follow it
    carol.mark_thread_read(room, first.id, last.id)
    assert {t.root.id for t in carol.my_threads(None)} == {first.id, second.id}


def test_deleting_replies_updates_the_count_and_paging(c: Canister, alice: As,
                                                       bob: As) -> None:
    room = group(c, alice, bob)
    root = alice.send_message(room, "root", None)
    replies = [bob.send_thread_reply(room, root.id, f"reply {i}") for i in range(5)]
    page = alice.thread(room, root.id, None, 2)
    assert [m.text for m in page.replies] == ["reply 3", "reply 4"]
    older = alice.thread(room, root.id, page.next_before, 10)
    assert [m.text for m in older.replies] == ["reply 0", "reply 1", "reply 2"]
    assert older.next_before is None
    bob.delete_message(room, replies[4].id)
    info = alice.message(room, root.id).thread
    assert (info.reply_count, info.last_reply_id) == (4, replies[3].id)
    assert len(alice.thread(room, root.id, None, 10).replies) == 4


def test_thread_rules(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob, public=False)
    root = alice.send_message(room, "root", None)
    reply = bob.send_thread_reply(room, root.id, "reply")
    with pytest.raises(Reject, match=f"is a thread reply: reply in its thread \\(root {root.id}"):
        alice.send_thread_reply(room, reply.id, "nested")
    with pytest.raises(Reject, match="there is no message 99"):
        alice.send_thread_reply(room, 99, "hello")
    with pytest.raises(Reject, match="a message needs some text"):
        alice.send_thread_reply(room, root.id, "   ")
    with pytest.raises(Reject, match="only its members can read it"):
        As(c, CAROL).thread(room, root.id, None, 10)
    with pytest.raises(Reject, match="not a member"):
        As(c, CAROL).send_thread_reply(room, root.id, "let me in")
    assert [h.message.id for h in alice.search(room, "reply", 10)] == [reply.id]


@in_process
def test_history_skips_a_long_thread_within_its_scan_bound(
        c: Canister, alice: As, bob: As, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base.APP.messages, "MAX_HISTORY_SCAN", 5)  # examine 5 per call
    room = group(c, alice, bob)
    early = [alice.send_message(room, f"early {i}", None) for i in range(2)]
    root = alice.send_message(room, "root", None)
    for i in range(6):
        c.backend.advance_time(2 * base.SECOND)  # under the message rate limit
        bob.send_thread_reply(room, root.id, f"reply {i}")
    first = alice.history(room, None, 10)
    assert first.messages == [] and first.next_before is not None  # 5 replies examined
    texts: list[str] = []
    page = first
    while page.next_before is not None:
        page = alice.history(room, page.next_before, 10)
        texts = [m.text for m in page.messages] + texts
    assert texts == ["early 0", "early 1", "root"]
    assert [m.id for m in early] == [1, 2]


def test_a_reply_that_disappears_leaves_its_thread(c: Canister, alice: As,
                                                   bob: As) -> None:
    room = group(c, alice, bob)
    root = alice.send_message(room, "root, before the room's messages disappear", None)
    alice.set_room_ttl(room, 10 * base.SECOND)
    bob.send_thread_reply(room, root.id, "gone soon")
    assert alice.message(room, root.id).thread.reply_count == 1
    drain(c)
    c.advance_time(11 * base.SECOND)
    if EVENTS:
        events = [(e.tag, e.value) for t, e in drain(c) if t == room_topic(room)]
        assert [tag for tag, _v in events] == ["deleted", "edited"]
        assert events[1][1].id == root.id and events[1][1].thread is None
    assert alice.message(room, root.id).thread is None
    assert alice.thread(room, root.id, None, 10).replies == []
