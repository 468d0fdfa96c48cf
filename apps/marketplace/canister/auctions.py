"""Timed auctions with a reserve price: bids held in escrow, the outbid refunded, closed by timer.

A seller puts all the units of an active listing up as one lot (`start_auction`); while
the auction runs the listing's status is ``auction``, so nobody can check it out, make
or accept an offer on it, or edit it.

`place_bid` records the bid as ``pending_payment`` and only then pulls the amount with
``icrc2_transfer_from`` into the bid's own escrow subaccount (as `orders.checkout`
does; the state is committed at the ``await``). When the ledger has the funds, the bid
leads if it still beats the leading bid by the minimum increment, and the bid it
replaces is refunded; if another bid landed first, it is refunded at once. A refused
pull fails the bid (nothing was taken); an unanswered one stays pending and the sweeper
asks again with the same ``created_at_time`` and memo.

Anti-sniping: a bid that takes the lead with `limits.AUCTION_EXTEND_NS` (5 minutes)
or less to go moves ``ends_at`` 5 minutes later (``extensions`` counts the moves), so
a last-second bid always leaves the others time to answer. Buy it now: the seller may
give a running auction a buy-it-now price (`set_buy_now`, at least the start, the
reserve and the next bid); `buy_now` bids exactly that, and any paid bid that reaches
it wins at once — the auction is sold to it then, and later bids are refunded.

At ``ends_at`` the sweeper (`close_due`, every 10 s) closes the auction once none of
its bids is pending: a leading bid at or above the reserve wins and its escrow becomes
a paid order (``source = "auction"``) that goes on as any other (ship, confirm,
dispute, timeouts); otherwise the leading bid is refunded and the listing goes back on
sale at its price.
"""

from __future__ import annotations

from icframework.sdk import Reject, ic, nat, nat64, query, update

from . import access, limits, payouts
from .ledger import LedgerAnswer, memo, pull
from .market import listing_changed, record_activity
from .notifications import notify
from .orders import _payment_error, new_escrow
from .records import (
    Account,
    Auction,
    AuctionView,
    Bid,
    BidResult,
    BidView,
    Listing,
    ListingStatus,
    Order,
    PaymentError,
    Shop,
)
from .store import update_totals


def next_min_bid(auction: Auction) -> int:
    """The least a new bid may be: the start price, or the leading bid plus the increment."""
    if auction.leading_bid is None:
        return auction.start_price
    return auction.leading_amount + auction.min_increment


def auction_view(auction: Auction) -> AuctionView:
    listing = Listing.objects.filter(id=auction.listing_id).first()
    reserve_met = auction.leading_bid is not None and \
        auction.leading_amount >= auction.reserve_price
    return AuctionView(
        auction.id, auction.listing_id, listing.title if listing else "", auction.seller,
        auction.quantity, auction.start_price, auction.min_increment, next_min_bid(auction),
        reserve_met, auction.starts_at, auction.ends_at, auction.status,
        auction.leading_bidder, auction.leading_amount, auction.bids, auction.order_id,
        auction.buy_now_price, auction.extensions or 0,
    )


def bid_view(bid: Bid) -> BidView:
    return BidView(bid.id, bid.auction_id, bid.bidder, bid.amount, bid.status, bid.note,
                   Account(ic.id(), bid.escrow))


def _get_auction(auction_id: int) -> Auction:
    found = Auction.objects.filter(id=auction_id).first()
    if found is None:
        raise Reject(f"no auction {auction_id}")
    return found


def running_auction(listing_id: int) -> Auction | None:
    """The auction running on a listing, if any."""
    for auction in Auction.objects.filter(listing_id=listing_id):
        if auction.status == "running":
            return auction
    return None


