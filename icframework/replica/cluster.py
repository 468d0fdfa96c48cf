"""Several subnets in one process, exchanging XNet stream slices: the in-process cluster.

`Cluster` opens one `Replica` per named subnet (each with its own state store: in
memory, or a SQLite file under ``state_dir/<name>/``), each with its own BLS key and
canister range, registers them in a registry (`replica.registry`; in memory unless one
is given), routes by the registry's `RoutingTable`, and moves messages with an
in-process transport: after
the rounds of a step it takes every subnet's `Subnet.outgoing_slices` and hands each to
its destination's `Subnet.induct_slice` (`exchange`). Tests and anything embedded use it;
a scale-out deployment moves the same slices over the broker instead.

The first subnet is the root: its key is the root key every subnet reports, and it
signs each other subnet's delegation (`certification.SubnetIdentity.delegated`, stored
with that subnet's state, so its certificates verify under the root key); it keeps
the embedded replica's canister range; subnet number k gets the range ``k``
ranges of ``0x100000`` canister indexes above it (`registry.subnet_range`). The replicas are
`ClusterReplica`s: all of `Replica`'s helpers (create, install, update, query) work on
them, and waiting for a call runs the whole cluster, so a call that crosses subnets
is answered. An optional ``transport`` function sees each exchange's slices and returns
what actually arrives (duplicated, reordered or dropped: a faulty network for tests).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cbor2

from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import BlsKeyPair
from icframework.replica.certification import SubnetIdentity
from icframework.replica.embedded import ANONYMOUS, Replica, node_key, subnet_identity
from icframework.replica.errors import ReplicaError
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.management import ManagementCanister
from icframework.replica.registry import (
    MemoryRegistry,
    Registry,
    RoutingTable,
    SubnetRecord,
    subnet_range,
)
from icframework.replica.state import IngressStatus
from icframework.replica.store import MemoryStateStore, SQLiteStateStore, StateStore
from icframework.replica.subnet import Subnet, SubnetConfig
from icframework.replica.xnet import StreamGapError, StreamSlice

__all__ = [
    "Cluster",
    "ClusterError",
    "ClusterReplica",
    "Transport",
]

Transport = Callable[[list[StreamSlice]], Sequence[StreamSlice]]
"""Given one exchange's slices, the slices that arrive, in the order they arrive."""


class ClusterError(ReplicaError):
    """A cluster asked for a subnet or canister it does not have."""


class ClusterReplica(Replica):
    """A `Replica` of one subnet of a `Cluster`: waiting for a call steps the cluster."""

    def __init__(self, cluster: Cluster, subnet: Subnet, store: StateStore, key: BlsKeyPair,
                 node: Ed25519Identity, identity: SubnetIdentity | None = None) -> None:
        super().__init__(subnet, store, key, node, identity)
        self.cluster = cluster

    def wait(self, request_id: bytes, max_rounds: int = 1000) -> IngressStatus:
        """Step the cluster until ``request_id`` is replied or rejected; return its status."""
        for _ in range(max_rounds):
            status = self.subnet.ingress_status(request_id)
            if status is None:
                raise ReplicaError(f"unknown request id {request_id.hex()}")
            if status.state.terminal:
                return status
            if not self.cluster.step():
                self.subnet.execute_round()
        raise ReplicaError(f"request {request_id.hex()} not answered after {max_rounds} steps")

    def reload(self) -> None:
        """Load the last committed round again, still routed through the cluster."""
        super().reload()
        self.subnet.routing = self.cluster.routing


