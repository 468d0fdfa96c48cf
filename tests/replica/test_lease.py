"""Tests of `icframework.replica.lease`: one writer per subnet, takeover, and fencing.

All need PostgreSQL (``services``). Holders run in threads and in a child process that
is frozen with SIGSTOP past its lease, as a paused writer would be.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from icframework.replica.errors import StateStoreError
from icframework.replica.lease import LeaseLost, WriterLease
from icframework.replica.postgres_store import PostgresStateStore, check_epoch
from icframework.replica.store import RoundChanges

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
LONG = 60.0  # a time to live no test waits for


def round_at(height: int, note: bytes) -> RoundChanges:
    changes = RoundChanges(height=height, time_ns=height)
    changes.kv_puts[("log", height.to_bytes(8, "big"))] = note
    return changes


def test_acquire_release_and_the_epoch_counts_acquisitions(postgres_url: str) -> None:
    with (
        WriterLease(postgres_url, "app1", "a", LONG) as a,
        WriterLease(postgres_url, "app1", "b", LONG) as b,
    ):
        assert (a.held, a.epoch, a.current()) == (False, None, None)
        assert a.acquire(blocking=False)
        assert a.epoch == 1
        assert not b.acquire(blocking=False)
        assert not b.acquire(timeout=0.2)
        assert b.epoch is None
        holder, epoch, left = a.current() or (None, 0, 0.0)
        assert (holder, epoch) == ("a", 1) and 0 < left <= LONG
        a.renew()
        a.release()
        assert a.current() is not None and a.current()[:2] == (None, 1)  # type: ignore[index]
        assert b.acquire(blocking=False)
        assert b.epoch == 2
        with pytest.raises(StateStoreError, match=r"already held by 'b' \(epoch 2\); renew it"):
            b.acquire()
        with pytest.raises(LeaseLost, match=r"cannot renew .* 'a' does not hold it"):
            a.renew()


def test_leases_of_different_subnets_are_independent(postgres_url: str) -> None:
    with (
        WriterLease(postgres_url, "app1", "a", LONG) as a,
        WriterLease(postgres_url, "app2", "b", LONG) as b,
    ):
        assert a.acquire(blocking=False) and b.acquire(blocking=False)
        assert (a.epoch, b.epoch) == (1, 1)


def test_a_standby_takes_over_an_expired_lease_and_the_old_writer_is_fenced(
    postgres_url: str,
) -> None:
    with (
        WriterLease(postgres_url, "app1", "old", 0.5) as old,
        WriterLease(postgres_url, "app1", "standby", LONG) as standby,
        PostgresStateStore(postgres_url, "app1") as old_store,
        PostgresStateStore(postgres_url, "app1") as new_store,
    ):
        assert old.acquire()
        old_store.epoch = old.epoch
        old_store.commit_round(round_at(1, b"old"))
        # The old writer stops renewing (paused); the standby waits for the expiry.
        assert standby.acquire(timeout=LONG)
        assert standby.epoch == 2
        new_store.epoch = standby.epoch
        new_store.commit_round(round_at(2, b"new"))
        with pytest.raises(
            LeaseLost,
            match="the writer lease of subnet 'app1' moved from epoch 1 to 2 "
            "\\(holder 'standby'\\); this writer must stop",
        ):
            old_store.commit_round(round_at(3, b"stale"))
        with pytest.raises(LeaseLost, match="was taken from 'old' after epoch 1"):
            old.renew()
        assert not old.held
        with pytest.raises(LeaseLost):
            old_store.collect_tombstones(1)
        assert new_store.height() == 2
        assert list(new_store.kv_scan("log")) == [
            ((1).to_bytes(8, "big"), b"old"),
            ((2).to_bytes(8, "big"), b"new"),
        ]


def test_an_expired_lease_nobody_took_is_still_the_holders(postgres_url: str) -> None:
    with (
        WriterLease(postgres_url, "app1", "a", 0.05) as a,
        PostgresStateStore(postgres_url, "app1") as store,
    ):
        assert a.acquire()
        store.epoch = a.epoch
        with psycopg.connect(postgres_url) as conn:  # wait for the expiry on the DB's clock
            conn.execute("SELECT pg_sleep(0.1)")
        store.commit_round(round_at(1, b"late but alone"))
        a.renew()
        assert a.epoch == 1


def test_a_restarted_holder_with_the_same_name_takes_over_at_once(postgres_url: str) -> None:
    with (
        WriterLease(postgres_url, "app1", "node-1", LONG) as before_crash,
        WriterLease(postgres_url, "app1", "node-1", LONG) as after_restart,
    ):
        assert before_crash.acquire(blocking=False)
        assert after_restart.acquire(blocking=False)
        assert after_restart.epoch == 2
        with pytest.raises(LeaseLost):
            before_crash.renew()


def test_unfenced_store_cannot_commit_once_a_subnet_has_a_lease(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url, "app1") as store:
        store.commit_round(round_at(1, b"before any lease"))
        with WriterLease(postgres_url, "app1", "a", LONG) as lease:
            assert lease.acquire()
        with pytest.raises(LeaseLost, match="is written under a writer lease \\(epoch 1"):
            store.commit_round(round_at(2, b"unfenced"))
        store.epoch = 7
        with pytest.raises(LeaseLost, match="moved from epoch 7 to 1"):
            store.commit_round(round_at(2, b"wrong epoch"))
        assert store.height() == 1


def test_a_takeover_waits_for_the_commit_in_flight(postgres_url: str) -> None:
    """The fencing check share-locks the lease row until the commit ends: an acquisition
    started during the commit lands after it, so the commit was made under a live epoch."""
    with (
        WriterLease(postgres_url, "app1", "writer", 0.01) as writer,
        WriterLease(postgres_url, "app1", "standby", LONG) as standby,
    ):
        assert writer.acquire()
        conn = psycopg.connect(postgres_url, autocommit=True)
        with conn:
            took: list[bool] = []
            with conn.transaction():
                check_epoch(conn, "app1", 1)
                taker = threading.Thread(target=lambda: took.append(standby.acquire()))
                taker.start()
                # The standby is blocked on the row lock: PostgreSQL shows it waiting.
                with psycopg.connect(postgres_url, autocommit=True) as observer:
                    waiting = 0
                    while not waiting and taker.is_alive():
                        waiting = observer.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND datname = current_database()"
                        ).fetchone()[0]  # type: ignore[index]
                assert waiting and took == []
                check_epoch(conn, "app1", 1)  # still ours inside the transaction
            taker.join()
            assert took == [True] and standby.epoch == 2
            with pytest.raises(LeaseLost), conn.transaction():
                check_epoch(conn, "app1", 1)


def test_holders_in_threads_never_share_an_epoch_and_stale_writers_never_commit(
    postgres_url: str,
) -> None:
    """Four holders compete for one subnet six times each. Some release properly, some
    stall past their lease (as if paused) and then try to commit. Every acquisition must
    get an epoch of its own (no two holders at once), and the committed rounds must form
    one log 1..n whose epochs never go down, each epoch written by one holder only."""
    ttl = 0.3
    errors: list[BaseException] = []
    acquired: list[tuple[int, str]] = []

    def holder(name: str, seed: int) -> None:
        rng = random.Random(seed)
        try:
            with (
                WriterLease(postgres_url, "app1", name, ttl) as lease,
                PostgresStateStore(postgres_url, "app1") as store,
            ):
                for _ in range(6):
                    assert lease.acquire(timeout=LONG)
                    assert lease.epoch is not None
                    acquired.append((lease.epoch, name))
                    store.epoch = lease.epoch
                    try:
                        for _ in range(rng.randint(1, 3)):
                            lease.renew()
                            note = f"{store.epoch}:{name}".encode()
                            store.commit_round(round_at(store.height() + 1, note))
                        if rng.random() < 0.3:
                            # Paused past the lease without renewing; then one more commit,
                            # which lands only if nobody took the lease meanwhile.
                            threading.Event().wait(ttl * 2)
                            note = f"{store.epoch}:{name}".encode()
                            store.commit_round(round_at(store.height() + 1, note))
                    except LeaseLost:
                        pass  # fenced: another holder took over; stop writing
                    lease.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=holder, args=(f"h{i}", i)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(epoch for epoch, _ in acquired) == list(range(1, 25))
    with PostgresStateStore(postgres_url, "app1") as store:
        log = list(store.kv_scan("log"))
        assert [int.from_bytes(key, "big") for key, _ in log] == list(range(1, len(log) + 1))
        assert store.height() == len(log) >= 24
        entries = [value.decode().split(":") for _, value in log]
        epochs = [int(epoch) for epoch, _ in entries]
        assert epochs == sorted(epochs)
        holders = dict(acquired)
        assert all(holders[int(epoch)] == name for epoch, name in entries)


CHILD = """
import sys
import threading
from icframework.replica.lease import LeaseLost, WriterLease
from icframework.replica.postgres_store import PostgresStateStore
from icframework.replica.store import RoundChanges

