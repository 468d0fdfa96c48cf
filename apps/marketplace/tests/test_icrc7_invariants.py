"""The collection's indexes agree whatever holders do (Hypothesis): after any sequence of
transfers, approvals, transfers by approved spenders, sales, cancellations and delistings,
every item has exactly one holder, ``icrc7_tokens_of`` and ``icrc7_balance_of`` say the
same as ``icrc7_owner_of``, the supply is the number of items, and the log has one
block per change of holder."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_icrc7 import acct, minted, transfer
from .test_icrc37 import OTHER_MARKET, approve, info, transfer_from
from .world import BUYER, BUYER2, MAKER, MARKET_ID, SELLER, World, make_world

PEOPLE = [SELLER, BUYER, BUYER2, MAKER]
ITEMS = 3

step = st.one_of(
    st.tuples(st.just("transfer"), st.integers(0, ITEMS - 1), st.sampled_from(PEOPLE)),
    st.tuples(st.just("approved"), st.integers(0, ITEMS - 1), st.sampled_from(PEOPLE)),
    st.tuples(st.just("buy"), st.integers(0, ITEMS - 1), st.sampled_from([BUYER, BUYER2])),
    st.tuples(st.just("delist"), st.integers(0, ITEMS - 1), st.just(SELLER)),
)


def _holder(w: World, token: int) -> Any:
    (found,) = w.q(BUYER, "icrc7_owner_of", [token])
    return found


def _act(w: World, tokens: list[int], kind: str, index: int, who: Any) -> int:
    """Do one step; how many times an item changed holder."""
    token = tokens[index]
    holder = _holder(w, token)
    if kind == "transfer":
        if holder.owner == MARKET_ID:
            return 0  # only the marketplace's own code moves what its escrow holds
        return int(transfer(w, holder.owner, token, acct(who),
                            sub=holder.subaccount).tag == "Ok")
    if kind == "approved":
        if holder.owner == MARKET_ID:
            return 0
        approve(w, holder.owner, token, info(w, sub=holder.subaccount))
        return int(transfer_from(w, OTHER_MARKET, token, holder, acct(who)).tag == "Ok")
    listing = w.q(BUYER, "listing", token)
    if kind == "delist":
        if listing.status.value != "active":
            return 0
        w.u(SELLER, "delist", token)
        return 1  # no order holds it: back to the seller
    if holder.owner != MARKET_ID or listing.status.value != "active":
        return 0
    order = w.buy(who, token).value
    w.u(who, "confirm_delivery", order.id)
    return 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=12))
def test_holders_balances_and_the_log_agree(steps: list[tuple[str, int, Any]]) -> None:
    w = make_world({BUYER: 500_000_000, BUYER2: 500_000_000})
    w.shop()
    tokens = [minted(w, f"Item {n}") for n in range(ITEMS)]
    moves = sum(_act(w, tokens, *s) for s in steps)
    holders = [_holder(w, t) for t in tokens]
    assert w.q(BUYER, "icrc7_total_supply") == ITEMS
    for token, holder in zip(tokens, holders, strict=True):
        assert token in w.q(BUYER, "icrc7_tokens_of", holder, None, None)
    accounts = list({(h.owner, h.subaccount): h for h in holders}.values())
    balances = w.q(BUYER, "icrc7_balance_of", accounts)
    assert sum(balances) == ITEMS
    assert balances == [holders.count(a) for a in accounts]
    blocks = w.q(BUYER, "collection_log", 0, 100)
    kinds = [dict(b.value)["btype"].value for b in blocks]
    assert kinds.count("7mint") == ITEMS
    assert kinds.count("7xfer") + kinds.count("37xfer") == moves
