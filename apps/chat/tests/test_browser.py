"""The chat page in real headless Chromium against a real ``runreplica`` with the chat canister.

A module fixture starts ``manage.py runreplica`` on a free port in a scratch project
(its own deploy record and identities), deploys the chat app with ``manage.py deploy``
and launches Debian's Chromium. Each browser context is one user with the key the page
generated and kept in its localStorage. The tests: two users register, join one room
and chat live (reply, reaction, edit, delete, unread counts); an XSS payload is shown as
text and runs nothing; a user whose browser cannot open WebSockets still follows the
room by polling ``changes_since``.

Waits are Playwright's (until an element shows the expected state) with a generous
upper bound; nothing asserts how fast anything is.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.chat.client import ChatClient
from icframework.identity import Ed25519Identity
from tests.agent.live_replica import free_port, wait_until_serving

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
)

ROOT = Path(__file__).resolve().parents[3]
CHAT_APP = ROOT / "apps" / "chat"
CHAT_IDS: dict[str, str] = {}  # replica URL -> the chat canister deployed there
WAIT_MS = 60_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# runreplica in a process whose project directory (the deploy record's home) is the
# scratch project, so the page finds the canister this test deployed.
SERVE = """
import os, sys
from pathlib import Path
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from django.conf import settings
settings.BASE_DIR = Path(sys.argv[1])
import django
django.setup()
from django.core.management import call_command
call_command("runreplica", "--port", sys.argv[2], "--state-dir", sys.argv[3])
"""


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a replica serving the chat page, with the chat canister deployed."""
    project = tmp_path_factory.mktemp("chat_project")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = project / "runreplica.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(project), str(port), str(project / "state")],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "ICFRAMEWORK_HOME": str(project / "home")},
        )
    try:
        wait_until_serving(process, url, log)
        with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=project):
            env.setenv("ICFRAMEWORK_HOME", str(project / "home"))
            env.setenv("DFX_CONFIG_ROOT", str(project / "dfxroot"))
            out_text = StringIO()
            call_command("deploy", str(CHAT_APP), "--network", url,
                         stdout=out_text, stderr=StringIO())
            assert out_text.getvalue().startswith("chat: canister "), out_text.getvalue()
            CHAT_IDS[url] = out_text.getvalue().split()[2]
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chat_url: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@dataclass
class User:
    """One person in their own browser context, with what their page reported."""

    handle: str
    page: Any
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def message(self, text: str) -> Any:
        """The message list item whose body contains ``text``."""
        return self.page.locator("#messages li.message", has_text=text)

    def open_room(self, name: str) -> None:
        self.page.locator("#rooms li", has_text=name).locator("button.room-name").click()
        self.wait_room(name)

    def wait_room(self, name: str) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("#room-name")).to_have_text(name)
        expect(self.page.locator("#room")).to_have_attribute("data-ready", "true")

    def send(self, text: str) -> None:
        """Send (or save an edit) and wait for the canister's answer (the box empties)."""
        from playwright.sync_api import expect

        self.page.fill("#compose textarea", text)
        self.page.press("#compose textarea", "Enter")
        expect(self.page.locator("#compose textarea")).to_have_value("")


def sign_up(browser: Any, url: str, handle: str, *, websockets: bool = True) -> User:
    """A new browser context (a new key), registered as ``handle``."""
    from playwright.sync_api import expect

    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    if not websockets:
        # A network where the socket cannot be opened: the page must fall back to polling.
        context.add_init_script(
            "window.WebSocket = function () { throw new Error('WebSockets are blocked'); };"
        )
    page = context.new_page()
    user = User(handle, page)

    def on_dialog(dialog: Any) -> None:
        user.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if message.type == "error":
            user.console_errors.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.goto(f"{url}/chat/")
    expect(page.locator("#signin")).to_be_visible()
    page.fill("#register-form [name=handle]", handle)
    page.fill("#register-form [name=display_name]", handle.title())
    page.click("#register-form button[type=submit]")
    expect(page.locator("#me")).to_have_text(f"@{handle}")
    expect(page.locator("#status")).to_have_attribute(
        "data-mode", "live" if websockets else "polling"
    )
    return user


def create_room(user: User, name: str) -> None:
    user.page.fill("#create-room-form [name=name]", name)
    user.page.click("#create-room-form button[type=submit]")
    user.wait_room(name)


def join_room(user: User, name: str) -> None:
    user.page.locator("#public-rooms li", has_text=name).locator("button.join").click()
    user.wait_room(name)


@pytest.fixture(autouse=True)
def _wait_bound() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)


