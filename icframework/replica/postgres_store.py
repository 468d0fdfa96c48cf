"""The scale-out state store: every subnet's state in one PostgreSQL database.

`PostgresStateStore` implements `StateStore` (see ``store.py``) with psycopg 3, so a
subnet runs unchanged on it; it adds what the scale-out deployment needs on top:

- **Shared tables, keyed by subnet name.** Several subnets (``root``, ``app1``, …) keep
  their state in the same tables; each store sees only its own subnet's rows.
- **Fencing.** A store opened with the ``epoch`` of a `WriterLease` (``lease.py``) checks,
  inside each commit's transaction, that the lease's epoch is still that one, and
  otherwise raises `LeaseLost` having written nothing: a writer paused past its lease
  can never overwrite the rounds of the writer that took over. The check takes a share
  lock on the lease row, so a takeover waits for a commit in flight and the next commit
  of the old writer sees the new epoch. A store opened without an epoch (one writer, no
  standby: tests, tools) may commit only while no lease was ever taken for its subnet.
- **Change tracking for read-only copies.** Every row records the height of the round
  that last wrote it (``written_at``); a deletion does not remove the row but turns it
  into a *tombstone* (its data set to NULL) written at that height. `changes_since(h)`
  returns everything written or deleted at height ``h`` or later, as a `Changes` that a
  copy at height ``h`` applies with its own ``commit_round``. Rows written at ``h``
  itself are included because a commit may repeat the current height (the embedded
  replica stores its identity and delegation that way): re-applying them is harmless
  (upserts and deletions are idempotent), missing them would not be. A copy may check
  `height` first and call `changes_since` only once it moved.

Tombstone garbage collection: tombstones are only needed by copies older than them.
`collect_tombstones(h)` deletes the tombstones written below height ``h`` and records
``h`` as the subnet's *GC floor*; `changes_since(s)` for ``s`` below the floor cannot list
the deletions it lost, so it returns a full copy instead (``Changes.full``: the copy
starts again from an empty store). The writer calls it with the lowest height its copies
are known to have reached, or simply every N rounds with ``height() - N`` (copies that
fell further behind pay one full reload).

Durability: a commit returns once PostgreSQL flushed it to its write-ahead log (the
server's default ``synchronous_commit=on``), so neither a crash of the replica nor of
the database loses a committed round. Adding ``options=-csynchronous_commit%3Doff`` to the
URL returns before that flush, a little faster: a database crash may then lose the last
rounds, never part of one (the SQLite store's default makes the same trade).

Schema (all tables shared by the subnets, created on first open; version in
``ic_schema``)::

    ic_meta      (subnet, name, value)                   height, time_ns, gc_floor
    ic_canisters (subnet, canister_id, record?, written_at)
    ic_pages     (subnet, canister_id, space, idx, data?, written_at)
    ic_kv        (subnet, namespace, key, value?, written_at)
    ic_leases    (subnet, holder?, epoch, expires_at)    see lease.py

(``?``: NULL in a tombstone; each data table has an index on ``(subnet, written_at)``.)
A round's commit is one transaction of a few statements sent through a pipeline (about
three round trips): the fencing check, one statement per kind of change (each change
list is passed as arrays and expanded with ``unnest``), and the meta update. A round of
10 pages and 10 key/value entries commits in a few milliseconds, most of it the WAL flush.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from icframework.replica.errors import StateStoreError
from icframework.replica.registry import check_subnet_name
from icframework.replica.store import RoundChanges, StateStore

SCHEMA_VERSION = 1

# Any constant: held (per transaction) while the tables are created, so that processes
# opening a new database at once do not race in CREATE TABLE IF NOT EXISTS.
_SCHEMA_LOCK = 0x1C_5CE3A

_SCHEMA: tuple[LiteralString, ...] = (
    "CREATE TABLE IF NOT EXISTS ic_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ic_meta (subnet TEXT NOT NULL, name TEXT NOT NULL, "
    "value BIGINT NOT NULL, PRIMARY KEY (subnet, name))",
    "CREATE TABLE IF NOT EXISTS ic_canisters (subnet TEXT NOT NULL, canister_id BYTEA NOT NULL, "
    "record BYTEA, written_at BIGINT NOT NULL, PRIMARY KEY (subnet, canister_id))",
    "CREATE INDEX IF NOT EXISTS ic_canisters_written ON ic_canisters (subnet, written_at)",
    "CREATE TABLE IF NOT EXISTS ic_pages (subnet TEXT NOT NULL, canister_id BYTEA NOT NULL, "
    "space TEXT NOT NULL, idx BIGINT NOT NULL, data BYTEA, written_at BIGINT NOT NULL, "
    "PRIMARY KEY (subnet, canister_id, space, idx))",
    "CREATE INDEX IF NOT EXISTS ic_pages_written ON ic_pages (subnet, written_at)",
    "CREATE TABLE IF NOT EXISTS ic_kv (subnet TEXT NOT NULL, namespace TEXT NOT NULL, "
    "key BYTEA NOT NULL, value BYTEA, written_at BIGINT NOT NULL, "
    "PRIMARY KEY (subnet, namespace, key))",
    "CREATE INDEX IF NOT EXISTS ic_kv_written ON ic_kv (subnet, written_at)",
    "CREATE TABLE IF NOT EXISTS ic_leases (subnet TEXT PRIMARY KEY, holder TEXT, "
    "epoch BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)",
)


class LeaseLost(StateStoreError):
    """The writer's lease epoch is no longer current: another writer took over the subnet.

    Raised by a fenced `PostgresStateStore.commit_round` (which then changed nothing) and
    by `WriterLease.renew`. The writer must stop; its rounds are the new writer's to redo.
    """


@dataclass
class Changes(RoundChanges):
    """What a read-only copy needs to catch up from height ``since`` to ``height``.

    A `RoundChanges` (so a copy applies it with its own ``commit_round``) holding every
    canister record, page and key/value entry written at ``since`` or later (deleted ones
    as deletions), with the store's current height and time. When ``full`` is true the
    copy was too old for the kept tombstones (or claimed a height the store never
    reached): the changes hold the whole state and no deletions, and must be applied to
    an empty store.
    """

    since: int = 0
    full: bool = False


def describe_url(url: str) -> str:
    """``url`` without its password, for messages: ``postgresql://user@host:port/db``."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "<an unparsable PostgreSQL URL>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


