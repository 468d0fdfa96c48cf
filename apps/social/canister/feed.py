"""The home feed (newest first, or "top" by an auditable score), followed hashtags,
hashtag pages and the post lists of a person, an organisation and a group.

How the home feed is built (fan-out on read, bounded): its *sources* are the viewer
(``you``), their connections (``connection``), their groups (``group``), the
organisations they follow (``organisation``), the people they follow
(``following``) and the hashtags they follow (``hashtag``), at most `MAX_SOURCES` in
that order. Each source is an index of post ids (`posts.by_author`, ``by_group``,
``by_org``, ``by_tag``) read newest first in small batches; a heap merges them, a
post reached through several sources appears once with the first reason, and every
post passes `posts.can_see` (blocks both ways, connection-only posts, closed
groups). A page examines at most `MAX_FEED_SCAN` posts; ``next_cursor`` continues.

The ``top`` order ranks the newest `TOP_POOL` posts of the same merge by

    score = (1 + reactions + 2 * comments) * affinity * 1_000_000 // (age_hours + 2) ** 2

where ``affinity`` is 4 for one's own posts and 1st-degree connections' posts, 2 for
2nd-degree and 1 otherwise, and ``age_hours`` the whole hours between the post and
``as_of`` (the time of the first page, kept in the cursor). Ties go to the newer post.
Every item carries these parts (`ScoreParts`), so the page can show why it ranks there.

`public_feed` is the landing's feed for anyone, signed in or not: the newest posts of
`posts.by_public` that an anonymous visitor may read, each with its author's card.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat32, nat64, query, update

from . import graph, groups, orgs, post_search, posts, profiles, ratelimit
from .post_records import (
    FeedItem,
    FeedOrder,
    FeedPage,
    HashtagView,
    Post,
    PostPage,
    PublicFeedPage,
    PublicPost,
    ScoreParts,
)
from .records import PersonCard
from .store import MAX_ID

MAX_SOURCES = 400
"""People, groups, organisations and hashtags one feed reads (bounds its cost)."""
MAX_FEED_SCAN = 1_000
"""Posts one feed page examines."""
TOP_POOL = 200
"""Newest feed posts the ``top`` order ranks."""
MAX_FEED_PAGE = 50
MAX_FOLLOWED_TAGS = 100
BATCH = 8
"""Post ids read from one source at a time."""
HOUR_NS = 3600 * 1_000_000_000

followed_tags = StableBTreeMap[tuple[Principal, str], nat64]("feed.followed_tags")


# -- the score ------------------------------------------------------------------------------

def affinity(degree: int) -> int:
    return 4 if degree <= 1 else 2 if degree == 2 else 1


def score(reactions: int, comments: int, age_hours: int, degree: int) -> int:
    """The ``top`` score (see the module docstring)."""
    return ((1 + reactions + 2 * comments) * affinity(degree) * 1_000_000
            // (age_hours + 2) ** 2)


def score_parts(post: Post, degree: int, as_of: int) -> ScoreParts:
    reactions = sum(post.reactions)
    age = max(0, as_of - post.created_at) // HOUR_NS
    return ScoreParts(reactions, post.comment_count, age, degree, affinity(degree),
                      score(reactions, post.comment_count, age, degree))


# -- sources --------------------------------------------------------------------------------

Source = Callable[[int], Iterator[int]]
"""Post ids of one source below an id, newest first."""


def _batched(fetch: Callable[[int, int], list[int]]) -> Source:
    """A source from ``fetch(before, limit)``, read `BATCH` ids at a time."""
    def ids(before: int) -> Iterator[int]:
        while True:
            batch = fetch(before, BATCH)
            yield from batch
            if len(batch) < BATCH:
                return
            before = batch[-1]
    return ids


def _author_source(user: Principal) -> Source:
    return _batched(lambda before, n: [k[1] for k, _t in posts.by_author.range(
        (user, 0), (user, before), reverse=True, limit=n)])


def _scoped_source(index: StableBTreeMap[tuple[int, int], bool], key: int) -> Source:
    return _batched(lambda before, n: [k[1] for k, _t in index.range(
        (key, 0), (key, before), reverse=True, limit=n)])


def _tag_source(tag: str) -> Source:
    return _batched(lambda before, n: [k[1] for k, _t in posts.by_tag.range(
        (tag, 0), (tag, before), reverse=True, limit=n)])


def _tags_of(user: Principal) -> list[str]:
    return [t for (_u, t), _at in followed_tags.range((user, ""), (user, "\U0010ffff"),
                                                      limit=MAX_FOLLOWED_TAGS)]


def _sources(me: Principal) -> list[tuple[str, Source]]:
    """The viewer's feed sources in priority order."""
    connections = graph.connections(me)
    out: list[tuple[str, Source]] = [("you", _author_source(me))]
    out += [("connection", _author_source(p)) for p in connections[:MAX_SOURCES]]
    out += [("group", _scoped_source(posts.by_group, g)) for g in groups.group_ids_of(me)]
    out += [("organisation", _scoped_source(posts.by_org, o)) for o in orgs.followed_orgs(me)]
    seen = set(connections) | {me}
    out += [("following", _author_source(p)) for p in graph.following(me) if p not in seen]
    out += [("hashtag", _tag_source(t)) for t in _tags_of(me)]
    return out[:MAX_SOURCES]


