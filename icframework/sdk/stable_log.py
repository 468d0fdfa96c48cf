"""A transactional-at-commit ordered key-value store kept in stable memory (the IC target).

How it works: stable memory holds a header (``ICFKV001`` and the end of the log, a
little-endian u64) and, from byte 16, a log of records: ``u32 key length``, ``u32 value
length`` (``0xFFFFFFFF`` for a delete), the key, the value. A commit appends the
message's writes as one ``stable_write`` and then moves the end in the header, so a
message that traps leaves both as they were (the IC rolls stable memory back with it).
The heap keeps an index (the sorted keys and, per key, where its latest value lies) as
a cache: after an upgrade the heap starts from the module's image again and the index
is rebuilt by reading the log once (`load`), a cost linear in the log's size paid once
per upgrade; every operation after that costs one bisect and at most one stable read or
write, whatever the number of entries. Overwritten and deleted values stay in the log
until a compaction (not yet done: docs/ic-target.md).

``stable`` is any object with the ``_ic0`` stable-memory functions (``stable_size``,
``stable_grow``, ``stable_read``, ``stable_write``), so this module runs on the host in
tests too.
"""

from __future__ import annotations

import bisect
import struct
from typing import Any

__all__ = ["MAGIC", "PAGE_BYTES", "StableLog", "StableLogError"]

MAGIC = b"ICFKV001"
PAGE_BYTES = 65536
_HEADER = 16
_DELETE = 0xFFFF_FFFF
_RECORD = struct.Struct("<II")
_END = struct.Struct("<Q")
_READ_CHUNK = 4 * 1024 * 1024


class StableLogError(Exception):
    """Stable memory does not hold this store's log, or cannot grow."""


class StableLog:
    """The committed store (`icframework.sdk.backend.KVSource`) plus `apply` for commits."""

    __slots__ = ("_keys", "_pages", "_stable", "_where", "end", "loaded")

    def __init__(self, stable: Any) -> None:
        self._stable = stable
        self._keys: list[bytes] = []
        self._where: dict[bytes, tuple[int, int]] = {}
        self._pages = 0  # stable memory's size as `load` found it and `_ensure` grew it
        self.end = _HEADER
        self.loaded = False

    def __len__(self) -> int:
        return len(self._keys)

    def load(self) -> None:
        """Rebuild the index from the log in stable memory (empty memory: empty store)."""
        stable = self._stable
        self._keys = []
        self._where = {}
        self.end = _HEADER
        self.loaded = True
        self._pages = stable.stable_size()
        if self._pages == 0:
            return
        header = stable.stable_read(0, _HEADER)
        if header[:8] == bytes(8) and _END.unpack_from(header, 8)[0] == 0:
            return  # stable memory grown by someone else but never written by this store
        if header[:8] != MAGIC:
            raise StableLogError(
                f"stable memory starts with {header[:8]!r}, not this store's {MAGIC!r}: it "
                "was written by another program (reinstall the canister to start afresh)"
            )
        end = _END.unpack_from(header, 8)[0]
        where = self._where
        at = _HEADER
        buffer = b""
        base = at
        while at < end:
            if at + 8 > base + len(buffer):
                buffer, base = _refill(stable, at, end), at
            key_size, value_size = _RECORD.unpack_from(buffer, at - base)
            size = 8 + key_size + (0 if value_size == _DELETE else value_size)
            if at + size > base + len(buffer):
                buffer, base = _refill(stable, at, end, size), at
            start = at - base + 8
            key = buffer[start:start + key_size]
            if value_size == _DELETE:
                where.pop(key, None)
            else:
                where[key] = (at + 8 + key_size, value_size)
            at += size
        self.end = end
        self._keys = sorted(where)

    # ---- KVSource ------------------------------------------------------------------------
    def get(self, key: bytes) -> bytes | None:
        found = self._where.get(key)
        if found is None:
            return None
        offset, size = found
        return bytes(self._stable.stable_read(offset, size)) if size else b""

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        keys = self._keys
        lo = bisect.bisect_left(keys, start)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        if hi <= lo:
            return []
        if reverse:
            chosen = keys[max(lo, hi - limit) if limit > 0 else lo:hi][::-1]
        else:
            chosen = keys[lo:min(hi, lo + limit) if limit > 0 else hi]
        get = self.get
        return [(key, get(key) or b"") for key in chosen]

    # ---- commit ----------------------------------------------------------------------------
    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        """Append ``changes`` (sorted; None deletes) to the log and the index."""
        if not changes:
            return
        parts: list[bytes] = []
        at = self.end
        where = self._where
        keys = self._keys
        for key, value in changes:
            if value is None:
                parts.append(_RECORD.pack(len(key), _DELETE))
                parts.append(key)
                at += 8 + len(key)
                if where.pop(key, None) is not None:
                    del keys[bisect.bisect_left(keys, key)]
            else:
                parts.append(_RECORD.pack(len(key), len(value)))
                parts.append(key)
                parts.append(value)
                offset = at + 8 + len(key)
                at = offset + len(value)
                if key not in where:
                    bisect.insort(keys, key)
                where[key] = (offset, len(value))
        self._ensure(at)
        self._stable.stable_write(self.end, b"".join(parts))
        self._stable.stable_write(0, MAGIC + _END.pack(at))
        self.end = at

    def _ensure(self, size: int) -> None:
        have = self._pages
        if size <= have * PAGE_BYTES:
            return
        need = -(-size // PAGE_BYTES)
        if self._stable.stable_grow(need - have) < 0:
            raise StableLogError(
                f"stable memory cannot grow to {need} pages ({size} bytes) for this commit"
            )
        self._pages = need


def _refill(stable: Any, at: int, end: int, least: int = 0) -> bytes:
    size = min(end - at, max(_READ_CHUNK, least))
    return bytes(stable.stable_read(at, size))
