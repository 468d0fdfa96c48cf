"""Notifications: kept per user and published on ``user:<principal>`` as they happen (offer
received, item sold, outbid, auction ending and won, shipped, disputes), and the
topic is the user's alone."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.candid import decode
from icframework.sdk import Principal
from icframework.sdk.types import TypeMapper

from .test_auctions import START, auction, bid
from .world import ARBITER, BUYER, BUYER2, FEE, SELLER, World, limits, make_world, records

_NOTE = TypeMapper().info(records.Notification)


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    world.market.backend.events.clear()
    return world


def published(w: World) -> list[tuple[str, Any]]:
    """What the marketplace published since the last call, decoded."""
    from_wire = _NOTE.from_wire
    assert from_wire is not None
    out = [(topic, from_wire(decode(data, [_NOTE.candid])[0]))
           for topic, data in w.market.backend.events]
    w.market.backend.events.clear()
    return out


def topic(who: Any) -> str:
    return f"user:{who.to_text()}"


def test_an_offer_and_a_sale_reach_the_seller_live_and_are_kept(w: World) -> None:
    item = w.listing(quantity=2)
    w.approve(BUYER, 500_000 + FEE)
    w.u(BUYER, "make_offer", item.id, 1, 500_000)
    ((where, note),) = published(w)
    assert where == topic(SELLER) and note.kind == "offer_received"
    assert note.amount == 500_000 and note.listing_id == item.id

    w.buy(BUYER2, item.id)
    ((where, sold),) = published(w)
    assert where == topic(SELLER) and sold.kind == "item_sold" and sold.order_id is not None
    w.u(SELLER, "ship", sold.order_id, "parcel 42")
    ((where, shipped),) = published(w)
    assert where == topic(BUYER2) and shipped.kind == "order_shipped"
    assert "parcel 42" in shipped.text

    kept = w.q(SELLER, "my_notifications", None, 10)
    assert [n.kind for n in kept] == ["item_sold", "offer_received"]  # newest first
    assert w.q(SELLER, "my_notifications", kept[0].id, 10) == kept[1:]
    assert w.q(BUYER, "my_notifications", None, 10) == []


def test_the_outbid_hear_it_and_the_auction_ending_and_its_winner_are_told(w: World) -> None:
    a = auction(w)
    bid(w, BUYER, a.id, START)
    published(w)
    bid(w, BUYER2, a.id, START + 100_000)
    ((where, outbid),) = published(w)
    assert where == topic(BUYER) and outbid.kind == "outbid" and outbid.auction_id == a.id

    w.advance(a.ends_at - w.market.backend.now_ns - limits.AUCTION_ENDING_NOTICE_NS)
    ending = published(w)
    assert sorted(t for t, n in ending if n.kind == "auction_ending") == sorted(
        [topic(SELLER), topic(BUYER), topic(BUYER2)])
    w.advance(limits.SWEEP_EVERY_NS)
    assert not [n for _t, n in published(w) if n.kind == "auction_ending"]  # once only

    w.advance(limits.AUCTION_ENDING_NOTICE_NS)
    w.advance(limits.SWEEP_EVERY_NS)
    kinds = {(t, n.kind) for t, n in published(w)}
    assert (topic(SELLER), "item_sold") in kinds and (topic(BUYER2), "auction_won") in kinds


def test_a_dispute_tells_the_seller_and_the_arbiter_and_its_end_both_parties(w: World) -> None:
    item = w.listing()
    order = w.buy(BUYER, item.id).value
    published(w)
    w.u(BUYER, "open_dispute", order.id, "it arrived broken")
    opened = published(w)
    assert {t for t, n in opened if n.kind == "dispute"} == {topic(SELLER), topic(ARBITER)}
    w.u(ARBITER, "resolve_dispute", order.id, True, "photos show the damage")
    closed = published(w)
    assert {t for t, n in closed if n.kind == "dispute"} == {topic(SELLER), topic(BUYER)}


def test_only_the_user_may_subscribe_to_their_topic(w: World) -> None:
    assert w.q(BUYER, "can_subscribe", topic(BUYER)) is True
    assert w.q(BUYER2, "can_subscribe", topic(BUYER)) is False
    assert w.q(Principal.anonymous(), "can_subscribe", "user:2vxsx-fae") is False
    assert w.q(BUYER, "can_subscribe", "listing:1") is False


def test_a_user_keeps_the_newest_hundred(w: World) -> None:
    item = w.listing(quantity=1)
    for n in range(105):
        w.approve(BUYER, 100_000 + n + FEE)
        w.u(BUYER, "make_offer", item.id, 1, 100_000 + n)
    kept = w.q(SELLER, "my_notifications", None, 100)
    assert len(kept) == 100 and kept[0].amount == 100_104 and kept[-1].amount == 100_005
