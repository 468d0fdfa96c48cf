"""The catalogue: the indexes `market.search`, `categories` and `stats` read, so that a
page costs about its own size, not the number of listings.

Every listing that is not delisted is in the catalogue, in a *family*: ``+`` while it
is for sale at its price (active), ``~`` while it is being auctioned, ``-`` once sold
out. A search reads the families of its status filter (`STATUSES`: by default
``for_sale``, i.e. ``+`` and ``~``, plus ``-`` with ``include_sold_out``), merging
them in order. Under its family a listing has:

* postings of ``family + token`` for each distinct word of its title, description and
  category (`tokens`) and the filter tokens ``"\\x00c" + category`` and
  ``"\\x00s" + shop id``, kept in blocks of `BLOCK` listing ids:
  ``postings[(family + token, listing_id // BLOCK)]`` → the block's listing ids, then
  their prices, as little-endian u64 arrays. A word search reads a word's blocks (a
  few hundred at 100,000 listings) and intersects whole arrays, without a Python step
  per posting.
* browse keys ``browse[(order, family + scope, k1, k2, MAX - listing_id)] → price`` in
  the scopes ``*`` (everything), ``c<category>`` and ``s<shop id>``, for the orders
  ``n`` (newest: k1 = k2 = 0), ``p`` (price: k1 = price) and ``h`` (popular: k1 =
  MAX - sold, k2 = MAX - favourites). A page without words streams one scope in order.
* ``counts[family + scope]``: how many listings the scope holds.
* ``entries[listing_id]`` → `Entry`: what the listing is indexed under, so `refresh`
  writes only what changed.

A canister upgraded from an older layout rebuilds the catalogue (`start_rebuild`),
a step of `REBUILD_STEP` listings per message, so that any number of listings fits in
the messages' instruction limits.

Ties: newest first, except ``price_desc`` (a reverse scan of the price order): there
equal prices come oldest first.
"""

from __future__ import annotations

import heapq
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from icframework.sdk import StableBTreeMap, StableCell, nat32, nat64

from . import limits
from .records import Listing, ListingStatus, SearchQuery

_WORD = re.compile(r"[\w]+", re.UNICODE)
MAX = 2**64 - 1
FOR_SALE, AUCTION, SOLD_OUT = "+", "~", "-"
ORDERS = {"newest": "n", "price_asc": "p", "price_desc": "p", "popular": "h"}
STATUSES = {"for_sale": [FOR_SALE, AUCTION], "active": [FOR_SALE], "auction": [AUCTION],
            "sold_out": [SOLD_OUT], "any": [FOR_SALE, AUCTION, SOLD_OUT]}
"""``SearchQuery.status`` → the families searched."""
BLOCK = 1024  # listing ids per postings block (a block is at most 16 KiB)
VERSION = 2  # of the layout above; `start_rebuild` brings an older canister's state to it
# (version 1 kept auctions in the ``+`` family)


@dataclass
class Entry:
    family: str
    category: str
    shop_id: nat64
    price: nat64
    sold: nat32
    favourites: nat32
    tokens: list[str]


postings = StableBTreeMap[tuple[str, nat64], bytes]("catalogue.postings")
browse = StableBTreeMap[tuple[str, str, nat64, nat64, nat64], nat64]("catalogue.browse")
counts = StableBTreeMap[str, nat64]("catalogue.counts")
entries = StableBTreeMap[nat64, Entry]("catalogue.entries")
version = StableCell[nat32]("catalogue.version", default=0)
rebuild_next = StableCell[nat64]("catalogue.rebuild_next", default=0)  # 0: not rebuilding
REBUILD_STEP = 200  # listings indexed per message by a rebuild


def tokens(text: str) -> list[str]:
    """The distinct search words of ``text`` (lower case, 2-32 characters)."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        if 2 <= len(word) <= 32:
            seen.setdefault(word, None)
    return list(seen)


def _entry(listing: Listing) -> Entry | None:
    if listing.status is ListingStatus.delisted:
        return None
    family = (SOLD_OUT if listing.status is ListingStatus.sold_out
              else AUCTION if listing.status is ListingStatus.auction else FOR_SALE)
    words = tokens(f"{listing.title} {listing.description} {listing.category}")
    return Entry(family, listing.category, listing.shop_id, listing.price, listing.sold,
                 listing.favourites, words)


def _scopes(entry: Entry) -> list[str]:
    return ["*", "c" + entry.category, f"s{entry.shop_id}"]


def _postings(entry: Entry) -> set[str]:
    return {entry.family + t for t in
            (*entry.tokens, "\x00c" + entry.category, f"\x00s{entry.shop_id}")}


def _browse(entry: Entry, inv_id: int) -> dict[tuple[str, str, int, int, int], int]:
    keys = {}
    for scope in _scopes(entry):
        scoped = entry.family + scope
        keys[("n", scoped, 0, 0, inv_id)] = entry.price
        keys[("p", scoped, entry.price, 0, inv_id)] = entry.price
        keys[("h", scoped, MAX - entry.sold, MAX - entry.favourites, inv_id)] = entry.price
    return keys


def _arrays(raw: bytes) -> tuple[array[int], array[int]]:
    """A postings block's listing ids and prices."""
    half = len(raw) // 2
    ids, prices = array("Q"), array("Q")
    ids.frombytes(raw[:half])
    prices.frombytes(raw[half:])
    return ids, prices


