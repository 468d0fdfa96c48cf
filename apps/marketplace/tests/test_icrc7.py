"""The marketplace's unique items as an ICRC-7 collection: the interface against the standards'
.did files, minting, every method and error, and the item following the money through
settlement, refunds, disputes, offers and relisting.

The canister runs in CPython against the real Python ledger (tests/world.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.candid import Func, Opt, Service, TypeRef, Vec, is_subtype, parse_did
from icframework.sdk import Reject

from .world import (
    ANON,
    APP_DIR,
    ARBITER,
    BUYER,
    BUYER2,
    LEDGER_ID,
    MARKET_APP,
    MARKET_ID,
    SELLER,
    World,
    make_world,
    records,
)

STANDARDS = APP_DIR / "standards"


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def acct(owner: Any, sub: bytes | None = None) -> Any:
    return records.Account(owner, sub)


def now(w: World) -> int:
    return int(w.market.backend.now_ns)


def minted(w: World, title: str = "Carved chair") -> int:
    """A one-unit listing of SELLER's, minted: its token id."""
    item = w.listing(title=title)
    return int(w.u(SELLER, "mint_item", item.id))


def sold_to(w: World, buyer: Any, title: str = "Carved chair") -> tuple[int, Any]:
    """A minted item bought by ``buyer`` and settled: (token id, order)."""
    token = minted(w, title)
    order = w.buy(buyer, token).value
    return token, w.u(buyer, "confirm_delivery", order.id)


def owner(w: World, token: int) -> Any:
    (found,) = w.q(BUYER, "icrc7_owner_of", [token])
    return found


def escrow_of(token: int) -> Any:
    """The marketplace account that holds listed item ``token``."""
    return acct(MARKET_ID, MARKET_APP.collection.item_escrow(token))


def transfer(w: World, who: Any, token: int, to: Any, *, sub: bytes | None = None,
             memo: bytes | None = None, at: int | None = None) -> Any:
    arg = MARKET_APP.icrc7.TransferArg(sub, to, token, memo, at)
    (result,) = w.u(who, "icrc7_transfer", [arg])
    return result


def err(result: Any) -> str:
    assert result.tag == "Err", result
    return str(result.value.tag)


# -- the interface ----------------------------------------------------------------------------

def _methods(service: Any) -> dict[str, Func]:
    assert isinstance(service, Service)
    found = {}
    for name, func in service.methods:
        while isinstance(func, TypeRef):
            func = func.resolve()
        assert isinstance(func, Func)
        found[name] = func
    return found


@pytest.mark.parametrize("standard", ["ICRC-7", "ICRC-37", "ICRC-10"])
def test_the_interface_is_a_candid_subtype_of_the_standard(standard: str) -> None:
    ours = parse_did((APP_DIR / "marketplace.did").read_text(encoding="utf-8")).service
    theirs = parse_did((STANDARDS / f"{standard}.did").read_text(encoding="utf-8")).service
    assert ours is not None and theirs is not None
    assert is_subtype(ours, theirs)
    # Stricter than the service check, which the opt rule makes lenient for results of
    # type `vec opt T`: each result element decodes at the standard's element type
    # (except icrc37_approve_collection, whose .did names the error type; see icrc37).
    mine, standard_methods = _methods(ours), _methods(theirs)
    for name, func in standard_methods.items():
        if name == "icrc37_approve_collection":
            continue
        assert is_subtype(mine[name], func), name
        for got, want in zip(mine[name].results, func.results, strict=True):
            assert is_subtype(_element(got), _element(want)), name


def _element(t: Any) -> Any:
    """``T`` of ``vec opt T`` (else the type itself)."""
    while isinstance(t, TypeRef):
        t = t.resolve()
    if isinstance(t, Vec) and isinstance(t.inner, Opt):
        return t.inner.inner
    return t


def test_a_wrong_type_fails_the_subtype_check() -> None:
    """The check has teeth: a token id narrowed to nat32 no longer accepts the
    standard's calls."""
    text = (APP_DIR / "marketplace.did").read_text(encoding="utf-8")
    narrowed = text.replace("icrc7_owner_of : (vec nat)", "icrc7_owner_of : (vec nat32)")
    assert narrowed != text
    theirs = parse_did((STANDARDS / "ICRC-7.did").read_text(encoding="utf-8")).service
    ours = parse_did(narrowed).service
    assert ours is not None and theirs is not None
    assert not is_subtype(ours, theirs)


