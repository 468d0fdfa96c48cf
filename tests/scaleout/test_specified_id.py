"""``provisional_create_canister_with_cycles`` with a ``specified_id`` on a subnet of
several: an id the routing table does not route to the subnet is refused (IC0405) with
the subnet it belongs to, or none, and the range to choose from; a canister is never
created where no call could reach it. The in-process cluster (real subnets, real
routing table) for the rules; the process cluster's front end for a whole call."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from icframework.core import ErrorCode, Principal
from icframework.replica import CanisterError, subnet_range
from icframework.replica.cluster import Cluster


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster(["root", "app1", "app2"]) as running:
        yield running


def refusal(cluster: Cluster, subnet: str, specified: Principal) -> str:
    with pytest.raises(CanisterError) as caught:
        cluster.replica(subnet).create_canister(specified_id=specified)
    assert caught.value.error_code is ErrorCode.CANISTER_NOT_HOSTED_BY_SUBNET
    return str(caught.value)


def app1_range_named(message: str) -> bool:
    low, high = subnet_range(1).principals()
    return f"Specify a canister id from {low} to {high}" in message and (
        "that the routing table routes here" in message)


def test_an_id_in_no_subnets_range_is_refused_naming_the_range(cluster: Cluster) -> None:
    outside = Principal.from_canister_index(subnet_range(7).first)
    message = refusal(cluster, "app1", outside)
    assert f"Specified CanisterId {outside} is not hosted by subnet" in message
    assert f"a canister id in no subnet's range (index {subnet_range(7).first:#x})" in message
    assert app1_range_named(message)
    assert cluster.replica("app1").canister_record(outside) is None


def test_an_id_of_another_subnet_names_that_subnet(cluster: Cluster) -> None:
    on_app2 = Principal.from_canister_index(subnet_range(2).first + 3)
    message = refusal(cluster, "app1", on_app2)
    assert "the routing table places on subnet 'app2'" in message
    assert app1_range_named(message)
    created = cluster.replica("app2").create_canister(specified_id=on_app2)
    assert created == on_app2


def test_an_id_migrated_away_is_not_created_again_where_it_was(cluster: Cluster) -> None:
    """The id of a canister moved to app2 is still in app1's configured range, but the
    routing table sends its calls to app2: app1 must not create it again."""
    app1 = cluster.replica("app1")
    moved = Principal.from_canister_index(subnet_range(1).first + 5)
    assert app1.create_canister(specified_id=moved) == moved
    app1.stop_canister(moved)
    app1.delete_canister(moved)
    cluster.registry.move_range(moved, moved, "app2")
    cluster.refresh_routing()
    message = refusal(cluster, "app1", moved)
    assert "the routing table places on subnet 'app2'" in message
    assert app1.canister_record(moved) is None
    # Its neighbours are still app1's to create.
    neighbour = Principal.from_canister_index(subnet_range(1).first + 6)
    assert app1.create_canister(specified_id=neighbour) == neighbour
    # app2 holds the moved id by routing only, outside its configured range: refused too,
    # as outside this subnet's range (nothing ever lands beyond its certified ranges).
    message = refusal(cluster, "app2", moved)
    assert re.search(r"outside this subnet's range \(index 0x[0-9a-f]+\)", message), message


def test_creating_without_an_id_skips_ids_routed_elsewhere(cluster: Cluster) -> None:
    """The allocator hands out only ids the routing table places on the creating subnet:
    an id whose canister moved away, or a range moved to another subnet, is skipped (a
    canister there would be unreachable: its calls go to the other subnet)."""
    app1 = cluster.replica("app1")
    first = subnet_range(1).first
    assert app1.create_canister() == Principal.from_canister_index(first)
    moved = Principal.from_canister_index(first + 1)
    cluster.registry.move_range(moved, moved, "app2")  # say, a canister migrated there
    cluster.registry.move_range(Principal.from_canister_index(first + 3),
                                Principal.from_canister_index(first + 0x2000), "app2")
    cluster.refresh_routing()
    created = [app1.create_canister() for _ in range(3)]
    assert [c.canister_index() for c in created] == [first + 2, first + 0x2001, first + 0x2002]
    assert all(cluster.replica_of(c) is app1 and app1.canister_record(c) is not None
               for c in created)
    assert app1.canister_record(moved) is None
    assert app1.canister_status(created[1])["status"] == {"running": None}

    # Once the rest of its range is routed elsewhere, app1 says it has no id left.
    cluster.registry.move_range(Principal.from_canister_index(first + 0x2003),
                                Principal.from_canister_index(subnet_range(1).last), "app2")
    cluster.refresh_routing()
    with pytest.raises(CanisterError) as caught:
        app1.create_canister()
    assert caught.value.error_code is ErrorCode.MAX_NUMBER_OF_CANISTERS_REACHED
    assert "that the routing table routes to it" in str(caught.value)
