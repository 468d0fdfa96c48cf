"""The chat page in real headless Chromium against a real ``runreplica`` with the chat canister.

A module fixture starts ``manage.py runreplica`` on a free port in a scratch project
(its own deploy record and identities), deploys the chat app with ``manage.py deploy``
and launches Debian's Chromium. Each browser context is one user with the key the page
generated: a non-extractable WebCrypto key in the origin's IndexedDB. The tests: two
users register, join one room and chat live (reply, reaction, edit, delete, unread
counts); an XSS payload is shown as text and runs nothing; a user whose browser cannot
open WebSockets still follows the room by polling ``changes_since``; an owner makes a
private room and an invite link that a new user follows, and pins a message the member
sees pinned; search across rooms and in one room opens a hit at its message; a direct
message started by handle; roles, reports seen and resolved by the owner, a ban that
takes the room away at once, unban, remove and leave; a page whose socket the
network cuts polls, reconnects by itself and catches up; and a page whose socket the
server closes for a resync (4410: the page fell behind its events) reconnects and
reads what it missed.

Waits are Playwright's (until an element shows the expected state) with a generous
upper bound; nothing asserts how fast anything is.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from apps.chat.client import ChatClient
from icframework.identity import Ed25519Identity
from tests.agent.live_replica import served_project
from tests.browser import chromium, console_errors, new_context, requires_chromium

pytestmark = requires_chromium

ROOT = Path(__file__).resolve().parents[3]
CHAT_APP = ROOT / "apps" / "chat"
CHAT_IDS: dict[str, str] = {}  # replica URL -> the chat canister deployed there


@pytest.fixture(scope="module")
def chat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a replica serving the chat page, with the chat canister deployed."""
    with served_project(tmp_path_factory.mktemp("chat_project"), demo=False) as served:
        printed = served.deploy(CHAT_APP)
        assert printed.startswith("chat: canister "), printed
        CHAT_IDS[served.url] = printed.split()[2]
        yield served.url


@pytest.fixture(scope="module")
def browser(chat_url: str) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class SocketSwitch:
    """Carries a page's canister sockets to the server (Playwright's WebSocket routes),
    and can drop them and refuse new ones, like a network that goes away."""

    def __init__(self) -> None:
        self.refusing = False
        self.opened = 0
        self.live: list[Any] = []

    def route(self, socket: Any) -> None:
        if self.refusing:
            socket.close(code=4000, reason="network down")
            return
        self.opened += 1
        self.live.append((socket, socket.connect_to_server()))

    def drop(self) -> None:
        """Cut every connection (both ends see it close) and refuse new ones."""
        self.refusing = True
        for page_side, server_side in self.live:
            server_side.close(code=1000, reason="going away")
            page_side.close(code=4000, reason="network down")
        self.live = []

    def restore(self) -> None:
        self.refusing = False


class EventGate(SocketSwitch):
    """A `SocketSwitch` that can also withhold the server's ``event`` frames from the
    page and then end the socket as the server ends one that fell behind its events: a
    ``resync`` frame and close code 4410 (docs/events.md)."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = False

    def route(self, socket: Any) -> None:
        super().route(socket)
        if not self.live or self.live[-1][0] is not socket:
            return
        server_side = self.live[-1][1]

        def forward(message: str | bytes) -> None:
            if not (self.holding and isinstance(message, str) and '"op":"event"' in message):
                socket.send(message)

        server_side.on_message(forward)

    def resync(self) -> None:
        """Send the held sockets' pages the server's last frame and close them (4410)."""
        for page_side, server_side in self.live:
            page_side.send('{"op":"resync","reason":"this socket fell 1000 events behind '
                           '(the client reads more slowly than its topics publish)",'
                           '"last":{}}')
            page_side.close(code=4410, reason="resync: events were missed")
            server_side.close(code=1000, reason="going away")
        self.live = []
        self.holding = False


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

    def room_item(self, name: str) -> Any:
        """The entry of ``name`` in the user's room list."""
        return self.page.locator("#rooms li", has_text=name)

    def member(self, handle: str) -> Any:
        """The row of ``@handle`` in the open room's member list."""
        return self.page.locator(f"#members li.member[data-handle='{handle}']")

    def confirm(self, reason: str | None = None) -> None:
        """Answer the confirm form (with ``reason`` when it asks for one)."""
        form = self.page.locator("#confirm-form")
        if reason is not None:
            form.locator("[name=reason]").fill(reason)
        form.locator("#confirm-submit").click()

    def search(self, text: str, scope: str = "all") -> Any:
        """Search messages (``all`` my rooms, or the open ``room``); the result items."""
        self.page.fill("#search-form [name=q]", text)
        self.page.select_option("#search-form [name=scope]", scope)
        self.page.click("#search-form button[type=submit]")
        return self.page.locator("#search-results li.search-hit")

    def send(self, text: str) -> None:
        """Send (or save an edit) and wait for the canister's answer (the box empties)."""
        from playwright.sync_api import expect

        self.page.fill("#compose textarea", text)
        self.page.press("#compose textarea", "Enter")
        expect(self.page.locator("#compose textarea")).to_have_value("")


