"""``manage.py canister`` against a live ``runreplica``: create, install, upgrade, status, …"""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from tests.replica.corpus import motoko_wasm
from tests.replica.wat_counter import counter_wasm


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


def run_with_stderr(command: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue().strip()


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
    assert status[2] == f"Module hash:        0x{hashlib.sha256(counter_wasm()).hexdigest()}"
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
    assert run("canister", "delete", "counter", *net) == (
        f"Deleted {canister} (its name counter is dropped from the record)"
    )
    assert json.loads((project / ".icframework" / "canister_ids.json").read_text()) == {}


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


def test_create_refuses_to_repoint_a_recorded_name(project: Path, replica_url: str) -> None:
    """Before: a second ``create counter`` recorded the new id, orphaning the first
    canister and its state."""
    net = ["--network", replica_url]
    first = run("canister", "create", "counter", *net).rsplit(" ", 1)[1]
    run("canister", "install", "counter", "--wasm", str(project / "counter.wasm"), *net)
    run("call", "counter", "inc", *net)
    with pytest.raises(CommandError) as refused:
        run("canister", "create", "counter", *net)
    assert str(refused.value) == (
        f"'counter' already names canister {first} on the local network; use it as it is, "
        "delete it first (`manage.py canister stop counter` then `manage.py canister delete "
        "counter`), or pass --force to record the new canister under this name (the old one "
        "keeps running, with its state, unnamed)"
    )
    assert run("canister", "id", "counter") == first
    assert run("call", "counter", "get", "--query", *net) == "(1 : nat64)"

    second = run("canister", "create", "counter", "--force", *net).rsplit(" ", 1)[1]
    assert second != first
    assert run("canister", "id", "counter") == second
    assert run("call", first, "get", "--query", *net) == "(1 : nat64)"  # kept, unnamed


def test_create_may_reuse_the_name_of_a_canister_that_is_gone(
    project: Path, replica_url: str
) -> None:
    net = ["--network", replica_url]
    gone = run("canister", "create", "scratch", *net).rsplit(" ", 1)[1]
    ids = project / ".icframework" / "canister_ids.json"
    run("canister", "stop", gone, *net)
    run("canister", "delete", gone, *net)
    assert json.loads(ids.read_text()) == {}
    ids.write_text(json.dumps({"scratch": {"local": gone}}))  # e.g. a record from before
    created, note = run_with_stderr("canister", "create", "scratch", *net)
    fresh = created.rsplit(" ", 1)[1]
    assert note == (f"Note: scratch recorded canister {gone}, which no longer exists on "
                    f"{replica_url}; recording the new canister instead.")
    assert json.loads(ids.read_text()) == {"scratch": {"local": fresh}}


KEPT = "inc : () -> (nat); version : () -> (nat64) query;"


def test_upgrade_checks_the_interface_by_candid_subtyping(
    project: Path, replica_url: str
) -> None:
    """Before: an upgrade to an interface that drops or retypes methods went through
    silently, breaking every caller."""
    net = ["--network", replica_url]
    canister = run("canister", "create", *net)
    wasm = ["--wasm", str(project / "motoko.wasm")]
    run("canister", "install", canister, *wasm, *net)
    run("call", canister, "add", "(5)", *net)
    safe = project / "safe.did"
    safe.write_text(f"service : {{ {KEPT} add : (nat, opt text) -> (nat); "
                    "get : () -> (nat) query; reset : () -> () }")
    assert run_with_stderr("canister", "upgrade", canister, *wasm, "--candid", str(safe),
                           *net)[1] == ""
    breaking = project / "breaking.did"
    breaking.write_text(f"service : {{ {KEPT} add : (text) -> (nat); get : () -> (int) }}")
    with pytest.raises(CommandError) as refused:
        run("canister", "upgrade", canister, *wasm, "--candid", str(breaking), *net)
    assert str(refused.value) == (
        f"upgrading {canister} would break callers of its current interface "
        "(add: (nat) -> (nat) becomes (text) -> (nat); get: () -> (nat) query becomes "
        "() -> (int)); keep the old methods' types (adding methods, optional arguments "
        "and results is safe), or pass --yes to upgrade anyway"
    )
    done, warning = run_with_stderr("canister", "upgrade", canister, *wasm, "--candid",
                                    str(breaking), "--yes", *net)
    assert done.startswith("Upgraded")
    assert warning.startswith(f"Warning: upgrading {canister} breaks callers of its current "
                              "interface (add: (nat) -> (nat) becomes (text) -> (nat);")
    assert run("call", canister, "get", *net) == "(5 : nat)"