@update
def start_auction(listing_id: nat64, start_price: nat, reserve_price: nat, min_increment: nat,
                  duration_ns: nat64) -> AuctionView:
    """Auction all the units of the caller's active listing as one lot for
    ``duration_ns`` (1 minute to 30 days). Bids start at ``start_price`` and beat the
    leading one by at least ``min_increment``; below ``reserve_price`` (0: none) the lot
    is not sold."""
    listing = access.own_listing(listing_id)
    if listing.status is not ListingStatus.active:
        raise Reject(f"listing {listing_id} is {listing.status.value}; auction an active "
                     "listing")
    if listing.locked:
        raise Reject(f"listing {listing_id} has {listing.locked} unit(s) in checkout; try "
                     "again when they are paid or released")
    access.price(start_price)
    access.price(min_increment)
    if reserve_price > limits.MAX_PRICE:
        raise Reject(f"a reserve price is at most {limits.MAX_PRICE} token units, "
                     f"got {reserve_price}")
    if not limits.MIN_AUCTION_NS <= duration_ns <= limits.MAX_AUCTION_NS:
        raise Reject(f"an auction lasts {limits.MIN_AUCTION_NS} to {limits.MAX_AUCTION_NS} ns, "
                     f"got {duration_ns}")
    now = ic.time()
    auction = Auction.objects.create(
        listing_id=listing.id, seller=listing.seller, quantity=listing.quantity,
        start_price=start_price, reserve_price=reserve_price, min_increment=min_increment,
        starts_at=now, ends_at=now + duration_ns, status="running",
    )
    listing.status = ListingStatus.auction
    listing.updated_at = now
    listing.save()
    listing_changed(listing)
    record_activity(listing.id, "auction_started", listing.seller, start_price)
    return auction_view(auction)


@update
def cancel_auction(auction_id: nat64) -> AuctionView:
    """The seller calls off an auction nobody has bid on; the listing is for sale again."""
    auction = _get_auction(auction_id)
    who = access.me()
    if auction.seller != who:
        raise Reject(f"only the seller may cancel auction {auction_id} ({who} is not)")
    if auction.status != "running":
        raise Reject(f"auction {auction_id} is {auction.status}, not running")
    if auction.leading_bid is not None or _pending_bids(auction.id):
        raise Reject(f"auction {auction_id} has bids; it runs until {auction.ends_at}")
    auction.status = "cancelled"
    auction.save()
    _back_on_sale(auction, "auction_cancelled")
    return auction_view(auction)


def _pending_bids(auction_id: int) -> list[Bid]:
    return [b for b in Bid.objects.filter(auction_id=auction_id)
            if b.status == "pending_payment"]


def _refund(bid: Bid, why: str) -> int:
    """Start refunding a paid bid; the payout's id."""
    bid.status = "refunding"
    bid.note = why
    bid.save()
    return payouts.record("refund", Account(bid.bidder), bid.amount, bid.escrow,
                          bid_id=bid.id).id


def apply_pull(bid_id: int, answer: LedgerAnswer) -> tuple[BidResult, list[int]]:
    """Record the ledger's answer to a bid's pull (from `place_bid` or the sweeper): the
    result and the refund payouts to send."""
    bid = Bid.objects.filter(id=bid_id).first()
    assert bid is not None
    if bid.status == "failed" and answer.kind in ("ok", "duplicate"):
        update_totals(escrow_held=bid.amount)  # paid after it failed: give it back
        refund = _refund(bid, "the payment arrived after the bid had failed; refunded")
        return BidResult(Ok=bid_view(bid)), [refund]
    if bid.status != "pending_payment":
        return BidResult(Ok=bid_view(bid)), []  # already decided by another path
    if answer.kind == "refused":
        bid.status, bid.note = "failed", f"payment refused: {answer.error}"
        bid.save()
        return BidResult(Err=_payment_error(answer)), []
    if answer.kind == "unknown":
        bid.note = f"payment pending: {answer.error}; the marketplace will ask the ledger again"
        bid.save()
        return BidResult(Err=PaymentError(Pending=bid.id)), []
    update_totals(escrow_held=bid.amount)
    auction = _get_auction(bid.auction_id)
    if auction.status != "running" or bid.amount < next_min_bid(auction):
        refund = _refund(bid, f"outbid while paying: the leading bid is "
                              f"{auction.leading_amount}; refunded")
        return BidResult(Ok=bid_view(bid)), [refund]
    refunds = []
    if auction.leading_bid is not None:
        previous = Bid.objects.filter(id=auction.leading_bid).first()
        if previous is not None and previous.status == "leading":
            refunds.append(_refund(previous, f"outbid by {bid.amount}; refunded"))
            record_activity(auction.listing_id, "outbid", previous.bidder, previous.amount)
            if previous.bidder != bid.bidder:
                notify(previous.bidder, "outbid", f"your bid on auction {auction.id} was "
                       "beaten; it is refunded", listing_id=auction.listing_id,
                       auction_id=auction.id, amount=bid.amount)
    bid.status, bid.note = "leading", "the leading bid"
    bid.save()
    auction.leading_bid, auction.leading_bidder = bid.id, bid.bidder
    auction.leading_amount = bid.amount
    auction.bids += 1
    _extend_if_late(auction, bid.created_at_time)
    auction.save()
    record_activity(auction.listing_id, "bid", bid.bidder, bid.amount)
    if auction.buy_now_price is not None and bid.amount >= auction.buy_now_price:
        _sell(auction, bid)  # bought now: the auction ends with this bid
    return BidResult(Ok=bid_view(bid)), refunds


