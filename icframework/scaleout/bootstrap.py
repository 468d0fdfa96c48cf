"""Cluster bootstrap: the subnets of a scale-out deployment, their keys and the registry.

`init_cluster` (``manage.py cluster init --subnets root,app1,app2``) is idempotent: for
each named subnet it makes its keys once (`keys.ensure_keys`) and registers it in the
`PostgresRegistry` with its canister range (`subnet_range(k)` for the k-th name; the
first name is the root subnet, whose key is the root key) and, for the others, a
delegation signed by the root subnet's key. Running it again with the same names
changes nothing; adding a name adds that subnet. `cluster_status` reads what
``cluster status`` prints: every subnet, its ranges, its lease holder and its height.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cbor2
import psycopg

from icframework.core import Principal
from icframework.protocol import CertificateDelegation, make_subnet_delegation
from icframework.replica import (
    KV_MODULES,
    CanisterState,
    PostgresRegistry,
    RegistryError,
    SubnetIdentity,
    SubnetRecord,
    WriterLease,
    canister_namespaces,
    subnet_range,
)
from icframework.scaleout.config import ScaleoutError
from icframework.scaleout.keys import SubnetKeys, ensure_keys, load_keys

__all__ = [
    "BootstrapError",
    "SubnetStatus",
    "cluster_status",
    "init_cluster",
    "migrate_canister",
    "root_key_der",
    "subnet_identity",
    "writer_identity",
]


class BootstrapError(ScaleoutError):
    """The cluster cannot be set up as asked (a name, a registry conflict)."""


def _delegation_bytes(identity: SubnetIdentity) -> bytes | None:
    delegation = identity.delegation
    if delegation is None:
        return None
    return cbor2.dumps({"subnet_id": delegation.subnet_id.raw,
                        "certificate": delegation.certificate})


def init_cluster(url: str, names: Sequence[str], *, time_ns: int | None = None) -> list[str]:
    """Make keys and register the subnets ``names`` (the first is the root); return the
    names newly registered (empty when everything was there already)."""
    if not names or len(set(names)) != len(names):
        raise BootstrapError(f"subnet names {list(names)!r}: give one or more distinct names, "
                             "the root subnet first")
    now = time.time_ns() if time_ns is None else time_ns
    added = []
    with PostgresRegistry(url) as registry:
        known = {record.name: record for record in registry.subnets()}
        root_name = next((r.name for r in known.values() if r.is_root), names[0])
        if root_name != names[0]:
            raise BootstrapError(f"the cluster's root subnet is {root_name!r}; list it first "
                                 f"(got {names[0]!r})")
        root_keys = ensure_keys(url, root_name)
        for number, name in enumerate(names):
            if name in known:
                continue
            keys = ensure_keys(url, name)
            canister_range = subnet_range(number)
            if name == root_name:
                identity = SubnetIdentity.root(
                    keys.bls, first_canister_index=canister_range.first,
                    last_canister_index=canister_range.last)
            else:
                identity = SubnetIdentity.delegated(
                    root_keys.bls, keys.bls, first_canister_index=canister_range.first,
                    last_canister_index=canister_range.last, time_ns=now)
            try:
                registry.register_subnet(SubnetRecord(
                    name, identity.subnet_id.raw, keys.bls.public_key_der, name == root_name,
                    canister_range, _delegation_bytes(identity)))
            except RegistryError as exc:
                raise BootstrapError(f"cannot register subnet {name!r}: {exc}") from exc
            added.append(name)
    return added


def subnet_identity(record: SubnetRecord, keys: SubnetKeys, root_key_der: bytes) -> SubnetIdentity:
    """The `SubnetIdentity` a process of subnet ``record`` runs as (key, range, delegation)."""
    if keys.bls.public_key_der != record.public_key_der:
        raise BootstrapError(f"the stored key of subnet {record.name!r} is not the key the "
                             "registry has for it; the keys table and the registry disagree")
    rng = record.canister_range
    if record.is_root:
        return SubnetIdentity.root(keys.bls, first_canister_index=rng.first,
                                   last_canister_index=rng.last)
    if record.delegation is None:
        raise BootstrapError(f"subnet {record.name!r} has no delegation in the registry; run "
                             "`manage.py cluster init` again")
    fields = cbor2.loads(record.delegation)
    delegation = CertificateDelegation(Principal(fields["subnet_id"]), fields["certificate"])
    return SubnetIdentity(keys.bls, root_key_der, rng.first, rng.last, delegation)


@dataclass(frozen=True, slots=True)
class SubnetStatus:
    """One subnet as ``cluster status`` shows it."""

    name: str
    subnet_id: str
    is_root: bool
    ranges: list[str]
    holder: str | None
    epoch: int | None
    lease_seconds_left: float | None
    height: int


def cluster_status(url: str) -> list[SubnetStatus]:
    """Every registered subnet with its ranges, lease holder and committed height."""
    with PostgresRegistry(url) as registry:
        records = registry.subnets()
        table = registry.routing_table()
    leases: dict[str, tuple[Any, ...]] = {}
    heights: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        for query, into in (
            ("SELECT subnet, holder, epoch, "
             "EXTRACT(EPOCH FROM expires_at - clock_timestamp()) FROM ic_leases", "lease"),
            ("SELECT subnet, value FROM ic_meta WHERE name = 'height'", "height"),
        ):
            try:
                rows = conn.execute(query).fetchall()  # type: ignore[call-overload]
            except psycopg.errors.UndefinedTable:
                rows = []
            for row in rows:
                if into == "lease":
                    leases[row[0]] = tuple(row[1:])
                else:
                    heights[row[0]] = int(row[1])
    out = []
    for record in records:
        lease = leases.get(record.name)
        holder = None if lease is None else lease[0]
        left = None if lease is None else float(lease[2])
        out.append(SubnetStatus(
            record.name, Principal(record.subnet_id).to_text(), record.is_root,
            [str(r) for r in table.ranges_of(record.name)],
            holder if left is not None and left > 0 else None,
            None if lease is None else int(lease[1]), left, heights.get(record.name, 0)))
    return out


def root_key_der(url: str) -> bytes:
    """The cluster's root key (DER): the root subnet's public key."""
    with PostgresRegistry(url) as registry:
        return registry.root().public_key_der


def writer_identity(url: str, name: str) -> tuple[SubnetRecord, SubnetKeys, SubnetIdentity]:
    """What subnet ``name``'s processes need: its registry record, keys and identity."""
    with PostgresRegistry(url) as registry:
        try:
            record = registry.subnet(name)
            root = registry.root()
        except RegistryError as exc:
            raise BootstrapError(f"{exc}; run `manage.py cluster init` first") from exc
    keys = load_keys(url, name)
    return record, keys, subnet_identity(record, keys, root.public_key_der)


