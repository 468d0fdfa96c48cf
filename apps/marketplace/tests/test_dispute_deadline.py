"""A dispute the arbiter does not decide within `limits.DISPUTE_WITHIN_NS` closes by the
rule (never shipped: the buyer is refunded; shipped: the seller is paid), by timer."""

from __future__ import annotations

import pytest

from .world import ARBITER, BUYER, FEE, SELLER, World, limits, make_world

PRICE = 1_000_000


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def disputed(w: World, ship: bool) -> int:
    item = w.listing(price=PRICE)
    order = w.buy(BUYER, item.id).value
    if ship:
        w.u(SELLER, "ship", order.id, "tracked parcel")
    opened = w.u(BUYER, "open_dispute", order.id, "not what was described")
    assert opened.dispute_by == opened.updated_at + limits.DISPUTE_WITHIN_NS
    return int(order.id)


def test_an_unshipped_order_is_refunded_when_the_arbiter_does_not_decide(w: World) -> None:
    order_id = disputed(w, ship=False)
    before = w.balance(BUYER)
    w.advance(limits.DISPUTE_WITHIN_NS - limits.MINUTE)
    assert w.q(BUYER, "order", order_id).status.name == "disputed"
    w.advance(limits.MINUTE + limits.SWEEP_EVERY_NS)
    w.advance(limits.SWEEP_EVERY_NS)  # the refund goes out
    done = w.q(BUYER, "order", order_id)
    assert done.status.name == "refunded" and done.dispute_by is None
    assert "never shipped, so the buyer is refunded" in done.note
    assert w.balance(BUYER) == before + PRICE - FEE
    assert w.money_in_accounts() == w.supply()


def test_a_shipped_order_pays_the_seller_when_the_arbiter_does_not_decide(w: World) -> None:
    order_id = disputed(w, ship=True)
    before = w.balance(SELLER)
    w.advance(limits.DISPUTE_WITHIN_NS + limits.SWEEP_EVERY_NS)
    w.advance(limits.SWEEP_EVERY_NS)
    done = w.q(SELLER, "order", order_id)
    assert done.status.name == "settled"
    assert "had shipped, so the seller is paid" in done.note
    assert w.balance(SELLER) > before
    kinds = [n.kind for n in w.q(BUYER, "my_notifications", None, 10)]
    assert "dispute" in kinds
    assert w.money_in_accounts() == w.supply()


def test_the_arbiter_deciding_in_time_wins_over_the_rule(w: World) -> None:
    order_id = disputed(w, ship=True)
    w.advance(limits.DAY)
    w.u(ARBITER, "resolve_dispute", order_id, True, "refund: damaged")
    w.advance(limits.DISPUTE_WITHIN_NS)
    done = w.q(BUYER, "order", order_id)
    assert done.status.name == "refunded" and "the arbiter refunded" in done.note
