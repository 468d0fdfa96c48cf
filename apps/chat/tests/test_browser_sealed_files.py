"""Sealed attachments in a direct room, in real headless Chromium against a real
``runreplica`` (its management canister answers vetKD with real BLS12-381 keys).

Ada sends Ben an image of more than one 1 MiB chunk, with a caption, in their direct
room: her page seals every chunk with the room's file key before it goes up and seals
the caption as a message of its own. Ben's page fetches the ciphertext from the
canister's own origin (allowed by its CORS header), decrypts it and shows the image from
a blob: URL at its full size. No byte the replica stored (the whole served project)
holds the marker written into the image, a run of its pixels or the caption.

Waits are Playwright's (until an element shows the expected state); nothing asserts
how fast anything is.
"""

from __future__ import annotations

import io
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.live_replica import ServedProject, served_project
from tests.browser import chromium, requires_chromium, wait_until

from .test_browser import CHAT_APP, sign_up
from .test_browser_media import attach, canister_answers, send_attachments

pytestmark = requires_chromium

MARKER = "sealed-file-marker-5823"
CAPTION = "the harbour at dawn"
WIDTH, HEIGHT = 700, 600


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedProject, str]]:
    """The served project (searched for plaintext below) and the chat canister's id."""
    with served_project(tmp_path_factory.mktemp("chat_sealed_files"), demo=False) as project:
        printed = project.deploy(CHAT_APP)
        assert printed.startswith("chat: canister "), printed
        yield project, printed.split()[2]


@pytest.fixture(scope="module")
def browser(served: tuple[ServedProject, str]) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def marked_png() -> tuple[bytes, bytes]:
    """A PNG of random pixels (more than one chunk) carrying `MARKER` in a text chunk, and
    its raw pixels."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    pixels = random.Random(11).randbytes(WIDTH * HEIGHT * 3)
    info = PngInfo()
    info.add_text("Comment", MARKER)
    out = io.BytesIO()
    Image.frombytes("RGB", (WIDTH, HEIGHT), pixels).save(out, format="PNG", pnginfo=info)
    return out.getvalue(), pixels


def stored_bytes(project: Path) -> bytes:
    """Every byte the served project keeps on disk (state store, its journal, records)."""
    return b"".join(path.read_bytes() for path in sorted(project.rglob("*"))
                    if path.is_file() and not path.name.endswith(".log"))


def test_an_image_sent_in_a_direct_room_is_sealed_end_to_end(
        browser: Any, served: tuple[ServedProject, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect

    project, canister = served
    origin = f"http://{canister}.localhost:{project.url.rsplit(':', 1)[1]}"
    ada = sign_up(browser, project.url, "ada")
    ben = sign_up(browser, project.url, "ben")
    ben_seen = canister_answers(ben.page, origin)

    ada.page.fill("#direct-form [name=handle]", "@ben")
    ada.page.click("#direct-form button[type=submit]")
    ada.wait_room("@ben")
    picture = tmp_path / "harbour.png"
    png, pixels = marked_png()
    picture.write_bytes(png)
    assert picture.stat().st_size > 1024 * 1024
    attach(ada, picture)
    send_attachments(ada, CAPTION)

    ben.open_room("@ada")
    figure = ben.page.locator("#messages figure.attachment-image")
    expect(figure).to_have_attribute("data-sealed", "open")
    # the file's own size, not the ciphertext's
    expect(figure.locator("figcaption")).to_have_text(
        f"harbour.png · {len(png) / (1024 * 1024):.1f} MB")
    image = figure.locator("img")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    wait_until(image, f"img => img.complete && img.naturalWidth === {WIDTH}")
    expect(ben.message(CAPTION).locator(".lock")).to_be_visible()
    # Ada's own page opens it the same way
    expect(ada.page.locator("#messages figure.attachment-image")).to_have_attribute(
        "data-sealed", "open")

    fetched = [(status, headers) for status, answered, headers in ben_seen
               if "/a/" in answered]
    assert fetched and all(status == 200 for status, _ in fetched), fetched
    assert all(headers["content-type"] == "application/octet-stream" for _, headers in fetched)

    state = stored_bytes(project.root)
    assert MARKER.encode() not in state
    assert CAPTION.encode() not in state
    middle = len(pixels) // 2
    assert pixels[middle:middle + 64] not in state
    assert png[len(png) // 2:len(png) // 2 + 64] not in state
    for user in (ada, ben):
        assert user.console_errors == [], user.console_errors
