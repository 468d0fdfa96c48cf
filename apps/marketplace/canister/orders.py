"""Checkout, escrow and the order lifecycle.

`checkout` locks the units (so nobody else can buy them), records the order as
``pending_payment`` and only then awaits ``icrc2_transfer_from`` into the order's own
escrow subaccount — the state is committed at the ``await``, so a failure after it
finds the order and the lock in place. The answer decides: paid (the units are sold),
refused (``failed``: the lock is released and nothing was taken), or unknown (the
ledger rejected or trapped: the order stays pending and the sweeper asks the ledger
again with the same ``created_at_time`` and memo, which the ledger deduplicates, until
it answers).

Then: the seller ships (``ship``) within `limits.SHIP_WITHIN_NS` or the buyer is
refunded; the buyer confirms delivery (``confirm_delivery``) or it is confirmed after
`limits.CONFIRM_WITHIN_NS`; confirming settles (platform fee, the shop's royalty, the
seller's rest; `payouts`). Before confirming, the buyer may open a dispute, which the
arbiter decides (refund or pay the seller); the seller may cancel an unshipped order
(refund). A dispute the arbiter has not decided within `limits.DISPUTE_WITHIN_NS`
(14 days) closes by a fixed rule (`close_overdue_dispute`): refund if the goods never
shipped, pay the seller if they did. The sweeper (`sweep`, a timer every 10 s) drives
everything time-based.
"""

from __future__ import annotations

from itertools import islice

from icframework.sdk import Principal, Reject, ic, nat16, nat32, nat64, query, update

from . import access, catalogue, collection, limits, payouts
from .ledger import LedgerAnswer, escrow_subaccount, memo, pull
from .market import listing_changed, record_activity
from .notifications import notify
from .records import (
    Account,
    CheckoutResult,
    Listing,
    ListingStatus,
    Order,
    OrderStatus,
    OrderView,
    PaymentError,
    Payout,
    PayoutStatus,
    PayoutView,
    Shop,
)
from .store import totals, update_totals


def new_escrow() -> tuple[int, bytes]:
    escrow_id = totals.get().next_escrow
    update_totals(next_escrow=1)
    return escrow_id, escrow_subaccount(escrow_id)


def order_view(order: Order) -> OrderView:
    listing = Listing.objects.filter(id=order.listing_id).first()
    rows = Payout.objects.filter(order_id=order.id).list()
    return OrderView(
        order.id, order.listing_id, listing.title if listing else "", order.buyer,
        order.seller, order.quantity, order.unit_price, order.amount, OrderStatus(order.status),
        order.created_at, order.updated_at, order.ship_by, order.confirm_by, order.shipped_at,
        order.shipping_note, order.dispute_reason, order.note, order.reviewed, order.source,
        Account(ic.id(), order.escrow),
        [PayoutView(p.to, p.gross, p.purpose, PayoutStatus(p.status), p.block, p.last_error)
         for p in rows],
        dispute_deadline(order) if order.status == "disputed" else None,
    )


def _payment_error(answer: LedgerAnswer) -> PaymentError:
    if answer.tag == "InsufficientFunds":
        return PaymentError(InsufficientFunds=answer.detail or 0)
    if answer.tag == "InsufficientAllowance":
        return PaymentError(InsufficientAllowance=answer.detail or 0)
    return PaymentError(LedgerError=answer.error)


def _release(order: Order) -> None:
    """Give the order's locked units back to the listing."""
    listing = Listing.objects.filter(id=order.listing_id).first()
    if listing is None:
        return
    listing.locked -= order.quantity
    listing.quantity += order.quantity
    if listing.status is ListingStatus.sold_out:
        listing.status = ListingStatus.active
    listing.save()
    listing_changed(listing)


def _paid(order: Order) -> None:
    now = ic.time()
    cfg = access.settings()
    order.status = "paid"
    order.ship_by = now + cfg.ship_within_ns
    order.updated_at = now
    order.note = "paid: the funds are in escrow until delivery is confirmed"
    order.save()
    listing = Listing.objects.filter(id=order.listing_id).first()
    if listing is not None:
        listing.locked -= order.quantity
        listing.sold += order.quantity
        listing.save()
        catalogue.refresh(listing)  # the popular order counts sales
        record_activity(listing.id, "sold", order.buyer, order.amount, order.id)
        notify(order.seller, "item_sold", f"order {order.id}: {listing.title} sold; ship it "
               "to the buyer", listing_id=listing.id, order_id=order.id, amount=order.amount)
    shop = Shop.objects.filter(owner=order.seller).first()
    if shop is not None:
        shop.sales += order.quantity
        shop.save()
    update_totals(escrow_held=order.amount, sales=1)


