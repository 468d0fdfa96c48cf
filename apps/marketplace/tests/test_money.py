"""Money is never lost or duplicated: random interleavings of buyers, sellers, offers,
cancellations, disputes, ledger outages and time, checked after every step.

The invariant, with the real Python ledger behind the marketplace:

* every token is in some account: the people's, the marketplace's own and its escrow
  subaccounts add up to the ledger's total supply (fees are burnt);
* each listing's units are counted once: for sale + locked + sold = what was listed;
* once enough time has passed, every order that was paid ends ``settled`` or
  ``refunded``, no payout is left unsent, and no escrow holds more than dust.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import CallRejected, Reject

from .world import BUYER, BUYER2, FEE, LEDGER_ID, SELLER, World, limits, make_world

BUYERS = [BUYER, BUYER2]

step = st.one_of(
    st.tuples(st.just("list"), st.integers(1, 3), st.integers(100_000, 3_000_000)),
    st.tuples(st.just("buy"), st.integers(0, 1), st.integers(0, 5), st.integers(1, 2),
              st.booleans()),
    st.tuples(st.just("buy_ledger_down"), st.integers(0, 1), st.integers(0, 5)),
    st.tuples(st.just("ship"), st.integers(0, 9)),
    st.tuples(st.just("confirm"), st.integers(0, 9)),
    st.tuples(st.just("cancel"), st.integers(0, 9)),
    st.tuples(st.just("dispute"), st.integers(0, 9)),
    st.tuples(st.just("resolve"), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("offer"), st.integers(0, 1), st.integers(0, 5),
              st.integers(100_000, 2_000_000)),
    st.tuples(st.just("cancel_offer"), st.integers(0, 9)),
    st.tuples(st.just("accept_offer"), st.integers(0, 9)),
    st.tuples(st.just("wait"), st.sampled_from([limits.SWEEP_EVERY_NS, limits.MINUTE,
                                                 limits.DAY, limits.SHIP_WITHIN_NS])),
)


def _down(method: str, arg: bytes, caller: Any, cycles: int) -> bytes:
    raise CallRejected(LEDGER_ID.to_text(), method, 2, "the ledger is unreachable")


class Run:
    def __init__(self, w: World) -> None:
        self.w = w
        self.listings: list[tuple[int, int]] = []  # (id, units listed)
        self.orders: list[int] = []
        self.offers: list[int] = []

    def pick(self, items: list[int], n: int) -> int | None:
        return items[n % len(items)] if items else None

    def do(self, action: tuple[Any, ...]) -> None:
        w, kind = self.w, action[0]
        try:
            if kind == "list":
                item = w.listing(quantity=action[1], price=action[2])
                self.listings.append((item.id, action[1]))
            elif kind in ("buy", "buy_ledger_down") and self.listings:
                buyer = BUYERS[action[1]]
                listing_id = self.listings[action[2] % len(self.listings)][0]
                qty = action[3] if kind == "buy" else 1
                item = w.q(buyer, "listing", listing_id)
                enough = kind == "buy_ledger_down" or action[4]
                w.approve(buyer, item.price * qty + FEE if enough else 1)
                if kind == "buy_ledger_down":
                    w.market.connect(LEDGER_ID, _down)
                try:
                    result = w.u(buyer, "checkout", listing_id, qty)
                finally:
                    w.market.connect(LEDGER_ID, w.ledger)
                if result.tag == "Ok":
                    self.orders.append(result.value.id)
                elif result.value.tag == "Pending":
                    self.orders.append(result.value.value)
            elif kind == "ship" and (o := self.pick(self.orders, action[1])):
                w.u(SELLER, "ship", o, "")
            elif kind == "confirm" and (o := self.pick(self.orders, action[1])):
                order = w.q(SELLER, "order", o)
                w.u(order.buyer, "confirm_delivery", o)
            elif kind == "cancel" and (o := self.pick(self.orders, action[1])):
                w.u(SELLER, "cancel_order", o, "out of stock")
            elif kind == "dispute" and (o := self.pick(self.orders, action[1])):
                order = w.q(SELLER, "order", o)
                w.u(order.buyer, "open_dispute", o, "not as described")
            elif kind == "resolve" and (o := self.pick(self.orders, action[1])):
                from .world import ARBITER

                w.u(ARBITER, "resolve_dispute", o, action[2], "")
            elif kind == "offer" and self.listings:
                buyer = BUYERS[action[1]]
                listing_id = self.listings[action[2] % len(self.listings)][0]
                w.approve(buyer, action[3] + FEE)
                result = w.u(buyer, "make_offer", listing_id, 1, action[3])
                if result.tag == "Ok":
                    self.offers.append(result.value.id)
            elif kind == "cancel_offer" and (f := self.pick(self.offers, action[1])):
                offer = next(o for b in BUYERS for o in w.q(b, "my_offers") if o.id == f)
                w.u(offer.buyer, "cancel_offer", f)
            elif kind == "accept_offer" and (f := self.pick(self.offers, action[1])):
                order = w.u(SELLER, "accept_offer", f)
                self.orders.append(order.id)
            elif kind == "wait":
                w.advance(action[1])
        except Reject:
            pass  # a refused step (wrong state, sold out...) changes nothing
        self.check()

    def check(self) -> None:
        w = self.w
        assert w.money_in_accounts() == w.supply()
        for listing_id, listed in self.listings:
            row = w.q(SELLER, "certified_listing", listing_id)
            sold_locked = _units(w, listing_id)
            assert row.available + sold_locked == listed, (listing_id, row, sold_locked)

    def settle_everything(self) -> None:
        w = self.w
        for _ in range(6):
            w.advance(limits.CONFIRM_WITHIN_NS + limits.SHIP_WITHIN_NS)
        stats = w.q(SELLER, "stats")
        for o in self.orders:
            order = w.q(SELLER, "order", o)
            if order.status.value == "disputed":
                from .world import ARBITER

                w.u(ARBITER, "resolve_dispute", o, True, "closing the test")
                w.advance(limits.SWEEP_EVERY_NS)
                order = w.q(SELLER, "order", o)
            assert order.status.value in ("settled", "refunded", "failed"), order
            assert all(p.status.value == "done" for p in order.payouts), order
            assert w.balance(order.escrow.owner, order.escrow.subaccount) <= 3 * FEE
        assert stats.escrow_held >= 0
        assert w.money_in_accounts() == w.supply()


_HELD = ("pending_payment", "paid", "shipped", "disputed", "settling", "settled")


def _units(w: World, listing_id: int) -> int:
    """Units of a listing sold or locked, counted from the orders (each once): refunds
    of unshipped orders went back on sale; shipped ones left the shop."""
    total = 0
    for buyer in BUYERS:
        for order in w.q(buyer, "my_orders", False, None, 100):
            if order.listing_id != listing_id:
                continue
            if order.status.value in _HELD or (
                    order.status.value in ("refunding", "refunded") and order.shipped_at):
                total += order.quantity
    return total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=25))
def test_random_interleavings_keep_the_money_and_the_units(actions: list[tuple[Any, ...]]) -> None:
    w = make_world()
    w.shop()
    run = Run(w)
    for action in actions:
        run.do(action)
    run.settle_everything()
