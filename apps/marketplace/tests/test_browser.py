"""The marketplace page in real headless Chromium against ``runreplica --demo``.

One browser context sells: it opens a shop and lists an item with a picture uploaded in
chunks. Another buys: it takes test tokens from the demo faucet, finds the item by
search, approves the ledger and checks out — every call signed by the key the page
generated — and both see the order move: paid, shipped by the seller, confirmed by the
buyer, settled with the seller paid from escrow. A title carrying markup is shown as
text. Sellers edit listings and set up auctions from the dashboard; the demo's arbiter
(the seeded user ``ana``, whose key the page is given) decides disputes at the desk.
Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.marketplace.seed import demo_identities, png
from icframework.identity import Ed25519Identity
from tests.agent.live_replica import served_project
from tests.browser import WAIT_MS, chromium, new_context, requires_chromium

pytestmark = requires_chromium

TAMPERED_CHECKS = """async () => {
  const { verifyListing } = await import('/static/marketplace/certified.js');
  const { Principal } = await import('/static/icframework/ic.js');
  const app = window.marketApp;
  const item = app.current;
  const canister = Principal.fromText(app.config.canisterId);
  const proof = await app.market.certified_listing(item.id);
  const fields = { listingId: item.id, seller: item.seller, price: item.price,
                   available: item.available, status: Object.keys(item.status)[0] };
  const out = { honest: await verifyListing(app.agent, canister, proof, fields) };
  out.price = await verifyListing(app.agent, canister, proof,
                                  { ...fields, price: item.price + 1n });
  out.seller = await verifyListing(app.agent, canister, proof,
                                   { ...fields, seller: Principal.anonymous() });
  const forged = new Uint8Array(proof.certificate[0]);
  forged[forged.length - 5] ^= 1;  // inside the signature
  try {
    await verifyListing(app.agent, canister, { ...proof, certificate: [forged] }, fields);
    out.forged = 'accepted';
  } catch (error) { out.forged = 'threw'; }
  return out;
}"""

# What exporting the private key of the page's identity gives (it must be refused).
PRIVATE_KEY_EXPORT = """async () => {
  const identity = window.marketApp.identity;
  const key = identity.privateKey || identity.getKeyPair().privateKey;
  try { await crypto.subtle.exportKey('pkcs8', key); return `${key.algorithm.name} exported`; }
  catch (error) { return `${key.algorithm.name} refused: ${error.name}`; }
}"""

# The item on show minted as a unique item; who holds a token, by icrc7_owner_of.
MINT_CURRENT = """async () => String(await window.marketApp.market.mint_item(
  window.marketApp.current.id))"""
OWNER_OF = """async (token) => {
  const [found] = await window.marketApp.market.icrc7_owner_of([BigInt(token)]);
  return found.length ? found[0].owner.toText() : null;
}"""

TITLE = 'Green <img src=x onerror="window.pwned=1"> bicycle'
KEY_STORAGE = "icframework.market.identity"  # where market.js kept the page's key before
HOUR_NS = 3600 * 10**9


@pytest.fixture(scope="module")
def market_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo project's directory (its replica state is ``state/`` under it)."""
    return tmp_path_factory.mktemp("market_project")


@pytest.fixture(scope="module")
def market_url(market_root: Path) -> Iterator[str]:
    with served_project(market_root, demo=True) as served:
        assert f"  market:    {served.url}/market/" in served.printed, served.printed
        yield served.url


@pytest.fixture(scope="module")
def browser(market_url: str) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def person(browser: Any, url: str, identity: Ed25519Identity | None = None) -> Any:
    """A new browser context on the page: a key of its own, or ``identity``'s, put where
    earlier versions of the page kept an extractable key (localStorage, as
    `Ed25519KeyIdentity.toJSON` wrote it: the DER public key and the 32-byte seed, in
    hex). The page migrates such a key into a non-extractable WebCrypto Ed25519 key in
    IndexedDB, keeping its principal, and deletes the localStorage entry."""
    from playwright.sync_api import expect

    context = new_context(browser)
    if identity is not None:
        saved = json.dumps([identity.der_public_key.hex(), identity.seed.hex()])
        context.add_init_script(
            f"localStorage.setItem({json.dumps(KEY_STORAGE)}, {json.dumps(saved)});")
    page = context.new_page()
    page.goto(f"{url}/market/")
    expect(page.locator("#browse")).to_have_attribute("data-ready", "true")
    assert page.evaluate(f"localStorage.getItem({json.dumps(KEY_STORAGE)})") is None
    if identity is not None:
        assert page.evaluate("window.marketApp.principal.toText()") == identity.principal.to_text()
        assert page.evaluate(PRIVATE_KEY_EXPORT) == "Ed25519 refused: InvalidAccessError"
    return page


