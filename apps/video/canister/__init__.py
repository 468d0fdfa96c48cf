"""The video canister: short videos kept on the canister, streamed with Range, a ranked feed.

Modules: `uploads` (resumable chunked upload, dedup), `media` (videos and their
renditions), `worker_api` (what the transcoding worker may call), `gateway`
(``http_request`` with Range and streaming), `profiles`, `follows`, `interactions`
(likes, super-likes, comments, views, shares), `tips`, `safety`, `notifications`,
`catalogue` (hooks into the feed), `feeds` (For You, Following, creator, hashtag),
`search`. State is only in stable structures, so it survives upgrades. `InitArgs`
names the moderators, the transcoding workers and the tips' ledger.
"""

from __future__ import annotations

from icframework.sdk import Reject, init, post_upgrade

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
from .records import InitArgs
from .store import Config, config, moderators, workers

__all__ = [
    "catalogue", "feeds", "follows", "gateway", "interactions", "media", "notifications",
    "profiles", "safety", "search", "tips", "uploads", "worker_api",
]


def _configure(args: InitArgs | None) -> None:
    if args is None:
        return
    for role, names in (("moderator", args.admins), ("worker", args.workers)):
        for who in names:
            if who.is_anonymous:
                raise Reject(f"the anonymous principal cannot be a {role}: name a "
                             "signed-in identity")
    moderators.clear()
    for who in args.admins:
        moderators[who] = True
    workers.clear()
    for who in args.workers:
        workers[who] = True
    config.set(Config(args.ledger))


@init
def setup(args: InitArgs | None) -> None:
    """Install: moderators, transcoding workers and the tips' ledger."""
    _configure(args)


@post_upgrade
def upgraded(args: InitArgs | None) -> None:
    """Upgrade: every video, upload and rendition is kept; with an argument, the
    moderators, workers and ledger are replaced by it."""
    _configure(args)