def connect(url: str, what: str) -> psycopg.Connection[Any]:
    """An autocommit connection to ``url`` with the schema in place, or `StateStoreError`.

    ``what`` names the opener and the database in error messages (e.g. "the state store
    of subnet 'app1' at postgresql://host/db", see `describe_url`). Creates the tables on
    first use and refuses a database whose schema version is not `SCHEMA_VERSION`.
    """
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StateStoreError(
            f"cannot open {what}: {exc}; check that PostgreSQL "
            "runs there and the URL's user, password and database"
        ) from exc
    try:
        install_schema(conn, "state", _SCHEMA, SCHEMA_VERSION, _SCHEMA_LOCK, what)
    except BaseException:
        conn.close()
        raise
    return conn


def install_schema(
    conn: psycopg.Connection[Any],
    component: str,
    statements: Sequence[LiteralString],
    version: int,
    lock: int,
    what: str,
) -> None:
    """Create ``component``'s tables with ``statements`` if they are missing (one opener at
    a time: the advisory ``lock``) and record ``version`` in ``ic_schema``; raise
    `StateStoreError` naming ``what`` if the database holds another version of them, or
    if PostgreSQL refuses."""
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            for statement in statements:
                conn.execute(statement)
            row = conn.execute(
                "SELECT version FROM ic_schema WHERE component = %s", (component,)
            ).fetchone()
            if row is None:
                conn.execute("INSERT INTO ic_schema VALUES (%s, %s)", (component, version))
            elif row[0] != version:
                raise StateStoreError(
                    f"{what} has {component} schema version {row[0]}, this replica reads "
                    f"version {version}; use another database"
                )
    except psycopg.Error as exc:
        raise StateStoreError(f"cannot create the tables of {what}: {exc}") from exc


