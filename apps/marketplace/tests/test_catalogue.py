"""The catalogue's indexes answer `search`, `categories` and `stats` exactly as a scan of
every listing would: random listings, edits, delistings, sales and favourites, then
random queries paged to the end, checked against a brute-force oracle."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import set_backend

from .world import ADMIN, BUYER, BUYER2, MARKET_APP, SELLER, World, make_world

records = MARKET_APP.records
catalogue = MARKET_APP.catalogue

WORDS = ["blue", "red", "bicycle", "teapot", "oak", "lamp"]
CATEGORIES = ["bikes", "kitchen", "home"]
SORTS = ["newest", "price_asc", "price_desc", "popular"]

create = st.tuples(st.just("create"), st.sampled_from([SELLER, BUYER2]),
                   st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                   st.integers(1, 3).map(lambda n: n * 100), st.sampled_from(CATEGORIES),
                   st.integers(1, 2))
edit = st.tuples(st.just("edit"), st.integers(0, 20),
                 st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
                 st.integers(1, 3).map(lambda n: n * 100), st.sampled_from(CATEGORIES))
delist = st.tuples(st.just("delist"), st.integers(0, 20))
buy = st.tuples(st.just("buy"), st.integers(0, 20))
favourite = st.tuples(st.just("favourite"), st.integers(0, 20), st.sampled_from([BUYER, ADMIN]),
                      st.booleans())
steps = st.tuples(st.lists(create, min_size=3, max_size=9),
                  st.lists(st.one_of(create, edit, delist, buy, favourite), max_size=10)
                  ).map(lambda parts: parts[0] + parts[1])
queries = st.builds(
    records.SearchQuery,
    text=st.lists(st.sampled_from(WORDS), max_size=2).map(" ".join),
    category=st.none() | st.sampled_from(CATEGORIES),
    shop_id=st.none() | st.sampled_from([1, 2]),
    min_price=st.none() | st.integers(0, 400),
    max_price=st.none() | st.integers(0, 400),
    include_sold_out=st.booleans(),
    sort=st.sampled_from(SORTS),
    cursor=st.none(),
    limit=st.integers(1, 4),
)


def _apply(w: World, ids: list[int], step: tuple[Any, ...]) -> None:
    kind = step[0]
    if kind == "create":
        _kind, who, words, price, category, quantity = step
        data = records.ListingInput(" ".join(words), f"about {words[-1]}", price, quantity,
                                    category)
        ids.append(w.u(who, "create_listing", data, []).id)
        return
    if not ids:
        return
    lid = ids[step[1] % len(ids)]
    row = w.q(BUYER, "listing", lid)
    try:
        if kind == "edit":
            _kind, _n, words, price, category = step
            data = records.ListingInput(" ".join(words), row.description, price,
                                        max(row.quantity, 1), category)
            w.u(row.seller, "update_listing", lid, data, [])
        elif kind == "delist":
            w.u(row.seller, "delist", lid)
        elif kind == "buy":
            w.buy(BUYER, lid)
        else:
            w.u(step[2], "set_favourite", lid, step[3])
    except Exception:  # refused (delisted, sold out, ...): the state must stay consistent
        pass


def _oracle(rows: list[Any], q: Any) -> list[int]:
    wanted = catalogue.tokens(q.text)
    hits = []
    for r in rows:
        status = r.status.value
        if status == "delisted" or (status == "sold_out" and not q.include_sold_out):
            continue
        if q.category is not None and r.category != q.category:
            continue
        if q.shop_id is not None and r.shop_id != q.shop_id:
            continue
        if q.min_price is not None and r.price < q.min_price:
            continue
        if q.max_price is not None and r.price > q.max_price:
            continue
        have = set(catalogue.tokens(f"{r.title} {r.description} {r.category}"))
        if all(word in have for word in wanted):
            hits.append(r)
    keys = {
        "newest": lambda r: (-r.id,),
        "price_asc": lambda r: (r.price, -r.id),
        "price_desc": lambda r: (-r.price, r.id),
        "popular": lambda r: (-r.sold, -r.favourites, -r.id),
    }
    return [r.id for r in sorted(hits, key=keys[q.sort])]


def _paged(w: World, q: Any) -> tuple[list[int], list[int]]:
    """Every id over the pages of ``q``, and each page's total."""
    ids: list[int] = []
    totals: list[int] = []
    cursor = None
    for _ in range(50):
        page = w.q(BUYER, "search", records.SearchQuery(**{**q.__dict__, "cursor": cursor}))
        ids += [x.id for x in page.listings]
        totals.append(page.total)
        cursor = page.next_cursor
        if cursor is None:
            return ids, totals
    raise AssertionError("search never reached its last page")