def apply_pull(order_id: int, answer: LedgerAnswer) -> CheckoutResult:
    """Record the ledger's answer to an order's pull (from `checkout` or the sweeper)."""
    order = access.get_order(order_id)
    if order.status == "failed" and answer.kind in ("ok", "duplicate"):
        _refund_late_payment(order)
        return CheckoutResult(Ok=order_view(order))
    if order.status != "pending_payment":
        return CheckoutResult(Ok=order_view(order))  # already decided by another path
    if answer.kind in ("ok", "duplicate"):
        _paid(order)
        return CheckoutResult(Ok=order_view(order))
    if answer.kind == "refused":
        order.status = "failed"
        order.note = f"payment refused: {answer.error}"
        order.updated_at = ic.time()
        order.save()
        _release(order)
        return CheckoutResult(Err=_payment_error(answer))
    order.pull_attempts += 1
    order.note = f"payment pending: {answer.error}; the marketplace will ask the ledger again"
    order.updated_at = ic.time()
    order.save()
    return CheckoutResult(Err=PaymentError(Pending=order.id))


def _refund_late_payment(order: Order) -> None:
    """The funds reached the escrow of an order that had failed already (an attempt
    answered after a later one was refused; the IC's ordering of calls between two
    canisters rules it out, but nothing here relies on it): give them back. The lock
    was released with the failure, so the units are not touched."""
    order.status = "refunding"
    order.updated_at = ic.time()
    order.note = "the payment arrived after the order had failed: refunded"
    order.save()
    update_totals(escrow_held=order.amount)
    payouts.record("refund", Account(order.buyer), order.amount, order.escrow,
                   order_id=order.id)


@update
async def checkout(listing_id: nat64, quantity: nat32) -> CheckoutResult:
    """Buy ``quantity`` units of a listing at its price. Approve the marketplace on the
    ledger first for ``price * quantity`` plus the ledger fee; the funds go into this
    order's escrow and reach the seller when delivery is confirmed."""
    who = access.me()
    cfg = access.settings()
    listing = access.get_listing(listing_id)
    if listing.seller == who:
        raise Reject(f"{who} cannot buy their own listing {listing_id}")
    if listing.status is not ListingStatus.active:
        raise Reject(f"listing {listing_id} is not for sale ({listing.status})")
    if quantity < 1:
        raise Reject("buy at least one unit")
    if quantity > listing.quantity:
        raise Reject(f"listing {listing_id} has {listing.quantity} unit(s) for sale, "
                     f"not {quantity}")
    amount = listing.price * quantity
    _escrow_id, escrow = new_escrow()
    now = ic.time()
    listing.quantity -= quantity
    listing.locked += quantity
    if listing.quantity == 0:
        listing.status = ListingStatus.sold_out
    listing.save()
    listing_changed(listing)
    order = Order.objects.create(
        listing_id=listing.id, buyer=who, seller=listing.seller, quantity=quantity,
        unit_price=listing.price, amount=amount, status="pending_payment",
        created_at=now, updated_at=now, escrow=escrow, note="waiting for the ledger",
    )
    answer = await pull(cfg.ledger, who, escrow, amount, memo_bytes=memo(b"order", order.id),
                        created_at_time=now)
    return apply_pull(order.id, answer)


def _order_for(order_id: int, who: Principal, role: str) -> Order:
    order = access.get_order(order_id)
    party = order.buyer if role == "buyer" else order.seller
    if party != who:
        raise Reject(f"only the {role} of order {order_id} may do this ({who} is not)")
    return order


@update
def ship(order_id: nat64, note: str) -> OrderView:
    """The seller marks a paid order shipped (``note``: carrier, tracking...)."""
    order = _order_for(order_id, access.me(), "seller")
    if order.status != "paid":
        raise Reject(f"order {order_id} is {order.status}; only paid orders ship")
    cfg = access.settings()
    now = ic.time()
    order.status = "shipped"
    order.shipping_note = access.text(note, "a shipping note", limits.MAX_NOTE_CHARS,
                                      required=False)
    order.confirm_by = now + cfg.confirm_within_ns
    order.shipped_at = now
    order.updated_at = now
    order.note = "shipped"
    order.save()
    record_activity(order.listing_id, "shipped", order.seller, None, order.id)
    notify(order.buyer, "order_shipped", f"order {order.id} shipped: {order.shipping_note}",
           listing_id=order.listing_id, order_id=order.id)
    return order_view(order)


def start_settlement(order: Order, why: str) -> list[int]:
    """Move a paid, shipped or disputed order to ``settling``; its payout ids."""
    shop = Shop.objects.filter(owner=order.seller).first()
    order.status = "settling"
    order.updated_at = ic.time()
    order.note = why
    order.save()
    collection.order_settled(order)  # a unique item goes to the buyer with the payouts
    return [payouts.record(purpose, to, gross, order.escrow, order_id=order.id).id
            for purpose, to, gross in payouts.settlement_shares(order, shop)]


