"""Money out of escrow: payouts recorded first, then sent, retried until the ledger confirms.

A settlement or refund is a set of `Payout` rows written in the same message that
changes the order's status (so a second ``confirm`` or a timer finds the order
``settling`` and never pays again). `run` sends one: it marks the payout
``in_flight`` (committed at the ``await``), transfers ``gross - ledger fee`` from the
escrow subaccount with the payout's fixed ``created_at_time`` and memo, and marks it
``done`` on ``Ok`` or ``Duplicate``. Anything else leaves it ``pending`` with the
error for the sweeper to retry: ``BadFee`` updates the fee first. An ``in_flight``
payout whose answer never came back (the instance was rebuilt) is retried after two
minutes, which the ledger deduplicates. ``TooOld`` (a retry more than a day after the
payout was recorded, e.g. after a long ledger outage: the ledger no longer
deduplicates it) is decided from the escrow's balance (`_reconcile`), never by
sending blindly; one payout per escrow is in flight at a time for that. When every
payout of an order is done the order is ``settled`` or ``refunded``; an offer's or a
bid's refund ends it ``refunded``.
"""

from __future__ import annotations

from itertools import combinations

from icframework.sdk import ic

from . import limits
from .ledger import balance_of, memo, send
from .records import Account, Bid, Offer, Order, Payout, Shop
from .store import config, update_totals


def settlement_shares(order: Order, shop: Shop | None) -> list[tuple[str, Account, int]]:
    """(purpose, recipient, gross) of a settlement: platform fee, royalty, the seller's
    rest. A share too small to pay its own ledger fee goes to the seller."""
    cfg = config.get()
    platform = order.amount * cfg.platform_fee_bps // 10_000
    royalty = 0
    if shop is not None and shop.royalty_to is not None:
        royalty = order.amount * shop.royalty_bps // 10_000
    shares: list[tuple[str, Account, int]] = []
    seller = order.amount - platform - royalty
    if platform > cfg.ledger_fee:
        shares.append(("platform", Account(cfg.admin), platform))
    else:
        seller += platform
    if royalty > cfg.ledger_fee and shop is not None and shop.royalty_to is not None:
        shares.append(("royalty", Account(shop.royalty_to), royalty))
    else:
        seller += royalty
    shares.append(("seller", Account(order.seller), seller))
    return shares


def record(purpose: str, to: Account, gross: int, escrow: bytes, *,
           order_id: int | None = None, offer_id: int | None = None,
           bid_id: int | None = None) -> Payout:
    return Payout.objects.create(order_id=order_id, offer_id=offer_id, bid_id=bid_id,
                                 escrow=escrow, to=to, gross=gross, purpose=purpose,
                                 status="pending", created_at_time=ic.time())


KEPT = "below the ledger fee; kept"


async def run(payout_id: int) -> None:
    """Send payout ``payout_id`` unless it is done or already on its way (or another
    payout of the same escrow is: one transfer per escrow at a time, so the escrow's
    balance can always be explained)."""
    payout = Payout.objects.filter(id=payout_id).first()
    now = ic.time()
    if payout is None or payout.status == "done":
        return
    if payout.status == "in_flight" and \
            now - payout.sent_at <= limits.STALE_IN_FLIGHT_NS:
        return  # on its way; the sweeper retries it if no answer comes
    if any(_flying(p, now) for p in _siblings(payout) if p.id != payout.id):
        return  # the sweeper sends it after the other one
    cfg = config.get()
    amount = payout.gross - cfg.ledger_fee
    if amount <= 0:  # cannot pay even the fee: the dust stays in escrow
        payout.status, payout.last_error = "done", KEPT
        payout.save()
        _finish(payout)
        return
    payout.status = "in_flight"
    payout.attempts += 1
    payout.sent_at = now
    payout.save()
    flight_key = (payout.id, payout.attempts)
    answer = await send(cfg.ledger, payout.escrow, payout.to, amount, cfg.ledger_fee,
                        memo_bytes=memo(b"payout", payout.id),
                        created_at_time=payout.created_at_time)
    held = None
    if answer.tag == "TooOld":
        held = await balance_of(cfg.ledger, payout.escrow)
    payout = Payout.objects.filter(id=payout_id).first()
    if payout is None or payout.status == "done" or \
            (payout.id, payout.attempts) != flight_key:
        return  # a retry overtook this answer
    if answer.kind in ("ok", "duplicate"):
        payout.status, payout.block, payout.last_error = "done", answer.block, ""
        payout.save()
        _finish(payout)
        return
    if answer.tag == "TooOld":
        _reconcile(payout, held)
        return
    payout.status = "pending"
    payout.last_error = answer.error
    if answer.tag == "BadFee" and answer.detail is not None:
        cfg = config.get()
        cfg.ledger_fee = answer.detail
        config.set(cfg)
    payout.save()


