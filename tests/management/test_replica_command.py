"""``manage.py replica``: create, install, call and inspect through the command line."""

from __future__ import annotations

import hashlib
from argparse import ArgumentParser, _SubParsersAction
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from icframework.agent import IdentityStore
from icframework.core import ErrorCode, Principal
from icframework.deployments import NETWORKS, save_canister_id
from icframework.replica.admin import admin_identity
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
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
    admin = admin_identity(tmp_path / "state").principal
    assert f"controllers  {admin.to_text()}" in status
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


def run_with_stderr(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("replica", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def test_the_default_sender_is_the_state_directorys_admin(tmp_path: Path) -> None:
    """Before: canisters made here were controlled by the anonymous principal, so anyone
    could stop, reinstall or delete them once a replica served the directory."""
    directory = tmp_path / "state"
    state = ["--state-dir", str(directory)]
    canister, warning = run_with_stderr(*state, "create")
    assert warning == ""
    admin = admin_identity(directory).principal
    assert (directory / "admin.pem").stat().st_mode & 0o777 == 0o600
    assert f"controllers  {admin.to_text()}" in run(*state, "status", canister)
    wasm = tmp_path / "counter.wasm"
    wasm.write_bytes(counter_wasm())
    anonymous = ["--sender", "2vxsx-fae"]
    with pytest.raises(CommandError, match=r"rejected \(IC0512\): Only controllers of canister "):
        run(*state, *anonymous, "install", canister, str(wasm))
    with Replica.open(directory) as replica:
        with pytest.raises(CanisterError) as info:
            replica.stop_canister(Principal.from_text(canister))
        assert info.value.error_code is ErrorCode.CANISTER_INVALID_CONTROLLER
        replica.stop_canister(Principal.from_text(canister), sender=admin)


def test_an_explicit_sender_is_kept(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    chosen = Principal.self_authenticating(b"chosen key").to_text()
    canister, warning = run_with_stderr(*state, "--sender", chosen, "create")
    assert warning == ""
    assert f"controllers  {chosen}" in run(*state, "--sender", chosen, "status", canister)


def test_acting_as_anonymous_is_warned(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    state = ["--state-dir", str(directory), "--sender", "2vxsx-fae"]
    fix = (f"leave out --sender to act as this state directory's admin "
           f"({directory / 'admin.pem'})")
    canister, warning = run_with_stderr(*state, "create")
    assert warning == (
        "Warning: the anonymous principal 2vxsx-fae controls the new canister, and anyone can "
        "call as it, so anyone can stop, upgrade, reinstall or delete what it controls. "
        f"Unless that is what you want, {fix}.")
    wasm = tmp_path / "counter.wasm"
    wasm.write_bytes(counter_wasm())
    done, warning = run_with_stderr(*state, "install", canister, str(wasm))
    assert "done" in done
    assert warning == (
        f"Warning: the anonymous principal 2vxsx-fae controls canister {canister}, and anyone "
        "can call as it, so anyone can stop, upgrade, reinstall or delete what it controls. "
        f"Unless that is what you want, {fix}.")
    assert run_with_stderr(*state, "call", canister, "inc") == ("(1 : nat64)", "")


def test_an_admin_key_others_can_read_is_a_command_error(tmp_path: Path) -> None:
    directory = tmp_path / "state"
    admin_identity(directory)
    (directory / "admin.pem").chmod(0o644)
    with pytest.raises(CommandError, match=r"admin.pem holds the demo canisters' admin key but "
                                           r"other users may read or change it \(mode 644\); "
                                           r"run: chmod 600 "):
        run("--state-dir", str(directory), "create")


def test_names_identities_and_sender_after_the_action(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a recorded name was a checksum error, ``--sender`` had to come before the
    action and took principals only."""
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    alice = IdentityStore().new("alice").principal
    state = ["--state-dir", str(tmp_path / "state")]
    canister = run(*state, "create", "--sender", "alice")
    save_canister_id("counter", Principal.from_text(canister), NETWORKS["local"])
    wasm = tmp_path / "counter.wasm"
    wasm.write_bytes(counter_wasm())
    assert "done" in run(*state, "install", "counter", str(wasm), "--sender", "alice")
    assert run(*state, "call", "counter", "inc") == "(1 : nat64)"
    status = run(*state, "status", "counter", "--sender", alice.to_text())
    assert f"controllers  {alice.to_text()}" in status
    assert f"module_hash  0x{hashlib.sha256(counter_wasm()).hexdigest()}" in status
    assert f"module 0x{hashlib.sha256(counter_wasm()).hexdigest()}" in run(*state, "info")
    with pytest.raises(CommandError, match=r"rejected \(IC0512\)"):
        run(*state, "status", "counter")  # the admin does not control it
    with pytest.raises(CommandError) as unknown:
        run(*state, "status", "counter", "--sender", "mallory")
    assert str(unknown.value).startswith(
        "--sender 'mallory' is neither a principal (principal 'mallory': ")
    assert "nor an identity: no identity named 'mallory'" in str(unknown.value)
    with pytest.raises(CommandError, match="'nameless' is neither a canister id nor a "
                                           "canister name in "):
        run(*state, "status", "nameless")


def test_every_argument_has_help() -> None:
    """Before: ``replica install CANISTER``, ``call METHOD`` and others had none."""
    missing = []
    for name in ("replica", "canister", "call", "deploy", "identity", "chat"):
        parser = load_command_class(app_of(name), name).create_parser("manage.py", name)
        for sub in [parser, *subparsers(parser)]:
            missing += [f"{sub.prog} {a.dest}" for a in sub._actions
                        if not a.help and not isinstance(a, _SubParsersAction)]
    assert missing == []


def app_of(command: str) -> str:
    return "apps.chat" if command == "chat" else "icframework"


def subparsers(parser: ArgumentParser) -> list[ArgumentParser]:
    return [choice for action in parser._actions if isinstance(action, _SubParsersAction)
            for choice in action.choices.values()]
