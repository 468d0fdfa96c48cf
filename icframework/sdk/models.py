"""A small Django-flavoured model layer over the key-value store.

::

    class Listing(Model):
        title: str
        price: nat64 = Field(index=True)
        seller: Principal = Field(index=True)

        class Meta:
            ordering = ("-price",)

    Listing.objects.create(title="Bike", price=120, seller=ic.caller())
    Listing.objects.filter(seller=me).order_by("price").paginate(cursor=None, limit=20)

How it works: a `Model` subclass becomes a keyword-only dataclass (so it is also a
Candid record and can be a method's argument or result) with an automatic
``id: nat64`` primary key unless a field says ``primary_key=True``. Rows live in the
namespace ``__model:<table>``: ``01 + key(pk)`` → the row as Candid; each indexed field
keeps ``02 + field + 00 + key(value) + key(pk)`` → ``key(pk)``; ``00`` holds the next
auto id and ``03`` the row count. `Model.save` and `Model.delete` keep rows and
indexes together, inside the message's one transaction.

Queries: equality on the primary key reads that one row; equality on an indexed field
reads the index; ordering by one indexed field (or the pk) with no other filter streams
the index in order; anything else filters and sorts in Python. `QuerySet.paginate`
returns an opaque cursor: the last store key for streamed plans, an offset otherwise.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from icframework.sdk import backend as _backend
from icframework.sdk.errors import DoesNotExist, IntegrityError, ModelError, MultipleObjectsReturned
from icframework.sdk.keys import KeyCodec, component_codec, key_codec
from icframework.sdk.stable import ValueCodec, namespace, scan_range
from icframework.sdk.types import nat64

__all__ = ["Field", "Manager", "Model", "Page", "QuerySet"]

M = TypeVar("M", bound="Model")
_OPTIONS = "icframework"


@dataclass(frozen=True, slots=True)
class FieldOptions:
    index: bool = False
    unique: bool = False
    primary_key: bool = False


def Field(
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    index: bool = False,
    unique: bool = False,
    primary_key: bool = False,
) -> Any:
    """A model field with options: ``index`` (keep a secondary index), ``unique`` (an
    index that refuses duplicates), ``primary_key`` (replaces the automatic ``id``)."""
    options = FieldOptions(index or unique or primary_key, unique, primary_key)
    kwargs: dict[str, Any] = {"metadata": {_OPTIONS: options}}
    if default is not dataclasses.MISSING:
        kwargs["default"] = default
    if default_factory is not dataclasses.MISSING:
        kwargs["default_factory"] = default_factory
    return dataclasses.field(**kwargs)


class _Meta:
    """Everything the store needs about one model, computed on first use."""

    def __init__(self, cls: type[Model]) -> None:
        hints = typing.get_type_hints(cls, include_extras=True)
        meta = cls.__dict__.get("Meta")
        self.table: str = getattr(meta, "table", cls.__name__)
        dc: Any = cls
        self.ordering: tuple[str, ...] = tuple(getattr(meta, "ordering", ()))
        self.fields: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(dc))
        pk = [f.name for f in dataclasses.fields(dc) if _options(f).primary_key]
        self.pk = pk[0] if pk else "id"
        self.auto = not pk
        self.pk_codec: KeyCodec = key_codec(hints[self.pk])
        self.indexes: dict[str, KeyCodec] = {}
        self.unique: set[str] = set()
        for f in dataclasses.fields(dc):
            opts = _options(f)
            if opts.index and not opts.primary_key:
                self.indexes[f.name] = component_codec(hints[f.name])
                if opts.unique:
                    self.unique.add(f.name)
        self.codec = ValueCodec(cls)
        ns = namespace("__model:" + self.table)
        self.next_id_key = ns + b"\x00"
        self.rows = ns + b"\x01"
        self.rows_end = ns + b"\x02"
        self.index_base = ns + b"\x02"
        self.count_key = ns + b"\x03"

    def index_prefix(self, field: str, value: Any = dataclasses.MISSING) -> bytes:
        prefix = self.index_base + field.encode() + b"\x00"
        if value is dataclasses.MISSING:
            return prefix
        return prefix + self.indexes[field].encode(value)


def _options(f: dataclasses.Field[Any]) -> FieldOptions:
    opts = f.metadata.get(_OPTIONS)
    return opts if isinstance(opts, FieldOptions) else FieldOptions()


def _after(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix``."""
    end = bytearray(prefix.rstrip(b"\xff"))
    end[-1] += 1
    return bytes(end)