def _merge(me: Principal, before: int, scan: int
           ) -> Iterator[tuple[int, Post | None, str]]:
    """The viewer's source posts below ``before``, newest first, each once, at most
    ``scan`` of them: ``(id, post or None when the viewer may not read it, reason)``."""
    sources = _sources(me)
    heap: list[tuple[int, int, Iterator[int]]] = []
    for rank, (_reason, source) in enumerate(sources):
        it = source(before)
        first = next(it, None)
        if first is not None:
            heap.append((-first, rank, it))
    heapq.heapify(heap)
    last = None
    while heap and scan > 0:
        neg, rank, it = heap[0]
        nxt = next(it, None)
        if nxt is None:
            heapq.heappop(heap)
        else:
            heapq.heapreplace(heap, (-nxt, rank, it))
        if -neg == last:
            continue
        last = -neg
        scan -= 1
        yield last, posts.visible(me, last), sources[rank][0]


def _parse(cursor: str | None, order: FeedOrder) -> list[int]:
    if cursor is None:
        return []
    parts = cursor.split(":")
    ok = (len(cursor) <= 80 and parts[0] == order.value[0]
          and all(p.isdigit() and p.isascii() for p in parts[1:])
          and len(parts) == (2 if order is FeedOrder.newest else 4))
    if not ok:
        raise Reject(f"{cursor[:40]!r} is not a {order.value} feed cursor; pass the "
                     "next_cursor of the previous page of the same order, or null")
    return [int(p) for p in parts[1:]]


@query
def home_feed(order: FeedOrder, cursor: str | None, limit: nat32) -> FeedPage:
    """The caller's home feed, at most ``limit`` (1–50) items per page (see the module
    docstring for what it holds and how ``top`` ranks)."""
    me = ic.caller()
    profiles.require_user(me)
    n = max(1, min(int(limit), MAX_FEED_PAGE))
    at = _parse(cursor, order)
    if order is FeedOrder.newest:
        items: list[FeedItem] = []
        examined = 0
        last = 0
        for post_id, found, reason in _merge(me, at[0] if at else MAX_ID, MAX_FEED_SCAN):
            examined, last = examined + 1, post_id
            if found is not None:
                if len(items) == n:
                    return FeedPage(items, f"n:{items[-1].post.id}", ic.time())
                items.append(FeedItem(posts.view(me, found), reason, None))
        more = examined == MAX_FEED_SCAN
        return FeedPage(items, f"n:{last}" if more else None, ic.time())
    as_of = at[0] if at else ic.time()
    degrees: dict[Principal, int] = {me: 0}
    ranked: list[tuple[ScoreParts, Post, str]] = []
    for _id, post, reason in _merge(me, MAX_ID, MAX_FEED_SCAN):
        if post is None:
            continue
        degree = degrees.get(post.author)
        if degree is None:
            degree = degrees[post.author] = graph.degree(me, post.author)
        ranked.append((score_parts(post, degree, as_of), post, reason))
        if len(ranked) >= TOP_POOL:
            break
    ranked.sort(key=lambda r: (r[0].score, r[1].id), reverse=True)
    if at:
        ranked = [r for r in ranked if (r[0].score, r[1].id) < (at[1], at[2])]
    page = ranked[:n]
    out = [FeedItem(posts.view(me, post), reason, parts) for parts, post, reason in page]
    nxt = (f"t:{as_of}:{page[-1][0].score}:{page[-1][1].id}"
           if len(ranked) > n else None)
    return FeedPage(out, nxt, as_of)


# -- lists ----------------------------------------------------------------------------------

def _readable_page(source: Source, readable: Callable[[int], Post | None],
                   cursor: str | None, limit: int) -> tuple[list[Post], str | None]:
    """The posts of one source that ``readable`` lets through, newest first, from a
    ``p:<id>`` cursor; at most `MAX_FEED_SCAN` examined, and ``limit`` (1–50) kept."""
    before = MAX_ID
    if cursor is not None:
        if not (cursor.startswith("p:") and cursor[2:].isdigit() and cursor.isascii()
                and len(cursor) <= 22):
            raise Reject(f"{cursor[:40]!r} is not a posts cursor; pass the next_cursor "
                         "of the previous page, or null for the first")
        before = int(cursor[2:])
    n = max(1, min(int(limit), MAX_FEED_PAGE))
    out: list[Post] = []
    last = before
    for scanned, post_id in enumerate(source(before), 1):
        last = post_id
        post = readable(post_id)
        if post is not None:
            out.append(post)
            if len(out) >= n:
                break
        if scanned >= MAX_FEED_SCAN:
            break
    else:
        return out, None
    more = next(source(last), None) is not None
    return out, f"p:{last}" if more else None


