"""Publishing events and keeping each room's change feed (see `store.changes`).

Every change that viewers should see bumps the room's ``seq`` and publishes one
`ChatEvent` to ``room:<id>``; the same change is written to the feed so
`changes_since` can replay it. The caller saves the `Room` (its ``seq`` changed).

Every publish goes through `publish_room` or `publish_user`, which skip it where the
backend delivers no events (the IC target: ``events.supported()`` is False); clients
there poll `changes_since`, which the feed serves on both targets.
"""

from __future__ import annotations

from icframework.sdk import Principal, events, ic

from .events import ChatEvent
from .store import Change, Message, Room, changes, messages, rooms


def room_topic(room_id: int) -> str:
    return f"room:{room_id}"


def user_topic(user: Principal) -> str:
    return f"user:{user.to_text()}"


def publish_room(room_id: int, event: ChatEvent) -> None:
    if events.supported():
        ic.publish(room_topic(room_id), event, ChatEvent)


def publish_user(user: Principal, event: ChatEvent) -> None:
    if events.supported():
        ic.publish(user_topic(user), event, ChatEvent)


def next_seq(room: Room) -> int:
    room.seq += 1
    return room.seq


def record(room: Room, event: ChatEvent) -> None:
    """Keep ``event`` (built with ``room.seq`` from `next_seq`) in the feed and publish it."""
    changes[(room.id, room.seq)] = Change(message_id=None, event=event)
    publish_room(room.id, event)


def touch_message(room: Room, msg: Message) -> None:
    """Give ``msg`` the next ``seq``, move its feed entry there and store it."""
    old = msg.seq
    msg.seq = next_seq(room)
    if old:
        changes.remove((room.id, old))
    changes[(room.id, msg.seq)] = Change(message_id=msg.id, event=None)
    messages[(room.id, msg.id)] = msg


def save_room(room: Room) -> None:
    rooms[room.id] = room