def test_collection_metadata_and_supported_standards(w: World) -> None:
    meta = dict(w.q(BUYER, "icrc7_collection_metadata"))
    assert meta["icrc7:symbol"].value == w.q(BUYER, "icrc7_symbol") == "ITEM"
    assert meta["icrc7:name"].value == w.q(BUYER, "icrc7_name")
    assert meta["icrc7:total_supply"].value == w.q(BUYER, "icrc7_total_supply") == 0
    assert meta["icrc7:max_query_batch_size"].value == w.q(BUYER, "icrc7_max_query_batch_size")
    assert meta["icrc7:max_update_batch_size"].value == w.q(
        BUYER, "icrc7_max_update_batch_size") == 20
    assert meta["icrc7:default_take_value"].value == w.q(BUYER, "icrc7_default_take_value")
    assert meta["icrc7:max_take_value"].value == w.q(BUYER, "icrc7_max_take_value") == 100
    assert meta["icrc7:max_memo_size"].value == w.q(BUYER, "icrc7_max_memo_size") == 32
    assert meta["icrc7:tx_window"].value == w.q(BUYER, "icrc7_tx_window") == 86_400
    assert meta["icrc7:permitted_drift"].value == w.q(BUYER, "icrc7_permitted_drift") == 120
    assert w.q(BUYER, "icrc7_description") == meta["icrc7:description"].value
    assert w.q(BUYER, "icrc7_logo") is None and w.q(BUYER, "icrc7_supply_cap") is None
    assert w.q(BUYER, "icrc7_atomic_batch_transfers") is False
    assert [s.name for s in w.q(BUYER, "icrc10_supported_standards")] == [
        "ICRC-7", "ICRC-10", "ICRC-37"]


# -- minting ----------------------------------------------------------------------------------

def test_a_seller_mints_a_one_unit_listing_into_its_escrow(w: World) -> None:
    item = w.listing(title="Carved chair")
    token = w.u(SELLER, "mint_item", item.id)
    assert token == item.id
    assert owner(w, token) == escrow_of(token)
    assert w.q(BUYER, "icrc7_balance_of", [escrow_of(token), acct(SELLER)]) == [1, 0]
    assert w.q(BUYER, "icrc7_total_supply") == 1
    (meta,) = w.q(BUYER, "icrc7_token_metadata", [token])
    fields = {k: v.value for k, v in meta}
    assert fields["market:name"] == "Carved chair" and fields["market:listing"] == item.id
    assert fields["market:minted_by"] == SELLER.raw
    assert w.q(BUYER, "icrc7_token_metadata", [999]) == [None]
    assert w.q(BUYER, "icrc7_owner_of", [999, 2**70]) == [None, None]
    assert [a.kind for a in w.q(BUYER, "listing_activity", item.id, 0, 10)] == [
        "listed", "minted"]


def test_minting_is_refused_with_the_reason(w: World) -> None:
    many = w.listing(quantity=2)
    with pytest.raises(Reject, match="a unique item is one unit never sold"):
        w.u(SELLER, "mint_item", many.id)
    one = w.listing()
    with pytest.raises(Reject, match="belongs to"):
        w.u(BUYER, "mint_item", one.id)
    with pytest.raises(Reject, match="sign in first"):
        w.u(ANON, "mint_item", one.id)
    with pytest.raises(Reject, match="no listing 77"):
        w.u(SELLER, "mint_item", 77)
    w.u(SELLER, "mint_item", one.id)
    with pytest.raises(Reject, match=f"listing {one.id} is unique item {one.id} already"):
        w.u(SELLER, "mint_item", one.id)
    gone = w.listing()
    w.u(SELLER, "delist", gone.id)
    with pytest.raises(Reject, match="is delisted; mint an active listing"):
        w.u(SELLER, "mint_item", gone.id)
    sold = w.listing()
    w.buy(BUYER, sold.id)
    with pytest.raises(Reject, match="is sold_out; mint an active listing"):
        w.u(SELLER, "mint_item", sold.id)