def _extend_if_late(auction: Auction, placed_at: int) -> None:
    """Anti-sniping: a bid placed with `limits.AUCTION_EXTEND_NS` or less to go that
    takes the lead moves the end that much later, so others can answer it."""
    if auction.ends_at - placed_at <= limits.AUCTION_EXTEND_NS:
        auction.ends_at += limits.AUCTION_EXTEND_NS
        auction.extensions = (auction.extensions or 0) + 1
        record_activity(auction.listing_id, "extended", auction.seller)


@update
async def place_bid(auction_id: nat64, amount: nat) -> BidResult:
    """Bid ``amount`` (at least the auction's ``next_min_bid``) on a running auction;
    approve the marketplace for ``amount`` plus the ledger fee first. The funds stay in
    the bid's escrow until it is outbid (refunded), loses to the reserve (refunded) or
    wins (the order's escrow)."""
    return await _bid(auction_id, amount)


async def _bid(auction_id: int, amount: int) -> BidResult:
    who = access.me()
    cfg = access.settings()
    auction = _get_auction(auction_id)
    if auction.seller == who:
        raise Reject(f"{who} cannot bid on their own auction {auction_id}")
    now = ic.time()
    if auction.status != "running" or now >= auction.ends_at:
        raise Reject(f"auction {auction_id} is closed ({auction.status}, ended at "
                     f"{auction.ends_at})")
    access.price(amount)
    least = next_min_bid(auction)
    if amount < least:
        raise Reject(f"a bid on auction {auction_id} is at least {least}, got {amount}")
    _escrow_id, escrow = new_escrow()
    bid = Bid.objects.create(auction_id=auction_id, bidder=who, amount=amount, escrow=escrow,
                             status="pending_payment", created_at_time=now,
                             note="waiting for the ledger")
    answer = await pull(cfg.ledger, who, escrow, amount, memo_bytes=memo(b"bid", bid.id),
                        created_at_time=now)
    result, refunds = apply_pull(bid.id, answer)
    if not refunds:
        return result
    for payout_id in refunds:
        await payouts.run(payout_id)
    found = Bid.objects.filter(id=bid.id).first()
    assert found is not None
    return BidResult(Ok=bid_view(found))


def _back_on_sale(auction: Auction, kind: str) -> None:
    listing = Listing.objects.filter(id=auction.listing_id).first()
    if listing is None:
        return
    listing.status = ListingStatus.active if listing.quantity else ListingStatus.sold_out
    listing.updated_at = ic.time()
    listing.save()
    listing_changed(listing)
    record_activity(listing.id, kind, auction.seller)


def _sell(auction: Auction, bid: Bid) -> None:
    """The leading bid wins: its escrow pays for a new paid order of the lot."""
    now = ic.time()
    cfg = access.settings()
    listing = Listing.objects.filter(id=auction.listing_id).first()
    assert listing is not None
    lot = min(auction.quantity, listing.quantity)
    listing.quantity -= lot
    listing.sold += lot
    listing.status = ListingStatus.active if listing.quantity else ListingStatus.sold_out
    listing.updated_at = now
    listing.save()
    listing_changed(listing)
    order = Order.objects.create(
        listing_id=listing.id, buyer=bid.bidder, seller=auction.seller, quantity=lot,
        unit_price=bid.amount // max(lot, 1), amount=bid.amount, status="paid",
        created_at=now, updated_at=now, escrow=bid.escrow, ship_by=now + cfg.ship_within_ns,
        note="paid by the winning bid", source="auction",
    )
    bid.status, bid.note = "won", f"won: order {order.id}"
    bid.save()
    auction.status, auction.order_id = "sold", order.id
    auction.save()
    shop = Shop.objects.filter(owner=auction.seller).first()
    if shop is not None:
        shop.sales += lot
        shop.save()
    update_totals(sales=1)  # the escrow was counted when the bid was paid
    record_activity(listing.id, "sold", bid.bidder, bid.amount, order.id)
    notify(auction.seller, "item_sold", f"auction {auction.id}: {listing.title} sold as "
           f"order {order.id}; ship it to the buyer", listing_id=listing.id,
           order_id=order.id, auction_id=auction.id, amount=bid.amount)
    notify(bid.bidder, "auction_won", f"you won auction {auction.id}: {listing.title} "
           f"(order {order.id})", listing_id=listing.id, order_id=order.id,
           auction_id=auction.id, amount=bid.amount)


