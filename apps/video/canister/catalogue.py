"""Hooks through which uploads, interactions, profiles and safety tell the feed what changed.

The catalogue decides what is *indexed* (`feed_store`): a video is, exactly while it is
ready and safety shows it (`safety.hidden_reason` is None). Every hook is idempotent
and reads the video's current state, so calling one twice, or after a rolled-back
message, leaves the indexes right:

* `on_status` — after any status change: index a ready video, unindex otherwise; keep
  the creator's video count (`profiles.video_changed`); tell the creator when
  processing ends (``processing_done``, or ``processing_failed`` with the reason) and
  the people its caption ``@mentions`` once it is ready (`notifications.notify`);
* `on_caption_changed` — re-index the hashtags and words; notify new mentions;
* `on_deleted` — remove from every index;
* `on_stats_changed` — move the video in its day's popularity bucket;
* `on_visibility_changed` — hidden, shown again or blurred by safety;
* `on_profile_changed` — a person's name or handle: people search.
"""

from __future__ import annotations

from . import feed_store, follows, media, notifications, profiles, safety, search, social_store
from .cards import signals_of
from .feed_records import FeedEntry
from .limits import MAX_MENTIONS
from .ranking import popularity
from .records import Video, VideoStatus
from .social_records import NotificationKind, Profile


def _shown(video: Video) -> bool:
    return video.status is VideoStatus.ready and safety.hidden_reason(video) is None


def _entry(video: Video) -> FeedEntry:
    tags = search.hashtags_of(video.caption)
    handle = profiles.handle_of(video.creator) or ""
    return FeedEntry(
        creator=video.creator, created_at=video.created_at, duration_ms=video.duration_ms,
        tags=tags, terms=search.video_terms(video.caption, handle),
        day=feed_store.day_of(video.created_at),
        popularity=popularity(signals_of(video.id, video.duration_ms)))


def reindex(video: Video) -> None:
    """Index ``video`` if it is shown, unindex it otherwise."""
    if _shown(video):
        feed_store.add(video.id, _entry(video))
    else:
        feed_store.drop(video.id)


def _notify_mentions(video: Video, before: str | None) -> None:
    """Tell each person ``@mentioned`` in the caption (not in ``before``) once."""
    old = set(search.mentions_of(before)) if before is not None else set()
    for handle in search.mentions_of(video.caption)[:MAX_MENTIONS]:
        if handle in old:
            continue
        user = social_store.handles.get(handle)
        if user is None or user == video.creator or follows.is_blocked_either(user,
                                                                           video.creator):
            continue
        notifications.notify(user, NotificationKind.mention, video.creator, video.id,
                             video.caption)


def on_status(video: Video) -> None:
    """After any status change of ``video``."""
    reindex(video)
    profiles.video_changed(video)
    if video.status is VideoStatus.ready:
        notifications.notify(video.creator, NotificationKind.processing_done, None,
                             video.id, "your video is ready")
        _notify_mentions(video, None)
    elif video.status is VideoStatus.rejected:
        notifications.notify(video.creator, NotificationKind.processing_failed, None,
                             video.id, video.reason or "processing failed")


def on_caption_changed(video: Video, old_caption: str) -> None:
    """After ``video``'s caption changed from ``old_caption``."""
    reindex(video)
    if video.status is VideoStatus.ready:
        _notify_mentions(video, old_caption)


def on_deleted(video: Video) -> None:
    """After ``video`` was deleted."""
    feed_store.drop(video.id)
    profiles.video_changed(video, deleted=True)


def on_stats_changed(video_id: int) -> None:
    """After a like, comment, view or share of ``video_id``."""
    e = feed_store.entries.get(video_id)
    if e is not None:
        feed_store.set_popularity(video_id, popularity(signals_of(video_id, e.duration_ms)))


def on_visibility_changed(video_id: int) -> None:
    """After safety hid or showed ``video_id`` (or it was marked sensitive)."""
    video = media.get_video(video_id)
    if video is None:
        feed_store.drop(video_id)
    else:
        reindex(video)


def on_profile_changed(profile: Profile) -> None:
    """After ``profile`` was registered or its name changed: people search."""
    feed_store.set_person(profile.user, search.person_terms(profile.handle, profile.name))
