"""Which subnets the dashboard shows, and where it reads each one: one code path for the
embedded replica and for a scale-out front end.

`subnet_sources()` lists (subnet facts, replica reader) pairs from this process's
`icframework.replica.api_backend()`:

- **Embedded** (``manage.py runreplica``): the process's `ReplicaService`, a one-subnet
  list (its range and root role from the replica's identity; no lease: the process is
  the writer).
- **Front end** (``manage.py runfrontend``): the backend keeps a read-only copy per
  subnet (``.copies``, ``.copy(name)``) and the cluster's registry (``.registry``): every
  registered subnet whose writer has committed, with its routed ranges, root role, the
  writer lease (holder, epoch; read from ``ic_leases``) and the writer's latest committed
  height, so the page can show how far this front end's copy lags behind.

`subnet_summary` turns a source into the plain values the pages and the socket show
(height, the copy's age, lag). The dashboard never imports the scale-out package (a
higher layer): a front end's backend is recognised by what it offers (`ClusterBackend`).
Importing the dashboard does not load psycopg: the lease reader (`WriterLease`) is
imported when a front end's page first reads a lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from icframework.core import Principal
from icframework.replica import (
    HttpError,
    Registry,
    RegistryError,
    Replica,
    StateStoreError,
    api_backend,
    get_service,
)

if TYPE_CHECKING:  # loads psycopg: imported where a front end reads a lease
    from icframework.replica import WriterLease

__all__ = [
    "ClusterBackend",
    "Lease",
    "ReplicaReader",
    "SubnetSource",
    "find_canister",
    "subnet_sources",
    "subnet_summary",
]

logger = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_READER = "dashboard"
"""The holder name the dashboard's lease reads go under (it never acquires the lease)."""


class ReplicaReader(Protocol):
    """A replica to read: a `ReplicaService`, or a front end's read-only copy."""

    def run(self, work: Callable[[Replica], T]) -> T: ...


@dataclass(frozen=True)
class Lease:
    """A subnet's writer lease as the database has it."""

    holder: str | None
    epoch: int
    seconds_left: float


@dataclass(frozen=True)
class SubnetSource:
    """One subnet the dashboard shows and the replica (or copy) it reads it from.

    ``lease`` and ``committed_height`` are None for the embedded replica (this process
    writes it: what it reads is what it committed).
    """

    name: str
    reader: ReplicaReader
    ranges: tuple[str, ...]
    is_root: bool
    lease: Lease | None = None
    committed_height: int | None = None


class _CopyConfig(Protocol):
    @property
    def database_url(self) -> str: ...


@runtime_checkable
class ClusterBackend(Protocol):
    """What the dashboard reads of a scale-out front end's `ApiBackend`."""

    registry: Registry
    config: _CopyConfig

    @property
    def copies(self) -> Mapping[str, ReplicaReader]: ...

    def copy(self, name: str) -> ReplicaReader: ...


def _embedded() -> list[SubnetSource]:
    service = get_service()
    if service is None:
        return []
    identity = service.replica.identity
    first, last = identity.first_canister_index, identity.last_canister_index
    return [SubnetSource("local", service, (f"{first:#x}..{last:#x}",), identity.is_root)]


_lease_readers: dict[tuple[str, str], WriterLease] = {}
_lease_readers_lock = threading.Lock()


def _lease(url: str, subnet: str) -> Lease | None:
    """The lease row of ``subnet`` (None if it has none, or the database does not
    answer: the page then shows no lease). One reader (connection) per subnet and
    process, reconnecting by itself after a database restart."""
    from icframework.replica import WriterLease  # on first use: it loads psycopg

    try:
        with _lease_readers_lock:
            reader = _lease_readers.get((url, subnet))
            if reader is None:
                reader = _lease_readers[(url, subnet)] = WriterLease(
                    url, subnet, LEASE_READER, ttl_s=1)
        row = reader.current()
    except StateStoreError:
        logger.warning("the dashboard could not read the lease of subnet %r", subnet,
                       exc_info=True)
        return None
    return None if row is None else Lease(*row)


def _committed_height(reader: ReplicaReader) -> int | None:
    source = getattr(reader, "source", None)  # a read-only copy's PostgreSQL store
    height = getattr(source, "height", None)
    if not callable(height):
        return None
    try:
        return int(height())
    except StateStoreError:
        return None


def _cluster(backend: ClusterBackend) -> list[SubnetSource]:
    url = backend.config.database_url
    try:
        records = [(r.name, r.is_root) for r in backend.registry.subnets()]
        table = backend.registry.routing_table()
        ranges = {name: tuple(str(r) for r in table.ranges_of(name)) for name, _ in records}
    except (RegistryError, StateStoreError):
        # The database does not answer: show the copies this front end already has
        # (they keep serving their last state), without ranges.
        logger.warning("the dashboard could not read the registry", exc_info=True)
        records = [(name, copy.run(lambda replica: replica.identity.is_root))
                   for name, copy in backend.copies.items()]
        ranges = {}
    sources = []
    for name, is_root in records:
        try:
            reader = backend.copy(name)
        except HttpError:  # its writer has not committed yet: nothing to read
            continue
        sources.append(SubnetSource(name, reader, ranges.get(name, ()), is_root,
                                    _lease(url, name), _committed_height(reader)))
    sources.sort(key=lambda source: (not source.is_root, source.name))
    return sources


def subnet_sources() -> list[SubnetSource]:
    """The subnets this process can show (root first, then by name); empty when it
    serves no replica."""
    backend = api_backend()
    if isinstance(backend, ClusterBackend):
        return _cluster(backend)
    return _embedded()


def find_canister(canister_id: Principal,
                  sources: list[SubnetSource]) -> SubnetSource | None:
    """The source whose replica holds ``canister_id`` (None if none does)."""
    for source in sources:
        if source.reader.run(lambda replica: replica.canister_record(canister_id)) is not None:
            return source
    return None


def subnet_summary(source: SubnetSource) -> dict[str, Any]:
    """A subnet's facts as the pages and the socket show them: name, id, ranges, root,
    lease holder and epoch, the height read (and its round's age in seconds: how stale
    this process's copy may be), the writer's committed height and the lag behind it."""
    subnet_id, height, time_ns = source.reader.run(
        lambda replica: (replica.subnet_id, replica.height, replica.time_ns))
    age = max(0.0, (time.time_ns() - time_ns) / 1e9) if time_ns else None
    lease = source.lease
    committed = source.committed_height
    return {
        "name": source.name,
        "subnet_id": subnet_id.to_text(),
        "ranges": list(source.ranges),
        "is_root": source.is_root,
        "lease_holder": None if lease is None else lease.holder,
        "lease_epoch": None if lease is None else lease.epoch,
        "lease_live": None if lease is None else lease.seconds_left > 0,
        "height": height,
        "age_s": None if age is None else round(age, 3),
        "committed_height": height if committed is None else committed,
        "lag": 0 if committed is None else max(0, committed - height),
    }
