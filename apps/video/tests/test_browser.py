"""The video page in real headless Chromium against ``runreplica --demo``: the video
canister seeded with its demo creators, the transcoding worker running in the server
(`apps.video.jobs` hands each processing upload to `apps.video.tasks`, which acts as the
state directory's worker identity), and the marketplace's token as the tips' ledger.

Ada, on a desktop-sized window with a key of her own, picks a real clip (a 1280x720
H.264/AAC test pattern from `apps.video.clips`), is asked for a handle on the way, and
uploads it: the file's SHA-256 is computed in the browser, its 1 MiB chunks go up with
the progress bar filling, and the status she sees moves to processing and then, live
over the canister socket, to ready once the clip is transcoded. Ben, on a phone-sized
window with another key, opens the shared link: the 360p rendition plays from the
canister's own origin, answered with 206 Range responses; Ada's 720p one plays from a
206 too, and seeks: the time jumps and playing goes on from there. Ben likes and
comments; Ada, who watches the same video, sees the like and comment counters move
without a reload, and her inbox badge counts both. Text carrying markup stays text.
Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from apps.video.canister import limits
from apps.video.clips import make_clip
from icframework.agent import Actor, Agent, HttpError
from icframework.deployments import recorded_id
from icframework.identity import Ed25519Identity, Identity
from tests.agent.live_replica import ServedProject
from tests.browser import (
    WAIT_MS,
    chromium,
    console_errors,
    new_context,
    requires_chromium,
    wait_until,
)

pytestmark = requires_chromium

APP_DIR = Path(__file__).resolve().parents[1]
SNEAKY = 'Nice <img src=x onerror="window.pwned=1"> clip'
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: where `browserIdentity` looks for an older app's key to migrate (video.js LEGACY_KEYS)
LEGACY_KEY = "icframework.chat.identity"


@dataclass
class Served:
    """The served project, the video canister's id and the marketplace token's."""

    project: ServedProject
    canister: str
    ledger: str

    @property
    def url(self) -> str:
        return self.project.url

    @property
    def origin(self) -> str:
        port = self.url.rsplit(":", 1)[1]
        return f"http://{self.canister}.localhost:{port}"


def video_of(project: ServedProject) -> Served:
    """The video canister and the token ``runreplica --demo`` deployed and recorded (the
    video seeder names the state directory's worker identity and the token in its
    install argument)."""
    with override_settings(BASE_DIR=project.root):
        canister = recorded_id("video", project.url)
        ledger = recorded_id("marketplace_token", project.url)
    assert canister is not None and ledger is not None, project.printed
    return Served(project, canister.to_text(), ledger.to_text())


def served_video(project: ServedProject) -> Served:
    """The video canister of a demo served with its worker (`tests.demo_server`): the
    seeded canister, the token, and the transcoder the pages wait for."""
    assert "  worker:    Celery, in this process" in project.printed, project.printed
    return video_of(project)


@pytest.fixture(scope="module")
def served(demo_project: ServedProject) -> Served:
    """The session's demo, whose worker transcodes what the pages upload."""
    return served_video(demo_project)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@dataclass
class Network:
    """The canister-origin answers a page received, in order: (status, url, headers)."""

    origin: str
    seen: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)  # any origin's 5xx

    def record(self, response: Any) -> None:
        if response.url.startswith(self.origin):
            self.seen.append((response.status, response.url, response.headers))
        if response.status >= 500:
            self.failed.append((response.status, response.url))

    def partial(self, suffix: str) -> list[tuple[int, int]]:
        """The byte ranges (first, last) of the 206 answers for URLs ending in ``suffix``."""
        ranges = []
        for status, url, headers in list(self.seen):
            if status == 206 and url.endswith(suffix):
                first, last = headers["content-range"].split(" ")[1].split("/")[0].split("-")
                ranges.append((int(first), int(last)))
        return ranges


def api_as(served: Served, identity: Identity | None = None) -> Actor:
    """The video canister's methods over the IC HTTP interface, signed by ``identity``."""
    agent = Agent(served.url, identity=identity, fetch_root_key=True)
    return Actor(agent, served.canister, (APP_DIR / "video.did").read_text())


