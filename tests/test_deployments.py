"""`icframework.deployments`: the network commands talk to, the record, hashes, upgrades."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from icframework.agent import DEFAULT_URL, MAINNET_URL
from icframework.candid import parse_did
from icframework.core import Principal
from icframework.deployments import (
    NetworkError,
    breaking_changes,
    forget_canister,
    format_module_hash,
    module_hash,
    network_url,
    recorded_id,
    save_canister_id,
)

A = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
B = Principal.from_text("bd3sg-teaaa-aaaaa-qaaba-cai")


def test_the_option_then_the_environment_then_the_setting(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ICFRAMEWORK_NETWORK", raising=False)
    assert network_url() == DEFAULT_URL == "http://127.0.0.1:4943"
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "NETWORK": "http://127.0.0.1:8000/"}
    assert network_url() == "http://127.0.0.1:8000"
    monkeypatch.setenv("ICFRAMEWORK_NETWORK", "ic")
    assert network_url() == MAINNET_URL
    assert network_url("local") == DEFAULT_URL
    assert network_url("https://example.org") == "https://example.org"


def test_a_bad_network_names_where_it_came_from(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix = ("is neither 'local', 'ic' nor an http(s):// URL (e.g. --network "
           "http://127.0.0.1:8000 for a replica on port 8000)")
    with pytest.raises(NetworkError) as option:
        network_url("somewhere")
    assert str(option.value) == f"--network 'somewhere' {fix}"
    monkeypatch.setenv("ICFRAMEWORK_NETWORK", "127.0.0.1:8000")
    with pytest.raises(NetworkError) as variable:
        network_url()
    assert str(variable.value) == f"ICFRAMEWORK_NETWORK '127.0.0.1:8000' {fix}"
    monkeypatch.delenv("ICFRAMEWORK_NETWORK")
    settings.ICFRAMEWORK = {**settings.ICFRAMEWORK, "NETWORK": "staging"}
    with pytest.raises(NetworkError) as setting:
        network_url()
    assert str(setting.value) == f"ICFRAMEWORK['NETWORK'] 'staging' {fix}"


def test_forget_drops_every_name_of_the_canister_on_its_network(
    tmp_path: Path, settings: Settings
) -> None:
    settings.BASE_DIR = tmp_path
    save_canister_id("one", A, DEFAULT_URL)
    save_canister_id("two", A, DEFAULT_URL)
    save_canister_id("other", B, DEFAULT_URL)
    record = tmp_path / ".icframework" / "canister_ids.json"
    ids = json.loads(record.read_text())
    ids["both"] = {"local": A.to_text(), "ic": B.to_text()}
    record.write_text(json.dumps(ids))
    assert forget_canister(A, DEFAULT_URL) == ["both", "one", "two"]
    assert json.loads(record.read_text()) == {"both": {"ic": B.to_text()},
                                              "other": B.to_text()}
    assert forget_canister(A, DEFAULT_URL) == []


def test_a_plain_recorded_id_is_the_local_networks_never_mainnets(
    tmp_path: Path, settings: Settings
) -> None:
    """A mainnet deploy must not call a local canister's id on the IC: a plain entry is
    local only, and the first mainnet id turns the entry into a per-network one."""
    settings.BASE_DIR = tmp_path
    save_canister_id("app", A, DEFAULT_URL)
    assert recorded_id("app", DEFAULT_URL) == A
    assert recorded_id("app", MAINNET_URL) is None
    assert forget_canister(A, MAINNET_URL) == []
    save_canister_id("app", B, MAINNET_URL)
    record = tmp_path / ".icframework" / "canister_ids.json"
    assert json.loads(record.read_text()) == {"app": {"local": A.to_text(), "ic": B.to_text()}}
    assert (recorded_id("app", DEFAULT_URL), recorded_id("app", MAINNET_URL)) == (A, B)
    save_canister_id("app", B, DEFAULT_URL)
    assert json.loads(record.read_text()) == {"app": {"local": B.to_text(), "ic": B.to_text()}}


def test_one_module_hash() -> None:
    wasm = b"\x00asm\x01\x00\x00\x00"
    assert module_hash(wasm) == hashlib.sha256(wasm).digest()
    assert format_module_hash(module_hash(wasm)) == "0x" + hashlib.sha256(wasm).hexdigest()
    assert format_module_hash(None) == "none (empty canister)"


OLD = """type Item = record { id : nat; name : text };
service : {
  get : (nat) -> (opt Item) query;
  put : (Item) -> ();
  count : () -> (nat) query;
  increment : () -> (nat);
}"""


@pytest.mark.parametrize(("new", "changes"), [
    # safe: added methods, optional new arguments and results, a wider argument (nat <: int)
    ("type Item = record { id : nat; name : text; tag : opt text };"
     "service : { get : (int, opt bool) -> (opt Item, opt text) query; put : (Item) -> ();"
     "count : () -> (nat) query; increment : () -> (nat); reset : () -> () }", []),
    ("type Item = record { id : nat; name : text }; service : { get : (nat) -> (opt Item) "
     "query; put : (Item) -> (); count : () -> (nat) query; increment : (nat) -> (nat) }",
     ["increment: () -> (nat) becomes (nat) -> (nat)"]),
    ("type Item = record { id : nat; name : text; price : nat }; service : { "
     "get : (nat) -> (opt Item) query; put : (Item) -> (); count : () -> (nat);"
     "increment : () -> (int) }",
     ["count: () -> (nat) query becomes () -> (nat)",
      "increment: () -> (nat) becomes () -> (int)",
      "put: (Item) -> (), a type it uses changed incompatibly"]),
    ("service : {}", ["count: removed", "get: removed", "increment: removed", "put: removed"]),
])
def test_breaking_changes_are_candid_subtyping_failures(new: str, changes: list[str]) -> None:
    assert breaking_changes(parse_did(OLD), parse_did(new)) == changes


def test_nothing_to_compare_without_a_service() -> None:
    assert breaking_changes(parse_did("type T = nat;"), parse_did("service : {}")) == []
