"""A read-only copy catches up by the canisters that changed: after every sync it answers
and certifies exactly like a copy loaded in full from the subnet's store (and like the
writer), whether it syncs after each round or after many, and a copy fallen below the
tombstone floor reloads in full."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from icframework.replica import PostgresStateStore
from icframework.scaleout.copies import ReadOnlyCopy
from tests.replica.test_refresh import Scenario, python_runtime, runtime

pytest_plugins = ["tests.services"]
__all__ = ["python_runtime", "runtime"]


@dataclass(frozen=True)
class Source:
    database_url: str
    redis_url: str | None = None


@pytest.mark.services
@pytest.mark.parametrize("seed", range(3))
def test_an_incremental_copy_equals_a_full_copy_at_every_sync(postgres_url: str,
                                                              seed: int) -> None:
    rng = random.Random(seed)
    scenario = Scenario(rng, PostgresStateStore(postgres_url, "app1"))
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    try:
        copy.sync()
        replica = copy.replica
        syncs = 0
        for _ in range(40):
            for _ in range(rng.choice([1, 1, 1, 3])):  # sometimes several rounds at once
                scenario.step()
            assert copy.sync() == scenario.writer.height
            syncs += 1
            assert copy.replica is replica  # caught up in place, not reloaded
            full = ReadOnlyCopy("app1", Source(postgres_url))
            full.sync()
            assert full.height == copy.height
            root = copy.run(lambda r: r.certified_state().root_hash)
            assert root == full.run(lambda r: r.certified_state().root_hash)
            assert root == scenario.writer.certified_state().root_hash
            answers = copy.run(scenario.answers)
            assert answers == full.run(scenario.answers)
            assert answers == scenario.answers(scenario.writer)
            full.stop()
        assert syncs == 40
    finally:
        copy.stop()
        scenario.writer.close()


@pytest.mark.services
def test_a_sync_with_nothing_new_restores_nothing(postgres_url: str) -> None:
    """The rows of the copy's own height come again with every sync; they restore no
    canister and leave the certified state as it was."""
    scenario = Scenario(random.Random(5), PostgresStateStore(postgres_url, "app1"))
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    try:
        scenario.writer.update(scenario.wasm[0], "inc")
        copy.sync()
        before = copy.run(lambda r: r.certified_state())
        sandboxes = dict(copy.replica.subnet.canister_state.sandboxes)
        assert copy.sync() == scenario.writer.height
        assert copy.run(lambda r: r.certified_state()) is before
        assert copy.replica.subnet.canister_state.sandboxes == sandboxes
        assert all(copy.replica.subnet.canister_state.sandboxes[c] is s
                   for c, s in sandboxes.items())
    finally:
        copy.stop()
        scenario.writer.close()


@pytest.mark.services
def test_a_copy_below_the_tombstone_floor_reloads_in_full(postgres_url: str) -> None:
    store = PostgresStateStore(postgres_url, "app1")
    scenario = Scenario(random.Random(7), store)
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    try:
        copy.sync()
        replica = copy.replica
        for _ in range(10):
            scenario.step()
        store.collect_tombstones(store.height())
        assert copy.sync() == scenario.writer.height
        assert copy.replica is not replica  # a full copy: a new replica
        assert copy.run(lambda r: r.certified_state().root_hash) == \
            scenario.writer.certified_state().root_hash
        assert copy.run(scenario.answers) == scenario.answers(scenario.writer)
    finally:
        copy.stop()
        scenario.writer.close()
