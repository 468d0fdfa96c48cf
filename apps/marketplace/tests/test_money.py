"""Money is never lost or duplicated: random interleavings of buyers, sellers, offers,
auctions, cancellations, disputes, ledger outages, lost answers, upgrades and time,
checked after every step.

Calls are made whole or started and left waiting at their first ``await``
(`LocalCanister.start_update`): other steps run in between, and the waiting call is
later answered by the ledger, rejected without reaching it, or executed by the ledger
with its answer lost. As on the IC, calls from one canister to another execute in the
order they were sent: before time passes (and the sweeper sends calls of its own), the
waiting calls reach the ledger; their answers may still come later, or never. The
ledger is the real Python one, with a fee collector, and a function peer that rejects
every call stands in for it while it is "down".

The invariant:

* every token is in some account: the people's, the fee collector's, the marketplace's
  own and all its escrow subaccounts add up to the ledger's total supply (what was
  minted, less the fees burnt by approvals and transfers);
* each listing's units are counted once: for sale (or up for auction) + locked + sold
  = what was listed, so no unit is sold twice;
* once enough time has passed, every order that was paid ends ``settled`` or
  ``refunded``, every paid bid and offer was won, accepted or refunded, no payout is
  left unsent, and no escrow holds more than dust.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import CallRejected, InFlight, Principal, Reject, Trapped
from icframework.sdk.local import Response

from .world import (
    ARBITER,
    BUYER,
    BUYER2,
    FEE,
    LEDGER_ID,
    MARKET_ID,
    SELLER,
    World,
    limits,
    make_world,
    records,
)

BUYERS = [BUYER, BUYER2]
COLLECTOR = Principal.self_authenticating(b"market test: fee collector")
MAX_FLIGHTS = 3

buyer = st.integers(0, 1)
pick = st.integers(0, 9)
step = st.one_of(
    st.tuples(st.just("list"), st.integers(1, 3), st.integers(100_000, 3_000_000)),
    st.tuples(st.just("buy"), buyer, pick, st.integers(1, 2), st.booleans()),
    st.tuples(st.just("buy_ledger_down"), buyer, pick),
    st.tuples(st.just("start_buy"), buyer, pick, st.integers(1, 2)),
    st.tuples(st.just("answer"), pick, st.sampled_from(["deliver", "reject", "lose"])),
    st.tuples(st.just("ship"), pick),
    st.tuples(st.just("confirm"), pick, st.booleans()),
    st.tuples(st.just("cancel"), pick),
    st.tuples(st.just("dispute"), pick),
    st.tuples(st.just("resolve"), pick, st.booleans()),
    st.tuples(st.just("offer"), buyer, pick, st.integers(100_000, 2_000_000), st.booleans()),
    st.tuples(st.just("cancel_offer"), pick),
    st.tuples(st.just("accept_offer"), pick),
    st.tuples(st.just("auction"), pick, st.integers(0, 4_000_000),
              st.sampled_from([limits.MINUTE, limits.DAY])),
    st.tuples(st.just("bid"), buyer, pick, st.integers(0, 1_000_000), st.booleans()),
    st.tuples(st.just("wait"), st.sampled_from([limits.SWEEP_EVERY_NS, limits.MINUTE,
                                                 limits.DAY, limits.SHIP_WITHIN_NS])),
    st.tuples(st.just("wait_ledger_down"), st.sampled_from([limits.MINUTE, limits.DAY])),
    st.tuples(st.just("upgrade")),
)


def _down(method: str, arg: bytes, caller: Any, cycles: int) -> bytes:
    raise CallRejected(LEDGER_ID.to_text(), method, 2, "the ledger is unreachable")


def _nth(items: list[Any], n: int) -> Any:
    return items[n % len(items)] if items else None


class Run:
    def __init__(self, w: World) -> None:
        self.w = w
        self.listings: list[tuple[int, int]] = []  # (id, units listed)
        self.auctions: list[int] = []
        self.flights: list[InFlight] = []
        self.executed: dict[int, Response] = {}  # id(flight) -> the ledger's answer, held

    # -- the state, read back from the canister ---------------------------------------------
    def orders(self) -> list[Any]:
        return [o for b in BUYERS for o in self.w.q(b, "my_orders", False, None, 100)]

    def offers(self) -> list[Any]:
        return [o for b in BUYERS for o in self.w.q(b, "my_offers")]

    def bids(self) -> list[Any]:
        return [x for b in BUYERS for x in self.w.q(b, "my_bids")]

    def listing_id(self, n: int) -> int | None:
        item = _nth(self.listings, n)
        return item[0] if item else None

    # -- one step ---------------------------------------------------------------------------
    def do(self, action: tuple[Any, ...]) -> None:
        kind = action[0]
        with suppress(Reject):  # a refused step (wrong state, sold out...) changes nothing
            getattr(self, f"do_{kind}")(*action[1:])
        self.check()

    def do_list(self, quantity: int, price: int) -> None:
        item = self.w.listing(quantity=quantity, price=price)
        self.listings.append((item.id, quantity))

    def _approve_for(self, who: Principal, listing_id: int, quantity: int, enough: bool) -> None:
        item = self.w.q(who, "listing", listing_id)
        self.w.approve(who, item.price * quantity + FEE if enough else 1)

    def do_buy(self, b: int, n: int, quantity: int, enough: bool) -> None:
        listing_id = self.listing_id(n)
        if listing_id is not None:
            self._approve_for(BUYERS[b], listing_id, quantity, enough)
            self.w.u(BUYERS[b], "checkout", listing_id, quantity)

    def do_buy_ledger_down(self, b: int, n: int) -> None:
        listing_id = self.listing_id(n)
        if listing_id is None:
            return
        self._approve_for(BUYERS[b], listing_id, 1, True)
        self.w.market.connect(LEDGER_ID, _down)
        try:
            self.w.u(BUYERS[b], "checkout", listing_id, 1)
        finally:
            self.w.market.connect(LEDGER_ID, self.w.ledger)

    def do_start_buy(self, b: int, n: int, quantity: int) -> None:
        listing_id = self.listing_id(n)
        if listing_id is None or len(self.flights) >= MAX_FLIGHTS:
            return
        self._approve_for(BUYERS[b], listing_id, quantity, True)
        self._start("checkout", listing_id, quantity, caller=BUYERS[b])

    def _start(self, method: str, *args: Any, caller: Principal) -> None:
        flight = self.w.market.start_update(method, *args, caller=caller)
        if not flight.done:
            self.flights.append(flight)

    def do_answer(self, n: int, how: str) -> None:
        if not self.flights:
            return
        flight = self.flights[n % len(self.flights)]
        call = flight.call
        assert call is not None
        held = self.executed.pop(id(flight), None)
        try:
            if held is not None and how == "deliver":  # the answer arrives at last
                if held.reject is None:
                    flight.reply(held.data)
                else:
                    flight.reject(*held.reject)
            elif held is not None:  # executed, but the answer was lost
                flight.reject(2, "the answer was lost")
            elif how == "deliver":
                flight.deliver()
            elif how == "reject":  # never reached the ledger
                flight.reject(2, "the ledger is unreachable")
            else:  # the ledger executes it; its answer is lost
                self.w.market.deliver(call)
                flight.reject(2, "the answer was lost")
        except Trapped:
            raise AssertionError("the marketplace trapped") from None
        if flight.done:
            self.flights.remove(flight)

    def _calls_reach_the_ledger(self) -> None:
        """The waiting calls execute on the ledger, in the order they were sent."""
        for flight in self.flights:
            if id(flight) not in self.executed and flight.call is not None:
                self.executed[id(flight)] = self.w.market.deliver(flight.call)

    def _order(self, n: int) -> Any:
        return _nth(self.orders(), n)

    def do_ship(self, n: int) -> None:
        if (o := self._order(n)) is not None:
            self.w.u(SELLER, "ship", o.id, "")

    def do_confirm(self, n: int, wait: bool) -> None:
        if (o := self._order(n)) is None:
            return
        if wait and len(self.flights) < MAX_FLIGHTS:
            self._start("confirm_delivery", o.id, caller=o.buyer)
        else:
            self.w.u(o.buyer, "confirm_delivery", o.id)

    def do_cancel(self, n: int) -> None:
        if (o := self._order(n)) is not None:
            self.w.u(SELLER, "cancel_order", o.id, "out of stock")

    def do_dispute(self, n: int) -> None:
        if (o := self._order(n)) is not None:
            self.w.u(o.buyer, "open_dispute", o.id, "not as described")

    def do_resolve(self, n: int, refund: bool) -> None:
        if (o := self._order(n)) is not None:
            self.w.u(ARBITER, "resolve_dispute", o.id, refund, "")

    def do_offer(self, b: int, n: int, amount: int, wait: bool) -> None:
        listing_id = self.listing_id(n)
        if listing_id is None:
            return
        self.w.approve(BUYERS[b], amount + FEE)
        if wait and len(self.flights) < MAX_FLIGHTS:
            self._start("make_offer", listing_id, 1, amount, caller=BUYERS[b])
        else:
            self.w.u(BUYERS[b], "make_offer", listing_id, 1, amount)

    def do_cancel_offer(self, n: int) -> None:
        if (f := _nth(self.offers(), n)) is not None:
            self.w.u(f.buyer, "cancel_offer", f.id)

    def do_accept_offer(self, n: int) -> None:
        if (f := _nth(self.offers(), n)) is not None:
            self.w.u(SELLER, "accept_offer", f.id)

    def do_auction(self, n: int, reserve: int, duration: int) -> None:
        listing_id = self.listing_id(n)
        if listing_id is not None:
            made = self.w.u(SELLER, "start_auction", listing_id, 500_000, reserve, 100_000,
                            duration)
            self.auctions.append(made.id)

    def do_bid(self, b: int, n: int, extra: int, wait: bool) -> None:
        auction_id = _nth(self.auctions, n)
        if auction_id is None:
            return
        amount = self.w.q(BUYER, "auction", auction_id).next_min_bid + extra
        self.w.approve(BUYERS[b], amount + FEE)
        if wait and len(self.flights) < MAX_FLIGHTS:
            self._start("place_bid", auction_id, amount, caller=BUYERS[b])
        else:
            self.w.u(BUYERS[b], "place_bid", auction_id, amount)

    def do_wait(self, ns: int) -> None:
        self._calls_reach_the_ledger()
        self.w.advance(ns)

    def do_wait_ledger_down(self, ns: int) -> None:
        self._calls_reach_the_ledger()
        self.w.market.connect(LEDGER_ID, _down)
        try:
            self.w.advance(ns)
        finally:
            self.w.market.connect(LEDGER_ID, self.w.ledger)

    def do_upgrade(self) -> None:
        self.w.market.upgrade(records.InitArgs(ledger=LEDGER_ID))

    # -- the invariant ----------------------------------------------------------------------
    def check(self) -> None:
        w = self.w
        assert w.money_in_accounts() == w.supply()
        orders = self.orders()
        for listing_id, listed in self.listings:
            row = w.q(SELLER, "certified_listing", listing_id)
            sold_locked = sum(o.quantity for o in orders
                              if o.listing_id == listing_id and _holds_units(o))
            assert row.available + sold_locked == listed, (listing_id, row, sold_locked)
        leading = [b for b in self.bids() if b.status == "leading"]
        assert len({b.auction_id for b in leading}) == len(leading), leading  # one per auction

    def settle_everything(self) -> None:
        w = self.w
        while self.flights:
            self.do_answer(0, "deliver")
        for _ in range(6):
            w.advance(limits.CONFIRM_WITHIN_NS + limits.SHIP_WITHIN_NS)
        for o in self.orders():
            if o.status.value == "disputed":
                w.u(ARBITER, "resolve_dispute", o.id, True, "closing the test")
        w.advance(limits.SWEEP_EVERY_NS)
        for o in self.orders():
            assert o.status.value in ("settled", "refunded", "failed"), o
            assert all(p.status.value == "done" for p in o.payouts), o
        for f in self.offers():
            assert f.status in ("accepted", "refunded", "failed"), f
        for b in self.bids():
            assert b.status in ("won", "refunded", "failed"), b
        for auction_id in self.auctions:
            assert w.q(SELLER, "auction", auction_id).status != "running"
        for escrow in w.escrows():
            assert w.balance(MARKET_ID, escrow) <= 3 * FEE
        assert w.q(SELLER, "stats").escrow_held == 0
        assert w.money_in_accounts() == w.supply()


def _holds_units(order: Any) -> bool:
    """Whether an order holds its units: locked or sold, and not given back (refunds of
    unshipped orders go back on sale; shipped ones left the shop)."""
    status = order.status.value
    if status in ("refunding", "refunded"):
        return bool(order.shipped_at)
    return status != "failed"


listings = st.lists(st.tuples(st.integers(1, 3), st.integers(100_000, 3_000_000)),
                   min_size=1, max_size=3)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(listings, st.lists(step, min_size=5, max_size=30))
def test_random_interleavings_keep_the_money_and_the_units(
        listed: list[tuple[int, int]], actions: list[tuple[Any, ...]]) -> None:
    w = make_world(fee_collector=COLLECTOR)
    w.shop()
    run = Run(w)
    for quantity, price in listed:
        run.do_list(quantity, price)
    for action in actions:
        run.do(action)
    run.settle_everything()
