"""Online canister migration: move one canister between subnets while both writers run.

``manage.py cluster migrate CANISTER --to SUBNET`` (`migrate_online`) writes a
*migration record* (table ``ic_migrations``, one row per canister) and waits while the
two writers carry it through its phases, each step in the writer's own thread between
rounds and each commit fenced by that writer's lease epoch:

``stopping``  (written by the command) The source writer stops the canister with the
              management ``stop_canister`` semantics: calls already executing finish,
              new ingress is refused with the IC's "canister is stopping/stopped"
              reject, XNet requests reaching it are rejected with a refund. Once it is
              stopped the source marks it migrating (kv ``migration``/``<id>`` = the
              destination) in a round of its own and moves the record to ``stopped``.
``stopped``   The destination writer reads the canister's record, memory pages,
              key/value data, Wasm chunk store (`canister_namespaces`) and module from
              the source's committed rows and imports them in a round of its own
              (`PostgresStateStore.commit_round`, fenced by its epoch), moves the
              canister's id to itself in the registry
              (`PostgresRegistry.move_range`: the version bumps, so writers and front
              ends reload the routing table within `ROUTING_CHECK_S`), signs new
              delegations for both subnets' new ranges with the root key, adopts its
              own, starts the canister and moves the record to ``moved``.
``moved``     The source writer drops the canister (record, pages, key/value data,
              chunks and the mark) in a round of its own, adopts its new delegation
              and moves the record to ``done``; the command returns.

Why a record the writers honour rather than the command copying rows itself (as
`bootstrap.migrate_canister` does with both writers stopped): only a subnet's writer
may commit to its store (the lease epoch fences every commit), and only it holds the
subnet's state in memory; a copy made behind a running writer's back would be
overwritten by its next round or missed by its in-memory state. Each phase change is
an ``UPDATE ... WHERE phase = <expected>`` guarded by the writer's current lease epoch,
so a writer that lost its lease cannot advance it, and every step is idempotent: a
writer that dies mid-phase is replaced by its standby, which sees the same phase and
does the step again (an import overwrites the same rows; a stopped canister stays
stopped). The source's copy cannot change once it is stopped (no ingress, no XNet
request and no timer executes on a stopped canister), so the destination's import
reads a frozen state without holding the source's lease.

Messages in flight: ingress reaching the source while the canister stops or is stopped
is refused with the IC's reject (IC0508/IC0509 "canister is stopping/stopped", a
non-replicated rejection the front end passes on). Once the registry moved, a call a
front end still routes to the source (its routing table is reloaded within a second)
is not refused for the stale route: a refusal by the source's copy makes the front end
read the registry again and submit the call where it routes it now
(`FrontendBackend.submit`), and a call reaching the source's writer (after the drop,
or before it while the canister is still there stopped and marked) is forwarded by that
writer to the destination's queue, whose answer reaches the caller (front ends take
answers from every subnet). (A canister moved by the offline
`bootstrap.migrate_canister` leaves no record: a call sent straight to the old subnet's
queue is refused with "canister not found", as on the IC.)

XNet requests reaching the source while the canister is stopped are rejected
(CANISTER_STOPPED, cycles refunded); those still in a stream to the source after the
drop are answered there with a DESTINATION_INVALID "canister not found" reject response
that travels back with the refunded cycles (the IC's answer to a request for a canister
its subnet no longer hosts); nothing is dropped silently. The canister counts as
stopped only once the calls it was executing finished (``stop_canister``), so it has
no call context open when it moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cbor2
import psycopg

from icframework.candid import PRINCIPAL, Field, Record
from icframework.candid.binary import encode
from icframework.core import Principal
from icframework.protocol import CertificateDelegation
from icframework.replica import (
    KV_MODULES,
    CanisterState,
    CanisterStatus,
    PostgresRegistry,
    PostgresStateStore,
    RegistryError,
    Replica,
    RoundChanges,
    canister_namespaces,
)
from icframework.scaleout.bootstrap import BootstrapError, redelegate
from icframework.scaleout.copies import IDENTITY_KEY

__all__ = [
    "MIGRATION_NAMESPACE",
    "MigrationError",
    "MigrationRecord",
    "MigrationStep",
    "migrate_online",
    "migrated_away",
    "migrations_for",
]

MIGRATION_NAMESPACE = "migration"
"""The kv namespace where a source subnet marks a canister it is migrating away."""
PHASES = ("stopping", "stopped", "moved", "done")
_CANISTER_ID_ARGUMENT = Record([Field("canister_id", PRINCIPAL)])
"""The Candid argument of ``stop_canister``."""
MIGRATE_TIMEOUT_S = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ic_migrations (
    canister_id BYTEA PRIMARY KEY,
    source TEXT NOT NULL,
    destination TEXT NOT NULL,
    phase TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
)
"""