class Cluster:
    """Subnets ``names`` in this process (see the module docstring); the first is the root."""

    def __init__(
        self,
        names: Sequence[str] = ("root", "app1"),
        state_dir: Path | None = None,
        *,
        config: SubnetConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        transport: Transport | None = None,
        registry: Registry | None = None,
    ) -> None:
        if not names or len(set(names)) != len(names):
            raise ClusterError(f"subnet names {list(names)!r}: give one or more distinct names")
        self.names = list(names)
        self.state_dir = state_dir
        self.config = config or SubnetConfig()
        self.clock = clock
        self.transport = transport
        self.refused = 0
        """Slices refused by a destination for a gap (resent by a later exchange)."""
        self.engine = ExecutionEngine(
            cache_dir=None if state_dir is None else state_dir / "wasm-cache")
        self.registry: Registry = registry if registry is not None else MemoryRegistry()
        self.routing = RoutingTable()
        self.replicas: dict[str, ClusterReplica] = {}
        for name in self.names:
            self.replicas[name] = self._open(name, self._store(name))
        self.refresh_routing()

    def _store(self, name: str) -> StateStore:
        if self.state_dir is None:
            return MemoryStateStore()
        directory = self.state_dir / name
        directory.mkdir(parents=True, exist_ok=True)
        return SQLiteStateStore(directory / "state.sqlite3")

    @property
    def root_key(self) -> bytes:
        """The root key (DER): the root subnet's public key, which every subnet reports."""
        return self.replicas[self.names[0]].key.public_key_der

    def refresh_routing(self) -> None:
        """Route every subnet by the registry's current routing table (after a change,
        such as `Registry.move_range`)."""
        self.routing = self.registry.routing_table()
        for replica in self.replicas.values():
            replica.subnet.routing = self.routing

    def _identity(self, name: str, store: StateStore) -> SubnetIdentity:
        """The subnet's stored identity; on first open, a root identity for the root
        subnet and one delegated by the root subnet's key for the others (stored)."""
        default = subnet_range(self.names.index(name))
        first, last = default.first, default.last
        config = dataclasses.replace(self.config, first_canister_index=first,
                                     last_canister_index=last)
        identity = subnet_identity(store, None, config)
        if name == self.names[0] or not identity.is_root:
            return identity
        root_key = self.replicas[self.names[0]].key
        delegated = SubnetIdentity.delegated(root_key, identity.key, first_canister_index=first,
                                             last_canister_index=last, time_ns=self.clock())
        return subnet_identity(store, delegated, config)

    def _open(self, name: str, store: StateStore) -> ClusterReplica:
        identity = self._identity(name, store)
        config = dataclasses.replace(
            self.config, subnet_name=name, first_canister_index=identity.first_canister_index,
            last_canister_index=identity.last_canister_index, root_key=identity.root_key_der,
            subnet_id=identity.subnet_id.raw,
        )
        subnet = Subnet(store, self.engine, config, self.clock, management=ManagementCanister,
                        routing=self.routing)
        delegation = identity.delegation
        self.registry.register_subnet(SubnetRecord(
            name, identity.subnet_id.raw, identity.key.public_key_der, identity.is_root,
            subnet_range(self.names.index(name)),
            None if delegation is None else cbor2.dumps({
                "subnet_id": delegation.subnet_id.raw, "certificate": delegation.certificate}),
        ))
        return ClusterReplica(self, subnet, store, identity.key, node_key(store), identity)

    def close(self) -> None:
        for replica in self.replicas.values():
            replica.close()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- subnets and canisters ---------------------------------------------------------------

    def replica(self, name: str) -> ClusterReplica:
        """The replica of subnet ``name``."""
        try:
            return self.replicas[name]
        except KeyError:
            raise ClusterError(f"no subnet {name!r} in this cluster; it has "
                               f"{', '.join(self.names)}") from None

    def subnet(self, name: str) -> Subnet:
        return self.replica(name).subnet

    def replica_of(self, canister: Principal) -> ClusterReplica:
        """The replica of the subnet whose range holds ``canister``."""
        name = self.routing.subnet_of(canister.raw)
        if name is None:
            raise ClusterError(f"{canister.to_text()} is in no subnet's canister range")
        return self.replicas[name]

    def create_canister(self, subnet_name: str, *, sender: Principal = ANONYMOUS,
                        cycles: int | None = None,
                        controllers: list[Principal] | None = None) -> Principal:
        """Create a canister on subnet ``subnet_name``, through its management canister
        (its id is in that subnet's range; options as `Replica.create_canister`)."""
        return self.replica(subnet_name).create_canister(sender=sender, cycles=cycles,
                                                         controllers=controllers)

    def restart(self, name: str) -> ClusterReplica:
        """Stop subnet ``name`` and open it again from its store: what it took from slices
        but did not commit is gone, its committed streams and indices are back. A subnet
        in SQLite reopens its file; one in memory keeps the store object."""
        old = self.replica(name)
        store = old.store
        if self.state_dir is not None:
            store.close()
            store = self._store(name)
        self.replicas[name] = self._open(name, store)
        return self.replicas[name]

    # -- running ----------------------------------------------------------------------------

    def step(self) -> bool:
        """One round on each subnet with work, then one `exchange`; False if no subnet
        had work and no slice brought a new message."""
        ran = False
        for replica in list(self.replicas.values()):
            if replica.subnet.has_work():
                replica.subnet.execute_round()
                ran = True
        return self.exchange() > 0 or ran

    def exchange(self) -> int:
        """Move every subnet's outgoing slices to their destinations (through
        ``transport`` if set); return how many messages were new there."""
        slices = [piece for replica in self.replicas.values()
                  for piece in replica.subnet.outgoing_slices()]
        arriving = self.transport(slices) if self.transport is not None else slices
        new = 0
        for piece in arriving:
            try:
                new += self.replica(piece.destination).subnet.induct_slice(piece)
            except StreamGapError:
                self.refused += 1
        return new

    def run_until_idle(self, max_steps: int = 1000) -> int:
        """Step until no subnet has work and no slice brings anything new; return the
        steps taken. Raises `ClusterError` if still busy after ``max_steps``."""
        for steps in range(1, max_steps + 1):
            if not self.step():
                return steps
        raise ClusterError(f"cluster still busy after {max_steps} steps")