def _post(token: str, listing_id: int, price: int | None) -> None:
    """Set the listing's posting under ``token`` to ``price``, or remove it (None)."""
    key = (token, listing_id // BLOCK)
    raw = postings.get(key)
    ids, prices = _arrays(raw) if raw is not None else (array("Q"), array("Q"))
    try:
        at = ids.index(listing_id)
    except ValueError:
        at = -1
    if price is None:
        if at < 0:
            return
        del ids[at]
        del prices[at]
    elif at < 0:
        ids.append(listing_id)
        prices.append(price)
    else:
        prices[at] = price
    if ids:
        postings[key] = ids.tobytes() + prices.tobytes()
    else:
        postings.remove(key)


def refresh(listing: Listing) -> None:
    """Bring the listing's index entries up to date (after any change to it)."""
    old = entries.get(listing.id)
    new = _entry(listing)
    if old == new:
        return
    inv_id = MAX - listing.id
    old_post = _postings(old) if old else set()
    new_post = _postings(new) if new else set()
    price = new.price if new else 0
    for token in old_post - new_post:
        _post(token, listing.id, None)
    for token in new_post if old is None or old.price != price else new_post - old_post:
        _post(token, listing.id, price)
    old_browse = _browse(old, inv_id) if old else {}
    new_browse = _browse(new, inv_id) if new else {}
    for key in old_browse.keys() - new_browse.keys():
        browse.remove(key)
    for key, value in new_browse.items():
        if old_browse.get(key) != value:
            browse[key] = value
    old_scopes = {old.family + s for s in _scopes(old)} if old else set()
    new_scopes = {new.family + s for s in _scopes(new)} if new else set()
    for scope in old_scopes - new_scopes:
        left = counts.get(scope, 0) - 1
        if left:
            counts[scope] = left
        else:
            counts.remove(scope)
    for scope in new_scopes - old_scopes:
        counts[scope] = counts.get(scope, 0) + 1
    if new is None:
        entries.remove(listing.id)
    else:
        entries[listing.id] = new


def start_rebuild() -> None:
    """After an upgrade from an older layout: forget the catalogue and index every
    listing again, `REBUILD_STEP` of them per message (`rebuild_step`, run by a timer;
    searches meanwhile see the listings indexed so far)."""
    for table in (postings, browse, counts, entries):
        table.clear()
    rebuild_next.set(1)


def rebuilding() -> bool:
    return rebuild_next.get() != 0


def rebuild_step() -> bool:
    """Index the next `REBUILD_STEP` listings (and drop as many of the old postings);
    True once every listing is indexed and the catalogue's version is current."""
    from .store import words  # the layout before the catalogue

    for key, _flag in list(words.range(limit=REBUILD_STEP * 8)):
        words.remove(key)
    start = rebuild_next.get()
    last = Listing.objects.order_by("-pk").first()
    last_id = last.id if last is not None else 0
    stop = min(start + REBUILD_STEP, last_id + 1)
    for listing_id in range(start, stop):
        row = Listing.objects.filter(id=listing_id).first()
        if row is not None:
            refresh(row)
    if stop > last_id and len(words) == 0:
        rebuild_next.set(0)
        version.set(VERSION)
        return True
    rebuild_next.set(stop)
    return False


def for_sale_by_category() -> list[tuple[str, int]]:
    """``(category, listings for sale)`` for every category with any, by name (active
    and auctioned listings)."""
    totals: dict[str, int] = {}
    for family in (FOR_SALE, AUCTION):
        for scope, n in counts.range(family + "c", family + "d"):
            totals[scope[2:]] = totals.get(scope[2:], 0) + n
    return sorted(totals.items())


def for_sale_count() -> int:
    return counts.get(FOR_SALE + "*", 0) + counts.get(AUCTION + "*", 0)


# -- search ------------------------------------------------------------------------------------


@dataclass
class Found:
    """One page of a search: listing ids in order, and the number of matches."""

    ids: list[int]
    total: int
    more: bool


def search(q: SearchQuery, offset: int, limit: int) -> Found:
    """The listing ids of page ``offset``..``offset + limit`` of ``q`` (its sort and
    status already checked)."""
    if q.status is not None:
        families = STATUSES[q.status]
    else:
        families = STATUSES["any"] if q.include_sold_out else STATUSES["for_sale"]
    words = tokens(q.text)[: limits.MAX_SEARCH_TOKENS]
    category = q.category.casefold() if q.category is not None else None
    if not words and (category is None or q.shop_id is None):
        scope = ("c" + category if category is not None
                 else f"s{q.shop_id}" if q.shop_id is not None else "*")
        return _browse_page(q, families, scope, offset, limit)
    if category is not None:
        words.append("\x00c" + category)
    if q.shop_id is not None:
        words.append(f"\x00s{q.shop_id}")
    return _word_page(q, families, words, offset, limit)


def _in_price(q: SearchQuery, price: int) -> bool:
    return (q.min_price is None or price >= q.min_price) and (
        q.max_price is None or price <= q.max_price)


def _stream(order: str, scoped: str, q: SearchQuery, reverse: bool) -> Iterator[
        tuple[tuple[int, int, int], int]]:
    """``((k1, k2, inv_id), price)`` of one scope in order, price range applied to the
    keys where the order is by price."""
    lo: tuple[str, str, int, int, int] = (order, scoped, 0, 0, 0)
    hi: tuple[str, str, int, int, int] = (order, scoped + "\x00", 0, 0, 0)
    if order == "p":
        if q.min_price is not None:
            lo = (order, scoped, min(q.min_price, MAX), 0, 0)
        if q.max_price is not None and q.max_price < MAX:
            hi = (order, scoped, q.max_price + 1, 0, 0)
    for (_o, _s, k1, k2, inv), price in browse.range(lo, hi, reverse=reverse):
        yield (k1, k2, inv), price


def _browse_page(q: SearchQuery, families: list[str], scope: str, offset: int,
                 limit: int) -> Found:
    order = ORDERS[q.sort]
    reverse = q.sort == "price_desc"
    streams = [_stream(order, family + scope, q, reverse) for family in families]
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, reverse=reverse)
    priced = order != "p" and (q.min_price is not None or q.max_price is not None)
    ids: list[int] = []
    seen = 0
    more = False
    for (_k1, _k2, inv), price in merged:
        if priced and not _in_price(q, price):
            continue
        if seen >= offset:
            if len(ids) == limit:
                more = True
                break
            ids.append(MAX - inv)
        seen += 1
    if q.min_price is None and q.max_price is None:
        total = sum(counts.get(family + scope, 0) for family in families)
    elif not more:
        total = seen
    else:  # count the matches past this page: the price order's range, keys only
        total = sum(1 for family in families
                    for _ in _stream("p", family + scope, q, False))
    return Found(ids, total, more)


