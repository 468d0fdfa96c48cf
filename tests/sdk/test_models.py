"""The model layer: rows, secondary indexes, ordering, pagination, transactions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.sdk import (
    DoesNotExist,
    Field,
    IntegrityError,
    LocalBackend,
    Model,
    ModelError,
    MultipleObjectsReturned,
    nat64,
    set_backend,
)
from icframework.sdk.types import TypeMapper

ALICE = Principal.self_authenticating(b"alice")
BOB = Principal.self_authenticating(b"bob")


class Listing(Model):
    title: str
    price: nat64 = Field(index=True)
    seller: Principal = Field(index=True, default=Principal.anonymous())
    sold: bool = False
    note: str | None = None

    class Meta:
        ordering = ("-price",)


class User(Model):
    handle: str = Field(primary_key=True)
    email: str = Field(unique=True)


def make(n: int = 6) -> list[Listing]:
    return [
        Listing.objects.create(title=f"t{i}", price=(i * 7) % 5, seller=ALICE if i % 2 else BOB)
        for i in range(n)
    ]


def test_create_get_and_auto_ids() -> None:
    a, b = Listing.objects.create(title="a", price=3), Listing.objects.create(title="b", price=1)
    assert (a.id, b.id) == (1, 2)
    assert Listing.objects.get(id=2) == b == Listing.objects.get(pk=2)
    assert Listing.objects.get(title="a") == a
    with pytest.raises(DoesNotExist, match="Listing with id=9 does not exist"):
        Listing.objects.get(id=9)
    Listing.objects.create(title="a", price=5)
    with pytest.raises(MultipleObjectsReturned):
        Listing.objects.get(title="a")
    assert Listing.objects.count() == 3


def test_model_is_a_candid_record() -> None:
    mapper = TypeMapper()
    mapper.info(Listing)
    from icframework.candid import format_type

    assert format_type(mapper.env["Listing"]) == (
        "record { id : nat64; title : text; note : opt text; sold : bool; seller : principal; "
        "price : nat64 }"
    )


def test_filter_and_ordering_use_indexes() -> None:
    rows = make(10)
    by_alice = Listing.objects.filter(seller=ALICE).order_by("pk").list()
    assert by_alice == [r for r in rows if r.seller == ALICE]
    default_order = Listing.objects.all().list()
    assert [r.price for r in default_order] == sorted((r.price for r in rows), reverse=True)
    cheap = Listing.objects.order_by("price", "-id").list()
    assert cheap == sorted(rows, key=lambda r: (r.price, -r.id))
    assert Listing.objects.filter(price__gte=3, seller=BOB).order_by("title").list() == sorted(
        (r for r in rows if r.price >= 3 and r.seller == BOB), key=lambda r: r.title
    )
    assert Listing.objects.filter(price__in=[0, 1]).count() == sum(r.price in (0, 1) for r in rows)
    assert Listing.objects.filter(title__contains="1").exists()


def test_primary_key_equality_reads_one_row_not_the_table(backend: LocalBackend) -> None:
    rows = make(40)
    scanned: list[int] = []
    real_scan = backend.kv_scan

    def counting_scan(start: bytes, end: bytes | None, reverse: bool, limit: int) -> list:
        found = real_scan(start, end, reverse, limit)
        scanned.append(len(found))
        return found

    backend.kv_scan = counting_scan  # type: ignore[method-assign]
    target = rows[-1]
    assert Listing.objects.filter(id=target.id).first() == target
    assert Listing.objects.filter(pk=target.id, sold=True).first() is None
    assert Listing.objects.get(id=rows[3].id) == rows[3]
    assert Listing.objects.filter(id=10_000).first() is None
    assert sum(scanned) == 0  # point reads
    page = Listing.objects.filter(id=target.id).paginate(limit=5)
    assert page.items == [target] and page.next_cursor is None
    assert sum(scanned) <= 1


def test_updates_move_index_entries() -> None:
    (row,) = make(1)
    row.price = 42
    row.seller = ALICE
    row.save()
    assert Listing.objects.filter(price=42).list() == [row]
    assert Listing.objects.filter(price=0).list() == []
    assert Listing.objects.filter(seller=BOB).list() == []
    row.delete()
    assert Listing.objects.filter(price=42).list() == [] and Listing.objects.count() == 0
    row.delete()  # deleting twice is harmless


def test_custom_primary_key_and_unique() -> None:
    User.objects.create(handle="ann", email="a@x")
    with pytest.raises(IntegrityError, match=r"User\.email must be unique; 'a@x' is taken"):
        User.objects.create(handle="bob", email="a@x")
    ann = User.objects.get(pk="ann")
    ann.email = "ann@x"
    ann.save()
    assert User.objects.get(email="ann@x") == ann
    User.objects.create(handle="bob", email="a@x")
    assert [u.handle for u in User.objects.all()] == ["ann", "bob"]


def test_save_rolls_back_with_its_transaction(backend: LocalBackend) -> None:
    make(2)
    with pytest.raises(RuntimeError), backend.transaction():
        Listing.objects.create(title="x", price=99)
        raise RuntimeError
    assert Listing.objects.count() == 2 and not Listing.objects.filter(price=99).exists()


def test_errors() -> None:
    with pytest.raises(ModelError, match="has no field 'colour'"):
        Listing.objects.filter(colour="red")
    with pytest.raises(ModelError, match="unknown lookup 'near'"):
        Listing.objects.filter(price__near=3)
    with pytest.raises(ModelError, match="unknown field 'colour'"):
        Listing.objects.order_by("colour")
    with pytest.raises(ModelError, match="invalid page cursor"):
        Listing.objects.all().paginate("zz")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 4), st.booleans()), max_size=25),
    st.sampled_from([(), ("price",), ("-price",), ("pk",), ("-pk",), ("sold", "-price")]),
    st.sampled_from([{}, {"price": 2}, {"seller": ALICE}, {"price__lt": 3}]),
    st.integers(1, 7),
)
def test_pagination_visits_every_row_once_in_order(
    rows: list[tuple[int, bool]], order: tuple[str, ...], filters: dict[str, object], limit: int
) -> None:
    set_backend(LocalBackend())
    for i, (price, sold) in enumerate(rows):
        Listing.objects.create(title=str(i), price=price, sold=sold, seller=ALICE if i % 3 else BOB)
    qs = Listing.objects.filter(**filters).order_by(*order) if order else Listing.objects.filter(
        **filters)
    expected = qs.list()
    seen: list[Listing] = []
    cursor = None
    for _ in range(100):
        page = qs.paginate(cursor, limit)
        assert len(page.items) <= limit
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == expected
    assert len({r.id for r in expected}) == len(expected)