def _flying(payout: Payout, now: int) -> bool:
    return payout.status == "in_flight" and now - payout.sent_at <= limits.STALE_IN_FLIGHT_NS


def _siblings(payout: Payout) -> list[Payout]:
    """The payouts out of the same escrow (those of its order, offer or bid), itself too."""
    if payout.order_id is not None:
        return Payout.objects.filter(order_id=payout.order_id).list()
    if payout.offer_id is not None:
        return Payout.objects.filter(offer_id=payout.offer_id).list()
    return Payout.objects.filter(bid_id=payout.bid_id).list()


def _escrow_amount(payout: Payout) -> int:
    """What the payout's escrow received (its order's, offer's or bid's amount)."""
    owner: Order | Offer | Bid | None
    if payout.order_id is not None:
        owner = Order.objects.filter(id=payout.order_id).first()
    elif payout.offer_id is not None:
        owner = Offer.objects.filter(id=payout.offer_id).first()
    else:
        owner = Bid.objects.filter(id=payout.bid_id).first()
    return owner.amount if owner is not None else 0


def _reconcile(payout: Payout, held: int | None) -> None:
    """``payout`` was answered ``TooOld``: the ledger forgot its earlier attempts, so
    whether they went through is read from the escrow's balance ``held``. Each payout
    takes exactly its ``gross`` out of the escrow; the unexplained difference must be
    the gross of exactly one set of the payouts whose outcome is unknown — those are
    done, the others get a new ``created_at_time`` and are sent again. Anything else
    (no answer, or two sets fit) leaves them pending to be looked at again."""
    now = ic.time()
    payout.status = "pending"
    rows = [payout if p.id == payout.id else p for p in _siblings(payout)]
    if held is None or any(_flying(p, now) for p in rows if p.id != payout.id):
        payout.last_error = "TooOld; the escrow's balance will tell, asking again"
        payout.save()
        return
    taken = sum(p.gross for p in rows if p.status == "done" and p.last_error != KEPT)
    missing = _escrow_amount(payout) - taken - held
    unsure = [p for p in rows if p.status != "done" and p.attempts > 0]
    fits = [combo for size in range(len(unsure) + 1)
            for combo in combinations(unsure, size) if sum(p.gross for p in combo) == missing]
    if len(fits) != 1:
        payout.last_error = (f"TooOld; the escrow holds {held}, which no single set of "
                             "the unanswered payouts explains: asking again")
        payout.save()
        return
    paid = {p.id for p in fits[0]}
    for p in unsure:
        if p.id in paid:
            p.status, p.last_error = "done", "paid (TooOld: read from the escrow's balance)"
        else:
            p.status, p.created_at_time = "pending", now
            p.last_error = "not paid (TooOld: read from the escrow's balance); resending"
        p.save()
    for p in unsure:
        if p.id in paid:
            _finish(p)


def _finish(payout: Payout) -> None:
    """Close the order, offer or bid once all its payouts are done."""
    if payout.order_id is not None:
        rows = Payout.objects.filter(order_id=payout.order_id).list()
        if any(p.status != "done" for p in rows):
            return
        order = Order.objects.filter(id=payout.order_id).first()
        if order is None or order.status not in ("settling", "refunding"):
            return
        settled = order.status == "settling"
        order.status = "settled" if settled else "refunded"
        order.updated_at = ic.time()
        done = "the seller was paid" if settled else "the buyer was refunded"
        # Keep why (e.g. the arbiter's decision and note) after what happened.
        order.note = f"{done} ({order.note})" if order.note else done
        order.save()
        platform = sum(p.gross for p in rows if p.purpose == "platform")
        if settled:
            update_totals(escrow_held=-order.amount, volume=order.amount, platform_fees=platform)
        else:
            update_totals(escrow_held=-order.amount)
    elif payout.offer_id is not None:
        offer = Offer.objects.filter(id=payout.offer_id).first()
        if offer is not None and offer.status == "refunding":
            offer.status = "refunded"
            offer.save()
            update_totals(escrow_held=-offer.amount)
    elif payout.bid_id is not None:
        bid = Bid.objects.filter(id=payout.bid_id).first()
        if bid is not None and bid.status == "refunding":
            bid.status = "refunded"
            bid.save()
            update_totals(escrow_held=-bid.amount)


def due(now: int) -> list[int]:
    """Payouts to send now: pending ones, and in-flight ones whose answer is overdue."""
    ids = [p.id for p in Payout.objects.filter(status="pending")]
    for p in Payout.objects.filter(status="in_flight"):
        if now - p.sent_at > limits.STALE_IN_FLIGHT_NS:
            ids.append(p.id)
    return ids
