"""Order messaging in real headless Chromium against ``runreplica --demo``: a buyer writes to
the seller from an order and the seller, whose page is open elsewhere, is told live.

The demo seeds the chat canister first, then the marketplace, and wires them: the
marketplace is installed knowing the chat canister, and the chat canister is upgraded
to trust the marketplace to open order rooms (the start-up output says so). The seller
is the seeded ``ana`` (her shop has bicycle lights) and the buyer the seeded ``ben``
(1,000 MKT), each in their own browser context with their own key. Everything else is
what a user does: ben buys, ana's page hears of the sale over the marketplace socket;
ben opens the order's conversation (the marketplace asks the chat canister for the
order's private room) and writes; ana's page hears of it over the chat canister's socket
and shows it; she answers from the conversation and ben's panel shows her answer. An
order room is a direct room of the chat canister, so both pages seal what they send with
the room's vetKey-derived key and open what they read: the chat canister answers empty
text with a ciphertext, and no byte the replica stored (the whole project directory)
holds either phrase. Waits are Playwright's (until the page shows the state); nothing is
timed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.marketplace.seed import demo_identities
from tests.agent.live_replica import served_project
from tests.browser import chromium, requires_chromium

from .test_browser import person

QUESTION = "Hello! Do the lights come with a USB cable?"
ANSWER = "Yes, a cable is in the box."


def stored_bytes(project: Path) -> bytes:
    """Every byte the served project keeps on disk (state store, its journal, records)."""
    return b"".join(path.read_bytes() for path in sorted(project.rglob("*"))
                    if path.is_file() and not path.name.endswith(".log"))

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("market_messaging")


@pytest.fixture(scope="module")
def demo(demo_root: Path) -> Iterator[Any]:
    with served_project(demo_root, demo=True, startup_seconds=900) as served:
        yield served


@pytest.fixture(scope="module")
def browser(demo: Any) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def test_the_demo_wires_the_marketplace_and_the_chat_canister(demo: Any) -> None:
    assert "order conversations: chat " in demo.printed, demo.printed
    assert "upgraded to open this marketplace's order rooms" in demo.printed, demo.printed


def test_a_buyer_messages_the_seller_from_an_order_and_the_seller_is_told_live(
        browser: Any, demo: Any, demo_root: Path) -> None:
    from playwright.sync_api import expect

    keys = demo_identities(demo_root / "state")
    seller = person(browser, demo.url, keys["ana"])
    buyer = person(browser, demo.url, keys["ben"])
    for page in (seller, buyer):
        expect(page.locator("#notifications")).to_have_attribute("data-live", "true")

    buyer.fill("#search-form [name=text]", "bicycle lights")
    buyer.click("#search-form button[type=submit]")
    expect(buyer.locator("#listings li")).to_have_count(1)
    buyer.locator("#listings li").click()
    expect(buyer.locator("#item-certified")).to_have_attribute("data-verified", "yes")
    buyer.click("#buy")
    bought = buyer.locator("#bought li").first
    expect(bought).to_have_attribute("data-status", "paid")
    order_id = bought.get_attribute("data-order")

    # The sale reaches the seller's open page over the marketplace's socket.
    sold_note = seller.locator(f"#note-list li[data-kind=item_sold][data-order='{order_id}']")
    expect(sold_note).to_have_count(1)
    expect(seller.locator("#note-count")).to_be_visible()

    bought.locator(f"[data-talk='{order_id}']").click()
    expect(buyer.locator("#chat-panel")).to_be_visible()
    expect(buyer.locator("#chat-title")).to_have_text(f"Order {order_id}: buyer and seller")
    buyer.fill("#chat-text", QUESTION)
    buyer.click("#chat-form button[type=submit]")
    expect(buyer.locator("#chat-messages li.chat-mine")).to_contain_text(QUESTION)

    # The seller's page: told that the buyer wants to talk, then the message itself.
    seller.click("[data-view=notifications]")
    expect(seller.locator(
        f"#note-list li[data-kind=order_message][data-order='{order_id}']")).to_have_count(1)
    message_note = seller.locator(f"#note-list li[data-kind=chat_message][data-order='{order_id}']")
    expect(message_note).to_contain_text("Do the lights come with a USB cable?")
    expect(seller.locator("#toasts .toast").last).to_contain_text("New message about order")

    message_note.get_by_role("button", name="Open conversation").click()
    theirs = seller.locator("#chat-messages li.chat-theirs")
    expect(theirs).to_contain_text(QUESTION)
    expect(theirs).to_have_class("chat-theirs chat-sealed")
    seller.fill("#chat-text", ANSWER)
    seller.click("#chat-form button[type=submit]")
    expect(buyer.locator("#chat-messages li.chat-theirs")).to_contain_text(ANSWER)

    # The chat canister holds ciphertext only: its answer has no text, and no stored byte
    # of the replica holds either phrase.
    room = seller.locator("#chat-panel").get_attribute("data-room")
    held = buyer.evaluate(
        "async (room) => (await window.marketApp.live.chat.actor.history(BigInt(room), [], 10))"
        ".messages.map((m) => [m.text, m.sealed.map((s) => s.nonce.length)])", room)
    assert [sealed for text, sealed in held if sealed] == [[12], [12]], held
    assert not any("cable" in text for text, _ in held), held
    state = stored_bytes(demo_root)
    for phrase in (QUESTION, ANSWER, "USB cable", "cable is in the box"):
        assert phrase.encode() not in state, phrase

    # Nobody else can read the room: a third browser user is refused by the chat canister.
    stranger = person(browser, demo.url)
    refused = stranger.evaluate(
        "async (room) => { try { await window.marketApp.live.chat.actor.history("
        "BigInt(room), [], 10); return 'read'; } catch (e) { return String(e.message); } }",
        room)
    assert "private" in refused
