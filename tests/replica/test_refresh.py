"""`Replica.apply_changes`: a replica following a store another process commits to reads
only what the rounds changed, and ends up answering and certifying exactly like a replica
that loads the store afresh (and like the writer itself), at every height."""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Callable, Iterator

import pytest

from icframework.candid import NAT, decode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.store import MemoryStateStore, RoundChanges, StateStore
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.replica.wat_counter import counter_wasm

__all__ = ["runtime"]

CONTROLLER = Principal.self_authenticating(b"refresh test controller")

NOTES = '''\
import icframework_runtime as rt


@rt.update
def put(arg):
    key, value = arg.split(b"=", 1)
    rt.kv_put(key, value)
    return b"ok"


@rt.update
def drop(arg):
    rt.kv_delete(arg)
    return b"ok"


@rt.query
def read(arg):
    return rt.kv_get(arg) or b"-"


@rt.query
def keys(arg):
    return b",".join(key for key, _ in rt.kv_scan(b"", None))
'''


class RecordingStore(MemoryStateStore):
    """The writer's store: an in-memory store that also keeps every round it committed,
    for the follower to receive as another process would."""

    def __init__(self) -> None:
        super().__init__()
        self.rounds: list[RoundChanges] = []

    def _apply(self, changes: RoundChanges) -> None:
        super()._apply(changes)
        self.rounds.append(changes)

    def take_rounds(self) -> list[RoundChanges]:
        rounds, self.rounds = self.rounds, []
        return rounds


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


def answer(replica: Replica, canister: Principal, method: str, arg: bytes) -> bytes | str:
    """A query's reply, or its reject message."""
    try:
        return replica.query(canister, method, arg)
    except CanisterError as error:
        return str(error)


WASM_QUERIES = [("get", b"DIDL\x00\x00"), ("memory_counter", b"DIDL\x00\x00"),
                ("load_stable", b"DIDL\x00\x00"), ("bump_in_query", b"DIDL\x00\x00")]
PYTHON_QUERIES = [("read", b"a"), ("read", b"b"), ("keys", b"")]


class Scenario:
    """A writer with wasm and Python canisters, changed by random operations (on
    ``store``, by default a `RecordingStore`, kept as ``self.store``)."""

    def __init__(self, rng: random.Random, store: StateStore | None = None) -> None:
        self.rng = rng
        self.store = RecordingStore()
        self.writer = Replica.open(store=self.store if store is None else store)
        self.wasm: list[Principal] = []
        self.python: list[Principal] = []
        self.gone: list[Principal] = []
        for _ in range(3):
            self.add_wasm()
        self.add_python()

    def add_wasm(self) -> None:
        canister = self.writer.create_canister(sender=CONTROLLER)
        self.writer.install_code(canister, counter_wasm(), sender=CONTROLLER)
        self.wasm.append(canister)

    def add_python(self) -> None:
        canister = self.writer.create_canister(sender=CONTROLLER)
        module = pack_python_module({"app.py": NOTES}, "app.py")
        self.writer.install_code(canister, module, sender=CONTROLLER)
        self.python.append(canister)

    def operations(self) -> list[Callable[[], object]]:
        writer, rng = self.writer, self.rng
        wasm, python = rng.choice(self.wasm), rng.choice(self.python)
        value = str(rng.randrange(100)).encode()

        def update(canister: Principal, method: str, arg: bytes = b"DIDL\x00\x00") -> None:
            writer.update(canister, method, arg)  # a reject is a change too (certified)

        def delete_one() -> None:
            if len(self.wasm) > 1:
                self.wasm.remove(wasm)
                writer.stop_canister(wasm, sender=CONTROLLER)
                writer.delete_canister(wasm, sender=CONTROLLER)
                self.gone.append(wasm)

        return [
            lambda: update(wasm, "inc"),
            lambda: update(wasm, "inc"),
            lambda: update(wasm, "inc_everywhere"),
            lambda: update(wasm, "save_stable"),
            lambda: update(wasm, "refuse"),
            lambda: update(wasm, "certify"),
            lambda: update(wasm, "grow_then_trap"),
            lambda: update(python, "put", (b"a=" if rng.random() < 0.5 else b"b=") + value),
            lambda: update(python, "put", b"k" + value + b"=" + value),
            lambda: update(python, "drop", b"a"),
            lambda: writer.top_up(wasm, 1_000_000, sender=CONTROLLER),
            lambda: writer.install_code(wasm, counter_wasm(), mode="upgrade",
                                        sender=CONTROLLER),
            lambda: writer.install_code(wasm, counter_wasm(), mode="reinstall",
                                        sender=CONTROLLER),
            lambda: writer.install_code(python, pack_python_module(
                {"app.py": NOTES + "\n# v" + value.decode()}, "app.py"), mode="upgrade",
                sender=CONTROLLER),
            lambda: writer.uninstall_code(wasm, sender=CONTROLLER),
            lambda: writer.stop_canister(wasm, sender=CONTROLLER),
            lambda: writer.start_canister(wasm, sender=CONTROLLER),
            lambda: writer.update_settings(wasm, {"freezing_threshold": rng.randrange(10**6)},
                                           sender=CONTROLLER),
            delete_one,
            self.add_wasm,
        ]

    def step(self) -> None:
        # A reject or refusal (an upgrade of an uninstalled canister) still ran rounds.
        with contextlib.suppress(CanisterError):
            self.rng.choice(self.operations())()

    def answers(self, replica: Replica) -> dict[tuple[Principal, str, bytes], bytes | str]:
        found: dict[tuple[Principal, str, bytes], bytes | str] = {}
        for canister in [*self.wasm, *self.gone]:
            for method, arg in WASM_QUERIES:
                found[(canister, method, arg)] = answer(replica, canister, method, arg)
        for canister in self.python:
            for method, arg in PYTHON_QUERIES:
                found[(canister, method, arg)] = answer(replica, canister, method, arg)
        return found


