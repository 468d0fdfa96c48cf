"""``manage.py chat`` takes the network as every command does: ``--network``, the
environment, the project setting; ``--url`` is its deprecated name."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

NO_CHAT = "no chat canister is recorded in .icframework/canister_ids.json"


@pytest.fixture(autouse=True)
def project(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.BASE_DIR = tmp_path
    monkeypatch.delenv("ICFRAMEWORK_NETWORK", raising=False)


def chat(*args: str) -> str:
    err = StringIO()
    call_command("chat", "--room", "general", *args, stdout=StringIO(), stderr=err)
    return err.getvalue()


def test_network_is_the_option_name(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(CommandError, match=r"^--network 'somewhere' is neither 'local'"):
        chat("--network", "somewhere")
    monkeypatch.setenv("ICFRAMEWORK_NETWORK", "elsewhere")
    with pytest.raises(CommandError, match=r"^ICFRAMEWORK_NETWORK 'elsewhere' is neither"):
        chat()
    with pytest.raises(CommandError, match=NO_CHAT):
        chat("--network", "http://127.0.0.1:8000")
    monkeypatch.delenv("ICFRAMEWORK_NETWORK")
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "NETWORK": "staging"}
    with pytest.raises(CommandError, match=r"^ICFRAMEWORK\['NETWORK'\] 'staging' is neither"):
        chat()


def test_url_is_a_deprecated_alias() -> None:
    err = StringIO()
    with pytest.raises(CommandError, match=NO_CHAT):
        call_command("chat", "--room", "general", "--url", "http://127.0.0.1:8000",
                     stdout=StringIO(), stderr=err)
    assert err.getvalue() == "Note: --url is deprecated; use --network, as every command does\n"
    with pytest.raises(CommandError, match=r"^pass --network only \(--url is its deprecated"):
        chat("--url", "local", "--network", "local")
