"""Durable state of the video canister's people, interactions, tips, safety and rate limits.

Nothing here is cached in Python: every map reads the canister's key-value store, so
state survives upgrades and a rejected message leaves no trace. Pairs are stored in
both directions where both are asked, so one range scan answers each question:

* ``profiles[user]``, ``handles[handle] -> user``, ``counts[user]`` (`Counts`) and
  ``counted_videos[video] -> creator`` (the ready videos ``Counts.videos`` counts);
* ``follows[(a, b)]`` and ``followers[(b, a)]`` (a follows b, since), ``blocks[(a, b)]``
  (a blocked b);
* ``stats[video]`` (`VideoStats`), ``likes[(video, user)]``, ``super_likes[(video, user)]``,
  ``super_log[user]`` (the times of the user's super-likes in the rolling window),
  ``shared[(video, user)]``, ``seen[(user, video)]`` (`SeenRecord`),
  ``like_notified[(video, user)]`` (a like is notified once);
* ``comments[id]`` with ``video_comments[(video, id)]`` (roots), ``replies_of[(root, id)]``
  and ``comment_likes[(comment, user)]``; ``forgotten[video]``: deleted videos whose
  entries are still being removed (`interactions.forget_video`);
* ``tips[id]``, ``tips_by_creator[(creator, id)]``, ``tip_totals[video]``,
  ``tips_received[creator]``;
* ``hidden[video] -> reason`` (auto-hidden or removed), ``suspended[user] -> reason``;
  ``reports[(target key, reporter)]``, ``report_counts[target key]`` (distinct
  reporters since the last decision), ``cases[id]`` (open) and ``case_of[target key] -> id``;
* ``notes[(user, id)]``, ``notes_kept[user]``, ``unread[user]``, ``read_upto[user]``;
* ``rate_log[(user, action)]`` (`ratelimit`).

A target key is ``"video:<id>"`` or ``"user:<principal text>"`` (`target_key`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from icframework.sdk import Principal, StableBTreeMap, StableCell, nat, nat32, nat64

from .social_records import (
    Case,
    Comment,
    Counts,
    Notification,
    Profile,
    Report,
    ReportTarget,
    SeenRecord,
    Tip,
    VideoStats,
)

K = TypeVar("K")

MIN_PRINCIPAL = Principal.management_canister()
"""The smallest principal (no bytes): the start of a scan over one user's pairs."""
MAX_PRINCIPAL = Principal(b"\xff" * 29)
"""Larger than every real principal: the (exclusive) end of such a scan."""
MAX_ID = (1 << 64) - 1

PP = tuple[Principal, Principal]
VP = tuple[int, Principal]


@dataclass
class Counters:
    next_comment: nat64 = 1
    next_tip: nat64 = 1
    next_case: nat64 = 1
    next_note: nat64 = 1


counters = StableCell[Counters]("social.counters", default=Counters())

# people
profiles = StableBTreeMap[Principal, Profile]("social.profiles")
handles = StableBTreeMap[str, Principal]("social.handles")
counts = StableBTreeMap[Principal, Counts]("social.counts")
counted_videos = StableBTreeMap[nat64, Principal]("social.counted_videos")
follows = StableBTreeMap[PP, nat64]("social.follows")
followers = StableBTreeMap[PP, nat64]("social.followers")
blocks = StableBTreeMap[PP, nat64]("social.blocks")

# interactions
stats = StableBTreeMap[nat64, VideoStats]("social.stats")
likes = StableBTreeMap[tuple[nat64, Principal], nat64]("social.likes")
like_notified = StableBTreeMap[tuple[nat64, Principal], bool]("social.like_notified")
super_likes = StableBTreeMap[tuple[nat64, Principal], nat64]("social.super_likes")
super_log = StableBTreeMap[Principal, list[nat64]]("social.super_log")
shared = StableBTreeMap[tuple[nat64, Principal], nat64]("social.shared")
seen = StableBTreeMap[tuple[Principal, nat64], SeenRecord]("social.seen")
comments = StableBTreeMap[nat64, Comment]("social.comments")
video_comments = StableBTreeMap[tuple[nat64, nat64], bool]("social.video_comments")
replies_of = StableBTreeMap[tuple[nat64, nat64], bool]("social.replies_of")
comment_likes = StableBTreeMap[tuple[nat64, Principal], nat64]("social.comment_likes")
forgotten = StableBTreeMap[nat64, bool]("social.forgotten")

# tips
tips = StableBTreeMap[nat64, Tip]("social.tips")
tips_by_creator = StableBTreeMap[tuple[Principal, nat64], bool]("social.tips_by_creator")
tip_totals = StableBTreeMap[nat64, nat]("social.tip_totals")
tips_received = StableBTreeMap[Principal, tuple[nat, nat64]]("social.tips_received")

# safety
hidden = StableBTreeMap[nat64, str]("social.hidden")
suspended = StableBTreeMap[Principal, str]("social.suspended")
reports = StableBTreeMap[tuple[str, Principal], Report]("social.reports")
report_counts = StableBTreeMap[str, nat32]("social.report_counts")
cases = StableBTreeMap[nat64, Case]("social.cases")
case_of = StableBTreeMap[str, nat64]("social.case_of")

# notifications
notes = StableBTreeMap[tuple[Principal, nat64], Notification]("social.notes")
notes_kept = StableBTreeMap[Principal, nat32]("social.notes_kept")
unread = StableBTreeMap[Principal, nat32]("social.unread")
read_upto = StableBTreeMap[Principal, nat64]("social.read_upto")

# rate limits
rate_log = StableBTreeMap[tuple[Principal, str], list[nat64]]("social.rate_log")


def target_key(target: ReportTarget) -> str:
    """``"video:<id>"`` or ``"user:<principal text>"``: how maps key a report target."""
    if target.tag == "video":
        return f"video:{int(target.value)}"
    return f"user:{target.value.to_text()}"


def stats_of(video_id: int) -> VideoStats:
    """``video_id``'s counters (all zero for a video nobody touched)."""
    return stats.get(video_id) or VideoStats()


def counts_of(user: Principal) -> Counts:
    return counts.get(user) or Counts()


def bump(user: Principal, **delta: int) -> Counts:
    """Add ``delta`` to ``user``'s named `Counts` (never below zero); the new counts."""
    now = counts_of(user)
    for name, amount in delta.items():
        setattr(now, name, max(0, getattr(now, name) + amount))
    counts[user] = now
    return now


def bump_stats(video_id: int, **delta: int) -> VideoStats:
    """Add ``delta`` to ``video_id``'s named `VideoStats` (never below zero); the new stats."""
    now = stats_of(video_id)
    for name, amount in delta.items():
        setattr(now, name, max(0, getattr(now, name) + amount))
    stats[video_id] = now
    return now


def next_id(name: str) -> int:
    """Take the next value of the counter ``name`` of `Counters`."""
    state = counters.get()
    value: int = getattr(state, name)
    setattr(state, name, value + 1)
    counters.set(state)
    return value
