"""Auction rules beyond the basics: anti-sniping (a late bid moves the end) and buy it now,
against the real Python ledger with the money invariant checked."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import Reject

from .test_auctions import HOUR, START, auction, balanced, bid, close
from .world import BUYER, BUYER2, FEE, SELLER, World, limits, make_world

EXTEND = limits.AUCTION_EXTEND_NS


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def test_a_bid_in_the_last_minutes_moves_the_end_and_an_early_one_does_not(w: World) -> None:
    a = auction(w, duration=HOUR)
    bid(w, BUYER, a.id, START)
    early = w.q(BUYER, "auction", a.id)
    assert early.ends_at == a.ends_at and early.extensions == 0

    w.advance(HOUR - EXTEND + limits.SECOND)  # inside the last five minutes
    bid(w, BUYER2, a.id, START + 100_000)
    late = w.q(BUYER, "auction", a.id)
    assert late.ends_at == a.ends_at + EXTEND and late.extensions == 1

    w.advance(EXTEND - limits.SECOND)  # past the original end: still running
    assert w.q(BUYER, "auction", a.id).status == "running"
    bid(w, BUYER, a.id, START + 200_000)  # answered within the new last minutes
    again = w.q(BUYER, "auction", a.id)
    assert again.ends_at == a.ends_at + 2 * EXTEND and again.extensions == 2
    activity = [x.kind for x in w.q(BUYER, "listing_activity", a.listing_id, 0, 50)]
    assert activity.count("extended") == 2

    w.advance(2 * EXTEND)
    w.advance(limits.SWEEP_EVERY_NS)
    ended = w.q(BUYER, "auction", a.id)
    assert ended.status == "sold" and ended.leading_bidder == BUYER
    assert ended.leading_amount == START + 200_000
    balanced(w)


def test_a_bid_too_late_to_land_is_refused(w: World) -> None:
    a = auction(w, duration=HOUR)
    w.advance(HOUR)
    w.approve(BUYER, START + FEE)
    with pytest.raises(Reject, match=f"auction {a.id} is closed"):
        w.u(BUYER, "place_bid", a.id, START)


def test_buy_it_now_ends_the_auction_at_once_and_refunds_the_leader(w: World) -> None:
    a = auction(w, reserve=2_000_000)
    with pytest.raises(Reject, match="no buy-it-now price"):
        w.u(BUYER, "buy_now", a.id)
    with pytest.raises(Reject, match="at least 2000000"):
        w.u(SELLER, "set_buy_now", a.id, 1_500_000)
    with pytest.raises(Reject, match="only the seller"):
        w.u(BUYER, "set_buy_now", a.id, 3_000_000)
    priced = w.u(SELLER, "set_buy_now", a.id, 3_000_000)
    assert priced.buy_now_price == 3_000_000

    bid(w, BUYER, a.id, START)
    before = w.balance(BUYER)
    w.approve(BUYER2, 3_000_000 + FEE)
    won = w.u(BUYER2, "buy_now", a.id)
    assert won.tag == "Ok" and won.value.status == "won"
    sold = w.q(BUYER, "auction", a.id)
    assert sold.status == "sold" and sold.leading_bidder == BUYER2
    (order,) = w.q(BUYER2, "my_orders", False, None, 10)
    assert order.id == sold.order_id and order.amount == 3_000_000 and order.source == "auction"
    assert w.balance(BUYER) == before + START - FEE  # the outbid leader is refunded
    with pytest.raises(Reject, match="is closed"):
        bid(w, BUYER, a.id, 4_000_000)
    balanced(w)


def test_any_bid_that_reaches_the_buy_it_now_price_wins_at_once(w: World) -> None:
    a = auction(w)
    w.u(SELLER, "set_buy_now", a.id, 2_000_000)
    result = bid(w, BUYER, a.id, 2_500_000)
    assert result.value.status == "won"
    assert w.q(BUYER, "auction", a.id).status == "sold"
    balanced(w)


def test_buy_it_now_can_be_withdrawn_and_not_set_below_the_leading_bid(w: World) -> None:
    a = auction(w)
    bid(w, BUYER, a.id, 2_000_000)
    with pytest.raises(Reject, match="at least 2100000"):
        w.u(SELLER, "set_buy_now", a.id, 2_050_000)
    w.u(SELLER, "set_buy_now", a.id, 5_000_000)
    withdrawn: Any = w.u(SELLER, "set_buy_now", a.id, None)
    assert withdrawn.buy_now_price is None
    with pytest.raises(Reject, match="no buy-it-now price"):
        w.u(BUYER2, "buy_now", a.id)
    close(w)
    assert w.q(BUYER, "auction", a.id).status == "sold"
    balanced(w)