@typing.dataclass_transform(kw_only_default=True, field_specifiers=(Field, dataclasses.field))
class Model:
    """Base class of stored models; subclasses are keyword-only dataclasses."""

    objects: ClassVar[Manager[Any]]
    __meta_cache__: ClassVar[_Meta | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect is costly in wasm
        declares_pk = any(
            isinstance(v, dataclasses.Field) and _options(v).primary_key
            for v in cls.__dict__.values()
        )
        inherited = any(
            dataclasses.is_dataclass(base) and issubclass(base, Model) for base in cls.__mro__[1:]
        )
        if not declares_pk and not inherited and "id" not in own:
            cls.__annotations__ = {"id": nat64, **own}
            cls.id = 0  # type: ignore[attr-defined]
        dataclasses.dataclass(kw_only=True)(cls)
        cls.objects = Manager(cls)
        cls.__meta_cache__ = None

    @classmethod
    def _meta(cls) -> _Meta:
        meta = cls.__dict__.get("__meta_cache__")
        if meta is None:
            meta = _Meta(cls)
            cls.__meta_cache__ = meta
        return meta

    @property
    def pk(self) -> Any:
        return getattr(self, self._meta().pk)

    def save(self) -> None:
        """Insert or update this row and its index entries.

        Raises `IntegrityError` when a ``unique`` field's value belongs to another row.
        """
        meta = self._meta()
        kv = _backend.current_backend()
        if meta.auto and not self.pk:
            raw = kv.kv_get(meta.next_id_key)
            new_id = 1 if raw is None else int.from_bytes(raw, "big")
            kv.kv_put(meta.next_id_key, (new_id + 1).to_bytes(8, "big"))
            object.__setattr__(self, "id", new_id)
        pk_bytes = meta.pk_codec.encode(self.pk)
        row_key = meta.rows + pk_bytes
        old_raw = kv.kv_get(row_key)
        old = meta.codec.load(old_raw) if old_raw is not None and meta.indexes else None
        for name in meta.indexes:
            value = getattr(self, name)
            if name in meta.unique:
                prefix = meta.index_prefix(name, value)
                for _, other in kv.kv_scan(prefix, _after(prefix), False, 2):
                    if other != pk_bytes:
                        raise IntegrityError(
                            f"{type(self).__name__}.{name} must be unique; {value!r} is taken"
                        )
            if old is not None:
                old_value = getattr(old, name)
                if old_value == value:
                    continue
                kv.kv_delete(meta.index_prefix(name, old_value) + pk_bytes)
            kv.kv_put(meta.index_prefix(name, value) + pk_bytes, pk_bytes)
        kv.kv_put(row_key, meta.codec.dump(self))
        if old_raw is None:
            _add_count(meta, 1)

    def delete(self) -> None:
        """Delete this row and its index entries (no error if it is not stored)."""
        meta = self._meta()
        kv = _backend.current_backend()
        pk_bytes = meta.pk_codec.encode(self.pk)
        old_raw = kv.kv_get(meta.rows + pk_bytes)
        if old_raw is None:
            return
        old = meta.codec.load(old_raw)
        for name in meta.indexes:
            kv.kv_delete(meta.index_prefix(name, getattr(old, name)) + pk_bytes)
        kv.kv_delete(meta.rows + pk_bytes)
        _add_count(meta, -1)


def _add_count(meta: _Meta, delta: int) -> None:
    kv = _backend.current_backend()
    raw = kv.kv_get(meta.count_key)
    n = (0 if raw is None else int.from_bytes(raw, "big")) + delta
    kv.kv_put(meta.count_key, n.to_bytes(8, "big"))


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """One page of results and the cursor of the next page (None on the last page)."""

    items: list[M]
    next_cursor: str | None


_LOOKUPS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": lambda a, b: a == b,
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "contains": lambda a, b: a is not None and b in a,
}


