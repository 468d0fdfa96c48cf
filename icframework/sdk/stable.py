"""Durable structures over the backend's key-value store: maps, vectors, cells.

Each structure owns a namespace, ``b"S" + name + b"\\x00"``, inside the canister's one
ordered key-value store: its length (8 bytes, big-endian) lives at ``ns + 00`` and its
entries under ``ns + 01 + key``. Keys use the order-preserving encoding of
`icframework.sdk.keys`, so iteration and ranges are scans of the store in key order.
Values are whole Candid messages of the value type: a later version of the code can
read old values at a wider type (e.g. a dataclass that gained an ``Optional`` field).
Names starting with ``__`` are reserved for the SDK (timers, models).

Reads go to the backend (which keeps the committed values it has seen, see
`icframework.sdk.runtime_backend`); the one thing a structure keeps is a `StableCell`'s
last value of an immutable scalar type, valid while the backend's `generation` says
nothing was written or rolled back since, so rolled-back messages and upgrades never
see stale values.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from icframework.candid import decoder, encoder
from icframework.sdk import backend as _backend
from icframework.sdk.errors import StorageError
from icframework.sdk.fastcodec import fixed_width, memo_type
from icframework.sdk.keys import KeyCodec, key_codec
from icframework.sdk.types import Converter, storage_mapper

__all__ = ["StableBTreeMap", "StableCell", "StableVec", "ValueCodec"]

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

_PAGE = 64
_LEN_BYTES = 8


class ValueCodec:
    """Candid encoding of one value type: ``dump(value) -> bytes``, ``load(bytes) -> value``."""

    __slots__ = ("dump", "from_wire", "hint", "load", "to_wire", "types")

    def __init__(self, hint: Any) -> None:
        info = storage_mapper().info(hint)
        self.hint = hint
        self.types = (info.candid,)
        self.to_wire: Converter | None = info.to_wire
        self.from_wire: Converter | None = info.from_wire
        # ``dump(value) -> bytes`` and ``load(bytes) -> value`` compile themselves on
        # first use (`candid.encoder`/`decoder`: the same results and errors as
        # `encode`/`decode`, less work per value); the types may name records defined
        # later in the module.
        self.dump: Callable[[Any], bytes] = self._first_dump
        self.load: Callable[[bytes], Any] = self._first_load

    def fixed_writer(self) -> tuple[Callable[[bytes, Any], bytes], bytes, type] | None:
        """``(pack, header, kind)`` when a value is one fixed-width number stored as is:
        for a value of exactly type ``kind``, ``pack(header, value)`` is its encoding
        (or raises ``struct.error``/``OverflowError`` out of range: the codec then
        reports it). See `icframework.sdk.fastcodec`."""
        fixed = fixed_width(self.types) if self.to_wire is None else None
        if fixed is None:
            return None
        codes, header, kind = fixed
        return struct.Struct(f"<{len(header)}s{codes}").pack, header, kind

    def _first_dump(self, value: Any) -> bytes:
        encode_values = encoder(self.types)
        conv = self.to_wire
        fixed = self.fixed_writer()
        if fixed is not None:
            # One fixed-width number: one pack.
            pack, header, kind = fixed

            def dump(value: Any) -> bytes:
                if type(value) is kind:
                    try:
                        return pack(header, value)
                    except (struct.error, OverflowError):
                        pass
                return encode_values((value,))
        elif conv is None:
            def dump(value: Any) -> bytes:
                return encode_values((value,))
        else:
            def dump(value: Any) -> bytes:
                return encode_values((conv(value),))
        self.dump = dump
        return dump(value)

    def _first_load(self, data: bytes) -> Any:
        decode_values = decoder(self.types)
        conv = self.from_wire
        fixed = fixed_width(self.types) if conv is None else None
        if fixed is not None:
            codes, header, _kind = fixed
            unpack = struct.Struct(f"<{len(header)}s{codes}").unpack

            def load(data: bytes) -> Any:
                try:
                    head, value = unpack(data)
                except (struct.error, TypeError):
                    head = None
                if head == header:
                    return value
                return decode_values(data)[0]
        elif conv is None:
            def load(data: bytes) -> Any:
                return decode_values(data)[0]
        else:
            def load(data: bytes) -> Any:
                return conv(decode_values(data)[0])
        self.load = load
        return load(data)

    def memo_type(self) -> type | None:
        """The Python type of values of this codec that may be handed out twice (see
        `StableCell`), or None."""
        if self.to_wire is not None or self.from_wire is not None:
            return None
        return memo_type(self.types[0])


def namespace(name: str) -> bytes:
    """The key prefix of the structure called ``name``; raises `StorageError` if invalid."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise StorageError(f"a stable structure needs a non-empty name without NUL, got {name!r}")
    return b"S" + name.encode("utf-8") + b"\x00"


