"""Durable indexes of the feed: which videos are shown, and every order they are read in.

A video is *indexed* while it is ready and not hidden by safety (`catalogue` decides);
then it has ``entries[id] -> FeedEntry`` and one key in each index below. Every index
is an ordered map whose keys carry the order, so a page is one bounded range scan
(O(log n + page)), never a scan of all videos:

* ``newest[(created_at, id)]`` — every indexed video, read newest first (reverse);
* ``by_creator[(creator, created_at, id)]`` — a creator's videos;
* ``by_tag[(tag, created_at, id)]`` — a hashtag's videos; ``tag_counts[tag]`` and
  ``tag_rank[(count, tag)]`` (trending: the largest counts first);
* ``popular[(day, popularity, id)]`` — popularity buckets: per day of upload
  (``created_at // DAY``), ordered by `ranking.popularity` (engagement without time),
  so the most engaging videos of each recent day are a short reverse scan;
* ``terms[(term, id)]`` — video search postings (caption words, hashtags, the
  creator's handle); ``people[(term, user)]`` and ``people_terms[user]`` — people
  search by the words of names.

`meter` counts the stored entries the feed reads (every entry a scan yields and every
point lookup `feeds` makes): the tests check a page's count stays flat as videos grow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from icframework.sdk import Principal, StableBTreeMap, nat32, nat64

from .feed_records import FeedEntry
from .limits import DAY

K = TypeVar("K")
V = TypeVar("V")

MAX_ID = (1 << 64) - 1
MIN_PRINCIPAL = Principal.management_canister()
MAX_PRINCIPAL = Principal(b"\xff" * 29)
MAX_TEXT = "\U0010ffff"
"""Larger than any text key this canister stores (the end of a prefix scan)."""


class ReadMeter:
    """How many stored entries the feed has read since `reset`."""

    def __init__(self) -> None:
        self.reads = 0

    def reset(self) -> None:
        self.reads = 0

    def count(self, n: int = 1) -> None:
        self.reads += n


meter = ReadMeter()

entries = StableBTreeMap[nat64, FeedEntry]("feed.entries")
newest = StableBTreeMap[tuple[nat64, nat64], bool]("feed.newest")
by_creator = StableBTreeMap[tuple[Principal, nat64, nat64], bool]("feed.by_creator")
by_tag = StableBTreeMap[tuple[str, nat64, nat64], bool]("feed.by_tag")
tag_counts = StableBTreeMap[str, nat64]("feed.tag_counts")
tag_rank = StableBTreeMap[tuple[nat64, str], bool]("feed.tag_rank")
popular = StableBTreeMap[tuple[nat32, nat64, nat64], bool]("feed.popular")
terms = StableBTreeMap[tuple[str, nat64], bool]("feed.terms")
people = StableBTreeMap[tuple[str, Principal], bool]("feed.people")
people_terms = StableBTreeMap[Principal, list[str]]("feed.people_terms")


def scan(index: StableBTreeMap[K, V], start: K | None, end: K | None, *,
         reverse: bool = False, limit: int = 0) -> Iterator[tuple[K, V]]:
    """``index.range(...)``, counting every entry read in `meter`."""
    for item in index.range(start, end, reverse=reverse, limit=limit):
        meter.count()
        yield item


def lookup(index: StableBTreeMap[K, V], key: K) -> V | None:
    """``index.get(key)``, counted in `meter` (also for other modules' maps)."""
    meter.count()
    return index.get(key)


def day_of(created_at: int) -> int:
    return created_at // DAY


def entry(video_id: int) -> FeedEntry | None:
    return lookup(entries, video_id)


# -- keeping the indexes --------------------------------------------------------------------

def _tag_count(tag: str, delta: int) -> None:
    before = tag_counts.get(tag, 0)
    after = max(0, before + delta)
    if before:
        tag_rank.remove((before, tag))
    if after:
        tag_counts[tag] = after
        tag_rank[(after, tag)] = True
    else:
        tag_counts.remove(tag)


def add(video_id: int, e: FeedEntry) -> None:
    """Index ``video_id`` as ``e`` (drop any older indexing first)."""
    drop(video_id)
    entries[video_id] = e
    newest[(e.created_at, video_id)] = True
    by_creator[(e.creator, e.created_at, video_id)] = True
    for tag in e.tags:
        by_tag[(tag, e.created_at, video_id)] = True
        _tag_count(tag, +1)
    popular[(e.day, e.popularity, video_id)] = True
    for term in e.terms:
        terms[(term, video_id)] = True


def drop(video_id: int) -> FeedEntry | None:
    """Remove ``video_id`` from every index; its entry, or None if it was not indexed."""
    e = entries.remove(video_id)
    if e is None:
        return None
    newest.remove((e.created_at, video_id))
    by_creator.remove((e.creator, e.created_at, video_id))
    for tag in e.tags:
        if by_tag.remove((tag, e.created_at, video_id)) is not None:
            _tag_count(tag, -1)
    popular.remove((e.day, e.popularity, video_id))
    for term in e.terms:
        terms.remove((term, video_id))
    return e


def set_popularity(video_id: int, popularity: int) -> None:
    """Move an indexed video to ``popularity`` in its day's bucket (no-op otherwise)."""
    e = entries.get(video_id)
    if e is None or e.popularity == popularity:
        return
    popular.remove((e.day, e.popularity, video_id))
    e.popularity = popularity
    popular[(e.day, popularity, video_id)] = True
    entries[video_id] = e


def set_person(user: Principal, words: list[str]) -> None:
    """Index ``user`` under ``words`` (replacing the words before)."""
    for word in people_terms.get(user, []):
        people.remove((word, user))
    if words:
        people_terms[user] = words
    else:
        people_terms.remove(user)
    for word in words:
        people[(word, user)] = True


def prefix_range(prefix: str) -> tuple[Any, Any]:
    """Bounds of the text keys (first tuple component) that start with ``prefix``."""
    return prefix, prefix + MAX_TEXT
