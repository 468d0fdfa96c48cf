"""Offers: a buyer proposes a price for some units, with the funds already in escrow.

`make_offer` records the offer, then pulls ``amount`` into the offer's own escrow
subaccount (as `orders.checkout` does; an unanswered pull is asked again by the
sweeper). An open offer can be cancelled by the buyer or declined by the seller (both
refund it), or accepted by the seller while enough units are for sale: then it becomes
a paid order with the same escrow, and the order goes on as any other. Open offers
expire after `limits.OFFER_TTL_NS` and are refunded.
"""

from __future__ import annotations

from icframework.sdk import Reject, ic, nat, nat32, nat64, query, update

from . import access, limits, notifications, payouts
from .ledger import LedgerAnswer, memo, pull
from .market import listing_changed, record_activity
from .orders import _payment_error, new_escrow, order_view
from .records import (
    Account,
    ListingStatus,
    Offer,
    OfferResult,
    OfferView,
    Order,
    OrderView,
    PaymentError,
    Shop,
)
from .store import update_totals


def offer_view(offer: Offer) -> OfferView:
    return OfferView(offer.id, offer.listing_id, offer.buyer, offer.quantity, offer.amount,
                     offer.status, offer.created_at, offer.expires_at, offer.order_id)


def apply_pull(offer_id: int, answer: LedgerAnswer) -> OfferResult:
    offer = Offer.objects.filter(id=offer_id).first()
    assert offer is not None
    if offer.status == "failed" and answer.kind in ("ok", "duplicate"):
        update_totals(escrow_held=offer.amount)  # paid after it failed: give it back
        _refund(offer, "offer_refunded")
        return OfferResult(Ok=offer_view(offer))
    if offer.status != "pending_payment":
        return OfferResult(Ok=offer_view(offer))
    if answer.kind in ("ok", "duplicate"):
        offer.status = "open"
        offer.expires_at = ic.time() + access.settings().offer_ttl_ns
        offer.save()
        update_totals(escrow_held=offer.amount)
        record_activity(offer.listing_id, "offer", offer.buyer, offer.amount)
        notifications.offer_received(offer)
        return OfferResult(Ok=offer_view(offer))
    if answer.kind == "refused":
        offer.status = "failed"
        offer.save()
        return OfferResult(Err=_payment_error(answer))
    return OfferResult(Err=PaymentError(Pending=offer.id))


@update
async def make_offer(listing_id: nat64, quantity: nat32, amount: nat) -> OfferResult:
    """Offer ``amount`` (for all ``quantity`` units) on a listing; approve the
    marketplace for ``amount`` plus the ledger fee first."""
    who = access.me()
    cfg = access.settings()
    listing = access.get_listing(listing_id)
    if listing.seller == who:
        raise Reject("you cannot make an offer on your own listing")
    if listing.status not in (ListingStatus.active, ListingStatus.sold_out):
        raise Reject(f"listing {listing_id} takes no offers ({listing.status})")
    if not 1 <= quantity <= limits.MAX_QUANTITY:
        raise Reject(f"an offer is for 1 to {limits.MAX_QUANTITY} units, got {quantity}")
    access.price(amount)
    _escrow_id, escrow = new_escrow()
    now = ic.time()
    offer = Offer.objects.create(listing_id=listing_id, buyer=who, quantity=quantity,
                                 amount=amount, escrow=escrow, status="pending_payment",
                                 created_at=now, created_at_time=now)
    answer = await pull(cfg.ledger, who, escrow, amount, memo_bytes=memo(b"offer", offer.id),
                        created_at_time=now)
    return apply_pull(offer.id, answer)


def _refund(offer: Offer, status_note: str) -> list[int]:
    offer.status = "refunding"
    offer.save()
    record_activity(offer.listing_id, status_note, offer.buyer, offer.amount)
    return [payouts.record("refund", Account(offer.buyer), offer.amount, offer.escrow,
                           offer_id=offer.id).id]