def test_tokens_are_paged_in_id_order(w: World) -> None:
    tokens = [minted(w, f"Item {n}") for n in range(5)]
    assert w.q(BUYER, "icrc7_tokens", None, None) == tokens
    assert w.q(BUYER, "icrc7_tokens", None, 2) == tokens[:2]
    assert w.q(BUYER, "icrc7_tokens", tokens[1], 2) == tokens[2:4]
    assert w.q(BUYER, "icrc7_tokens", tokens[-1], None) == []
    assert w.q(BUYER, "icrc7_tokens", 2**80, None) == []
    assert w.q(BUYER, "icrc7_tokens", None, 0) == []
    assert w.q(BUYER, "icrc7_tokens_of", escrow_of(tokens[0]), None, None) == [tokens[0]]
    # a query batch is answered for its first 100 items
    assert len(w.q(BUYER, "icrc7_owner_of", list(range(150)))) == 100


# -- the item follows the money ---------------------------------------------------------------

def test_settlement_gives_the_item_to_the_buyer(w: World) -> None:
    token = minted(w)
    order = w.buy(BUYER, token).value
    assert order.status.value == "paid" and owner(w, token) == escrow_of(token)
    w.u(SELLER, "ship", order.id, "parcel 1")
    assert owner(w, token) == escrow_of(token)
    settled = w.u(BUYER, "confirm_delivery", order.id)
    assert settled.status.value == "settled"
    assert owner(w, token) == acct(BUYER)
    assert w.q(BUYER, "icrc7_tokens_of", acct(BUYER), None, None) == [token]
    assert w.q(BUYER, "icrc7_balance_of", [acct(BUYER), escrow_of(token)]) == [1, 0]
    blocks = w.q(BUYER, "collection_log", 0, None)
    kinds = [dict(b.value)["btype"].value for b in blocks]
    assert kinds == ["7mint", "7xfer"]
    tx = dict(dict(blocks[1].value)["tx"].value)
    assert tx["to"].value[0].value == BUYER.raw
    assert tx["memo"].value == b"order:" + order.id.to_bytes(8, "big")


def test_a_unique_item_cannot_be_restocked_or_resized(w: World) -> None:
    token = minted(w)
    data = records.ListingInput("Carved chair", "", 2_000_000, 2, "furniture")
    with pytest.raises(Reject, match=f"sells unique item {token}: its quantity is 1"):
        w.u(SELLER, "update_listing", token, data, [])
    data.quantity = 1
    assert w.u(SELLER, "update_listing", token, data, []).price == 2_000_000  # a new price
    order = w.buy(BUYER, token).value
    with pytest.raises(Reject, match="is in checkout or sold"):
        w.u(SELLER, "update_listing", token, data, [])
    w.u(BUYER, "confirm_delivery", order.id)
    with pytest.raises(Reject, match="sold its unique item"):
        w.u(SELLER, "update_listing", token, data, [])


def test_a_cancelled_order_keeps_the_item_listed_and_the_next_buyer_gets_it(w: World) -> None:
    token = minted(w)
    order = w.buy(BUYER, token).value
    w.u(SELLER, "cancel_order", order.id, "out of stock")
    assert owner(w, token) == escrow_of(token)
    assert w.q(BUYER, "listing", token).available == 1
    second = w.buy(BUYER2, token).value
    w.u(BUYER2, "confirm_delivery", second.id)
    assert owner(w, token) == acct(BUYER2)


def test_a_refused_payment_keeps_the_item_in_escrow(w: World) -> None:
    token = minted(w)
    failed = w.buy(BUYER, token, approve=0)
    assert failed.tag == "Err" and failed.value.tag == "InsufficientAllowance"
    assert owner(w, token) == escrow_of(token)
    assert w.q(BUYER, "listing", token).available == 1


def test_delisting_gives_the_item_back_to_the_seller(w: World) -> None:
    token = minted(w)
    w.u(SELLER, "delist", token)
    assert owner(w, token) == acct(SELLER)
    assert w.q(SELLER, "icrc7_tokens_of", acct(SELLER), None, None) == [token]


def test_delisting_during_an_order_waits_for_the_order(w: World) -> None:
    token = minted(w)
    order = w.buy(BUYER, token).value
    w.u(SELLER, "delist", token)  # the paid order goes on
    assert owner(w, token) == escrow_of(token)
    w.u(SELLER, "cancel_order", order.id, "")  # refunded: nothing holds it any more
    assert owner(w, token) == acct(SELLER)


