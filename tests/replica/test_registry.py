"""Tests of `icframework.replica.registry`: the pure routing table (examples and a model
check), and the registry's rules in both storages (memory, and PostgreSQL: ``services``)."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.replica.errors import ReplicaError
from icframework.replica.postgres_registry import PostgresRegistry
from icframework.replica.registry import (
    CanisterRange,
    MemoryRegistry,
    Registry,
    RegistryError,
    RoutingTable,
    SubnetRecord,
    canister_index,
    subnet_range,
)
from icframework.replica.subnet import SubnetConfig

pytest_plugins = ["tests.services"]


def cid(index: int) -> bytes:
    return Principal.from_canister_index(index).raw


def record(name: str, number: int, *, is_root: bool = False) -> SubnetRecord:
    key = f"public key of {name}".encode()
    return SubnetRecord(
        name=name,
        subnet_id=Principal.self_authenticating(key).raw,
        public_key_der=key,
        is_root=is_root,
        canister_range=subnet_range(number),
    )


# -- ranges and the routing table -----------------------------------------------------------


def test_subnet_ranges_follow_the_design() -> None:
    config = SubnetConfig()
    assert subnet_range(0) == CanisterRange(config.first_canister_index, config.last_canister_index)
    assert subnet_range(1) == CanisterRange(0x8000000000200000, 0x80000000002FFFFF)
    assert subnet_range(2).first == subnet_range(1).last + 1
    assert str(subnet_range(0)) == "0x8000000000100000..0x80000000001fffff"
    assert subnet_range(0).principals() == (
        Principal.from_canister_index(0x8000000000100000),
        Principal.from_canister_index(0x80000000001FFFFF),
    )
    with pytest.raises(RegistryError, match="subnet number -1 is invalid"):
        subnet_range(-1)
    with pytest.raises(RegistryError, match=r"canister range 5..4 is invalid"):
        CanisterRange(5, 4)
    with pytest.raises(RegistryError, match=r"range 0..18446744073709551616 is invalid"):
        CanisterRange(0, 1 << 64)


def test_lookup_by_bisection_at_the_edges() -> None:
    table = RoutingTable([(subnet_range(1), "app1"), (subnet_range(0), "root")])
    root, app1 = subnet_range(0), subnet_range(1)
    assert table.routes() == [(root, "root"), (app1, "app1")]
    assert table.subnet_of(cid(root.first)) == "root"
    assert table.subnet_of(Principal.from_canister_index(root.last)) == "root"
    assert table.subnet_of(app1.first) == "app1"
    assert table.subnet_of(app1.last) == "app1"
    assert table.subnet_of(root.first - 1) is None
    assert table.subnet_of(app1.last + 1) is None
    assert table.subnet_of(Principal.anonymous()) is None  # not a canister id
    assert table.subnet_of(b"\x01\x02") is None
    assert table.ranges_of("root") == [root]
    assert table.ranges_of("nobody") == []
    assert canister_index(cid(42)) == 42


def test_overlaps_are_refused_with_both_ranges_named() -> None:
    table = RoutingTable([(CanisterRange(10, 19), "a")])
    for clash in (CanisterRange(0, 10), CanisterRange(19, 30), CanisterRange(12, 13)):
        with pytest.raises(RegistryError) as info:
            table.add(clash, "b")
        assert str(info.value) == (
            f"canister range {clash} of subnet 'b' overlaps the range 0xa..0x13 of "
            "subnet 'a'; give each subnet its own range"
        )
        assert isinstance(info.value, ReplicaError)
    table.add(CanisterRange(20, 29), "b")
    table.add(CanisterRange(0, 9), "a")
    assert table.routes() == [(CanisterRange(0, 19), "a"), (CanisterRange(20, 29), "b")]


def test_move_splits_and_merges_ranges() -> None:
    table = RoutingTable([(CanisterRange(0, 99), "a"), (CanisterRange(100, 199), "b")])
    table.move(cid(90), cid(109), "c")
    assert table.routes() == [
        (CanisterRange(0, 89), "a"),
        (CanisterRange(90, 109), "c"),
        (CanisterRange(110, 199), "b"),
    ]
    table.move(110, 199, "c")
    assert table.routes() == [(CanisterRange(0, 89), "a"), (CanisterRange(90, 199), "c")]
    with pytest.raises(RegistryError) as info:
        table.move(150, 250, "a")
    assert str(info.value) == (
        "cannot move canister range 0x96..0xfa to subnet 'a': the canisters from 0xc8 on "
        "are not routed to any subnet; move only routed ranges"
    )
    with pytest.raises(RegistryError, match="last b'x' is not a canister id"):
        table.move(1, b"x", "a")
    assert table.routes() == [(CanisterRange(0, 89), "a"), (CanisterRange(90, 199), "c")]


names = st.sampled_from(["a", "b", "c"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(0, 8), names)))
def test_routing_table_follows_a_model(steps: list[tuple[bool, int, int, str]]) -> None:
    """Adds and moves on a universe of 48 indexes, against a dict index -> subnet."""
    table, model = RoutingTable(), {}
    for is_move, first, length, name in steps:
        span = range(first, first + length + 1)
        if is_move:
            if all(i in model for i in span):
                table.move(first, first + length, name)
                model.update(dict.fromkeys(span, name))
            else:
                with pytest.raises(RegistryError, match="not routed"):
                    table.move(first, first + length, name)
        elif any(i in model for i in span):
            with pytest.raises(RegistryError, match="overlaps"):
                table.add(CanisterRange(first, first + length), name)
        else:
            table.add(CanisterRange(first, first + length), name)
            model.update(dict.fromkeys(span, name))
        assert [table.subnet_of(i) for i in range(48)] == [model.get(i) for i in range(48)]
        routes = table.routes()
        for (left, owner), (right, next_owner) in itertools.pairwise(routes):
            assert left.last < right.first  # sorted and disjoint
            assert not (owner == next_owner and left.last + 1 == right.first)  # merged


# -- the registry, in memory and in PostgreSQL ----------------------------------------------


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.services)])
def registry(request: pytest.FixtureRequest) -> Iterator[Registry]:
    opened: Registry
    if request.param == "memory":
        opened = MemoryRegistry()
    else:
        opened = PostgresRegistry(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def test_registering_subnets_routes_their_ranges(registry: Registry) -> None:
    assert (registry.version(), registry.subnets(), len(registry.routing_table())) == (0, [], 0)
    with pytest.raises(RegistryError, match="no root subnet is registered yet"):
        registry.root()
    root, app1 = record("root", 0, is_root=True), record("app1", 1)
    registry.register_subnet(root)
    registry.register_subnet(app1)
    registry.register_subnet(app1)  # a restarted subnet registers itself again: no change
    assert registry.version() == 2
    assert registry.subnets() == [app1, root]
    assert registry.root() == root
    assert registry.subnet("app1") == app1
    table = registry.routing_table()
    assert table.routes() == [(subnet_range(0), "root"), (subnet_range(1), "app1")]
    assert table.subnet_of(cid(subnet_range(1).first + 5)) == "app1"
    with pytest.raises(RegistryError, match=r"subnet 'app9' is not registered \(registered: "):
        registry.subnet("app9")


def test_conflicting_registrations_are_refused(registry: Registry) -> None:
    registry.register_subnet(record("root", 0, is_root=True))
    registry.register_subnet(record("app1", 1))
    before = (registry.subnets(), registry.routing_table(), registry.version())
    moved = replace(record("app1", 1), canister_range=subnet_range(2))
    cases = [
        (moved, "subnet 'app1' is already registered with another id, key, role or range"),
        (
            SubnetRecord("app2", record("app1", 1).subnet_id, b"k", False, subnet_range(2)),
            "is already the id of subnet 'app1'; each subnet needs a key of its own",
        ),
        (record("app2", 2, is_root=True), "subnet 'app2' cannot be the root subnet: 'root' is"),
        (
            SubnetRecord("app2", b"id2", b"k2", False, CanisterRange(0, subnet_range(0).first)),
            "canister range 0x0..0x8000000000100000 of subnet 'app2' overlaps the range "
            "0x8000000000100000..0x80000000001fffff of subnet 'root'",
        ),
        (record("App2", 2), "subnet name 'App2' is invalid"),
    ]
    for bad, message in cases:
        with pytest.raises(RegistryError) as info:
            registry.register_subnet(bad)
        assert message in str(info.value)
    assert (registry.subnets(), registry.routing_table(), registry.version()) == before


def test_delegations_are_stored_and_survive_re_registration(registry: Registry) -> None:
    registry.register_subnet(record("root", 0, is_root=True))
    registry.register_subnet(record("app1", 1))
    registry.set_delegation("app1", b"\xd9\xd9\xf7 cbor")
    assert registry.subnet("app1").delegation == b"\xd9\xd9\xf7 cbor"
    registry.register_subnet(record("app1", 1))
    assert registry.subnet("app1").delegation == b"\xd9\xd9\xf7 cbor"
    assert registry.subnet("root").delegation is None
    assert registry.version() == 3
    with pytest.raises(RegistryError, match="subnet 'app7' is not registered"):
        registry.set_delegation("app7", b"x")
    with pytest.raises(RegistryError, match="the delegation of subnet 'app1' is a str"):
        registry.set_delegation("app1", "text")  # type: ignore[arg-type]


def test_move_range_migrates_canisters(registry: Registry) -> None:
    registry.register_subnet(record("root", 0, is_root=True))
    registry.register_subnet(record("app1", 1))
    registry.register_subnet(record("app2", 2))
    one = subnet_range(1)
    registry.move_range(cid(one.first + 10), cid(one.first + 19), "app2")
    table = registry.routing_table()
    assert table.subnet_of(one.first + 9) == "app1"
    assert table.subnet_of(one.first + 10) == "app2"
    assert table.subnet_of(one.first + 19) == "app2"
    assert table.subnet_of(one.first + 20) == "app1"
    assert table.ranges_of("app2") == [
        CanisterRange(one.first + 10, one.first + 19),
        subnet_range(2),
    ]
    assert registry.version() == 4
    with pytest.raises(RegistryError, match="subnet 'app9' is not registered"):
        registry.move_range(one.first, one.first, "app9")
    with pytest.raises(RegistryError, match="are not routed to any subnet"):
        registry.move_range(subnet_range(2).last, subnet_range(2).last + 1, "app1")
    assert registry.routing_table() == table
    # A restarted app1 registers its original record again: its moved canisters stay moved.
    registry.register_subnet(record("app1", 1))
    assert registry.routing_table() == table


@pytest.mark.services
def test_postgres_registries_share_one_state_and_serialize_changes(postgres_url: str) -> None:
    with PostgresRegistry(postgres_url) as first:
        first.register_subnet(record("root", 0, is_root=True))
        errors: list[BaseException] = []

        def register(number: int) -> None:
            try:
                with PostgresRegistry(postgres_url) as mine:
                    mine.register_subnet(record(f"app{number}", number))
                    mine.move_range(subnet_range(number).first, subnet_range(number).first, "root")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=register, args=(k,)) for k in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert [r.name for r in first.subnets()] == [*(f"app{k}" for k in range(1, 9)), "root"]
        assert first.version() == 1 + 8 * 2
        table = first.routing_table()
        for k in range(1, 9):
            assert table.subnet_of(subnet_range(k).first) == "root"
            assert table.ranges_of(f"app{k}") == [
                CanisterRange(subnet_range(k).first + 1, subnet_range(k).last)
            ]


def test_unreachable_postgres_registry_names_the_database() -> None:
    with pytest.raises(RegistryError, match=r"cannot open the registry at postgresql://x@127\."):
        PostgresRegistry("postgresql://x:pw@127.0.0.1:1/reg")


@pytest.mark.services
def test_postgres_registry_connects_again_after_the_connection_broke(postgres_url: str) -> None:
    with PostgresRegistry(postgres_url) as registry:
        registry.register_subnet(record("root", 0, is_root=True))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(RegistryError, match="cannot read the registry at postgresql://"):
            registry.subnets()
        assert [r.name for r in registry.subnets()] == ["root"]
