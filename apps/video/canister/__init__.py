"""The video canister: short videos kept on the canister, streamed with Range, a ranked feed.

Modules: `uploads` (resumable chunked upload, dedup), `media` (videos and their
renditions), `worker_api` (what the transcoding worker may call), `gateway`
(``http_request`` with Range and streaming), `profiles`, `follows`, `interactions`
(likes, super-likes, comments, views, shares), `tips`, `safety`, `notifications`,
`catalogue` (hooks into the feed), `feeds` (For You, Following, creator, hashtag),
`search`. State is only in stable structures, so it survives upgrades.
"""

from __future__ import annotations

from . import (
    catalogue,
    feeds,
    follows,
    gateway,
    interactions,
    media,
    notifications,
    profiles,
    safety,
    search,
    tips,
    uploads,
    worker_api,
)

__all__ = [
    "catalogue", "feeds", "follows", "gateway", "interactions", "media", "notifications",
    "profiles", "safety", "search", "tips", "uploads", "worker_api",
]