def start_refund(order: Order, why: str) -> list[int]:
    """Move an order to ``refunding``; the units go back to the listing if it never
    shipped."""
    if not order.shipped_at:
        listing = Listing.objects.filter(id=order.listing_id).first()
        if listing is not None:
            listing.sold -= order.quantity
            listing.quantity += order.quantity
            if listing.status is ListingStatus.sold_out:
                listing.status = ListingStatus.active
            listing.save()
            listing_changed(listing)
    order.status = "refunding"
    order.updated_at = ic.time()
    order.note = why
    order.save()
    record_activity(order.listing_id, "refund", order.buyer, order.amount, order.id)
    collection.order_refunded(order)  # a unique item stays listed or goes back to the seller
    buyer = Account(order.buyer)
    return [payouts.record("refund", buyer, order.amount, order.escrow, order_id=order.id).id]


async def _send_all(ids: list[int]) -> None:
    for payout_id in ids:
        await payouts.run(payout_id)


@update
async def confirm_delivery(order_id: nat64) -> OrderView:
    """The buyer confirms the goods arrived: the seller is paid from escrow."""
    order = _order_for(order_id, access.me(), "buyer")
    if order.status not in ("paid", "shipped"):
        raise Reject(f"order {order_id} is {order.status}; confirm a paid or "
                     "shipped order")
    ids = start_settlement(order, "delivery confirmed by the buyer")
    record_activity(order.listing_id, "confirmed", order.buyer, order.amount, order.id)
    await _send_all(ids)
    return order_view(access.get_order(order_id))


@update
async def cancel_order(order_id: nat64, reason: str) -> OrderView:
    """The seller cancels an order that has not shipped: the buyer is refunded."""
    order = _order_for(order_id, access.me(), "seller")
    if order.status != "paid":
        raise Reject(f"order {order_id} is {order.status}; only unshipped paid "
                     "orders can be cancelled")
    why = access.text(reason, "a reason", limits.MAX_NOTE_CHARS, required=False)
    ids = start_refund(order, f"cancelled by the seller: {why}" if why else
                       "cancelled by the seller")
    await _send_all(ids)
    return order_view(access.get_order(order_id))


@update
def open_dispute(order_id: nat64, reason: str) -> OrderView:
    """The buyer disputes a paid or shipped order; the funds stay in escrow until the
    arbiter decides."""
    order = _order_for(order_id, access.me(), "buyer")
    if order.status not in ("paid", "shipped"):
        raise Reject(f"order {order_id} is {order.status}; dispute a paid or "
                     "shipped order")
    order.dispute_reason = access.text(reason, "a reason", limits.MAX_NOTE_CHARS)
    order.status = "disputed"
    order.updated_at = ic.time()
    order.dispute_by = order.updated_at + limits.DISPUTE_WITHIN_NS
    order.note = "disputed: waiting for the arbiter"
    order.save()
    record_activity(order.listing_id, "disputed", order.buyer, None, order.id)
    text = f"order {order.id} is disputed: {order.dispute_reason}"
    for user in (order.seller, access.settings().arbiter):
        notify(user, "dispute", text, listing_id=order.listing_id, order_id=order.id)
    return order_view(order)


@update
async def resolve_dispute(order_id: nat64, refund_buyer: bool, note: str) -> OrderView:
    """The arbiter decides a dispute: refund the buyer, or pay the seller."""
    who = access.me()
    if who != access.settings().arbiter:
        raise Reject(f"only the arbiter decides disputes ({who} is not)")
    order = access.get_order(order_id)
    if order.status != "disputed":
        raise Reject(f"order {order_id} is {order.status}, not disputed")
    note = access.text(note, "a note", limits.MAX_NOTE_CHARS, required=False)
    if refund_buyer:
        ids = start_refund(order, f"the arbiter refunded the buyer: {note}")
    else:
        ids = start_settlement(order, f"the arbiter paid the seller: {note}")
    _dispute_closed(order)
    await _send_all(ids)
    return order_view(access.get_order(order_id))


def _dispute_closed(order: Order) -> None:
    for user in (order.buyer, order.seller):
        notify(user, "dispute", f"the dispute of order {order.id} is closed: {order.note}",
               listing_id=order.listing_id, order_id=order.id)


def dispute_deadline(order: Order) -> int:
    """When the dispute of ``order`` closes by the rule if the arbiter has not decided:
    its ``dispute_by``, or for a dispute opened before deadlines existed, the last change
    plus `limits.DISPUTE_WITHIN_NS`."""
    return order.dispute_by if order.dispute_by else order.updated_at + limits.DISPUTE_WITHIN_NS


