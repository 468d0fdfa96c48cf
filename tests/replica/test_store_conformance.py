"""The `StateStore` conformance suite: every store against the same tests and one model.

The memory, SQLite and PostgreSQL stores run the same interface tests (a parametrized
``store`` fixture) and the same model check (random rounds, read back after each, and
again after reopening the durable ones). The PostgreSQL cases need the database service
(``services`` marker) and skip when it does not answer.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.replica.errors import ReplicaError, StateStoreError
from icframework.replica.execution.page_map import CHECKPOINT_PAGE
from icframework.replica.postgres_store import PostgresStateStore
from icframework.replica.store import (
    MemoryStateStore,
    RoundChanges,
    SQLiteStateStore,
    StateStore,
)

pytest_plugins = ["tests.services"]

P = CHECKPOINT_PAGE
A, B = b"canister-a", b"canister-b"
STORES = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.services)]


def page(fill: int) -> bytes:
    return bytes([fill]) * P


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    opened: StateStore
    if request.param == "memory":
        opened = MemoryStateStore()
    elif request.param == "sqlite":
        opened = SQLiteStateStore(tmp_path / "s.db")
    else:
        opened = PostgresStateStore(request.getfixturevalue("postgres_url"), "app1")
    yield opened
    opened.close()


def snapshot(store: StateStore) -> dict[str, object]:
    """Everything the tests below can put in a store, read back."""
    return {
        "height": store.height(),
        "time_ns": store.time_ns(),
        "canisters": store.canister_records(),
        "pages": {
            (cid, space): list(store.load_pages(cid, space))
            for cid in (A, B)
            for space in ("heap", "stable")
        },
        "kv": {ns: list(store.kv_scan(ns)) for ns in ("x", "y")},
    }


# -- the interface --------------------------------------------------------------------------


def test_new_store_is_empty(store: StateStore) -> None:
    assert snapshot(store) == {
        "height": 0,
        "time_ns": 0,
        "canisters": {},
        "pages": {(c, s): [] for c in (A, B) for s in ("heap", "stable")},
        "kv": {"x": [], "y": []},
    }
    assert store.kv_get("x", b"k") is None


def test_round_is_read_back_in_order(store: StateStore) -> None:
    changes = RoundChanges(height=7, time_ns=1_700_000_000_123_456_789)
    changes.canister_upserts[A] = b"record a"
    changes.page_writes[(A, "heap")] = {5: page(5), 0: page(1), 2: None}
    changes.page_writes[(A, "stable")] = {1_000_000: page(9)}
    changes.kv_puts[("x", b"\xff")] = b"last"
    changes.kv_puts[("x", b"\x00")] = b"first"
    changes.kv_puts[("y", b"k")] = b""
    store.commit_round(changes)
    assert store.height() == 7
    assert store.time_ns() == 1_700_000_000_123_456_789
    assert store.canister_records() == {A: b"record a"}
    assert list(store.load_pages(A, "heap")) == [(0, page(1)), (5, page(5))]
    assert list(store.load_pages(A, "stable")) == [(1_000_000, page(9))]
    assert list(store.load_pages(B, "heap")) == []
    assert list(store.kv_scan("x")) == [(b"\x00", b"first"), (b"\xff", b"last")]
    assert store.kv_get("y", b"k") == b""


def test_deletions_apply_before_writes_of_the_same_round(store: StateStore) -> None:
    first = RoundChanges(height=1, time_ns=10)
    first.canister_upserts.update({A: b"a1", B: b"b1"})
    first.page_writes[(A, "heap")] = {0: page(1), 1: page(1)}
    first.page_writes[(A, "stable")] = {0: page(2)}
    first.kv_puts.update({("x", b"k"): b"old", ("x", b"gone"): b"soon"})
    store.commit_round(first)

    second = RoundChanges(height=2, time_ns=20)
    second.canister_deletes.update({A, B})
    second.canister_upserts[A] = b"a2"
    second.space_deletes.add((A, "heap"))
    second.page_writes[(A, "heap")] = {3: page(3)}
    second.page_writes[(A, "stable")] = {0: None}
    second.kv_deletes.update({("x", b"k"), ("x", b"gone"), ("y", b"never there")})
    second.kv_puts[("x", b"k")] = b"new"
    store.commit_round(second)

    assert store.canister_records() == {A: b"a2"}
    assert list(store.load_pages(A, "heap")) == [(3, page(3))]
    assert list(store.load_pages(A, "stable")) == []
    assert list(store.kv_scan("x")) == [(b"k", b"new")]
    assert (store.height(), store.time_ns()) == (2, 20)


def test_upserts_replace(store: StateStore) -> None:
    for height in (1, 2):
        changes = RoundChanges(height=height, time_ns=height)
        changes.canister_upserts[A] = b"r%d" % height
        changes.page_writes[(A, "heap")] = {0: page(height)}
        changes.kv_puts[("x", b"k")] = b"v%d" % height
        store.commit_round(changes)
    assert store.canister_records() == {A: b"r2"}
    assert list(store.load_pages(A, "heap")) == [(0, page(2))]
    assert store.kv_get("x", b"k") == b"v2"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda c: c.page_writes.__setitem__((A, "heap"), {4: b"short"}),
            "round 3: page 4 of space 'heap' of canister b'canister-a' has 5 bytes; "
            "pages have non-negative indexes and exactly 4096 bytes",
        ),
        (
            lambda c: c.page_writes.__setitem__((A, "heap"), {-1: None}),
            "page -1 of space 'heap'",
        ),
        (
            lambda c: c.kv_puts.__setitem__(("x", b"bad"), "text"),
            "round 3: the value of key b'bad' in namespace 'x' is a str; "
            "the store keeps bytes only",
        ),
        (lambda c: setattr(c, "time_ns", -5), "round 3: time_ns is -5; expected 0 <= int"),
    ],
)
def test_malformed_round_is_refused_and_changes_nothing(
    store: StateStore, mutate: object, message: str
) -> None:
    good = RoundChanges(height=1, time_ns=1)
    good.kv_puts[("x", b"k")] = b"v"
    store.commit_round(good)
    before = snapshot(store)
    bad = RoundChanges(height=3, time_ns=3)
    bad.canister_upserts[A] = b"would land first"
    bad.kv_puts[("x", b"k")] = b"changed"
    mutate(bad)  # type: ignore[operator]
    with pytest.raises(StateStoreError) as info:
        store.commit_round(bad)
    assert message in str(info.value)
    assert isinstance(info.value, ReplicaError)
    assert snapshot(store) == before


def test_closed_store_refuses_use(store: StateStore) -> None:
    store.close()
    store.close()
    with pytest.raises(StateStoreError, match="closed"):
        store.height()
    with pytest.raises(StateStoreError, match="closed"):
        store.commit_round(RoundChanges(height=1, time_ns=1))


# -- model check: both stores, random rounds ------------------------------------------------

canister_ids = st.sampled_from([A, B])
spaces = st.tuples(canister_ids, st.sampled_from(["heap", "stable"]))
kv_keys = st.tuples(st.sampled_from(["x", "y"]), st.sampled_from([b"", b"k", b"\x00", b"\xff"]))
blobs = st.sampled_from([b"", b"1", b"22", b"\x00" * 3])
page_data = st.one_of(st.none(), st.integers(0, 3).map(page))


@st.composite
def rounds(draw: st.DrawFn, height: int) -> RoundChanges:
    return RoundChanges(
        height=height,
        time_ns=draw(st.integers(0, 2**63 - 1)),
        canister_upserts=draw(st.dictionaries(canister_ids, blobs, max_size=2)),
        canister_deletes=draw(st.sets(canister_ids, max_size=2)),
        page_writes=draw(
            st.dictionaries(
                spaces, st.dictionaries(st.integers(0, 5), page_data, max_size=4), max_size=3
            )
        ),
        space_deletes=draw(st.sets(spaces, max_size=2)),
        kv_puts=draw(st.dictionaries(kv_keys, blobs, max_size=3)),
        kv_deletes=draw(st.sets(kv_keys, max_size=3)),
    )


def apply_to_model(model: dict[str, object], changes: RoundChanges) -> None:
    """The documented semantics, spelled out on plain dicts."""
    canisters: dict[bytes, bytes] = model["canisters"]  # type: ignore[assignment]
    pages: dict[tuple[bytes, str], dict[int, bytes]] = model["pages"]  # type: ignore[assignment]
    kv: dict[tuple[str, bytes], bytes] = model["kv"]  # type: ignore[assignment]
    for cid in changes.canister_deletes:
        canisters.pop(cid, None)
    canisters.update(changes.canister_upserts)
    for space in changes.space_deletes:
        pages[space] = {}
    for space, writes in changes.page_writes.items():
        for index, data in writes.items():
            if data is None:
                pages[space].pop(index, None)
            else:
                pages[space][index] = data
    for key in changes.kv_deletes:
        kv.pop(key, None)
    kv.update(changes.kv_puts)
    model["height"], model["time_ns"] = changes.height, changes.time_ns


def model_snapshot(model: dict[str, object]) -> dict[str, object]:
    pages: dict[tuple[bytes, str], dict[int, bytes]] = model["pages"]  # type: ignore[assignment]
    kv: dict[tuple[str, bytes], bytes] = model["kv"]  # type: ignore[assignment]
    return {
        "height": model["height"],
        "time_ns": model["time_ns"],
        "canisters": model["canisters"],
        "pages": {space: sorted(content.items()) for space, content in pages.items()},
        "kv": {ns: sorted((k, v) for (n, k), v in kv.items() if n == ns) for ns in ("x", "y")},
    }


_subnets = itertools.count(1)


def open_durable(kind: str, directory: Path, request: pytest.FixtureRequest) -> StateStore:
    """A new durable store of ``kind``; `reopen` gives the same one again."""
    if kind == "sqlite":
        return SQLiteStateStore(directory / "s.db")
    url = request.getfixturevalue("postgres_database")
    # One database for the whole session: each example gets a subnet of its own.
    subnet = f"store-model{next(_subnets)}"
    (directory / "subnet").write_text(subnet)
    return PostgresStateStore(url, subnet)


def reopen(kind: str, directory: Path, request: pytest.FixtureRequest) -> StateStore:
    if kind == "sqlite":
        return SQLiteStateStore(directory / "s.db")
    url = request.getfixturevalue("postgres_database")
    return PostgresStateStore(url, (directory / "subnet").read_text())


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.services)])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_stores_follow_the_model(
    kind: str, request: pytest.FixtureRequest, data: st.DataObject
) -> None:
    model: dict[str, object] = {
        "height": 0,
        "time_ns": 0,
        "canisters": {},
        "pages": {(c, s): {} for c in (A, B) for s in ("heap", "stable")},
        "kv": {},
    }
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        memory, durable = MemoryStateStore(), open_durable(kind, directory, request)
        for height in range(1, data.draw(st.integers(1, 6)) + 1):
            changes = data.draw(rounds(height))
            memory.commit_round(changes)
            durable.commit_round(changes)
            apply_to_model(model, changes)
            expected = model_snapshot(model)
            assert snapshot(memory) == expected
            assert snapshot(durable) == expected
        durable.close()
        with reopen(kind, directory, request) as reopened:
            assert snapshot(reopened) == model_snapshot(model)
