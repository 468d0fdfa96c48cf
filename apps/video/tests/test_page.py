"""The video page's server side: which canister the page is given, the interface it reads,
its static files and its security headers (Django test client; the browser side is
test_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from apps.video import views
from icframework.pages import set_page_security
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests import pages

APP_DIR = Path(__file__).resolve().parents[1]
SCRIPTS_DIR = APP_DIR / "static" / "video"
RECORDED = "bkyz2-fmaaa-aaaaa-qaaaq-cai"
LEDGER = "ryjl3-tyaaa-aaaaa-aaaba-cai"
SCRIPTS = [
    '<script src="/static/icframework/shell.js">',
    '<script id="video-config" type="application/json">',
    '<script type="module" src="/static/video/video.js">',
]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project directory whose deploy record the page reads."""
    with override_settings(BASE_DIR=tmp_path, ICFRAMEWORK={"STATE_DIR": str(tmp_path / "state")}):
        yield tmp_path


@pytest.fixture
def service(project: Path) -> Iterator[ReplicaService]:
    running = start_service(project / "state")
    yield running
    stop_service()


def record(project: Path, entry: object) -> None:
    pages.record(project, "video", entry)


def page_config(html: str) -> object:
    return pages.page_config(html, "video")


def test_without_a_deploy_record_the_page_says_how_to_deploy(project: Path) -> None:
    pages.assert_says_how_to_deploy(project, "video")


def test_without_a_canister_the_policy_still_names_media(project: Path) -> None:
    policy = Client().get("/video/")["Content-Security-Policy"]
    assert "media-src 'self' blob:;" in policy


@pytest.mark.parametrize("entry", [RECORDED, {"local": RECORDED, "ic": "aaaaa-aa"}])
def test_the_page_gets_the_recorded_canister_on_the_shell(project: Path, entry: object) -> None:
    record(project, entry)
    html = Client().get("/video/").content.decode()
    config = page_config(html)
    assert isinstance(config, dict)
    limits = config.pop("limits")
    assert config == {
        "canisterId": RECORDED,
        "canisterOrigin": f"http://{RECORDED}.localhost",
        "host": "http://testserver",
        "didUrl": "/video/video.did",
        "ledgerId": None,
        "ledgerDidUrl": None,
        "marketplaceUrl": reverse("marketplace:index"),
    }
    assert limits == views.upload_limits()
    assert limits["captionChars"] == 300
    assert 'class="shell-header"' in html
    assert 'href="/static/video/video.css"' in html
    assert "not deployed" not in html


def test_the_page_gets_the_marketplace_token_for_tips(project: Path) -> None:
    pages.record(project, "video", RECORDED)
    ids = project / ".icframework" / "canister_ids.json"
    ids.write_text(f'{{"video": "{RECORDED}", "marketplace_token": "{LEDGER}"}}')
    config = page_config(Client().get("/video/").content.decode())
    assert isinstance(config, dict)
    assert config["ledgerId"] == LEDGER
    assert config["ledgerDidUrl"] == reverse("marketplace:token_interface")


def test_a_record_this_replica_does_not_run_is_not_used(
    project: Path, service: ReplicaService
) -> None:
    pages.assert_absent_record_not_used(project, "video", RECORDED)


def test_the_policy_allows_the_canisters_origin_for_images_and_media_only(project: Path) -> None:
    record(project, RECORDED)
    response = Client().get("/video/")
    pages.assert_runs_only(response, SCRIPTS)
    policy = response["Content-Security-Policy"]
    origin = f"http://{RECORDED}.localhost"
    assert f"img-src 'self' data: blob: {origin};" in policy
    assert f"media-src 'self' blob: {origin};" in policy
    assert origin not in policy.split("connect-src")[1]  # calls go through this replica
    assert "style-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_other_pages_get_no_media_source() -> None:
    """``media_src`` is opt-in: without it the policy is what it always was."""
    request = RequestFactory().get("/")
    plain = set_page_security(request, HttpResponse())["Content-Security-Policy"]
    assert "media-src" not in plain
    widened = set_page_security(request, HttpResponse(), media_src="'self' http://x.localhost")
    assert "media-src 'self' http://x.localhost; connect-src" in widened["Content-Security-Policy"]