_MIGRATE_TTL_S = 60.0


def migrate_canister(url: str, canister: Principal, to_subnet: str) -> str:
    """Move ``canister`` to subnet ``to_subnet``; return the subnet it was on.

    Both subnets' writers must be stopped: the move takes both writer leases (refusing
    while a writer holds one), copies the canister's record, memory pages, key/value
    data and Wasm chunk store (`canister_namespaces`) to the destination and tombstones
    them at the source, in one PostgreSQL transaction fenced by both lease epochs, then
    routes the canister's id to the destination in the registry, and re-signs the
    delegations of the (non-root) subnets involved for their new ranges. Writers
    started afterwards run it there. The canister keeps its state as of the source's
    last committed round; messages still queued for it in the source's streams or input
    queues are not moved. With the writers running, ``cluster migrate`` moves it online
    instead (`migration`).
    """
    with PostgresRegistry(url) as registry:
        table = registry.routing_table()
        source = table.subnet_of(canister.raw)
        if source is None:
            raise BootstrapError(f"{canister.to_text()} is in no subnet's canister range")
        try:
            registry.subnet(to_subnet)
        except RegistryError as exc:
            raise BootstrapError(str(exc)) from exc
        if source == to_subnet:
            raise BootstrapError(f"{canister.to_text()} is on subnet {to_subnet!r} already")
        _check_no_online_move(url, canister)
        holder = f"cluster-migrate:{os.getpid()}"
        leases = [WriterLease(url, name, holder, _MIGRATE_TTL_S) for name in (source, to_subnet)]
        try:
            for lease in leases:
                if not lease.try_acquire():
                    current = lease.current()
                    raise BootstrapError(
                        f"subnet {lease.subnet!r} has a running writer "
                        f"({current[0] if current else 'unknown'}); stop the writers of "
                        f"{source!r} and {to_subnet!r} before migrating")
            _move_rows(url, canister.raw, source, to_subnet,
                       [lease.epoch or 0 for lease in leases])
            registry.move_range(canister, canister, to_subnet)
            redelegate(url, registry, (source, to_subnet))
        finally:
            for lease in leases:
                lease.close()
    return source


