"""The chat page's server side: which canister the page is given, the interface it reads,
its static files and its security headers (Django test client; the browser side is
test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client, override_settings

from icframework.core import Principal
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests import pages

APP_DIR = Path(__file__).resolve().parents[1]
RECORDED = "bkyz2-fmaaa-aaaaa-qaaaq-cai"


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
    pages.record(project, "chat", entry)


def page_config(html: str) -> object:
    return pages.page_config(html, "chat")


def test_without_a_deploy_record_the_page_says_how_to_deploy(project: Path) -> None:
    pages.assert_says_how_to_deploy(project, "chat")


@pytest.mark.parametrize("entry", [RECORDED, {"local": RECORDED, "ic": "aaaaa-aa"}])
def test_the_page_gets_the_recorded_canister(project: Path, entry: object) -> None:
    record(project, entry)
    response = Client().get("/chat/")
    html = response.content.decode()
    origin = f"http://{RECORDED}.localhost"
    assert page_config(html) == {
        "canisterId": RECORDED,
        "canisterOrigin": origin,
        "host": "http://testserver",
        "didUrl": "/chat/chat.did",
    }
    policy = response["Content-Security-Policy"]
    assert f"img-src 'self' data: blob: {origin};" in policy
    assert f"media-src 'self' blob: {origin};" in policy
    assert 'id="register-form"' in html
    assert "not deployed" not in html


def test_a_record_this_replica_does_not_run_is_not_used(
    project: Path, service: ReplicaService
) -> None:
    pages.assert_absent_record_not_used(project, "chat", RECORDED)


def test_an_empty_canister_is_not_used(project: Path, service: ReplicaService) -> None:
    owner = Principal.self_authenticating(b"chat page test")
    canister = service.run(lambda replica: replica.create_canister(sender=owner))
    record(project, canister.to_text())
    html = Client().get("/chat/").content.decode()
    assert page_config(html) is None
    assert f"the recorded chat canister {canister.to_text()} is not installed" in html


def test_the_page_runs_only_its_own_scripts(project: Path) -> None:
    record(project, RECORDED)
    response = Client().get("/chat/")
    config = pages.page_config(response.content.decode(), "chat")
    assert isinstance(config, dict)
    origin = config["canisterOrigin"]
    pages.assert_runs_only(response, [
        '<script src="/static/icframework/shell.js">',
        '<script id="chat-config" type="application/json">',
        '<script type="module" src="/static/chat/chat.js">',
    ], connect_too=origin)  # sealed attachments are fetched to be decrypted


def test_the_interface_is_the_apps_did(project: Path) -> None:
    response = Client().get("/chat/chat.did")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"".join(response.streaming_content) == (APP_DIR / "chat.did").read_bytes()


@pytest.mark.parametrize("path", ["chat/chat.js", "chat/chat.css", "icframework/ic.js"])
def test_static_files_are_served_without_collectstatic(path: str) -> None:
    pages.assert_static_served(path)


def test_the_page_imports_the_bundle_it_is_served_with() -> None:
    script = (APP_DIR / "static" / "chat" / "chat.js").read_text(encoding="utf-8")
    assert "from '../icframework/ic.js';" in script
    assert "innerHTML" not in script
    assert "insertAdjacentHTML" not in script
    assert "document.write" not in script


def test_the_page_has_no_inline_handlers_or_styles(project: Path) -> None:
    """The CSP allows no inline script or style: every control is wired up by chat.js."""
    record(project, RECORDED)
    html = Client().get("/chat/").content.decode()
    pages.assert_no_inline_code(html, (
        "register-form", "create-room-form", "direct-form", "join-invite-form",
        "invite-preview", "search-form", "search-results", "pinned-list", "members",
        "add-members-form", "bans", "create-invite-form", "invites", "reports",
        "confirm-form", "compose",
    ))
