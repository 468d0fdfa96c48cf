"""Favourites, reviews and ratings, and the market's statistics."""

from __future__ import annotations

from icframework.sdk import Reject, ic, nat8, nat64, query, update

from . import access, catalogue, limits
from .market import record_activity, view
from .records import (
    Auction,
    Listing,
    ListingView,
    MarketConfig,
    Order,
    Review,
    ReviewView,
    Shop,
    Stats,
)
from .store import favourites, totals


@update
def set_favourite(listing_id: nat64, on: bool) -> ListingView:
    """Add a listing to the caller's watchlist (``on``) or take it off."""
    who = access.me()
    listing = access.get_listing(listing_id)
    present = (who, listing_id) in favourites
    if on and not present:
        favourites[(who, listing_id)] = ic.time()
        listing.favourites += 1
    elif not on and present:
        favourites.remove((who, listing_id))
        listing.favourites -= 1
    listing.save()
    catalogue.refresh(listing)  # the popular order counts favourites
    return view(listing)


@query
def my_favourites() -> list[ListingView]:
    who = ic.caller()
    rows = []
    for (owner, listing_id), _at in favourites.range((who, 0), None):
        if owner != who:
            break
        found = Listing.objects.filter(id=listing_id).first()
        if found is not None:
            rows.append(view(found))
    return rows


@update
def review(order_id: nat64, rating: nat8, text: str) -> ReviewView:
    """The buyer reviews a settled order once: ``rating`` 1 to 5 and a text."""
    who = access.me()
    order = access.get_order(order_id)
    if order.buyer != who:
        raise Reject(f"only the buyer of order {order_id} may review it")
    if order.status != "settled":
        raise Reject(f"order {order_id} is {order.status}; review after delivery")
    if order.reviewed:
        raise Reject(f"order {order_id} was reviewed already")
    if not 1 <= rating <= 5:
        raise Reject(f"a rating is 1 to 5, got {rating}")
    words = access.text(text, "a review", limits.MAX_REVIEW_CHARS, required=False)
    found = Review.objects.create(order_id=order_id, listing_id=order.listing_id, author=who,
                                  rating=rating, text=words, created_at=ic.time())
    order.reviewed = True
    order.save()
    listing = Listing.objects.filter(id=order.listing_id).first()
    if listing is not None:
        listing.rating_sum += rating
        listing.rating_count += 1
        listing.save()
    shop = Shop.objects.filter(owner=order.seller).first()
    if shop is not None:
        shop.rating_sum += rating
        shop.rating_count += 1
        shop.save()
    record_activity(order.listing_id, "reviewed", who, rating, order_id)
    return ReviewView(found.order_id, who, rating, words, found.created_at)


@query
def reviews(listing_id: nat64) -> list[ReviewView]:
    return [ReviewView(r.order_id, r.author, r.rating, r.text, r.created_at)
            for r in Review.objects.filter(listing_id=listing_id)]


@query
def stats() -> Stats:
    now = totals.get()
    listed = catalogue.for_sale_count()
    running = Auction.objects.filter(status="running").count()
    return Stats(now.volume, now.sales, Order.objects.count(), listed, Shop.objects.count(),
                 now.escrow_held, now.platform_fees, running, now.next_escrow - 1)


@query
def market_config() -> MarketConfig:
    cfg = access.settings()
    return MarketConfig(cfg.ledger, cfg.admin, cfg.arbiter, cfg.platform_fee_bps,
                        cfg.ledger_fee, cfg.checkout_timeout_ns, cfg.ship_within_ns,
                        cfg.confirm_within_ns, cfg.offer_ttl_ns, limits.MAX_PRICE,
                        limits.MAX_IMAGE_BYTES, limits.CHUNK_BYTES)
