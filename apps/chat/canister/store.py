"""Durable state of the chat canister: stored records and the stable maps that hold them.

Nothing here is cached in Python; every map reads the canister's key-value store, so
state survives upgrades and rolled-back messages leave no trace. Keys are tuples so
that one range scan answers the common questions:

* ``messages[(room, id)]``, newest last: history pages are reverse scans;
* ``live[(room, id)] -> author`` holds only undeleted messages, small values, for
  unread counts;
* ``changes[(room, seq)]``: the room's change feed. A message has one entry, at its
  latest ``seq`` (the old one is dropped when it changes again), so `changes_since`
  returns each message once, as it is now; membership and room-setting changes are
  kept as the events that were published;
* ``search_index[(token, room, id)] -> created_at``: one posting per distinct word;
* ``members[(room, user)]`` and ``memberships[(user, room)]``: both directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import Field, Model, Principal, StableBTreeMap, StableCell, nat32, nat64

from .events import ChatEvent
from .records import Role, RoomKind, Sealed


@dataclass
class User:
    handle: str
    display_name: str
    bio: str
    created_at: nat64


@dataclass
class Room:
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
    invite_count: nat32
    pin_count: nat32


@dataclass
class Member:
    role: Role
    joined_at: nat64
    read_up_to: nat64
    muted: bool


@dataclass
class ReactionCount:
    emoji: str
    count: nat32
    sample: list[Principal]


@dataclass
class Message:
    id: nat64
    author: Principal
    text: str
    html: str
    reply_to: nat64 | None
    mentions: list[Principal]
    reactions: list[ReactionCount]
    edited: bool
    edited_at: nat64 | None
    deleted: bool
    deleted_by: Principal | None
    pinned: bool
    created_at: nat64
    seq: nat64
    thread_root: nat64 | None = None
    sealed: Sealed | None = None


@dataclass
class Thread:
    """A thread root's counters (``reply_count`` counts undeleted replies)."""

    reply_count: nat32
    last_reply_id: nat64
    last_reply_at: nat64


@dataclass
class Marks:
    """One member's receipt markers in a room: the highest message id delivered to
    (fetched by) and read by them."""

    delivered: nat64
    read: nat64


@dataclass
class Scheduled:
    """A message to post at ``at`` (nanoseconds) in ``room_id`` as ``author``."""

    room_id: nat64
    author: Principal
    text: str
    at: nat64
    created_at: nat64


@dataclass
class Change:
    """One entry of a room's change feed: a message (looked up when read) or an event."""

    message_id: nat64 | None
    event: ChatEvent | None


@dataclass
class Invite:
    room_id: nat64
    created_by: Principal
    created_at: nat64
    expires_at: nat64 | None
    max_uses: nat32 | None
    uses: nat32


@dataclass
class Ban:
    by: Principal
    at: nat64
    reason: str


class Report(Model):
    """A reported message, with the text as it was when reported (it may change later)."""

    room_id: nat64 = Field(index=True)
    message_id: nat64
    reporter: Principal
    author: Principal
    reason: str
    excerpt: str
    created_at: nat64
    resolved: bool = False
    resolved_by: Principal | None = None

    class Meta:
        table = "reports"


Key2 = tuple[nat64, nat64]
RoomUser = tuple[nat64, Principal]

# users
users = StableBTreeMap[Principal, User]("users")
handles = StableBTreeMap[str, Principal]("handles")
presence = StableBTreeMap[Principal, nat64]("presence")
blocks = StableBTreeMap[tuple[Principal, Principal], nat64]("blocks")
moderators = StableBTreeMap[Principal, bool]("moderators")
rate_log = StableBTreeMap[tuple[Principal, str], list[nat64]]("rate_log")

# rooms
room_counter = StableCell[nat64]("room_counter", default=0)
rooms = StableBTreeMap[nat64, Room]("rooms")
public_rooms = StableBTreeMap[nat64, bool]("public_rooms")
directs = StableBTreeMap[tuple[Principal, Principal], nat64]("directs")
members = StableBTreeMap[RoomUser, Member]("members")
memberships = StableBTreeMap[tuple[Principal, nat64], nat64]("memberships")
bans = StableBTreeMap[RoomUser, Ban]("bans")
invites = StableBTreeMap[str, Invite]("invites")
room_invites = StableBTreeMap[tuple[nat64, str], nat64]("room_invites")
entropy = StableCell[bytes]("entropy", default=b"")

# messages
messages = StableBTreeMap[Key2, Message]("messages")
live = StableBTreeMap[Key2, Principal]("live")
reactions = StableBTreeMap[tuple[nat64, nat64, str, Principal], nat64]("reactions")
mention_index = StableBTreeMap[tuple[Principal, nat64, nat64], nat64]("mention_index")
pins = StableBTreeMap[Key2, nat64]("pins")
changes = StableBTreeMap[Key2, Change]("changes")
search_index = StableBTreeMap[tuple[str, nat64, nat64], nat64]("search_index")
report_keys = StableBTreeMap[tuple[nat64, nat64, Principal], nat64]("report_keys")

# threads (see threads): live replies by root, counters, per-user read markers, followers
thread_replies = StableBTreeMap[tuple[nat64, nat64, nat64], Principal]("thread_replies")
threads = StableBTreeMap[Key2, Thread]("threads")
thread_reads = StableBTreeMap[tuple[nat64, nat64, Principal], nat64]("thread_reads")
thread_follows = StableBTreeMap[tuple[Principal, nat64, nat64], nat64]("thread_follows")

# per-user room folders (see folders)
archived = StableBTreeMap[tuple[Principal, nat64], nat64]("archived")
favourites = StableBTreeMap[tuple[Principal, nat64], nat64]("favourites")

# receipts (see receipts): markers per member and the two ordered indexes over them
marks = StableBTreeMap[RoomUser, Marks]("marks")
delivered_index = StableBTreeMap[tuple[nat64, nat64, Principal], nat64]("delivered_index")
read_index = StableBTreeMap[tuple[nat64, nat64, Principal], nat64]("read_index")

# scheduled messages (see schedule): by id, by (time, id) for the timer, by author
scheduled_counter = StableCell[nat64]("scheduled_counter", default=0)
scheduled = StableBTreeMap[nat64, Scheduled]("scheduled")
scheduled_due = StableBTreeMap[Key2, nat64]("scheduled_due")
scheduled_by_author = StableBTreeMap[tuple[Principal, nat64], nat64]("scheduled_by_author")

# end-to-end encryption (see e2e): each direct room's derived public key, once fetched
e2e_public_keys = StableBTreeMap[nat64, bytes]("e2e_public_keys")

MAX_ID = (1 << 64) - 1
"""The largest nat64: an exclusive upper bound for scans over one room's keys."""
