"""``manage.py replica``: create, install, call and inspect through the command line."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.replica.wat_counter import counter_wasm


def run(*args: str) -> str:
    out = StringIO()
    call_command("replica", *args, stdout=out)
    return out.getvalue().strip()


def test_create_install_call_status(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    canister = run(*state, "create")
    wasm = tmp_path / "counter.wasm"
    wasm.write_bytes(counter_wasm())
    assert "done" in run(*state, "install", canister, str(wasm))
    assert run(*state, "call", canister, "inc") == "(1 : nat64)"
    assert run(*state, "call", canister, "get", "--query") == "(1 : nat64)"
    status = run(*state, "status", canister)
    assert "status       running" in status
    assert "controllers  2vxsx-fae" in status
    info = run(*state, "info")
    assert canister in info and "running" in info


def test_errors_are_command_errors(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    canister = run(*state, "create")
    with pytest.raises(CommandError, match=r"rejected \(IC0537\)"):
        run(*state, "call", canister, "inc")
    with pytest.raises(CommandError, match="too short to hold its 4-byte checksum"):
        run(*state, "call", "aaaa", "inc")
    with pytest.raises(CommandError, match="no module file"):
        run(*state, "install", canister, str(tmp_path / "missing.wasm"))
    with pytest.raises(CommandError, match="line 1"):
        run(*state, "call", canister, "inc", "(1 +)")
