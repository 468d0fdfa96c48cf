"""The social page's server side: which canister the page is given, the interface it reads,
its static files and its security headers (Django test client; the browser side is
test_browser.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings

from apps.social import views
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests import pages

APP_DIR = Path(__file__).resolve().parents[1]
RECORDED = "bkyz2-fmaaa-aaaaa-qaaaq-cai"
SCRIPTS = [
    '<script src="/static/icframework/shell.js">',
    '<script id="social-config" type="application/json">',
    '<script type="module" src="/static/social/social.js">',
]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project directory whose deploy record the page reads."""
    with override_settings(BASE_DIR=tmp_path, ICFRAMEWORK={"STATE_DIR": str(tmp_path / "state")}):
        yield tmp_path


def record(project: Path, entry: object) -> None:
    pages.record(project, "social", entry)


@pytest.fixture
def service(project: Path) -> Iterator[ReplicaService]:
    running = start_service(project / "state")
    yield running
    stop_service()


def page_config(html: str) -> object:
    return pages.page_config(html, "social")


def test_without_a_deploy_record_the_page_says_how_to_deploy(project: Path) -> None:
    pages.assert_says_how_to_deploy(project, "social")


@pytest.mark.parametrize("entry", [RECORDED, {"local": RECORDED, "ic": "aaaaa-aa"}])
def test_the_page_gets_the_recorded_canister_on_the_shell(project: Path, entry: object) -> None:
    record(project, entry)
    html = Client().get("/social/").content.decode()
    assert page_config(html) == {
        "canisterId": RECORDED,
        "canisterOrigin": f"http://{RECORDED}.localhost",
        "host": "http://testserver",
        "didUrl": "/social/social.did",
        "chatUrl": "/chat/",
    }
    assert 'class="shell-header"' in html and 'class="shell-nav"' in html
    assert 'href="/static/icframework/design.css"' in html
    assert 'href="/static/social/social.css"' in html
    assert 'id="signup-form"' in html
    assert "not deployed" not in html


def test_a_record_this_replica_does_not_run_is_not_used(
    project: Path, service: ReplicaService
) -> None:
    pages.assert_absent_record_not_used(project, "social", RECORDED)


def test_the_page_runs_only_its_own_scripts_and_shows_canister_images_only(
        project: Path) -> None:
    record(project, RECORDED)
    response = Client().get("/social/")
    pages.assert_runs_only(response, SCRIPTS)
    policy = response["Content-Security-Policy"]
    assert "style-src 'self';" in policy
    assert f"img-src 'self' data: blob: http://{RECORDED}.localhost;" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_page_has_no_inline_handlers_or_styles(project: Path) -> None:
    """The CSP allows no inline script or style: every control is wired up by social.js."""
    record(project, RECORDED)
    html = Client().get("/social/").content.decode()
    pages.assert_no_inline_code(html, (
        "signup-form", "composer", "posts", "profile-editor", "request-form", "incoming",
        "pymk", "connections", "job-search", "job-list", "org-form", "group-form",
        "notification-list", "unread", "search-form", "moderation", "report-list",
        "reports-empty", "reports-more", "blocked", "blocked-empty", "ask-recommendation-form",
        "requested-recommendations", "asked-recommendations",
    ))


def test_the_moderation_tab_starts_hidden_and_shows_each_report_status(project: Path) -> None:
    """social.js shows the tab once ``is_moderator()`` answers true; the queue filters by
    the three `ReportStatus` values."""
    record(project, RECORDED)
    html = Client().get("/social/").content.decode()
    tab = re.search(r'<button[^>]*id="moderation-tab"[^>]*>', html)
    assert tab and " hidden" in tab[0] and 'data-view="moderation"' in tab[0]
    assert re.findall(r'data-report-status="([a-z]+)"', html) == ["open", "resolved", "dismissed"]
    section = re.search(r'<section id="moderation"[^>]*>', html)
    assert section and " hidden" in section[0]


# The canister methods the page's newer controls call, each with the module that calls it.
CALLS = {
    "moderation.js": ["is_moderator", "report_queue", "resolve_report", "delete_post",
                      "delete_comment", "comment_post", "people_cards"],
    "people.js": ["unblock", "blocked", "request_recommendation", "write_recommendation",
                  "decline_recommendation", "revoke_attestation", "endorsers"],
    "feed.js": ["edit_comment"],
    "work.js": ["withdraw_application", "set_job_open"],
}


@pytest.mark.parametrize("script", sorted(CALLS))
def test_the_page_calls_the_canisters_moderation_and_management_methods(script: str) -> None:
    text = (SCRIPTS_DIR / script).read_text(encoding="utf-8")
    did = (APP_DIR / "social.did").read_text(encoding="utf-8")
    for method in CALLS[script]:
        assert f"this.api.{method}(" in text, method
        assert f"  {method} : (" in did, method


def test_the_interface_is_the_apps_did(project: Path) -> None:
    response = Client().get("/social/social.did")
    if not views.DID_PATH.is_file():
        pytest.skip("apps/social/social.did is not built yet")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert b"".join(response.streaming_content) == (APP_DIR / "social.did").read_bytes()


def test_an_unbuilt_interface_is_a_404_that_says_how_to_build_it(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "DID_PATH", project / "social.did")
    response = Client().get("/social/social.did")
    assert response.status_code == 404
    assert response.content.decode() == (
        "the social canister's interface is not built yet: run "
        "`python manage.py build social` to write social.did\n")


@pytest.mark.parametrize("path", [
    "social/social.js", "social/social.css", "icframework/certified.js", "icframework/ic.js",
])
def test_static_files_are_served_without_collectstatic(path: str) -> None:
    pages.assert_static_served(path)


SCRIPTS_DIR = APP_DIR / "static" / "social"


def test_the_page_signs_with_the_bundle_and_verifies_with_the_framework_module() -> None:
    assert "from '../icframework/ic.js';" in (SCRIPTS_DIR / "social.js").read_text()
    assert "from '../icframework/certified.js';" in (SCRIPTS_DIR / "attest.js").read_text()


@pytest.mark.parametrize("script", sorted(p.name for p in SCRIPTS_DIR.glob("*.js")))
def test_the_page_builds_the_dom_without_parsing_html(script: str) -> None:
    text = (SCRIPTS_DIR / script).read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in text, sink
