"""Timed auctions against the real Python ledger: bids in escrow, the outbid refunded, the
reserve, closing by timer, concurrent bids, failed and unanswered pulls."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import CallRejected, Reject

from .world import (
    ADMIN,
    ANON,
    BUYER,
    BUYER2,
    FEE,
    LEDGER_ID,
    MARKET_ID,
    SELLER,
    World,
    certify,
    limits,
    make_world,
    records,
)

HOUR = 60 * limits.MINUTE
START = 1_000_000


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def balanced(w: World) -> None:
    assert w.money_in_accounts() == w.supply()


def auction(w: World, price: int = 5_000_000, quantity: int = 1, reserve: int = 0,
            increment: int = 100_000, duration: int = HOUR) -> Any:
    item = w.listing(price=price, quantity=quantity)
    return w.u(SELLER, "start_auction", item.id, START, reserve, increment, duration)


def bid(w: World, who: Any, auction_id: int, amount: int) -> Any:
    w.approve(who, amount + FEE)
    return w.u(who, "place_bid", auction_id, amount)


def close(w: World) -> None:
    """Let every auction end and the sweeper close it and send its payouts."""
    w.advance(limits.MAX_AUCTION_NS)
    w.advance(limits.SWEEP_EVERY_NS)


def test_the_highest_bid_wins_and_the_outbid_are_refunded(w: World) -> None:
    a = auction(w, quantity=2)
    assert a.status == "running" and a.next_min_bid == START and not a.reserve_met
    listing = w.q(BUYER, "listing", a.listing_id)
    assert listing.status.value == "auction"
    proof = w.q(BUYER, "certified_listing", a.listing_id)
    assert proof.status.value == "auction" and certify.verify(
        proof.listing_id, proof.seller, proof.price, proof.available, proof.status.value,
        proof.bucket, proof.buckets, w.market.backend.certified_data, proof.witness)
    first = bid(w, BUYER, a.id, START)
    assert first.tag == "Ok" and first.value.status == "leading"
    assert w.balance(MARKET_ID, first.value.escrow.subaccount) == START
    second = bid(w, BUYER2, a.id, 1_500_000)
    assert second.value.status == "leading"
    mine = w.q(BUYER, "my_bids")
    assert [(b.status, w.balance(MARKET_ID, b.escrow.subaccount)) for b in mine] == \
        [("refunded", 0)]
    # two approvals, one pull, one refund less its transfer fee
    assert w.balance(BUYER) == 50_000_000 - FEE - (START + FEE) + START - FEE
    assert [b.amount for b in w.q(BUYER, "auction_bids", a.id)] == [1_500_000, START]
    kinds = [x.kind for x in w.q(BUYER, "listing_activity", a.listing_id, 0, 50)]
    assert kinds == ["listed", "auction_started", "bid", "outbid", "bid"]
    assert w.q(BUYER, "stats").auctions_running == 1
    close(w)
    ended = w.q(BUYER, "auction", a.id)
    assert ended.status == "sold" and ended.order_id is not None
    order = w.q(BUYER2, "order", ended.order_id)
    assert (order.status.value, order.source, order.amount, order.quantity) == \
        ("paid", "auction", 1_500_000, 2)
    assert order.escrow.subaccount == second.value.escrow.subaccount
    listing = w.q(BUYER, "listing", a.listing_id)
    assert (listing.status.value, listing.available, listing.sold) == ("sold_out", 0, 2)
    w.u(SELLER, "ship", order.id, "parcel")
    assert w.u(BUYER2, "confirm_delivery", order.id).status.value == "settled"
    assert w.q(BUYER2, "my_bids")[0].status == "won"
    balanced(w)


def test_reserve_not_met_refunds_and_puts_the_item_back_on_sale(w: World) -> None:
    a = auction(w, reserve=3_000_000)
    made = bid(w, BUYER, a.id, 2_000_000)
    assert made.value.status == "leading"
    assert not w.q(BUYER, "auction", a.id).reserve_met
    close(w)
    ended = w.q(BUYER, "auction", a.id)
    assert ended.status == "unsold" and ended.order_id is None
    assert w.q(BUYER, "my_bids")[0].status == "refunded"
    listing = w.q(BUYER, "listing", a.listing_id)
    assert (listing.status.value, listing.available) == ("active", 1)
    assert w.buy(BUYER2, a.listing_id).tag == "Ok"  # for sale at its price again
    balanced(w)


def test_an_auction_without_bids_ends_unsold(w: World) -> None:
    a = auction(w)
    close(w)
    assert w.q(BUYER, "auction", a.id).status == "unsold"
    assert w.q(BUYER, "listing", a.listing_id).status.value == "active"


def test_bids_are_checked(w: World) -> None:
    a = auction(w)
    for who, amount, match in [
        (SELLER, START, "cannot bid on their own"),
        (ANON, START, "sign in first"),
        (BUYER, START - 1, f"at least {START}"),
        (BUYER, limits.MAX_PRICE + 1, "a price is at most"),
    ]:
        with pytest.raises(Reject, match=match):
            w.u(who, "place_bid", a.id, amount)
    bid(w, BUYER, a.id, START)
    with pytest.raises(Reject, match=f"at least {START + 100_000}"):
        w.u(BUYER2, "place_bid", a.id, START + 99_999)
    with pytest.raises(Reject, match="no auction 99"):
        w.u(BUYER2, "place_bid", 99, START)
    w.advance(HOUR)
    with pytest.raises(Reject, match="is closed"):
        w.u(BUYER2, "place_bid", a.id, 9_000_000)
    balanced(w)


def test_starting_an_auction_is_checked_and_the_listing_is_frozen(w: World) -> None:
    item = w.listing(price=5_000_000)
    with pytest.raises(Reject, match="belongs to"):
        w.u(BUYER, "start_auction", item.id, START, 0, 1, HOUR)
    with pytest.raises(Reject, match="an auction lasts"):
        w.u(SELLER, "start_auction", item.id, START, 0, 1, 1)
    with pytest.raises(Reject, match="must be positive"):
        w.u(SELLER, "start_auction", item.id, 0, 0, 1, HOUR)
    with pytest.raises(Reject, match="reserve price is at most"):
        w.u(SELLER, "start_auction", item.id, START, limits.MAX_PRICE + 1, 1, HOUR)
    w.approve(BUYER, 10_000_000)
    offer = w.u(BUYER, "make_offer", item.id, 1, 4_000_000).value
    a = w.u(SELLER, "start_auction", item.id, START, 0, 1, HOUR)
    for who, method, args, match in [
        (BUYER2, "checkout", (item.id, 1), "not for sale"),
        (SELLER, "accept_offer", (offer.id,), "being auctioned"),
        (BUYER2, "make_offer", (item.id, 1, 100), "takes no offers"),
        (SELLER, "update_listing", (item.id, records.ListingInput("x", "", 1, 1, "bikes"), []),
         "being auctioned"),
        (SELLER, "delist", (item.id,), "cancel_auction first"),
        (SELLER, "start_auction", (item.id, START, 0, 1, HOUR), "auction an active listing"),
        (BUYER, "cancel_auction", (a.id,), "only the seller"),
    ]:
        with pytest.raises(Reject, match=match):
            w.u(who, method, *args)
    assert w.u(SELLER, "cancel_auction", a.id).status == "cancelled"
    assert w.q(BUYER, "listing", item.id).status.value == "active"
    b = w.u(SELLER, "start_auction", item.id, START, 0, 1, HOUR)
    bid(w, BUYER2, b.id, START)
    with pytest.raises(Reject, match="has bids"):
        w.u(SELLER, "cancel_auction", b.id)
    balanced(w)


def test_a_listing_with_units_in_checkout_cannot_be_auctioned(w: World) -> None:
    item = w.listing(quantity=2)
    w.approve(BUYER, 5_000_000)
    flight = w.market.start_update("checkout", item.id, 1, caller=BUYER)
    with pytest.raises(Reject, match="in checkout"):
        w.u(SELLER, "start_auction", item.id, START, 0, 1, HOUR)
    assert flight.deliver().result().tag == "Ok"
    a = w.u(SELLER, "start_auction", item.id, START, 0, 1, HOUR)
    assert a.quantity == 1


def test_a_bid_outbid_while_paying_is_refunded(w: World) -> None:
    a = auction(w)
    w.approve(BUYER, 2_000_000)
    w.approve(BUYER2, 3_000_000)
    slow = w.market.start_update("place_bid", a.id, 1_200_000, caller=BUYER)
    fast = w.market.start_update("place_bid", a.id, 1_500_000, caller=BUYER2)
    assert fast.deliver().result().value.status == "leading"
    slow.deliver()  # paid, but 1.5 M leads now: refunded at once
    while not slow.done:
        slow.deliver()
    late = slow.result().value
    assert late.status == "refunded" and "outbid while paying" in late.note
    assert w.q(BUYER, "auction", a.id).leading_bidder == BUYER2
    assert w.balance(MARKET_ID, late.escrow.subaccount) == 0
    balanced(w)


def test_refused_bids_take_nothing(w: World) -> None:
    a = auction(w)
    w.approve(BUYER, 10)
    low = w.u(BUYER, "place_bid", a.id, START)
    assert low.tag == "Err" and low.value.tag == "InsufficientAllowance"
    assert w.q(BUYER, "my_bids")[0].status == "failed"
    assert w.q(BUYER, "auction", a.id).bids == 0
    balanced(w)


def test_an_unanswered_bid_is_asked_again_and_the_auction_waits_for_it(w: World) -> None:
    a = auction(w, duration=limits.MINUTE)

    def down(method: str, arg: bytes, caller: Any, cycles: int) -> bytes:
        raise CallRejected(LEDGER_ID.to_text(), method, 5, "ledger trapped: out of cycles")

    w.approve(BUYER, START + FEE)
    w.market.connect(LEDGER_ID, down)
    pending = w.u(BUYER, "place_bid", a.id, START)
    assert pending.tag == "Err" and pending.value.tag == "Pending"
    w.advance(2 * limits.MINUTE)  # past the end, ledger still down: the auction waits
    assert w.q(BUYER, "auction", a.id).status == "running"
    w.market.connect(LEDGER_ID, w.ledger)
    w.advance(limits.SWEEP_EVERY_NS)  # the pull goes through: a late bid, so the end moves
    extended = w.q(BUYER, "auction", a.id)
    assert extended.status == "running" and extended.extensions == 1
    assert extended.ends_at == a.ends_at + limits.AUCTION_EXTEND_NS
    w.advance(limits.AUCTION_EXTEND_NS)  # nobody answered: the auction closes
    ended = w.q(BUYER, "auction", a.id)
    assert ended.status == "sold" and ended.leading_bidder == BUYER
    balanced(w)


def test_a_lost_answer_to_a_bid_is_deduplicated(w: World) -> None:
    a = auction(w)
    w.approve(BUYER, 2 * START)
    flight = w.market.start_update("place_bid", a.id, START, caller=BUYER)
    assert flight.call is not None
    assert w.market.deliver(flight.call).reject is None  # the ledger took the funds...
    flight.reject(2, "connection lost")  # ...the marketplace did not hear it
    w.advance(limits.MINUTE)
    assert w.q(BUYER, "my_bids")[0].status == "leading"
    assert w.balance(BUYER) == 50_000_000 - FEE - (START + FEE)  # pulled once
    balanced(w)


def test_auctions_survive_an_upgrade_and_the_admin_sees_escrows(w: World) -> None:
    a = auction(w)
    bid(w, BUYER, a.id, START)
    w.market.upgrade(records.InitArgs(ledger=LEDGER_ID))
    assert w.q(BUYER, "auction", a.id).leading_bidder == BUYER
    assert [x.id for x in w.q(BUYER, "running_auctions")] == [a.id]
    close(w)
    assert w.q(BUYER, "auction", a.id).status == "sold"
    assert w.q(ADMIN, "stats").escrows == 1
    balanced(w)