def _page(me: Principal, source: Source, cursor: str | None, limit: int) -> PostPage:
    """Posts of one source that ``me`` may read, newest first, from a ``p:<id>`` cursor."""
    found, nxt = _readable_page(source, lambda post_id: posts.visible(me, post_id),
                                cursor, limit)
    return PostPage([posts.view(me, post) for post in found], nxt)


_public_source = _batched(lambda before, n: [k for k, _t in posts.by_public.range(
    0, before, reverse=True, limit=n)])


@query
def public_feed(cursor: str | None, limit: nat32) -> PublicFeedPage:
    """The newest posts anyone may read (public posts of people whose posts are public,
    organisation posts, open groups' posts; never ``connections`` posts or a request
    group's), ``limit`` (1–50) a page, each with its author's card. Anyone may call it,
    the anonymous principal included; a signed-in caller also never sees a post of
    someone a block stands between. A page examines at most 1,000 posts of
    `posts.by_public`; ``next_cursor`` (``p:<id>``) continues."""
    me = ic.caller()
    anyone = Principal.anonymous()

    def readable(post_id: int) -> Post | None:
        post = posts.visible(anyone, post_id)
        return post if post is not None and posts.can_see(me, post) else None

    found, nxt = _readable_page(_public_source, readable, cursor, limit)
    cards: dict[Principal, PersonCard] = {}
    items = []
    for post in found:
        card = cards.get(post.author)
        if card is None:
            card = cards[post.author] = profiles.card_of(post.author, me)
        items.append(PublicPost(posts.view(me, post), card))
    return PublicFeedPage(items, nxt)


@query
def user_posts(user: Principal, cursor: str | None, limit: nat32) -> PostPage:
    """A person's posts that the caller may read, newest first."""
    return _page(ic.caller(), _author_source(user), cursor, limit)


@query
def org_posts(org_id: nat64, cursor: str | None, limit: nat32) -> PostPage:
    """An organisation's page posts, newest first."""
    if not orgs.exists(org_id):
        raise Reject(f"there is no organisation {org_id}")
    return _page(ic.caller(), _scoped_source(posts.by_org, org_id), cursor, limit)


@query
def group_posts(group_id: nat64, cursor: str | None, limit: nat32) -> PostPage:
    """A group's posts, newest first (everyone for an open group, members otherwise)."""
    me = ic.caller()
    if groups.groups.get(group_id) is None:
        raise Reject(f"there is no group {group_id}")
    if not groups.can_read(me, group_id):
        raise Reject(f"group {group_id} shows its posts to members only: ask to join")
    return _page(me, _scoped_source(posts.by_group, group_id), cursor, limit)


@query
def hashtag_posts(tag: str, cursor: str | None, limit: nat32) -> PostPage:
    """The hashtag page: posts with ``#tag`` that the caller may read, newest first."""
    return _page(ic.caller(), _tag_source(post_search.normalize_tag(tag)), cursor, limit)


# -- followed hashtags ----------------------------------------------------------------------

def _tag_view(me: Principal, tag: str) -> HashtagView:
    return HashtagView(tag, post_search.df.get("#" + tag, 0),
                       not me.is_anonymous and (me, tag) in followed_tags)


@query
def hashtag(tag: str) -> HashtagView:
    """A hashtag's post count and whether the caller follows it."""
    return _tag_view(ic.caller(), post_search.normalize_tag(tag))


@update
def follow_hashtag(tag: str) -> HashtagView:
    """Follow a hashtag: its posts join the caller's home feed (at most 100 tags)."""
    me = ic.caller()
    profiles.require_user(me)
    ratelimit.check(me, "graph")
    t = post_search.normalize_tag(tag)
    if (me, t) not in followed_tags:
        if len(_tags_of(me)) >= MAX_FOLLOWED_TAGS:
            raise Reject(f"you follow {MAX_FOLLOWED_TAGS} hashtags already: unfollow one first")
        followed_tags[(me, t)] = ic.time()
    return _tag_view(me, t)


@update
def unfollow_hashtag(tag: str) -> HashtagView:
    me = ic.caller()
    profiles.require_user(me)
    t = post_search.normalize_tag(tag)
    followed_tags.remove((me, t))
    return _tag_view(me, t)


@query
def followed_hashtags() -> list[HashtagView]:
    """The hashtags the caller follows, in alphabetical order."""
    me = ic.caller()
    return [_tag_view(me, t) for t in _tags_of(me)]
