"""Tests of the state stores' own parts: SQLite's atomicity, durability and locking;
PostgreSQL's change tracking for read-only copies, tombstone collection, shared tables and
failures. The interface every store implements is tested in ``test_store_conformance.py``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.replica.embedded import Replica, node_key, subnet_identity
from icframework.replica.errors import StateStoreError
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.management import ManagementCanister
from icframework.replica.postgres_store import Changes, PostgresStateStore
from icframework.replica.store import (
    MemoryStateStore,
    RoundChanges,
    SQLiteStateStore,
    StateStore,
)
from icframework.replica.subnet import Subnet, SubnetConfig
from tests.replica.store_crash_child import check_state
from tests.replica.test_store_conformance import A, B, page, rounds, snapshot
from tests.replica.wat_counter import counter_wasm, nat64_reply

pytest_plugins = ["tests.services"]

ROOT = Path(__file__).resolve().parents[2]


# -- SQLite: atomicity, durability, locking -------------------------------------------------


def test_sqlite_failure_mid_round_lands_nothing_and_store_stays_usable(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStateStore(path)
    first = RoundChanges(height=1, time_ns=1)
    first.page_writes[(A, "heap")] = {0: page(1)}
    store.commit_round(first)
    # A trigger makes SQLite fail on the kv insert, after canisters and pages are written.
    with sqlite3.connect(path) as other:
        other.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON kv WHEN NEW.key = x'626f6f6d' "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    other.close()
    before = snapshot(store)
    bad = RoundChanges(height=2, time_ns=2)
    bad.canister_upserts[A] = b"a"
    bad.page_writes[(A, "heap")] = {0: page(2), 1: page(2)}
    bad.space_deletes.add((A, "stable"))
    bad.kv_puts[("x", b"boom")] = b"!"
    with pytest.raises(StateStoreError, match=f"cannot commit round 2 to the state store {path}"):
        store.commit_round(bad)
    assert snapshot(store) == before
    third = RoundChanges(height=3, time_ns=3)
    third.kv_puts[("x", b"fine")] = b"ok"
    store.commit_round(third)
    store.close()
    with SQLiteStateStore(path) as reopened:
        assert reopened.height() == 3
        assert reopened.kv_get("x", b"fine") == b"ok"
        assert list(reopened.load_pages(A, "heap")) == [(0, page(1))]


def test_second_open_of_a_state_dir_names_it_and_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with SQLiteStateStore(path):
        with pytest.raises(StateStoreError) as info:
            SQLiteStateStore(path)
        assert str(info.value) == (
            f"the state directory {tmp_path} is in use: process {os.getpid()} holds "
            f"{path}.lock; stop that replica or choose another state directory"
        )
    SQLiteStateStore(path).close()


def test_lock_held_by_another_process_and_released_by_its_death(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from icframework.replica.store import SQLiteStateStore; "
            "s = SQLiteStateStore(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(path),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "ready\n"
        with pytest.raises(StateStoreError, match=f"process {holder.pid} holds"):
            SQLiteStateStore(path)
    finally:
        holder.kill()
        holder.communicate()
    SQLiteStateStore(path).close()


def test_open_in_a_missing_directory_says_to_create_it(tmp_path: Path) -> None:
    with pytest.raises(StateStoreError, match="create the state directory first"):
        SQLiteStateStore(tmp_path / "missing" / "s.db")


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 99 WHERE name = 'schema'")
    db.close()
    with pytest.raises(StateStoreError, match="has schema version 99, this replica reads"):
        SQLiteStateStore(path)


def test_kill_9_loses_no_committed_round_and_lands_no_partial_one(tmp_path: Path) -> None:
    """SIGKILL a writer at random moments; the store always holds one whole round.

    The child prints a height only after `commit_round` returned, so the store must hold
    that round or the one after it (committed, killed before printing), never less,
    and the counter must agree in the record, the pages and the key/value entries.
    """
    path = tmp_path / "state.sqlite3"
    rng = random.Random(0x1C)
    printed = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.replica.store_crash_child", str(path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stderr is not None
            first = child.stdout.readline()
            assert first, f"the child died before its first commit: {child.stderr.read()}"
            time.sleep(rng.uniform(0.0, 0.25))
            os.kill(child.pid, signal.SIGKILL)
            # Read through the same buffered file as readline(), up to EOF (the child is dead).
            out = child.stdout.read()
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        heights = [int(line) for line in (first + out).split()]
        assert heights == list(range(printed + 1, printed + 1 + len(heights)))
        printed = heights[-1]
        with SQLiteStateStore(path) as store:
            committed = store.height()
            assert printed <= committed <= printed + 1
            check_state(store, committed)
        printed = committed


# -- PostgreSQL: shared tables, change tracking, failures -----------------------------------


@pytest.mark.services
def test_postgres_subnets_share_the_tables_but_not_their_rows(postgres_url: str) -> None:
    with (
        PostgresStateStore(postgres_url, "app1") as app1,
        PostgresStateStore(postgres_url, "app2") as app2,
    ):
        changes = RoundChanges(height=4, time_ns=40)
        changes.canister_upserts[A] = b"a"
        changes.page_writes[(A, "heap")] = {0: page(1)}
        changes.kv_puts[("x", b"k")] = b"v"
        app1.commit_round(changes)
        assert (app2.height(), app2.canister_records(), app2.kv_get("x", b"k")) == (0, {}, None)
        assert list(app2.load_pages(A, "heap")) == []
        assert snapshot(app1)["kv"] == {"x": [(b"k", b"v")], "y": []}


@pytest.mark.services
def test_changes_since_lists_writes_and_deletions_from_a_height_on(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url, "app1") as store:
        first = RoundChanges(height=1, time_ns=10)
        first.canister_upserts.update({A: b"a1", B: b"b1"})
        first.page_writes[(A, "heap")] = {0: page(1), 1: page(1), 2: page(1)}
        first.kv_puts.update({("x", b"keep"): b"1", ("x", b"drop"): b"2"})
        store.commit_round(first)
        second = RoundChanges(height=2, time_ns=20)
        second.canister_deletes.add(B)
        second.page_writes[(A, "heap")] = {1: None, 2: page(2)}
        second.kv_deletes.add(("x", b"drop"))
        second.kv_deletes.add(("x", b"never there"))
        store.commit_round(second)

        assert store.changes_since(2) == Changes(
            height=2,
            time_ns=20,
            canister_deletes={B},
            page_writes={(A, "heap"): {1: None, 2: page(2)}},
            kv_deletes={("x", b"drop")},
            since=2,
        )
        assert store.changes_since(1) == Changes(
            height=2,
            time_ns=20,
            canister_upserts={A: b"a1"},
            canister_deletes={B},
            page_writes={(A, "heap"): {0: page(1), 1: None, 2: page(2)}},
            kv_puts={("x", b"keep"): b"1"},
            kv_deletes={("x", b"drop")},
            since=1,
        )
        full = Changes(
            height=2,
            time_ns=20,
            canister_upserts={A: b"a1"},
            page_writes={(A, "heap"): {0: page(1), 2: page(2)}},
            kv_puts={("x", b"keep"): b"1"},
            full=True,
        )
        assert store.changes_since(0) == full
        assert store.changes_since(3) == full  # a copy ahead of the store starts again
        with pytest.raises(StateStoreError, match=r"changes_since\(-1\): expected a height"):
            store.changes_since(-1)


@pytest.mark.services
def test_a_commit_that_repeats_the_height_reaches_copies_at_that_height(
    postgres_url: str,
) -> None:
    """The embedded replica stores its identity with the current height; a copy that
    already caught up with that height must still receive it."""
    with PostgresStateStore(postgres_url, "app1") as store:
        first = RoundChanges(height=1, time_ns=10)
        first.kv_puts[("x", b"round")] = b"1"
        store.commit_round(first)
        copy = MemoryStateStore()
        copy.commit_round(store.changes_since(copy.height()))
        again = RoundChanges(height=store.height(), time_ns=store.time_ns())
        again.kv_puts[("meta", b"identity")] = b"delegation"
        store.commit_round(again)
        assert copy.height() == store.height() == 1
        copy.commit_round(store.changes_since(copy.height()))
        assert copy.kv_get("meta", b"identity") == b"delegation"
        assert copy.kv_get("x", b"round") == b"1"


@pytest.mark.services
def test_collected_tombstones_turn_older_copies_into_full_reloads(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url, "app1") as store:
        for height in (1, 2, 3):
            changes = RoundChanges(height=height, time_ns=height)
            changes.kv_puts[("x", b"%d" % height)] = b"v"
            changes.kv_deletes.add(("x", b"%d" % (height - 1)))
            store.commit_round(changes)
        # Rounds 2 and 3 each left one tombstone (of keys 1 and 2). Copies are at 3 or
        # later: collect what they no longer need, round 2's.
        assert store.collect_tombstones(3) == 1
        assert store.changes_since(3) == Changes(
            height=3, time_ns=3, kv_puts={("x", b"3"): b"v"}, kv_deletes={("x", b"2")}, since=3
        )
        older = Changes(height=3, time_ns=3, kv_puts={("x", b"3"): b"v"}, full=True)
        assert store.changes_since(2) == older
        assert store.collect_tombstones(1) == 0  # the floor never goes down
        assert store.changes_since(2) == older
        assert store.collect_tombstones(4) == 1
        assert store.changes_since(3) == older
        with pytest.raises(StateStoreError, match=r"collect_tombstones\(-2\): expected"):
            store.collect_tombstones(-2)


@pytest.mark.services
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_a_copy_following_changes_since_always_equals_the_store(
    postgres_url: str, data: st.DataObject
) -> None:
    """Random rounds (some repeating the height, as identity updates do), a copy that
    catches up at random moments, tombstones collected at random heights: after each
    catch-up the copy reads exactly like the store."""
    subnet = f"follow{data.draw(st.integers(0, 2**40))}"
    with PostgresStateStore(postgres_url, subnet) as store:
        copy = MemoryStateStore()
        last = data.draw(st.integers(2, 8))
        for height in range(1, last + 1):
            store.commit_round(data.draw(rounds(height)))
            if data.draw(st.booleans()):
                store.collect_tombstones(data.draw(st.integers(0, height + 1)))
            if data.draw(st.booleans()) or height in (1, last):
                changes = store.changes_since(copy.height())
                if changes.full:
                    copy = MemoryStateStore()
                copy.commit_round(changes)
                assert snapshot(copy) == snapshot(store)
            if data.draw(st.booleans()) and height < last:
                # The same height again, after the copy may have caught up with it.
                store.commit_round(data.draw(rounds(height)))


@pytest.mark.services
def test_postgres_failure_mid_round_lands_nothing_and_store_stays_usable(
    postgres_url: str,
) -> None:
    with PostgresStateStore(postgres_url, "app1") as store:
        first = RoundChanges(height=1, time_ns=1)
        first.page_writes[(A, "heap")] = {0: page(1)}
        store.commit_round(first)
        with psycopg.connect(postgres_url, autocommit=True) as other:
            other.execute(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.key = 'boom'::bytea THEN RAISE EXCEPTION 'injected failure'; END IF; "
                "RETURN NEW; END $$"
            )
            other.execute(
                "CREATE TRIGGER boom BEFORE INSERT ON ic_kv FOR EACH ROW EXECUTE FUNCTION boom()"
            )
        before = snapshot(store)
        bad = RoundChanges(height=2, time_ns=2)
        bad.canister_upserts[A] = b"a"
        bad.page_writes[(A, "heap")] = {0: page(2), 1: page(2)}
        bad.space_deletes.add((A, "stable"))
        bad.kv_puts[("x", b"boom")] = b"!"
        with pytest.raises(
            StateStoreError,
            match=r"cannot commit round 2 to the state store of subnet 'app1' at postgresql://"
            r".*injected failure",
        ):
            store.commit_round(bad)
        assert snapshot(store) == before
        third = RoundChanges(height=3, time_ns=3)
        third.kv_puts[("x", b"fine")] = b"ok"
        store.commit_round(third)
        assert store.kv_get("x", b"fine") == b"ok"
        assert list(store.load_pages(A, "heap")) == [(0, page(1))]


@pytest.mark.services
def test_postgres_unknown_schema_version_is_refused(postgres_url: str) -> None:
    PostgresStateStore(postgres_url, "app1").close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE ic_schema SET version = 99 WHERE component = 'state'")
    with pytest.raises(StateStoreError, match="has state schema version 99, this replica reads"):
        PostgresStateStore(postgres_url, "app1")


def test_unreachable_postgres_is_named_without_its_password() -> None:
    url = "postgresql://ic:secret@127.0.0.1:1/state"
    with pytest.raises(StateStoreError) as info:
        PostgresStateStore(url, "app1")
    message = str(info.value)
    assert message.startswith(
        "cannot open the state store of subnet 'app1' at postgresql://ic@127.0.0.1:1/state: "
    )
    assert "check that PostgreSQL runs there" in message
    assert "secret" not in message


@pytest.mark.parametrize("name", ["", "App1", "-x", "a b", "x" * 64, "root;"])
def test_subnet_names_are_checked(name: str) -> None:
    with pytest.raises(StateStoreError, match=f"subnet name {name!r} is invalid; use 1-63"):
        PostgresStateStore("postgresql://127.0.0.1:1/none", name)


@pytest.mark.services
def test_postgres_store_connects_again_after_the_connection_broke(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url, "app1") as store:
        store.commit_round(RoundChanges(height=1, time_ns=1))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StateStoreError, match="cannot read the state store of subnet 'app1'"):
            store.height()
        assert store.height() == 1
        store.commit_round(RoundChanges(height=2, time_ns=2))
        assert store.height() == 2


def replica_on(store: StateStore) -> Replica:
    """A replica on ``store``, opened as `Replica.open` opens one on its own stores."""
    config = SubnetConfig()
    identity = subnet_identity(store, None, config)
    config = dataclasses.replace(
        config, root_key=identity.root_key_der, subnet_id=identity.subnet_id.raw
    )
    subnet = Subnet(store, ExecutionEngine(), config, management=ManagementCanister)
    return Replica(subnet, store, identity.key, node_key(store), identity)


@pytest.mark.services
def test_a_subnet_runs_on_postgres_and_a_copy_catches_up_with_it(postgres_url: str) -> None:
    """A canister's memory and globals written through the subnet land in PostgreSQL; a
    reopened store and an in-memory copy fed by `changes_since` both serve the state."""
    controller = Principal.self_authenticating(b"test controller key")
    store = PostgresStateStore(postgres_url, "app1")
    replica = replica_on(store)
    counter = replica.create_canister(sender=controller)
    replica.install_code(counter, counter_wasm(), sender=controller)
    replica.update(counter, "inc")
    copy = MemoryStateStore()
    copy.commit_round(store.changes_since(copy.height()))
    for _ in range(2):
        replica.update(counter, "inc")
    replica.update(counter, "save_stable")
    assert replica.query(counter, "get") == nat64_reply(3)
    changes = store.changes_since(copy.height())
    replica.close()
    assert not changes.full and changes.since > 0 and changes.page_writes
    copy.commit_round(changes)
    with PostgresStateStore(postgres_url, "app1") as reopened:
        assert snapshot_all(copy) == snapshot_all(reopened)
        for reader in (replica_on(reopened), replica_on(copy)):
            assert reader.query(counter, "get") == nat64_reply(3)
            assert reader.query(counter, "memory_counter") == nat64_reply(3)
            assert reader.query(counter, "load_stable") == nat64_reply(3)


def snapshot_all(store: StateStore) -> dict[str, object]:
    """Every record and every page of every canister, and the subnet's kv namespaces."""
    records = store.canister_records()
    return {
        "height": store.height(),
        "records": records,
        "pages": {
            (cid, space): list(store.load_pages(cid, space))
            for cid in records
            for space in ("heap", "stable")
        },
    }
