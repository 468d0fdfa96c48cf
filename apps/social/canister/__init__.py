"""The social canister: a professional network (profiles, graph, trust, organisations, jobs, posts).

Identity is ``ic.caller()``. Modules: `profiles` (identity, profile, pictures),
`graph` (connections, requests, follows, blocks, degrees), `trust` (endorsements,
recommendations, certified employment attestations), `orgs`, `jobs`, `people`
(people search, people you may know), `safety` (visibility, reports, moderators),
`gateway` (``http_request``), `posts`, `feed`, `post_search`, `groups`,
`notifications`. State is only in stable structures (`store` and the modules' own),
so it survives upgrades; `limits` holds every limit and rate limit. docs/social.md
is the API reference.
"""

from __future__ import annotations

from icframework.sdk import Reject, init, post_upgrade

from . import (
    feed,
    gateway,
    graph,
    groups,
    jobs,
    notifications,
    orgs,
    people,
    post_search,
    posts,
    profiles,
    safety,
    trust,
)
from .records import InitArgs
from .store import moderators

__all__ = [
    "feed", "gateway", "graph", "groups", "jobs", "notifications", "orgs", "people",
    "post_search", "posts", "profiles", "safety", "trust",
]


def _set_admins(args: InitArgs | None) -> None:
    if args is None:
        return
    moderators.clear()
    for user in args.admins:
        if user.is_anonymous:
            raise Reject("the anonymous principal cannot be an admin: name a signed-in user")
        moderators[user] = True


@init
def setup(args: InitArgs | None) -> None:
    """Install: optional ``record { admins : vec principal }`` (the moderators)."""
    _set_admins(args)
    trust.certify_root()


@post_upgrade
def upgraded(args: InitArgs | None) -> None:
    """Upgrade: state is kept; admins are replaced only when the argument is given;
    the certified data is set again (it does not survive an upgrade on the IC); the
    public feed's index is built if an older version had none."""
    _set_admins(args)
    posts.fill_public_index()
    trust.certify_root()
    posts.resume_cleanup()