def test_the_page_has_no_inline_handlers_or_styles(project: Path) -> None:
    """The CSP allows no inline script or style: every control is wired up by the scripts."""
    record(project, RECORDED)
    html = Client().get("/video/").content.decode()
    pages.assert_no_inline_code(html, (
        "reels", "feed", "upload-form", "upload-progress", "upload-status", "my-videos",
        "profile", "profile-grid", "tag", "search", "search-form", "notifications", "unread",
        "bell", "moderation", "moderation-tab", "comments", "comment-form", "register-form",
        "tip-form", "tip-balance", "report-form", "why",
    ))


@pytest.mark.parametrize("query", ["?v=%00", "?u=%ff%fe", "?x=" + "a" * 5000])
def test_bad_input_is_no_debug_page(project: Path, query: str) -> None:
    """The page takes nothing from the query string: odd input gets the plain page."""
    record(project, RECORDED)
    response = Client().get(f"/video/{query}")
    assert response.status_code == 200
    assert b"Traceback" not in response.content
    assert page_config(response.content.decode()) is not None


@pytest.mark.parametrize("path", ["/video/nope", "/video/video.did/x", "/video/../etc"])
def test_unknown_paths_are_a_plain_404(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert b"Traceback" not in response.content
    assert b"URLconf" not in response.content


def test_the_interface_is_the_apps_did(project: Path) -> None:
    if not views.DID_PATH.is_file():
        pytest.skip("apps/video/video.did is not built yet")
    response = Client().get("/video/video.did")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert b"".join(response.streaming_content) == views.DID_PATH.read_bytes()


def test_an_unbuilt_interface_is_a_404_that_says_how_to_build_it(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "DID_PATH", project / "video.did")
    response = Client().get("/video/video.did")
    assert response.status_code == 404
    assert response.content.decode() == (
        "the video canister's interface is not built yet: run "
        "`python manage.py build video` to write video.did\n")


# The canister methods each module calls (the contract's names), checked against the .did.
CALLS = {
    "video.js": ["me", "register", "handle_available", "unread_count", "notifications",
                 "mark_read"],
    "reels.js": ["for_you", "following_feed", "card", "like", "unlike", "super_like", "share",
                 "report", "record_view", "follow", "explain_score"],
    "upload.js": ["begin_upload", "put_chunk", "finish_upload", "video", "my_videos",
                  "edit_caption", "set_sensitive", "delete_video"],
    "people.js": ["profile_by_handle", "profile", "creator_videos", "followers", "following",
                  "unfollow", "block", "hashtag", "search", "trending_tags", "update_profile",
                  "tips_received"],
    "comments.js": ["comments", "replies", "comment", "like_comment", "unlike_comment",
                    "delete_comment"],
    "wallet.js": ["tip"],
    "moderation.js": ["i_am_moderator", "moderation_queue", "moderate", "video"],
}


@pytest.mark.parametrize("script", sorted(CALLS))
def test_the_page_calls_the_canisters_methods(script: str) -> None:
    text = (SCRIPTS_DIR / script).read_text(encoding="utf-8")
    for method in CALLS[script]:
        assert f"api.{method}(" in text, method
    if not views.DID_PATH.is_file():
        pytest.skip("apps/video/video.did is not built yet")
    did = views.DID_PATH.read_text(encoding="utf-8")
    for method in CALLS[script]:
        assert re.search(rf"^\s*{method} ?: ", did, re.MULTILINE), method


@pytest.mark.parametrize("path", [
    "video/video.js", "video/reels.js", "video/upload.js", "video/video.css",
    "icframework/ic.js",
])
def test_static_files_are_served_without_collectstatic(path: str) -> None:
    pages.assert_static_served(path)


def test_the_page_signs_with_the_framework_bundle() -> None:
    assert "from '../icframework/ic.js';" in (SCRIPTS_DIR / "video.js").read_text()


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS_DIR.glob("*.js")))
def test_the_page_builds_the_dom_without_parsing_html(script: str) -> None:
    text = (SCRIPTS_DIR / script).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in text, sink


def test_only_the_next_video_is_preloaded_and_the_source_follows_the_width() -> None:
    """What reels.js promises about loading: `preload="auto"` is set for the next element
    only, new elements start at "none", and 360p is picked at <= 480 px."""
    text = (SCRIPTS_DIR / "reels.js").read_text(encoding="utf-8")
    assert "preload: 'none'" in text
    assert "if (reel === next) other.preload = 'auto';" in text
    assert "const NARROW_PX = 480;" in text
    assert "window.innerWidth <= NARROW_PX" in text
