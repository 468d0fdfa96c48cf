"""The marketplace page in real headless Chromium against ``runreplica --demo``.

One browser context sells: it opens a shop and lists an item with a picture uploaded in
chunks. Another buys: it takes test tokens from the demo faucet, finds the item by
search, approves the ledger and checks out — every call signed by the key the page
generated — and both see the order move: paid, shipped by the seller, confirmed by the
buyer, settled with the seller paid from escrow. A title carrying markup is shown as
text. Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.marketplace.seed import png
from tests.management.test_runreplica_demo import demo_server, project

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)
WAIT_MS = 60_000
TITLE = 'Green <img src=x onerror="window.pwned=1"> bicycle'


@pytest.fixture(scope="module")
def market_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("market_project")
    with demo_server(root, project(root)) as (url, printed):
        assert f"  market:    {url}/market/" in printed, printed
        yield url


@pytest.fixture(scope="module")
def browser(market_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        yield launched
        launched.close()


def person(browser: Any, url: str) -> Any:
    from playwright.sync_api import expect

    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{url}/market/")
    expect(page.locator("#browse")).to_have_attribute("data-ready", "true", timeout=WAIT_MS)
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

    expect.set_options(timeout=WAIT_MS)
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
    assert _image_width(seller) == 400  # decoded from the canister's http_request

    buyer.click("#faucet")
    expect(buyer.locator("#balance")).to_have_text("100 MKT")
    buyer.fill("#search-form [name=text]", "green bicycle")
    buyer.click("#search-form button[type=submit]")
    expect(buyer.locator("#listings li")).to_have_count(1)
    buyer.locator("#listings li").click()
    expect(buyer.locator("#item-price")).to_have_text("2.5 MKT")
    expect(buyer.locator("#item-certified")).to_contain_text("certified data")
    buyer.click("#buy")
    bought = buyer.locator("#bought li")
    expect(bought).to_have_attribute("data-status", "paid")
    expect(buyer.locator("#balance")).to_have_text("97.4998 MKT")  # price + approve and pull fees

    seller.click("[data-view=orders]")
    sold = seller.locator("#sold li")
    expect(sold).to_have_attribute("data-status", "paid")
    sold.get_by_role("button", name="Mark shipped").click()
    expect(sold).to_have_attribute("data-status", "shipped")

    buyer.click("[data-view=orders]")
    expect(bought).to_have_attribute("data-status", "shipped")
    bought.get_by_role("button", name="Confirm delivery").click()
    expect(bought).to_have_attribute("data-status", "settled")

    seller.click("[data-view=orders]")
    expect(sold).to_have_attribute("data-status", "settled")
    # 2.5 MKT less the 2.5 % platform fee, less the payout's ledger fee
    expect(seller.locator("#balance")).to_have_text("2.4374 MKT")
    assert seller.evaluate("window.pwned") is None and buyer.evaluate("window.pwned") is None


def test_an_offer_accepted_from_the_item_page_then_reviewed(
        browser: Any, market_url: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
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

    expect.set_options(timeout=WAIT_MS)
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
    row.get_by_role("button", name="Auction for 1 h").click()
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