def scan_range(
    lo: bytes, hi: bytes | None, reverse: bool = False, limit: int = 0
) -> Iterator[tuple[bytes, bytes]]:
    """Entries with ``lo <= key < hi`` in order, fetched from the backend in pages."""
    kv = _backend.current_backend()
    remaining = limit
    while True:
        size = _PAGE if remaining <= 0 else min(_PAGE, remaining)
        page = kv.kv_scan(lo, hi, reverse, size)
        yield from page
        if len(page) < size:
            return
        if remaining > 0:
            remaining -= len(page)
            if remaining == 0:
                return
        if reverse:
            hi = page[-1][0]
        else:
            lo = page[-1][0] + b"\x00"


def _read_len(key: bytes) -> int:
    raw = _backend.current_backend().kv_get(key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def _write_len(key: bytes, n: int) -> None:
    _backend.current_backend().kv_put(key, n.to_bytes(_LEN_BYTES, "big"))


class _Parametrized:
    """``StableBTreeMap[str, int]``: remembers the type arguments for the constructor."""

    __slots__ = ("args", "cls")

    def __init__(self, cls: type, args: tuple[Any, ...]) -> None:
        self.cls = cls
        self.args = args

    def __call__(self, name: str, **kwargs: Any) -> Any:
        return self.cls(name, *self.args, **kwargs)

    def __repr__(self) -> str:
        return f"{self.cls.__name__}[{', '.join(map(repr, self.args))}]"


_MISSING: Any = object()


class StableBTreeMap(Generic[K, V]):
    """A durable sorted map: ``StableBTreeMap[str, Listing]("listings")``.

    Keys: see `icframework.sdk.keys`; values: any hint with a Candid mapping. Supports
    ``m[k]``, ``m[k] = v``, ``del m[k]``, ``k in m``, ``len(m)``, iteration over keys in
    order, and `get`, `insert`, `remove`, `items`, `keys`, `values`, `range`.
    """

    def __class_getitem__(cls, args: Any) -> Any:
        if not isinstance(args, tuple) or len(args) != 2:
            raise StorageError("write StableBTreeMap[KeyType, ValueType]")
        return _Parametrized(cls, args)

    def __init__(self, name: str, key: Any = None, value: Any = None) -> None:
        if key is None or value is None:
            raise StorageError(
                f"StableBTreeMap {name!r} needs its types: StableBTreeMap[K, V]({name!r})"
            )
        ns = namespace(name)
        self.name = name
        self._keys: KeyCodec = key_codec(key)
        self._values = ValueCodec(value)
        self._len_key = ns + b"\x00"
        self._lo = ns + b"\x01"
        self._hi = ns + b"\x02"
        self._key: Callable[[Any], bytes] = self._keys.prefixed(self._lo)
        # The length as last read or written, with the backend's generation then (see
        # `StableCell`): an insert of a new key need not read it again.
        self._length = 0
        self._length_generation: Any = _NO_GENERATION

    def __repr__(self) -> str:
        return f"StableBTreeMap[{self._keys.hint!r}, {self._values.hint!r}]({self.name!r})"

    def _len(self, kv: Any) -> int:
        if kv.generation == self._length_generation:
            return self._length
        raw = kv.kv_get(self._len_key)
        n = 0 if raw is None else int.from_bytes(raw, "big")
        self._length = n
        self._length_generation = kv.generation
        return n

    def _set_len(self, kv: Any, n: int) -> None:
        kv.kv_put(self._len_key, n.to_bytes(_LEN_BYTES, "big"))
        self._length = n
        self._length_generation = kv.generation

    # ---- single keys --------------------------------------------------------------------
    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: T) -> V | T: ...
    def get(self, key: K, default: Any = None) -> Any:
        """The value at ``key``, or ``default``."""
        raw = (_backend.installed or _backend.current_backend()).kv_get(self._key(key))
        return default if raw is None else self._values.load(raw)

    def __getitem__(self, key: K) -> V:
        raw = (_backend.installed or _backend.current_backend()).kv_get(self._key(key))
        if raw is None:
            raise KeyError(key)
        value: V = self._values.load(raw)
        return value

    def __contains__(self, key: object) -> bool:
        return _backend.current_backend().kv_get(self._key(key)) is not None

    def insert(self, key: K, value: V) -> None:
        """Store ``value`` at ``key`` (replacing any value there)."""
        kv = _backend.installed or _backend.current_backend()
        k = self._key(key)
        data = self._values.dump(value)
        if kv.kv_get(k) is None:
            n = self._len(kv) + 1
            kv.kv_put(k, data)
            self._set_len(kv, n)
        else:
            kv.kv_put(k, data)

    __setitem__ = insert

    def remove(self, key: K) -> V | None:
        """Delete ``key``; returns its value, or None if it was absent."""
        kv = _backend.current_backend()
        k = self._key(key)
        raw = kv.kv_get(k)
        if raw is None:
            return None
        n = self._len(kv) - 1
        kv.kv_delete(k)
        self._set_len(kv, n)
        value: V = self._values.load(raw)
        return value

    def __delitem__(self, key: K) -> None:
        kv = _backend.current_backend()
        k = self._key(key)
        if kv.kv_get(k) is None:
            raise KeyError(key)
        n = self._len(kv) - 1
        kv.kv_delete(k)
        self._set_len(kv, n)

    def __len__(self) -> int:
        return self._len(_backend.installed or _backend.current_backend())

    def is_empty(self) -> bool:
        return len(self) == 0

    # ---- ordered access ---------------------------------------------------------------------
    def _bounds(self, start: Any, end: Any) -> tuple[bytes, bytes]:
        lo = self._lo if start is None else self._key(start)
        hi = self._hi if end is None else self._key(end)
        return lo, hi

    def range(
        self, start: K | None = None, end: K | None = None, *, reverse: bool = False,
        limit: int = 0,
    ) -> Iterator[tuple[K, V]]:
        """``(key, value)`` pairs with ``start <= key < end`` (None: unbounded), in key
        order or reversed, at most ``limit`` of them when ``limit > 0``."""
        lo, hi = self._bounds(start, end)
        skip = len(self._lo)
        decode_key = self._keys.decode
        load = self._values.load
        for k, v in scan_range(lo, hi, reverse, limit):
            yield decode_key(k[skip:]), load(v)

    def items(self, *, reverse: bool = False) -> Iterator[tuple[K, V]]:
        """Every ``(key, value)`` pair in key order."""
        return self.range(reverse=reverse)

    def keys(self, *, reverse: bool = False) -> Iterator[K]:
        skip = len(self._lo)
        decode_key = self._keys.decode
        for k, _ in scan_range(self._lo, self._hi, reverse):
            yield decode_key(k[skip:])

    def values(self, *, reverse: bool = False) -> Iterator[V]:
        load = self._values.load
        for _, v in scan_range(self._lo, self._hi, reverse):
            yield load(v)

    def __iter__(self) -> Iterator[K]:
        return self.keys()

    def first(self) -> tuple[K, V] | None:
        """The entry with the smallest key, or None when empty."""
        return next(self.range(limit=1), None)

    def last(self) -> tuple[K, V] | None:
        """The entry with the largest key, or None when empty."""
        return next(self.range(reverse=True, limit=1), None)

    def clear(self) -> None:
        """Remove every entry."""
        kv = _backend.current_backend()
        for k, _ in list(scan_range(self._lo, self._hi)):
            kv.kv_delete(k)
        kv.kv_delete(self._len_key)


