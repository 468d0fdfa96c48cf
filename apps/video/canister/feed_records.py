"""The feed's records: what the feed, search and trending queries return, and the stored
entry of an indexed video.

`VideoCard`, `FeedPage`, `TagCount` and `SearchResults` are part of the Candid
interface (apps/video/video.did is generated from them); `FeedEntry` is stored only
(`feed_store.entries`). A ``next`` cursor is opaque text: pass it back unchanged for the
next page, or null for the first.
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import Principal, nat32, nat64

from .records import Video
from .social_records import ProfileCard, ProfileView, VideoStats


@dataclass
class VideoCard:
    """One video as a feed shows it: the video, who made it, its counters and the
    caller's relation to both. ``score`` is the For You score (`ranking`), 0 elsewhere."""

    video: Video
    creator: ProfileCard
    stats: VideoStats
    liked_by_me: bool
    following_creator: bool
    score: float


@dataclass
class FeedPage:
    items: list[VideoCard]
    next: str | None


@dataclass
class TagCount:
    """A hashtag (without ``#``, case-folded) and how many shown videos carry it."""

    tag: str
    count: nat64


@dataclass
class SearchResults:
    """Videos whose caption, hashtags or creator match every word (the last one as a
    prefix), people whose handle or name does, and hashtags starting with the query."""

    videos: list[VideoCard]
    users: list[ProfileView]
    tags: list[TagCount]


@dataclass
class FeedEntry:
    """What the indexes hold of one shown video: enough to find and remove its index
    keys (creator, time, hashtags, search terms, popularity bucket) and to rank it
    without reading the whole `Video`."""

    creator: Principal
    created_at: nat64
    duration_ms: nat32
    tags: list[str]
    terms: list[str]
    day: nat32
    popularity: nat64
