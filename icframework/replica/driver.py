"""`SubnetDriver`: what a process that runs a subnet's rounds itself needs of a `Replica`.

The embedded replica's service thread and the in-process cluster (``cluster.py``) drive
their subnets from inside this package. A scale-out subnet writer does the same from
outside: it executes the rounds when work waits, hands out the committed XNet streams,
inducts the slices other subnets sent, reads request statuses to publish answers, and
installs the routing table it reloads from the registry. `SubnetDriver` offers exactly
that over a `Replica`, so the writer never reaches into the subnet; it looks the subnet
up on every call, so it keeps working after `Replica.reload` replaced it.
"""

from __future__ import annotations

from collections.abc import Mapping

from icframework.replica.embedded import Replica
from icframework.replica.message_execution import RoundReport
from icframework.replica.state import IngressStatus
from icframework.replica.xnet import Routing, StreamIndex, StreamSlice

__all__ = ["SubnetDriver"]


class SubnetDriver:
    """Drive the rounds and streams of ``replica``'s subnet (one thread at a time)."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    @property
    def routing(self) -> Routing | None:
        """Which subnet hosts a canister (None: this subnet knows no other)."""
        return self.replica.subnet.routing

    @routing.setter
    def routing(self, routing: Routing | None) -> None:
        self.replica.subnet.routing = routing

    def has_work(self) -> bool:
        """True while ingress, canister or inducted XNet messages wait."""
        return self.replica.subnet.has_work()

    def execute_round(self) -> RoundReport:
        """Execute and commit one round (see `Subnet.execute_round`); after a failure the
        caller must `Replica.reload`."""
        return self.replica.subnet.execute_round()

    def ingress_status(self, request_id: bytes) -> IngressStatus | None:
        """The committed status of the call ``request_id`` (None: unknown or pruned)."""
        return self.replica.subnet.ingress_status(request_id)

    def outgoing_slices(self, since: Mapping[str, StreamIndex] | None = None) -> list[StreamSlice]:
        """One slice per peer subnet of the committed stream to it (from ``since[peer]``,
        default the oldest message not yet acknowledged), with this subnet's signals."""
        return self.replica.subnet.outgoing_slices(since)

    def induct_slice(self, piece: StreamSlice) -> int:
        """Take a slice from another subnet (the next round inducts it); the number of new
        messages. Raises `StreamGapError` when it starts after the index expected (resend
        from ``error.expected``), `XNetError` for a slice addressed elsewhere."""
        return self.replica.subnet.induct_slice(piece)
