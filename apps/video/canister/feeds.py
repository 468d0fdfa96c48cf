"""The feeds: For You (ranked), Following (newest from followed creators), a creator's
grid, a hashtag's page, and one video's card.

**For You** reads a bounded candidate set, never every video: the `NEWEST_POOL` newest
videos, the `POPULAR_PER_DAY` most engaging of each of the last `POPULAR_DAYS` days'
popularity buckets, and the `FOLLOWED_POOL` newest of the Following feed (for a signed-in
viewer) — at most a few hundred, however many videos there are. Each is scored by
`ranking` (its engagement as stored in the popularity index, so ranking reads no
counters; its age at the session's time; whether the viewer follows the creator and
has seen it) and the page takes the best by `ranking.rank_key`: unseen
before seen, then score. Videos of creators a block stands between, hidden and
non-ready ones never appear (they are not indexed, and every card passes
`cards.shows`).

A For You *session* is a chain of cursors. The cursor holds the session's time (videos
uploaded later wait for the next session; ages are measured at that time) and the ids
already shown; each page is the best of the candidates not shown yet, so paging never
repeats a video, and a video whose score rose or fell between pages is still shown
once. (The newest pool is fixed by the session's time; a video that drops out of its
day's popularity top between pages, and is in no other pool, is not shown later in
that session.) The session ends (``next`` null) when the candidates are used up or it has shown
`MAX_SESSION` videos; the page then starts a new one (with null).

**Following**, **creator** and **hashtag** pages are newest first over one ordered
index each (`feed_store.by_creator` merged for up to `FOLLOWING_FEED_SOURCES` followed
creators; ``by_creator``; ``by_tag``), from a ``(created_at, id)`` cursor, examining at
most `MAX_PAGE_SCAN` entries a page: O(log n + page) reads.
"""

from __future__ import annotations

import base64
import heapq
from collections.abc import Callable, Iterator

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query

from . import cards, feed_store, follows, ranking, social_store
from .feed_records import FeedEntry, FeedPage, VideoCard
from .feed_store import MAX_ID, lookup, scan
from .limits import (
    FOLLOWED_POOL,
    FOLLOWING_FEED_SOURCES,
    MAX_FEED_PAGE,
    MAX_PAGE_SCAN,
    MAX_SESSION,
    NEWEST_POOL,
    POPULAR_DAYS,
    POPULAR_PER_DAY,
)
from .ranking import ScoreTerms
from .search import normalize_tag
from .social_records import VideoStats

BATCH = 4
"""Keys read from one followed creator's index at a time (after the first one, which
is all the merge needs of most creators)."""
Key = tuple[int, int]
"""``(created_at, id)``: the order of every list, newest first."""
_TOP: Key = (MAX_ID, MAX_ID)


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_FEED_PAGE))


# -- For You --------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def encode_session(as_of: int, shown: set[int]) -> str:
    """``fy.<time>.<ids>``: the ids sorted, as varint gaps, base64url without padding."""
    last, data = 0, bytearray()
    for video_id in sorted(shown):
        data += _varint(video_id - last)
        last = video_id
    ids = base64.urlsafe_b64encode(bytes(data)).decode().rstrip("=")
    return f"fy.{as_of}.{ids}"


def decode_session(cursor: str) -> tuple[int, set[int]]:
    """The time and shown ids of a `encode_session` cursor; `Reject` if it is not one."""
    bad = Reject(f"{cursor[:40]!r} is not a For You cursor: pass the previous page's "
                 "next unchanged, or null to start a session")
    parts = cursor.split(".")
    if (len(parts) != 3 or parts[0] != "fy" or not parts[1].isascii()
            or not parts[1].isdigit() or len(parts[1]) > 20
            or len(parts[2]) > 8 * MAX_SESSION):
        raise bad
    try:
        data = base64.b64decode(parts[2] + "=" * (-len(parts[2]) % 4), altchars=b"-_",
                                validate=True)
    except ValueError:
        raise bad from None
    shown: set[int] = set()
    last = value = shift = 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 70:
            raise bad
        if not byte & 0x80:
            last += value
            shown.add(last)
            value = shift = 0
    if shift or len(shown) > MAX_SESSION or last > MAX_ID or int(parts[1]) >= MAX_ID:
        raise bad
    return int(parts[1]), shown


