"""Motoko canisters calling each other across two subnets of an in-process cluster.

The caller lives on ``root``, the callee on ``app1``: replies, rejects (explicit, trap,
missing method, missing canister) and the cycles that travel with calls behave as on
one subnet, and the caller pays the same fees as on one subnet.
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.candid import NAT, PRINCIPAL, TEXT, CandidType, Opt
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.replica.cluster import Cluster
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.registry import subnet_range
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm

pytestmark = requires_node

CONTROLLER = Principal.self_authenticating(b"xnet test controller")
NANOS = 1_000_000_000


class Clock:
    """A fixed clock (nanoseconds): cycles amounts compare exactly between runs."""

    def __init__(self) -> None:
        self.now = 1_750_000_000 * NANOS

    def __call__(self) -> int:
        return self.now


def call(target: Cluster | Replica, canister: Principal, method: str, types: list[CandidType],
         values: list[Any], results: list[CandidType], *, query: bool = False) -> Any:
    replica = target.replica_of(canister) if isinstance(target, Cluster) else target
    raw = (replica.query if query else replica.update)(canister, method, encode(types, values))
    decoded = decode(raw, results)
    return decoded[0] if len(decoded) == 1 else decoded


def install(replica: Replica, name: str, arg: bytes = b"DIDL\x00\x00") -> Principal:
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, motoko_wasm(name), arg, sender=CONTROLLER)
    return canister


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(("root", "app1"), clock=Clock())


def test_canisters_are_created_in_their_subnets_range(cluster: Cluster) -> None:
    for number, name in enumerate(cluster.names):
        canister = cluster.create_canister(name, sender=CONTROLLER)
        assert canister.canister_index() in subnet_range(number)
        assert cluster.replica_of(canister) is cluster.replica(name)
    ids = {cluster.replica(name).subnet_id for name in cluster.names}
    assert len(ids) == 2
    assert {cluster.subnet(n).config.root_key for n in cluster.names} == {cluster.root_key}


def test_reply_reject_and_trap_cross_subnets(cluster: Cluster) -> None:
    callee = install(cluster.replica("app1"), "callee")
    caller = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [callee]))
    assert cluster.replica_of(callee).subnet.config.subnet_name == "app1"
    assert call(cluster, caller, "forward", [NAT], [7], [NAT]) == 0
    assert call(cluster, callee, "get", [], [], [NAT], query=True) == 7
    trapped = call(cluster, caller, "call_trapping", [NAT], [99], [TEXT])
    assert trapped.startswith("5: ")
    assert "set_then_trap refused 99" in trapped
    assert call(cluster, callee, "get", [], [], [NAT], query=True) == 7
    assert call(cluster, caller, "call_rejecting", [NAT], [5], [TEXT]) == "4: callee: rejected 5"
    assert call(cluster, callee, "get", [], [], [NAT], query=True) == 5
    missing = call(cluster, caller, "call_missing", [], [], [TEXT])
    assert missing.startswith("5: ")
    assert "no_such_method" in missing
    assert call(cluster, caller, "echo_via", [TEXT], ["hi"], [TEXT]) == "hi"
    assert call(cluster, callee, "last_caller", [], [], [Opt(PRINCIPAL)], query=True) == caller
    assert call(cluster, caller, "counters", [], [], [NAT, NAT], query=True) == (4, 1)
    # Every stream is acknowledged and collected once the cluster is idle.
    cluster.run_until_idle()
    for name in cluster.names:
        for stream in cluster.subnet(name).xnet.streams.values():
            assert not stream.messages


def test_missing_callee_on_the_other_subnet_is_destination_invalid(cluster: Cluster) -> None:
    callee = install(cluster.replica("app1"), "callee")
    caller = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [callee]))
    absent = Principal.from_canister_index(subnet_range(1).first + 77)
    assert cluster.routing.subnet_of(absent.raw) == "app1"
    call(cluster, caller, "set_callee", [PRINCIPAL], [absent], [])
    answer = call(cluster, caller, "call_rejecting", [NAT], [1], [TEXT])
    assert answer == f"3: Canister {absent.to_text()} not found"
    # The request crossed to app1 and the reject came back through the reverse stream.
    assert cluster.subnet("app1").signals()["root"] >= 1
    assert cluster.subnet("root").signals()["app1"] >= 1


def test_call_to_a_canister_in_no_range_is_rejected_at_once(cluster: Cluster) -> None:
    caller = install(cluster.replica("root"), "caller", encode([PRINCIPAL], [CONTROLLER]))
    nowhere = Principal.from_canister_index(subnet_range(5).first)
    call(cluster, caller, "set_callee", [PRINCIPAL], [nowhere], [])
    answer = call(cluster, caller, "call_rejecting", [NAT], [1], [TEXT])
    assert answer == f"3: Canister {nowhere.to_text()} not found"
    assert cluster.subnet("root").xnet.streams == {}


def _cycles_run(cluster: Cluster | None) -> tuple[int, int, int, int]:
    """Send cycles twice (accepted, then refunded by a missing method) between two
    cycles canisters, on one subnet or across two; return (accepted, refunded, sender's
    and receiver's balance changes)."""
    if cluster is None:
        replica = Replica.open(clock=Clock())
        sender = install(replica, "cycles")
        receiver = install(replica, "cycles")
        callee = install(replica, "callee")
        states = replica.subnet.canister_state.states
        target: Cluster | Replica = replica
        receiver_states = states
    else:
        sender = install(cluster.replica("root"), "cycles")
        receiver = install(cluster.replica("app1"), "cycles")
        callee = install(cluster.replica("app1"), "callee")
        states = cluster.subnet("root").canister_state.states
        receiver_states = cluster.subnet("app1").canister_state.states
        target = cluster
    before_sender = states[sender.raw].cycles
    before_receiver = receiver_states[receiver.raw].cycles
    amount = 7_000_000_000
    accepted, refunded = call(target, sender, "send", [PRINCIPAL, NAT], [receiver, amount],
                              [NAT, NAT])
    with pytest.raises(CanisterError):
        call(target, sender, "send", [PRINCIPAL, NAT], [callee, amount], [NAT, NAT])
    return (accepted, refunded, states[sender.raw].cycles - before_sender,
            receiver_states[receiver.raw].cycles - before_receiver)


def test_cycles_and_fees_are_those_of_one_subnet(cluster: Cluster) -> None:
    one_subnet = _cycles_run(None)
    across = _cycles_run(cluster)
    assert across[:2] == (7_000_000_000, 0)
    assert across == one_subnet
