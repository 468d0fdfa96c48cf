"""Hooks through which uploads, interactions and safety tell the feed what changed.

Placeholder bodies: the feed's indexes implement them.
"""

from __future__ import annotations

from .records import Video


def on_status(video: Video) -> None:
    """After any status change of ``video``."""


def on_caption_changed(video: Video, old_caption: str) -> None:
    """After ``video``'s caption changed from ``old_caption``."""


def on_deleted(video: Video) -> None:
    """After ``video`` was deleted."""


def on_stats_changed(video_id: int) -> None:
    """After a like, comment, view or share of ``video_id``."""


def on_visibility_changed(video_id: int) -> None:
    """After safety hid or showed ``video_id``."""