def follower_of(store: RecordingStore) -> tuple[MemoryStateStore, Replica]:
    """A second store with every round committed so far, and a replica loaded from it."""
    copy_store = MemoryStateStore()
    for changes in store.take_rounds():
        copy_store.commit_round(changes)
    return copy_store, Replica.open(store=copy_store)


@pytest.mark.parametrize("seed", range(4))
def test_a_refreshed_replica_equals_a_fresh_load_at_every_height(seed: int) -> None:
    scenario = Scenario(random.Random(seed))
    copy_store, follower = follower_of(scenario.store)
    start, fresh_loads = follower.height, 0
    for _ in range(40):
        scenario.step()
        for changes in scenario.store.take_rounds():
            copy_store.commit_round(changes)
            follower.apply_changes(changes)
            fresh = Replica.open(store=copy_store)
            fresh_loads += 1
            assert follower.height == fresh.height == changes.height
            assert follower.certified_state().root_hash == fresh.certified_state().root_hash
            assert scenario.answers(follower) == scenario.answers(fresh)
        assert follower.certified_state().root_hash == \
            scenario.writer.certified_state().root_hash
        assert scenario.answers(follower) == scenario.answers(scenario.writer)
    assert fresh_loads == scenario.writer.height - start > 0  # every height compared


def test_untouched_canisters_keep_their_sandboxes() -> None:
    """A round that changed one canister restores nothing of the others; a record-only
    change (a top-up) keeps even that canister's sandbox."""
    scenario = Scenario(random.Random(0))
    copy_store, follower = follower_of(scenario.store)
    sandboxes = dict(follower.subnet.canister_state.sandboxes)
    changed, other = scenario.wasm[0], scenario.wasm[1]
    scenario.writer.top_up(changed, 5, sender=CONTROLLER)
    scenario.writer.update(scenario.python[0], "put", b"a=1")
    for changes in scenario.store.take_rounds():
        copy_store.commit_round(changes)
        follower.apply_changes(changes)
    now = follower.subnet.canister_state.sandboxes
    assert now[changed.raw] is sandboxes[changed.raw]
    assert now[other.raw] is sandboxes[other.raw]
    # a Python canister whose data changed gets a new instance (its old one caches reads)
    assert now[scenario.python[0].raw] is not sandboxes[scenario.python[0].raw]
    assert follower.query(scenario.python[0], "read", b"a") == b"1"
    copied, written = follower.canister_record(changed), scenario.writer.canister_record(changed)
    assert copied is not None and written is not None and copied.cycles == written.cycles
    scenario.writer.install_code(changed, counter_wasm(), mode="upgrade", sender=CONTROLLER)
    for changes in scenario.store.take_rounds():
        copy_store.commit_round(changes)
        follower.apply_changes(changes)
    assert follower.subnet.canister_state.sandboxes[changed.raw] is not sandboxes[changed.raw]
    assert follower.subnet.canister_state.sandboxes[other.raw] is sandboxes[other.raw]


def test_the_certifier_rehashes_only_what_changed() -> None:
    """The refresh hands the certifier the ids the rounds changed, not every id."""
    scenario = Scenario(random.Random(1))
    copy_store, follower = follower_of(scenario.store)
    follower.certified_state()
    request_id = scenario.writer.submit(scenario.wasm[0], "inc")
    scenario.writer.wait(request_id)
    for changes in scenario.store.take_rounds():
        copy_store.commit_round(changes)
        follower.apply_changes(changes)
    pending = follower.subnet.take_certification_changes()
    assert pending.canisters == {scenario.wasm[0].raw}
    assert request_id in pending.requests
    assert len(pending.requests) < len(follower.subnet.ingress.statuses)


def test_refreshing_in_a_round_is_refused() -> None:
    with Replica.open() as replica:
        canister = replica.create_canister(sender=CONTROLLER)
        replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
        replica.subnet.between_messages = lambda: replica.subnet.refresh(
            RoundChanges(height=replica.height, time_ns=replica.time_ns))
        request_id = replica.submit(canister, "inc")
        with pytest.raises(ReplicaError, match="refresh between rounds"):
            replica.wait(request_id)


SDK_COUNTER = '''\
from icframework.sdk import StableCell, nat, query, update

count = StableCell[nat]("count", default=0)


@update
def inc() -> nat:
    count.set(count.get() + 1)
    return count.get()


@query
def get() -> nat:
    return count.get()
'''


def test_an_sdk_canister_reads_values_written_by_the_writer() -> None:
    """The SDK keeps values it has read (`StableCell`'s memo, the runtime backend's
    read cache) in the running instance: a copy that only wrote the writer's values into
    the store kept answering the old count (a front end never caught up). A Python
    canister whose data changed gets a new instance over the new values."""
    store = RecordingStore()
    writer = Replica.open(store=store)
    canister = writer.create_canister(sender=CONTROLLER)
    writer.install_code(canister, pack_python_module({"app.py": SDK_COUNTER}, "app.py"),
                        sender=CONTROLLER)
    copy_store, follower = follower_of(store)
    empty = b"DIDL\x00\x00"
    assert decode(follower.query(canister, "get", empty), [NAT]) == (0,)  # read: cached
    for expected in (1, 2):
        writer.update(canister, "inc", empty)
        for changes in store.take_rounds():
            copy_store.commit_round(changes)
            follower.apply_changes(changes)
        assert decode(follower.query(canister, "get", empty), [NAT]) == (expected,)
