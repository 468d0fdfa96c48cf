"""The video page in real headless Chromium against ``runreplica --demo`` with the video
canister deployed (its workers: the state directory's worker identity; its ledger: the
marketplace's token).

Ada, on a desktop-sized window with a key of her own, picks a real clip (a 1280x720
H.264/AAC test pattern from `apps.video.clips`), is asked for a handle on the way, and
uploads it: the file's SHA-256 is computed in the browser, its 1 MiB chunks go up with
the progress bar filling, and the status she sees moves to processing and then, live
over the canister socket, to ready once the clip is transcoded. Ben, on a phone-sized
window with another key, opens the shared link: the 360p rendition plays from the
canister's own origin, answered with 206 Range responses; Ada's 720p one seeks, and the
jump is another 206 from the canister. Ben likes and comments; Ada, who watches the same
video, sees the like and comment counters move without a reload, and her inbox badge
counts both. Text carrying markup stays text.
Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.video.canister import limits
from apps.video.clips import make_clip
from icframework.deployments import recorded_id
from icframework.replica.admin import admin_identity
from icframework.workers import worker_principal
from tests.agent.live_replica import ServedProject, served_project
from tests.browser import chromium, console_errors, new_context, requires_chromium, wait_until

pytestmark = requires_chromium

APP_DIR = Path(__file__).resolve().parents[1]
SNEAKY = 'Nice <img src=x onerror="window.pwned=1"> clip'
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


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


def deploy_video(project: ServedProject) -> Served:
    """``manage.py deploy video`` as a developer runs it, with the install argument naming
    the demo admin as moderator, the worker identity and the marketplace token."""
    state = project.root / "state"
    with override_settings(BASE_DIR=project.root):
        ledger = recorded_id("marketplace_token", project.url)
    assert ledger is not None, "the demo records its token as marketplace_token"
    admin = admin_identity(state).principal.to_text()
    arg = (f'(opt record {{ admins = vec {{ principal "{admin}" }}; '
           f'workers = vec {{ principal "{worker_principal(state)}" }}; '
           f'ledger = opt principal "{ledger.to_text()}" }})')
    identities = {"ICFRAMEWORK_HOME": str(project.root / "home"),
                  "DFX_CONFIG_ROOT": str(project.root / "dfxroot")}
    with mock.patch.dict(os.environ, identities), override_settings(BASE_DIR=project.root):
        call_command("deploy", str(APP_DIR), "--network", project.url, "--arg", arg,
                     stdout=StringIO(), stderr=StringIO())
        canister = recorded_id("video", project.url)
    assert canister is not None
    return Served(project, canister.to_text(), ledger.to_text())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with served_project(tmp_path_factory.mktemp("video_project"), demo=True) as project:
        yield deploy_video(project)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@dataclass
class Network:
    """The canister-origin answers a page received, in order: (status, url, headers)."""

    origin: str
    seen: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)

    def record(self, response: Any) -> None:
        if response.url.startswith(self.origin):
            self.seen.append((response.status, response.url, response.headers))

    def partial(self, suffix: str) -> list[tuple[int, int]]:
        """The byte ranges (first, last) of the 206 answers for URLs ending in ``suffix``."""
        ranges = []
        for status, url, headers in list(self.seen):
            if status == 206 and url.endswith(suffix):
                first, last = headers["content-range"].split(" ")[1].split("/")[0].split("-")
                ranges.append((int(first), int(last)))
        return ranges


def transcode_as_worker(served: Served) -> None:
    """What the transcoding worker does, as the worker identity over the IC HTTP
    interface: claim each processing video, read its original, transcode it
    (`apps.video.transcode`), send every rendition in chunks and complete it."""
    import hashlib
    import tempfile

    from apps.video.transcode import transcode
    from icframework.agent import Actor, Agent
    from icframework.workers import worker_identity

    agent = Agent(served.url, identity=worker_identity(served.project.root / "state"),
                  fetch_root_key=True)
    actor = Actor(agent, served.canister, (APP_DIR / "video.did").read_text())
    for job in actor.worker_jobs():
        video_id = job["video_id"]
        job = actor.worker_claim(video_id)
        original = b"".join(actor.worker_original_chunk(video_id, index)
                            for index in range(job["chunks"]))
        assert hashlib.sha256(original).digest() == job["sha256"]
        with tempfile.TemporaryDirectory() as work:
            source = Path(work) / "original"
            source.write_bytes(original)
            made = transcode(source, Path(work) / "out")
            step = job["chunk_bytes"]
            for rendition in made.renditions:
                data = rendition.path.read_bytes()
                for index in range(max(1, -(-len(data) // step))):
                    actor.worker_put_rendition(video_id, {
                        "kind": {rendition.kind: None}, "content_type": rendition.content_type,
                        "size": rendition.size, "width": rendition.width,
                        "height": rendition.height, "sha256": rendition.sha256,
                        "index": index, "data": data[index * step:(index + 1) * step]})
        actor.worker_complete(video_id, {"duration_ms": made.duration_ms,
                                         "width": made.width, "height": made.height})


def open_page(browser: Any, served: Served, viewport: dict[str, int],
              hash_: str = "") -> tuple[Any, list[str], Network]:
    """A new browser context (a key of its own) on the video page."""
    from playwright.sync_api import expect

    page = new_context(browser, viewport=viewport).new_page()
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
    transcode_as_worker(served)
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
    assert ada_errors == []
    assert ben_errors == []