class StableVec(Generic[T]):
    """A durable list: ``StableVec[Event]("log")`` with push/pop/index/iteration."""

    def __class_getitem__(cls, args: Any) -> Any:
        return _Parametrized(cls, (args,))

    def __init__(self, name: str, item: Any = None) -> None:
        if item is None:
            raise StorageError(f"StableVec {name!r} needs its type: StableVec[T]({name!r})")
        ns = namespace(name)
        self.name = name
        self._values = ValueCodec(item)
        self._len_key = ns + b"\x00"
        self._lo = ns + b"\x01"
        self._hi = ns + b"\x02"

    def __len__(self) -> int:
        return _read_len(self._len_key)

    def _index(self, index: int, n: int) -> bytes:
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"StableVec {self.name!r} index {index} out of range (len {n})")
        return self._lo + i.to_bytes(_LEN_BYTES, "big")

    def push(self, value: T) -> int:
        """Append ``value``; returns its index."""
        n = _read_len(self._len_key)
        kv = _backend.current_backend()
        kv.kv_put(self._lo + n.to_bytes(_LEN_BYTES, "big"), self._values.dump(value))
        _write_len(self._len_key, n + 1)
        return n

    append = push

    def extend(self, values: Any) -> None:
        for v in values:
            self.push(v)

    def pop(self) -> T | None:
        """Remove and return the last element, or None when empty."""
        n = _read_len(self._len_key)
        if n == 0:
            return None
        kv = _backend.current_backend()
        key = self._lo + (n - 1).to_bytes(_LEN_BYTES, "big")
        raw = kv.kv_get(key)
        kv.kv_delete(key)
        _write_len(self._len_key, n - 1)
        assert raw is not None
        value: T = self._values.load(raw)
        return value

    def __getitem__(self, index: int) -> T:
        raw = _backend.current_backend().kv_get(self._index(index, len(self)))
        assert raw is not None
        value: T = self._values.load(raw)
        return value

    def get(self, index: int) -> T | None:
        """The element at ``index`` (negative counts from the end), or None if out of range."""
        try:
            return self[index]
        except IndexError:
            return None

    def __setitem__(self, index: int, value: T) -> None:
        key = self._index(index, len(self))
        _backend.current_backend().kv_put(key, self._values.dump(value))

    set = __setitem__

    def __iter__(self) -> Iterator[T]:
        load = self._values.load
        for _, v in scan_range(self._lo, self._hi):
            yield load(v)

    def clear(self) -> None:
        kv = _backend.current_backend()
        for k, _ in list(scan_range(self._lo, self._hi)):
            kv.kv_delete(k)
        kv.kv_delete(self._len_key)


