"""Disappearing messages in plain CPython: a room's time-to-live set by its admins, and the
timer that erases expired messages, their attachments and polls from stable storage."""

from __future__ import annotations

import pytest

from icframework.sdk import LocalCanister, Reject

from . import test_canister as base
from .test_attachments import PNG, get, upload
from .test_canister import APP, SECOND, As, Role, drain, group

alice, bob, c, carol = base.alice, base.bob, base.c, base.carol  # fixtures

store = APP.store
limits = APP.limits
attachments_mod = APP.attachments
polls_mod = APP.polls
ephemeral_state = APP.ephemeral_state
PollInput = APP.media_records.PollInput
TTL = 30 * SECOND


def test_only_admins_set_the_ttl_within_bounds_and_the_room_shows_it(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="only the owner and admins can set disappearing"):
        bob.set_room_ttl(room, TTL)
    with pytest.raises(Reject, match="a time-to-live is 10 s to 30 days in nanoseconds"):
        alice.set_room_ttl(room, 9 * SECOND)
    alice.set_role(room, bob.who, Role.admin)
    drain(c)
    bob.set_room_ttl(room, TTL)
    events = drain(c)
    assert [e.value.ttl_ns for _, e in events if e.tag == "room"] == [TTL]
    assert alice.room(room).ttl_ns == TTL
    bob.set_room_ttl(room, TTL)
    assert drain(c) == []  # no change, no event
    alice.set_room_ttl(room, None)
    assert alice.room(room).ttl_ns is None


def test_either_user_of_a_direct_room_sets_its_ttl(c: LocalCanister, alice: As, bob: As
                                                   ) -> None:
    first = alice.send_direct("bob", "hi")
    bob.set_room_ttl(first.room_id, TTL)
    assert alice.room(first.room_id).ttl_ns == TTL


def test_expired_messages_are_erased_with_their_attachments_and_polls(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    kept = alice.send_message(room, "before the ttl: stays", None)
    alice.set_room_ttl(room, TTL)
    said = bob.send_message(room, "secret words for @alice", None)
    alice.add_reaction(room, said.id, "👍")
    alice.pin_message(room, said.id)
    report_id = alice.report(room, said.id, "spam")
    picture = upload(alice, room, PNG)
    shown = alice.send_attachments(room, "look", None, [picture.id])
    poll = bob.create_poll(room, PollInput("Q?", ["a", "b"], False, False, None))
    alice.vote(room, poll.id, [0])
    drain(c)
    assert whole_chunks(picture.id) == 3

    c.advance_time(said.created_at + TTL - 1 - c.backend.time())
    assert not [e for _, e in drain(c) if e.tag == "deleted"]
    c.advance_time(poll.created_at + TTL - c.backend.time())
    gone = [e.value for _, e in drain(c) if e.tag == "deleted"]
    assert [g.message_id for g in gone] == [said.id, shown.id, poll.id]
    canister = gone[0].by
    assert all(g.by == canister for g in gone)

    for message_id in (said.id, shown.id, poll.id):
        stored = store.messages[(room, message_id)]
        assert (stored.text, stored.html, stored.mentions, stored.reactions) == ("", "", [], [])
        assert stored.deleted and stored.deleted_by == canister
        assert (room, message_id) not in store.live
    assert not [k for k, _ in store.search_index.range(("secret", 0, 0), ("secret", 2**64 - 1, 0))]
    assert (alice.who, room, said.id) not in store.mention_index
    assert not list(store.reactions.range((room, said.id, "", alice.who),
                                          (room, said.id + 1, "", alice.who)))
    assert (room, said.id) not in store.pins
    assert alice.pinned(room) == []
    assert store.Report.objects.get(pk=report_id).excerpt == ""
    assert picture.id not in attachments_mod.meta
    assert whole_chunks(picture.id) == 0
    assert get(c, picture.path).status_code == 404
    assert (room, poll.id) not in polls_mod.polls
    assert (room, poll.id, alice.who) not in polls_mod.votes
    assert not list(ephemeral_state.due.range((0, 0, 0), (2**64 - 1, 0, 0)))

    page = bob.history(room, None, 10).messages
    assert [(m.id, m.expired) for m in page] == [
        (kept.id, False), (said.id, True), (shown.id, True), (poll.id, True)]
    assert page[0].text == "before the ttl: stays"
    assert [(m.attachments, m.poll) for m in page[1:]] == [([], None)] * 3
    replay = bob.changes_since(room, 0).events
    assert [e.value.message_id for e in replay if e.tag == "deleted"] == [
        said.id, shown.id, poll.id]


def test_messages_sent_after_the_ttl_is_lifted_stay(c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    alice.set_room_ttl(room, TTL)
    short = alice.send_message(room, "goes", None)
    alice.set_room_ttl(room, None)
    stays = alice.send_message(room, "stays", None)
    c.advance_time(2 * TTL)
    assert store.messages[(room, short.id)].text == ""
    assert store.messages[(room, stays.id)].text == "stays"


def whole_chunks(attachment_id: int) -> int:
    return len(list(attachments_mod.uploads.chunks.range((attachment_id, 0),
                                                         (attachment_id + 1, 0))))


def test_expiry_survives_an_upgrade(c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    alice.set_room_ttl(room, TTL)
    said = alice.send_message(room, "still goes after the upgrade", None)
    c.upgrade(None)
    assert alice.room(room).ttl_ns == TTL
    c.advance_time(said.created_at + TTL - c.backend.time())
    assert store.messages[(room, said.id)].text == ""
    assert alice.message(room, said.id).expired
