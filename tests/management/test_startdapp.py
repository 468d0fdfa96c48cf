"""``manage.py startdapp``: names that would clash are refused with the fix, and the app it
writes has a page the project discovers (served at ``/<name>/``) that keeps the pages'
security rules (no inline script or style) and uses the shared design system."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from config.settings import discover_apps


@pytest.fixture
def project(tmp_path: Path, settings: Settings) -> Path:
    settings.BASE_DIR = tmp_path
    return tmp_path


def startdapp(*args: str) -> str:
    out = StringIO()
    call_command("startdapp", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("__init__", "'__init__' is not a valid app name: names starting with an underscore"),
        ("os", "'os' is the name of a standard-library module"),
        ("tests", "'tests' is taken by the project"),
        ("channels", "'channels' is taken by the project ('channels'"),
        ("Icframework", "'Icframework' is taken by the project ('icframework'"),
        ("chat", "'chat' is taken by the project ('chat'"),
        ("staticfiles", "'staticfiles' is taken by the project"),
        ("my-app", "'my-app' is not a valid app name: use a Python identifier such as 'my_app'"),
    ],
)
def test_clashing_names_are_refused_naming_the_fix(project: Path, name: str,
                                                   message: str) -> None:
    with pytest.raises(CommandError, match=re.escape(message)) as refused:
        startdapp(name, "--template", "counter")
    assert "choose" in str(refused.value) or "such as" in str(refused.value)
    assert not (project / "apps" / name).exists()


def test_the_scaffolded_page_is_discovered_and_follows_the_page_rules(project: Path) -> None:
    out = startdapp("hello", "--template", "counter")
    assert "  page:   /hello/ on the replica (restart runreplica to serve it)" in out
    app = project / "apps" / "hello"
    assert discover_apps(project / "apps") == ["apps.hello"]
    assert "path(\"\", views.index" in (app / "urls.py").read_text()
    for template in ("counter", "ledger"):
        if template == "ledger":
            startdapp("coins", "--template", "ledger")
            app = project / "apps" / "coins"
        page = (app / "templates" / app.name / "index.html").read_text()
        assert page.startswith('{% extends "icframework/base.html" %}')
        assert "{% block content %}" in page
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", page, re.IGNORECASE), page
    assert discover_apps(project / "apps") == ["apps.coins", "apps.hello"]
    (project / "apps" / "notes").mkdir()  # a directory that is no app package
    (project / "apps" / "not-a-name").mkdir()
    assert discover_apps(project / "apps") == ["apps.coins", "apps.hello"]