def _candidates(me: Principal, as_of: int) -> dict[int, None]:
    """Ids of the session's candidates (see the module docstring), each once."""
    found: dict[int, None] = {}
    for (_t, video_id), _true in scan(feed_store.newest, None, (as_of + 1, 0),
                                      reverse=True, limit=NEWEST_POOL):
        found[video_id] = None
    today = feed_store.day_of(as_of)
    for day in range(today, max(-1, today - POPULAR_DAYS), -1):
        for (_d, _p, video_id), _true in scan(feed_store.popular, (day, 0, 0),
                                              (day + 1, 0, 0), reverse=True,
                                              limit=POPULAR_PER_DAY):
            found[video_id] = None
    if not me.is_anonymous:
        for _t, video_id in _following(me, (as_of + 1, 0), FOLLOWED_POOL):
            found[video_id] = None
    return found


class _Viewer:
    """What one request learns about the viewer's relations, each read once."""

    def __init__(self, me: Principal) -> None:
        self.me = me
        self.blocked: dict[Principal, bool] = {}
        self.follows: dict[Principal, bool] = {}

    def blocks(self, creator: Principal) -> bool:
        found = self.blocked.get(creator)
        if found is None:
            feed_store.meter.count(2)
            found = self.blocked[creator] = (not self.me.is_anonymous
                                             and follows.is_blocked_either(self.me, creator))
        return found

    def following(self, creator: Principal) -> bool:
        found = self.follows.get(creator)
        if found is None:
            found = self.follows[creator] = cards.is_following(self.me, creator)
        return found

    def seen(self, video_id: int) -> bool:
        return (not self.me.is_anonymous
                and lookup(social_store.seen, (self.me, video_id)) is not None)


def terms_for(viewer: _Viewer, video_id: int, e: FeedEntry, stats: VideoStats,
              as_of: int) -> ScoreTerms:
    """Every term of an indexed video's score for ``viewer`` at ``as_of``."""
    return ranking.explain(cards.signals(stats, e.duration_ms), as_of - e.created_at,
                           viewer.following(e.creator), viewer.seen(video_id))


@query
def for_you(cursor: str | None, limit: nat32) -> FeedPage:
    """The ranked For You feed, ``limit`` (1–30) cards a page with their ``score``; see
    the module docstring for the candidates, the order and the session cursor."""
    me = ic.caller()
    n = _limit(limit)
    as_of, shown = decode_session(cursor) if cursor is not None else (ic.time(), set())
    viewer = _Viewer(me)
    ranked: list[tuple[tuple[int, float, int], Principal]] = []
    for video_id in _candidates(me, as_of):
        if video_id in shown:
            continue
        e = feed_store.entry(video_id)
        if e is None or e.created_at > as_of or viewer.blocks(e.creator):
            continue
        seen = viewer.seen(video_id)
        score = ranking.combine(e.popularity / ranking.POPULARITY_SCALE,
                                as_of - e.created_at, viewer.following(e.creator), seen)
        ranked.append((ranking.rank_key(score, seen, video_id), e.creator))
    ranked.sort(key=lambda r: r[0], reverse=True)
    items: list[VideoCard] = []
    used = 0
    for (_tier, score, video_id), creator in ranked:
        if len(items) >= n or len(shown) >= MAX_SESSION:
            break
        used += 1
        shown.add(video_id)
        found = cards.card_for(video_id, me, score=score,
                               following=viewer.following(creator))
        if found is not None:
            items.append(found)
    more = used < len(ranked) and len(shown) < MAX_SESSION
    return FeedPage(items, encode_session(as_of, shown) if more else None)


@query
def explain_score(video_id: nat64) -> ScoreTerms | None:
    """Why For You ranks ``video_id`` where it does for the caller now: every term of
    its score (`ranking.explain`), or null if it is not in the feed."""
    me = ic.caller()
    e = feed_store.entry(video_id)
    if e is None:
        return None
    viewer = _Viewer(me)
    if viewer.blocks(e.creator):
        return None
    return terms_for(viewer, video_id, e, cards.stats_of(video_id), ic.time())


# -- lists, newest first --------------------------------------------------------------------

def _batched(fetch: Callable[[Key, int], list[Key]], before: Key, size: int,
             first: int | None = None) -> Iterator[Key]:
    """Keys below ``before`` newest first, read with ``fetch``: ``first`` (default
    ``size``) of them, then ``size`` at a time."""
    want = size if first is None else first
    while True:
        batch = fetch(before, want)
        yield from batch
        if len(batch) < want:
            return
        before, want = batch[-1], size


