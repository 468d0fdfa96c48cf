"""Scheduled messages: post a text later, from a canister timer.

How it works: `schedule_message` stores the message (``scheduled[id]``) and indexes it
by time (``scheduled_due[(at, id)]``), then sets a one-shot timer for ``at``. Timers are
durable (the SDK keeps their queue in stable storage), so a schedule survives upgrades.
When a timer fires, `post_due` posts every due message in time order (at most
`SCHEDULED_BATCH` per run; it sets a timer for the rest) through the same path as
`send_message`, as their authors: the text is checked again, and a message whose author
has left the room, or is blocked in a direct room, is dropped (reported through the
canister's debug log). A posted message is an ordinary message, with the time it was
posted. Only plain text can be scheduled: an end-to-end-encrypted body would need the
page at posting time.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat64, query, set_timer, update

from .access import membership, require_user
from .limits import (
    MAX_SCHEDULE_AHEAD_NS,
    MAX_SCHEDULED_PER_USER,
    MAX_TEXT_CHARS,
    SCHEDULED_BATCH,
)
from .messages import post_message
from .records import ScheduledView
from .store import (
    MAX_ID,
    Scheduled,
    members,
    rooms,
    scheduled,
    scheduled_by_author,
    scheduled_counter,
    scheduled_due,
    users,
)
from .text import clean


def _view(scheduled_id: int, item: Scheduled) -> ScheduledView:
    return ScheduledView(id=scheduled_id, room_id=item.room_id, text=item.text, at=item.at,
                         created_at=item.created_at)


def _pending_of(user: Principal) -> list[tuple[int, Scheduled]]:
    return [(i, scheduled[i]) for (_, i), _at in scheduled_by_author.range((user, 0),
                                                                          (user, MAX_ID))]


def _unschedule(scheduled_id: int, item: Scheduled) -> None:
    scheduled.remove(scheduled_id)
    scheduled_due.remove((item.at, scheduled_id))
    scheduled_by_author.remove((item.author, scheduled_id))


@update
def schedule_message(room_id: nat64, text: str, at: nat64) -> ScheduledView:
    """Post ``text`` to a room of the caller's at time ``at`` (nanoseconds since the
    epoch; in the future, at most 366 days ahead). At most 50 pending per user."""
    me, _, _room, _member = membership(room_id)
    body = clean(text)
    if not body:
        raise Reject("a message needs some text")
    if len(body) > MAX_TEXT_CHARS:
        raise Reject(f"a message is at most {MAX_TEXT_CHARS} characters, got {len(body)}")
    now = ic.time()
    if at <= now:
        raise Reject(f"schedule a message in the future: {at} is not after now ({now} ns)")
    if at - now > MAX_SCHEDULE_AHEAD_NS:
        raise Reject("a message can be scheduled at most 366 days ahead")
    pending = sum(1 for _ in scheduled_by_author.range((me, 0), (me, MAX_ID),
                                                       limit=MAX_SCHEDULED_PER_USER))
    if pending >= MAX_SCHEDULED_PER_USER:
        raise Reject(f"you have {MAX_SCHEDULED_PER_USER} scheduled messages already; "
                     "cancel one first")
    scheduled_id = scheduled_counter.get() + 1
    scheduled_counter.set(scheduled_id)
    item = Scheduled(room_id=room_id, author=me, text=body, at=at, created_at=now)
    scheduled[scheduled_id] = item
    scheduled_due[(at, scheduled_id)] = room_id
    scheduled_by_author[(me, scheduled_id)] = at
    set_timer(at - now, post_due)
    return _view(scheduled_id, item)


@update
def cancel_scheduled(scheduled_id: nat64) -> None:
    """Cancel one of the caller's scheduled messages before it is posted."""
    me, _ = require_user()
    item = scheduled.get(scheduled_id)
    if item is None or item.author != me:
        raise Reject(f"you have no scheduled message {scheduled_id} (posted, cancelled or "
                     "never made)")
    _unschedule(scheduled_id, item)


@query
def my_scheduled(room_id: nat64 | None) -> list[ScheduledView]:
    """The caller's pending scheduled messages (in one room, or all), soonest first."""
    me, _ = require_user()
    found = [_view(i, s) for i, s in _pending_of(me) if room_id is None or s.room_id == room_id]
    return sorted(found, key=lambda v: (v.at, v.id))


def post_due() -> None:
    """Timer callback: post the scheduled messages whose time has come."""
    now = ic.time()
    due = list(scheduled_due.range((0, 0), (now + 1, 0), limit=SCHEDULED_BATCH + 1))
    for (_at, scheduled_id), room_id in due[:SCHEDULED_BATCH]:
        item = scheduled[scheduled_id]
        _unschedule(scheduled_id, item)
        room = rooms.get(room_id)
        member = members.get((room_id, item.author))
        user = users.get(item.author)
        if room is None or member is None or user is None:
            ic.print(f"scheduled message {scheduled_id} dropped: its author is no longer "
                     f"in room {room_id}")
            continue
        try:
            post_message(item.author, user.handle, room, member, item.text, None)
        except Reject as refused:
            ic.print(f"scheduled message {scheduled_id} dropped: {refused}")
    if len(due) > SCHEDULED_BATCH:
        set_timer(0, post_due)
