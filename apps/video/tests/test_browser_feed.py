"""The video page's feed, resume, tips and review queue in real headless Chromium against
``runreplica --demo`` (as test_browser.py serves it: the worker runs in the server).

A creator's videos are uploaded through the canister's interface, signed by the
creator's key, and transcoded by the server's worker; the people who use the page each
have a browser context, with a key of its own or, where the test acts as them outside
the page too, with a key handed to the page the way the bundle migrates an older app's
key.

* An upload interrupted after two chunks resumes: picking the same file sends only the
  missing chunks.
* The feed (Following, after a follow, so it holds exactly the creator's videos): the
  video on screen plays muted, only the next one is preloaded, the down key moves on and
  the video left behind is paused and its watch time reported (its view counter moves);
  a sensitive video stays blurred and still until tapped; "why this video" lists the
  score's terms; the creator's follow, hashtag, search and profile pages lead to the
  same videos.
* A tip: tokens from the marketplace's faucet, then approve and tip in the page; the
  creator's ledger balance grows by the tip.
* A report reaches the moderators' review queue, and "Remove" takes the video down.

Waits are Playwright's (until the page shows the state); nothing is timed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.video.clips import make_clip
from apps.video.tests.test_browser import (
    DESKTOP,
    PHONE,
    Served,
    api_as,
    open_page,
    playing,
    post_video,
    register,
    served_video,
    wait_ready,
)
from icframework.agent import Actor, Agent
from icframework.identity import Ed25519Identity
from icframework.replica.admin import admin_identity
from tests.agent.live_replica import ServedProject
from tests.browser import chromium, requires_chromium, wait_until

pytestmark = requires_chromium

LEDGER_DID = Path(__file__).resolve().parents[2] / "marketplace" / "icrc.did"


@pytest.fixture(scope="module")
def served(demo_project: ServedProject) -> Served:
    """The session's demo, whose worker transcodes what the pages upload."""
    return served_video(demo_project)


@pytest.fixture(scope="module")
def browser(served: Served) -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def creator(served: Served) -> tuple[Ed25519Identity, list[int]]:
    """Dan and his three ready videos (the last one marked sensitive)."""
    dan = Ed25519Identity.generate()
    api = api_as(served, dan)
    api.register("dan_loops", "Dan Loops")
    ids = [post_video(api, make_clip(3, 640, 360, seed=20 + n, label=f"loop {n}"),
                      f"Loop number {n} #loop") for n in range(3)]
    wait_ready(api, ids)
    api.set_sensitive(ids[-1], True)
    return dan, ids


def reel_of(page: Any, video_id: int) -> Any:
    return page.locator(f"#reels li.reel[data-video='{video_id}']")


def still_until_tapped(reel: Any) -> None:
    """A sensitive reel on screen: blurred and paused until its button is tapped."""
    from playwright.sync_api import expect

    expect(reel).to_have_class(re.compile(r"\bsensitive\b"))
    expect(reel).to_have_attribute("data-playing", "false")
    assert reel.locator("video").evaluate("(v) => v.paused")
    assert reel.locator("video").evaluate("(v) => getComputedStyle(v).filter").startswith("blur")
    reel.locator(".reel-reveal").click()
    expect(reel).to_have_class(re.compile(r"\brevealed\b"))


