"""The stable state of disappearing messages (see `ephemeral`): room TTLs and expiries.

``ttl_rooms[room]`` → time-to-live in ns; ``ttl_due[(expires_at, room, message)]``;
``ttl_armed``: the deadline the expiry timer is armed for (0: none). Kept apart from
`ephemeral` so the view builders can read it without importing the timer's code.
"""

from __future__ import annotations

from icframework.sdk import StableBTreeMap, StableCell, ic, nat64

from .store import Message

room_ttls = StableBTreeMap[nat64, nat64]("ttl_rooms")
due = StableBTreeMap[tuple[nat64, nat64, nat64], bool]("ttl_due")
armed = StableCell[nat64]("ttl_armed", default=0)


def expired(msg: Message) -> bool:
    """Whether ``msg`` is the tombstone of a message that disappeared at its TTL (the
    canister itself deleted it)."""
    return msg.deleted and msg.deleted_by == ic.id()
