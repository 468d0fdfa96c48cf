"""Polls of the chat canister on the test target (see `test_canister`): single and
multiple choice, anonymous or not, changing a vote, closing by hand and at the close time
(a timer), and the checks."""

from __future__ import annotations

import pytest

from icframework.sdk import Reject

from . import test_canister as base
from .test_canister import APP, EVENTS, IN_PROCESS, SECOND, As, Canister, drain, group

alice, bob, c, carol = base.alice, base.bob, base.c, base.carol  # fixtures

PollInput = APP.media_records.PollInput
polls_mod = APP.polls


def counts(view: object) -> list[int]:
    return [o.votes for o in view.options]  # type: ignore[attr-defined]


def test_single_choice_poll_counts_votes_and_names_voters(
        c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    posted = alice.create_poll(room, PollInput("Lunch?", ["Pizza", " Sushi ", "Salad"],
                                               False, False, None))
    assert posted.text == "Lunch?"
    assert posted.poll.question == "Lunch?"
    assert [o.label for o in posted.poll.options] == ["Pizza", "Sushi", "Salad"]
    drain(c)

    assert counts(bob.vote(room, posted.id, [1])) == [0, 1, 0]
    mine = carol.vote(room, posted.id, [1])
    assert counts(mine) == [0, 2, 0] and mine.mine == [1] and mine.voters == 2
    assert sorted(mine.options[1].voters) == ["bob", "carol"]
    changed = bob.vote(room, posted.id, [0])
    assert counts(changed) == [1, 1, 0] and changed.options[0].voters == ["bob"]
    if EVENTS:
        edited = [e.value for _, e in drain(c) if e.tag == "edited"]
        assert [counts(e.poll) for e in edited] == [[0, 1, 0], [0, 2, 0], [1, 1, 0]]
        assert all(e.poll.mine == [] and not e.edited for e in edited)
    (synced,) = [e.value for e in alice.changes_since(room, posted.seq).events]
    assert counts(synced.poll) == [1, 1, 0] and synced.poll.mine == [] and not synced.edited
    assert alice.message(room, posted.id).poll.mine == []
    assert bob.message(room, posted.id).poll.mine == [0]

    with pytest.raises(Reject, match="this poll takes one option"):
        bob.vote(room, posted.id, [0, 2])
    with pytest.raises(Reject, match="options are numbered 0 to 2"):
        bob.vote(room, posted.id, [3])
    taken_back = bob.vote(room, posted.id, [])
    assert counts(taken_back) == [0, 1, 0] and taken_back.voters == 1
    assert bob.message(room, posted.id).poll.mine == []
    if IN_PROCESS:
        assert (room, posted.id, bob.who) not in polls_mod.votes


def test_anonymous_multiple_choice_poll_shows_counts_only(
        c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    posted = alice.create_poll(room, PollInput("Which days?", ["Mon", "Tue", "Wed"],
                                               True, True, None))
    bob.vote(room, posted.id, [0, 2])
    view = carol.vote(room, posted.id, [2, 1])
    assert counts(view) == [1, 1, 2] and view.voters == 2 and view.mine == [1, 2]
    assert all(o.voters == [] for o in view.options)
    with pytest.raises(Reject, match="an option is chosen twice"):
        bob.vote(room, posted.id, [1, 1])


def test_a_poll_closes_at_its_time_by_a_timer_and_by_hand(
        c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    closes = c.backend.now_ns + 60 * SECOND
    timed = alice.create_poll(room, PollInput("Quick?", ["Yes", "No"], False, False, closes))
    bob.vote(room, timed.id, [0])
    drain(c)
    assert c.advance_time(60 * SECOND) >= 1
    if EVENTS:
        final = [e.value for _, e in drain(c) if e.tag == "edited"]
        assert [(f.id, f.poll.closed, counts(f.poll)) for f in final] == [
            (timed.id, True, [1, 0])]
    closed = carol.message(room, timed.id).poll
    assert closed.closed and counts(closed) == [1, 0]
    with pytest.raises(Reject, match="this poll is closed"):
        carol.vote(room, timed.id, [1])

    other = bob.create_poll(room, PollInput("Again?", ["Yes", "No"], False, False, None))
    with pytest.raises(Reject, match="only the poll's author and the room's owner and admins"):
        carol.close_poll(room, other.id)
    assert alice.close_poll(room, other.id).closed  # the room's owner
    with pytest.raises(Reject, match="this poll is closed"):
        bob.vote(room, other.id, [1])


def test_poll_input_is_checked(c: Canister, alice: As, carol: As) -> None:
    room = group(c, alice)
    now = c.backend.now_ns
    bad = [
        (PollInput("", ["a", "b"], False, False, None), "a poll question is 1–300"),
        (PollInput("Q", ["only"], False, False, None), "a poll has 2–10 options, got 1"),
        (PollInput("Q", ["a", "A "], False, False, None), "two options of the poll"),
        (PollInput("Q", ["a", ""], False, False, None), "option 2 is 1–100 characters"),
        (PollInput("Q", ["a", "b"], False, False, now), "closes_at must be in the future"),
    ]
    for data, message in bad:
        with pytest.raises(Reject, match=message):
            alice.create_poll(room, data)
    with pytest.raises(Reject, match=f"you are not a member of room {room}"):
        carol.create_poll(room, PollInput("Q", ["a", "b"], False, False, None))
    plain = alice.send_message(room, "no poll here", None)
    with pytest.raises(Reject, match=f"message {plain.id} of room {room} has no poll"):
        alice.vote(room, plain.id, [0])


def test_deleting_a_poll_message_erases_the_votes(c: Canister, alice: As, bob: As
                                                  ) -> None:
    room = group(c, alice, bob)
    posted = alice.create_poll(room, PollInput("Q", ["a", "b"], False, False, None))
    bob.vote(room, posted.id, [1])
    alice.delete_message(room, posted.id)
    if IN_PROCESS:
        assert (room, posted.id) not in polls_mod.polls
        assert (room, posted.id, bob.who) not in polls_mod.votes
    assert alice.message(room, posted.id).poll is None
    with pytest.raises(Reject, match=f"message {posted.id} was deleted"):
        bob.vote(room, posted.id, [0])
