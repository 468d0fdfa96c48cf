"""Thread bookkeeping that `messages` keeps as replies come and go.

A thread reply is an ordinary message of the room (same id space, so edits, deletes,
reactions and pins work on it) with ``thread_root`` set. It is kept out of the room's
timeline (`history`, ``live`` and the room's unread count) and indexed here instead:
``thread_replies[(room, root, id)]`` holds the undeleted replies, ``threads[(room,
root)]`` the root's counters, ``thread_follows[(user, room, root)]`` who follows a
thread (the root's author and everyone who replied) and ``thread_reads`` each user's
read marker in a thread. Every change to a thread then touches its root (`announce_root`:
a new ``seq`` and an ``edited`` event), so a room's change feed carries the new reply
count. Callers announce the root after publishing the reply's own event, so events go
out in ``seq`` order (clients drop an event older than one they have seen).
"""

from __future__ import annotations

from icframework.sdk import Principal, ic

from .events import ChatEvent
from .feed import publish_room, touch_message
from .store import (
    MAX_ID,
    Message,
    Room,
    Thread,
    messages,
    thread_follows,
    thread_reads,
    thread_replies,
    threads,
)
from .views import Views

_LOWEST = Principal.management_canister()


def follow(user: Principal, room_id: int, root_id: int) -> None:
    """Make ``user`` follow a thread (it shows in their `my_threads`)."""
    if (user, room_id, root_id) not in thread_follows:
        thread_follows[(user, room_id, root_id)] = ic.time()


def announce_root(room: Room, root_id: int) -> None:
    """Give a thread's root the next ``seq`` and publish it (``edited``, with the counts);
    the caller saves the room."""
    root = messages[(room.id, root_id)]
    touch_message(room, root)
    publish_room(room.id, ChatEvent(edited=Views(None).message(room.id, root)))


def reply_posted(room: Room, reply: Message) -> None:
    """Index a new reply (already stored) and count it on its root."""
    assert reply.thread_root is not None
    root = messages[(room.id, reply.thread_root)]
    thread_replies[(room.id, root.id, reply.id)] = reply.author
    found = threads.get((room.id, root.id)) or Thread(reply_count=0, last_reply_id=0,
                                                      last_reply_at=0)
    found.reply_count += 1
    found.last_reply_id, found.last_reply_at = reply.id, reply.created_at
    threads[(room.id, root.id)] = found
    follow(root.author, room.id, root.id)
    follow(reply.author, room.id, root.id)
    thread_reads[(room.id, root.id, reply.author)] = reply.id


def reply_deleted(room: Room, reply: Message) -> bool:
    """Take a deleted reply out of its thread's index and counters; whether it was in."""
    assert reply.thread_root is not None
    root_id = reply.thread_root
    if thread_replies.remove((room.id, root_id, reply.id)) is None:
        return False
    found = threads[(room.id, root_id)]
    found.reply_count -= 1
    newest = next(thread_replies.range((room.id, root_id, 0), (room.id, root_id, MAX_ID),
                                       reverse=True, limit=1), None)
    if newest is None:
        found.last_reply_id = found.last_reply_at = 0
    else:
        found.last_reply_id = newest[0][2]
        found.last_reply_at = messages[(room.id, found.last_reply_id)].created_at
    threads[(room.id, root_id)] = found
    return True


def forget_member(room_id: int, user: Principal) -> None:
    """Drop what ``user`` follows in a room they left (their read markers go too)."""
    for (_, _, root_id), _at in list(thread_follows.range((user, room_id, 0),
                                                          (user, room_id, MAX_ID))):
        thread_follows.remove((user, room_id, root_id))
        thread_reads.remove((room_id, root_id, user))
