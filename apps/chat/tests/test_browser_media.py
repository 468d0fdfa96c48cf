"""Attachments, polls and disappearing messages on the chat page, in headless Chromium
against a real ``runreplica`` with the chat canister deployed.

Two users in one room: Ada attaches an image (more than one chunk: the tray's progress
bar fills) that Ben's page shows scaled, loaded from the canister's own origin
(``<canister-id>.localhost``); a short MP4 whose index is at its end, which Ben's player
plays with Range requests answered 206 by the canister's ``http_request``; a poll Ben
votes in and Ada sees counted live; and a room time-to-live under which a message
disappears from both pages when the canister's timer erases it.

Waits are Playwright's (until the page shows the expected state) with a generous upper
bound; nothing asserts how fast anything is.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.video.clips import make_clip
from tests.agent.live_replica import served_project
from tests.browser import chromium, requires_chromium, wait_until

from .test_browser import CHAT_APP, User, create_room, join_room, sign_up

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(replica URL, chat canister id) of a replica with the chat canister deployed."""
    with served_project(tmp_path_factory.mktemp("chat_media"), demo=False) as project:
        printed = project.deploy(CHAT_APP)
        assert printed.startswith("chat: canister "), printed
        yield project.url, printed.split()[2]


@pytest.fixture(scope="module")
def browser(served: tuple[str, str]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def noise_png(width: int, height: int) -> bytes:
    """A PNG of random pixels (it does not compress: ``width * height * 3`` bytes or so)."""
    from PIL import Image

    pixels = random.Random(7).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="PNG")
    return out.getvalue()


def canister_answers(page: Any, origin: str) -> list[tuple[int, str, dict[str, str]]]:
    """(status, url, headers) of every answer the page gets from ``origin``, as they come."""
    seen: list[tuple[int, str, dict[str, str]]] = []

    def record(response: Any) -> None:
        if response.url.startswith(origin):
            seen.append((response.status, response.url, response.headers))

    page.on("response", record)
    return seen


def attach(user: User, path: Path) -> None:
    """Pick ``path`` in the compose form and wait until its upload is committed."""
    from playwright.sync_api import expect

    user.page.set_input_files("#attach-input", str(path))
    row = user.page.locator("#attachment-tray li.attachment-pending", has_text=path.name)
    expect(row).to_have_attribute("data-state", "ready")
    expect(row.locator("progress")).to_have_js_property("value", 1)


def send_attachments(user: User, caption: str) -> None:
    from playwright.sync_api import expect

    user.page.fill("#compose textarea", caption)
    user.page.click("#compose button[type=submit]")
    expect(user.page.locator("#attachment-tray")).to_be_hidden()


def test_attachments_play_from_the_canister_origin_polls_and_disappearing(
        browser: Any, served: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url, canister = served
    port = url.rsplit(":", 1)[1]
    origin = f"http://{canister}.localhost:{port}"
    ada = sign_up(browser, url, "ada")
    create_room(ada, "media")
    ben = sign_up(browser, url, "ben")
    join_room(ben, "media")
    ben_seen = canister_answers(ben.page, origin)

    # An image of more than one 1 MiB chunk, shown scaled on Ben's page.
    picture = tmp_path / "noise.png"
    picture.write_bytes(noise_png(900, 600))
    assert picture.stat().st_size > 1024 * 1024
    attach(ada, picture)
    send_attachments(ada, "a picture")
    image = ben.message("a picture").locator(".attachment-image img")
    served_at = re.compile(rf"^{re.escape(origin)}/a/\d+/[0-9a-f]{{32}}$")
    expect(image).to_have_attribute("src", served_at)
    expect(image).to_be_visible()
    # Loaded and scaled by the page's CSS (read on the element the locator finds now: the
    # message list may have drawn the message again since).
    assert image.evaluate(
        """img => img.complete ? [img.naturalWidth, img.getBoundingClientRect().width]
                : new Promise(done => img.addEventListener('load',
                    () => done([img.naturalWidth, img.getBoundingClientRect().width])))"""
    )[0] == 900
    expect(image).to_be_visible()
    width = image.evaluate("img => img.getBoundingClientRect().width")
    assert 0 < width < 900

    # A short MP4 with its index at the end: the player reads it with Range requests.
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(make_clip(3, 320, 240, seed=3, label="chat clip"))
    attach(ada, clip)
    send_attachments(ada, "a clip")
    video = ben.message("a clip").locator(".attachment-video video")
    expect(video).to_be_visible()
    wait_until(video, "v => { v.muted = true; if (v.paused) v.play().catch(() => {}); "
                              "return v.currentTime > 0.3; }")
    video_src = video.get_attribute("src")
    assert video_src is not None and video_src.startswith(origin)
    partial = [headers["content-range"] for status, answered, headers in ben_seen
               if answered == video_src and status == 206]
    assert partial, [(status, answered) for status, answered, _ in ben_seen]
    assert all(r.startswith("bytes ") and r.endswith(f"/{clip.stat().st_size}") for r in partial)

    # A poll: Ben votes, Ada sees the count and Ben's name live.
    ada.page.click("#open-poll")
    ada.page.fill("#poll-form [name=question]", "Tea or coffee?")
    ada.page.fill("#poll-form [name=options]", "Tea\nCoffee")
    ada.page.click("#poll-form button[type=submit]")
    expect(ben.message("Tea or coffee?").locator(".poll")).to_be_visible()
    ben.message("Tea or coffee?").locator(".poll-choose", has_text="Coffee").click()
    coffee = ada.message("Tea or coffee?").locator(".poll-option", has_text="Coffee")
    expect(coffee).to_have_attribute("data-votes", "1")
    expect(coffee.locator(".poll-voters")).to_have_text("@ben")
    expect(ben.message("Tea or coffee?").locator(".poll-option.mine")).to_contain_text("Coffee")

    # Disappearing messages: Ada sets 10 s; a message sent then vanishes from both pages.
    ada.page.select_option("#room-ttl", "10")
    expect(ben.page.locator("#room-ttl-box")).to_have_attribute("data-ttl", "10")
    ada.send("this will vanish")
    expect(ben.message("this will vanish")).to_be_visible()
    expect(ada.message("this will vanish")).to_be_hidden()
    expect(ben.message("this will vanish")).to_be_hidden()
    expect(ben.message("a picture")).to_be_visible()  # sent before the TTL: it stays
    assert not ada.console_errors and not ben.console_errors, (
        ada.console_errors, ben.console_errors)
