"""`search`'s status filter: for_sale (the default), active, auction, sold_out and any,
with words, categories and every sort; an unknown status is refused."""

from __future__ import annotations

import pytest

from icframework.sdk import Reject

from .world import BUYER, SELLER, World, limits, make_world, records


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def ids(w: World, status: str | None, **more: object) -> list[int]:
    page = w.q(BUYER, "search", records.SearchQuery(status=status, **more))  # type: ignore[arg-type]
    return [int(x.id) for x in page.listings]


def test_each_status_finds_its_listings_in_every_sort(w: World) -> None:
    active = w.listing(title="Red bike", price=3_000_000).id
    auctioned = w.listing(title="Blue bike", price=2_000_000).id
    sold = w.listing(title="Green bike", price=1_000_000).id
    w.u(SELLER, "start_auction", auctioned, 1_000_000, 0, 100_000, limits.DAY)
    w.buy(BUYER, sold)
    for sort in ("newest", "price_asc", "price_desc", "popular"):
        assert ids(w, "active", sort=sort) == [active]
        assert ids(w, "auction", sort=sort) == [auctioned]
        assert ids(w, "sold_out", sort=sort) == [sold]
        assert sorted(ids(w, "for_sale", sort=sort)) == sorted([active, auctioned])
        assert sorted(ids(w, None, sort=sort)) == sorted([active, auctioned])
        assert sorted(ids(w, "any", sort=sort)) == sorted([active, auctioned, sold])
        assert ids(w, "auction", sort=sort, text="bike") == [auctioned]
        assert ids(w, "sold_out", sort=sort, text="green bike") == [sold]
        assert ids(w, "active", sort=sort, text="blue") == []
        assert ids(w, "auction", sort=sort, category="bikes") == [auctioned]
    assert ids(w, "any", sort="price_asc") == [sold, auctioned, active]
    page = w.q(BUYER, "search", records.SearchQuery(status="auction"))
    assert page.total == 1
    assert w.q(BUYER, "categories") == [("bikes", 2)]


def test_an_auction_that_ends_unsold_is_active_again(w: World) -> None:
    item = w.listing(title="Lamp").id
    w.u(SELLER, "start_auction", item, 1_000_000, 0, 100_000, limits.MINUTE)
    assert ids(w, "auction") == [item]
    w.advance(limits.MINUTE + limits.SWEEP_EVERY_NS)
    assert ids(w, "auction") == [] and ids(w, "active") == [item]


def test_an_unknown_status_is_refused_with_the_choices(w: World) -> None:
    with pytest.raises(Reject, match="unknown status 'ended'; use one of for_sale, active, "
                                     "auction, sold_out, any"):
        ids(w, "ended")
