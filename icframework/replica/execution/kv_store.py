"""A Python canister's durable key-value store: ordered keys, one transaction at a time.

What it owns: a canister's committed entries, the open transaction's writes and the keys
changed since the last checkpoint. The sandbox opens a transaction per message and
commits it only if the message does not trap; the subnet takes the dirty keys at each
checkpoint (`take_dirty`) and restores a snapshot when an upgrade fails half way.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping

from sortedcontainers import SortedList  # type: ignore[import-untyped]

__all__ = ["KeyValueStore"]

class KeyValueStore:
    """A canister's ordered key-value data, with one open transaction at a time.

    Committed data is a dict plus the keys in a `sortedcontainers.SortedList` (a new key
    costs O(log n), where a plain sorted list moves every later key: about 150 µs a key
    at two million). `begin` opens a transaction whose
    writes (an overlay) are visible to reads and scans; `commit` applies them and
    records the keys as dirty for the next checkpoint, `rollback` drops them.
    """

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = dict(items or {})
        self._keys = SortedList(self._data)
        self._overlay: dict[bytes, bytes | None] | None = None
        self._dirty: set[bytes] = set()
        self._size = sum(len(k) + len(v) for k, v in self._data.items())

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Bytes of committed keys and values (what the canister is charged storage for)."""
        return self._size

    def keys(self) -> list[bytes]:
        """Committed keys in order."""
        return list(self._keys)

    def snapshot(self) -> tuple[dict[bytes, bytes], frozenset[bytes]]:
        """The committed state, for `restore` (an upgrade that fails half way)."""
        return dict(self._data), frozenset(self._dirty)

    def restore(self, snapshot: tuple[dict[bytes, bytes], frozenset[bytes]]) -> None:
        """Go back to a `snapshot`; keys changed since stay dirty so the checkpoint follows."""
        data, dirty = snapshot
        changed = self._dirty | set(dirty)
        self._overlay = None
        self._data = dict(data)
        self._keys = SortedList(self._data)
        self._size = sum(len(k) + len(v) for k, v in self._data.items())
        self._dirty = changed

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries in key order."""
        return ((key, self._data[key]) for key in self._keys)

    # -- transactions --

    def begin(self) -> None:
        """Open a transaction (a no-op if one is open)."""
        if self._overlay is None:
            self._overlay = {}

    def commit(self) -> int:
        """Apply the open transaction; returns the number of keys written."""
        overlay, self._overlay = self._overlay, None
        if not overlay:
            return 0
        for key, value in overlay.items():
            old = self._data.get(key)
            if old is not None:
                self._size -= len(key) + len(old)
            if value is None:
                if self._data.pop(key, None) is not None:
                    self._keys.remove(key)
            else:
                if key not in self._data:
                    self._keys.add(key)
                self._data[key] = value
                self._size += len(key) + len(value)
        self._dirty.update(overlay)
        return len(overlay)

    def rollback(self) -> None:
        """Drop the open transaction's writes."""
        self._overlay = None

    def take_dirty(self) -> dict[bytes, bytes | None]:
        """Keys changed since the last call (value, or None if deleted), for the checkpoint."""
        dirty = {key: self._data.get(key) for key in sorted(self._dirty)}
        self._dirty.clear()
        return dirty

    # -- access (inside or outside a transaction) --

    def get(self, key: bytes) -> bytes | None:
        overlay = self._overlay
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._data.get(key)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if self._overlay is None:
            raise RuntimeError("KeyValueStore: write outside a transaction; call begin() first")
        self._overlay[key] = value

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def scan(
        self, start: bytes, end: bytes | None, *, reverse: bool = False, limit: int = 0
    ) -> list[tuple[bytes, bytes]]:
        """Entries with ``start <= key < end`` (None: unbounded) in key order or reversed.

        At most ``limit`` entries (0: all); the open transaction's writes are included.
        """
        keys_in_order = self._keys
        lo = keys_in_order.bisect_left(start)
        hi = len(keys_in_order) if end is None else keys_in_order.bisect_left(end)
        committed: list[bytes] = keys_in_order[lo:hi]
        overlay = self._overlay or {}
        extra = sorted(
            key for key in overlay
            if key >= start and (end is None or key < end) and key not in self._data
        )
        keys: Iterator[bytes] | list[bytes] = (
            heapq.merge(committed, extra) if extra else committed
        )
        if reverse:
            keys = reversed(list(keys))
        rows: list[tuple[bytes, bytes]] = []
        for key in keys:
            value = overlay[key] if key in overlay else self._data[key]
            if value is None:
                continue
            rows.append((key, value))
            if len(rows) == limit:
                break
        return rows