def close_due(now: int) -> None:
    """Close the auctions past their end whose bids are all decided (refund payouts
    are sent by the sweeper)."""
    for auction in Auction.objects.filter(status="running").list():
        if auction.ends_at > now or _pending_bids(auction.id):
            continue
        leading = Bid.objects.filter(id=auction.leading_bid).first() \
            if auction.leading_bid is not None else None
        if leading is not None and leading.status == "leading" and \
                leading.amount >= auction.reserve_price:
            _sell(auction, leading)
            continue
        if leading is not None and leading.status == "leading":
            _refund(leading, "the reserve price was not met; refunded")
        auction.status = "unsold"
        auction.save()
        _back_on_sale(auction, "auction_unsold")


async def retry_pulls(now: int, budget: int) -> int:
    """Ask the ledger again about bids whose pull was not answered; the budget left."""
    cfg = access.settings()
    for bid in Bid.objects.filter(status="pending_payment").list():
        if budget <= 0:
            break
        if now - bid.created_at_time < 30 * limits.SECOND:
            continue
        budget -= 1
        answer = await pull(cfg.ledger, bid.bidder, bid.escrow, bid.amount,
                            memo_bytes=memo(b"bid", bid.id), created_at_time=bid.created_at_time)
        apply_pull(bid.id, answer)  # refunds it records are sent with the other payouts
    return budget


@update
def set_buy_now(auction_id: nat64, price: nat | None) -> AuctionView:
    """The seller offers the lot at ``price`` to whoever pays it first (`buy_now`), or
    withdraws that offer (null). Allowed while the leading bid is below ``price``;
    ``price`` is at least the start and the reserve price."""
    auction = _get_auction(auction_id)
    who = access.me()
    if auction.seller != who:
        raise Reject(f"only the seller may set the buy-it-now price of auction {auction_id} "
                     f"({who} is not)")
    if auction.status != "running":
        raise Reject(f"auction {auction_id} is {auction.status}, not running")
    if price is not None:
        access.price(price)
        least = max(auction.start_price, auction.reserve_price, next_min_bid(auction))
        if price < least:
            raise Reject(f"a buy-it-now price on auction {auction_id} is at least {least} "
                         f"(the start, the reserve and the next bid), got {price}")
    auction.buy_now_price = price
    auction.save()
    record_activity(auction.listing_id, "buy_now", who, price)
    return auction_view(auction)


@update
async def buy_now(auction_id: nat64) -> BidResult:
    """Pay the auction's buy-it-now price (approve the marketplace for it plus the
    ledger fee first): a bid of that amount, which ends the auction at once with this
    buyer as the winner once the ledger has the funds (a paid order, as for a won
    auction). Raises `Reject` if the auction has no buy-it-now price."""
    auction = _get_auction(auction_id)
    if auction.buy_now_price is None:
        raise Reject(f"auction {auction_id} has no buy-it-now price; bid with place_bid")
    return await _bid(auction_id, auction.buy_now_price)


@query
def auction(auction_id: nat64) -> AuctionView | None:
    found = Auction.objects.filter(id=auction_id).first()
    return auction_view(found) if found else None


@query
def running_auctions() -> list[AuctionView]:
    """The running auctions, ending soonest first."""
    rows = sorted(Auction.objects.filter(status="running"), key=lambda a: (a.ends_at, a.id))
    return [auction_view(a) for a in rows[: limits.MAX_PAGE]]


@query
def auction_bids(auction_id: nat64) -> list[BidView]:
    """The bids paid into an auction, highest first (pending and failed ones left out)."""
    rows = [b for b in Bid.objects.filter(auction_id=auction_id)
            if b.status in ("leading", "won", "refunding", "refunded")]
    return [bid_view(b) for b in sorted(rows, key=lambda b: (-b.amount, b.id))]


@query
def my_bids() -> list[BidView]:
    return [bid_view(b) for b in Bid.objects.filter(bidder=ic.caller())]
