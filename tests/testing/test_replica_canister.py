"""`ReplicaCanister` behaves as `LocalCanister` does: the same calls give the same values
and the same exceptions on every target (plain CPython, the component and the IC module
on the embedded replica), with the replica's own rules where they differ (each message
a round; no cycles on ingress; no events on the IC target).

The IC target builds this file's app once (tens of seconds with the IC base cached under
``<repo>/.build/ic``; minutes when the base must be built) and compiles it once per
machine (cached under ``<repo>/.build/replica``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.core import Principal
from icframework.sdk import Reject, SdkError, Trapped
from icframework.sdk.events import encode_event
from icframework.testing import (
    BUILD_DIR_VARIABLE,
    AppCanister,
    ReplicaCanister,
    app_canister,
)
from tests.node import requires_node

ROOT = Path(__file__).resolve().parents[2]
SECOND = 1_000_000_000
ALICE = Principal.self_authenticating(b"driver test alice")

SOURCE = '''"""The test driver's canister: arguments, callers, rejects, traps, a timer, events."""

from dataclasses import dataclass

from icframework.sdk import (
    Reject, StableCell, events, heartbeat, ic, init, nat, nat64, post_upgrade, query, update,
)

count = StableCell[nat]("count", default=0)
label = StableCell[str]("label", default="")
fired = StableCell[nat]("fired", default=0)
beats = StableCell[nat]("beats", default=0)


@dataclass
class Total:
    label: str
    count: nat


@init
def setup(name: str) -> None:
    if not name:
        raise ValueError("name the counter")
    label.set(name)


@post_upgrade
def upgraded(name: str) -> None:
    label.set(label.get() + "+" + name)


@update
def add(amount: nat) -> Total:
    if amount == 0:
        raise Reject("add something: 0 was given")
    count.set(count.get() + amount)
    if events.supported():
        ic.publish("added", amount)
    return Total(label.get(), count.get())


@update
def explode() -> nat:
    count.set(count.get() + 1000)
    raise ValueError("boom, nothing is kept")


@query
def total() -> nat:
    return count.get()


@query
def whoami() -> ic.Principal:
    return ic.caller()


@update
def now() -> nat64:
    return ic.time()


def _tick() -> None:
    fired.set(fired.get() + 1)


@update
def arm(delay_ns: nat64) -> None:
    ic.set_timer(delay_ns, _tick)


@query
def ticks() -> nat:
    return fired.get()


@heartbeat
def beat() -> None:
    beats.set(beats.get() + 1)


@query
def heartbeats() -> nat:
    return beats.get()
'''

ON_EVERY_TARGET = [
    "local", "component", pytest.param("ic", marks=requires_node),  # the IC build runs node
]


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    app = tmp_path_factory.mktemp("driver") / "driver_app"
    app.mkdir()
    (app / "canister.py").write_text(SOURCE, encoding="utf-8")
    with pytest.MonkeyPatch.context() as env:
        env.setenv(BUILD_DIR_VARIABLE, str(ROOT / ".build"))
        yield app


def installed(app_dir: Path, target: str) -> AppCanister:
    canister = app_canister(app_dir, target)
    canister.install("first")
    return canister


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_values_in_and_out(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    result = canister.update("add", 5)
    assert (type(result).__name__, result.label, result.count) == ("Total", "first", 5)
    assert canister.query("total") == 5
    assert canister.update("now") == canister.backend.now_ns  # the time of that message


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_rejects_and_traps_are_the_same_exceptions(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    with pytest.raises(Reject) as rejected:
        canister.update("add", 0)
    assert rejected.value.message == "add something: 0 was given"
    with pytest.raises(Trapped, match="boom, nothing is kept"):
        canister.update("explode")
    assert canister.query("total") == 0  # the trap kept nothing
    with pytest.raises(SdkError, match="has no method 'nope'"):
        canister.query("nope")
    with pytest.raises(SdkError, match=r"add takes 1 argument\(s\), got 2"):
        canister.update("add", 1, 2)


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_a_caller_stays_until_another_is_given(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    assert canister.query("whoami") == Principal.anonymous()
    canister.update("add", 1, caller=ALICE)
    assert canister.query("whoami") == ALICE
    assert canister.query("whoami", caller=Principal.anonymous()) == Principal.anonymous()


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_upgrade_keeps_the_state_and_passes_its_arguments(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    canister.update("add", 7)
    canister.upgrade("second")
    assert canister.query("total") == 7
    assert canister.update("add", 1).label == "first+second"


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_advance_time_runs_the_due_timer(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    canister.update("arm", 5 * SECOND)
    assert canister.advance_time(4 * SECOND) == 0
    assert canister.query("ticks") == 0
    assert canister.advance_time(SECOND) == 1
    assert canister.query("ticks") == 1
    assert canister.advance_time(60 * SECOND) == 0


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_the_backend_moves_the_clock_too(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    before = canister.update("now")
    canister.backend.advance_time(60 * SECOND)
    assert canister.update("now") >= before + 60 * SECOND


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_heartbeat_runs_the_heartbeat_hook(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    before = canister.query("heartbeats")
    canister.heartbeat()
    assert canister.query("heartbeats") > before


@pytest.mark.parametrize("target", ["local", "component"])
def test_events_where_the_target_has_them(app_dir: Path, target: str) -> None:
    canister = installed(app_dir, target)
    canister.update("add", 3)
    with pytest.raises(Reject):
        canister.update("add", 0)  # a rejected message publishes nothing
    assert canister.backend.events == [("added", encode_event(3))]
    canister.backend.events.clear()
    canister.update("add", 4)
    assert canister.backend.events == [("added", encode_event(4))]


@requires_node
def test_the_ic_target_has_no_events(app_dir: Path) -> None:
    canister = installed(app_dir, "ic")
    assert isinstance(canister, ReplicaCanister)
    canister.update("add", 3)
    assert canister.events == canister.backend.events == []


def test_each_canister_is_fresh_and_dropped_ones_are_deleted(app_dir: Path) -> None:
    first = installed(app_dir, "component")
    second = installed(app_dir, "component")
    assert isinstance(first, ReplicaCanister) and isinstance(second, ReplicaCanister)
    assert first.canister_id != second.canister_id
    first.update("add", 2)
    assert (first.query("total"), second.query("total")) == (2, 0)
    replica = first.replica
    assert replica is second.replica  # one replica per process
    dropped = first.canister_id
    del first
    gc.collect()
    assert replica.replica.canister_record(dropped) is not None  # deleted at the next creation
    installed(app_dir, "component")
    assert replica.replica.canister_record(dropped) is None


def test_ingress_carries_no_cycles(app_dir: Path) -> None:
    canister = installed(app_dir, "component")
    with pytest.raises(SdkError, match=r"update\('add', cycles=5\): calls from outside a "
                       "replica carry no cycles"):
        canister.update("add", 1, cycles=5)


def test_a_replica_canister_runs_on_a_replica_target_only(app_dir: Path) -> None:
    with pytest.raises(ValueError, match="ReplicaCanister runs on component or ic, not 'local'"):
        ReplicaCanister(app_dir, "local")


@pytest.mark.parametrize("target", ON_EVERY_TARGET)
def test_a_trap_in_init_installs_nothing(app_dir: Path, target: str) -> None:
    canister = app_canister(app_dir, target)
    with pytest.raises(SdkError, match=r"init takes 1 argument\(s\), got 0"):
        canister.install()
    with pytest.raises(Trapped, match="name the counter"):
        canister.install("")
    canister.install("third")
    assert canister.update("add", 1).label == "third"