def close_overdue_dispute(order: Order) -> list[int]:
    """The rule for a dispute the arbiter left undecided past its deadline: goods that
    never shipped are refunded to the buyer; goods the seller shipped are paid to the
    seller, as if the buyer had not disputed (the shipment stands, as it would have at
    the confirmation deadline). Its payout ids."""
    if order.shipped_at:
        ids = start_settlement(order, "the arbiter did not decide the dispute in time: the "
                                      "goods had shipped, so the seller is paid")
    else:
        ids = start_refund(order, "the arbiter did not decide the dispute in time: the "
                                  "goods never shipped, so the buyer is refunded")
    _dispute_closed(order)
    return ids


@query
def order(order_id: nat64) -> OrderView | None:
    """An order, for its buyer, its seller, the arbiter or the admin."""
    found = Order.objects.filter(id=order_id).first()
    if found is None:
        return None
    cfg = access.settings()
    if ic.caller() not in (found.buyer, found.seller, cfg.arbiter, cfg.admin):
        raise Reject(f"order {order_id} is private to its buyer and seller")
    return order_view(found)


@query
def my_orders(as_seller: bool, cursor: str | None, limit: nat16) -> list[OrderView]:
    """The caller's orders, newest first, as buyer or (``as_seller``) seller."""
    who = ic.caller()
    rows = (Order.objects.filter(seller=who) if as_seller else
            Order.objects.filter(buyer=who)).list()
    rows.sort(key=lambda o: -o.id)
    start = int(cursor) if cursor and cursor.isdigit() else 0
    return [order_view(o) for o in rows[start: start + min(limit or 20, limits.MAX_PAGE)]]


@query
def disputes(cursor: str | None, limit: nat16) -> list[OrderView]:
    """The open disputes, newest first, for the arbiter and the admin: ``limit`` of them
    (20 if 0, at most `limits.MAX_PAGE`) after the first ``cursor`` (a count, as for
    `my_orders`: pass the number already read). Read from the ``status`` index of
    `Order` in descending id order, so a page costs the disputes up to its end, never a
    scan of every order. Raises `Reject` for another caller or a cursor that is not a
    count."""
    who = ic.caller()
    cfg = access.settings()
    if who not in (cfg.arbiter, cfg.admin):
        raise Reject(f"only the arbiter and the admin see the disputes ({who} is neither)")
    if cursor is not None and not cursor.isdigit():
        raise Reject(f"bad cursor {cursor!r}: pass the number of disputes already read, "
                     "e.g. \"20\"")
    start = int(cursor) if cursor else 0
    size = min(limit or 20, limits.MAX_PAGE)
    newest_first = Order.objects.filter(status="disputed").order_by("-id")
    return [order_view(o) for o in islice(newest_first, start, start + size)]


# -- the sweeper ------------------------------------------------------------------------------

async def sweep() -> None:
    """Everything time-based, up to `limits.SWEEP_BUDGET` ledger calls: pulls nobody
    answered, payouts to (re)send, unshipped orders past ``ship_by`` (refund), shipped
    orders past ``confirm_by`` (settle), disputes past their deadline
    (`close_overdue_dispute`), expired offers (refund), auctions past their end (close),
    auctions about to end (notify), bids nobody answered."""
    from . import auctions, notifications, offers

    now = ic.time()
    budget = limits.SWEEP_BUDGET
    for o in Order.objects.filter(status="pending_payment").list():
        if budget <= 0:
            return
        if now - o.updated_at < 30 * limits.SECOND:
            continue
        budget -= 1
        cfg = access.settings()
        answer = await pull(cfg.ledger, o.buyer, o.escrow, o.amount,
                            memo_bytes=memo(b"order", o.id), created_at_time=o.created_at)
        apply_pull(o.id, answer)
    for o in Order.objects.filter(status="paid").list():
        if o.ship_by and o.ship_by < now:
            start_refund(o, "not shipped in time: refunded")
    for o in Order.objects.filter(status="shipped").list():
        if o.confirm_by and o.confirm_by < now:
            start_settlement(o, "delivery confirmed automatically after the confirmation period")
    for o in Order.objects.filter(status="disputed").list():
        if dispute_deadline(o) < now:
            close_overdue_dispute(o)
    offers.expire(now)
    await offers.retry_pulls(now)
    budget = await auctions.retry_pulls(now, budget)
    auctions.close_due(now)
    notifications.auction_ending(now)
    for payout_id in payouts.due(ic.time()):
        if budget <= 0:
            return
        budget -= 1
        await payouts.run(payout_id)