class QuerySet(Generic[M]):
    """A lazy query: ``filter(field=value, price__gte=10)``, ``order_by("-price")``."""

    def __init__(
        self,
        model: type[M],
        filters: tuple[tuple[str, str, Any], ...] = (),
        ordering: tuple[str, ...] | None = None,
    ) -> None:
        self.model = model
        self._filters = filters
        self._ordering = ordering

    # ---- building --------------------------------------------------------------------------
    def filter(self, **lookups: Any) -> QuerySet[M]:
        meta = self.model._meta()
        added = []
        for key, value in lookups.items():
            name, _, op = key.partition("__")
            if name == "pk":
                name = meta.pk
            op = op or "exact"
            if name not in meta.fields:
                raise ModelError(
                    f"{self.model.__name__} has no field {name!r} "
                    f"(fields: {', '.join(meta.fields)})"
                )
            if op not in _LOOKUPS:
                raise ModelError(f"unknown lookup {op!r}; use one of {', '.join(_LOOKUPS)}")
            added.append((name, op, value))
        return QuerySet(self.model, self._filters + tuple(added), self._ordering)

    def order_by(self, *fields: str) -> QuerySet[M]:
        meta = self.model._meta()
        for f in fields:
            name = f.removeprefix("-")
            if name != "pk" and name not in meta.fields:
                raise ModelError(f"cannot order {self.model.__name__} by unknown field {name!r}")
        return QuerySet(self.model, self._filters, tuple(fields))

    def all(self) -> QuerySet[M]:
        return self

    # ---- planning ----------------------------------------------------------------------------
    def _order(self) -> tuple[str, ...]:
        meta = self.model._meta()
        order = self._ordering if self._ordering is not None else meta.ordering
        return tuple(("-" if f.startswith("-") else "") + (meta.pk if f.lstrip("-") == "pk"
                                                           else f.lstrip("-")) for f in order)

    def _streamed(self) -> tuple[bytes, bytes, bool, bool] | None:
        """``(lo, hi, reverse, via_index)`` when the results come in order from one scan."""
        meta = self.model._meta()
        order = self._order()
        eq = {n: v for n, op, v in self._filters if op == "exact"}
        field, reverse = (order[0].lstrip("-"), order[0].startswith("-")) if order else (
            meta.pk, False)
        if meta.pk in eq:  # one row at most: its own key
            key = meta.rows + meta.pk_codec.encode(eq[meta.pk])
            return key, key + b"\x00", reverse, False
        if len(order) > 1:
            return None
        if field == meta.pk:
            for name in eq:
                if name in meta.indexes:
                    prefix = meta.index_prefix(name, eq[name])
                    return prefix, _after(prefix), reverse, True
            return meta.rows, meta.rows_end, reverse, False
        if field in meta.indexes and set(n for n, _, _ in self._filters) <= {field}:
            prefix = meta.index_prefix(field, eq[field]) if field in eq else meta.index_prefix(
                field)
            return prefix, _after(prefix), reverse, True
        return None

    def _matches(self, obj: Any) -> bool:
        return all(_LOOKUPS[op](getattr(obj, name), value) for name, op, value in self._filters)

    def _stream(self, lo: bytes, hi: bytes, reverse: bool, via_index: bool,
                ) -> Iterator[tuple[bytes, M]]:
        meta = self.model._meta()
        kv = _backend.current_backend()
        load = meta.codec.load
        for key, value in scan_range(lo, hi, reverse):
            if via_index:
                raw = kv.kv_get(meta.rows + value)
                if raw is None:
                    continue
                obj = load(raw)
            else:
                obj = load(value)
            if self._matches(obj):
                yield key, obj

    def _sorted(self) -> list[M]:
        plan = QuerySet(self.model, self._filters, ())._streamed()
        assert plan is not None
        rows = [obj for _, obj in self._stream(*plan)]
        for f in reversed(self._order()):
            name = f.lstrip("-")
            rows.sort(key=_attribute_key(name), reverse=f.startswith("-"))
        return rows

    def _get_pk(self, pk: Any) -> M | None:
        meta = self.model._meta()
        raw = _backend.current_backend().kv_get(meta.rows + meta.pk_codec.encode(pk))
        if raw is None:
            return None
        obj: M = meta.codec.load(raw)
        return obj

    # ---- evaluation ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[M]:
        pk = self.model._meta().pk
        for name, op, value in self._filters:
            if name == pk and op == "exact":  # a point read (cached), not a scan
                found = self._get_pk(value)
                if found is not None and self._matches(found):
                    yield found
                return
        plan = self._streamed()
        if plan is None:
            yield from self._sorted()
        else:
            for _, obj in self._stream(*plan):
                yield obj

    def list(self) -> list[M]:
        return list(self)

    def first(self) -> M | None:
        return next(iter(self), None)

    def exists(self) -> bool:
        return self.first() is not None

    def count(self) -> int:
        if not self._filters:
            raw = _backend.current_backend().kv_get(self.model._meta().count_key)
            return 0 if raw is None else int.from_bytes(raw, "big")
        return sum(1 for _ in self)

    def get(self, **lookups: Any) -> M:
        qs = self.filter(**lookups) if lookups else self
        found = []
        for obj in qs:
            found.append(obj)
            if len(found) > 1:
                raise MultipleObjectsReturned(
                    f"{self.model.__name__}.objects.get() matched more than one row"
                )
        if not found:
            raise DoesNotExist(f"{self.model.__name__} matching {lookups} does not exist")
        return found[0]

    def delete(self) -> int:
        """Delete every matching row; returns how many."""
        rows = list(self)
        for obj in rows:
            obj.delete()
        return len(rows)

    def paginate(self, cursor: str | None = None, limit: int = 20) -> Page[M]:
        """At most ``limit`` rows after ``cursor`` (None: from the start) and the next cursor."""
        if limit <= 0:
            raise ModelError(f"page limit must be positive, got {limit}")
        plan = self._streamed()
        if plan is None:
            offset = _parse_offset(cursor)
            rows = self._sorted()
            items = rows[offset : offset + limit]
            more = offset + limit < len(rows)
            return Page(items, f"o{offset + limit}" if more else None)
        lo, hi, reverse, via_index = plan
        if cursor is not None:
            last = _parse_key(cursor)
            if not lo <= last < hi:
                raise ModelError("this cursor belongs to another query")
            if reverse:
                hi = last
            else:
                lo = last + b"\x00"
        out: list[tuple[bytes, M]] = []
        for entry in self._stream(lo, hi, reverse, via_index):
            out.append(entry)
            if len(out) > limit:
                break
        items = [obj for _, obj in out[:limit]]
        return Page(items, "k" + out[limit - 1][0].hex() if len(out) > limit else None)


