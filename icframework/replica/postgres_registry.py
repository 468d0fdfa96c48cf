"""The registry kept in PostgreSQL: `PostgresRegistry`, shared by a scale-out cluster.

The same rules as `MemoryRegistry` (``registry.py``'s `RegistryState`), stored in the
cluster's database, tables::

    ic_subnets (name PK, subnet_id UNIQUE, public_key_der, is_root, delegation?,
                first_index, last_index)          -- at most one row with is_root
    ic_routes  (first_index PK, last_index, subnet -> ic_subnets.name)
    ic_registry (name PK, value)                  -- 'version', bumped by each change

Indexes are stored as NUMERIC(20) (they use all 64 bits).
"""

from __future__ import annotations

import threading
from typing import Any, LiteralString

import psycopg

from icframework.core import Principal
from icframework.replica.errors import StateStoreError
from icframework.replica.postgres_store import connect, describe_url, install_schema
from icframework.replica.registry import (
    CanisterRange,
    RegistryError,
    RegistryState,
    RoutingTable,
    SubnetRecord,
)

__all__ = ["PostgresRegistry"]


_REGISTRY_SCHEMA_VERSION = 1
_REGISTRY_SCHEMA_LOCK = 0x1C_5CE3B
"""The advisory lock that lets one opener at a time create the registry's tables."""

_REGISTRY_SCHEMA: tuple[LiteralString, ...] = (
    "CREATE TABLE IF NOT EXISTS ic_subnets (name TEXT PRIMARY KEY, subnet_id BYTEA NOT NULL "
    "UNIQUE, public_key_der BYTEA NOT NULL, is_root BOOLEAN NOT NULL, delegation BYTEA, "
    "first_index NUMERIC(20) NOT NULL, last_index NUMERIC(20) NOT NULL)",
    "CREATE UNIQUE INDEX IF NOT EXISTS ic_subnets_one_root ON ic_subnets (is_root) WHERE is_root",
    "CREATE TABLE IF NOT EXISTS ic_routes (first_index NUMERIC(20) PRIMARY KEY, "
    "last_index NUMERIC(20) NOT NULL, subnet TEXT NOT NULL REFERENCES ic_subnets (name))",
    "CREATE TABLE IF NOT EXISTS ic_registry (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
)


