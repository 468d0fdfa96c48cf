"""The marketplace canister in plain CPython against the real Python ledger (no replica).

Each test builds a fresh `World` (tests/world.py): the marketplace and the ``ledger``
template as two connected `LocalCanister`s. Failure paths use real ledger answers
(insufficient funds, allowance too low) or a peer that rejects, traps or never answers,
and every test that moves money ends by checking that the accounts still hold exactly
the ledger's supply.
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import CallRejected, Reject
from icframework.sdk.local import InFlight

from .world import (
    ADMIN,
    ANON,
    ARBITER,
    BUYER,
    BUYER2,
    FEE,
    LEDGER_ID,
    MAKER,
    MARKET_ID,
    PNG,
    SELLER,
    World,
    certify,
    limits,
    make_world,
    records,
)

DAY = limits.DAY


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def balanced(w: World) -> None:
    assert w.money_in_accounts() == w.supply()


# -- listings, images, search -----------------------------------------------------------------

def test_listing_validation_names_the_problem(w: World) -> None:
    for price, match in [(0, "must be positive"), (limits.MAX_PRICE + 1, "at most")]:
        with pytest.raises(Reject, match=match):
            w.listing(price=price)
    with pytest.raises(Reject, match="a title must not be empty"):
        w.listing(title="  ")
    with pytest.raises(Reject, match="open a shop first"):
        w.listing(who=BUYER)
    with pytest.raises(Reject, match="sign in first"):
        w.u(ANON, "open_shop", "x", "", None, 0)
    with pytest.raises(Reject, match="already has a shop"):
        w.shop()
    with pytest.raises(Reject, match="royalty is at most"):
        w.u(BUYER, "open_shop", "b", "", MAKER, limits.MAX_ROYALTY_BPS + 1)
    item = w.listing()
    with pytest.raises(Reject, match="belongs to"):
        w.u(BUYER, "delist", item.id)


def _upload(w: World, data: bytes, who: Any = SELLER, kind: str = "image/png") -> int:
    image = w.u(who, "begin_image_upload", kind, len(data))
    step = limits.CHUNK_BYTES
    for n, start in enumerate(range(0, len(data), step)):
        w.u(who, "upload_image_chunk", image, n, data[start:start + step])
    w.u(who, "commit_image", image)
    return int(image)


def test_images_upload_in_chunks_and_are_served(w: World) -> None:
    data = PNG + bytes(limits.CHUNK_BYTES + 10)
    image = _upload(w, data)
    item = w.listing(images=[image])
    assert item.images == [f"/images/{image}"]
    response = w.q(BUYER, "http_request", MARKET_APP_REQUEST(f"/images/{image}"))
    assert response.status_code == 200 and response.body == data
    assert ("content-type", "image/png") in response.headers
    assert w.q(BUYER, "http_request", MARKET_APP_REQUEST("/nope")).status_code == 404
    with pytest.raises(Reject, match="is not one of"):
        w.listing(who=SELLER, images=[999])


def MARKET_APP_REQUEST(path: str) -> Any:
    from .world import MARKET_APP

    return MARKET_APP.market.HttpRequest("GET", path, [], b"", None)


def test_bad_images_are_refused(w: World) -> None:
    with pytest.raises(Reject, match="images are image/png"):
        w.u(SELLER, "begin_image_upload", "text/html", 10)
    with pytest.raises(Reject, match="an image is 1 to"):
        w.u(SELLER, "begin_image_upload", "image/png", limits.MAX_IMAGE_BYTES + 1)
    image = w.u(SELLER, "begin_image_upload", "image/png", 20)
    with pytest.raises(Reject, match="must be 20 bytes"):
        w.u(SELLER, "upload_image_chunk", image, 0, b"short")
    with pytest.raises(Reject, match="no upload"):
        w.u(BUYER, "upload_image_chunk", image, 0, bytes(20))
    w.u(SELLER, "upload_image_chunk", image, 0, b"<script>alert(1)</s>")
    with pytest.raises(Reject, match="is not a image/png file"):
        w.u(SELLER, "commit_image", image)


def test_search_filters_sorts_and_pages(w: World) -> None:
    w.listing(title="Red bicycle", price=300, category="bikes")
    w.listing(title="Blue bicycle", price=100, category="bikes")
    w.listing(title="Blue teapot", price=200, category="kitchen")
    w.shop(BUYER)
    w.listing(who=BUYER, title="Green bicycle", price=150, category="bikes")
    q = records.SearchQuery
    assert [x.title for x in w.q(BUYER, "search", q(text="bicycle", sort="price_asc")).listings] \
        == ["Blue bicycle", "Green bicycle", "Red bicycle"]
    assert [x.title for x in w.q(BUYER, "search", q(text="blue")).listings] == \
        ["Blue teapot", "Blue bicycle"]
    assert w.q(BUYER, "search", q(category="kitchen")).total == 1
    page = w.q(BUYER, "search", q(min_price=150, max_price=300, sort="price_desc"))
    assert [x.price for x in page.listings] == [300, 200, 150]
    first = w.q(BUYER, "search", q(limit=2))
    second = w.q(BUYER, "search", q(limit=2, cursor=first.next_cursor))
    assert len(first.listings) == 2 and first.total == 4  # exact: the catalogue counts
    assert len(second.listings) == 2 and second.next_cursor is None and second.total == 4
    with pytest.raises(Reject, match="unknown sort"):
        w.q(BUYER, "search", q(sort="random"))
    assert w.q(BUYER, "categories") == [("bikes", 3), ("kitchen", 1)]


# -- checkout and the order lifecycle ---------------------------------------------------------

def test_checkout_ship_confirm_pays_seller_platform_and_royalty() -> None:
    w = make_world()
    w.shop(royalty_bps=500)
    item = w.listing(price=10_000_000)
    paid = w.buy(BUYER, item.id)
    assert paid.tag == "Ok" and paid.value.status.value == "paid"
    assert w.balance(MARKET_ID, paid.value.escrow.subaccount) == 10_000_000
    assert w.q(BUYER, "listing", item.id).status.value == "sold_out"
    w.u(SELLER, "ship", paid.value.id, "parcel 42")
    done = w.u(BUYER, "confirm_delivery", paid.value.id)
    assert done.status.value == "settled"
    shares = {p.purpose: p.gross for p in done.payouts}
    assert shares == {"platform": 250_000, "royalty": 500_000, "seller": 9_250_000}
    assert w.balance(SELLER) == 9_250_000 - FEE
    assert w.balance(MAKER) == 500_000 - FEE and w.balance(ADMIN) == 250_000 - FEE
    assert w.balance(MARKET_ID, paid.value.escrow.subaccount) == 0
    stats = w.q(ADMIN, "stats")
    assert (stats.volume, stats.sales, stats.escrow_held) == (10_000_000, 1, 0)
    balanced(w)


def test_an_item_cannot_be_sold_twice(w: World) -> None:
    item = w.listing(price=1_000_000, quantity=1)
    w.approve(BUYER, 2_000_000)
    w.approve(BUYER2, 2_000_000)
    first = w.market.start_update("checkout", item.id, 1, caller=BUYER)
    assert isinstance(first, InFlight)
    with pytest.raises(Reject, match="not for sale"):  # locked while the first pays
        w.u(BUYER2, "checkout", item.id, 1)
    assert first.deliver().result().tag == "Ok"
    balanced(w)


def test_refused_payments_release_the_lock_and_take_nothing(w: World) -> None:
    item = w.listing(price=1_000_000, quantity=1)
    low = w.buy(BUYER, item.id, approve=10)
    assert low.tag == "Err" and low.value.tag == "InsufficientAllowance"
    poor = make_world({BUYER: 3 * FEE})  # enough to approve, not to pay
    poor.shop()
    cheap = poor.listing(price=1_000_000)
    broke = poor.buy(BUYER, cheap.id)
    assert broke.tag == "Err" and broke.value.tag == "InsufficientFunds"
    assert w.q(BUYER, "listing", item.id).available == 1
    assert w.q(BUYER, "my_orders", False, None, 10)[0].status.value == "failed"
    ok = w.buy(BUYER2, item.id)
    assert ok.tag == "Ok"
    balanced(w)
    balanced(poor)


def test_a_ledger_that_does_not_answer_leaves_a_pending_order_that_is_reconciled(w: World) -> None:
    item = w.listing(price=1_000_000)
    w.approve(BUYER, 2_000_000)
    flight = w.market.start_update("checkout", item.id, 1, caller=BUYER)
    pending = flight.reject(2, "the ledger is unreachable").result()
    assert pending.tag == "Err" and pending.value.tag == "Pending"
    order_id = pending.value.value
    assert w.q(BUYER, "order", order_id).status.value == "pending_payment"
    assert w.q(BUYER, "listing", item.id).available == 0  # still locked: nothing is known
    w.advance(60 * limits.SECOND)  # the sweeper asks the ledger again
    assert w.q(BUYER, "order", order_id).status.value == "paid"
    balanced(w)


def test_the_ledger_took_the_money_but_the_answer_was_lost(w: World) -> None:
    item = w.listing(price=1_000_000)
    w.approve(BUYER, 2_000_000)
    flight = w.market.start_update("checkout", item.id, 1, caller=BUYER)
    call = flight.call
    response = w.market.deliver(call)  # the ledger executes the transfer...
    assert response.reject is None
    flight.reject(2, "connection lost")  # ...but the marketplace never hears of it
    w.advance(60 * limits.SECOND)
    order = w.q(BUYER, "my_orders", False, None, 10)[0]
    assert order.status.value == "paid"  # the retry was a Duplicate: paid once
    assert w.balance(BUYER) == 50_000_000 - FEE - (1_000_000 + FEE)  # approve, one pull
    balanced(w)


def test_unauthorised_state_changes_are_refused(w: World) -> None:
    item = w.listing()
    order = w.buy(BUYER, item.id).value
    for who, method, args, match in [
        (BUYER, "ship", (order.id, ""), "only the seller"),
        (SELLER, "confirm_delivery", (order.id,), "only the buyer"),
        (BUYER2, "open_dispute", (order.id, "x"), "only the buyer"),
        (SELLER, "resolve_dispute", (order.id, True, ""), "only the arbiter"),
        (SELLER, "set_platform_fee", (100,), "only the marketplace admin"),
        (BUYER, "checkout", (item.id, 1), "not for sale"),
        (SELLER, "checkout", (item.id, 1), "cannot buy their own"),
    ]:
        with pytest.raises(Reject, match=match):
            w.u(who, method, *args)
    with pytest.raises(Reject, match="private"):
        w.q(BUYER2, "order", order.id)


def test_disputes_are_decided_by_the_arbiter(w: World) -> None:
    a, b = w.listing(title="A"), w.listing(title="B")
    first, second = w.buy(BUYER, a.id).value, w.buy(BUYER, b.id).value
    w.u(SELLER, "ship", first.id, "")
    w.u(BUYER, "open_dispute", first.id, "arrived broken")
    w.u(BUYER, "open_dispute", second.id, "never came")
    assert [o.id for o in w.q(ARBITER, "disputes", None, 10)] == [second.id, first.id]
    refunded = w.u(ARBITER, "resolve_dispute", first.id, True, "photos show damage")
    paid = w.u(ARBITER, "resolve_dispute", second.id, False, "tracking says delivered")
    assert refunded.status.value == "refunded" and paid.status.value == "settled"
    # what happened, and why: the arbiter's note stays for both parties
    assert refunded.note.startswith("the buyer was refunded") and "photos show damage" in \
        refunded.note
    assert paid.note.startswith("the seller was paid") and "tracking says delivered" in paid.note
    # two approvals and two pulls, one refund (less its transfer fee)
    assert w.balance(BUYER) == 50_000_000 - 2 * (FEE + 1_000_000 + FEE) + 1_000_000 - FEE
    balanced(w)


def _disputed_orders(w: World, count: int) -> list[Any]:
    """``count`` orders of BUYER, each of its own listing, all disputed (oldest first)."""
    found = []
    for n in range(count):
        order = w.buy(BUYER, w.listing(title=f"Item {n}").id).value
        found.append(w.u(BUYER, "open_dispute", order.id, f"problem {n}"))
    return found


def test_only_the_arbiter_and_the_admin_see_the_disputes(w: World) -> None:
    (disputed,) = _disputed_orders(w, 1)
    for who in (BUYER, SELLER, BUYER2, ANON):
        with pytest.raises(Reject) as refused:
            w.q(who, "disputes", None, 10)
        assert str(refused.value) == ("only the arbiter and the admin see the disputes "
                                      f"({who.to_text()} is neither)")
    for who in (ARBITER, ADMIN):
        (seen,) = w.q(who, "disputes", None, 10)
        assert (seen.id, seen.status.value, seen.dispute_reason) == (
            disputed.id, "disputed", "problem 0")


def test_disputes_are_paged_newest_first_and_leave_when_decided(w: World) -> None:
    quiet = w.buy(BUYER, w.listing(title="Undisputed").id).value  # not on the desk
    ids = [o.id for o in _disputed_orders(w, 5)]
    later = w.buy(BUYER, w.listing(title="Undisputed too").id).value
    pages, cursor = [], None
    while True:
        page = [o.id for o in w.q(ARBITER, "disputes", cursor, 2)]
        if not page:
            break
        pages.append(page)
        cursor = str(sum(len(p) for p in pages))
    # newest first; the two undisputed orders (before and after) are not on the desk
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]
    assert quiet.id < ids[0] and later.id > ids[4]
    assert [o.id for o in w.q(ARBITER, "disputes", None, 0)] == ids[::-1]  # 0: 20
    w.u(ARBITER, "resolve_dispute", ids[3], True, "refunded")
    assert [o.id for o in w.q(ARBITER, "disputes", "1", 10)] == [ids[2], ids[1], ids[0]]
    with pytest.raises(Reject, match="bad cursor 'next': pass the number of disputes "
                                     "already read"):
        w.q(ARBITER, "disputes", "next", 10)
    balanced(w)


def test_a_page_of_disputes_reads_the_status_index_not_every_order(
        w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(12):
        w.buy(BUYER, w.listing(title=f"Quiet {n}").id)
    disputed = _disputed_orders(w, 3)
    rows = records.Order._meta().rows  # the store keys of Order rows
    backend = w.market.backend
    get, scan = backend.kv_get, backend.kv_scan
    order_rows: list[bytes] = []

    def counting_get(key: bytes) -> bytes | None:
        if key.startswith(rows):
            order_rows.append(key)
        return get(key)

    def counting_scan(start: bytes, end: bytes | None, reverse: bool,
                      limit: int) -> list[tuple[bytes, bytes]]:
        found = scan(start, end, reverse, limit)
        order_rows.extend(k for k, _ in found if k.startswith(rows))
        return found

    monkeypatch.setattr(backend, "kv_get", counting_get)  # the real store, its reads counted
    monkeypatch.setattr(backend, "kv_scan", counting_scan)
    page = w.q(ARBITER, "disputes", None, 2)
    assert [o.id for o in page] == [disputed[2].id, disputed[1].id]
    assert len(order_rows) == 2  # the page's own orders, out of 15


def test_timers_refund_unshipped_and_confirm_shipped_orders(w: World) -> None:
    a, b = w.listing(title="A"), w.listing(title="B")
    unshipped, shipped = w.buy(BUYER, a.id).value, w.buy(BUYER, b.id).value
    w.u(SELLER, "ship", shipped.id, "")
    w.advance(limits.SHIP_WITHIN_NS + limits.MINUTE)
    assert w.q(BUYER, "order", unshipped.id).status.value == "refunded"
    assert w.q(BUYER, "listing", a.id).available == 1  # back on sale
    w.advance(limits.CONFIRM_WITHIN_NS)
    assert w.q(BUYER, "order", shipped.id).status.value == "settled"
    balanced(w)


def test_a_failed_payout_is_retried_and_never_doubled(w: World) -> None:
    item = w.listing()
    order = w.buy(BUYER, item.id).value
    flight = w.market.start_update("confirm_delivery", order.id, caller=BUYER)
    flight.reject(5, "the ledger trapped")  # the first payout fails
    while not flight.done:
        flight.deliver()
    settling = w.q(BUYER, "order", order.id)
    assert settling.status.value == "settling"
    with pytest.raises(Reject, match="settling"):
        w.u(BUYER, "confirm_delivery", order.id)  # no second settlement
    w.advance(limits.SWEEP_EVERY_NS)
    assert w.q(BUYER, "order", order.id).status.value == "settled"
    balanced(w)


def test_upgrade_keeps_orders_and_money(w: World) -> None:
    item = w.listing()
    order = w.buy(BUYER, item.id).value
    w.market.upgrade(records.InitArgs(ledger=LEDGER_ID))
    assert w.q(BUYER, "order", order.id).status.value == "paid"
    assert w.q(BUYER, "listing", item.id).title == "Blue bicycle"
    balanced(w)


# -- offers, favourites, reviews, certified data ----------------------------------------------

def test_offers_cancel_decline_accept(w: World) -> None:
    item = w.listing(price=5_000_000, quantity=3)
    w.approve(BUYER, 10_000_000)
    made = w.u(BUYER, "make_offer", item.id, 1, 4_000_000)
    assert made.tag == "Ok" and made.value.status == "open"
    assert w.u(BUYER, "cancel_offer", made.value.id).status == "refunded"
    w.approve(BUYER, 10_000_000)
    second = w.u(BUYER, "make_offer", item.id, 1, 4_500_000).value
    assert w.u(SELLER, "decline_offer", second.id).status == "refunded"
    w.approve(BUYER2, 10_000_000)
    third = w.u(BUYER2, "make_offer", item.id, 2, 8_000_000).value
    order = w.u(SELLER, "accept_offer", third.id)
    assert order.status.value == "paid" and order.amount == 8_000_000
    assert w.q(BUYER, "listing", item.id).available == 1
    w.u(BUYER2, "confirm_delivery", order.id)
    balanced(w)
    w.approve(BUYER, 10_000_000)
    late = w.u(BUYER, "make_offer", item.id, 1, 1_000_000).value
    w.advance(limits.OFFER_TTL_NS + limits.MINUTE)
    assert next(o for o in w.q(BUYER, "my_offers") if o.id == late.id).status == "refunded"
    balanced(w)


def test_favourites_reviews_and_activity(w: World) -> None:
    item = w.listing()
    assert w.u(BUYER, "set_favourite", item.id, True).favourites == 1
    assert [x.id for x in w.q(BUYER, "my_favourites")] == [item.id]
    order = w.buy(BUYER, item.id).value
    with pytest.raises(Reject, match="review after delivery"):
        w.u(BUYER, "review", order.id, 5, "great")
    w.u(BUYER, "confirm_delivery", order.id)
    with pytest.raises(Reject, match="a rating is 1 to 5"):
        w.u(BUYER, "review", order.id, 6, "")
    w.u(BUYER, "review", order.id, 4, "as described")
    with pytest.raises(Reject, match="reviewed already"):
        w.u(BUYER, "review", order.id, 5, "again")
    assert w.q(BUYER, "listing", item.id).rating == 4.0
    kinds = [a.kind for a in w.q(BUYER, "listing_activity", item.id, 0, 50)]
    assert kinds == ["listed", "sold", "confirmed", "reviewed"]


def test_certified_listing_verifies_against_certified_data(w: World) -> None:
    items = [w.listing(title=f"Item {n}", price=1000 + n) for n in range(5)]
    w.u(SELLER, "update_listing", items[2].id,
        records.ListingInput("Item 2", "", 999, 1, "bikes"), [])
    data = w.market.backend.certified_data
    for item in items:
        proof = w.q(BUYER, "certified_listing", item.id)
        assert certify.verify(proof.listing_id, proof.seller, proof.price, proof.available,
                              proof.status.value, proof.bucket, proof.buckets, data,
                              proof.witness)
        assert not certify.verify(proof.listing_id, proof.seller, proof.price + 1,
                                  proof.available, proof.status.value, proof.bucket,
                                  proof.buckets, data, proof.witness)
        assert not certify.verify(proof.listing_id, proof.seller, proof.price,
                                  proof.available, proof.status.value, proof.bucket,
                                  proof.buckets, data, proof.witness[:-1])
    assert w.q(BUYER, "certified_listing", items[2].id).price == 999


def test_a_rejecting_ledger_never_loses_the_lock() -> None:
    w = make_world()
    w.shop()
    item = w.listing()

    def down(method: str, arg: bytes, caller: Any, cycles: int) -> bytes:
        raise CallRejected(LEDGER_ID.to_text(), method, 5, "ledger trapped: out of cycles")

    w.market.connect(LEDGER_ID, down)
    pending = w.buy(BUYER, item.id)
    assert pending.tag == "Err" and pending.value.tag == "Pending"
    w.advance(60 * limits.SECOND)  # still down: still pending, still locked
    assert w.q(BUYER, "listing", item.id).available == 0
    w.market.connect(LEDGER_ID, w.ledger)
    w.advance(60 * limits.SECOND)
    # the ledger never executed the pull; with the approval still there, it goes through now
    assert w.q(BUYER, "my_orders", False, None, 5)[0].status.value == "paid"
    balanced(w)


def test_the_committed_did_is_the_interface_the_hints_produce() -> None:
    from icframework.sdk import service_did

    from .world import APP_DIR, MARKET_APP

    assert (APP_DIR / "marketplace.did").read_text(encoding="utf-8") == \
        service_did(MARKET_APP.__name__)
