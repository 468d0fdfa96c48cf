"""The subnet's metrics: counters, recent calls with status and latency, traps, bounds."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import pytest
import wasmtime

from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.metrics import RECENT_CALLS, RECENT_TRAPS, python_location
from tests.replica.wat_counter import counter_wasm

OWNER = Principal.self_authenticating(b"metrics owner")


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica.open() as opened:
        yield opened


def install_counter(replica: Replica) -> Principal:
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, counter_wasm(), sender=OWNER)
    return canister


def test_counts_instructions_cycles_and_messages_per_canister(replica: Replica) -> None:
    canister = install_counter(replica)
    other = install_counter(replica)
    for _ in range(3):
        replica.update(canister, "inc")
    replica.update(other, "inc")
    snapshot = replica.subnet.metrics.snapshot()
    mine, theirs = (snapshot["canisters"][c.to_text()] for c in (canister, other))
    assert mine["messages"] == 3
    assert theirs["messages"] == 1
    assert mine["instructions"] > theirs["instructions"] > 0
    assert mine["cycles_burned"] > theirs["cycles_burned"] > 0
    assert snapshot["height"] == replica.subnet.height
    assert snapshot["rounds"] == replica.subnet.height
    assert snapshot["instructions"] >= mine["instructions"] + theirs["instructions"]


def test_recent_calls_show_kind_status_and_latency_newest_first(replica: Replica) -> None:
    canister = install_counter(replica)
    replica.update(canister, "inc")
    replica.query(canister, "get")
    with pytest.raises(CanisterError):
        replica.update(canister, "refuse")
    calls = replica.subnet.metrics.snapshot()["calls"]
    assert [(c["kind"], c["method"], c["status"]) for c in calls[:3]] == [
        ("update", "refuse", "rejected"), ("query", "get", "replied"),
        ("update", "inc", "replied")]
    assert calls[0]["canister"] == canister.to_text()
    assert calls[0]["reject"]
    assert all(c["latency_ms"] >= 0 for c in calls)
    management = [c for c in calls if c["canister"] == "aaaaa-aa"]
    assert {c["method"] for c in management} == {
        "provisional_create_canister_with_cycles", "install_code"}
    assert management[0]["sender"] == OWNER.to_text()


def test_a_trap_is_kept_with_its_method(replica: Replica) -> None:
    canister = install_counter(replica)
    with pytest.raises(CanisterError):
        replica.update(canister, "inc_then_trap")
    (trap,) = replica.subnet.metrics.snapshot()["traps"]
    assert trap["canister"] == canister.to_text()
    assert trap["method"] == "inc_then_trap"
    assert "trap" in trap["message"]
    assert trap["location"] is None  # a wasm canister names no Python frame
    assert replica.subnet.metrics.snapshot()["canisters"][canister.to_text()]["traps"] == 1


COMPOSITE_TRAP_WAT = """
(module
  (memory 1)
  (func (export "canister_composite_query boom") unreachable))
"""


def test_a_composite_query_trap_is_kept_too(replica: Replica) -> None:
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, bytes(wasmtime.wat2wasm(COMPOSITE_TRAP_WAT)), sender=OWNER)
    with pytest.raises(CanisterError):
        replica.query(canister, "boom")
    (trap,) = replica.subnet.metrics.snapshot()["traps"]
    assert (trap["canister"], trap["method"]) == (canister.to_text(), "boom")


def test_rings_are_bounded(replica: Replica) -> None:
    canister = install_counter(replica)
    metrics = replica.subnet.metrics
    for _ in range(RECENT_CALLS + 5):
        replica.query(canister, "get")
    for n in range(RECENT_TRAPS + 5):
        metrics.trapped(canister.raw, "m", f"trap {n}")
    snapshot = metrics.snapshot()
    assert len(snapshot["calls"]) == RECENT_CALLS
    assert len(snapshot["traps"]) == RECENT_TRAPS
    assert snapshot["traps"][0]["message"] == f"trap {RECENT_TRAPS + 4}"


def test_unanswered_calls_are_forgotten_beyond_the_bound(replica: Replica) -> None:
    from icframework.replica import metrics as metrics_module

    metrics = replica.subnet.metrics
    ids = count()
    for _ in range(metrics_module.PENDING_CALLS + 10):
        metrics.call_received(next(ids).to_bytes(8, "big"), b"", "m", b"")
    assert len(metrics._pending) == metrics_module.PENDING_CALLS


def test_a_reloaded_subnet_keeps_its_metrics(replica: Replica) -> None:
    canister = install_counter(replica)
    replica.update(canister, "inc")
    before = replica.subnet.metrics
    replica.reload()
    assert replica.subnet.metrics is before
    replica.update(canister, "inc")
    assert before.snapshot()["calls"][0]["method"] == "inc"
    assert before.snapshot()["canisters"][canister.to_text()]["messages"] == 2


def test_a_deleted_canister_leaves_the_counters(replica: Replica) -> None:
    canister = install_counter(replica)
    replica.stop_canister(canister, sender=OWNER)
    replica.delete_canister(canister, sender=OWNER)
    replica.subnet.execute_round()
    assert canister.to_text() not in replica.subnet.metrics.snapshot()["canisters"]


@pytest.mark.parametrize(("message", "location"), [
    ("ValueError: no good\nTraceback (most recent call last):\n  <method runner>:5 in runner\n"
     "  canister.py:22 in fail: raise ValueError(\"no good\")", "canister.py:22 in fail"),
    ("  canister/store.py:7 in save\n  canister/util.py:30 in check",
     "canister/util.py:30 in check"),
    ("Canister trapped: unreachable", None),
])
def test_python_location_is_the_innermost_python_frame(message: str,
                                                       location: str | None) -> None:
    assert python_location(message) == location