class MigrationError(BootstrapError):
    """A canister cannot be migrated as asked, or its migration did not finish."""


@dataclass(frozen=True, slots=True)
class MigrationRecord:
    """One row of ``ic_migrations``."""

    canister_id: bytes
    source: str
    destination: str
    phase: str
    detail: str


_SCHEMA_MADE: set[str] = set()


def _connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection to ``url``, with ``ic_migrations`` there (made once)."""
    conn = psycopg.connect(url, autocommit=True, connect_timeout=10)
    if url not in _SCHEMA_MADE:
        conn.execute(_SCHEMA)
        _SCHEMA_MADE.add(url)
    return conn


def _record(row: tuple[Any, ...]) -> MigrationRecord:
    return MigrationRecord(bytes(row[0]), row[1], row[2], row[3], row[4])


def migrations_for(url: str, subnet: str,
                   conn: psycopg.Connection[Any] | None = None) -> list[MigrationRecord]:
    """The unfinished migrations subnet ``subnet`` takes part in (on ``conn`` if given)."""
    query = ("SELECT canister_id, source, destination, phase, detail FROM ic_migrations "
             "WHERE phase <> 'done' AND (source = %s OR destination = %s)")
    if conn is not None:
        rows = conn.execute(query, (subnet, subnet)).fetchall()
    else:
        with _connect(url) as fresh:
            rows = fresh.execute(query, (subnet, subnet)).fetchall()
    return [_record(row) for row in rows]


def migrated_away(url: str, canister: Principal, source: str, destination: str) -> bool:
    """Whether ``canister`` was migrated online from ``source`` to ``destination`` (the
    source then forwards calls a front end still routes to it; see the module docstring)."""
    with _connect(url) as conn:
        row = conn.execute("SELECT 1 FROM ic_migrations WHERE canister_id = %s AND "
                           "source = %s AND destination = %s AND phase IN ('moved', 'done')",
                           (canister.raw, source, destination)).fetchone()
    return row is not None


def _advance(url: str, canister_id: bytes, subnet: str, epoch: int, expected: str,
             phase: str) -> bool:
    """Move the record from ``expected`` to ``phase`` if ``subnet``'s lease still has
    ``epoch`` (the writer doing the step still holds it); say whether it moved."""
    with _connect(url) as conn:
        cursor = conn.execute(
            "UPDATE ic_migrations SET phase = %s, updated_at = clock_timestamp() "
            "WHERE canister_id = %s AND phase = %s AND EXISTS (SELECT 1 FROM ic_leases "
            "WHERE subnet = %s AND epoch = %s AND expires_at > clock_timestamp())",
            (phase, canister_id, expected, subnet, epoch))
        return cursor.rowcount == 1


def migrate_online(url: str, canister: Principal, to_subnet: str, *,
                   timeout_s: float = MIGRATE_TIMEOUT_S,
                   progress: Callable[[str], None] | None = None) -> str:
    """Migrate ``canister`` to ``to_subnet`` with both writers running; return the
    subnet it was on once the move is done (see the module docstring)."""
    with _connect(url) as conn:
        row = conn.execute("SELECT source, destination, phase FROM ic_migrations WHERE "
                           "canister_id = %s", (canister.raw,)).fetchone()
    if row is not None and row[2] != "done":
        if row[1] != to_subnet:
            raise MigrationError(f"{canister.to_text()} is being migrated from {row[0]!r} "
                                 f"to {row[1]!r} already (phase {row[2]}); wait for it")
        source = str(row[0])  # the same move asked again: wait for it to finish
    else:
        with PostgresRegistry(url) as registry:
            found = registry.routing_table().subnet_of(canister.raw)
            if found is None:
                raise MigrationError(f"{canister.to_text()} is in no subnet's canister range")
            try:
                registry.subnet(to_subnet)
            except RegistryError as exc:
                raise MigrationError(f"{exc}; name a registered subnet with --to") from exc
        source = found
        if source == to_subnet and row is not None and row[1] == to_subnet:
            return str(row[0])  # the move asked again finished meanwhile: done
        if source == to_subnet:
            raise MigrationError(f"{canister.to_text()} is on subnet {to_subnet!r} already")
        with _connect(url) as conn:
            conn.execute(
                "INSERT INTO ic_migrations (canister_id, source, destination, phase) "
                "VALUES (%s, %s, %s, 'stopping') ON CONFLICT (canister_id) DO UPDATE SET "
                "source = excluded.source, destination = excluded.destination, "
                "phase = 'stopping', detail = '', updated_at = clock_timestamp() "
                "WHERE ic_migrations.phase = 'done'", (canister.raw, source, to_subnet))
    deadline = time.monotonic() + timeout_s
    seen = ""
    with _connect(url) as conn:
        while True:
            current = conn.execute("SELECT phase, detail FROM ic_migrations WHERE "
                                   "canister_id = %s", (canister.raw,)).fetchone()
            phase, detail = (current[0], current[1]) if current else ("done", "")
            if phase != seen:
                seen = phase
                if progress is not None:
                    progress(phase)
            if phase == "done":
                return source
            if time.monotonic() > deadline:
                waiting = source if phase in ("stopping", "moved") else to_subnet
                raise MigrationError(
                    f"the migration of {canister.to_text()} is still in phase {phase!r} "
                    f"after {timeout_s:.0f} s{': ' + detail if detail else ''}; is the "
                    f"writer of {waiting!r} running (`manage.py runsubnet {waiting}`)? It "
                    "resumes when that writer runs; run the command again to wait for it")
            time.sleep(0.1)


class MigrationStep:
    """A writer's part in the migrations (called from its round loop between rounds)."""

    def __init__(self, url: str, subnet: str, say: Callable[[str], None]) -> None:
        self.url = url
        self.subnet = subnet
        self.say = say
        self._conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run(self, replica: Replica, epoch: int, registry: PostgresRegistry) -> bool:
        """Do the next step of every migration waiting for this subnet; say whether
        the registry changed (the caller reloads routing and delegation)."""
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self.url)  # kept: the writer asks once a second
        try:
            records = migrations_for(self.url, self.subnet, self._conn)
        except psycopg.Error:
            self._conn.close()
            self._conn = None
            raise
        changed = False
        for record in records:
            canister = Principal(record.canister_id)
            try:
                if record.source == self.subnet and record.phase == "stopping":
                    self._stop(replica, epoch, record, canister)
                elif record.destination == self.subnet and record.phase == "stopped":
                    self._import(replica, epoch, registry, record, canister)
                    changed = True
                elif record.source == self.subnet and record.phase == "moved":
                    self._drop(replica, epoch, record, canister)
                    changed = True
            except MigrationError as exc:  # the command's timeout message shows it
                self._conn.execute("UPDATE ic_migrations SET detail = %s WHERE "
                                   "canister_id = %s", (f"{self.subnet}: {exc}",
                                                        record.canister_id))
                raise
        return changed

    # -- source: stop, mark -----------------------------------------------------------

    def _stop(self, replica: Replica, epoch: int, record: MigrationRecord,
              canister: Principal) -> None:
        state = replica.canister_record(canister)
        if state is None:
            raise MigrationError(f"subnet {self.subnet!r} holds no canister {canister}")
        if state.status is CanisterStatus.RUNNING:
            if not state.settings.controllers:
                raise MigrationError(f"{canister} has no controller to stop it with; "
                                     "add one (update_settings) and migrate again")
            # The management call (as a controller) is answered once the calls in flight
            # have finished, in the writer's ordinary rounds: look again next time.
            replica.submit(Principal.management_canister(), "stop_canister",
                           encode([_CANISTER_ID_ARGUMENT], [{"canister_id": canister}]),
                           sender=_controller(state), nonce=b"migration",
                           effective_canister_id=canister)
            return
        if state.status is CanisterStatus.STOPPING:
            return
        key = (MIGRATION_NAMESPACE, canister.raw)
        if replica.store.kv_get(*key) is None:
            _commit(replica, RoundChanges(height=0, time_ns=0, kv_puts={
                key: record.destination.encode()}))
        if _advance(self.url, canister.raw, self.subnet, epoch, "stopping", "stopped"):
            self.say(f"migration: {canister} stopped and marked for {record.destination}")

    # -- destination: import, route, start ---------------------------------------------

    def _import(self, replica: Replica, epoch: int, registry: PostgresRegistry,
                record: MigrationRecord, canister: Principal) -> None:
        if registry.routing_table().subnet_of(canister.raw) == self.subnet and \
                replica.canister_record(canister) is not None:
            # Imported and routed here by a writer that died before the phase moved on:
            # the canister may have run calls since, so it is not copied again.
            self._finish_import(replica, epoch, registry, record, canister)
            return
        source = PostgresStateStore(self.url, record.source)
        try:
            changes = _export(self.url, source, canister.raw)
        finally:
            source.close()
        # What an earlier stay here left (a canister moved back) goes first: deletions
        # apply before the writes of the same round.
        changes.space_deletes.update((canister.raw, space)
                                     for space in _spaces(self.url, self.subnet, canister.raw))
        for namespace in canister_namespaces(canister.raw):
            changes.kv_deletes.update((namespace, key)
                                      for key, _ in replica.store.kv_scan(namespace)
                                      if (namespace, key) not in changes.kv_puts)
        _commit(replica, changes)
        registry.move_range(canister, canister, self.subnet)
        self._finish_import(replica, epoch, registry, record, canister)

    def _finish_import(self, replica: Replica, epoch: int, registry: PostgresRegistry,
                       record: MigrationRecord, canister: Principal) -> None:
        """After the import and the registry's move: delegations, start, phase."""
        redelegate(self.url, registry, (record.source, self.subnet))
        adopt_delegation(replica, registry, self.subnet)
        state = replica.canister_record(canister)
        if state is not None and state.status is not CanisterStatus.RUNNING:
            replica.start_canister(canister, sender=_controller(state))
        if _advance(self.url, canister.raw, self.subnet, epoch, "stopped", "moved"):
            self.say(f"migration: {canister} imported from {record.source} and started")

    # -- source: drop -------------------------------------------------------------------

    def _drop(self, replica: Replica, epoch: int, record: MigrationRecord,
              canister: Principal) -> None:
        store = replica.store
        assert isinstance(store, PostgresStateStore)
        changes = RoundChanges(height=0, time_ns=0,
                               kv_deletes={(MIGRATION_NAMESPACE, canister.raw)})
        if canister.raw in store.canister_records():
            changes.canister_deletes.add(canister.raw)
            changes.space_deletes.update((canister.raw, space)
                                         for space in _spaces(self.url, self.subnet, canister.raw))
            for namespace in canister_namespaces(canister.raw):
                changes.kv_deletes.update((namespace, key) for key, _ in store.kv_scan(namespace))
        _commit(replica, changes)
        with PostgresRegistry(self.url) as registry:
            adopt_delegation(replica, registry, self.subnet)
        if _advance(self.url, canister.raw, self.subnet, epoch, "moved", "done"):
            self.say(f"migration: {canister} now runs on {record.destination}; dropped here")