def _open_offer(offer_id: int) -> Offer:
    offer = Offer.objects.filter(id=offer_id).first()
    if offer is None:
        raise Reject(f"no offer {offer_id}")
    if offer.status != "open":
        raise Reject(f"offer {offer_id} is {offer.status}, not open")
    return offer


@update
async def cancel_offer(offer_id: nat64) -> OfferView:
    """The buyer withdraws an open offer; the funds come back."""
    who = access.me()
    offer = _open_offer(offer_id)
    if offer.buyer != who:
        raise Reject(f"only the buyer may cancel offer {offer_id}")
    for payout_id in _refund(offer, "offer_cancelled"):
        await payouts.run(payout_id)
    found = Offer.objects.filter(id=offer_id).first()
    assert found is not None
    return offer_view(found)


@update
async def decline_offer(offer_id: nat64) -> OfferView:
    """The seller turns an open offer down; the buyer's funds come back."""
    offer = _open_offer(offer_id)
    access.own_listing(offer.listing_id)
    for payout_id in _refund(offer, "offer_declined"):
        await payouts.run(payout_id)
    found = Offer.objects.filter(id=offer_id).first()
    assert found is not None
    return offer_view(found)


@update
def accept_offer(offer_id: nat64) -> OrderView:
    """The seller accepts an open offer: it becomes a paid order (the funds are
    already in escrow) for units taken off the listing."""
    offer = _open_offer(offer_id)
    listing = access.own_listing(offer.listing_id)
    if listing.status is ListingStatus.auction:
        raise Reject(f"listing {listing.id} is being auctioned; accept offers after the "
                     "auction")
    if listing.status is ListingStatus.delisted or listing.quantity < offer.quantity:
        raise Reject(f"listing {listing.id} has {listing.quantity} unit(s) for sale; the "
                     f"offer is for {offer.quantity}")
    now = ic.time()
    cfg = access.settings()
    listing.quantity -= offer.quantity
    listing.sold += offer.quantity
    if listing.quantity == 0:
        listing.status = ListingStatus.sold_out
    listing.save()
    listing_changed(listing)
    unit = offer.amount // offer.quantity
    order = Order.objects.create(
        listing_id=listing.id, buyer=offer.buyer, seller=listing.seller,
        quantity=offer.quantity, unit_price=unit, amount=offer.amount,
        status="paid", created_at=now, updated_at=now, escrow=offer.escrow,
        ship_by=now + cfg.ship_within_ns, note="paid by an accepted offer", source="offer",
    )
    offer.status, offer.order_id = "accepted", order.id
    offer.save()
    shop = Shop.objects.filter(owner=listing.seller).first()
    if shop is not None:
        shop.sales += offer.quantity
        shop.save()
    update_totals(sales=1)  # the escrow was counted when the offer opened
    record_activity(listing.id, "sold", offer.buyer, offer.amount, order.id)
    return order_view(order)


@query
def offers_for(listing_id: nat64) -> list[OfferView]:
    """The open offers on a listing, highest first."""
    rows = [o for o in Offer.objects.filter(listing_id=listing_id) if o.status == "open"]
    return [offer_view(o) for o in sorted(rows, key=lambda o: (-o.amount, o.id))]


@query
def my_offers() -> list[OfferView]:
    return [offer_view(o) for o in Offer.objects.filter(buyer=ic.caller())]


def expire(now: int) -> None:
    """Refund open offers past their expiry (payouts sent by the sweeper)."""
    for offer in Offer.objects.filter(status="open").list():
        if offer.expires_at < now:
            _refund(offer, "offer_expired")


async def retry_pulls(now: int) -> None:
    for offer in Offer.objects.filter(status="pending_payment").list():
        if now - offer.created_at < 30 * limits.SECOND:
            continue
        cfg = access.settings()
        answer = await pull(cfg.ledger, offer.buyer, offer.escrow, offer.amount,
                            memo_bytes=memo(b"offer", offer.id),
                            created_at_time=offer.created_at_time)
        apply_pull(offer.id, answer)
