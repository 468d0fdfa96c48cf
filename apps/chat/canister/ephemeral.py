"""Disappearing messages: a room's time-to-live and the timer that erases expired messages.

A room's owner or admins (either member of a direct room) set a time-to-live
(`set_room_ttl`, `MIN_ROOM_TTL_NS` to `MAX_ROOM_TTL_NS`, or null to stop). Every message
posted while it is set expires that long after it was sent (`schedule`, called as each
message is stored; changing the TTL does not change messages already sent). One
one-shot timer is armed for the earliest expiry; when it fires (`sweep_expired`) each
due message is erased (`erase`): its text, rendering, mentions, reactions, pin, search
postings, the excerpts of reports about it, its attachments' bytes and its poll with
the votes are removed from stable storage. What stays is the tombstone every deleted
message leaves (id, author, times), marked expired so pages hide it, and the
``deleted`` event (``by`` is the canister itself) that tells followers to drop it.

State is in `ephemeral_state`.
"""

from __future__ import annotations

from icframework.sdk import (
    Reject,
    ic,
    nat64,
    set_timer,
    update,
)

from . import thread_index
from .access import membership, require_manager
from .ephemeral_state import armed, due, room_ttls
from .erasure import remove_content
from .events import ChatEvent, DeletedEvent
from .feed import next_seq, publish_room, record, save_room
from .limits import EXPIRE_BATCH, MAX_ROOM_TTL_NS, MIN_ROOM_TTL_NS, SECOND
from .records import RoomKind
from .store import (
    MAX_ID,
    Message,
    Report,
    Room,
    messages,
    rooms,
)
from .views import room_view


@update
def set_room_ttl(room_id: nat64, ttl_ns: nat64 | None) -> None:
    """Make messages sent from now on disappear ``ttl_ns`` after they are sent (10 s to
    30 days; null: they stay). Owner and admins of a group, either user of a direct
    room. Publishes ``room`` (its ``ttl_ns`` is the new value)."""
    _me, _user, room, member = membership(room_id)
    if room.kind is RoomKind.group:
        require_manager(room, member, "set disappearing messages")
    if ttl_ns is not None and not MIN_ROOM_TTL_NS <= ttl_ns <= MAX_ROOM_TTL_NS:
        raise Reject(f"a time-to-live is {MIN_ROOM_TTL_NS // SECOND} s to "
                     f"{MAX_ROOM_TTL_NS // (24 * 3600 * SECOND)} days in nanoseconds, "
                     f"got {ttl_ns}")
    if room_ttls.get(room_id) == ttl_ns:
        return
    if ttl_ns is None:
        room_ttls.remove(room_id)
    else:
        room_ttls[room_id] = ttl_ns
    next_seq(room)
    record(room, ChatEvent(room=room_view(room)))
    save_room(room)


def schedule(room_id: int, msg: Message) -> None:
    """Called as a message is posted: note its expiry if the room has a TTL."""
    ttl = room_ttls.get(room_id)
    if ttl is None:
        return
    expires_at = msg.created_at + ttl
    due[(expires_at, room_id, msg.id)] = True
    _arm(expires_at)


def _arm(deadline: int) -> None:
    current = armed.get()
    if current and current <= deadline:
        return
    armed.set(deadline)
    set_timer(max(0, deadline - ic.time()), sweep_expired)


def sweep_expired() -> None:
    """Timer: erase the messages whose time has come, then arm for the next expiry."""
    armed.set(0)
    now = ic.time()
    found = list(due.range((0, 0, 0), (now + 1, 0, 0), limit=EXPIRE_BATCH))
    for key, _ in found:
        due.remove(key)
        _, room_id, message_id = key
        room = rooms.get(room_id)
        msg = messages.get((room_id, message_id))
        if room is not None and msg is not None:
            erase(room, msg)
            save_room(room)
    following = next(due.range((0, 0, 0), (MAX_ID, 0, 0), limit=1), None)
    if following is not None:
        _arm(following[0][0])


def erase(room: Room, msg: Message) -> None:
    """Remove everything ``msg`` said and carried (see the module docstring), leave an
    expired tombstone and publish ``deleted``; the caller saves ``room``."""
    room_id = room.id
    for report in Report.objects.filter(room_id=room_id):
        if report.message_id == msg.id and report.excerpt:
            report.excerpt = ""
            report.save()
    in_thread = remove_content(room, msg, ic.id())
    publish_room(room_id, ChatEvent(deleted=DeletedEvent(
        room_id=room_id, message_id=msg.id, by=ic.id(), seq=msg.seq)))
    if in_thread:  # the root's new counts, after the reply's own event (seq order)
        assert msg.thread_root is not None
        thread_index.announce_root(room, msg.thread_root)
