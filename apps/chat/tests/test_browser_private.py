"""End-to-end-encrypted direct messages and a thread, in real headless Chromium against a
real ``runreplica`` (its management canister answers vetKD with real BLS12-381 keys).

Two people chat privately: each page derives the conversation's key from a vetKey it
decrypts itself (@dfinity/vetkeys), seals what it sends and opens what it gets. They
talk in a thread on one of the messages, and the sender sees the read receipt. The
replica's stored state (every file of the served project) holds the ciphertext but
not one plaintext phrase. Then the first user opens the chat on a second device (a
fresh browser profile holding the same key): the key depends on the conversation and
the user, not the browser, so the history decrypts there too, and the page's own
search finds the encrypted message. A reload reuses the key material the page kept.

Waits are Playwright's (until an element shows the expected state); nothing asserts
how fast anything is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from apps.chat.client import ChatClient
from apps.chat.tests import test_browser as base
from apps.chat.tests.test_browser import CHAT_APP, CHAT_IDS, User, create_room, sign_up
from icframework.identity import Ed25519Identity
from tests.agent.live_replica import ServedProject, served_project
from tests.browser import console_errors, new_context, requires_chromium

pytestmark = requires_chromium

browser = base.browser
#: where `browserIdentity` looks for an older key to migrate (chat.js LEGACY_KEYS): the
#: way to hand one key to two browser profiles, as a user moving to a new device would
LEGACY_KEY = "icframework.chat.identity"
SECRET = "the vault code is 4471"
ANSWER = "noted: 4471, burning this note"
IN_THREAD = "meet at the north gate at noon"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProject]:
    """A replica serving the chat page with the chat canister deployed (its own project
    directory, searched for plaintext below)."""
    with served_project(tmp_path_factory.mktemp("chat_private"), demo=False) as project:
        printed = project.deploy(CHAT_APP)
        assert printed.startswith("chat: canister "), printed
        CHAT_IDS[project.url] = printed.split()[2]
        yield project


@pytest.fixture(scope="module")
def chat_url(served: ServedProject) -> str:
    return served.url


def device(browser: Any, url: str, identity: Ed25519Identity, handle: str, *,
           register: bool) -> User:
    """A fresh browser profile that holds ``identity``'s key (as its migrated key)."""
    from playwright.sync_api import expect

    context = new_context(browser)
    key = json.dumps([identity.der_public_key.hex(), identity.seed.hex()])
    context.add_init_script(f"localStorage.getItem({json.dumps(LEGACY_KEY)}) === null && "
                            f"localStorage.setItem({json.dumps(LEGACY_KEY)}, {json.dumps(key)})")
    page = context.new_page()
    user = User(handle, page, console_errors=console_errors(page))
    page.goto(f"{url}/chat/")
    if register:
        expect(page.locator("#signin")).to_be_visible()
        page.fill("#register-form [name=handle]", handle)
        page.fill("#register-form [name=display_name]", handle.title())
        page.click("#register-form button[type=submit]")
    expect(page.locator("#me")).to_have_text(f"@{handle}")
    expect(page.locator("#status")).to_have_attribute("data-mode", "live")
    return user


def stored_bytes(project: Path) -> bytes:
    """Every byte the served project keeps on disk (state store, its journal, records)."""
    return b"".join(path.read_bytes() for path in sorted(project.rglob("*"))
                    if path.is_file() and not path.name.endswith(".log"))