def test_for_you_reads_the_next_page_as_the_viewer_nears_the_end(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    """The demo's creators and Dan have more videos than a page (`PAGE` in reels.js): the
    For You feed starts with one page and reads the next before the last is reached."""
    from playwright.sync_api import expect

    page, errors, _ = open_page(browser, served, DESKTOP)
    expect(page.locator("#feed")).to_have_attribute("data-ready", "true")
    reels = page.locator("#reels li.reel")
    first_page = reels.count()
    assert first_page == 6, first_page
    page.locator("#reels").focus()
    for index in range(1, first_page - 2):  # the third from the end asks for more
        page.keyboard.press("ArrowDown")
        expect(reels.nth(index)).to_have_class(re.compile(r"\bactive\b"))
    expect(reels).not_to_have_count(first_page)
    shown = reels.evaluate_all("(items) => items.map((i) => i.dataset.video)")
    assert len(shown) == len(set(shown)), shown  # no video twice
    assert errors == []
    page.context.close()


def test_an_interrupted_upload_resumes_with_the_chunks_the_canister_has(
        browser: Any, served: Served, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    cleo = Ed25519Identity.generate()
    api = api_as(served, cleo)
    api.register("cleo_cuts", "Cleo Cuts")
    data = make_clip(12, 1280, 720, seed=31, label="resume me")
    clip = tmp_path / "resume.mp4"
    clip.write_bytes(data)
    ticket = api.begin_upload({"caption": "", "size": len(data), "content_type": "video/mp4",
                               "sha256": hashlib.sha256(data).digest()})
    chunks, step = ticket["chunks"], ticket["chunk_bytes"]
    assert chunks >= 3
    for index in (0, 1):  # then the tab was closed
        api.put_chunk(ticket["video_id"], index, data[index * step:(index + 1) * step])

    page, errors, _ = open_page(browser, served, DESKTOP, "#upload", identity=cleo)
    expect(page.locator("#me")).to_have_text("@cleo_cuts")
    page.locator("#upload-form [name=file]").set_input_files(str(clip))
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#notice")).to_have_text(
        f"Resuming: the canister already has 2 of {chunks} chunks.")
    progress = page.locator("#upload-progress")
    expect(progress).to_have_attribute("data-done", str(chunks))
    expect(page.locator("#upload-status")).to_have_attribute("data-status", "processing")
    mine = page.locator(f"#my-videos li.mine[data-video='{ticket['video_id']}']")
    expect(mine).to_have_attribute("data-status", "processing")
    assert page.evaluate("Object.keys(localStorage).filter("
                         "(k) => k.startsWith('icframework.video.upload:'))") == []
    assert errors == []
    page.context.close()


def test_the_feed_plays_one_video_preloads_the_next_and_reports_watch_time(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    from playwright.sync_api import expect

    _, ids = creator
    eve, errors, network = open_page(browser, served, PHONE, f"#v={ids[0]}")
    shared = reel_of(eve, ids[0])
    expect(shared).to_have_class(re.compile(r"\bactive\b"))
    shared.locator(".reel-follow").click()  # asked for a handle on the way
    register(eve, "eve_watches", "Eve")
    expect(shared.locator(".reel-follow")).to_have_count(0)

    eve.click(".video-tabs [data-view=following]")
    expect(eve.locator("#feed")).to_have_attribute("data-kind", "following")
    expect(eve.locator("#feed")).to_have_attribute("data-ready", "true")
    reels = eve.locator("#reels li.reel")
    expect(reels).to_have_count(len(ids))
    order = [int(v) for v in reels.evaluate_all("(items) => items.map((i) => i.dataset.video)")]
    assert order == sorted(ids, reverse=True)  # newest first

    # The first is on screen (the sensitive one, still until tapped), only the next is
    # preloaded, and everything comes from the canister.
    first = reel_of(eve, order[0])
    expect(first).to_have_class(re.compile(r"\bactive\b"))
    preloads = reels.evaluate_all("(items) => items.map((i) => i.querySelector('video').preload)")
    assert preloads[1] == "auto" and preloads[2] in ("none", "metadata"), preloads
    still_until_tapped(first)
    playing(eve, str(order[0]))  # muted: the page may start it without a gesture
    assert first.locator("video").evaluate("(v) => v.muted")
    assert network.partial("/360.mp4"), network.seen

    # The down key moves on: the one left is paused and its watch time reported.
    eve.locator("#reels").focus()
    eve.keyboard.press("ArrowDown")
    second = reel_of(eve, order[1])
    expect(second).to_have_class(re.compile(r"\bactive\b"))
    playing(eve, str(order[1]))
    assert first.locator("video").evaluate("(v) => v.paused")
    expect(first.locator(".reel-views")).to_have_attribute("data-count", "1")
    sensitive = first

    # A wheel gesture over the feed moves one video; the up key comes back.
    box = eve.locator("#reels").bounding_box()
    assert box is not None
    eve.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    eve.mouse.wheel(0, 120)
    expect(reel_of(eve, order[2])).to_have_class(re.compile(r"\bactive\b"))
    eve.keyboard.press("ArrowUp")
    expect(second).to_have_class(re.compile(r"\bactive\b"))

    # Why this video: the terms of its score for Eve.
    sensitive.locator(".reel-why").click()
    expect(eve.locator("#why-terms")).to_contain_text("recency")
    eve.locator("#why .close").click()

    # The hashtag page, search and the profile lead to Dan's videos.
    reels.first.locator(".reel-caption .hashtag").click()
    expect(eve.locator("#tag")).to_have_attribute("data-ready", "true")
    expect(eve.locator("#tag-title")).to_have_text("#loop")
    expect(eve.locator("#tag-grid li")).to_have_count(len(ids))
    eve.fill("#search-form [name=q]", "dan")
    eve.click("#search-form button[type=submit]")
    expect(eve.locator("#search")).to_have_attribute("data-ready", "true")
    eve.locator("#found-users a", has_text="@dan_loops").click()
    expect(eve.locator("#profile")).to_have_attribute("data-ready", "true")
    expect(eve.locator("#profile-handle")).to_have_text("@dan_loops")
    expect(eve.locator("#profile-followers")).to_have_text("1 follower")
    expect(eve.locator("#profile-grid li")).to_have_count(len(ids))
    expect(eve.locator("#profile-actions [data-action=follow]")).to_have_text("Following")
    eve.click("#profile-followers")
    expect(eve.locator("#people-title")).to_have_text("Followers")
    expect(eve.locator("#people li")).to_have_count(1)
    expect(eve.locator("#people li")).to_contain_text("Eve @eve_watches")
    eve.locator("#profile-grid a").first.click()
    expect(eve.locator("#feed")).to_have_attribute("data-ready", "true")
    eve.go_back()  # and unfollow from the profile
    expect(eve.locator("#profile")).to_have_attribute("data-ready", "true")
    eve.locator("#profile-actions [data-action=follow]").click()
    expect(eve.locator("#profile-actions [data-action=follow]")).to_have_text("Follow")
    expect(eve.locator("#profile-followers")).to_have_text("0 followers")
    assert errors == []
    eve.context.close()


def test_a_tip_is_approved_and_paid_in_the_marketplace_token(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    from playwright.sync_api import expect

    dan, ids = creator
    fay, errors, _ = open_page(browser, served, DESKTOP, f"#v={ids[0]}")
    fay.goto(f"{served.url}/market/")
    expect(fay.locator("#balance")).to_have_text("0 MKT")  # the page is up, with Fay's key
    fay.click("#faucet")
    expect(fay.locator("#balance")).to_have_text("100 MKT")
    fay.goto(f"{served.url}/video/#v={ids[0]}")
    reel = reel_of(fay, ids[0])
    expect(reel).to_have_class("reel active")
    reel.locator(".reel-tip").click()
    register(fay, "fay_tips", "Fay")
    dialog = fay.locator("#tip")
    expect(dialog).to_be_visible()
    expect(fay.locator("#tip-balance")).to_have_text("100 MKT")
    dialog.locator("[name=amount]").fill("2.5")
    dialog.get_by_role("button", name="Approve and tip").click()
    expect(dialog).to_be_hidden()
    expect(fay.locator(".toast").last).to_contain_text("You tipped @dan_loops 2.5 MKT")
    ledger = Actor(Agent(served.url, fetch_root_key=True), served.ledger, LEDGER_DID.read_text())
    assert ledger.icrc1_balance_of({"owner": dan.principal, "subaccount": None}) == 250_000_000
    assert api_as(served, dan).tips_received()["total"] == 250_000_000
    assert errors == []
    fay.context.close()

    # Dan sees it on his own profile.
    page, dan_errors, _ = open_page(browser, served, DESKTOP, "#me", identity=dan)
    expect(page.locator("#profile")).to_have_attribute("data-ready", "true")
    expect(page.locator("#tips-received")).to_have_text("🪙 2.5 MKT in 1 tip")
    assert dan_errors == []
    page.context.close()


def test_a_reported_video_reaches_the_review_queue_and_is_removed(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    from playwright.sync_api import expect

    _, ids = creator
    target = ids[1]
    gus, errors, _ = open_page(browser, served, DESKTOP, f"#v={target}")
    reel = reel_of(gus, target)
    expect(reel).to_have_class("reel active")
    reel.locator(".reel-report").click()
    register(gus, "gus_reports", "Gus")
    report = gus.locator("#report")
    expect(report).to_be_visible()
    report.locator("[name=reason]").select_option("spam")
    report.get_by_role("button", name="Report").click()
    expect(gus.locator(".toast").last).to_contain_text("a moderator will look at it")

    admin = admin_identity(served.project.root / "state")
    assert isinstance(admin, Ed25519Identity), admin
    mod, mod_errors, _ = open_page(browser, served, DESKTOP, identity=admin)
    mod.locator(".video-tabs [data-view=foryou]").click()
    if mod.locator("#me").is_hidden():  # the admin has no handle yet
        mod.click(".video-tabs [data-view=upload]")
        register(mod, "mod_mira", "Mira Moderator")
    tab = mod.locator("#moderation-tab")
    expect(tab).to_be_visible()
    tab.click()
    expect(mod.locator("#moderation")).to_have_attribute("data-ready", "true")
    case = mod.locator("#review-list li.review", has_text=f"Video {target}")
    expect(case).to_contain_text("spam")
    case.locator("[data-decision=remove]").click()
    expect(case).to_have_count(0)
    assert api_as(served).card(target) is None
    assert errors == [] and mod_errors == []


def test_every_range_request_of_a_video_is_answered_with_206(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    """Playing a whole rendition from start to end is a series of 206 answers from the
    canister covering all its bytes (each Range answer holds at most one chunk)."""
    from playwright.sync_api import expect

    dan, _ = creator
    api = api_as(served, dan)
    # 14 s: a 720p rendition of about 1.6 MB, two 1 MiB chunks
    big = post_video(api, make_clip(14, 1280, 720, seed=41), "A longer one")
    wait_ready(api, [big])
    page, _, network = open_page(browser, served, DESKTOP, f"#v={big}")
    expect(reel_of(page, big)).to_have_class("reel active")
    playing(page, str(big))
    player = reel_of(page, big).locator("video")
    player.evaluate("(v) => { v.currentTime = v.duration - 0.5; }")
    wait_until(page, f"document.querySelector(\"li.reel[data-video='{big}'] video\")"
                     ".ended || document.querySelector(\"li.reel[data-video='"
                     f"{big}'] video\").currentTime < 1")  # it loops back to the start
    answers = [(status, headers) for status, url, headers in network.seen
               if url.endswith("/720.mp4")]
    assert len(answers) >= 2, answers  # the rendition is more than one chunk
    assert all(status == 206 for status, _ in answers), answers
    ranges = network.partial("/720.mp4")
    size = int(answers[0][1]["content-range"].rsplit("/", 1)[1])
    assert min(first for first, _ in ranges) == 0
    assert max(last for _, last in ranges) == size - 1
    page.context.close()


def test_comments_thread_with_replies_likes_and_deletes_and_shares_and_super_likes(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]]) -> None:
    from playwright.sync_api import expect

    _, ids = creator
    video = ids[0]
    hal, errors, _ = open_page(browser, served, DESKTOP, f"#v={video}")
    reel = reel_of(hal, video)
    expect(reel).to_have_class(re.compile(r"\bactive\b"))
    comments_before = int(reel.locator(".reel-comments .reel-count").get_attribute("data-count")
                          or "0")
    reel.locator(".reel-comments").click()
    drawer = hal.locator("#comments")
    expect(drawer).to_have_attribute("data-ready", "true")
    hal.fill("#comment-form [name=text]", "First! #loop")
    hal.click("#comment-form button[type=submit]")
    register(hal, "hal_comments", "Hal")
    mine = drawer.locator("li.comment", has_text="First! #loop").first
    expect(mine).to_be_visible()
    expect(reel.locator(".reel-comments .reel-count")).to_have_text(str(comments_before + 1))

    # Like it, then reply to it: the thread opens with the reply.
    mine.locator(".comment-like").click()
    mine = drawer.locator("li.comment", has_text="First! #loop").first
    expect(mine.locator(".comment-like")).to_have_attribute("aria-pressed", "true")
    expect(mine.locator(".comment-like")).to_have_text("♥ 1")
    mine.get_by_role("button", name="Reply").click()
    expect(hal.locator("#comment-replying")).to_contain_text("Replying to @hal_comments")
    hal.fill("#comment-form [name=text]", "And a reply")
    hal.click("#comment-form button[type=submit]")
    thread = drawer.locator("li.comment", has_text="First! #loop").first
    reply = thread.locator("ol.replies li.comment")
    expect(reply).to_have_count(1)
    expect(reply.locator(".comment-text")).to_have_text("And a reply")
    expect(thread.locator(".comment-replies")).to_have_text("1 reply")

    # Delete the top comment (its own author may): gone from the thread.
    thread.locator(".comment-delete").first.click()
    expect(drawer.locator("li.comment", has_text="First! #loop")).to_have_count(0)
    hal.locator("#comments-close").click()
    expect(drawer).to_be_hidden()

    # Share (counted once) and super-like (the creator's counter moves).
    reel.locator(".reel-share").click()
    expect(reel.locator(".reel-share .reel-count")).to_have_text("1")
    expect(hal.locator(".toast").last).to_contain_text(f"#v={video}")
    reel.locator(".reel-super").click()
    expect(reel.locator(".reel-super .reel-count")).to_have_text("1")
    expect(hal.locator(".toast").last).to_contain_text("2 super-likes left today")
    expect(reel.locator(".reel-like")).to_have_attribute("aria-pressed", "true")  # liked too
    assert errors == []
    hal.context.close()


def test_a_rejected_upload_says_why_and_a_video_is_recaptioned_and_deleted(
        browser: Any, served: Served, creator: tuple[Ed25519Identity, list[int]],
        tmp_path: Path) -> None:
    from playwright.sync_api import expect

    iris, errors, _ = open_page(browser, served, DESKTOP, "#upload")
    expect(iris.locator("#register")).to_be_visible()
    iris.locator("#register [name=handle]").fill("Dan_Loops")  # Dan's, whatever the case
    wait_until(iris, "document.querySelector('#register-form').handle.validationMessage"
                     " === '@dan_loops is taken: pick another'")
    register(iris, "iris_edits", "Iris")
    fake = tmp_path / "holiday.mp4"
    fake.write_bytes(b"%PDF-1.7 this is a document, not a video " * 100)
    iris.locator("#upload-form [name=file]").set_input_files(str(fake))
    iris.click("#upload-form button[type=submit]")
    status = iris.locator("#upload-status")
    expect(status).to_have_attribute("data-status", "rejected")
    reason = iris.locator("#upload-detail").text_content() or ""
    assert reason.strip(), "a rejection names its reason"
    rejected = iris.locator("#my-videos li.mine[data-status=rejected]")
    expect(rejected).to_have_count(1)
    expect(rejected.locator(".mine-reason")).to_have_text(f" {reason}")

    clip = tmp_path / "keeper.mp4"
    clip.write_bytes(make_clip(2, 640, 360, seed=51, label="keeper"))
    iris.locator("#upload-form [name=file]").set_input_files(str(clip))
    iris.fill("#upload-form [name=caption]", "Keep me")
    iris.click("#upload-form button[type=submit]")
    expect(status).to_have_attribute("data-status", "ready")  # the worker, heard live
    kept = iris.locator("#my-videos li.mine[data-status=ready]")
    expect(kept).to_have_count(1)
    kept.get_by_role("button", name="Edit caption").click()
    kept.locator(".caption-editor [name=caption]").fill("Kept, with a #newcaption")
    kept.locator(".caption-editor button[type=submit]").click()
    expect(kept.locator(".list-title")).to_have_text("Kept, with a #newcaption")
    video_id = int(kept.get_attribute("data-video") or "0")
    assert api_as(served).video(video_id)["caption"] == "Kept, with a #newcaption"

    iris.once("dialog", lambda dialog: dialog.accept())
    kept.get_by_role("button", name="Delete").click()
    expect(iris.locator(f"#my-videos li.mine[data-video='{video_id}']")).to_have_count(0)
    assert api_as(served).video(video_id) is None
    assert errors == []
    iris.context.close()
