"""Removing a message's content from every store that holds it.

Both a delete (`messages.delete_message`) and an expiry (`ephemeral.erase`) end in
`remove_content`: the message keeps its tombstone (id, author, times) and loses its
text, rendering, mentions, reactions, pin, search postings, attachments' bytes and poll.
"""

from __future__ import annotations

from icframework.sdk import Principal

from . import attachments, polls, thread_index
from .feed import touch_message
from .store import Message, Room, live, mention_index, pins, reactions, search_index
from .text import tokens

_LOWEST = Principal.management_canister()


def remove_content(room: Room, msg: Message, by: Principal) -> bool:
    """Strip ``msg`` to a tombstone deleted by ``by`` (the unlinking from the search,
    live, mention, reaction and pin stores is skipped when it is already a tombstone)
    and touch it; answer whether it is a thread reply whose root's counts changed, so
    the caller announces the root after publishing its own ``deleted`` event. The
    caller saves ``room``."""
    room_id = room.id
    if not msg.deleted:
        for token in tokens(msg.text):
            search_index.remove((token, room_id, msg.id))
        live.remove((room_id, msg.id))
        for user in msg.mentions:
            mention_index.remove((user, room_id, msg.id))
        for key, _at in list(reactions.range((room_id, msg.id, "", _LOWEST),
                                             (room_id, msg.id + 1, "", _LOWEST))):
            reactions.remove(key)
        if msg.pinned:
            pins.remove((room_id, msg.id))
            room.pin_count -= 1
    msg.text = msg.html = ""
    msg.mentions, msg.reactions, msg.sealed = [], [], None
    msg.deleted, msg.deleted_by, msg.pinned = True, by, False
    attachments.drop_message(room_id, msg.id)
    polls.drop_message(room_id, msg.id)
    touch_message(room, msg)
    return msg.thread_root is not None and thread_index.reply_deleted(room, msg)
