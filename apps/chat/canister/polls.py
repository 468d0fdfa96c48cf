"""Polls: their stored state, votes and the `PollView` readers see.

A poll is carried by a message (its text is the question; `compose.create_poll` posts
both). Single-choice polls take one option per voter, multiple-choice ones any non-empty
set; voting again replaces one's vote, an empty vote takes it back. Anonymous polls show
counts only: the canister keeps who voted what (to let a vote change and count each
person once) but no reader sees it. A poll closes at ``closes_at`` (a timer then
publishes its final state, `compose.close_due_polls`) or when its author or a room
admin closes it.

State: ``poll_polls[(room, message)]`` → `Poll` with per-option counts;
``poll_votes[(room, message, voter)]`` → the voter's options;
``poll_voters[(room, message, option, voter)]`` for the voter lists;
``poll_closing[(closes_at, room, message)]`` for the timer.
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat32, nat64

from .limits import (
    MAX_POLL_DURATION_NS,
    MAX_POLL_OPTION_CHARS,
    MAX_POLL_OPTIONS,
    MAX_POLL_QUESTION_CHARS,
    POLL_VOTER_SAMPLE,
)
from .media_records import PollInput, PollOptionView, PollView
from .store import users
from .text import clean

_LOWEST = Principal.management_canister()  # the smallest principal (no bytes)


@dataclass
class Poll:
    question: str
    options: list[str]
    counts: list[nat32]
    multiple: bool
    anonymous: bool
    closes_at: nat64 | None
    closed: bool
    voters: nat32


polls = StableBTreeMap[tuple[nat64, nat64], Poll]("poll_polls")
votes = StableBTreeMap[tuple[nat64, nat64, Principal], list[nat32]]("poll_votes")
voters = StableBTreeMap[tuple[nat64, nat64, nat32, Principal], nat64]("poll_voters")
closing = StableBTreeMap[tuple[nat64, nat64, nat64], bool]("poll_closing")


def checked(data: PollInput) -> Poll:
    """A new `Poll` from ``data``; `Reject` naming the first thing wrong with it."""
    question = " ".join(clean(data.question).split())
    if not 1 <= len(question) <= MAX_POLL_QUESTION_CHARS:
        raise Reject(f"a poll question is 1–{MAX_POLL_QUESTION_CHARS} characters, "
                     f"got {len(question)}")
    options = [" ".join(clean(o).split()) for o in data.options]
    if not 2 <= len(options) <= MAX_POLL_OPTIONS:
        raise Reject(f"a poll has 2–{MAX_POLL_OPTIONS} options, got {len(options)}")
    for n, option in enumerate(options):
        if not 1 <= len(option) <= MAX_POLL_OPTION_CHARS:
            raise Reject(f"option {n + 1} is 1–{MAX_POLL_OPTION_CHARS} characters, "
                         f"got {len(option)}")
    if len({o.casefold() for o in options}) != len(options):
        raise Reject("two options of the poll are the same")
    now = ic.time()
    if data.closes_at is not None and not now < data.closes_at <= now + MAX_POLL_DURATION_NS:
        raise Reject("closes_at must be in the future and at most 30 days away "
                     f"(nanoseconds since the epoch; now is {now})")
    return Poll(question=question, options=options, counts=[0] * len(options),
                multiple=data.multiple, anonymous=data.anonymous, closes_at=data.closes_at,
                closed=False, voters=0)


def is_closed(poll: Poll) -> bool:
    return poll.closed or (poll.closes_at is not None and ic.time() >= poll.closes_at)


def start(room_id: int, message_id: int, poll: Poll) -> None:
    polls[(room_id, message_id)] = poll
    if poll.closes_at is not None:
        closing[(poll.closes_at, room_id, message_id)] = True


def cast(room_id: int, message_id: int, voter: Principal, choices: list[int]) -> Poll:
    """Record ``voter``'s choices (replacing an earlier vote; empty: no vote)."""
    poll = polls.get((room_id, message_id))
    if poll is None:
        raise Reject(f"message {message_id} of room {room_id} has no poll")
    if is_closed(poll):
        raise Reject("this poll is closed")
    picked = sorted(set(choices))
    if len(picked) != len(choices):
        raise Reject("an option is chosen twice")
    if any(not 0 <= c < len(poll.options) for c in picked):
        raise Reject(f"options are numbered 0 to {len(poll.options) - 1}")
    if len(picked) > 1 and not poll.multiple:
        raise Reject("this poll takes one option")
    key = (room_id, message_id, voter)
    before = votes.get(key)
    for c in before or []:
        poll.counts[c] -= 1
        voters.remove((room_id, message_id, c, voter))
    now = ic.time()
    for c in picked:
        poll.counts[c] += 1
        voters[(room_id, message_id, c, voter)] = now
    if picked:
        votes[key] = picked
    else:
        votes.remove(key)
    poll.voters += (1 if picked else 0) - (1 if before else 0)
    polls[(room_id, message_id)] = poll
    return poll


def poll_view(room_id: int, message_id: int, viewer: Principal | None) -> PollView | None:
    """The poll a message carries as ``viewer`` sees it (None: no poll)."""
    poll = polls.get((room_id, message_id))
    if poll is None:
        return None
    options = []
    for n, label in enumerate(poll.options):
        names: list[str] = []
        if not poll.anonymous:
            for (_, _, _, user), _at in voters.range(
                    (room_id, message_id, n, _LOWEST), (room_id, message_id, n + 1, _LOWEST),
                    limit=POLL_VOTER_SAMPLE):
                record = users.get(user)
                names.append(record.handle if record is not None else user.to_text())
        options.append(PollOptionView(label=label, votes=poll.counts[n], voters=names))
    mine = [] if viewer is None else votes.get((room_id, message_id, viewer), [])
    return PollView(question=poll.question, options=options, multiple=poll.multiple,
                    anonymous=poll.anonymous, closes_at=poll.closes_at,
                    closed=is_closed(poll), voters=poll.voters, mine=list(mine))


def drop_message(room_id: int, message_id: int) -> bool:
    """Erase the poll of a message and every vote on it; whether there was one."""
    poll = polls.remove((room_id, message_id))
    if poll is None:
        return False
    if poll.closes_at is not None:
        closing.remove((poll.closes_at, room_id, message_id))
    for key, _ in list(votes.range((room_id, message_id, _LOWEST),
                                   (room_id, message_id + 1, _LOWEST))):
        votes.remove(key)
    for key2, _at in list(voters.range((room_id, message_id, 0, _LOWEST),
                                       (room_id, message_id + 1, 0, _LOWEST))):
        voters.remove(key2)
    return True