def sign_up(
    browser: Any, url: str, handle: str, *, websockets: bool = True, path: str = "/chat/",
    sockets: SocketSwitch | None = None,
) -> User:
    """A new browser context (a new key) on ``path``, registered as ``handle``; with
    ``sockets``, its canister sockets go through that switch."""
    from playwright.sync_api import expect

    context = new_context(browser)
    if not websockets:
        # A network where the socket cannot be opened: the page must fall back to polling.
        context.add_init_script(
            "window.WebSocket = function () { throw new Error('WebSockets are blocked'); };"
        )
    if sockets is not None:
        context.route_web_socket(re.compile(r"/ws/canisters/"), sockets.route)
    page = context.new_page()
    user = User(handle, page, console_errors=console_errors(page))

    def on_dialog(dialog: Any) -> None:
        user.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(f"{url}{path}")
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

ROOM_XSS = "<img src=x onerror=\"window.__xss='room'\"> room"


def test_an_xss_payload_is_shown_as_text(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    mallory = sign_up(browser, chat_url, "mallory")
    create_room(mallory, ROOM_XSS)
    victim = sign_up(browser, chat_url, "victim")
    join_room(victim, ROOM_XSS)

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
    # the same payloads where else the page shows them: the pinned bar, search, the lists
    mallory.message("window.__xss").locator("button.pin").click()
    expect(victim.page.locator("#pinned-list li.pinned-item")).to_contain_text("<script>")
    hits = victim.search("safe")
    expect(hits).to_have_count(1)
    expect(hits).to_contain_text("<img src=x onerror=")
    expect(hits.locator(".hit-room")).to_have_text(ROOM_XSS)
    expect(victim.page.locator("#room-name")).to_have_text(ROOM_XSS)
    for where in ("#pinned-bar", "#search-results", "#rooms", "#public-rooms", "#room-header"):
        assert victim.page.locator(where).locator("img, script, [onerror]").count() == 0
    assert victim.page.evaluate("() => window.__xss") is None
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


def test_a_private_room_with_an_invite_link_and_pins(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    olive = sign_up(browser, chat_url, "olive")
    olive.page.fill("#create-room-form [name=name]", "secret plans")
    olive.page.uncheck("#create-room-form [name=public]")
    olive.page.click("#create-room-form button[type=submit]")
    olive.wait_room("secret plans")
    expect(olive.room_item("secret plans")).to_have_attribute("data-kind", "private")
    expect(olive.page.locator("#room-kind")).to_have_text("private room · 1 members")

    # the owner makes a link for at most 3 people
    olive.page.click("#show-invites")
    olive.page.fill("#create-invite-form [name=max_uses]", "3")
    olive.page.click("#create-invite-form button[type=submit]")
    invite = olive.page.locator("#invites li.invite")
    expect(invite).to_have_count(1)
    expect(invite.locator(".invite-info")).to_have_text("used 0 of 3")
    link = invite.locator("input.invite-link").input_value()
    assert link.startswith(f"{chat_url}/chat/#invite="), link
    olive.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    invite.locator("button.copy").click()
    expect(olive.page.locator("#notice")).to_have_text("Invite link copied.")
    assert olive.page.evaluate("() => navigator.clipboard.readText()") == link

    # a private room is not listed; a mistyped code is refused with the canister's reason
    peter = sign_up(browser, chat_url, "peter")
    expect(peter.page.locator("#public-rooms li", has_text="secret plans")).to_have_count(0)
    peter.page.fill("#join-invite-form [name=code]", "AAAAAAAAAAAAAAAA")
    peter.page.click("#join-invite-form button[type=submit]")
    expect(peter.page.locator("#error")).to_have_text(
        "this invite link is not valid (revoked or mistyped)"
    )
    peter.page.context.close()

    # a new user follows the link: registers, sees the preview and joins
    peter = sign_up(browser, chat_url, "peter2", path=link.removeprefix(chat_url))
    preview = peter.page.locator("#invite-preview")
    expect(preview).to_be_visible()
    expect(preview.locator("#invite-room")).to_have_text("secret plans")
    preview.locator("#invite-join").click()
    peter.wait_room("secret plans")
    expect(peter.page.locator("#notice")).to_have_text("You joined secret plans.")
    expect(preview).to_be_hidden()
    assert "#invite=" not in peter.page.url
    olive.page.click("#show-invites")
    olive.page.click("#show-invites")
    expect(invite.locator(".invite-info")).to_have_text("used 1 of 3")

    # the owner pins a message; the member sees it pinned but may not pin himself
    olive.send("the plan is **ready**")
    peter.send("great, read it")
    expect(peter.message("the plan is ready")).to_be_visible()
    expect(olive.message("great, read it")).to_be_visible()
    expect(peter.message("the plan is ready").locator("button.pin")).to_have_count(0)
    olive.message("the plan is ready").locator("button.pin").click()
    pinned = peter.page.locator("#pinned-list li.pinned-item")
    expect(pinned).to_have_count(1)
    expect(pinned).to_have_text("@olive: the plan is **ready**")
    expect(peter.page.locator("#pinned-count")).to_have_text("1")
    expect(peter.message("the plan is ready").locator(".pinned")).to_be_visible()
    expect(pinned.locator("button.unpin")).to_have_count(0)
    # a jump from the pinned bar marks the message
    pinned.locator("button.jump").click()
    expect(peter.page.locator("#messages li.focused")).to_contain_text("the plan is ready")
    # unpinned from the owner's pinned bar: gone for the member too
    olive.page.locator("#pinned-list li.pinned-item button.unpin").click()
    expect(peter.page.locator("#pinned-bar")).to_be_hidden()
    expect(peter.message("the plan is ready").locator(".pinned")).to_have_count(0)

    # revoked, the link no longer previews
    olive.page.locator("#invites li.invite button.revoke").click()
    expect(olive.page.locator("#invites li.invite")).to_have_count(0)
    late = sign_up(browser, chat_url, "latecomer", path=link.removeprefix(chat_url))
    expect(late.page.locator("#error")).to_have_text(
        "invite link: this invite link is not valid (revoked or mistyped)"
    )
    expect(late.page.locator("#invite-preview")).to_be_hidden()
    for user in (olive, peter, late):
        assert user.console_errors == [], user.console_errors


def test_search_across_rooms_and_direct_messages(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    quinn = sign_up(browser, chat_url, "quinn")
    create_room(quinn, "alpha room")
    quinn.send("the zebra crossing is here")
    create_room(quinn, "beta room")
    quinn.send("a zebra in the beta room")
    quinn.send("nothing to see")

    hits = quinn.search("zebra")
    expect(hits).to_have_count(2)
    expect(quinn.page.locator("#search-summary")).to_have_text(
        "2 messages with “zebra” in your rooms"
    )
    expect(hits.nth(0)).to_contain_text("beta room")
    expect(hits.nth(1)).to_contain_text("alpha room")
    expect(hits.nth(1)).to_contain_text("@quinn: the zebra crossing is here")
    # a hit opens its room at the message
    hits.nth(1).locator("button").click()
    quinn.wait_room("alpha room")
    expect(quinn.page.locator("#messages li.focused")).to_contain_text("the zebra crossing")
    # in this room only
    hits = quinn.search("zebra", "room")
    expect(quinn.page.locator("#search-summary")).to_have_text(
        "1 message with “zebra” in this room"
    )
    expect(hits).to_have_count(1)
    expect(hits).to_contain_text("alpha room")
    quinn.search("x")
    expect(quinn.page.locator("#error")).to_contain_text("search for at least one word")

    # a direct message started by handle, listed with the rooms on both sides
    rita = sign_up(browser, chat_url, "rita")
    quinn.page.fill("#direct-form [name=handle]", "@rita")
    quinn.page.click("#direct-form button[type=submit]")
    quinn.wait_room("@rita")
    expect(quinn.page.locator("#room-kind")).to_have_text("direct message")
    expect(quinn.room_item("@rita")).to_have_attribute("data-kind", "direct")
    quinn.send("hi rita, privately")
    expect(rita.room_item("@quinn")).to_have_attribute("data-kind", "direct")
    expect(rita.room_item("@quinn").locator(".unread")).to_have_text("1")
    rita.open_room("@quinn")
    expect(rita.message("hi rita, privately")).to_be_visible()
    # either user of a direct room may pin
    rita.message("hi rita, privately").locator("button.pin").click()
    expect(quinn.page.locator("#pinned-list li.pinned-item button.jump")).to_have_text(
        "@quinn: hi rita, privately"
    )
    # a direct room is found by search, named by the other user
    hits = rita.search("privately")
    expect(hits).to_have_count(1)
    expect(hits.locator(".hit-room")).to_have_text("@quinn")
    expect(rita.page.locator("#leave-room")).to_be_hidden()
    # an unknown handle is refused readably
    quinn.page.fill("#direct-form [name=handle]", "nobody_here")
    quinn.page.click("#direct-form button[type=submit]")
    expect(quinn.page.locator("#error")).to_have_text("there is no user @nobody_here")
    for user in (quinn, rita):
        assert user.console_errors == [], user.console_errors


def test_members_roles_bans_reports_and_leaving(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    sam = sign_up(browser, chat_url, "sam")
    create_room(sam, "town hall")
    tina = sign_up(browser, chat_url, "tina")
    join_room(tina, "town hall")
    uma = sign_up(browser, chat_url, "uma")
    join_room(uma, "town hall")
    sam.send("welcome to the town hall")
    expect(uma.message("welcome to the town hall")).to_be_visible()

    # the member list with roles; only the owner gets role buttons
    sam.page.click("#show-members")
    expect(sam.page.locator("#members li.member")).to_have_count(3)
    expect(sam.member("sam")).to_have_attribute("data-role", "owner")
    expect(sam.member("uma").locator(".role")).to_have_text("member")
    uma.page.click("#show-members")
    expect(uma.member("sam")).to_be_visible()
    expect(uma.page.locator("#members button")).to_have_count(0)

    # the owner makes tina an admin: she sees it live and may now pin
    sam.member("tina").locator("button.promote").click()
    expect(sam.member("tina")).to_have_attribute("data-role", "admin")
    expect(tina.page.locator("#room-role")).to_have_text("you are admin")
    expect(tina.message("welcome to the town hall").locator("button.pin")).to_be_visible()
    expect(uma.member("tina")).to_have_attribute("data-role", "admin")

    # uma reports the owner's message, once
    uma.message("welcome to the town hall").locator("button.report").click()
    expect(uma.page.locator("#confirm-text")).to_contain_text("Report @sam's message")
    uma.confirm("looks like spam")
    expect(uma.page.locator("#notice")).to_contain_text("Reported (report ")
    expect(uma.page.locator("#confirm-form")).to_be_hidden()
    uma.message("welcome to the town hall").locator("button.report").click()
    uma.confirm("still spam")
    expect(uma.page.locator("#error")).to_have_text("you already reported this message")
    uma.page.click("#confirm-cancel")
    expect(uma.page.locator("#show-reports")).to_be_hidden()
    # the owner sees the report and resolves it
    sam.page.click("#show-reports")
    report = sam.page.locator("#reports li.report")
    expect(report).to_have_count(1)
    expect(report.locator(".report-text")).to_have_text("@sam: “welcome to the town hall”")
    expect(report.locator(".report-reason")).to_have_text("reported by @uma: looks like spam")
    report.locator("button.resolve").click()
    expect(report.locator(".report-state")).to_have_text("resolved")

    # the admin bans uma, who loses the room at once and cannot join again
    tina.page.click("#show-members")
    tina.member("uma").locator("button.ban").click()
    tina.confirm("too noisy")
    expect(tina.page.locator("#bans li.ban")).to_have_text("@uma: too noisyUnban")
    expect(tina.member("uma")).to_have_count(0)
    expect(uma.page.locator("#room")).to_be_hidden()
    expect(uma.page.locator("#notice")).to_have_text("You were banned from town hall.")
    expect(uma.room_item("town hall")).to_have_count(0)
    uma.page.locator("#public-rooms li", has_text="town hall").locator("button.join").click()
    expect(uma.page.locator("#error")).to_contain_text("you are banned from room ")
    # an admin cannot act on the owner
    expect(tina.member("sam").locator("button")).to_have_count(0)

    # the owner unbans her; she may join again
    sam.page.click("#show-members")
    sam.page.click("#show-members")
    sam.page.locator("#bans li.ban", has_text="@uma").locator("button.unban").click()
    expect(sam.page.locator("#bans-box")).to_be_hidden()
    join_room(uma, "town hall")
    expect(sam.member("uma")).to_be_visible()

    # the owner removes her (she may come back), then demotes tina
    sam.member("uma").locator("button.remove").click()
    sam.confirm()
    expect(uma.page.locator("#notice")).to_have_text("You were removed from town hall.")
    expect(sam.member("uma")).to_have_count(0)
    sam.member("tina").locator("button.demote").click()
    expect(tina.page.locator("#room-role")).to_have_text("you are member")
    expect(tina.message("welcome to the town hall").locator("button.pin")).to_have_count(0)

    # the owner cannot leave before handing over; tina leaves
    sam.page.click("#leave-room")
    sam.confirm()
    expect(sam.page.locator("#error")).to_have_text(
        "transfer ownership (transfer_ownership) before leaving"
    )
    sam.page.click("#confirm-cancel")
    tina.page.click("#leave-room")
    expect(tina.page.locator("#confirm-text")).to_have_text("Leave town hall?")
    tina.confirm()
    expect(tina.page.locator("#notice")).to_have_text("You left town hall.")
    expect(tina.room_item("town hall")).to_have_count(0)
    expect(sam.member("tina")).to_have_count(0)
    expect(sam.page.locator("#room-kind")).to_have_text("public room · 1 members")
    for user in (sam, tina, uma):
        assert user.dialogs == []
        assert user.console_errors == [], user.console_errors


def test_the_socket_reconnects_and_catches_up(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    sockets = SocketSwitch()
    victor = sign_up(browser, chat_url, "victor", sockets=sockets)
    create_room(victor, "flaky network")
    wendy = sign_up(browser, chat_url, "wendy")
    join_room(wendy, "flaky network")
    wendy.send("before the drop")
    expect(victor.message("before the drop")).to_be_visible()
    assert sockets.opened == 1

    # the server side goes away and stays away: the page polls meanwhile
    sockets.drop()
    expect(victor.page.locator("#status")).to_have_attribute("data-mode", "polling")
    wendy.send("sent while the socket was down")
    expect(victor.message("sent while the socket was down")).to_be_visible()
    wendy.message("before the drop").locator("button.edit").click()
    wendy.send("before the drop, edited")

    # back: the page reconnects by itself, catches up and stops polling
    sockets.restore()
    expect(victor.page.locator("#status")).to_have_attribute("data-mode", "live")
    assert sockets.opened >= 2
    expect(victor.message("before the drop, edited").locator(".edited")).to_be_visible()
    wendy.send("after the reconnect")
    expect(victor.message("after the reconnect")).to_be_visible()
    wendy.message("after the reconnect").locator("button.react[data-emoji='👍']").click()
    thumbs = victor.message("after the reconnect").locator(".reaction[data-emoji='👍']")
    expect(thumbs).to_have_attribute("data-count", "1")
    assert victor.dialogs == []
    assert victor.console_errors == [], victor.console_errors


def test_a_resync_close_reconnects_and_reads_what_was_missed(browser: Any, chat_url: str) -> None:
    from playwright.sync_api import expect

    sockets = EventGate()
    xena = sign_up(browser, chat_url, "xena", sockets=sockets)
    create_room(xena, "busy room")
    yuri = sign_up(browser, chat_url, "yuri")
    join_room(yuri, "busy room")
    yuri.send("before the burst")
    expect(xena.message("before the burst")).to_be_visible()

    # the page's events stop arriving (the server's outbox for it overflowed) ...
    sockets.holding = True
    yuri.send("missed by the socket")
    yuri.send("missed as well")
    # ... and the server says so and closes: the page reopens and catches up by query
    sockets.resync()
    expect(xena.message("missed by the socket")).to_be_visible()
    expect(xena.message("missed as well")).to_be_visible()
    expect(xena.page.locator("#status")).to_have_attribute("data-mode", "live")
    assert sockets.opened >= 2
    yuri.send("after the resync")
    expect(xena.message("after the resync")).to_be_visible()
    assert xena.dialogs == []
    assert xena.console_errors == [], xena.console_errors