def _creator_fetch(creator: Principal) -> Callable[[Key, int], list[Key]]:
    def fetch(before: Key, size: int) -> list[Key]:
        return [(t, i) for (_c, t, i), _true in scan(
            feed_store.by_creator, (creator, 0, 0), (creator, *before), reverse=True,
            limit=size)]
    return fetch


def _tag_fetch(tag: str) -> Callable[[Key, int], list[Key]]:
    def fetch(before: Key, size: int) -> list[Key]:
        return [(t, i) for (_tag, t, i), _true in scan(
            feed_store.by_tag, (tag, 0, 0), (tag, *before), reverse=True, limit=size)]
    return fetch


def _following(me: Principal, before: Key, scan_limit: int) -> Iterator[Key]:
    """The followed creators' videos below ``before``, newest first (a heap merge of
    their indexes), at most ``scan_limit`` of them."""
    creators = follows.following_of(me, FOLLOWING_FEED_SOURCES)
    feed_store.meter.count(len(creators))
    heap: list[tuple[tuple[int, int], int, Iterator[Key]]] = []
    for rank, creator in enumerate(creators):
        it = _batched(_creator_fetch(creator), before, BATCH, first=1)
        first = next(it, None)
        if first is not None:
            heap.append(((-first[0], -first[1]), rank, it))
    heapq.heapify(heap)
    while heap and scan_limit > 0:
        (neg_t, neg_id), rank, it = heap[0]
        nxt = next(it, None)
        if nxt is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, ((-nxt[0], -nxt[1]), rank, it))
        scan_limit -= 1
        yield -neg_t, -neg_id


def _parse_key(cursor: str | None, prefix: str) -> Key:
    if cursor is None:
        return _TOP
    parts = cursor.split(".")
    if not (len(parts) == 3 and parts[0] == prefix and len(cursor) <= 48
            and all(p.isascii() and p.isdigit() for p in parts[1:])):
        raise Reject(f"{cursor[:40]!r} is not a cursor of this list: pass the previous "
                     "page's next unchanged, or null for the first page")
    return int(parts[1]), int(parts[2])


def _list_page(source: Callable[[Key, int], Iterator[Key]], prefix: str,
               cursor: str | None, limit: int) -> FeedPage:
    """Cards of ``source`` (``source(before, batch)``: keys below ``before``, newest
    first, read ``batch`` at a time) the caller may see, from a
    ``<prefix>.<created>.<id>`` cursor; at most `MAX_PAGE_SCAN` keys examined."""
    me = ic.caller()
    n = _limit(limit)
    before = _parse_key(cursor, prefix)
    items: list[VideoCard] = []
    last = before
    for examined, key in enumerate(source(before, n + 1)):
        if len(items) >= n or examined >= MAX_PAGE_SCAN:
            return FeedPage(items, f"{prefix}.{last[0]}.{last[1]}")
        last = key
        found = cards.card_for(key[1], me)
        if found is not None:
            items.append(found)
    return FeedPage(items, None)


@query
def following_feed(cursor: str | None, limit: nat32) -> FeedPage:
    """Videos of the people the caller follows, newest first, ``limit`` (1–30) a page
    (the first `FOLLOWING_FEED_SOURCES` followed creators; see the module docstring)."""
    me = ic.caller()
    if me.is_anonymous:
        return FeedPage([], None)
    return _list_page(lambda before, _k: _following(me, before, MAX_PAGE_SCAN + 1), "fo",
                      cursor, limit)


@query
def creator_videos(p: Principal, cursor: str | None, limit: nat32) -> FeedPage:
    """A creator's shown videos, newest first (the profile grid)."""
    def source(before: Key, batch: int) -> Iterator[Key]:
        return _batched(_creator_fetch(p), before, batch)
    return _list_page(source, "cr", cursor, limit)


@query
def hashtag(tag: str, cursor: str | None, limit: nat32) -> FeedPage:
    """A hashtag's page: its shown videos, newest first (``tag`` with or without ``#``)."""
    t = normalize_tag(tag)

    def source(before: Key, batch: int) -> Iterator[Key]:
        return _batched(_tag_fetch(t), before, batch)
    return _list_page(source, "ht", cursor, limit)


@query
def card(video_id: nat64) -> VideoCard | None:
    """One video's card, if the caller may see it (ready, not hidden, no block)."""
    return cards.card_for(video_id, ic.caller())

