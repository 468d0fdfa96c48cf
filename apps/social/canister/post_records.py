"""Records of posts, feeds, post search, groups, events and notifications: what is stored
and what the methods take and return.

Stored records (`Post`, `Comment`, `Group`, `Event`, `Note`, `ImageMeta`)
keep raw text only; views carry it raw too, and the page inserts it as text, so no
stored HTML ever reaches a browser. Hashtags and mentions come with each view as
lists, for the page to link.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from icframework.sdk import Principal, nat32, nat64

from .records import PersonCard


class ReactionKind(Enum):
    """The reactions a post or a comment can get (one per user and object)."""

    like = "like"
    celebrate = "celebrate"
    support = "support"
    insightful = "insightful"
    curious = "curious"
    love = "love"


class Audience(Enum):
    """Who may read a post: everyone, or the author's 1st-degree connections (and the
    author). Posts in a group follow the group instead (see `JoinPolicy`)."""

    public = "public"
    connections = "connections"


class FeedOrder(Enum):
    """``newest``: newest first. ``top``: by `ScoreParts.score` (docs/social.md)."""

    newest = "newest"
    top = "top"


class GroupRole(Enum):
    owner = "owner"
    admin = "admin"
    member = "member"


class JoinPolicy(Enum):
    """``open``: anyone joins at once and anyone reads the group's posts and events.
    ``request``: an owner or admin approves each join request, and only members read
    the group's posts and events."""

    open = "open"
    request = "request"


class Rsvp(Enum):
    going = "going"
    interested = "interested"
    not_going = "not_going"


class NotificationKind(Enum):
    """What a notification is about; ``ref`` says where (see `NotificationView`)."""

    request = "request"
    accepted = "accepted"
    endorsement = "endorsement"
    recommendation = "recommendation"
    comment = "comment"
    reaction = "reaction"
    mention = "mention"
    job_stage = "job_stage"
    repost = "repost"
    group_request = "group_request"
    group_joined = "group_joined"


# -- stored -------------------------------------------------------------------------------

@dataclass
class Post:
    id: nat64
    author: Principal
    text: str
    images: list[str]
    hashtags: list[str]
    mentions: list[Principal]
    audience: Audience
    org_id: nat64 | None
    group_id: nat64 | None
    repost_of: nat64 | None
    reactions: list[nat32]
    comment_count: nat32
    repost_count: nat32
    created_at: nat64
    edited_at: nat64 | None


@dataclass
class Comment:
    id: nat64
    post_id: nat64
    parent_id: nat64 | None
    author: Principal
    text: str
    mentions: list[Principal]
    reactions: list[nat32]
    reply_count: nat32
    created_at: nat64
    edited_at: nat64 | None
    deleted: bool


@dataclass
class ImageMeta:
    owner: Principal
    content_type: str
    size: nat32
    chunks: nat32
    sha256: bytes
    key: str
    post_id: nat64 | None


@dataclass
class Group:
    id: nat64
    name: str
    description: str
    policy: JoinPolicy
    owner: Principal
    member_count: nat32
    request_count: nat32
    created_at: nat64


@dataclass
class Event:
    id: nat64
    group_id: nat64 | None
    host: Principal
    title: str
    description: str
    location: str
    starts_at: nat64
    ends_at: nat64
    going: nat32
    interested: nat32
    created_at: nat64


@dataclass
class Note:
    """A stored notification."""

    id: nat64
    kind: NotificationKind
    actor: Principal
    subject: str
    ref: str
    created_at: nat64


# -- arguments ----------------------------------------------------------------------------

@dataclass
class PostInput:
    """`create_post`: ``text`` (1–3,000 characters unless images are given; ``#tags``
    and ``@handles`` are recognised), up to 4 committed image ids, the audience, and at
    most one scope: an organisation the caller administers, or a group they belong to."""

    text: str
    image_ids: list[nat64]
    audience: Audience
    org_id: nat64 | None = None
    group_id: nat64 | None = None


@dataclass
class GroupInput:
    name: str
    description: str
    policy: JoinPolicy


@dataclass
class EventInput:
    """`create_event`: times in nanoseconds since the epoch; ``group_id`` null makes a
    public event."""

    title: str
    description: str
    location: str
    starts_at: nat64
    ends_at: nat64
    group_id: nat64 | None = None


# -- views --------------------------------------------------------------------------------

@dataclass
class ReactionCount:
    kind: ReactionKind
    count: nat32


@dataclass
class Author:
    """Who wrote something: the principal and, when they have a profile, the handle."""

    principal: Principal
    handle: str | None