def _controller(state: CanisterState) -> Principal:
    """A controller of the canister: who stops and starts it for the move."""
    controllers = state.settings.controllers
    return Principal(controllers[0]) if controllers else Principal.anonymous()


def _commit(replica: Replica, changes: RoundChanges) -> None:
    """Commit ``changes`` as a round of the replica's own (the next height, fenced by
    the store's epoch) and load the subnet again so its memory matches."""
    store = replica.store
    changes.height = store.height() + 1
    changes.time_ns = max(store.time_ns(), time.time_ns())
    store.commit_round(changes)
    replica.reload()


def _spaces(url: str, subnet: str, canister_id: bytes) -> list[str]:
    """The memory spaces (stable memory, heap, ...) ``canister_id`` has pages in."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        rows = conn.execute(
            "SELECT DISTINCT space FROM ic_pages WHERE subnet = %s AND canister_id = %s "
            "AND data IS NOT NULL", (subnet, canister_id)).fetchall()
    return [str(row[0]) for row in rows]


def _export(url: str, source: PostgresStateStore, canister_id: bytes) -> RoundChanges:
    """The rows of ``canister_id`` committed at ``source`` as changes for another store."""
    record = source.canister_records().get(canister_id)
    if record is None:
        raise MigrationError(f"subnet {source.subnet!r} holds no canister "
                             f"{Principal(canister_id)} to import")
    changes = RoundChanges(height=0, time_ns=0, canister_upserts={canister_id: record})
    for space in _spaces(url, source.subnet, canister_id):
        changes.page_writes[(canister_id, space)] = dict(source.load_pages(canister_id, space))
    for namespace in canister_namespaces(canister_id):  # key/value data, Wasm chunks
        for key, value in source.kv_scan(namespace):
            changes.kv_puts[(namespace, key)] = value
    module_hash = CanisterState.from_record(record).module_hash
    if module_hash is not None:  # modules are kept once per subnet, by hash
        module = source.kv_get(KV_MODULES, module_hash)
        if module is None:
            raise MigrationError(f"subnet {source.subnet!r} lacks the module of "
                                 f"{Principal(canister_id)}")
        changes.kv_puts[(KV_MODULES, module_hash)] = module
    return changes


def adopt_delegation(replica: Replica, registry: PostgresRegistry, name: str) -> bool:
    """Have ``replica`` certify with the registry's delegation of subnet ``name`` when it
    differs from the one it uses (after a migration re-signed it); say whether it did."""
    record = registry.subnet(name)
    if record.delegation is None:
        return False
    fields = cbor2.loads(record.delegation)
    current = replica.identity.delegation
    if current is not None and current.certificate == fields["certificate"]:
        return False
    replica.set_delegation(CertificateDelegation(Principal(fields["subnet_id"]),
                                                 fields["certificate"]))
    # `set_delegation` stores the identity at the current height; write it again in a
    # round of its own so read-only copies past that height see it and follow.
    stored = replica.store.kv_get(*IDENTITY_KEY)
    if stored is not None:
        _commit(replica, RoundChanges(height=0, time_ns=0, kv_puts={IDENTITY_KEY: stored}))
    return True
