"""The video canister's social records: profiles, counters, comments, tips, reports, notifications.

These dataclasses and enums are part of the Candid interface (apps/video/video.did is
generated from them). Texts are plain text, cleaned by `safety.clean`: the page shows
them with ``textContent``. Times are nanoseconds since the epoch (``ic.time()``);
token amounts are the ledger's smallest unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from icframework.sdk import Principal, nat, nat32, nat64, variant

# -- people ---------------------------------------------------------------------------------


@dataclass
class Profile:
    """A stored profile: the handle is chosen once at ``register``."""

    user: Principal
    handle: str
    name: str
    bio: str
    created_at: nat64
    updated_at: nat64


@dataclass
class ProfileInput:
    """The editable fields of a profile."""

    name: str
    bio: str


@dataclass
class ProfileCard:
    """What lists, comments and notifications show of a person."""

    principal: Principal
    handle: str
    name: str


@dataclass
class ProfileView:
    """A profile as the caller sees it: counts, and the caller's relation to it."""

    principal: Principal
    handle: str
    name: str
    bio: str
    followers: nat32
    following: nat32
    videos: nat32
    likes_received: nat64
    followed_by_me: bool
    follows_me: bool
    blocked_by_me: bool
    created_at: nat64


@dataclass
class PeoplePage:
    """One page of followers or following; pass ``next`` back for the next page."""

    items: list[ProfileView]
    next: str | None


@dataclass
class Counts:
    """A user's counters (stored; never below zero). ``videos`` counts ready videos."""

    followers: nat32 = 0
    following: nat32 = 0
    videos: nat32 = 0
    likes_received: nat64 = 0


# -- videos' social state -------------------------------------------------------------------


@dataclass
class VideoStats:
    """A video's engagement counters. ``watch_ms`` sums the watch time of counted views
    (each capped at the duration); ``completions`` counts views watched to
    `limits.COMPLETION_PERCENT`; ``reports`` counts distinct reporters."""

    likes: nat64 = 0
    super_likes: nat64 = 0
    comments: nat64 = 0
    shares: nat64 = 0
    views: nat64 = 0
    watch_ms: nat64 = 0
    completions: nat64 = 0
    reports: nat64 = 0


@dataclass
class VideoLive:
    """The live counters published on ``video:<id>`` after a like, comment or view."""

    video_id: nat64
    likes: nat64
    comments: nat64
    views: nat64


@dataclass
class SeenRecord:
    """A user's latest counted view of a video: when it was counted, and its watch time
    (reports within `limits.VIEW_DEDUP_WINDOW` update this view)."""

    at: nat64
    watched_ms: nat64


@dataclass
class Comment:
    """A stored comment; ``parent`` is the root comment a reply answers (one level)."""

    id: nat64
    video_id: nat64
    author: Principal
    parent: nat64 | None
    text: str
    created_at: nat64
    likes: nat32
    replies: nat32


@dataclass
class CommentView:
    id: nat64
    video_id: nat64
    author: ProfileCard
    parent: nat64 | None
    text: str
    created_at: nat64
    likes: nat32
    replies: nat32
    liked_by_me: bool
    can_delete: bool


@dataclass
class CommentPage:
    """Root comments newest first, or a comment's replies oldest first."""

    items: list[CommentView]
    next: str | None


# -- tips -----------------------------------------------------------------------------------


@dataclass
class Tip:
    """A tip paid on the ledger: ``block`` is the ledger's block index of the transfer."""

    id: nat64
    video_id: nat64
    sender: Principal
    creator: Principal
    amount: nat
    block: nat
    at: nat64


@dataclass
class TipView:
    id: nat64
    video_id: nat64
    sender: ProfileCard
    amount: nat
    block: nat
    at: nat64


@dataclass
class TipsReceived:
    """The caller's tips as a creator: the total, how many, and the newest ones."""

    total: nat
    count: nat64
    recent: list[TipView]


# -- safety ---------------------------------------------------------------------------------


@variant
class ReportTarget:
    """What a report is about: a video (by id) or a user (by principal)."""

    video: nat64
    user: Principal

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


class Decision(Enum):
    """A moderator's decision: ``keep`` (shown again, the count starts over), ``remove``
    (a video stays hidden for good, a user is suspended) or ``blur`` (a video is marked
    sensitive and shown again)."""

    keep = "keep"
    remove = "remove"
    blur = "blur"


@dataclass
class Report:
    """One user's report of one target."""

    reporter: Principal
    reason: str
    at: nat64


@dataclass
class Case:
    """The reports on one target waiting for a moderator (the newest reasons kept)."""

    id: nat64
    target: ReportTarget
    reporters: nat32
    hidden: bool
    first_at: nat64
    last_at: nat64
    reports: list[Report]


@dataclass
class CasePage:
    """Open cases, oldest first."""

    items: list[Case]
    next: str | None


# -- notifications --------------------------------------------------------------------------


class NotificationKind(Enum):
    like = "like"
    super_like = "super_like"
    comment = "comment"
    reply = "reply"
    comment_like = "comment_like"
    follow = "follow"
    tip = "tip"
    mention = "mention"
    processing_done = "processing_done"
    processing_failed = "processing_failed"
    moderation = "moderation"


SYSTEM_KINDS = frozenset({NotificationKind.processing_done, NotificationKind.processing_failed,
                          NotificationKind.moderation})
"""Kinds that come from the canister itself, not from another user's action."""


@dataclass
class Notification:
    """A stored notification; ``actor`` is null when the canister itself tells."""

    id: nat64
    kind: NotificationKind
    actor: Principal | None
    video_id: nat64 | None
    text: str
    created_at: nat64


@dataclass
class NotificationView:
    id: nat64
    kind: NotificationKind
    actor: ProfileCard | None
    video_id: nat64 | None
    text: str
    created_at: nat64
    read: bool


@dataclass
class NotificationPage:
    """Newest first; ``unread`` is the caller's unread count."""

    items: list[NotificationView]
    next: str | None
    unread: nat32


@dataclass
class NotificationEvent:
    """Published on ``user:<principal>``: a new notification, or null when only the
    unread count changed (after ``mark_read``)."""

    notification: NotificationView | None
    unread: nat32