def _world() -> World:
    w = make_world()
    w.shop(SELLER)
    w.shop(BUYER2)
    return w


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps, st.lists(queries, min_size=1, max_size=6))
def test_search_answers_what_a_scan_of_every_listing_would(
    plan: list[tuple[Any, ...]], asked: list[Any]
) -> None:
    w = _world()
    ids: list[int] = []
    for step in plan:
        _apply(w, ids, step)
    rows = [w.q(BUYER, "listing", lid) for lid in ids]
    for q in asked:
        expected = _oracle(rows, q)
        got, totals = _paged(w, q)
        assert got == expected, q
        assert set(totals) == {len(expected)}, q
    for_sale = [r for r in rows if r.status.value in ("active", "auction")]
    by_category: dict[str, int] = {}
    for r in for_sale:
        by_category[r.category] = by_category.get(r.category, 0) + 1
    assert w.q(BUYER, "categories") == sorted(by_category.items())
    assert w.q(BUYER, "stats").listed == len(for_sale)


def test_an_upgrade_from_before_the_catalogue_rebuilds_it_step_by_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(catalogue, "REBUILD_STEP", 2)  # listings per message
    w = _world()
    first = w.listing(title="Red bicycle", price=300)
    for n in range(4):
        w.listing(title=f"Oak lamp {n}", price=200, category="home")
    w.u(SELLER, "delist", first.id)
    # The state an older version left: postings in `words`, no catalogue.
    previous = set_backend(w.market.backend)
    try:
        with w.market.backend.transaction():
            for table in (catalogue.postings, catalogue.browse, catalogue.counts,
                          catalogue.entries):
                table.clear()
            catalogue.version.set(0)
            for n in range(30):
                MARKET_APP.store.words[(f"word{n}", first.id)] = True
    finally:
        set_backend(previous)
    assert w.q(BUYER, "search", records.SearchQuery(text="lamp")).total == 0
    w.market.upgrade(records.InitArgs(ledger=w.ledger.canister_id))
    # The upgrade indexed the first step (ids 1 and 2; 1 is delisted), timers the rest.
    assert w.q(BUYER, "search", records.SearchQuery(text="lamp")).total == 1
    steps = 0
    while _state(w, lambda: catalogue.rebuilding()):
        w.advance(1)
        steps += 1
        assert steps < 20, "the rebuild never finished"
    found = w.q(BUYER, "search", records.SearchQuery(text="lamp", sort="price_asc"))
    assert [x.title for x in found.listings] == [f"Oak lamp {n}" for n in (3, 2, 1, 0)]
    assert w.q(BUYER, "search", records.SearchQuery()).total == 4  # the delisted one is out
    assert w.q(BUYER, "categories") == [("home", 4)]
    assert _state(w, lambda: (len(MARKET_APP.store.words), catalogue.version.get())) == (
        0, catalogue.VERSION)
    w.market.upgrade(records.InitArgs(ledger=w.ledger.canister_id))  # current: no rebuild
    assert not _state(w, lambda: catalogue.rebuilding())


def _state(w: World, read: Any) -> Any:
    """``read()`` over the marketplace's committed state."""
    previous = set_backend(w.market.backend)
    try:
        return read()
    finally:
        set_backend(previous)
