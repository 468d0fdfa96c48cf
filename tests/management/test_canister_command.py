"""``manage.py canister`` against a live ``runreplica``: create, install, upgrade, status, …"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from tests.agent.live_replica import running_replica
from tests.replica.corpus import motoko_wasm
from tests.replica.wat_counter import counter_wasm


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica") / "state") as url:
        yield url


@pytest.fixture
def project(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory and identity home for each test."""
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    (tmp_path / "counter.wasm").write_bytes(counter_wasm())
    (tmp_path / "motoko.wasm").write_bytes(motoko_wasm("counter"))
    return tmp_path


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().strip()


def test_life_cycle_by_name(project: Path, replica_url: str) -> None:
    net = ["--network", replica_url]
    created = run("canister", "create", "counter", *net)
    canister = created.rsplit(" ", 1)[1]
    assert created == f"Created canister counter with id {canister}"
    ids = json.loads((project / ".icframework" / "canister_ids.json").read_text())
    assert ids == {"counter": canister}
    assert run("canister", "id", "counter") == canister
    wasm = str(project / "counter.wasm")
    assert run("canister", "install", "counter", "--wasm", wasm, *net) == (
        f"Installed counter.wasm ({len(counter_wasm()):,} bytes) in {canister}"
    )
    assert run("call", "counter", "inc", *net) == "(1 : nat64)"
    status = run("canister", "status", "counter", *net).splitlines()
    assert status[0] == f"Canister:           {canister}"
    assert status[1] == "Status:             running"
    assert status[2].startswith("Module hash:        0x")
    assert run("canister", "reinstall", "counter", "--wasm", wasm, *net).startswith("Reinstalled")
    assert run("call", "counter", "get", "--query", *net) == "(0 : nat64)"
    topped = run("canister", "topup", "counter", "--cycles", "1000", *net)
    assert topped.startswith(f"Topped up {canister} by 1,000 cycles; balance ")
    assert run("canister", "stop", "counter", *net) == f"Stopped {canister}"
    with pytest.raises(
        CommandError, match=rf"{canister}\.inc was rejected \(reject code 5, IC0508"
    ):
        run("call", "counter", "inc", *net)
    assert run("canister", "start", "counter", *net) == f"Started {canister}"
    run("canister", "stop", "counter", *net)
    assert run("canister", "delete", "counter", *net) == f"Deleted {canister}"


def test_motoko_upgrade_keeps_state_and_types_replies(project: Path, replica_url: str) -> None:
    net = ["--network", replica_url]
    canister = run("canister", "create", *net)
    wasm = str(project / "motoko.wasm")
    run("canister", "install", canister, "--wasm", wasm, *net)
    assert run("call", canister, "add", "(5)", *net) == "(5 : nat)"
    assert run("canister", "upgrade", canister, "--wasm", wasm, *net).startswith("Upgraded")
    assert run("call", canister, "get", *net) == "(5 : nat)"
    replace = ["--wasm-memory-persistence", "replace"]
    with pytest.raises(
        CommandError,
        match=rf"aaaaa-aa\.install_code for canister {canister} was rejected \(reject code 5, "
        r"IC0504\): .* uses enhanced orthogonal persistence",
    ):
        run("canister", "upgrade", canister, "--wasm", wasm, *replace, *net)


def test_errors_name_canister_method_and_code(project: Path, replica_url: str) -> None:
    net = ["--network", replica_url]
    canister = run("canister", "create", *net)
    wasm = str(project / "counter.wasm")
    run("canister", "install", canister, "--wasm", wasm, *net)
    with pytest.raises(
        CommandError,
        match=rf"aaaaa-aa\.install_code for canister {canister} was rejected "
        r"\(reject code 5, IC0538",
    ):
        run("canister", "install", canister, "--wasm", wasm, *net)
    run("identity", "new", "stranger")
    with pytest.raises(CommandError, match=r"canister_status for canister .* IC0512"):
        run("canister", "status", canister, "--identity", "stranger", *net)
    with pytest.raises(CommandError, match="neither a canister id nor a canister name"):
        run("canister", "status", "nameless", *net)
    with pytest.raises(CommandError, match="no canister named 'nameless'"):
        run("canister", "id", "nameless")
    with pytest.raises(CommandError, match="cannot read module"):
        run("canister", "install", canister, "--wasm", str(project / "missing.wasm"), *net)
    with pytest.raises(CommandError, match="cannot reach the replica"):
        run("canister", "status", canister, "--network", "http://127.0.0.1:9")
    with pytest.raises(CommandError, match="neither 'local', 'ic' nor an http"):
        run("canister", "status", canister, "--network", "somewhere")
