"""StableBTreeMap, StableVec and StableCell over the LocalBackend store."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk import (
    LocalBackend,
    StableBTreeMap,
    StableCell,
    StableVec,
    StorageError,
    float32,
    nat64,
    set_backend,
)
from icframework.sdk.backend import SortedKV, WriteBuffer


@dataclass
class Listing:
    title: str
    price: nat64
    tags: list[str]


OPS = st.lists(
    st.tuples(
        st.sampled_from(["insert", "remove", "get", "contains"]),
        st.integers(-50, 50),
        st.integers(0, 1000),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(OPS, st.integers(-60, 60), st.integers(-60, 60), st.booleans(), st.integers(0, 5))
def test_btreemap_behaves_like_a_sorted_dict(
    ops: list[tuple[str, int, int]], lo: int, hi: int, reverse: bool, limit: int
) -> None:
    set_backend(LocalBackend())
    m = StableBTreeMap[int, nat64]("model")
    model: dict[int, int] = {}
    for op, key, value in ops:
        if op == "insert":
            m.insert(key, value)
            model[key] = value
        elif op == "remove":
            assert m.remove(key) == model.pop(key, None)
        elif op == "get":
            assert m.get(key) == model.get(key)
        else:
            assert (key in m) == (key in model)
    assert len(m) == len(model)
    assert list(m.items()) == sorted(model.items())
    assert list(m.keys(reverse=True)) == sorted(model, reverse=True)
    expected = sorted(((k, v) for k, v in model.items() if lo <= k < hi), reverse=reverse)
    if limit:
        expected = expected[:limit]
    assert list(m.range(lo, hi, reverse=reverse, limit=limit)) == expected


def test_map_with_record_values_and_tuple_keys() -> None:
    m = StableBTreeMap[tuple[str, nat64], Listing]("listings")
    m[("bob", 2)] = Listing("bike", 120, ["red"])
    m[("alice", 9)] = Listing("lamp", 15, [])
    m[("bob", 1)] = Listing("book", 5, ["used", "paper"])
    assert m[("bob", 2)] == Listing("bike", 120, ["red"])
    assert [k for k, _ in m.items()] == [("alice", 9), ("bob", 1), ("bob", 2)]
    assert [k for k, _ in m.range(("bob", 0), ("bob", 2**64 - 1))] == [("bob", 1), ("bob", 2)]
    assert m.first() == (("alice", 9), Listing("lamp", 15, []))
    assert m.last() is not None and m.last()[0] == ("bob", 2)
    del m[("bob", 1)]
    assert len(m) == 2 and ("bob", 1) not in m
    with pytest.raises(KeyError):
        del m[("bob", 1)]
    with pytest.raises(KeyError):
        m[("nobody", 0)]
    assert m.get(("nobody", 0), "dflt") == "dflt"
    m.clear()
    assert len(m) == 0 and list(m) == [] and m.is_empty()


def test_many_entries_cross_page_boundaries() -> None:
    m = StableBTreeMap[nat64, str]("big")
    for i in range(300):
        m.insert(i, str(i))
    assert [k for k, _ in m.items()] == list(range(300))
    assert list(m.values(reverse=True))[:3] == ["299", "298", "297"]
    assert len(list(m.range(10, 200, limit=150))) == 150


def test_structures_are_namespaced() -> None:
    a = StableBTreeMap[str, int]("a")
    ab = StableBTreeMap[str, int]("ab")
    a["x"] = 1
    ab["x"] = 2
    assert list(a.items()) == [("x", 1)] and list(ab.items()) == [("x", 2)]


def test_writes_roll_back_with_the_transaction(backend: LocalBackend) -> None:
    m = StableBTreeMap[str, int]("m")
    m["keep"] = 1
    with pytest.raises(RuntimeError), backend.transaction():
        m["drop"] = 2
        m.remove("keep")
        assert list(m) == ["drop"]
        raise RuntimeError("boom")
    assert list(m.items()) == [("keep", 1)] and len(m) == 1


def test_values_read_at_a_wider_type_after_an_upgrade() -> None:
    @dataclass
    class V1:
        name: str

    @dataclass
    class V2:
        name: str
        note: str | None

    StableBTreeMap("evolve", str, V1)["k"] = V1("old")
    assert StableBTreeMap("evolve", str, V2)["k"] == V2("old", None)


def test_vec() -> None:
    v = StableVec[Listing]("vec")
    assert v.pop() is None and len(v) == 0
    assert v.push(Listing("a", 1, [])) == 0
    v.extend([Listing("b", 2, []), Listing("c", 3, ["x"])])
    assert len(v) == 3 and v[-1].title == "c" and v.get(5) is None
    v[1] = Listing("B", 20, [])
    assert [x.title for x in v] == ["a", "B", "c"]
    assert v.pop() == Listing("c", 3, ["x"])
    with pytest.raises(IndexError, match="index 2 out of range"):
        v[2]
    v.clear()
    assert len(v) == 0


def test_cell() -> None:
    c = StableCell[nat64]("c", default=7)
    assert c.get() == 7 and not c.is_set()
    c.set(9)
    assert c.get() == 9 and c.is_set()
    with pytest.raises(StorageError, match="is empty and has no default"):
        StableCell[str]("empty").get()


def test_cell_of_a_fixed_width_number_checks_what_it_stores() -> None:
    c = StableCell[nat64]("n", default=0)
    c.set(2**64 - 1)
    assert c.get() == 2**64 - 1
    with pytest.raises(Exception, match="nat64"):
        c.set(2**64)  # out of range: the codec's own error
    with pytest.raises(Exception, match="nat64"):
        c.set(True)  # type: ignore[arg-type]  # a bool is not a nat64
    assert c.get() == 2**64 - 1
    f = StableCell[float32]("f", default=0.0)
    f.set(0.1)
    assert f.get() == struct.unpack("<f", struct.pack("<f", 0.1))[0]  # rounded, as stored


def test_cell_default_of_a_mutable_type_is_never_handed_out_to_change() -> None:
    default: list[str] = ["seed"]
    c = StableCell[list[str]]("tags", default=default)
    first = c.get()
    first.append("changed by a caller")
    assert c.get() == ["seed"] and default == ["seed"]
    assert c.get() is not c.get()


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_bad_names(name: str) -> None:
    with pytest.raises(StorageError, match="non-empty name without NUL"):
        StableBTreeMap[str, int](name)


def test_types_are_required() -> None:
    with pytest.raises(StorageError, match=r"StableBTreeMap\[K, V\]"):
        StableBTreeMap("x")
    with pytest.raises(StorageError, match="cannot be a storage key"):
        StableBTreeMap[float, int]("x")


KEYS = st.binary(max_size=3)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(KEYS, st.binary(max_size=2), max_size=150),
    st.lists(st.tuples(KEYS, st.one_of(st.none(), st.binary(max_size=2))), max_size=40),
    KEYS,
    st.one_of(st.none(), KEYS),
    st.booleans(),
    st.integers(0, 80),
)
def test_write_buffer_scan_merges_pending_writes(
    committed: dict[bytes, bytes],
    writes: list[tuple[bytes, bytes | None]],
    start: bytes,
    end: bytes | None,
    reverse: bool,
    limit: int,
) -> None:
    store = SortedKV()
    for k, v in committed.items():
        store.put(k, v)
    buffer = WriteBuffer(store)
    model = dict(committed)
    for k, v in writes:
        if v is None:
            buffer.delete(k)
            model.pop(k, None)
        else:
            buffer.put(k, v)
            model[k] = v
    expected = sorted(
        ((k, v) for k, v in model.items() if k >= start and (end is None or k < end)),
        reverse=reverse,
    )
    if limit:
        expected = expected[:limit]
    assert buffer.scan(start, end, reverse, limit) == expected
    assert all(buffer.get(k) == model.get(k) for k, _ in writes)
