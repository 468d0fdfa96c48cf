"""Messages that carry attachments or a poll, and the updates that change polls.

`send_attachments` and `create_poll` post an ordinary message (`messages.post_message` does the
checks, rate limit, events and mentions) after tying the attachments or the poll to the
id that message gets; a reject anywhere rolls the whole call back, so nothing is tied to
a message that was not posted. Votes and closing change the carrying message's view:
they publish ``edited`` with it (the message keeps its ``edited`` flag), so followers
and `changes_since` see polls change like any message.
"""

from __future__ import annotations

from icframework.sdk import Reject, ic, nat32, nat64, set_timer, update

from . import attachments, polls
from .access import membership
from .events import ChatEvent
from .feed import publish_room, save_room, touch_message
from .limits import VOTE_RATE
from .media_records import PollInput, PollView
from .messages import _live_message, post_message
from .ratelimit import check
from .records import MessageView, Role, RoomKind
from .store import messages, rooms
from .views import Views


@update
def send_attachments(room_id: nat64, text: str, reply_to: nat64 | None,
                     attachment_ids: list[nat64]) -> MessageView:
    """Post committed attachments (1–10, uploaded for this room by the caller) with an
    optional caption ``text`` (empty: the file names become the text)."""
    me, user, room, member = membership(room_id)
    if not attachment_ids:
        raise Reject("send at least one attachment (or use send_message)")
    claimed = attachments.claim(me, room_id, room.last_message_id + 1, list(attachment_ids))
    body = text if text.strip() else ", ".join(f"📎 {a.name}" for a in claimed)
    return post_message(me, user.handle, room, member, body, reply_to)


@update
def create_poll(room_id: nat64, poll: PollInput) -> MessageView:
    """Post a poll (its question is the message's text) to a room the caller is a member
    of; with ``closes_at``, a timer closes it then and publishes its final state."""
    me, user, room, member = membership(room_id)
    fresh = polls.checked(poll)
    polls.start(room_id, room.last_message_id + 1, fresh)
    if fresh.closes_at is not None:
        set_timer(fresh.closes_at - ic.time(), close_due_polls)
    return post_message(me, user.handle, room, member, fresh.question, None)


def _republish(room_id: int, message_id: int) -> None:
    """Give the poll's message a new ``seq`` and publish it as ``edited``."""
    room = rooms[room_id]
    msg = messages[(room_id, message_id)]
    touch_message(room, msg)
    save_room(room)
    publish_room(room_id, ChatEvent(edited=Views(None).message(room_id, msg)))


@update
def vote(room_id: nat64, message_id: nat64, choices: list[nat32]) -> PollView:
    """Vote in a poll of a room one is a member of: option numbers from 0, one for a
    single-choice poll; voting again replaces the vote, no choices take it back.
    Publishes ``edited`` with the poll's new counts."""
    me, _user, _room, _member = membership(room_id)
    _live_message(room_id, message_id)
    check(me, VOTE_RATE)
    polls.cast(room_id, message_id, me, list(choices))
    _republish(room_id, message_id)
    view = polls.poll_view(room_id, message_id, me)
    assert view is not None
    return view


@update
def close_poll(room_id: nat64, message_id: nat64) -> PollView:
    """Close a poll now (its author, or an owner/admin of the group)."""
    me, _user, room, member = membership(room_id)
    msg = _live_message(room_id, message_id)
    poll = polls.polls.get((room_id, message_id))
    if poll is None:
        raise Reject(f"message {message_id} of room {room_id} has no poll")
    manager = room.kind is RoomKind.group and member.role in (Role.owner, Role.admin)
    if msg.author != me and not manager:
        raise Reject("only the poll's author and the room's owner and admins can close it")
    if not polls.is_closed(poll):
        poll.closed = True
        polls.polls[(room_id, message_id)] = poll
        _republish(room_id, message_id)
    view = polls.poll_view(room_id, message_id, me)
    assert view is not None
    return view


def close_due_polls() -> None:
    """Timer: publish the final state of the polls whose closing time has come."""
    now = ic.time()
    for key, _ in list(polls.closing.range((0, 0, 0), (now + 1, 0, 0))):
        polls.closing.remove(key)
        _, room_id, message_id = key
        poll = polls.polls.get((room_id, message_id))
        msg = messages.get((room_id, message_id))
        if poll is None or msg is None or msg.deleted:
            continue
        poll.closed = True
        polls.polls[(room_id, message_id)] = poll
        _republish(room_id, message_id)
