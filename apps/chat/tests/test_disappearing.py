"""Disappearing messages on the test target (see `test_canister`): a room's time-to-live
set by its admins, and the timer that erases expired messages, their attachments and polls
from stable storage (read directly where the canister runs in this process)."""

from __future__ import annotations

import pytest

from icframework.sdk import Principal, Reject

from . import test_canister as base
from .test_attachments import PNG, get, upload
from .test_canister import APP, EVENTS, IN_PROCESS, SECOND, As, Canister, Role, drain, group

alice, bob, c, carol = base.alice, base.bob, base.c, base.carol  # fixtures

store = APP.store
limits = APP.limits
attachments_mod = APP.attachments
polls_mod = APP.polls
ephemeral_state = APP.ephemeral_state
PollInput = APP.media_records.PollInput
TTL = 30 * SECOND
MOMENT = SECOND // 1000


def test_only_admins_set_the_ttl_within_bounds_and_the_room_shows_it(
        c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="only the owner and admins can set disappearing"):
        bob.set_room_ttl(room, TTL)
    with pytest.raises(Reject, match="a time-to-live is 10 s to 30 days in nanoseconds"):
        alice.set_room_ttl(room, 9 * SECOND)
    alice.set_role(room, bob.who, Role.admin)
    drain(c)
    bob.set_room_ttl(room, TTL)
    if EVENTS:
        assert [e.value.ttl_ns for _, e in drain(c) if e.tag == "room"] == [TTL]
    assert alice.room(room).ttl_ns == TTL
    bob.set_room_ttl(room, TTL)
    assert drain(c) == []  # no change, no event
    alice.set_room_ttl(room, None)
    assert alice.room(room).ttl_ns is None


def test_either_user_of_a_direct_room_sets_its_ttl(c: Canister, alice: As, bob: As
                                                   ) -> None:
    first = alice.send_direct("bob", "hi")
    bob.set_room_ttl(first.room_id, TTL)
    assert alice.room(first.room_id).ttl_ns == TTL


def test_expired_messages_are_erased_with_their_attachments_and_polls(
        c: Canister, alice: As, bob: As) -> None:
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
    if IN_PROCESS:
        assert whole_chunks(picture.id) == 3

    # a moment before (a replica's every round moves its time a nanosecond or more)
    c.advance_time(said.created_at + TTL - MOMENT - c.backend.now_ns)
    assert not [e for _, e in drain(c) if e.tag == "deleted"]
    assert not bob.message(room, said.id).expired
    c.advance_time(poll.created_at + TTL - c.backend.now_ns)
    if EVENTS:
        gone = [e.value for _, e in drain(c) if e.tag == "deleted"]
        assert [g.message_id for g in gone] == [said.id, shown.id, poll.id]
        assert all(g.by == c.canister_id for g in gone)
    assert get(c, picture.path).status_code == 404
    assert alice.pinned(room) == []
    if IN_PROCESS:
        erased_in_every_store(room, [said.id, shown.id, poll.id], alice.who, report_id,
                              picture.id, c.canister_id)

    page = bob.history(room, None, 10).messages
    assert [(m.id, m.expired) for m in page] == [
        (kept.id, False), (said.id, True), (shown.id, True), (poll.id, True)]
    assert page[0].text == "before the ttl: stays"
    assert [(m.attachments, m.poll) for m in page[1:]] == [([], None)] * 3
    replay = bob.changes_since(room, 0).events
    deleted = [e.value for e in replay if e.tag == "deleted"]
    assert [d.message_id for d in deleted] == [said.id, shown.id, poll.id]
    assert all(d.by == c.canister_id for d in deleted)


def erased_in_every_store(room: int, message_ids: list[int], reactor: Principal,
                          report_id: int, picture_id: int, canister: Principal) -> None:
    """The expired messages are tombstones in every stable structure that held them."""
    said_id, _shown_id, poll_id = message_ids
    for message_id in message_ids:
        stored = store.messages[(room, message_id)]
        assert (stored.text, stored.html, stored.mentions, stored.reactions) == ("", "", [], [])
        assert stored.deleted and stored.deleted_by == canister
        assert (room, message_id) not in store.live
    assert not [k for k, _ in store.search_index.range(("secret", 0, 0), ("secret", 2**64 - 1, 0))]
    assert (reactor, room, said_id) not in store.mention_index
    assert not list(store.reactions.range((room, said_id, "", reactor),
                                          (room, said_id + 1, "", reactor)))
    assert (room, said_id) not in store.pins
    assert store.Report.objects.get(pk=report_id).excerpt == ""
    assert picture_id not in attachments_mod.meta
    assert whole_chunks(picture_id) == 0
    assert (room, poll_id) not in polls_mod.polls
    assert (room, poll_id, reactor) not in polls_mod.votes
    assert not list(ephemeral_state.due.range((0, 0, 0), (2**64 - 1, 0, 0)))


def test_messages_sent_after_the_ttl_is_lifted_stay(c: Canister, alice: As) -> None:
    room = group(c, alice)
    alice.set_room_ttl(room, TTL)
    short = alice.send_message(room, "goes", None)
    alice.set_room_ttl(room, None)
    stays = alice.send_message(room, "stays", None)
    c.advance_time(2 * TTL)
    assert alice.message(room, short.id).expired and alice.message(room, short.id).text == ""
    assert alice.message(room, stays.id).text == "stays"
    if IN_PROCESS:
        assert store.messages[(room, short.id)].text == ""
        assert store.messages[(room, stays.id)].text == "stays"


def whole_chunks(attachment_id: int) -> int:
    return len(list(attachments_mod.uploads.chunks.range((attachment_id, 0),
                                                         (attachment_id + 1, 0))))


def test_expiry_survives_an_upgrade(c: Canister, alice: As) -> None:
    room = group(c, alice)
    alice.set_room_ttl(room, TTL)
    said = alice.send_message(room, "still goes after the upgrade", None)
    c.upgrade(None)
    assert alice.room(room).ttl_ns == TTL
    c.advance_time(said.created_at + TTL - c.backend.now_ns)
    if IN_PROCESS:
        assert store.messages[(room, said.id)].text == ""
    assert alice.message(room, said.id).expired