def test_disputes_settle_the_item_with_the_money(w: World) -> None:
    refunded, paid = minted(w, "Chair"), minted(w, "Table")
    first = w.buy(BUYER, refunded).value
    second = w.buy(BUYER, paid).value
    w.u(SELLER, "ship", first.id, "")
    w.u(BUYER, "open_dispute", first.id, "broken")
    w.u(BUYER, "open_dispute", second.id, "late")
    assert owner(w, refunded) == escrow_of(refunded)
    w.u(ARBITER, "resolve_dispute", first.id, True, "refund")
    w.u(ARBITER, "resolve_dispute", second.id, False, "delivered")
    # shipped, then refunded: the seller has the goods back, and so the item
    assert owner(w, refunded) == acct(SELLER)
    assert owner(w, paid) == acct(BUYER)


def test_an_accepted_offer_settles_the_item_to_the_bidder(w: World) -> None:
    token = minted(w)
    w.approve(BUYER2, 10_000_000)
    offer = w.u(BUYER2, "make_offer", token, 1, 800_000).value
    order = w.u(SELLER, "accept_offer", offer.id)
    assert owner(w, token) == escrow_of(token)
    w.u(BUYER2, "confirm_delivery", order.id)
    assert owner(w, token) == acct(BUYER2)


def test_a_won_auction_settles_the_item_to_the_winner(w: World) -> None:
    token = minted(w)
    hour = 3600 * 10**9
    auction = w.u(SELLER, "start_auction", token, 500_000, 0, 100_000, hour)
    w.approve(BUYER, 10_000_000)
    w.approve(BUYER2, 10_000_000)
    assert w.u(BUYER, "place_bid", auction.id, 600_000).tag == "Ok"
    assert w.u(BUYER2, "place_bid", auction.id, 700_000).tag == "Ok"
    assert owner(w, token) == escrow_of(token)
    w.advance(hour + 60 * 10**9)  # the sweeper closes it: BUYER2's bid is a paid order
    closed = w.q(SELLER, "auction", auction.id)
    assert closed.status == "sold" and owner(w, token) == escrow_of(token)
    w.u(BUYER2, "confirm_delivery", closed.order_id)
    assert owner(w, token) == acct(BUYER2)


def test_a_holder_relists_the_item_and_it_sells_again(w: World) -> None:
    token, _order = sold_to(w, BUYER)
    w.shop(BUYER)
    data = records.ListingInput("Carved chair, used", "", 3_000_000, 1, "furniture")
    with pytest.raises(Reject, match="not held by"):
        w.u(BUYER2, "list_item", token, None, data, [])
    with pytest.raises(Reject, match="no item 999"):
        w.u(BUYER, "list_item", 999, None, data, [])
    with pytest.raises(Reject, match="listed as one unit, not 2"):
        w.u(BUYER, "list_item", token, None,
            records.ListingInput("x", "", 1, 2, "furniture"), [])
    listing = w.u(BUYER, "list_item", token, None, data, [])
    assert listing.id != token and owner(w, token) == escrow_of(token)
    again = w.buy(BUYER2, listing.id).value
    w.u(BUYER2, "confirm_delivery", again.id)
    assert owner(w, token) == acct(BUYER2)
    (meta,) = w.q(BUYER, "icrc7_token_metadata", [token])
    assert dict(meta)["market:listing"].value == listing.id


def test_an_upgrade_keeps_items_approvals_and_the_log(w: World) -> None:
    token, order = sold_to(w, BUYER)
    listed = minted(w, "Listed")
    at = now(w)
    first = transfer(w, BUYER, token, acct(BUYER2), at=at)
    w.market.upgrade(records.InitArgs(ledger=LEDGER_ID))
    assert owner(w, token) == acct(BUYER2) and owner(w, listed) == escrow_of(listed)
    assert w.q(BUYER, "icrc7_balance_of", [acct(BUYER2)]) == [1]
    assert len(w.q(BUYER, "collection_log", 0, None)) == 4  # two mints, settlement, transfer
    # the deduplication window survives too
    again = transfer(w, BUYER, token, acct(BUYER2), at=at)
    assert err(again) == "Duplicate" and again.value.value.duplicate_of == first.value
    assert order.status.value == "settled"


# -- icrc7_transfer ---------------------------------------------------------------------------