def test_two_users_chat_live(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    alice = sign_up(browser, chat_url, "alice")
    create_room(alice, "lobby")
    bob = sign_up(browser, chat_url, "bob")
    join_room(bob, "lobby")
    # a third participant on the Python WebSocket client, with its own key
    carol = ChatClient.connect(chat_url, CHAT_IDS[chat_url], Ed25519Identity.generate())
    try:
        carol.register("pyuser", "Python user")
        lobby_id = next(r.id for r in carol.public_rooms() if r.name == "lobby")
        carol.join_room(lobby_id)
        carol.follow(lobby_id)

        alice.send("hello **bob**")
        expect(bob.message("hello bob").locator(".body strong")).to_have_text("bob")
        expect(bob.message("hello bob").locator(".author")).to_have_text("@alice")
        assert _next_message(carol, "hello **bob**").room_id == lobby_id
        carol.send_message(lobby_id, "carol here, from Python")
        expect(alice.message("carol here, from Python").locator(".author")).to_have_text("@pyuser")
        expect(bob.message("carol here, from Python")).to_be_visible()
    finally:
        carol.close()

    # a reply, seen live by alice with the quote of her message
    bob.message("hello bob").locator("button.reply").click()
    expect(bob.page.locator("#compose-context")).to_contain_text("Replying to @alice")
    bob.send("hi alice")
    expect(alice.message("hi alice").locator(".quote")).to_have_text("@alice: hello **bob**")

    # a reaction by bob, counted on alice's screen
    bob.message("hello bob").locator("button.react[data-emoji='👍']").click()
    expect(alice.message("hello bob").locator(".reaction[data-emoji='👍']")).to_have_attribute(
        "data-count", "1"
    )
    expect(bob.message("hello bob").locator(".reaction.me[data-emoji='👍']")).to_be_visible()

    # alice edits her message; bob sees the new text and the edited mark
    alice.message("hello bob").locator("button.edit").click()
    expect(alice.page.locator("#compose textarea")).to_have_value("hello **bob**")
    alice.send("hello again, bob")
    expect(bob.message("hello again, bob").locator(".edited")).to_have_text("(edited)")
    expect(bob.message("hello again, bob").locator(".reaction[data-emoji='👍']")).to_be_visible()

    # bob deletes his reply; alice sees the tombstone
    bob.message("hi alice").locator("button.delete").click()
    reply = alice.page.locator("#messages li.message.deleted")
    expect(reply).to_have_count(1)
    expect(reply.locator(".body")).to_have_text("message deleted")
    expect(alice.page.locator("#messages li.message", has_text="hi alice")).to_have_count(0)

    # unread counts: alice moves to another room; bob's new lobby message counts as unread
    create_room(alice, "side room")
    bob.send("are you still there?")
    lobby = alice.page.locator("#rooms li", has_text="lobby")
    expect(lobby.locator(".unread")).to_have_text("1")
    alice.open_room("lobby")
    expect(alice.message("are you still there?")).to_be_visible()
    expect(lobby.locator(".unread")).to_be_hidden()

    for user in (alice, bob):
        assert user.dialogs == []
        assert user.console_errors == [], user.console_errors


def _next_message(client: ChatClient, text: str) -> Any:
    """The next live ``message`` update with ``text`` (others are skipped)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        update = client.next_update(timeout=deadline - time.monotonic())
        if update is not None and update.kind == "message" and update.value.text == text:
            return update.value
    raise AssertionError(f"no live message {text!r} within 30 s")


XSS = (
    "<img src=x onerror=\"window.__xss='img';alert('img')\">"
    "<script>window.__xss='script'</script>"
    " [click](javascript:window.__xss='link') "
    "<a href=\"javascript:alert(1)\">a</a> **safe**"
)


def test_an_xss_payload_is_shown_as_text(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    mallory = sign_up(browser, chat_url, "mallory")
    create_room(mallory, "xss test")
    victim = sign_up(browser, chat_url, "victim")
    join_room(victim, "xss test")

    mallory.send(XSS)
    # a later message seen by both: anything the payload could have scheduled has run
    mallory.send("after the payload")
    for user in (victim, mallory):
        expect(user.message("after the payload")).to_be_visible()
    for user in (victim, mallory):
        body = user.message("window.__xss").locator(".body")
        expect(body).to_contain_text("<img src=x onerror=")
        expect(body).to_contain_text("<script>window.__xss='script'</script>")
        expect(body.locator("strong")).to_have_text("safe")
        assert body.locator("img, script, a, [onerror]").count() == 0
        assert user.page.evaluate("() => window.__xss") is None
        assert user.dialogs == []
    # the author sees their own text back unchanged when editing it
    mallory.message("window.__xss").locator("button.edit").click()
    expect(mallory.page.locator("#compose textarea")).to_have_value(XSS.strip())


def test_without_websockets_the_page_polls(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    dave = sign_up(browser, chat_url, "dave")
    create_room(dave, "poll room")
    carol = sign_up(browser, chat_url, "carol", websockets=False)
    join_room(carol, "poll room")

    dave.send("can you read this?")
    expect(carol.message("can you read this?")).to_be_visible()
    carol.send("yes, by polling")
    expect(dave.message("yes, by polling")).to_be_visible()
    dave.message("can you read this?").locator("button.edit").click()
    dave.send("can you read this edit?")
    expect(carol.message("can you read this edit?").locator(".edited")).to_be_visible()
    expect(carol.page.locator("#status")).to_have_attribute("data-mode", "polling")
    expect(dave.page.locator("#status")).to_have_attribute("data-mode", "live")