def _posting_blocks(families: list[str], word: str) -> Iterator[tuple[array[int], array[int]]]:
    for family in families:
        token = family + word
        for _key, raw in postings.range((token, 0), (token + "\x00", 0)):
            yield _arrays(raw)


def _word_page(q: SearchQuery, families: list[str], words: list[str], offset: int,
               limit: int) -> Found:
    prices: dict[int, int] = {}
    for ids, block_prices in _posting_blocks(families, words[0]):
        prices.update(zip(ids, block_prices, strict=True))
    matching = set(prices)
    for word in words[1:]:
        if not matching:
            break
        with_word: set[int] = set()
        for ids, _prices in _posting_blocks(families, word):
            with_word.update(ids)
        matching &= with_word
    if q.min_price is not None or q.max_price is not None:
        matching = {lid for lid in matching if _in_price(q, prices[lid])}
    if q.sort == "newest":
        ordered = sorted(matching, reverse=True)
    elif q.sort == "price_asc":
        ordered = [lid for _p, _n, lid in sorted((prices[lid], -lid, lid) for lid in matching)]
    elif q.sort == "price_desc":
        ordered = [lid for _p, lid in sorted((-prices[lid], lid) for lid in matching)]
    else:  # popular: sold and favourites are in the entries
        popularity = {lid: entries[lid] for lid in matching}
        ordered = sorted(matching, key=lambda lid: (-popularity[lid].sold,
                                                    -popularity[lid].favourites, -lid))
    page = ordered[offset: offset + limit]
    return Found(page, len(ordered), offset + limit < len(ordered))
