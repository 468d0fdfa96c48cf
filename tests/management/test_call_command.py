"""``manage.py call`` against a live ``runreplica``: typed by .did, by metadata, or by the wire."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from icframework.agent import Agent, ManagementCanister
from icframework.identity import Ed25519Identity
from tests.replica.corpus import motoko_wasm
from tests.replica.wat_counter import counter_wasm

WAT_DID = "service : { inc : () -> (nat64); get : () -> (nat64) query; refuse : () -> () }"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def canisters(replica_url: str, home: Path) -> dict[str, str]:
    """A WAT and a Motoko counter controlled by the 'default' identity of ``home``."""
    key = Ed25519Identity.generate()
    pem = home / "identity" / "default" / "identity.pem"
    pem.parent.mkdir(parents=True)
    pem.write_text(key.to_pem())
    management = ManagementCanister(Agent(replica_url, identity=key, fetch_root_key=True))
    ids = {}
    for name, wasm in (("wat", counter_wasm()), ("motoko", motoko_wasm("counter"))):
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, wasm)
        ids[name] = canister.to_text()
    return ids


@pytest.fixture
def project(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, home: Path
) -> Path:
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(home))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    return tmp_path


def call(*args: str) -> str:
    out = StringIO()
    call_command("call", *args, stdout=out)
    return out.getvalue().strip()


def test_typed_by_canister_metadata(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    motoko = canisters["motoko"]
    assert call(motoko, "add", "(5)", "--network", replica_url) == "(5 : nat)"
    assert call(motoko, "get", "--network", replica_url) == "(5 : nat)"


def test_typed_by_did_file_and_named(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    did = project / "counter.did"
    did.write_text(WAT_DID)
    ids = project / ".icframework" / "canister_ids.json"
    ids.parent.mkdir()
    ids.write_text(json.dumps({"counter": {"local": canisters["wat"]}}))
    net = ["--network", replica_url, "--candid", str(did)]
    first = call("counter", "inc", *net)
    assert first.endswith(" : nat64)")
    assert call("counter", "get", *net) == first
    with pytest.raises(
        CommandError, match=rf"{canisters['wat']}\.refuse was rejected \(reject code 4, IC0406\)"
    ):
        call("counter", "refuse", *net)


def test_a_did_file_with_imports_relative_to_it(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    # Real-world .did files import others relative to themselves (OpenChat's can.did).
    (project / "types").mkdir()
    (project / "types" / "count.did").write_text("type Count = nat64;")
    did = project / "api" / "counter.did"
    did.parent.mkdir()
    did.write_text('import "../types/count.did";\n'
                   "service : { inc : () -> (Count); get : () -> (Count) query }")
    first = call(canisters["wat"], "inc", "--network", replica_url, "--candid", str(did))
    assert first.endswith(" : nat64)")


def test_wire_types_without_interface(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    wat = canisters["wat"]
    before = call(wat, "get", "--query", "--network", replica_url)
    assert before.endswith(" : nat64)")
    with pytest.raises(
        CommandError, match=rf"{wat}\.refuse was rejected \(reject code 4, IC0406\): no thanks"
    ):
        call(wat, "refuse", "--network", replica_url)


def test_management_canister_routing(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    wat = canisters["wat"]
    status = call(
        "aaaaa-aa",
        "canister_status",
        f'(record {{ canister_id = principal "{wat}" }})',
        "--network",
        replica_url,
    )
    assert status.startswith("(record {") and "variant {" in status


def test_argument_and_candid_errors(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    motoko = canisters["motoko"]
    with pytest.raises(CommandError, match=rf"{motoko}\.add: .*line 1"):
        call(motoko, "add", '("five")', "--network", replica_url)
    with pytest.raises(CommandError, match="cannot read"):
        call(motoko, "add", "--candid", str(project / "none.did"), "--network", replica_url)
    with pytest.raises(CommandError, match="no identity named 'ghost'"):
        call(motoko, "get", "--identity", "ghost", "--network", replica_url)


def test_surplus_arguments_are_refused(
    project: Path, replica_url: str, canisters: dict[str, str]
) -> None:
    """Before: ``call counter inc '(5)'`` dropped the 5 and incremented by one."""
    did = project / "counter.did"
    did.write_text(WAT_DID)
    net = ["--network", replica_url]
    before = call(canisters["wat"], "get", "--candid", str(did), *net)
    with pytest.raises(CommandError) as none:
        call(canisters["wat"], "inc", "(5)", "--candid", str(did), *net)
    assert str(none.value) == "inc takes no arguments, but '(5)' gives 1; call it with '()'"
    assert call(canisters["wat"], "get", "--candid", str(did), *net) == before
    motoko = canisters["motoko"]
    with pytest.raises(CommandError) as one:
        call(motoko, "add", '(5, record { a = 1; b = vec { 1; 2 } }, "x",)', *net)
    assert str(one.value) == (
        "add takes 1 argument, (nat), but '(5, record { a = 1; b = vec { 1; 2 } }, \"x\",)' "
        "gives 3; drop the extra values"
    )
    assert call(motoko, "add", "(0,)", *net).endswith(" : nat)")


def test_the_network_from_the_environment_or_the_project(
    project: Path, replica_url: str, canisters: dict[str, str], settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Before: a replica on any port but 4943 needed --network on every command."""
    motoko = canisters["motoko"]
    monkeypatch.setenv("ICFRAMEWORK_NETWORK", replica_url)
    assert call(motoko, "get").endswith(" : nat)")
    monkeypatch.delenv("ICFRAMEWORK_NETWORK")
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "NETWORK": replica_url}
    assert call(motoko, "get").endswith(" : nat)")
    with pytest.raises(CommandError, match=r"cannot reach the replica at http://127\.0\.0\.1:9/"):
        call(motoko, "get", "--network", "http://127.0.0.1:9")
