"""``manage.py canister create|install`` and ``deploy`` warn when what they make is
controlled by the anonymous principal, which anyone can call as; real identities, and
controllers lists without it, get no warning."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings

from icframework.agent import Agent, ManagementCanister
from icframework.agent.identities import IdentityStore
from icframework.core import Principal
from icframework.management.commands.canister import anonymous_warning
from tests.replica.wat_counter import counter_wasm

ANONYMOUS = Principal.anonymous()


@pytest.fixture
def project(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    (tmp_path / "counter.wasm").write_bytes(counter_wasm())
    return tmp_path


def run(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


def controllers(url: str, canister: str) -> list[Principal]:
    management = ManagementCanister(Agent(url, identity=IdentityStore().get_identity(),
                                          fetch_root_key=True))
    return list(management.canister_status(Principal.from_text(canister)).controllers)


def test_the_warning_names_the_danger_and_the_fix() -> None:
    assert anonymous_warning("canister x") == (
        "Warning: the anonymous principal 2vxsx-fae controls canister x, and anyone can call "
        "as it, so anyone can stop, upgrade, reinstall or delete what it controls. Unless "
        "that is what you want, sign with a real identity (--identity NAME, or `manage.py "
        "identity use default`).")


def test_create_and_install_as_anonymous_warn(project: Path, replica_url: str) -> None:
    net = ["--network", replica_url, "--identity", "anonymous"]
    out, err = run("canister", "create", "open", *net)
    canister = out.rsplit(" ", 1)[1]
    assert err == anonymous_warning("the new canister")
    out, err = run("canister", "install", "open", "--wasm", str(project / "counter.wasm"), *net)
    assert out.startswith("Installed counter.wasm")
    assert err == anonymous_warning(f"canister {canister}")
    status, _ = run("canister", "status", "open", *net)
    assert f"Controllers:        {ANONYMOUS.to_text()}" in status


def test_an_explicit_anonymous_controller_warns(project: Path, replica_url: str) -> None:
    me = IdentityStore().get_identity().principal.to_text()
    net = ["--network", replica_url]
    _out, err = run("canister", "create", "--controller", me, "--controller", "2vxsx-fae", *net)
    assert err == anonymous_warning("the new canister", "leave it out of --controller")


def test_real_identities_are_not_warned(project: Path, replica_url: str) -> None:
    net = ["--network", replica_url]
    out, err = run("canister", "create", "mine", *net)
    assert err == ""
    _out, err = run("canister", "install", "mine", "--wasm", str(project / "counter.wasm"), *net)
    assert err == ""
    me = IdentityStore().get_identity().principal
    assert controllers(replica_url, out.rsplit(" ", 1)[1]) == [me]
    _out, err = run("canister", "create", "--controller", me.to_text(), "--network",
                    replica_url, "--identity", "anonymous")
    assert err == ""


def test_deploy_as_anonymous_warns(project: Path, replica_url: str) -> None:
    run("startdapp", "counter", "--template", "counter")
    out, err = run("deploy", "counter", "--network", replica_url, "--identity", "anonymous")
    assert "counter: canister " in out
    assert err.splitlines()[0] == anonymous_warning("the canisters this deploys")
