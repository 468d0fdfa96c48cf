"""Notifications: what the marketplace tells a user, kept for them and pushed live on a socket.

`notify` is what the other modules call when something happens to a user: an offer on
their listing (``offer_received``), their item sold (``item_sold``), their bid beaten
(``outbid``), an auction they sell or bid on about to end (``auction_ending``), an
auction they won (``auction_won``), an order shipped (``order_shipped``), a dispute
opened, decided or closed by its deadline (``dispute``), and a buyer or seller opening
the order's conversation (``order_message``). A notification is stored under
``notes[(user, id)]`` (ids grow, so a reverse range is newest first; a user keeps the
newest `MAX_KEPT`) and published, as a `Notification`, to ``user:<principal text>``,
a topic only that principal may subscribe to (`can_subscribe`). A page that was
offline reads what it missed with `my_notifications`.

``auction_ending`` is sent once per auction (`auction_ending`, run by the sweeper) when
it has `limits.AUCTION_ENDING_NOTICE_NS` or less to go: to its seller and to everyone
whose bid was paid into it.
"""

from __future__ import annotations

from icframework.sdk import Principal, StableBTreeMap, StableCell, ic, nat16, nat32, nat64, query

from . import limits
from .records import Auction, Bid, Listing, Notification, Offer

MAX_KEPT = 100
"""Notifications kept per user (the oldest go first)."""

_next_id = StableCell[nat64]("notes.next_id", default=1)
notes = StableBTreeMap[tuple[Principal, nat64], Notification]("notes.notes")
kept = StableBTreeMap[Principal, nat32]("notes.kept")
ending_sent = StableBTreeMap[nat64, bool]("notes.ending_sent")
"""Auctions whose ``auction_ending`` notices went out."""


def topic_of(user: Principal) -> str:
    """The topic ``user``'s notifications are published on."""
    return f"user:{user.to_text()}"


def notify(user: Principal, kind: str, text: str, *, listing_id: int | None = None,
           order_id: int | None = None, auction_id: int | None = None,
           room_id: int | None = None, amount: int | None = None) -> None:
    """Keep a notification for ``user`` and publish it on their topic."""
    if user.is_anonymous:
        return
    note_id = _next_id.get()
    _next_id.set(note_id + 1)
    note = Notification(note_id, kind, text, ic.time(), listing_id, order_id, auction_id,
                        room_id, amount)
    notes[(user, note_id)] = note
    count = kept.get(user, 0) + 1
    if count > MAX_KEPT:
        oldest = next(iter(notes.range((user, 0), (user, note_id), limit=1)), None)
        if oldest is not None:
            notes.remove(oldest[0])
            count -= 1
    kept[user] = count
    ic.publish(topic_of(user), note, Notification)


def offer_received(offer: Offer) -> None:
    """Tell the seller that ``offer`` (paid into escrow) is waiting for an answer."""
    listing = Listing.objects.filter(id=offer.listing_id).first()
    if listing is not None:
        notify(listing.seller, "offer_received", f"an offer for {offer.quantity} of "
               f"{listing.title}", listing_id=listing.id, amount=offer.amount)


def auction_ending(now: int) -> None:
    """Tell the seller and the bidders of each running auction that ends within
    `limits.AUCTION_ENDING_NOTICE_NS` (once per auction)."""
    for auction in Auction.objects.filter(status="running").list():
        if auction.ends_at - now > limits.AUCTION_ENDING_NOTICE_NS or auction.id in ending_sent:
            continue
        ending_sent[auction.id] = True
        minutes = max(1, (auction.ends_at - now) // limits.MINUTE)
        text = f"auction {auction.id} ends in about {minutes} minute(s)"
        bidders = {b.bidder for b in Bid.objects.filter(auction_id=auction.id)
                   if b.status in ("leading", "refunding", "refunded")}
        for user in [auction.seller, *sorted(bidders, key=lambda p: p.raw)]:
            notify(user, "auction_ending", text, listing_id=auction.listing_id,
                   auction_id=auction.id)


@query
def my_notifications(before: nat64 | None, limit: nat16) -> list[Notification]:
    """The caller's notifications, newest first: ``limit`` of them (20 if 0, at most
    `MAX_KEPT`) with ids below ``before`` (null: from the newest)."""
    me = ic.caller()
    size = min(limit or 20, MAX_KEPT)
    end = (me, before) if before is not None else (me, 2**64 - 1)
    return [note for _key, note in notes.range((me, 0), end, reverse=True, limit=size)]


@query
def can_subscribe(topic: str) -> bool:
    """Whether the caller may receive ``topic``'s events over the canister WebSocket:
    ``user:<principal>`` is that signed-in principal's only; nothing else is published."""
    me = ic.caller()
    return not me.is_anonymous and topic == topic_of(me)
