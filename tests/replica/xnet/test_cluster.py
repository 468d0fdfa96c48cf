"""Exactly-once and in-order delivery across subnets of an in-process cluster, whatever
the transport does (duplicates, holds back, reorders) and across restarts of either
subnet from its SQLite store. Motoko caller and callee canisters (tests/replica/canisters)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from icframework.candid import NAT, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.replica.cluster import Cluster
from icframework.replica.state import IngressState
from icframework.replica.xnet import StreamSlice
from tests.node import requires_node
from tests.replica.xnet.test_motoko_xnet import Clock, call, install

pytestmark = requires_node


class FaultyNetwork:
    """A transport that delivers each slice zero or more times, late and out of order.

    Every exchange's slices join a backlog; of the backlog, a random part arrives in a
    random order (some twice) and the rest waits for a later exchange. Seeded.
    """

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.backlog: list[StreamSlice] = []
        self.delivered = 0

    def __call__(self, slices: list[StreamSlice]) -> Sequence[StreamSlice]:
        self.backlog.extend(slices)
        self.random.shuffle(self.backlog)
        keep = self.random.randrange(len(self.backlog) + 1) if self.backlog else 0
        arriving, self.backlog = self.backlog[keep:], self.backlog[:keep]
        arriving += [s for s in arriving if self.random.random() < 0.3]
        self.delivered += len(arriving)
        return arriving


def _forward_all(cluster: Cluster, caller: Principal, values: list[int]) -> list[int]:
    """Submit ``forward(v)`` for every value at once, run the cluster, return the replies."""
    root = cluster.replica("root")
    ids = [root.submit(caller, "forward", encode([NAT], [v])) for v in values]
    cluster.run_until_idle()
    replies = []
    for request_id in ids:
        status = root.wait(request_id)
        assert status.state is IngressState.REPLIED, status
        assert status.reply is not None
        replies.append(decode(status.reply, [NAT])[0])
    return replies


def test_calls_arrive_once_and_in_order_over_a_faulty_network() -> None:
    for seed in range(3):
        network = FaultyNetwork(seed)
        cluster = Cluster(("root", "app1"), clock=Clock(), transport=network)
        callee = install(cluster.replica("app1"), "callee")
        caller = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [callee]))
        values = list(range(1, 13))
        # `set` answers the previous value: in-order execution answers 0, 1, 2, …
        assert _forward_all(cluster, caller, values) == [0, *values[:-1]]
        assert call(cluster, callee, "call_count", [], [], [NAT], query=True) == len(values)
        assert call(cluster, caller, "counters", [], [], [NAT, NAT], query=True) == (12, 12)
        assert network.delivered > 0
        cluster.transport = None
        cluster.run_until_idle()
        for name in cluster.names:
            for stream in cluster.subnet(name).xnet.streams.values():
                assert not stream.messages


def test_calls_both_ways_with_replies_crossing() -> None:
    cluster = Cluster(("root", "app1", "app2"), clock=Clock(), transport=FaultyNetwork(7))
    on_root = install(cluster.replica("root"), "callee")
    on_app2 = install(cluster.replica("app2"), "callee")
    from_app1 = install(cluster.replica("app1"), "caller", encode([PRINCIPAL], [on_root]))
    from_root = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [on_app2]))
    app1, root = cluster.replica("app1"), cluster.replica("root")
    ids = []
    for v in range(1, 6):
        ids.append((app1, app1.submit(from_app1, "forward", encode([NAT], [v]))))
        ids.append((root, root.submit(from_root, "forward", encode([NAT], [10 * v]))))
    cluster.run_until_idle()
    replies = [decode(r.wait(i).reply or b"", [NAT])[0] for r, i in ids]
    assert replies[0::2] == [0, 1, 2, 3, 4]
    assert replies[1::2] == [0, 10, 20, 30, 40]
    for callee in (on_root, on_app2):
        assert call(cluster, callee, "call_count", [], [], [NAT], query=True) == 5
    assert cluster.subnet("root").xnet.peers() == ["app1", "app2"]
    assert cluster.subnet("app1").xnet.peers() == ["root"]


def test_restarts_of_either_subnet_lose_and_repeat_nothing(tmp_path: Path) -> None:
    network = FaultyNetwork(3)
    cluster = Cluster(("root", "app1"), tmp_path, clock=Clock())
    callee = install(cluster.replica("app1"), "callee")
    caller = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [callee]))
    cluster.run_until_idle()
    root = cluster.replica("root")
    request_id = root.submit(caller, "forward", encode([NAT], [5]))
    root.subnet.execute_round()  # the caller runs and commits its call to app1's stream
    assert cluster.exchange() == 1  # app1 takes it …
    cluster.restart("app1")  # … and loses it uncommitted
    assert cluster.subnet("app1").signals() == {}
    assert cluster.exchange() == 1  # root's stream still holds it: sent again
    cluster.subnet("app1").execute_round()  # the callee runs; its reply is committed
    cluster.restart("root")  # root never saw the signal or the reply
    assert cluster.subnet("root").xnet.streams["app1"].end == 1
    cluster.transport = network
    for _ in range(3):
        cluster.exchange()
    cluster.transport = None
    cluster.restart("app1")
    status = cluster.replica("root").wait(request_id)
    assert status.state is IngressState.REPLIED
    assert decode(status.reply or b"", [NAT]) == (0,)
    cluster.run_until_idle()
    assert call(cluster, callee, "call_count", [], [], [NAT], query=True) == 1
    assert call(cluster, callee, "get", [], [], [NAT], query=True) == 5
    assert call(cluster, caller, "counters", [], [], [NAT, NAT], query=True) == (1, 1)
    # Streams and indices survive a restart of the whole cluster.
    signals = {name: cluster.subnet(name).signals() for name in cluster.names}
    cluster.close()
    again = Cluster(("root", "app1"), tmp_path, clock=Clock())
    assert {name: again.subnet(name).signals() for name in again.names} == signals
    assert signals == {"root": {"app1": 1}, "app1": {"root": 1}}
    assert call(again, caller, "forward", [NAT], [6], [NAT]) == 5
    assert call(again, callee, "call_count", [], [], [NAT], query=True) == 2
    again.close()
