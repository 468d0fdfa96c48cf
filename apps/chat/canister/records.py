"""The chat canister's public records: what its methods take and return.

These dataclasses and enums are the Candid interface (apps/chat/chat.did is generated
from them). They import nothing but the SDK, so a Python client can use the same hints
to decode replies and events (see `events`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from icframework.sdk import Principal, nat32, nat64


class Role(Enum):
    """A member's role in a group room (both sides of a direct room are ``member``)."""

    owner = "owner"
    admin = "admin"
    member = "member"


class RoomKind(Enum):
    direct = "direct"
    group = "group"


class MemberStatus(Enum):
    """What happened to a membership (the ``member`` event)."""

    joined = "joined"
    role_changed = "role_changed"
    left = "left"
    removed = "removed"
    banned = "banned"
    unbanned = "unbanned"


@dataclass
class InitArgs:
    """``@init``/``@post_upgrade`` argument: platform moderators (replaces the set when
    given at an upgrade) and the marketplace canister that may open order rooms
    (`orders`; null keeps the current one)."""

    moderators: list[Principal]
    marketplace: Principal | None = None


@dataclass
class Profile:
    user: Principal
    handle: str
    display_name: str
    bio: str
    created_at: nat64


@dataclass
class Presence:
    user: Principal
    last_seen: nat64 | None
    online: bool


@dataclass
class RoomView:
    """A room as every reader sees it. ``name`` is empty for direct rooms (show the
    peer); ``owner`` is null for them; ``direct_members`` lists their two users."""

    id: nat64
    kind: RoomKind
    name: str
    description: str
    public: bool
    owner: Principal | None
    created_by: Principal
    created_at: nat64
    member_count: nat32
    last_message_id: nat64
    last_activity: nat64
    seq: nat64
    direct_members: list[Principal]


@dataclass
class RoomUpdate:
    """`update_room`: the fields to change (null leaves a field as it is)."""

    name: str | None = None
    description: str | None = None
    public: bool | None = None


@dataclass
class Quote:
    """The message a reply answers, as it is now (``excerpt`` is raw text, empty when
    that message was deleted)."""

    message_id: nat64
    author: Principal
    author_handle: str
    excerpt: str
    deleted: bool


@dataclass
class ReactionView:
    """One emoji on a message: the exact count, whether the caller reacted (always false
    in events: follow ``reaction`` events instead) and up to 10 of the users."""

    emoji: str
    count: nat32
    me: bool
    users: list[Principal]


@dataclass
class MessageView:
    """A message. ``text`` is raw (as sent, stripped); ``html`` is the safe rendering
    (everything escaped, then a small markdown subset). A deleted message keeps its id,
    author and times with empty text/html/mentions/reactions."""

    id: nat64
    room_id: nat64
    author: Principal
    author_handle: str
    text: str
    html: str
    reply_to: nat64 | None
    quote: Quote | None
    mentions: list[Principal]
    reactions: list[ReactionView]
    edited: bool
    deleted: bool
    pinned: bool
    created_at: nat64
    edited_at: nat64 | None
    seq: nat64


@dataclass
class MyRoomView:
    """A room from its member's side: role, read marker, unread counts (capped at 100),
    mute flag, the last message and, for direct rooms, the other user."""

    room: RoomView
    role: Role
    read_up_to: nat64
    unread: nat32
    unread_mentions: nat32
    muted: bool
    last_message: MessageView | None
    peer: Profile | None


@dataclass
class HistoryPage:
    """Messages oldest first; ``next_before`` pages further back (null at the start);
    ``seq`` is the room's sequence number now (follow with `changes_since`)."""

    messages: list[MessageView]
    next_before: nat64 | None
    seq: nat64


@dataclass
class MemberView:
    user: Principal
    handle: str
    display_name: str
    role: Role
    joined_at: nat64
    read_up_to: nat64


@dataclass
class MembersPage:
    members: list[MemberView]
    next: Principal | None


@dataclass
class BanView:
    user: Principal
    handle: str
    banned_by: Principal
    banned_at: nat64
    reason: str


@dataclass
class InviteView:
    code: str
    room_id: nat64
    created_by: Principal
    created_at: nat64
    expires_at: nat64 | None
    max_uses: nat32 | None
    uses: nat32


@dataclass
class SearchHit:
    room_id: nat64
    room_name: str
    message: MessageView
