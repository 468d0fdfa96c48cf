"""Read-only copies of a subnet's state in a front end: queries, read_state and status
without the subnet's writer.

`ReadOnlyCopy(subnet, config)` keeps a `Replica` over an in-memory *mirror* of the
subnet's PostgreSQL state: a full copy first (`PostgresStateStore.changes_since(0)`),
then the rows written since the copy's height whenever the subnet's height moves. The
copy never executes a round: its store (`MirrorStore`) refuses every commit but the
copy's own sync, so nothing it runs (queries, ``canister_inspect_message`` checks,
certificates) can change it.

**Identity.** The subnet's BLS key, node key and delegation are part of its stored
state (the writer stores them with its first round), so the copy certifies as the
subnet: BLS signatures are deterministic, so the copy's certificate of a height is
byte-identical to the writer's of that height, and its query signatures come from the
same node key the certified state lists under ``/subnet/<id>/node`` (as every replica
of an IC subnet holds a key share and signs its queries).

**Refresh.** A thread listens on Redis ``icframework:rounds:<subnet>`` (the writer
publishes each committed height there) and otherwise checks the subnet's height every
`REFRESH_MS`; it refreshes at most once per `REFRESH_MS`. The **staleness bound**: a
read on a copy sees every round committed more than one refresh interval plus the
time to fetch and apply the changes before it. Without Redis the copy polls
PostgreSQL's height with the same interval and bound.

**Catching up.** A sync applies only what changed: `MirrorStore.sync` keeps the rows
that differ from the mirror (`changes_since` lists the rows of the copy's own height
again), and `Replica.apply_changes` reads just those into the loaded subnet: canisters
with a new module are restored (compiled modules cached), changed memories are
updated in place, a Python canister whose key-value data changed gets a new instance
(the running one caches values it read), untouched canisters stay as they are, request
statuses and subnet-level state follow, and the certifier rehashes only the changed
ids. So a sync costs time in proportion to what the rounds changed, not to the
subnet's canisters: with one canister of 1, 10 or 100 changed, about 1.0, 1.0 and 1.4 ms
(fetch included; a full reload took 6, 32 and 590 ms; small Wasm canisters, 2 cores).
A copy below the writer's tombstone floor (``Changes.full``), or with a renewed
identity, opens a new replica on a full copy instead; a canister that cannot be
restored has the copy reload in full (which raises if that fails too).

Thread safety: the subnet is not thread-safe, so reads (`run`, `call`) take a lock; a
sync fetches the changes and applies them to the mirror outside it, and takes the lock
only to apply the news to the replica (the time above, less the fetch), or to swap in
a new replica loaded beside the serving one after a full copy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from icframework.replica import (
    MemoryStateStore,
    PostgresStateStore,
    Replica,
    ReplicaError,
    RoundChanges,
    StateStoreError,
)
from icframework.scaleout.config import rounds_channel
from icframework.scaleout.keys import KeysError, load_keys

__all__ = ["REFRESH_MS", "CopyError", "CopySource", "MirrorStore", "ReadOnlyCopy"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

REFRESH_MS = 50
"""The copies' refresh interval (milliseconds): the most often a copy applies changes,
and how often it checks the height when no round notice arrives."""
IDENTITY_KEY = ("meta", b"subnet_identity")
"""Where a subnet's state keeps its identity (root key, range, delegation)."""


class CopyError(StateStoreError):
    """A read-only copy cannot serve: no state yet, or something tried to write to it."""


class CopySource(Protocol):
    """Where a copy reads from: the cluster's database, and Redis for round notices
    (`icframework.scaleout.config.ClusterConfig` has both)."""

    @property
    def database_url(self) -> str: ...

    @property
    def redis_url(self) -> str | None: ...


class MirrorStore(MemoryStateStore):
    """An in-memory store that only its copy's sync writes: any other commit (a round,
    a key stored on first use) raises `CopyError`, having changed nothing."""

    def __init__(self) -> None:
        super().__init__()
        self._syncing = False

    def sync(self, changes: RoundChanges) -> RoundChanges:
        """Apply the changes read from the subnet's store (the only writes allowed);
        return the part of them that changed something (see `news`)."""
        news = self.news(changes)
        self._syncing = True
        try:
            self.commit_round(changes)
        finally:
            self._syncing = False
        return news

    def news(self, changes: RoundChanges) -> RoundChanges:
        """The entries of ``changes`` that differ from what this store holds, with its
        height and time: `PostgresStateStore.changes_since` lists again the rows
        written at the copy's own height, and the copy's replica should not restore a
        canister for a record it already has."""
        news = RoundChanges(height=changes.height, time_ns=changes.time_ns)
        records = self._canisters
        news.canister_deletes = {c for c in changes.canister_deletes
                                 if c in records and c not in changes.canister_upserts}
        news.canister_upserts = {c: record for c, record in changes.canister_upserts.items()
                                 if c in changes.canister_deletes or records.get(c) != record}
        news.space_deletes = {space for space in changes.space_deletes if space in self._spaces}
        for space, writes in changes.page_writes.items():
            held = {} if space in changes.space_deletes else self._spaces.get(space, {})
            fresh = {index: data for index, data in writes.items()
                     if held.get(index) != (None if data is None else bytes(data))}
            if fresh:
                news.page_writes[space] = fresh
        kv = self._kv
        news.kv_deletes = {(namespace, key) for namespace, key in changes.kv_deletes
                           if key in kv.get(namespace, {})
                           and (namespace, key) not in changes.kv_puts}
        news.kv_puts = {(namespace, key): value
                        for (namespace, key), value in changes.kv_puts.items()
                        if (namespace, key) in changes.kv_deletes
                        or kv.get(namespace, {}).get(key) != bytes(value)}
        return news

    def commit_round(self, changes: RoundChanges) -> None:
        if not self._syncing:
            raise CopyError(
                f"a read-only copy refused a commit at height {changes.height}: copies "
                "never run rounds or store keys; send updates to the subnet's writer"
            )
        super().commit_round(changes)