def test_a_holder_transfers_to_an_account_and_subaccount(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    sub = bytes([7]) * 32
    result = transfer(w, BUYER, token, acct(BUYER2, sub), memo=b"gift")
    assert result.tag == "Ok"
    assert owner(w, token) == acct(BUYER2, sub)
    assert w.q(BUYER, "icrc7_tokens_of", acct(BUYER2, sub), None, None) == [token]
    assert w.q(BUYER, "icrc7_tokens_of", acct(BUYER2), None, None) == []
    assert err(transfer(w, BUYER2, token, acct(BUYER))) == "Unauthorized"  # wrong subaccount
    back = transfer(w, BUYER2, token, acct(BUYER, bytes(32)), sub=sub)
    assert back.tag == "Ok" and owner(w, token) == acct(BUYER)  # zero subaccount = default
    assert back.value == result.value + 1  # log indexes


def test_transfer_errors_are_the_standards(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    listed = minted(w, "Still listed")
    assert err(transfer(w, BUYER, 999, acct(BUYER2))) == "NonExistingTokenId"
    assert err(transfer(w, BUYER, 2**80, acct(BUYER2))) == "NonExistingTokenId"
    assert err(transfer(w, BUYER2, token, acct(BUYER2))) == "Unauthorized"
    assert err(transfer(w, SELLER, listed, acct(BUYER2))) == "Unauthorized"  # in escrow
    assert err(transfer(w, BUYER, token, acct(BUYER))) == "InvalidRecipient"
    assert err(transfer(w, BUYER, token, acct(ANON))) == "InvalidRecipient"
    assert err(transfer(w, BUYER, token, acct(MARKET_ID))) == "InvalidRecipient"
    assert err(transfer(w, BUYER, token, acct(BUYER2, b"short"))) == "InvalidRecipient"
    long_memo = transfer(w, BUYER, token, acct(BUYER2), memo=bytes(33))
    assert err(long_memo) == "GenericError"
    assert long_memo.value.value.message == "a memo is at most 32 bytes, got 33"
    t = now(w)
    assert err(transfer(w, BUYER, token, acct(BUYER2), at=t - 25 * 3600 * 10**9)) == "TooOld"
    future = transfer(w, BUYER, token, acct(BUYER2), at=t + 3 * 60 * 10**9)
    assert err(future) == "CreatedInFuture" and future.value.value.ledger_time == t
    assert owner(w, token) == acct(BUYER)  # nothing moved


def test_a_transfer_with_created_at_time_is_deduplicated(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    t = now(w)
    first = transfer(w, BUYER, token, acct(BUYER2), at=t, memo=b"1")
    assert first.tag == "Ok"
    again = transfer(w, BUYER, token, acct(BUYER2), at=t, memo=b"1")
    assert err(again) == "Duplicate" and again.value.value.duplicate_of == first.value
    # another memo is another transfer (and BUYER holds nothing now)
    assert err(transfer(w, BUYER, token, acct(BUYER2), at=t, memo=b"2")) == "Unauthorized"
    # after the window the same call is too old, not a duplicate
    w.advance(25 * 3600 * 10**9)
    assert err(transfer(w, BUYER, token, acct(BUYER2), at=t, memo=b"1")) == "TooOld"


def test_a_batch_answers_each_item_and_stops_at_the_limit(w: World) -> None:
    a, _ = sold_to(w, BUYER, "A")
    b, _ = sold_to(w, BUYER, "B")
    TransferArg = MARKET_APP.icrc7.TransferArg
    mixed = w.u(BUYER, "icrc7_transfer", [TransferArg(None, acct(BUYER2), a, None, None),
                                          TransferArg(None, acct(BUYER2), 999, None, None),
                                          TransferArg(None, acct(BUYER2), b, None, None)])
    assert [r.tag for r in mixed] == ["Ok", "Err", "Ok"]
    assert w.q(BUYER, "icrc7_balance_of", [acct(BUYER2), acct(BUYER)]) == [2, 0]
    assert w.u(BUYER, "icrc7_transfer", []) == []
    big = [TransferArg(None, acct(BUYER), 999, None, None)] * 25
    results = w.u(BUYER2, "icrc7_transfer", big)
    assert len(results) == 21 and {err(r) for r in results[:20]} == {"NonExistingTokenId"}
    assert err(results[20]) == "GenericBatchError"
    assert "at most 20 items, got 25" in results[20].value.value.message
