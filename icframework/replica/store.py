"""The subnet's durable state store: one interface, committed one round at a time.

`StateStore` is the interface the subnet writes through; `SQLiteStateStore` is the
embedded default (a file under ``.replica/``), `MemoryStateStore` a complete in-memory
implementation for tests, and a PostgreSQL store for scale-out implements the same
methods. The data model is generic and the store interprets none of the blobs:

- canisters: ``canister_id`` → an opaque metadata record produced by the subnet;
- pages: ``(canister_id, space, index)`` → a `CHECKPOINT_PAGE` (4096-byte) blob, where
  ``space`` names a paged memory (``"heap"``, ``"stable"``) and ``index`` counts pages,
  not bytes; an absent page is all zeros;
- key/value: ``(namespace, key)`` → bytes, for subnet-level data (ingress history,
  queues, modules, registry, counters);
- meta: the height of the last committed round and its time in nanoseconds since the
  Unix epoch (0 and 0 for a new store).

How it works: the subnet gathers a round's effects in a `RoundChanges` and calls
`commit_round`, which applies all of them or none (one SQLite transaction). Within a
round, deletions apply before writes, so a round can wipe a space (reinstall) and fill
it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

from icframework.replica.errors import StateStoreError
from icframework.replica.execution.page_map import CHECKPOINT_PAGE

SpaceKey = tuple[bytes, str]
"""``(canister_id, space)``: one paged memory of one canister."""

KvKey = tuple[str, bytes]
"""``(namespace, key)`` of the key/value data."""


@dataclass
class RoundChanges:
    """Everything one round changes, committed atomically by `StateStore.commit_round`.

    ``time_ns`` is the round's time in nanoseconds since the Unix epoch. ``page_writes``
    maps a space to ``{page index: 4096 bytes, or None to delete the page}``;
    ``space_deletes`` drops whole spaces (reinstall, uninstall, delete); deleting a
    canister record does not drop its spaces by itself. Deletions are applied before
    upserts and writes of the same round.
    """

    height: int
    time_ns: int
    canister_upserts: dict[bytes, bytes] = field(default_factory=dict)
    canister_deletes: set[bytes] = field(default_factory=set)
    page_writes: dict[SpaceKey, dict[int, bytes | None]] = field(default_factory=dict)
    space_deletes: set[SpaceKey] = field(default_factory=set)
    kv_puts: dict[KvKey, bytes] = field(default_factory=dict)
    kv_deletes: set[KvKey] = field(default_factory=set)


class StateStore(ABC):
    """The interface of a subnet's state store (see the module docstring).

    Every method raises `StateStoreError` when the store is closed or its backend fails;
    `commit_round` also raises it, having changed nothing, for a malformed round.
    """

    def commit_round(self, changes: RoundChanges) -> None:
        """Apply ``changes`` and record its height and time, all or nothing."""
        self._check_open()
        _validate(changes)
        self._apply(changes)

    @abstractmethod
    def _apply(self, changes: RoundChanges) -> None:
        """Apply a validated round atomically."""

    @abstractmethod
    def _check_open(self) -> None:
        """Raise `StateStoreError` if the store is closed."""

    @abstractmethod
    def height(self) -> int:
        """Height of the last committed round (0 for a new store)."""

    @abstractmethod
    def time_ns(self) -> int:
        """Time of the last committed round, ns since the Unix epoch (0 for a new store)."""

    @abstractmethod
    def canister_records(self) -> dict[bytes, bytes]:
        """Every canister's record, by canister id."""

    @abstractmethod
    def load_pages(self, canister_id: bytes, space: str) -> Iterator[tuple[int, bytes]]:
        """The stored pages of one space as ``(page index, 4096 bytes)``, by index."""

    @abstractmethod
    def kv_get(self, namespace: str, key: bytes) -> bytes | None:
        """The value stored under ``(namespace, key)``, or None."""

    @abstractmethod
    def kv_scan(self, namespace: str) -> Iterator[tuple[bytes, bytes]]:
        """Every ``(key, value)`` of ``namespace``, ordered by key (bytewise)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store; closing twice is allowed."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _validate(changes: RoundChanges) -> None:
    """Raise `StateStoreError` unless every blob is bytes-like and every page is 4096 bytes.

    Checking before writing keeps a malformed round from landing half way in any store.
    """
    where = f"round {changes.height}"
    for name, number in (("height", changes.height), ("time_ns", changes.time_ns)):
        if not isinstance(number, int) or not 0 <= number < 2**63:
            raise StateStoreError(f"{where}: {name} is {number!r}; expected 0 <= int < 2**63")
    for canister_id, record in changes.canister_upserts.items():
        _check_blob(where, f"the record of canister {canister_id!r}", record)
    for (canister_id, space), pages in changes.page_writes.items():
        for index, data in pages.items():
            if data is not None:
                _check_blob(where, f"page {index} of {space!r} of {canister_id!r}", data)
            if index < 0 or (data is not None and len(data) != CHECKPOINT_PAGE):
                raise StateStoreError(
                    f"{where}: page {index} of space {space!r} of canister {canister_id!r} "
                    f"has {'?' if data is None else len(data)} bytes; pages have "
                    f"non-negative indexes and exactly {CHECKPOINT_PAGE} bytes"
                )
    for (namespace, key), value in changes.kv_puts.items():
        _check_blob(where, f"the value of key {key!r} in namespace {namespace!r}", value)


def _check_blob(where: str, what: str, value: object) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise StateStoreError(
            f"{where}: {what} is a {type(value).__name__}; the store keeps bytes only"
        )


class MemoryStateStore(StateStore):
    """A complete `StateStore` held in dicts: nothing survives the process."""

    def __init__(self) -> None:
        self._height = 0
        self._time_ns = 0
        self._canisters: dict[bytes, bytes] = {}
        self._spaces: dict[SpaceKey, dict[int, bytes]] = {}
        self._kv: dict[str, dict[bytes, bytes]] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StateStoreError("the in-memory state store is closed")

    def _apply(self, changes: RoundChanges) -> None:
        # Validation already passed and nothing below can fail, so this is all or nothing.
        for canister_id in changes.canister_deletes:
            self._canisters.pop(canister_id, None)
        for canister_id, record in changes.canister_upserts.items():
            self._canisters[canister_id] = bytes(record)
        for space_key in changes.space_deletes:
            self._spaces.pop(space_key, None)
        for space_key, writes in changes.page_writes.items():
            pages = self._spaces.setdefault(space_key, {})
            for index, data in writes.items():
                if data is None:
                    pages.pop(index, None)
                else:
                    pages[index] = bytes(data)
            if not pages:
                del self._spaces[space_key]
        for namespace, key in changes.kv_deletes:
            self._kv.get(namespace, {}).pop(key, None)
        for (namespace, key), value in changes.kv_puts.items():
            self._kv.setdefault(namespace, {})[bytes(key)] = bytes(value)
        self._height = changes.height
        self._time_ns = changes.time_ns

    def height(self) -> int:
        self._check_open()
        return self._height

    def time_ns(self) -> int:
        self._check_open()
        return self._time_ns

    def canister_records(self) -> dict[bytes, bytes]:
        self._check_open()
        return dict(self._canisters)

    def load_pages(self, canister_id: bytes, space: str) -> Iterator[tuple[int, bytes]]:
        self._check_open()
        return iter(sorted(self._spaces.get((canister_id, space), {}).items()))

    def kv_get(self, namespace: str, key: bytes) -> bytes | None:
        self._check_open()
        return self._kv.get(namespace, {}).get(key)

    def kv_scan(self, namespace: str) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        return iter(sorted(self._kv.get(namespace, {}).items()))

    def close(self) -> None:
        self._closed = True


_SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS canisters (canister_id BLOB PRIMARY KEY, record BLOB NOT NULL)",
    # A rowid table with the key as a separate index measured faster for 4 KiB blobs than
    # WITHOUT ROWID (which keeps the blob in the key's b-tree) or a larger page_size.
    "CREATE TABLE IF NOT EXISTS pages (canister_id BLOB NOT NULL, space TEXT NOT NULL, "
    "idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (canister_id, space, idx))",
    "CREATE TABLE IF NOT EXISTS kv (namespace TEXT NOT NULL, key BLOB NOT NULL, "
    "value BLOB NOT NULL, PRIMARY KEY (namespace, key))",
)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed if the body returns, rolled back if it raises.

    ``BEGIN IMMEDIATE`` takes SQLite's write lock before the first statement, so a busy
    database fails the round before anything is written rather than at ``COMMIT``.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


class SQLiteStateStore(StateStore):
    """The embedded state store: one SQLite database file, one writer process.

    Durability: the database runs in WAL mode with ``synchronous=NORMAL``. A commit
    returns once the round's pages are appended to the write-ahead log with ``write()``,
    i.e. they are in the operating system's page cache, which outlives the process; so a
    crash of the replica process (``kill -9``, OOM kill, a segfault in a native module)
    loses no committed round. Only an OS crash or power loss before the next WAL fsync
    (at checkpoint time) can lose the most recent rounds, and even then the database
    rolls back to an earlier consistent round, never a partial one. Pass
    ``fsync_each_round=True`` (``synchronous=FULL``) to also survive power loss at the
    price of one fsync per round.

    Opening takes an exclusive `fcntl.flock` on ``<path>.lock`` (holding the owner's PID)
    for the life of the store, so a second replica on the same state directory fails
    fast instead of interleaving rounds. Calls are serialized by a lock, so one store can
    be shared by threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_each_round: bool = False) -> None:
        self.path = Path(path)
        self._mutex = threading.Lock()
        self._lock_file: IO[str] | None = _lock_exclusively(self.path)
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False
            )
            self._setup(fsync_each_round)
        except sqlite3.Error as exc:
            self.close()
            raise StateStoreError(f"cannot open the state store {self.path}: {exc}") from exc
        except BaseException:
            self.close()
            raise

    def _setup(self, fsync_each_round: bool) -> None:
        db = self._conn()
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise StateStoreError(
                f"the state store {self.path} cannot use WAL mode (got {mode!r}); "
                "put the state directory on a local file system"
            )
        db.execute(f"PRAGMA synchronous={'FULL' if fsync_each_round else 'NORMAL'}")
        # WAL files are truncated back to this size after a checkpoint (big rounds grow them).
        db.execute(f"PRAGMA journal_size_limit={64 * 1024 * 1024}")
        with _transaction(db):
            for statement in _SCHEMA:
                db.execute(statement)
            row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
            elif row[0] != _SCHEMA_VERSION:
                raise StateStoreError(
                    f"the state store {self.path} has schema version {row[0]}, this replica "
                    f"reads version {_SCHEMA_VERSION}; use a new state directory"
                )

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateStoreError(f"the state store {self.path} is closed")
        return self._db

    def _check_open(self) -> None:
        self._conn()

    def _apply(self, changes: RoundChanges) -> None:
        with self._mutex:
            db = self._conn()
            try:
                with _transaction(db):
                    self._write(db, changes)
            except sqlite3.Error as exc:
                raise StateStoreError(
                    f"cannot commit round {changes.height} to the state store {self.path}: {exc}"
                ) from exc

    @staticmethod
    def _write(db: sqlite3.Connection, changes: RoundChanges) -> None:
        db.executemany(
            "DELETE FROM canisters WHERE canister_id = ?",
            [(cid,) for cid in changes.canister_deletes],
        )
        db.executemany(
            "INSERT INTO canisters VALUES (?, ?) "
            "ON CONFLICT DO UPDATE SET record = excluded.record",
            changes.canister_upserts.items(),
        )
        db.executemany(
            "DELETE FROM pages WHERE canister_id = ? AND space = ?", changes.space_deletes
        )
        for (cid, space), writes in changes.page_writes.items():
            db.executemany(
                "DELETE FROM pages WHERE canister_id = ? AND space = ? AND idx = ?",
                [(cid, space, index) for index, data in writes.items() if data is None],
            )
            db.executemany(
                "INSERT INTO pages VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO UPDATE SET data = excluded.data",
                [(cid, space, index, data) for index, data in writes.items() if data is not None],
            )
        db.executemany("DELETE FROM kv WHERE namespace = ? AND key = ?", changes.kv_deletes)
        db.executemany(
            "INSERT INTO kv VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
            [(ns, key, value) for (ns, key), value in changes.kv_puts.items()],
        )
        db.executemany(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT DO UPDATE SET value = excluded.value",
            [("height", changes.height), ("time_ns", changes.time_ns)],
        )

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read, fetched under the mutex (so no cursor outlives the call)."""
        with self._mutex:
            db = self._conn()
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StateStoreError(f"cannot read the state store {self.path}: {exc}") from exc

    def _meta(self, name: str) -> int:
        rows = self._query("SELECT value FROM meta WHERE name = ?", (name,))
        return int(rows[0][0]) if rows else 0

    def height(self) -> int:
        return self._meta("height")

    def time_ns(self) -> int:
        return self._meta("time_ns")

    def canister_records(self) -> dict[bytes, bytes]:
        rows = self._query("SELECT canister_id, record FROM canisters")
        return {bytes(cid): bytes(record) for cid, record in rows}

    def load_pages(self, canister_id: bytes, space: str) -> Iterator[tuple[int, bytes]]:
        rows = self._query(
            "SELECT idx, data FROM pages WHERE canister_id = ? AND space = ? ORDER BY idx",
            (canister_id, space),
        )
        return ((int(index), bytes(data)) for index, data in rows)

    def kv_get(self, namespace: str, key: bytes) -> bytes | None:
        rows = self._query("SELECT value FROM kv WHERE namespace = ? AND key = ?", (namespace, key))
        return bytes(rows[0][0]) if rows else None

    def kv_scan(self, namespace: str) -> Iterator[tuple[bytes, bytes]]:
        rows = self._query(
            "SELECT key, value FROM kv WHERE namespace = ? ORDER BY key", (namespace,)
        )
        return ((bytes(key), bytes(value)) for key, value in rows)

    def close(self) -> None:
        with self._mutex:
            db, self._db = getattr(self, "_db", None), None
            if db is not None:
                db.close()
            lock_file, self._lock_file = self._lock_file, None
            if lock_file is not None:
                lock_file.close()


def _lock_exclusively(path: Path) -> IO[str]:
    """Hold an exclusive `fcntl.flock` on ``<path>.lock`` and write our PID into it.

    The kernel drops the lock when the process dies, however it dies, so a stale lock
    file never blocks a restart. Raises `StateStoreError` naming the state directory and
    the PID of the holder when another store (in any process) holds it.
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        # "a+" creates the file without truncating it: the holder's PID must stay readable.
        lock_file = open(lock_path, "a+", encoding="ascii")  # noqa: SIM115 - held until close()
    except OSError as exc:
        raise StateStoreError(
            f"cannot open the lock file {lock_path} of the state store: {exc}; "
            "create the state directory first"
        ) from exc
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "unknown"
        lock_file.close()
        raise StateStoreError(
            f"the state directory {path.parent} is in use: process {holder} holds "
            f"{lock_path}; stop that replica or choose another state directory"
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"{os.getpid()}\n")
    lock_file.flush()
    return lock_file
