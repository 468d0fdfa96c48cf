"""The chat canister's public records: what its methods take and return.

These dataclasses and enums are the Candid interface (apps/chat/chat.did is generated
from them). They import nothing but the SDK, so a Python client can use the same hints
to decode replies and events (see `events`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from icframework.sdk import Principal, nat32, nat64

from .media_records import AttachmentView, PollView


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
    peer); ``owner`` is null for them; ``direct_members`` lists their two users.
    ``ttl_ns``: messages sent now disappear this long after (null: they stay)."""

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
    ttl_ns: nat64 | None = None


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
class ThreadInfo:
    """A thread root's summary: undeleted replies, the newest reply's id and time."""

    reply_count: nat32
    last_reply_id: nat64
    last_reply_at: nat64


@dataclass
class Sealed:
    """An end-to-end-encrypted body: AES-GCM ``ciphertext`` (with its tag) and the
    12-byte ``nonce``. Only the conversation's members can derive the key (vetKD)."""

    ciphertext: bytes
    nonce: bytes


@dataclass
class MessageView:
    """A message. ``text`` is raw (as sent, stripped); ``html`` is the safe rendering
    (everything escaped, then a small markdown subset). A deleted message keeps its id,
    author and times with empty text/html/mentions/reactions. A thread reply has
    ``thread_root``; a root with replies has ``thread``. An end-to-end-encrypted message
    has ``sealed`` and empty text/html (the page decrypts it). ``attachments`` and
    ``poll`` are what the message carries; ``expired`` marks the tombstone of a message
    that disappeared at its room's time-to-live (pages hide it)."""

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
    thread_root: nat64 | None = None
    thread: ThreadInfo | None = None
    sealed: Sealed | None = None
    attachments: list[AttachmentView] = field(default_factory=list)
    poll: PollView | None = None
    expired: bool = False


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
    archived: bool = False
    favourite: bool = False


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


@dataclass
class ThreadPage:
    """`thread`: the root, replies oldest first (``next_before`` pages back), the
    caller's read marker in the thread and their unread replies (capped at 100)."""

    root: MessageView
    replies: list[MessageView]
    next_before: nat64 | None
    read_up_to: nat64
    unread: nat32


@dataclass
class ThreadView:
    """A thread the caller follows (`my_threads`), with their unread replies."""

    room_id: nat64
    room_name: str
    root: MessageView
    reply_count: nat32
    last_reply_at: nat64
    unread: nat32


@dataclass
class Receipts:
    """`receipts`: of a message's ``recipients`` (the other members now), how many got
    it and how many read it; the first 50 of each; ``capped`` when a count stopped at
    1,000."""

    message_id: nat64
    recipients: nat32
    delivered: nat32
    read: nat32
    delivered_to: list[Principal]
    read_by: list[Principal]
    capped: bool


@dataclass
class MemberMarks:
    """A member's receipt markers: the highest message id delivered to and read by them."""

    user: Principal
    handle: str
    delivered: nat64
    read: nat64


@dataclass
class ScheduledView:
    """A message waiting to be posted at ``at`` (nanoseconds since the epoch)."""

    id: nat64
    room_id: nat64
    text: str
    at: nat64
    created_at: nat64


@dataclass
class E2eKey:
    """`e2e_key`: the caller's vetKey for a direct room, encrypted to their transport
    key (192 bytes), with the room's derived public key (96 bytes) to verify it and the
    ``input`` it was derived for. The page decrypts it in the browser."""

    room_id: nat64
    encrypted_key: bytes
    public_key: bytes
    input: bytes
    context: bytes