def replica_on_mirror(store: MirrorStore, subnet_name: str,
                      cache_dir: Path | None = None) -> Replica:
    """A `Replica` on ``store`` with the subnet's stored identity and node key
    (``cache_dir``: where compiled canister modules are cached).

    Raises `CopyError` if the state has no stored keys (its writer never committed).
    """
    if store.kv_get("meta", b"bls_secret") is None or \
            store.kv_get("meta", b"node_ed25519_seed") is None:
        raise CopyError(
            f"subnet {subnet_name!r} has no stored keys yet at height {store.height()}: "
            "start its writer (manage.py runsubnet) and let it commit a round"
        )
    return Replica.open(cache_dir, store=store)


class ReadOnlyCopy:
    """A front end's copy of subnet ``subnet`` (see the module docstring).

    `start` loads the full copy and starts the refresher; `run` / `call` run work on the
    copy's `Replica` (the `ApiBackend` reader protocol of the HTTP interface).
    """

    def __init__(self, subnet: str, config: CopySource, *, refresh_ms: int = REFRESH_MS,
                 cache_dir: Path | None = None) -> None:
        self.subnet = subnet
        self.config = config
        self.refresh_s = refresh_ms / 1000
        self.cache_dir = cache_dir
        self.source = PostgresStateStore(config.database_url, subnet)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._store: MirrorStore | None = None
        self._replica: Replica | None = None
        self._stop = threading.Event()
        self._notice = threading.Event()
        self._thread: threading.Thread | None = None
        self._height_changed = threading.Condition()
        self.refreshes = 0
        """Syncs applied so far (full copies included)."""
        self.last_apply_s = 0.0
        """Seconds the last sync took to fetch and apply (the staleness bound's second part)."""
        self._known_at = 0.0  # `time.monotonic()` when the copy last matched the store
        self._fresh_after = 0.0  # the next read first catches up if `_known_at` is older

    # -- reading -----------------------------------------------------------------------

    @property
    def replica(self) -> Replica:
        """The copy's replica; raises `CopyError` before the first sync."""
        replica = self._replica
        if replica is None:
            raise CopyError(f"the copy of subnet {self.subnet!r} has no state yet; "
                            "call start() (or sync()) first")
        return replica

    @property
    def height(self) -> int:
        """The height of the state the copy serves (0 before the first sync)."""
        replica = self._replica
        return 0 if replica is None else replica.height

    def run(self, work: Callable[[Replica], T]) -> T:
        """``work(replica)`` on the copy, between two syncs."""
        if self._behind_a_required_moment():
            self.catch_up()
        with self._lock:
            return self._work(work)

    def _work(self, work: Callable[[Replica], T]) -> T:
        replica = self.replica
        try:
            return work(replica)
        except CopyError:
            # Work that tried to commit (a round) changed the in-memory subnet before its
            # commit was refused: drop that and load the synced state again.
            replica.reload()
            raise

    async def call(self, work: Callable[[Replica], T]) -> T:
        """`run` for the event loop: inline when no sync holds the copy, else in a thread."""
        if self._behind_a_required_moment():
            await asyncio.to_thread(self.catch_up)
        if self._lock.acquire(blocking=False):
            try:
                return self._work(work)
            finally:
                self._lock.release()
        return await asyncio.to_thread(self.run, work)

    # -- syncing -----------------------------------------------------------------------

    def sync(self) -> int:
        """Catch up with the subnet's store now; return the copy's height.

        Raises `CopyError` if the subnet has no state yet.
        """
        with self._sync_lock:  # one sync at a time: an older fetch never lands last
            return self._sync()

    def _sync(self) -> int:
        started = time.perf_counter()
        known_at = time.monotonic()
        store = self._store
        changes = self.source.changes_since(0 if store is None else store.height())
        if store is None or changes.full:
            mirror = MirrorStore()
            mirror.sync(changes)
            replica = replica_on_mirror(mirror, self.subnet, self.cache_dir)
            self._check_keys(replica)
            with self._lock:
                self._store, self._replica = mirror, replica
        else:
            news = store.sync(changes)
            if IDENTITY_KEY in news.kv_puts:
                # A new identity (a renewed delegation): open the replica again, so its
                # certificates carry the same delegation as the writer's.
                fresh = replica_on_mirror(store, self.subnet, self.cache_dir)
                with self._lock:
                    self._replica = fresh
            else:
                # Only what changed is read into the replica serving reads (reads wait
                # for that); a canister that cannot be restored has the copy load the
                # whole subnet again, which raises if it cannot either.
                with self._lock:
                    replica = self.replica
                    try:
                        replica.apply_changes(news)
                    except ReplicaError:
                        logger.warning("the copy of subnet %r reloads in full: applying the "
                                       "changes of height %s failed", self.subnet,
                                       news.height, exc_info=True)
                        replica.reload()
        self.refreshes += 1
        self.last_apply_s = time.perf_counter() - started
        self._known_at = max(self._known_at, known_at)
        with self._height_changed:
            self._height_changed.notify_all()
        return self.height

    def catch_up(self) -> int:
        """`sync` if the subnet's store is ahead of the copy (one height read otherwise);
        return the copy's height."""
        known_at = time.monotonic()
        if self.source.height() != self.height:
            return self.sync()
        self._known_at = max(self._known_at, known_at)
        return self.height

    def require_rounds_before(self, moment: float) -> None:
        """Have the next read first catch up with every round the subnet committed before
        ``moment`` (a `time.monotonic()` value), without waiting for the next refresh.

        Causal reads across subnets: a call answered by one subnet may have changed
        canisters on others (its inter-canister calls committed there before the answer
        came), so a front end marks its other copies with the answer's arrival; the
        caller's next query anywhere then sees those changes. The cost is one height
        read on the next read of each marked copy."""
        if moment > self._fresh_after:
            self._fresh_after = moment

    def _behind_a_required_moment(self) -> bool:
        return self._fresh_after > self._known_at

    def catch_up_to(self, height: int) -> int:
        """`sync` now (not at the next refresh) unless the copy reached ``height``;
        return the copy's height. Read-your-writes: a front end calls it with the height
        that answered a call before it answers the call."""
        if self.height < height:
            with self._sync_lock:  # a sync that ran meanwhile may have got there
                if self.height < height:
                    return self._sync()
        return self.height

    def _check_keys(self, replica: Replica) -> None:
        """Refuse to serve a state whose keys are not the subnet's registered keys."""
        try:
            keys = load_keys(self.config.database_url, self.subnet)
        except KeysError:
            return  # a cluster without the keys table (tests, tools): the state's keys
        if keys.bls.public_key_der != replica.key.public_key_der or \
                keys.node.seed != replica.node_key.seed:
            raise CopyError(
                f"the state of subnet {self.subnet!r} was made with other keys than the "
                "cluster's ic_subnet_keys row; the writer must open it with load_keys()")

    def wait_for_height(self, height: int, timeout: float) -> bool:
        """Block until the copy reached ``height`` (True) or ``timeout`` seconds passed."""
        deadline = time.monotonic() + timeout
        with self._height_changed:
            while self.height < height:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._height_changed.wait(left)
        return True

    def start(self) -> ReadOnlyCopy:
        """Load the full copy (raises `CopyError` if the subnet has none yet) and start
        refreshing it in a thread."""
        self.sync()
        self._thread = threading.Thread(target=self._refresh_loop,
                                        name=f"copy-{self.subnet}", daemon=True)
        self._thread.start()
        if self.config.redis_url:
            threading.Thread(target=self._listen, name=f"copy-{self.subnet}-rounds",
                             daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._notice.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.source.close()

    def _refresh_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            self._notice.wait(self.refresh_s)
            self._notice.clear()
            if self._stop.is_set():
                return
            pause = self.refresh_s - (time.monotonic() - last)
            if pause > 0:  # at most one refresh per interval
                self._stop.wait(pause)
            last = time.monotonic()
            try:
                if self.source.height() != self.height:
                    self.sync()
            except Exception:
                logger.exception("the copy of subnet %r could not refresh", self.subnet)

    def _listen(self) -> None:
        """Wake the refresher on each round notice (Redis pub/sub), reconnecting on errors."""
        import redis

        channel = rounds_channel(self.subnet)
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(str(self.config.redis_url))
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel)
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is not None:
                        self._notice.set()
            except Exception:
                logger.warning("round notices of subnet %r: Redis failed; polling until it "
                               "answers again", self.subnet, exc_info=True)
                self._stop.wait(1.0)


def describe(copy: ReadOnlyCopy) -> dict[str, Any]:
    """The copy's figures for logs and status pages."""
    return {"subnet": copy.subnet, "height": copy.height, "refreshes": copy.refreshes,
            "last_apply_ms": round(copy.last_apply_s * 1000, 3)}