def test_two_users_exchange_encrypted_messages_and_a_thread(
        browser: Any, chat_url: str, served: ServedProject) -> None:
    from playwright.sync_api import expect

    amara_key = Ed25519Identity.generate()
    amara = device(browser, chat_url, amara_key, "amara", register=True)
    bruno = sign_up(browser, chat_url, "bruno")

    amara.page.fill("#direct-form [name=handle]", "@bruno")
    amara.page.click("#direct-form button[type=submit]")
    amara.wait_room("@bruno")
    expect(amara.page.locator("#room-e2e")).to_be_visible()
    amara.send(SECRET)
    expect(amara.message(SECRET).locator(".lock")).to_be_visible()

    bruno.open_room("@amara")
    expect(bruno.message(SECRET).locator(".body")).to_have_text(SECRET)
    bruno.send(ANSWER)
    expect(amara.message(ANSWER).locator(".body")).to_have_text(ANSWER)
    # bruno's page read amara's message: her page shows the receipt
    expect(amara.message(SECRET).locator(".receipt")).to_have_attribute("data-state", "read")

    # a thread on amara's message: bruno replies there, amara sees one new reply
    bruno.message(SECRET).locator("button.thread").click()
    panel = bruno.page.locator("#thread-panel")
    expect(panel).to_have_attribute("data-ready", "true")
    panel.locator("textarea").fill(IN_THREAD)
    panel.locator("textarea").press("Enter")
    expect(panel.locator("#thread-replies li.message .body")).to_have_text(IN_THREAD)
    link = amara.message(SECRET).locator("button.thread-link")
    expect(link).to_have_text("💬 1 reply · 1 new")
    expect(bruno.page.locator("#messages li.message", has_text=IN_THREAD)).to_have_count(0)
    link.click()
    theirs = amara.page.locator("#thread-panel #thread-replies li.message")
    expect(theirs.locator(".body")).to_have_text(IN_THREAD)
    expect(theirs.locator(".lock")).to_be_visible()
    expect(link).to_have_attribute("data-unread", "0")
    # the page's own search finds the sealed reply and opens it in its thread
    amara.page.click("#thread-close")
    hits = amara.search("north gate")
    expect(hits).to_have_count(1)
    hits.locator("button").click()
    expect(amara.page.locator("#thread-panel")).to_have_attribute("data-ready", "true")
    root_id = amara.message(SECRET).get_attribute("data-message-id")
    expect(amara.page.locator("#thread-panel")).to_have_attribute("data-root-id", root_id or "")

    # favourites come first, archived rooms fold away (each user's own list)
    create_room(bruno, "plans")
    bruno.room_item("@amara").locator("button.favourite").click()
    expect(bruno.page.locator("#rooms li").first).to_contain_text("@amara")
    expect(bruno.room_item("@amara").locator("button.favourite")).to_have_attribute(
        "aria-pressed", "true")
    bruno.room_item("plans").locator("button.archive").click()
    expect(bruno.page.locator("#show-archived")).to_have_text("Archived (1)")
    expect(bruno.page.locator("#rooms li", has_text="plans")).to_have_count(0)
    bruno.page.click("#show-archived")
    bruno.page.locator("#archived-rooms li", has_text="plans").locator(
        "button.archive").click()
    expect(bruno.page.locator("#archived-box")).to_be_hidden()
    # "send later" in a group room: listed until cancelled
    bruno.open_room("plans")
    bruno.page.fill("#compose textarea", "stand-up starts now")
    bruno.page.click("#schedule-box summary")
    tomorrow = datetime.now() + timedelta(days=1)  # the browser's local time, as typed
    bruno.page.fill("#schedule-at", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    bruno.page.click("#schedule-send")
    scheduled = bruno.page.locator("#scheduled li.scheduled-item")
    expect(scheduled).to_contain_text("stand-up starts now")
    scheduled.locator("button.cancel-scheduled").click()
    expect(bruno.page.locator("#scheduled-box")).to_be_hidden()

    # what the canister answers, and what the replica stored, is ciphertext
    with ChatClient.connect(chat_url, CHAT_IDS[chat_url], amara_key) as client:
        room_id = next(v.room.id for v in client.my_rooms() if v.peer and
                       v.peer.handle == "bruno")
        page = client.history(room_id)
        assert [m.text for m in page.messages] == ["", ""]
        sealed = [m.sealed for m in page.messages]
        assert all(s is not None and len(s.nonce) == 12 for s in sealed)
    state = stored_bytes(served.root)
    for phrase in (SECRET, ANSWER, IN_THREAD, "vault code", "north gate"):
        assert phrase.encode() not in state, phrase
    assert any(s is not None and s.ciphertext in state for s in sealed)

    # a reload opens the history with the key material kept in IndexedDB (checked
    # against the room's public key), and sealing still works with it
    amara.page.reload()
    expect(amara.page.locator("#me")).to_have_text("@amara")
    amara.open_room("@bruno")
    expect(amara.message(SECRET).locator(".body")).to_have_text(SECRET)
    amara.send("after the reload")  # the second device below reads it

    # a second device of amara's: a fresh profile with her key reads the history
    again = device(browser, chat_url, amara_key, "amara", register=False)
    again.open_room("@bruno")
    expect(again.message(SECRET).locator(".body")).to_have_text(SECRET)
    expect(again.message(ANSWER).locator(".body")).to_have_text(ANSWER)
    expect(again.message("after the reload").locator(".body")).to_have_text(
        "after the reload")
    # search runs in the page over what it decrypted (the canister cannot read it)
    hits = again.search("vault code")
    expect(hits).to_have_count(1)
    expect(hits.locator(".hit-room")).to_have_text("@bruno")
    for user in (amara, bruno, again):
        assert user.console_errors == [], user.console_errors
