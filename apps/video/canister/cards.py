"""`VideoCard` assembly in one place, and the counters the ranking reads.

A card is shown only for a ready video the viewer may see (`safety.is_visible`: not
hidden, its creator not suspended, no block between them; its creator and moderators
see their hidden ones). Every stored read here goes through `feed_store.lookup`, so
`feed_store.meter` counts what a page costs.
"""

from __future__ import annotations

from icframework.sdk import Principal

from . import safety, social_store, store
from .feed_records import VideoCard
from .feed_store import lookup
from .ranking import Signals
from .records import Video, VideoStatus
from .social_records import ProfileCard, VideoStats


def stats_of(video_id: int) -> VideoStats:
    """``video_id``'s counters (all zero before any interaction)."""
    return lookup(social_store.stats, video_id) or VideoStats()


def signals(stats: VideoStats, duration_ms: int) -> Signals:
    """What the ranking reads of ``stats`` for a video of ``duration_ms``."""
    return Signals(views=stats.views, watch_ms=stats.watch_ms, duration_ms=duration_ms,
                   completions=stats.completions, likes=stats.likes,
                   super_likes=stats.super_likes, comments=stats.comments,
                   shares=stats.shares)


def signals_of(video_id: int, duration_ms: int) -> Signals:
    return signals(stats_of(video_id), duration_ms)


def is_following(me: Principal, creator: Principal) -> bool:
    return not me.is_anonymous and lookup(social_store.follows, (me, creator)) is not None


def creator_card(user: Principal) -> ProfileCard:
    profile = lookup(social_store.profiles, user)
    return ProfileCard(user, "", "") if profile is None else ProfileCard(
        user, profile.handle, profile.name)


def shows(video: Video, me: Principal) -> bool:
    """Whether a feed may show ``video`` to ``me``: ready, and safety lets ``me`` see it."""
    return video.status is VideoStatus.ready and safety.is_visible(video, me)


def card(video: Video, me: Principal, *, score: float = 0.0,
         stats: VideoStats | None = None, following: bool | None = None,
         creator: ProfileCard | None = None) -> VideoCard:
    """``video`` as ``me`` sees it in a feed (parts already read may be passed in)."""
    liked = not me.is_anonymous and lookup(social_store.likes, (video.id, me)) is not None
    return VideoCard(
        video=video,
        creator=creator if creator is not None else creator_card(video.creator),
        stats=stats if stats is not None else stats_of(video.id),
        liked_by_me=liked,
        following_creator=(following if following is not None
                           else is_following(me, video.creator)),
        score=score)


def card_for(video_id: int, me: Principal, *, score: float = 0.0,
             stats: VideoStats | None = None, following: bool | None = None
             ) -> VideoCard | None:
    """The card of ``video_id`` if a feed may show it to ``me`` (`shows`), else None."""
    video = lookup(store.videos, video_id)
    if video is None or not shows(video, me):
        return None
    return card(video, me, score=score, stats=stats, following=following)

