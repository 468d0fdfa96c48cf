"""Dispatch with real Candid bytes, traps with file:line, guards, rejects, lifecycle, .did."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tests.sdk.sample_canister as sample
from icframework.candid import NAT64, TEXT, Opt, decode, encode, parse_did
from icframework.core import Principal
from icframework.sdk import (
    LocalBackend,
    LocalCanister,
    Reject,
    Rejected,
    Reply,
    Trapped,
    TypeHintError,
    ic,
    load_canister,
    service_did,
)
from icframework.sdk.methods import forget, query

GOLDEN = Path(__file__).parent / "golden" / "sample_canister.did"
ALICE = Principal.self_authenticating(b"alice")


@pytest.fixture
def canister(backend: LocalBackend) -> LocalCanister:
    c = LocalCanister(sample, backend=backend)
    c.install(ALICE, 5)
    return c


def test_golden_did() -> None:
    text = service_did("tests.sdk.sample_canister")
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()
    parse_did(text)  # and it is valid Candid


def test_did_is_deterministic() -> None:
    assert service_did(sample) == service_did(load_canister("tests.sdk.sample_canister"))


def test_raw_bytes_round_trip(canister: LocalCanister) -> None:
    outcome = canister.run("update", "set_note", encode([TEXT, TEXT], ["k", "hello"]))
    assert outcome == Reply(b"DIDL\x00\x00")
    outcome = canister.run("query", "get_note", encode([TEXT], ["k"]), commit=False)
    assert isinstance(outcome, Reply)
    assert decode(outcome.data, [Opt(TEXT)]) == ("hello",)
    outcome = canister.run("update", "increment", b"DIDL\x00\x00")
    assert isinstance(outcome, Reply) and decode(outcome.data, [NAT64]) == (6,)


def test_typed_calls(canister: LocalCanister) -> None:
    assert canister.update("increment") == 6
    assert canister.query("get_twice") == (6, 6)
    assert canister.query("echo_shape", sample.Circle(radius=2.0)) == sample.Circle(radius=2.0)
    assert canister.query("echo_shape", sample.Empty()) == sample.Empty()
    assert canister.query("echo_shape", sample.Square(3.0)) == sample.Square(3.0)
    tree = sample.Tree(1, [sample.Tree(2, [sample.Tree(3, [])]), sample.Tree(4, [])])
    assert canister.query("echo_tree", tree) == tree
    assert canister.query("depth", tree) == 3
    assert canister.query(
        "mix", [sample.Color.green], {"a": 1, "b": 2}, {"x": 1, "y": -2}, b"xyz", True, 0.5,
        ALICE, None,
    ) == (sample.Color.green, 6, {"x": 1, "y": -2})
    assert canister.query("result", True) == sample.Outcome(ok=1)
    assert canister.query("result", False) == sample.Outcome(err="no")
    assert canister.query("mode", "slow") == "slow"


def test_query_writes_are_discarded(canister: LocalCanister) -> None:
    canister.query("get")
    assert canister.run("query", "get", b"DIDL\x00\x00", commit=False)
    assert canister.query("get") == 5


def test_trap_reports_type_message_and_user_line(canister: LocalCanister) -> None:
    with pytest.raises(Trapped) as info:
        canister.update("fail", 0)
    message = info.value.message
    assert message.startswith("ZeroDivisionError: integer division or modulo by zero\n")
    line = next(i for i, text in enumerate(Path(sample.__file__).read_text().splitlines(), 1)
                if "return 10 // n" in text)
    assert f"sample_canister.py:{line} in fail: return 10 // n" in message
    assert "icframework/sdk" not in message


def test_trap_rolls_back(canister: LocalCanister) -> None:
    canister.update("set_note", "a", "1")
    with pytest.raises(Trapped):
        canister.update("fail", 0)
    assert canister.query("get_note", "a") == "1"


def test_bad_result_and_bad_argument_trap_with_explanations(canister: LocalCanister) -> None:
    with pytest.raises(Trapped, match=r"bad_result returned a value that does not match its "
                       r"return type nat8: arg 0: nat8 value 300 is outside 0\.\.255"):
        canister.update("bad_result")
    with pytest.raises(Trapped, match=r"failed to decode the arguments of 'set_note' "
                       r"\(expected \(text, text\)\)"):
        canister.run("update", "set_note", encode([NAT64], [1]))


def test_explicit_reject_rolls_back(canister: LocalCanister) -> None:
    with pytest.raises(Reject, match="not today"):
        canister.update("refuse")
    assert canister.query("get") == 5


def test_guards(canister: LocalCanister) -> None:
    with pytest.raises(Reject, match="only the owner may do this"):
        canister.update("reset", caller=Principal.anonymous())
    canister.update("reset", caller=ALICE)
    assert canister.query("get") == 0


def test_kind_checks(canister: LocalCanister) -> None:
    assert canister.run("query", "increment", b"DIDL\x00\x00", commit=False) == Rejected(
        "'increment' is an update method; it cannot be called as a query"
    )
    assert canister.run("update", "get_twice", b"DIDL\x00\x00") == Rejected(
        "'get_twice' is a composite query; it cannot be called as an update"
    )
    assert canister.run("update", "nope", b"DIDL\x00\x00") == Rejected(
        "canister has no update method 'nope'"
    )


def test_inspect_message(canister: LocalCanister) -> None:
    assert canister.inspect("increment") is True
    assert canister.inspect("forbidden") is False


def test_upgrade_runs_hooks_in_order(canister: LocalCanister) -> None:
    canister.upgrade(ALICE, 0)
    assert canister.backend.logs == ["upgrading", "upgraded"]
    assert canister.query("get") == 5  # stable state survives


def test_models_through_methods(canister: LocalCanister) -> None:
    task = canister.update("add_task", "write docs", caller=ALICE)
    assert task == sample.Task(id=1, title="write docs", owner=ALICE)
    assert canister.query("tasks", None) == [task]
    assert canister.query("tasks", True) == []


def test_method_table(canister: LocalCanister) -> None:
    table = canister.canister.method_table()
    assert table["get"] == "query" and table["get_twice"] == "composite_query"
    assert table["increment"] == "update" and "result" in table and "result_" not in table


def test_ic_api_reads_the_backend(backend: LocalBackend) -> None:
    backend.set_caller(ALICE)
    backend.advance_time(10)
    assert ic.caller() == ALICE
    assert ic.time() == backend.now_ns
    assert ic.id() == backend.canister_id
    ic.print("a", 1)
    assert backend.logs == ["a 1"]
    with backend.transaction(cycles=100):
        assert ic.msg_cycles_available() == 100
        assert ic.msg_cycles_accept(40) == 40
        assert ic.msg_cycles_available() == 60
        ic.set_certified_data(b"x" * 32)
        ic.publish("topic", b"DIDL\x00\x00")
    assert ic.canister_balance() == 100_000_000_000_040
    assert ic.cycles_burn(40) == 40
    assert backend.certified_data == b"x" * 32 and backend.events == [("topic", b"DIDL\x00\x00")]
    with pytest.raises(Trapped, match="at most 32"):
        ic.set_certified_data(b"x" * 33)
    with pytest.raises(Trapped, match="stop"):
        ic.trap("stop")


def test_unsupported_hint_is_reported_at_load() -> None:
    @query
    def broken(x: complex) -> None:
        pass

    try:
        with pytest.raises(TypeHintError, match=r"test_dispatch\..*broken: .*complex"):
            load_canister(__name__)
    finally:
        forget(__name__)


def test_missing_annotations_are_reported() -> None:
    @query
    def no_return(x: int):  # type: ignore[no-untyped-def]
        pass

    try:
        with pytest.raises(TypeHintError, match="needs a return annotation"):
            load_canister(__name__)
    finally:
        forget(__name__)