def _attribute_key(name: str) -> Callable[[Any], tuple[bool, Any]]:
    """Sort key of one field, with None first."""

    def key(obj: Any) -> tuple[bool, Any]:
        value = getattr(obj, name)
        return (value is not None, value)

    return key


def _parse_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    if cursor.startswith("o") and cursor[1:].isdigit():
        return int(cursor[1:])
    raise ModelError(f"invalid page cursor {cursor!r}")


def _parse_key(cursor: str) -> bytes:
    try:
        if cursor.startswith("k"):
            return bytes.fromhex(cursor[1:])
    except ValueError:
        pass
    raise ModelError(f"invalid page cursor {cursor!r}")


class Manager(Generic[M]):
    """``Model.objects``: the entry point of queries."""

    def __init__(self, model: type[M]) -> None:
        self.model = model

    def create(self, **values: Any) -> M:
        obj = self.model(**values)
        obj.save()
        return obj

    def all(self) -> QuerySet[M]:
        return QuerySet(self.model)

    def filter(self, **lookups: Any) -> QuerySet[M]:
        return QuerySet(self.model).filter(**lookups)

    def order_by(self, *fields: str) -> QuerySet[M]:
        return QuerySet(self.model).order_by(*fields)

    def get(self, **lookups: Any) -> M:
        if len(lookups) == 1:
            ((name, value),) = lookups.items()
            if name in ("pk", self.model._meta().pk):
                found = QuerySet(self.model)._get_pk(value)
                if found is None:
                    raise DoesNotExist(
                        f"{self.model.__name__} with {name}={value!r} does not exist"
                    )
                return found
        return QuerySet(self.model).get(**lookups)

    def count(self) -> int:
        return QuerySet(self.model).count()

    def paginate(self, cursor: str | None = None, limit: int = 20) -> Page[M]:
        return QuerySet(self.model).paginate(cursor, limit)