def post_video(api: Actor, data: bytes, caption: str) -> int:
    """Upload ``data`` as ``api``'s identity (chunk by chunk, as the page does); its id,
    processing."""
    ticket = api.begin_upload({"caption": caption, "size": len(data), "content_type": "video/mp4",
                               "sha256": hashlib.sha256(data).digest()})
    step = ticket["chunk_bytes"]
    for index in range(ticket["chunks"]):
        api.put_chunk(ticket["video_id"], index, data[index * step:(index + 1) * step])
    video = api.finish_upload(ticket["video_id"])
    assert video["status"] == {"processing": None}, video
    return int(video["id"])


def with_key(browser: Any, identity: Ed25519Identity, viewport: dict[str, int]) -> Any:
    """A browser context whose key is ``identity``'s: handed to the page the way the
    bundle's `browserIdentity` migrates an older app's key (a ``[DER public key, seed]``
    hex pair in localStorage, read once, when IndexedDB holds no key yet)."""
    context = new_context(browser, viewport=viewport)
    key = json.dumps([identity.der_public_key.hex(), identity.seed.hex()])
    context.add_init_script(f"localStorage.getItem({json.dumps(LEGACY_KEY)}) === null && "
                            f"localStorage.setItem({json.dumps(LEGACY_KEY)}, {json.dumps(key)})")
    return context


def wait_ready(api: Actor, ids: Collection[int]) -> None:
    """Wait (up to `WAIT_MS`) until the worker running in the served replica has made
    every video of ``ids`` ready."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        try:
            statuses = [api.video(video_id)["status"] for video_id in ids]
        except HttpError as exc:  # the replica's transient 500 between rounds: poll again
            assert exc.status == 500, exc
            statuses = []
        if statuses and all(status == {"ready": None} for status in statuses):
            return
        assert {"rejected": None} not in statuses, statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready within {WAIT_MS} ms: {statuses}")
        time.sleep(0.2)


def open_page(browser: Any, served: Served, viewport: dict[str, int], hash_: str = "",
              identity: Ed25519Identity | None = None) -> tuple[Any, list[str], Network]:
    """A new browser context on the video page: a key of its own, or ``identity``'s."""
    from playwright.sync_api import expect

    context = (new_context(browser, viewport=viewport) if identity is None
               else with_key(browser, identity, viewport))
    page = context.new_page()
    errors = console_errors(page)
    network = Network(served.origin)
    page.on("response", network.record)
    page.goto(f"{served.url}/video/{hash_}")
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    return page, errors, network


def register(page: Any, handle: str, name: str) -> None:
    """Answer the handle dialog the page opens on the first action that needs one."""
    from playwright.sync_api import expect

    dialog = page.locator("#register")
    expect(dialog).to_be_visible()
    dialog.locator("[name=handle]").fill(handle)
    dialog.locator("[name=name]").fill(name)
    dialog.get_by_role("button", name="Join").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#me")).to_have_text(f"@{handle}")


def active_reel(page: Any, video_id: str) -> Any:
    from playwright.sync_api import expect

    reel = page.locator(f"#reels li.reel[data-video='{video_id}']")
    expect(reel).to_have_class("reel active")
    return reel


def playing(page: Any, video_id: str) -> None:
    """Wait until the reel of ``video_id`` plays: its time moves past zero."""
    wait_until(page, f"document.querySelector(\"li.reel[data-video='{video_id}'] video\")"
                     "?.currentTime > 0.3")