def _check_no_online_move(url: str, canister: Principal) -> None:
    """Refuse while an online migration of ``canister`` (`migration`) is unfinished."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        try:
            row = conn.execute("SELECT destination, phase FROM ic_migrations WHERE "
                               "canister_id = %s AND phase <> 'done'",
                               (canister.raw,)).fetchone()
        except psycopg.errors.UndefinedTable:
            row = None
    if row is not None:
        raise BootstrapError(f"{canister.to_text()} is being migrated online to {row[0]!r} "
                             f"(phase {row[1]}); start both writers and run `cluster "
                             "migrate` again to let them finish it")


def redelegate(url: str, registry: PostgresRegistry, names: Sequence[str]) -> None:
    """Sign new delegations for the non-root subnets ``names`` covering the ranges the
    routing table now gives them (agents check a canister against its subnet's ranges)."""
    table = registry.routing_table()
    root = registry.root()
    root_keys = load_keys(url, root.name)
    for name in names:
        record = registry.subnet(name)
        if record.is_root:
            continue
        ranges = [r.principals() for r in table.ranges_of(name)]
        delegation = make_subnet_delegation(root_keys.bls, Principal(record.subnet_id),
                                            record.public_key_der, ranges, time.time_ns())
        registry.set_delegation(name, cbor2.dumps({
            "subnet_id": delegation.subnet_id.raw, "certificate": delegation.certificate}))


def _move_rows(url: str, canister_id: bytes, source: str, destination: str,
               epochs: list[int]) -> None:
    namespaces = list(canister_namespaces(canister_id))  # key/value data, Wasm chunks
    with psycopg.connect(url, connect_timeout=10) as conn, conn.transaction():
        for subnet, epoch in zip((source, destination), epochs, strict=True):
            row = conn.execute("SELECT epoch FROM ic_leases WHERE subnet = %s FOR UPDATE",
                               (subnet,)).fetchone()
            if row is None or int(row[0]) != epoch:
                raise BootstrapError(f"the lease of subnet {subnet!r} moved during the "
                                     "migration; nothing was changed")
        heights: dict[str, Any] = dict(conn.execute(
            "SELECT subnet, value FROM ic_meta WHERE name = 'height' AND subnet IN (%s, %s)",
            (source, destination)).fetchall())
        src_h, dst_h = int(heights.get(source, 0)), int(heights.get(destination, 0))
        found = conn.execute("SELECT record FROM ic_canisters WHERE subnet = %s AND "
                             "canister_id = %s AND record IS NOT NULL",
                             (source, canister_id)).fetchone()
        if found is None:
            raise BootstrapError(f"subnet {source!r} holds no canister {Principal(canister_id)}")
        module_hash = CanisterState.from_record(bytes(found[0])).module_hash
        if module_hash is not None:  # modules are kept once per subnet, by hash
            conn.execute(
                "INSERT INTO ic_kv (subnet, namespace, key, value, written_at) "
                "SELECT %s, namespace, key, value, %s FROM ic_kv WHERE subnet = %s AND "
                "namespace = %s AND key = %s AND value IS NOT NULL "
                "ON CONFLICT (subnet, namespace, key) DO UPDATE SET value = excluded.value, "
                "written_at = excluded.written_at",
                (destination, dst_h, source, KV_MODULES, module_hash))
        conn.execute(
            "INSERT INTO ic_canisters (subnet, canister_id, record, written_at) "
            "SELECT %s, canister_id, record, %s FROM ic_canisters WHERE subnet = %s AND "
            "canister_id = %s ON CONFLICT (subnet, canister_id) DO UPDATE SET "
            "record = excluded.record, written_at = excluded.written_at",
            (destination, dst_h, source, canister_id))
        conn.execute(
            "INSERT INTO ic_pages (subnet, canister_id, space, idx, data, written_at) "
            "SELECT %s, canister_id, space, idx, data, %s FROM ic_pages WHERE subnet = %s AND "
            "canister_id = %s AND data IS NOT NULL ON CONFLICT (subnet, canister_id, space, idx) "
            "DO UPDATE SET data = excluded.data, written_at = excluded.written_at",
            (destination, dst_h, source, canister_id))
        conn.execute(
            "INSERT INTO ic_kv (subnet, namespace, key, value, written_at) "
            "SELECT %s, namespace, key, value, %s FROM ic_kv WHERE subnet = %s AND "
            "namespace = ANY(%s) AND value IS NOT NULL ON CONFLICT (subnet, namespace, key) "
            "DO UPDATE SET value = excluded.value, written_at = excluded.written_at",
            (destination, dst_h, source, namespaces))
        conn.execute("UPDATE ic_canisters SET record = NULL, written_at = %s WHERE subnet = %s "
                     "AND canister_id = %s", (src_h, source, canister_id))
        conn.execute("UPDATE ic_pages SET data = NULL, written_at = %s WHERE subnet = %s "
                     "AND canister_id = %s", (src_h, source, canister_id))
        conn.execute("UPDATE ic_kv SET value = NULL, written_at = %s WHERE subnet = %s "
                     "AND namespace = ANY(%s)", (src_h, source, namespaces))