def check_epoch(conn: psycopg.Connection[Any], subnet: str, epoch: int | None) -> None:
    """Inside the caller's transaction: raise `LeaseLost` unless ``epoch`` is current.

    Share-locks the subnet's lease row until the transaction ends, so no acquisition can
    move the epoch between this check and the caller's commit. ``epoch=None`` (an
    unfenced writer) passes only while no lease was ever taken for ``subnet``.
    """
    row = conn.execute(
        "SELECT epoch, holder FROM ic_leases WHERE subnet = %s FOR SHARE", (subnet,)
    ).fetchone()
    current = None if row is None else int(row[0])
    if current == epoch:
        return
    if epoch is None:
        raise LeaseLost(
            f"subnet {subnet!r} is written under a writer lease (epoch {current}, holder "
            f"{row[1] if row else None!r}); open the store with the epoch of an acquired "
            "WriterLease to commit"
        )
    raise LeaseLost(
        f"the writer lease of subnet {subnet!r} moved from epoch {epoch} to {current} "
        f"(holder {row[1] if row else None!r}); this writer must stop"
    )


class PostgresStateStore(StateStore):
    """The state of subnet ``subnet`` in the PostgreSQL database at ``url``.

    ``epoch``: the fencing token of this writer's `WriterLease` (``lease.epoch``); None
    for an unfenced writer or a reader. It may be set later (``store.epoch = ...``) when a
    standby that opened the store acquires the lease. Calls are serialized by a lock, so
    one store can be shared by threads; readers in other processes open their own.

    A call that fails because the connection broke (the database restarted, the network
    dropped) raises `StateStoreError`; the next call connects again. A commit is never
    retried: after such a failure the round may or may not have landed, and the writer
    learns which from `height`.
    """

    def __init__(self, url: str, subnet: str, *, epoch: int | None = None) -> None:
        self.subnet = check_subnet_name(subnet)
        self.epoch = epoch
        self._where = f"the state store of subnet {subnet!r} at {describe_url(url)}"
        self._url = url
        self._mutex = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = connect(url, self._where)

    # -- plumbing ---------------------------------------------------------------------

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; a new one if the last was broken (database restarted)."""
        if self._conn is None:
            raise StateStoreError(f"{self._where} is closed")
        if self._conn.broken or self._conn.closed:
            self._conn.close()
            self._conn = connect(self._url, self._where)
        return self._conn

    def _check_open(self) -> None:
        self._connection()

    def _query(self, query: LiteralString, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """All rows of one read, fetched under the mutex."""
        with self._mutex:
            conn = self._connection()
            try:
                return conn.execute(query, params).fetchall()
            except psycopg.Error as exc:
                raise StateStoreError(f"cannot read {self._where}: {exc}") from exc

    # -- writing ----------------------------------------------------------------------

    def _apply(self, changes: RoundChanges) -> None:
        with self._mutex:
            conn = self._connection()
            try:
                with conn.pipeline(), conn.transaction():
                    check_epoch(conn, self.subnet, self.epoch)
                    self._write(conn, changes)
            except psycopg.Error as exc:
                raise StateStoreError(
                    f"cannot commit round {changes.height} to {self._where}: {exc}"
                ) from exc

    def _write(self, conn: psycopg.Connection[Any], changes: RoundChanges) -> None:
        """Queue the round's statements; deletions first, as tombstones at its height."""
        s, h = self.subnet, changes.height
        if changes.canister_deletes:
            conn.execute(
                "UPDATE ic_canisters SET record = NULL, written_at = %s WHERE subnet = %s "
                "AND canister_id = ANY(%s) AND record IS NOT NULL",
                (h, s, _blobs(changes.canister_deletes)),
            )
        if changes.canister_upserts:
            conn.execute(
                "INSERT INTO ic_canisters SELECT %s, c, r, %s FROM unnest(%s::bytea[], "
                "%s::bytea[]) AS t(c, r) ON CONFLICT (subnet, canister_id) DO UPDATE "
                "SET record = excluded.record, written_at = excluded.written_at",
                (s, h, _blobs(changes.canister_upserts), _blobs(changes.canister_upserts.values())),
            )
        if changes.space_deletes:
            ids, spaces = zip(*changes.space_deletes, strict=True)
            conn.execute(
                "UPDATE ic_pages p SET data = NULL, written_at = %s FROM unnest(%s::bytea[], "
                "%s::text[]) AS t(c, sp) WHERE p.subnet = %s AND p.canister_id = t.c "
                "AND p.space = t.sp AND p.data IS NOT NULL",
                (h, _blobs(ids), list(spaces), s),
            )
        deleted = [
            (c, sp, i)
            for (c, sp), w in changes.page_writes.items()
            for i, d in w.items()
            if d is None
        ]
        if deleted:
            ids, spaces, indexes = zip(*deleted, strict=True)
            conn.execute(
                "UPDATE ic_pages p SET data = NULL, written_at = %s FROM unnest(%s::bytea[], "
                "%s::text[], %s::bigint[]) AS t(c, sp, i) WHERE p.subnet = %s "
                "AND p.canister_id = t.c AND p.space = t.sp AND p.idx = t.i "
                "AND p.data IS NOT NULL",
                (h, _blobs(ids), list(spaces), list(indexes), s),
            )
        written = [
            (c, sp, i, d)
            for (c, sp), w in changes.page_writes.items()
            for i, d in w.items()
            if d is not None
        ]
        if written:
            ids, spaces, indexes, datas = zip(*written, strict=True)
            conn.execute(
                "INSERT INTO ic_pages SELECT %s, c, sp, i, d, %s FROM unnest(%s::bytea[], "
                "%s::text[], %s::bigint[], %s::bytea[]) AS t(c, sp, i, d) "
                "ON CONFLICT (subnet, canister_id, space, idx) DO UPDATE "
                "SET data = excluded.data, written_at = excluded.written_at",
                (s, h, _blobs(ids), list(spaces), list(indexes), _blobs(datas)),
            )
        if changes.kv_deletes:
            namespaces, keys = zip(*changes.kv_deletes, strict=True)
            conn.execute(
                "UPDATE ic_kv k SET value = NULL, written_at = %s FROM unnest(%s::text[], "
                "%s::bytea[]) AS t(n, k) WHERE k.subnet = %s AND k.namespace = t.n "
                "AND k.key = t.k AND k.value IS NOT NULL",
                (h, list(namespaces), _blobs(keys), s),
            )
        if changes.kv_puts:
            namespaces, keys = zip(*changes.kv_puts, strict=True)
            conn.execute(
                "INSERT INTO ic_kv SELECT %s, n, k, v, %s FROM unnest(%s::text[], "
                "%s::bytea[], %s::bytea[]) AS t(n, k, v) ON CONFLICT (subnet, namespace, key) "
                "DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
                (s, h, list(namespaces), _blobs(keys), _blobs(changes.kv_puts.values())),
            )
        conn.execute(
            "INSERT INTO ic_meta VALUES (%s, 'height', %s), (%s, 'time_ns', %s) "
            "ON CONFLICT (subnet, name) DO UPDATE SET value = excluded.value",
            (s, h, s, changes.time_ns),
        )

    # -- reading ----------------------------------------------------------------------

    def _meta(self, name: str) -> int:
        rows = self._query(
            "SELECT value FROM ic_meta WHERE subnet = %s AND name = %s", (self.subnet, name)
        )
        return int(rows[0][0]) if rows else 0

    def height(self) -> int:
        return self._meta("height")

    def time_ns(self) -> int:
        return self._meta("time_ns")

    def canister_records(self) -> dict[bytes, bytes]:
        rows = self._query(
            "SELECT canister_id, record FROM ic_canisters WHERE subnet = %s AND record IS NOT NULL",
            (self.subnet,),
        )
        return {bytes(cid): bytes(record) for cid, record in rows}

    def load_pages(self, canister_id: bytes, space: str) -> Iterator[tuple[int, bytes]]:
        rows = self._query(
            "SELECT idx, data FROM ic_pages WHERE subnet = %s AND canister_id = %s "
            "AND space = %s AND data IS NOT NULL ORDER BY idx",
            (self.subnet, canister_id, space),
        )
        return ((int(index), bytes(data)) for index, data in rows)

    def kv_get(self, namespace: str, key: bytes) -> bytes | None:
        rows = self._query(
            "SELECT value FROM ic_kv WHERE subnet = %s AND namespace = %s AND key = %s",
            (self.subnet, namespace, key),
        )
        return None if not rows or rows[0][0] is None else bytes(rows[0][0])

    def kv_scan(self, namespace: str) -> Iterator[tuple[bytes, bytes]]:
        # bytea compares bytewise, the order the interface promises.
        rows = self._query(
            "SELECT key, value FROM ic_kv WHERE subnet = %s AND namespace = %s "
            "AND value IS NOT NULL ORDER BY key",
            (self.subnet, namespace),
        )
        return ((bytes(key), bytes(value)) for key, value in rows)

    # -- followers --------------------------------------------------------------------

    def changes_since(self, height: int) -> Changes:
        """Everything a copy at ``height`` needs to reach this store's current round.

        Read in one repeatable-read snapshot, so the rows and the height agree even while
        the writer commits. Below the GC floor (see the module docstring) the answer is
        a full copy (``full=True``); so is ``changes_since(0)``, and the answer to a
        height above the store's (a copy of a newer state: it must start again).
        """
        if not isinstance(height, int) or height < 0:
            raise StateStoreError(f"changes_since({height!r}): expected a height >= 0")
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    return self._read_changes(conn, height)
            except psycopg.Error as exc:
                raise StateStoreError(f"cannot read the changes of {self._where}: {exc}") from exc

    def _read_changes(self, conn: psycopg.Connection[Any], since: int) -> Changes:
        meta = dict(
            conn.execute("SELECT name, value FROM ic_meta WHERE subnet = %s", (self.subnet,))
        )
        height = int(meta.get("height", 0))
        full = since == 0 or since < meta.get("gc_floor", 0) or since > height
        changes = Changes(
            height=height,
            time_ns=int(meta.get("time_ns", 0)),
            since=0 if full else since,
            full=full,
        )
        start = 0 if full else since
        alive: LiteralString = " AND record IS NOT NULL" if full else ""
        for cid, record in conn.execute(
            "SELECT canister_id, record FROM ic_canisters WHERE subnet = %s AND written_at >= %s"
            + alive,
            (self.subnet, start),
        ):
            if record is None:
                changes.canister_deletes.add(bytes(cid))
            else:
                changes.canister_upserts[bytes(cid)] = bytes(record)
        alive = " AND data IS NOT NULL" if full else ""
        for cid, space, index, data in conn.execute(
            "SELECT canister_id, space, idx, data FROM ic_pages WHERE subnet = %s "
            "AND written_at >= %s" + alive,
            (self.subnet, start),
        ):
            pages = changes.page_writes.setdefault((bytes(cid), space), {})
            pages[int(index)] = None if data is None else bytes(data)
        alive = " AND value IS NOT NULL" if full else ""
        for namespace, key, value in conn.execute(
            "SELECT namespace, key, value FROM ic_kv WHERE subnet = %s AND written_at >= %s"
            + alive,
            (self.subnet, start),
        ):
            if value is None:
                changes.kv_deletes.add((namespace, bytes(key)))
            else:
                changes.kv_puts[(namespace, bytes(key))] = bytes(value)
        return changes

    def collect_tombstones(self, below_height: int) -> int:
        """Delete the tombstones written below ``below_height``; return how many.

        Raises the GC floor to ``below_height`` (it never goes down): copies older than it
        get a full copy from `changes_since`. Runs in one transaction, fenced like a commit.
        """
        if not isinstance(below_height, int) or below_height < 0:
            raise StateStoreError(f"collect_tombstones({below_height!r}): expected a height >= 0")
        removed = 0
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    check_epoch(conn, self.subnet, self.epoch)
                    for table, column in (
                        ("ic_canisters", "record"),
                        ("ic_pages", "data"),
                        ("ic_kv", "value"),
                    ):
                        cursor = conn.execute(
                            sql.SQL(
                                "DELETE FROM {} WHERE subnet = %s AND written_at < %s "
                                "AND {} IS NULL"
                            ).format(sql.Identifier(table), sql.Identifier(column)),
                            (self.subnet, below_height),
                        )
                        removed += cursor.rowcount
                    conn.execute(
                        "INSERT INTO ic_meta VALUES (%s, 'gc_floor', %s) ON CONFLICT "
                        "(subnet, name) DO UPDATE SET value = "
                        "GREATEST(ic_meta.value, excluded.value)",
                        (self.subnet, below_height),
                    )
            except psycopg.Error as exc:
                raise StateStoreError(
                    f"cannot collect the tombstones of {self._where}: {exc}"
                ) from exc
        return removed

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()


def _blobs(values: Any) -> list[bytes]:
    """Blobs as `bytes` (psycopg adapts a list of one Python type to one array type)."""
    return [bytes(value) for value in values]