class StableCell(Generic[T]):
    """One durable value: ``StableCell[int]("counter", default=0)``; `get` and `set`.

    While nothing is stored, `get` answers the default: a fresh copy of it for mutable
    types (records, lists), so changing the answer does not change the default.

    A cell of an immutable scalar type (integers, ``float64``, ``text``, ``bool``)
    remembers the value it last read or wrote, with the backend's `generation` at that
    moment: while the generation is unchanged (no write, no discarded message since)
    the stored value is that one, so `get` answers it without reading or decoding.
    """

    def __class_getitem__(cls, args: Any) -> Any:
        return _Parametrized(cls, (args,))

    def __init__(self, name: str, item: Any = None, *, default: Any = _MISSING) -> None:
        if item is None:
            raise StorageError(f"StableCell {name!r} needs its type: StableCell[T]({name!r})")
        self.name = name
        self._key = namespace(name) + b"\x01"
        self._values = ValueCodec(item)
        self._default = default
        self._default_raw: bytes | None = None
        self._memo_type = self._values.memo_type()
        self._memo: Any = None
        self._memo_generation: Any = _NO_GENERATION
        # One fixed-width number: `set` packs it itself (one struct call, no codec call).
        # (Not float32, which rounds: its value read back is not the one written.)
        fixed = self._values.fixed_writer() if self._memo_type is not None else None
        self._fixed_pack: Callable[[bytes, Any], bytes] | None = fixed[0] if fixed else None
        self._fixed_header = fixed[1] if fixed else b""
        self._fixed_kind: type | None = fixed[2] if fixed else None

    def get(self) -> T:
        """The stored value, or the default; raises `StorageError` if neither exists."""
        kv = _backend.installed or _backend.current_backend()
        if kv.generation == self._memo_generation:
            memo: T = self._memo
            return memo
        raw = kv.kv_get(self._key)
        if raw is None:
            if self._default is _MISSING:
                raise StorageError(f"StableCell {self.name!r} is empty and has no default")
            if self._memo_type is not None:  # immutable: the default itself
                default: T = self._default
                value = default
            else:
                # A fresh copy each time, as a stored value would be: changing what
                # `get` returned must not change the default.
                if self._default_raw is None:
                    self._default_raw = self._values.dump(self._default)
                value = self._values.load(self._default_raw)
        else:
            value = self._values.load(raw)
        if self._memo_type is not None:
            self._memo = value
            self._memo_generation = kv.generation
        return value

    def set(self, value: T) -> None:
        """Store ``value``."""
        kv = _backend.installed or _backend.current_backend()
        if type(value) is self._fixed_kind:
            try:
                raw = self._fixed_pack(self._fixed_header, value)  # type: ignore[misc]
            except (struct.error, OverflowError):
                raw = self._values.dump(value)  # out of range: the codec says so
            kv.kv_put(self._key, raw)
            self._memo = value
            self._memo_generation = kv.generation
            return
        kv.kv_put(self._key, self._values.dump(value))
        if type(value) is self._memo_type:
            self._memo = value
            self._memo_generation = kv.generation

    def is_set(self) -> bool:
        return _backend.current_backend().kv_get(self._key) is not None


_NO_GENERATION: Any = object()