url = sys.argv[1]
lease = WriterLease(url, "app1", "child", 0.5)
lease.acquire()
lost = threading.Event()
def on_lost(exc):
    print("renew failed:", type(exc).__name__, flush=True)
    lost.set()
lease.keep_renewed(0.1, on_lost=on_lost)
store = PostgresStateStore(url, "app1", epoch=lease.epoch)
def commit(height):
    changes = RoundChanges(height=height, time_ns=height)
    changes.kv_puts[("log", height.to_bytes(8, "big"))] = b"child"
    store.commit_round(changes)
commit(1)
print("committed 1", flush=True)
sys.stdin.readline()
try:
    commit(3)
    print("committed 3", flush=True)
except LeaseLost as exc:
    print("refused:", exc, flush=True)
lost.wait(60)
"""


def test_a_writer_process_frozen_past_its_lease_is_fenced(postgres_url: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, postgres_url],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline() == "committed 1\n"
        with WriterLease(postgres_url, "app1", "standby", LONG) as standby:
            # While the child renews, the standby cannot take over.
            assert not standby.acquire(blocking=False)
            os.kill(child.pid, signal.SIGSTOP)  # frozen: no renewals, no commits
            assert standby.acquire(timeout=LONG)
            with PostgresStateStore(postgres_url, "app1", epoch=standby.epoch) as store:
                store.commit_round(round_at(2, b"standby"))
                os.kill(child.pid, signal.SIGCONT)
                child.stdin.write("go\n")
                child.stdin.flush()
                out, err = child.communicate(timeout=LONG)
                lines = out.splitlines()
                assert "renew failed: LeaseLost" in lines, err
                refusals = [line for line in lines if line.startswith("refused:")]
                assert refusals == [
                    "refused: the writer lease of subnet 'app1' moved from epoch 1 to 2 "
                    "(holder 'standby'); this writer must stop"
                ], err
                assert store.height() == 2
                assert list(store.kv_scan("log")) == [
                    ((1).to_bytes(8, "big"), b"child"),
                    ((2).to_bytes(8, "big"), b"standby"),
                ]
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGCONT)
            child.kill()
            child.communicate()


def test_a_lease_survives_its_connection_breaking(postgres_url: str) -> None:
    with WriterLease(postgres_url, "app1", "a", LONG) as lease:
        assert lease.acquire()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(StateStoreError, match="cannot reach the writer lease of subnet"):
            lease.renew()
        lease.renew()
        assert lease.epoch == 1


_machines = itertools.count(1)


def test_lease_operations_follow_a_model(postgres_database: str) -> None:
    """A Hypothesis state machine: three holders (two named alike, as a restarted process
    is) acquire, renew, release and commit in any order while the lease expires at any
    moment; every answer matches a model of the row, and no two holders ever hold the
    current epoch."""

    class Leases(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.subnet = f"lease-model{next(_machines)}"
            self.leases = [
                WriterLease(postgres_database, self.subnet, name, LONG) for name in ("a", "b", "a")
            ]
            self.stores = [PostgresStateStore(postgres_database, self.subnet) for _ in range(3)]
            self.row: tuple[str | None, int] | None = None  # (holder, epoch)
            self.expired = False
            self.height = 0

        @rule(who=st.integers(0, 2))
        def acquire(self, who: int) -> None:
            lease = self.leases[who]
            if lease.held:
                with pytest.raises(StateStoreError, match="already held"):
                    lease.try_acquire()
                return
            free = (
                self.row is None
                or self.row[0] is None
                or self.row[0] == lease.holder
                or self.expired
            )
            assert lease.try_acquire() == free
            if free:
                epoch = 1 if self.row is None else self.row[1] + 1
                assert lease.epoch == epoch
                self.row, self.expired = (lease.holder, epoch), False
                self.stores[who].epoch = epoch

        @rule(who=st.integers(0, 2))
        def renew(self, who: int) -> None:
            lease = self.leases[who]
            current = self.row is not None and self.row == (lease.holder, lease.epoch)
            if current:
                lease.renew()
                self.expired = False
            else:
                with pytest.raises(LeaseLost):
                    lease.renew()
                assert not lease.held

        @rule(who=st.integers(0, 2))
        def release(self, who: int) -> None:
            lease = self.leases[who]
            if self.row is not None and self.row == (lease.holder, lease.epoch):
                self.row, self.expired = (None, self.row[1]), True
            lease.release()
            assert not lease.held

        @rule()
        def expire(self) -> None:
            with psycopg.connect(postgres_database, autocommit=True) as conn:
                conn.execute(
                    "UPDATE ic_leases SET expires_at = clock_timestamp() - interval '1 second' "
                    "WHERE subnet = %s",
                    (self.subnet,),
                )
            self.expired = True

        @rule(who=st.integers(0, 2))
        def commit(self, who: int) -> None:
            store = self.stores[who]
            changes = round_at(self.height + 1, b"%d" % who)
            if store.epoch == (None if self.row is None else self.row[1]):
                store.commit_round(changes)
                self.height += 1
            else:
                with pytest.raises(LeaseLost):
                    store.commit_round(changes)
            assert store.height() == self.height

        @invariant()
        def one_holder_of_the_current_epoch(self) -> None:
            if self.row is not None:
                holders = [x for x in self.leases if x.epoch == self.row[1]]
                assert len(holders) <= 1

        def teardown(self) -> None:
            for lease in self.leases:
                lease.close()
            for store in self.stores:
                store.close()

    run_state_machine_as_test(
        Leases, settings=settings(max_examples=30, stateful_step_count=25, deadline=None)
    )