def test_upload_process_watch_seek_like_and_comment_live(
        browser: Any, served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    clip = tmp_path / "ada-first.mp4"
    clip.write_bytes(make_clip(20, 1280, 720, seed=7, label="Ada's first clip"))
    chunks = -(-clip.stat().st_size // (1024 * 1024))
    assert chunks >= 3

    # Ada uploads: asked for a handle first, then the chunks go up with the bar filling.
    ada, ada_errors, ada_net = open_page(browser, served, DESKTOP)
    ada.click(".video-tabs [data-view=upload]")
    register(ada, "ada_reels", "Ada Reels")
    expect(ada.locator("#upload")).to_be_visible()
    most = f"up to {limits.MAX_VIDEO_BYTES / 2**20:.1f} MB"
    expect(ada.locator("#upload-limits")).to_contain_text(most)
    ada.locator("#upload-form [name=file]").set_input_files(str(clip))
    ada.fill("#upload-form [name=caption]", "My first #reel, hi @ben_reels")
    ada.click("#upload-form button[type=submit]")
    progress = ada.locator("#upload-progress")
    expect(progress).to_have_attribute("data-total", str(chunks))
    expect(progress).to_have_attribute("data-done", str(chunks))
    status = ada.locator("#upload-status")
    expect(status).to_have_attribute("data-status", "processing")
    mine = ada.locator("#my-videos li.mine").first
    expect(mine).to_have_attribute("data-status", "processing")
    video_id = mine.get_attribute("data-video")
    assert video_id

    # The worker transcodes it; the page hears "ready" on uploads:<me>, without a reload.
    expect(status).to_have_attribute("data-status", "ready")
    expect(mine).to_have_attribute("data-status", "ready")

    # Ben opens the shared link on a phone: the 360p copy plays from the canister's origin.
    ben, ben_errors, ben_net = open_page(browser, served, PHONE, f"#v={video_id}")
    reel = active_reel(ben, video_id)
    player = reel.locator("video")
    assert player.get_attribute("data-rendition") == "r360"
    src = player.evaluate("(v) => v.currentSrc")
    assert src == f"{served.origin}/v/{video_id}/360.mp4", src
    expect(reel.locator(".reel-creator")).to_have_text("@ada_reels")
    expect(reel.locator(".reel-caption .hashtag")).to_have_text("#reel")
    playing(ben, video_id)
    assert ben_net.partial("/360.mp4"), ben_net.seen

    # Ada watches hers (720p on a desktop) and seeks: the jump is another 206.
    ada.goto(f"{served.url}/video/#v={video_id}")
    mine_reel = active_reel(ada, video_id)
    assert mine_reel.locator("video").get_attribute("data-rendition") == "r720"
    playing(ada, video_id)
    before = len(ada_net.partial("/720.mp4"))
    assert before >= 1
    duration = mine_reel.locator("video").evaluate("(v) => v.duration")
    assert 19 < duration < 21
    target = duration * 0.8
    mine_reel.locator("video").evaluate(f"(v) => {{ v.currentTime = {target}; }}")
    wait_until(ada, f"document.querySelector(\"li.reel[data-video='{video_id}'] video\")"
                    f".currentTime > {target}")
    later = mine_reel.locator("video").evaluate("(v) => v.currentTime")
    wait_until(ada, f"document.querySelector(\"li.reel[data-video='{video_id}'] video\")"
                    f".currentTime > {later}")  # and plays on from there

    # Ben likes (asked for a handle on the way) and comments; Ada's counters and inbox
    # move live.
    unread = int(ada.locator("#unread").get_attribute("data-count") or "0")
    like = reel.locator(".reel-like")
    like.click()
    register(ben, "ben_reels", "Ben <b>Reels</b>")
    expect(like).to_have_attribute("aria-pressed", "true")
    expect(like.locator(".reel-count")).to_have_text("1")
    expect(mine_reel.locator(".reel-like .reel-count")).to_have_text("1")  # live on Ada's page
    reel.locator(".reel-comments").click()
    drawer = ben.locator("#comments")
    expect(drawer).to_have_attribute("data-ready", "true")
    ben.fill("#comment-form [name=text]", SNEAKY)
    ben.click("#comment-form button[type=submit]")
    expect(drawer.locator("li.comment .comment-text")).to_have_text(SNEAKY)
    expect(mine_reel.locator(".reel-comments .reel-count")).to_have_text("1")
    expect(ada.locator("#unread")).to_have_text(str(unread + 2))  # the like and the comment
    ada.click("#bell")
    expect(ada.locator("#notification-list li[data-kind=comment]")).to_have_count(1)
    expect(ada.locator("#notification-list li[data-kind=like]")).to_have_count(1)
    expect(ada.locator("#unread")).to_be_hidden()

    for page in (ada, ben):
        assert page.evaluate("window.pwned") is None
    assert ada_errors == [], ada_net.failed
    assert ben_errors == [], ben_net.failed