@dataclass
class PostView:
    """A post as the caller may see it. ``text`` is raw (show it as text); ``images``
    are paths served by the canister's ``http_request``; ``my_reaction`` is the
    caller's; ``repost_of`` is the reposted post (null if it was deleted or the caller
    may not see it; ``repost_id`` still names it)."""

    id: nat64
    author: Author
    text: str
    images: list[str]
    hashtags: list[str]
    mentions: list[Author]
    audience: Audience
    org_id: nat64 | None
    group_id: nat64 | None
    reactions: list[ReactionCount]
    my_reaction: ReactionKind | None
    comment_count: nat32
    repost_count: nat32
    created_at: nat64
    edited_at: nat64 | None
    repost_id: nat64 | None
    repost_of: PostView | None


@dataclass
class CommentView:
    """A comment; a deleted one that has replies stays as a tombstone (empty text)."""

    id: nat64
    post_id: nat64
    parent_id: nat64 | None
    author: Author
    text: str
    mentions: list[Author]
    reactions: list[ReactionCount]
    my_reaction: ReactionKind | None
    reply_count: nat32
    created_at: nat64
    edited_at: nat64 | None
    deleted: bool


@dataclass
class CommentPage:
    comments: list[CommentView]
    next_cursor: str | None


@dataclass
class ScoreParts:
    """Why a post ranks where it does in the ``top`` feed (docs/social.md):
    ``score = (1 + reactions + 2 * comments) * affinity * 1_000_000 // (age_hours + 2) ** 2``
    with ``affinity`` 4 for one's own and 1st-degree posts, 2 for 2nd-degree, 1
    otherwise, and ``age_hours`` the whole hours from the post to ``as_of``."""

    reactions: nat32
    comments: nat32
    age_hours: nat64
    degree: nat32
    affinity: nat32
    score: nat64


@dataclass
class FeedItem:
    """A feed entry: the post, why it is in the feed (``reason``: ``you``,
    ``connection``, ``following``, ``organisation``, ``hashtag``, ``group``) and, in
    the ``top`` order, its score's parts."""

    post: PostView
    reason: str
    score: ScoreParts | None


@dataclass
class FeedPage:
    """``next_cursor`` pages on (null at the end); ``as_of`` is the time the ``top``
    scores were computed at, kept by the cursor so pages agree."""

    items: list[FeedItem]
    next_cursor: str | None
    as_of: nat64


@dataclass
class PostPage:
    posts: list[PostView]
    next_cursor: str | None


@dataclass
class PublicPost:
    """A post of the public feed with its author's card (avatar, name, headline)."""

    post: PostView
    author: PersonCard


@dataclass
class PublicFeedPage:
    """A page of `feed.public_feed`; ``next_cursor`` pages on (null at the end)."""

    items: list[PublicPost]
    next_cursor: str | None


@dataclass
class HashtagView:
    tag: str
    post_count: nat64
    following: bool


@dataclass
class GroupView:
    """A group; ``my_role`` is the caller's role (null if not a member) and
    ``requested`` whether the caller's join request is pending."""

    id: nat64
    name: str
    description: str
    policy: JoinPolicy
    owner: Principal
    member_count: nat32
    request_count: nat32
    created_at: nat64
    my_role: GroupRole | None
    requested: bool


@dataclass
class GroupMemberView:
    member: Author
    role: GroupRole
    joined_at: nat64


@dataclass
class GroupMembersPage:
    members: list[GroupMemberView]
    next_cursor: str | None


@dataclass
class EventView:
    id: nat64
    group_id: nat64 | None
    host: Author
    title: str
    description: str
    location: str
    starts_at: nat64
    ends_at: nat64
    going: nat32
    interested: nat32
    my_rsvp: Rsvp | None
    created_at: nat64


@dataclass
class AttendeeView:
    attendee: Author
    rsvp: Rsvp


@dataclass
class AttendeesPage:
    attendees: list[AttendeeView]
    next_cursor: str | None


@dataclass
class NotificationView:
    """One notification. ``subject`` is a short raw excerpt (show it as text);
    ``ref`` locates it: ``post:<id>``, ``comment:<post id>:<comment id>``,
    ``profile:<principal>``, ``job:<id>``, ``application:<id>``, ``group:<id>``."""

    id: nat64
    kind: NotificationKind
    actor: Author
    subject: str
    ref: str
    created_at: nat64
    read: bool


@dataclass
class NotificationPage:
    notifications: list[NotificationView]
    next_cursor: str | None
    unread: nat32


@dataclass
class NotificationEvent:
    """Published to ``user:<principal text>`` for each new notification, and with a
    null ``notification`` when the unread count changes otherwise (read markers)."""

    notification: NotificationView | None
    unread: nat32
