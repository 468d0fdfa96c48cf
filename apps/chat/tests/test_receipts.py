"""Delivered/read receipts and archive/favourite folders in the chat canister, on the test
target (see `test_canister`)."""

from __future__ import annotations

import pytest

from apps.chat.tests import test_canister as base
from apps.chat.tests.test_canister import (
    ALICE,
    BOB,
    CAROL,
    EVENTS,
    SECOND,
    As,
    Canister,
    drain,
    group,
    in_process,
    room_topic,
)
from icframework.sdk import Principal, Reject

c, alice, bob, carol = base.c, base.alice, base.bob, base.carol


def test_receipts_follow_each_members_markers(c: Canister, alice: As, bob: As,
                                               carol: As) -> None:
    room = group(c, alice, bob, carol)
    first = alice.send_message(room, "hello both", None)
    second = alice.send_message(room, "anyone?", None)
    fresh = alice.receipts(room, first.id)
    assert (fresh.recipients, fresh.delivered, fresh.read) == (2, 0, 0)
    drain(c)
    bob.mark_delivered(room, second.id)
    if EVENTS:
        events = [(e.tag, e.value.user, e.value.up_to) for t, e in drain(c)
                  if t == room_topic(room)]
        assert events == [("delivered", BOB, second.id)]
    carol.mark_read(room, first.id)  # reading implies delivery
    got = alice.receipts(room, first.id)
    assert (got.delivered, got.read) == (2, 1)
    assert set(got.delivered_to) == {BOB, CAROL} and got.read_by == [CAROL]
    later = alice.receipts(room, second.id)
    assert (later.delivered_to, later.read_by) == ([BOB], [])
    marks = {m.user: (m.delivered, m.read) for m in alice.room_marks(room)}
    assert marks[BOB] == (second.id, 0) and marks[CAROL] == (first.id, first.id)
    assert marks[ALICE] == (second.id, second.id)  # sending reads one's own room
    # markers never move back, and a member who leaves stops counting
    bob.mark_delivered(room, first.id)
    assert alice.receipts(room, second.id).delivered_to == [BOB]
    carol.leave_room(room)
    assert alice.receipts(room, first.id).read_by == []


def test_receipts_need_membership_and_a_message(c: Canister, alice: As, bob: As,
                                                 carol: As) -> None:
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="there is no message 5"):
        alice.receipts(room, 5)
    alice.send_message(room, "hi", None)
    with pytest.raises(Reject, match="not a member"):
        carol.receipts(room, 1)
    with pytest.raises(Reject, match="not a member"):
        carol.mark_delivered(room, 1)


@in_process
def test_receipt_cost_is_bounded_in_a_large_room(c: Canister, alice: As,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base.APP.receipts, "RECEIPT_COUNT_CAP", 30)  # examine 30 at most
    room = group(c, alice)
    users = [Principal.self_authenticating(f"user {i}".encode()) for i in range(60)]
    for i, user in enumerate(users):
        c.update("register", f"user{i}", f"User {i}", caller=user)
        c.update("join_room", room, caller=user)
    msg = alice.send_message(room, "to everyone", None)
    drain(c)
    for user in users:
        c.update("mark_delivered", room, msg.id, caller=user)
    # more than 50 members: no live "delivered" events, and no marker listing
    assert [e.tag for _t, e in drain(c)] == []
    with pytest.raises(Reject, match="61 members: markers are listed for rooms of at "
                                     "most 50"):
        alice.room_marks(room)
    got = alice.receipts(room, msg.id)
    assert (got.recipients, got.delivered, got.capped) == (60, 30, True)
    assert len(got.delivered_to) == 30


def test_archive_and_favourite_are_per_user(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    other = group(c, alice, name="other")
    view = alice.set_favourite(room, True)
    assert (view.favourite, view.archived) == (True, False)
    assert alice.set_archived(other, True).archived
    mine = {v.room.id: (v.favourite, v.archived) for v in alice.my_rooms()}
    assert mine == {room: (True, False), other: (False, True)}
    assert {v.room.id: (v.favourite, v.archived) for v in bob.my_rooms()} == {
        room: (False, False)}
    # a new message leaves an archived room archived, with its unread count
    c.backend.advance_time(60 * SECOND)
    bob.join_room(other)
    bob.send_message(other, "ping", None)
    archived = next(v for v in alice.my_rooms() if v.room.id == other)
    assert archived.archived and archived.unread == 1
    assert not alice.set_archived(other, False).archived
    assert not alice.set_archived(other, False).archived  # idempotent
    with pytest.raises(Reject, match="not a member"):
        As(c, CAROL).set_favourite(room, True)