class PostgresRegistry:
    """The `Registry` in the PostgreSQL database at ``url`` (shared by the whole cluster).

    Each change runs in one transaction that locks the registry tables against other
    writers (readers go on), reads them, applies the same rules as `MemoryRegistry` and
    writes the result back, so concurrent changes from several processes serialize.
    """

    def __init__(self, url: str) -> None:
        self._where = f"the registry at {describe_url(url)}"
        self._url = url
        self._mutex = threading.Lock()
        try:
            self._conn: psycopg.Connection[Any] | None = connect(url, self._where)
        except StateStoreError as exc:
            raise RegistryError(str(exc)) from exc
        try:
            install_schema(
                self._conn,
                "registry",
                _REGISTRY_SCHEMA,
                _REGISTRY_SCHEMA_VERSION,
                _REGISTRY_SCHEMA_LOCK,
                self._where,
            )
        except StateStoreError as exc:
            self.close()
            raise RegistryError(str(exc)) from exc
        except BaseException:
            self.close()
            raise

    def _connection(self) -> psycopg.Connection[Any]:
        """The open connection; a new one if the last was broken (database restarted)."""
        if self._conn is None:
            raise RegistryError(f"{self._where} is closed")
        if self._conn.broken or self._conn.closed:
            self._conn.close()
            try:
                self._conn = connect(self._url, self._where)
            except StateStoreError as exc:
                raise RegistryError(str(exc)) from exc
        return self._conn

    def _load(self, conn: psycopg.Connection[Any]) -> RegistryState:
        subnets = [
            SubnetRecord(
                name=name,
                subnet_id=bytes(subnet_id),
                public_key_der=bytes(key),
                is_root=bool(is_root),
                canister_range=CanisterRange(int(first), int(last)),
                delegation=None if delegation is None else bytes(delegation),
            )
            for name, subnet_id, key, is_root, delegation, first, last in conn.execute(
                "SELECT name, subnet_id, public_key_der, is_root, delegation, first_index, "
                "last_index FROM ic_subnets ORDER BY name"
            )
        ]
        table = RoutingTable(
            (CanisterRange(int(first), int(last)), subnet)
            for first, last, subnet in conn.execute(
                "SELECT first_index, last_index, subnet FROM ic_routes ORDER BY first_index"
            )
        )
        return RegistryState(subnets, table)

    def _read(self) -> RegistryState:
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    return self._load(conn)
            except psycopg.Error as exc:
                raise RegistryError(f"cannot read {self._where}: {exc}") from exc

    def _change(self, what: str, change: Any) -> None:
        """Run ``change(state) -> changed subnet record or True/False`` and store it."""
        with self._mutex:
            conn = self._connection()
            try:
                with conn.transaction():
                    conn.execute("LOCK TABLE ic_subnets, ic_routes IN SHARE ROW EXCLUSIVE MODE")
                    state = self._load(conn)
                    before = state.table.routes()
                    changed = change(state)
                    if changed is False:
                        return
                    if isinstance(changed, SubnetRecord):
                        self._upsert(conn, changed)
                    if state.table.routes() != before:
                        conn.execute("DELETE FROM ic_routes")
                        with conn.cursor() as cursor:
                            cursor.executemany(
                                "INSERT INTO ic_routes VALUES (%s, %s, %s)",
                                [(r.first, r.last, s) for r, s in state.table.routes()],
                            )
                    conn.execute(
                        "INSERT INTO ic_registry VALUES ('version', 1) ON CONFLICT (name) "
                        "DO UPDATE SET value = ic_registry.value + 1"
                    )
            except psycopg.Error as exc:
                raise RegistryError(f"cannot {what} in {self._where}: {exc}") from exc

    @staticmethod
    def _upsert(conn: psycopg.Connection[Any], record: SubnetRecord) -> None:
        conn.execute(
            "INSERT INTO ic_subnets VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (name) "
            "DO UPDATE SET delegation = excluded.delegation",
            (
                record.name,
                record.subnet_id,
                record.public_key_der,
                record.is_root,
                record.delegation,
                record.canister_range.first,
                record.canister_range.last,
            ),
        )

    def register_subnet(self, record: SubnetRecord) -> None:
        def register(state: RegistryState) -> SubnetRecord | bool:
            return record if state.register(record) else False

        self._change(f"register subnet {getattr(record, 'name', record)!r}", register)

    def subnet(self, name: str) -> SubnetRecord:
        return self._read().get(name)

    def subnets(self) -> list[SubnetRecord]:
        state = self._read()
        return [state.subnets[name] for name in sorted(state.subnets)]

    def root(self) -> SubnetRecord:
        return self._read().root()

    def set_delegation(self, name: str, delegation: bytes) -> None:
        self._change(
            f"set the delegation of subnet {name!r}",
            lambda state: state.set_delegation(name, delegation),
        )

    def routing_table(self) -> RoutingTable:
        return self._read().table

    def move_range(
        self, first: int | bytes | Principal, last: int | bytes | Principal, to_subnet: str
    ) -> None:
        def move(state: RegistryState) -> bool:
            state.move(first, last, to_subnet)
            return True

        self._change(f"move canisters to subnet {to_subnet!r}", move)

    def version(self) -> int:
        with self._mutex:
            conn = self._connection()
            try:
                row = conn.execute(
                    "SELECT value FROM ic_registry WHERE name = 'version'"
                ).fetchone()
            except psycopg.Error as exc:
                raise RegistryError(f"cannot read {self._where}: {exc}") from exc
        return 0 if row is None else int(row[0])

    def close(self) -> None:
        with self._mutex:
            conn, self._conn = getattr(self, "_conn", None), None
            if conn is not None:
                conn.close()

    def __enter__(self) -> PostgresRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
