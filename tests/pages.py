"""The server-side checks every dapp page shares (Django test client): the deploy record
it reads, the config it hands its script, and markup a strict CSP lets run.

A page lives at ``/<app>/``, reads ``.icframework/canister_ids.json`` under ``BASE_DIR``
and embeds its config as ``<script id="<app>-config" type="application/json">``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

from django.test import Client


def record(project: Path, app: str, entry: object) -> None:
    """Write ``entry`` as the deploy record of canister ``app`` in ``project``."""
    ids = project / ".icframework" / "canister_ids.json"
    ids.parent.mkdir(parents=True, exist_ok=True)
    ids.write_text(json.dumps({app: entry}), encoding="utf-8")


def page_config(html: str, app: str) -> object:
    """The JSON config the page of ``app`` embeds (``None`` when it has no canister)."""
    found = re.search(
        rf'<script id="{app}-config" type="application/json">(.*?)</script>', html)
    assert found, html
    return json.loads(found[1])


def assert_says_how_to_deploy(project: Path, app: str) -> None:
    """With no deploy record, the page has no canister and tells how to deploy one."""
    response = Client().get(f"/{app}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert page_config(html, app) is None
    assert f"The {app} canister is not deployed" in html
    assert f"{project / '.icframework' / 'canister_ids.json'} records no canister named" in html
    assert f"<code>python manage.py deploy {app}</code>" in html


def assert_absent_record_not_used(project: Path, app: str, canister: str) -> None:
    """A recorded ``canister`` the running replica does not have is not given to the page."""
    record(project, app, canister)
    html = Client().get(f"/{app}/").content.decode()
    assert page_config(html, app) is None
    assert f"the recorded {app} canister {canister} is not installed on this replica" in html


def assert_runs_only(response: object, scripts: list[str], connect_too: str = "") -> None:
    """The page's CSP runs only its own scripts, and ``scripts`` are its script tags;
    it connects to this server and to ``connect_too`` only."""
    policy = response["Content-Security-Policy"]  # type: ignore[index]
    assert "script-src 'self';" in policy
    extra = f" {connect_too}" if connect_too else ""
    assert f"connect-src 'self' ws://testserver wss://testserver{extra};" in policy
    assert "object-src 'none'" in policy
    html = response.content.decode()  # type: ignore[attr-defined]
    assert re.findall(r"<script\b[^>]*>", html) == scripts


def assert_no_inline_code(html: str, controls: Iterable[str]) -> None:
    """No inline handler, style or ``javascript:`` URL (the CSP allows none): each of
    ``controls`` (element ids) is there for the page's script to wire up."""
    assert re.findall(r"<[^>]*\son[a-z]+\s*=", html) == []
    assert " style=" not in html
    assert "<style" not in html
    assert "javascript:" not in html
    for control in controls:
        assert f'id="{control}"' in html, control


def assert_static_served(path: str) -> None:
    """``/static/<path>`` is served (no collectstatic) as a script or a stylesheet."""
    response = Client().get(f"/static/{path}")
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] in (
        "text/javascript", "application/javascript", "text/css",
    )