def _image_width(page: Any) -> int:
    """The item picture's decoded width, once it has loaded (0 until then)."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        width = int(page.evaluate("document.querySelector('#item-image').naturalWidth"))
        if width:
            return width
        time.sleep(0.1)
    return 0


def test_one_user_lists_with_a_picture_another_buys_and_both_follow_the_order(
        browser: Any, market_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    seller, buyer = person(browser, market_url), person(browser, market_url)

    seller.click("[data-view=sell]")
    seller.fill("#shop-form [name=name]", "Browser Bikes")
    seller.click("#shop-form button[type=submit]")
    expect(seller.locator("#sell-form")).to_be_visible()
    picture = tmp_path / "bike.png"
    # a real PNG with 1.2 MB of trailing bytes (ignored by decoders): three upload chunks
    picture.write_bytes(png((30, 160, 60), size=400) + os.urandom(1_200_000))
    seller.fill("#sell-form [name=title]", TITLE)
    seller.fill("#sell-form [name=description]", "Tested in a real browser")
    seller.fill("#sell-form [name=price]", "2.5")
    seller.fill("#sell-form [name=quantity]", "1")
    seller.fill("#sell-form [name=category]", "bikes")
    seller.set_input_files("#sell-form [name=image]", str(picture))
    seller.click("#sell-form button[type=submit]")
    expect(seller.locator("#item-title")).to_have_text(TITLE)  # as text, not markup
    assert seller.evaluate("window.pwned") is None
    # The seller makes it a unique item (an ICRC-7 token, held in escrow while listed).
    token = seller.evaluate(MINT_CURRENT)
    # The picture comes from the canister's own origin, never from the page's.
    market_id = seller.evaluate("window.marketApp.config.canisterId")
    assert (seller.locator("#item-image").get_attribute("src") or "").startswith(
        f"http://{market_id}.localhost:{market_url.rsplit(':', 1)[1]}/images/")
    assert _image_width(seller) == 400  # decoded from the canister's http_request

    buyer.click("#faucet")
    expect(buyer.locator("#balance")).to_have_text("100 MKT")
    buyer.fill("#search-form [name=text]", "green bicycle")
    buyer.click("#search-form button[type=submit]")
    expect(buyer.locator("#listings li")).to_have_count(1)
    buyer.locator("#listings li").click()
    expect(buyer.locator("#item-price")).to_have_text("2.5 MKT")
    expect(buyer.locator("#item-certified")).to_have_attribute("data-verified", "yes")
    expect(buyer.locator("#item-certified")).to_contain_text("verified in this browser")
    # The same check refuses a price other than the certified one, and a bad certificate.
    tampered = buyer.evaluate(TAMPERED_CHECKS)
    assert tampered == {"honest": True, "price": False, "seller": False, "forged": "threw"}
    buyer.click("#buy")
    bought = buyer.locator("#bought li")
    expect(bought).to_have_attribute("data-status", "paid")
    expect(buyer.locator("#balance")).to_have_text("97.4998 MKT")  # price + approve and pull fees
    assert buyer.evaluate(OWNER_OF, token) == market_id  # paid: still in escrow

    seller.click("[data-view=orders]")
    sold = seller.locator("#sold li")
    expect(sold).to_have_attribute("data-status", "paid")
    sold.get_by_role("button", name="Mark shipped").click()
    expect(sold).to_have_attribute("data-status", "shipped")

    buyer.click("[data-view=orders]")
    expect(bought).to_have_attribute("data-status", "shipped")
    bought.get_by_role("button", name="Confirm delivery").click()
    expect(bought).to_have_attribute("data-status", "settled")
    # settled: the item is the buyer's, as any ICRC-7 wallet reads it
    assert buyer.evaluate(OWNER_OF, token) == buyer.evaluate("window.marketApp.principal.toText()")

    seller.click("[data-view=orders]")
    expect(sold).to_have_attribute("data-status", "settled")
    # 2.5 MKT less the 2.5 % platform fee, less the payout's ledger fee
    expect(seller.locator("#balance")).to_have_text("2.4374 MKT")
    assert seller.evaluate("window.pwned") is None and buyer.evaluate("window.pwned") is None


def test_an_offer_accepted_from_the_item_page_then_reviewed(
        browser: Any, market_url: str) -> None:
    from playwright.sync_api import expect

    seller, buyer = person(browser, market_url), person(browser, market_url)
    seller.click("[data-view=sell]")
    seller.fill("#shop-form [name=name]", "Offer Antiques")
    seller.click("#shop-form button[type=submit]")
    for field, value in [("title", "Walnut writing desk"), ("price", "40"),
                         ("quantity", "1"), ("category", "furniture")]:
        seller.fill(f"#sell-form [name={field}]", value)
    seller.click("#sell-form button[type=submit]")
    expect(seller.locator("#item-title")).to_have_text("Walnut writing desk")

    buyer.click("#faucet")
    expect(buyer.locator("#balance")).to_have_text("100 MKT")
    buyer.fill("#search-form [name=text]", "walnut desk")
    buyer.click("#search-form button[type=submit]")
    expect(buyer.locator("#listings li")).to_have_count(1)
    buyer.locator("#listings li", has_text="Walnut writing desk").click()
    buyer.click("#favourite")
    expect(buyer.locator("#favourite")).to_have_text("♥ Watching")
    buyer.fill("#offer-form [name=amount]", "30")
    buyer.click("#offer-form button[type=submit]")
    expect(buyer.locator("#item-offers li")).to_contain_text("30 MKT for 1")
    expect(buyer.locator("#balance")).to_have_text("69.9998 MKT")  # escrowed, plus two fees

    seller.click("[data-view=sell]")
    row = seller.locator("#my-listings tr", has_text="Walnut writing desk")
    expect(row.locator("td").nth(2)).to_have_text("1")  # available, on the dashboard
    seller.click("[data-view=browse]")
    seller.locator("#listings li", has_text="Walnut writing desk").click()
    seller.locator("#item-offers li").get_by_role("button", name="Accept").click()
    expect(seller.locator("#item-available")).to_have_text("0 available")

    seller.click("[data-view=orders]")
    sold = seller.locator("#sold li")
    expect(sold).to_have_attribute("data-status", "paid")
    sold.get_by_role("button", name="Mark shipped").click()
    expect(sold).to_have_attribute("data-status", "shipped")
    buyer.click("[data-view=orders]")
    bought = buyer.locator("#bought li")
    expect(bought).to_have_attribute("data-status", "shipped")
    bought.get_by_role("button", name="Confirm delivery").click()
    expect(bought).to_have_attribute("data-status", "settled")
    bought.get_by_label("rating").select_option("4")
    bought.get_by_placeholder("Your review").fill("lovely <b>desk</b>")
    bought.get_by_role("button", name="Review").click()
    expect(bought.get_by_role("button", name="Review")).to_have_count(0)

    buyer.click("[data-view=watchlist]")
    buyer.locator("#watched li", has_text="Walnut writing desk").click()
    expect(buyer.locator("#item-rating")).to_have_text("rated 4.0 / 5 by 1")
    expect(buyer.locator("#item-reviews li")).to_have_text("★★★★☆ lovely <b>desk</b>")
    # listed, offer, sold, shipped, confirmed, reviewed
    expect(buyer.locator("#item-activity li")).to_have_count(6)


def test_an_auction_started_from_the_dashboard_takes_bids_and_refunds_the_outbid(
        browser: Any, market_url: str) -> None:
    from playwright.sync_api import expect

    seller = person(browser, market_url)
    first, second = person(browser, market_url), person(browser, market_url)
    seller.click("[data-view=sell]")
    seller.fill("#shop-form [name=name]", "Auction House")
    seller.click("#shop-form button[type=submit]")
    for field, value in [("title", "Brass telescope"), ("price", "10"), ("quantity", "1"),
                         ("category", "antiques")]:
        seller.fill(f"#sell-form [name={field}]", value)
    seller.click("#sell-form button[type=submit]")
    expect(seller.locator("#item-title")).to_have_text("Brass telescope")
    seller.click("[data-view=sell]")
    row = seller.locator("#my-listings tr", has_text="Brass telescope")
    row.get_by_role("button", name="Auction").click()
    seller.click("#auction-form button[type=submit]")  # as prefilled: an hour at the price
    expect(row.locator("td").nth(4)).to_have_text("auction")

    for bidder, amount in [(first, "10"), (second, "12")]:
        bidder.click("#faucet")
        expect(bidder.locator("#balance")).to_have_text("100 MKT")
        bidder.fill("#search-form [name=text]", "brass telescope")
        bidder.click("#search-form button[type=submit]")
        expect(bidder.locator("#listings li")).to_have_count(1)
        bidder.locator("#listings li").click()
        expect(bidder.locator("#auction-box")).to_be_visible()
        expect(bidder.locator("#buy")).to_be_hidden()
        bidder.fill("#bid-form [name=amount]", amount)
        bidder.click("#bid-form button[type=submit]")
        state = bidder.locator("#auction-state")
        expect(state).to_contain_text(f"leading bid {amount} MKT (yours)")
    # the first bidder was outbid: refunded (less the refund's fee), the second holds the lead
    first.click("[data-view=browse]")
    expect(first.locator("#balance")).to_have_text("99.9997 MKT")
    expect(second.locator("#balance")).to_have_text("87.9998 MKT")


def _open_shop_and_list(seller: Any, shop: str, fields: dict[str, str],
                        picture: Path | None = None) -> None:
    from playwright.sync_api import expect

    seller.click("[data-view=sell]")
    seller.fill("#shop-form [name=name]", shop)
    seller.click("#shop-form button[type=submit]")
    for field, value in fields.items():
        seller.fill(f"#sell-form [name={field}]", value)
    if picture is not None:
        seller.set_input_files("#sell-form [name=image]", str(picture))
    seller.click("#sell-form button[type=submit]")
    expect(seller.locator("#item-title")).to_have_text(fields["title"])


def _find(page: Any, words: str) -> None:
    """Search the page for ``words`` and open the one listing found."""
    from playwright.sync_api import expect

    page.click("[data-view=browse]")
    page.fill("#search-form [name=text]", words)
    page.click("#search-form button[type=submit]")
    expect(page.locator("#listings li")).to_have_count(1)
    page.locator("#listings li").click()


def test_a_seller_edits_a_listing_and_sets_up_its_auction_from_the_dashboard(
        browser: Any, market_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    seller, bidder = person(browser, market_url), person(browser, market_url)
    picture = tmp_path / "stool.png"
    picture.write_bytes(png((120, 80, 40)))
    _open_shop_and_list(seller, "Edit Workshop", {
        "title": "Oak stool", "description": "Hand made", "price": "3", "quantity": "1",
        "category": "furniture"}, picture)

    seller.click("[data-view=sell]")
    row = seller.locator("#my-listings tr", has_text="Oak stool")
    row.get_by_role("button", name="Edit").click()
    form = seller.locator("#edit-form")
    expect(form).to_be_visible()
    for field, value in [("title", "Oak stool"), ("description", "Hand made"),
                         ("price", "3"), ("quantity", "1"), ("category", "furniture")]:
        expect(form.locator(f"[name={field}]")).to_have_value(value)
    form.locator("[name=title]").fill("   ")  # passes the browser's check, not the canister's
    form.get_by_role("button", name="Save changes").click()
    expect(seller.locator("#error")).to_have_text("a title must not be empty")
    for field, value in [("title", "Oak bar stool"), ("description", "Now three of them"),
                         ("price", "4.25"), ("quantity", "3"), ("category", "Seating")]:
        form.locator(f"[name={field}]").fill(value)
    form.get_by_role("button", name="Save changes").click()
    expect(seller.locator("#notice")).to_have_text("Saved “Oak bar stool”.")
    expect(form).to_be_hidden()
    row = seller.locator("#my-listings tr", has_text="Oak bar stool")
    expect(row.locator("td").nth(1)).to_have_text("4.25 MKT")
    expect(row.locator("td").nth(2)).to_have_text("3")

    _find(bidder, "oak bar stool")
    expect(bidder.locator("#item-description")).to_have_text("Now three of them")
    expect(bidder.locator("#item-price")).to_have_text("4.25 MKT")
    assert _image_width(bidder) == 64  # the edit kept the picture

    row.get_by_role("button", name="Auction").click()
    auction = seller.locator("#auction-form")
    for field, value in [("start", "4.25"), ("reserve", "0"), ("increment", "0.2125"),
                         ("hours", "1")]:
        expect(auction.locator(f"[name={field}]")).to_have_value(value)
    for field, value in [("start", "5"), ("reserve", "8"), ("increment", "0.5"),
                         ("hours", "2")]:
        auction.locator(f"[name={field}]").fill(value)
    auction.get_by_role("button", name="Start auction").click()
    expect(row.locator("td").nth(4)).to_have_text("auction")
    expect(row.get_by_role("button", name="Edit")).to_have_count(0)  # frozen while it runs

    _find(bidder, "oak bar stool")
    state = bidder.locator("#auction-state")
    expect(state).to_contain_text("no bids yet; next bid at least 5 MKT; reserve not met")
    starts, ends = (int(state.get_attribute(f"data-{n}-at") or 0) for n in ("starts", "ends"))
    assert ends - starts == 2 * HOUR_NS
    bidder.click("#faucet")
    expect(bidder.locator("#balance")).to_have_text("100 MKT")
    bidder.fill("#bid-form [name=amount]", "8")
    bidder.click("#bid-form button[type=submit]")
    expect(state).to_contain_text(
        "leading bid 8 MKT (yours); next bid at least 8.5 MKT; reserve met")


def test_the_arbiter_decides_disputes_at_the_desk(
        browser: Any, market_url: str, market_root: Path) -> None:
    from playwright.sync_api import expect

    arbiter_key = demo_identities(market_root / "state")["ana"]  # the seed's admin and arbiter
    seller, buyer = person(browser, market_url), person(browser, market_url)
    arbiter = person(browser, market_url, arbiter_key)
    expect(arbiter.locator("#principal")).to_have_text(
        arbiter_key.principal.to_text()[:11] + "…")
    for page in (seller, buyer):
        expect(page.locator("[data-view=disputes]")).to_be_hidden()
    expect(arbiter.locator("[data-view=disputes]")).to_be_visible()

    _open_shop_and_list(seller, "Dispute Ceramics", {
        "title": "Porcelain vase", "price": "5", "quantity": "2", "category": "ceramics"})
    buyer.click("#faucet")
    expect(buyer.locator("#balance")).to_have_text("100 MKT")
    for count in (1, 2):
        _find(buyer, "porcelain vase")
        buyer.click("#buy")
        expect(buyer.locator("#bought li[data-status=paid]")).to_have_count(count)
    bought = buyer.locator("#bought li")
    first, second = sorted(int(bought.nth(n).get_attribute("data-order") or 0) for n in (0, 1))
    seller.click("[data-view=orders]")
    seller.locator(f"#sold li[data-order='{first}']").get_by_role(
        "button", name="Mark shipped").click()
    expect(seller.locator(f"#sold li[data-order='{first}']")).to_have_attribute(
        "data-status", "shipped")
    buyer.click("[data-view=orders]")
    for order_id in (first, second):
        mine = buyer.locator(f"#bought li[data-order='{order_id}']")
        mine.get_by_role("button", name="Dispute").click()
        expect(mine).to_have_attribute("data-status", "disputed")

    arbiter.click("[data-view=disputes]")
    desk = arbiter.locator("#dispute-list li")
    expect(desk).to_have_count(2)
    assert [desk.nth(n).get_attribute("data-order") for n in (0, 1)] == [
        str(second), str(first)]  # newest first
    expect(desk.nth(0)).to_contain_text("not shipped")
    expect(desk.nth(1)).to_contain_text("shipped (sent)")
    expect(desk.nth(1)).to_contain_text("The buyer says: not as described")
    case = arbiter.locator(f"#dispute-list li[data-order='{first}']")
    case.get_by_label("note").fill("photos show damage")
    case.get_by_role("button", name="Refund buyer").click()
    expect(arbiter.locator("#notice")).to_have_text(
        f"You refunded the buyer of order {first} (refunded).")
    expect(desk).to_have_count(1)
    arbiter.locator(f"#dispute-list li[data-order='{second}']").get_by_role(
        "button", name="Pay seller").click()
    expect(arbiter.locator("#notice")).to_have_text(
        f"You paid the seller of order {second} (settled).")
    expect(desk).to_have_count(0)
    expect(arbiter.locator("#disputes-empty")).to_be_visible()

    buyer.click("[data-view=orders]")
    refunded = buyer.locator(f"#bought li[data-order='{first}']")
    expect(refunded).to_have_attribute("data-status", "refunded")
    expect(refunded).to_contain_text("the buyer was refunded")
    expect(buyer.locator(f"#bought li[data-order='{second}']")).to_have_attribute(
        "data-status", "settled")
    # two payments (price, approve and pull fees), one refund less its ledger fee
    expect(buyer.locator("#balance")).to_have_text("94.9995 MKT")
    seller.click("[data-view=orders]")
    expect(seller.locator("#balance")).to_have_text("4.8749 MKT")  # 5 less 2.5 %, less a fee
