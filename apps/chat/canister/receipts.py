"""Delivered and read receipts: per-member markers, and who got or read a message.

How it works, and what it costs: a member has two markers per room (`store.Marks`),
the highest message id delivered to them (their page fetched it) and the highest they
read; both only move forward, and reading implies delivery. Nothing is stored per
message and recipient, so a message to a room of 10,000 members writes nothing for
receipts. Two ordered indexes, ``delivered_index[(room, marker, user)]`` and
``read_index``, answer "who has read message m" as one range scan from ``(room, m)``:
a `receipts` call examines at most `RECEIPT_COUNT_CAP` entries per list (counts stop
there and say so) and names the first `RECEIPT_SAMPLE` users. Moving a marker costs
two index writes. Live events are bounded too: ``read`` is published as before;
``delivered`` only in rooms of at most `RECEIPT_LIVE_MEMBERS` members.
"""

from __future__ import annotations

from itertools import islice

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat64, query, update

from .access import membership, readable_room
from .events import ChatEvent, ReadEvent
from .feed import publish_room
from .limits import RECEIPT_COUNT_CAP, RECEIPT_LIVE_MEMBERS, RECEIPT_SAMPLE
from .records import MemberMarks, Receipts
from .store import MAX_ID, Marks, Room, delivered_index, marks, members, messages, read_index
from .views import Views

_LOWEST = Principal.management_canister()


def _move(index: StableBTreeMap[tuple[int, int, Principal], int], room_id: int,
          user: Principal, old: int, new: int) -> None:
    index.remove((room_id, old, user))
    index[(room_id, new, user)] = ic.time()


def _marks(room_id: int, user: Principal) -> Marks:
    return marks.get((room_id, user)) or Marks(delivered=0, read=0)


def note_delivered(room: Room, user: Principal, up_to: int) -> bool:
    """Move ``user``'s delivered marker to ``up_to`` if that is forward; whether it moved."""
    found = _marks(room.id, user)
    if up_to <= found.delivered:
        return False
    _move(delivered_index, room.id, user, found.delivered, up_to)
    found.delivered = up_to
    marks[(room.id, user)] = found
    return True


def note_read(room: Room, user: Principal, up_to: int) -> None:
    """Move ``user``'s read marker (and so their delivered marker) to ``up_to``."""
    note_delivered(room, user, up_to)
    found = _marks(room.id, user)
    if up_to <= found.read:
        return
    _move(read_index, room.id, user, found.read, up_to)
    found.read = up_to
    marks[(room.id, user)] = found


def forget_member(room_id: int, user: Principal) -> None:
    """Drop the markers of a member who left (they no longer count as recipients)."""
    found = marks.remove((room_id, user))
    if found is not None:
        delivered_index.remove((room_id, found.delivered, user))
        read_index.remove((room_id, found.read, user))


@update
def mark_delivered(room_id: nat64, up_to: nat64) -> None:
    """The caller's page received the room's messages up to id ``up_to`` (never moves
    backwards). Publishes ``delivered`` in rooms of at most 50 members."""
    me, _, room, _member = membership(room_id)
    target = min(up_to, room.last_message_id)
    if note_delivered(room, me, target) and room.member_count <= RECEIPT_LIVE_MEMBERS:
        publish_room(room_id, ChatEvent(delivered=ReadEvent(room_id=room_id, user=me,
                                                            up_to=target)))


def _who(index: StableBTreeMap[tuple[int, int, Principal], int], room_id: int,
         message_id: int, author: Principal) -> tuple[int, list[Principal], bool]:
    scan = index.range((room_id, message_id, _LOWEST), (room_id, MAX_ID, _LOWEST),
                       limit=RECEIPT_COUNT_CAP + 1)
    users = [user for (_, _, user), _at in scan if user != author]
    capped = len(users) >= RECEIPT_COUNT_CAP
    return min(len(users), RECEIPT_COUNT_CAP), users[:RECEIPT_SAMPLE], capped


@query
def receipts(room_id: nat64, message_id: nat64) -> Receipts:
    """Who (besides its author) got and who read a message of a room the caller is a
    member of: exact counts up to 1,000 (``capped`` beyond) and the first 50 users of
    each list. Members who joined after the message count once they read past it."""
    _, _, room, _member = membership(room_id)
    msg = messages.get((room_id, message_id))
    if msg is None:
        raise Reject(f"there is no message {message_id} in room {room_id}")
    delivered, delivered_to, capped_d = _who(delivered_index, room_id, message_id,
                                             msg.author)
    read, read_by, capped_r = _who(read_index, room_id, message_id, msg.author)
    return Receipts(message_id=message_id, recipients=max(room.member_count - 1, 0),
                    delivered=delivered, read=read, delivered_to=delivered_to,
                    read_by=read_by, capped=capped_d or capped_r)


@query
def room_marks(room_id: nat64) -> list[MemberMarks]:
    """Every member's delivered and read markers, for rooms of at most 50 members
    (the page shows ticks from them; larger rooms use `receipts` per message)."""
    room = readable_room(room_id)
    if room.member_count > RECEIPT_LIVE_MEMBERS:
        raise Reject(f"room {room_id} has {room.member_count} members: markers are listed "
                     f"for rooms of at most {RECEIPT_LIVE_MEMBERS}; ask receipts(room, "
                     "message) instead")
    views = Views(None)
    out = []
    for (_, user), _member in islice(members.range((room_id, _LOWEST), (room_id + 1, _LOWEST)),
                                     RECEIPT_LIVE_MEMBERS):
        found = _marks(room_id, user)
        out.append(MemberMarks(user=user, handle=views.handle(user),
                               delivered=found.delivered, read=found.read))
    return out
