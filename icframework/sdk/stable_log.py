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
write, whatever the number of entries.

Overwritten and deleted values stay in the log until `compact` rewrites the live records
to the front of the log, in log order, and moves the end back; the space after the end is
reused by later commits (stable memory never shrinks: the IC cannot shrink it). Each
record moves to an offset no later than its old one, so copying in increasing offsets
never overwrites a byte not yet read, and one message does it all: a trap part-way (the
instruction limit) rolls stable memory back with the heap and leaves the old log. The
index keeps ``live_bytes`` (the records a compaction keeps) up to date at each commit
without reading stable memory, so ``dead_bytes`` tells an app when compaction is due;
`load` compacts by itself when the dead bytes are at least the live bytes in a log of at
least ``compact_min_bytes``, since it has just read the whole log anyway (after an
upgrade: the upgrade's instruction limit, 300 billion on the IC, is the budget).

``stable`` is any object with the ``_ic0`` stable-memory functions (``stable_size``,
``stable_grow``, ``stable_read``, ``stable_write``), so this module runs on the host in
tests too.
"""

from __future__ import annotations

import bisect
import struct
from operator import itemgetter
from typing import Any

__all__ = ["COMPACT_MIN_BYTES", "MAGIC", "PAGE_BYTES", "StableLog", "StableLogError"]

MAGIC = b"ICFKV001"
PAGE_BYTES = 65536
_HEADER = 16
_DELETE = 0xFFFF_FFFF
_RECORD = struct.Struct("<II")
_END = struct.Struct("<Q")
_READ_CHUNK = 4 * 1024 * 1024
_BY_OFFSET = itemgetter(1)

COMPACT_MIN_BYTES = 1024 * 1024
"""The log size in bytes below which `load` does not compact (a smaller log wastes little)."""


class StableLogError(Exception):
    """Stable memory does not hold this store's log, or cannot grow."""


class StableLog:
    """The committed store (`icframework.sdk.backend.KVSource`) plus `apply` for commits."""

    __slots__ = (
        "_keys", "_pages", "_stable", "_where", "compact_min_bytes", "end", "live_bytes",
        "loaded",
    )

    def __init__(self, stable: Any, *, compact_min_bytes: int = COMPACT_MIN_BYTES) -> None:
        self._stable = stable
        self._keys: list[bytes] = []
        self._where: dict[bytes, tuple[int, int]] = {}
        self._pages = 0  # stable memory's size as `load` found it and `_ensure` grew it
        self.compact_min_bytes = compact_min_bytes
        self.end = _HEADER
        self.live_bytes = 0  # bytes of the records holding current values
        self.loaded = False

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def dead_bytes(self) -> int:
        """Bytes of the log a compaction frees: overwritten values and delete records."""
        return self.end - _HEADER - self.live_bytes

    def compaction_due(self) -> bool:
        """Whether the log is at least ``compact_min_bytes`` long and at least half dead:
        `load` then compacts."""
        return (self.end - _HEADER >= self.compact_min_bytes
                and self.end - _HEADER >= 2 * self.live_bytes)

    def load(self) -> None:
        """Rebuild the index from the log in stable memory (empty memory: empty store),
        then `compact` when `compaction_due`."""
        stable = self._stable
        self._keys = []
        self._where = {}
        self.end = _HEADER
        self.live_bytes = 0
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
        self.live_bytes = sum(8 + len(key) + size for key, (_, size) in where.items())
        if self.compaction_due():
            self.compact()

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
        live = self.live_bytes
        where = self._where
        keys = self._keys
        for key, value in changes:
            if value is None:
                parts.append(_RECORD.pack(len(key), _DELETE))
                parts.append(key)
                at += 8 + len(key)
                old = where.pop(key, None)
                if old is not None:
                    del keys[bisect.bisect_left(keys, key)]
                    live -= 8 + len(key) + old[1]
            else:
                parts.append(_RECORD.pack(len(key), len(value)))
                parts.append(key)
                parts.append(value)
                offset = at + 8 + len(key)
                at = offset + len(value)
                old = where.get(key)
                if old is None:
                    bisect.insort(keys, key)
                    live += 8 + len(key) + len(value)
                else:
                    live += len(value) - old[1]
                where[key] = (offset, len(value))
        self._ensure(at)
        self._stable.stable_write(self.end, b"".join(parts))
        self._stable.stable_write(0, MAGIC + _END.pack(at))
        self.end = at
        self.live_bytes = live

    def compact(self) -> int:
        """Rewrite the live records to the front of the log in log order and move the end
        back to their total; return the bytes freed (`dead_bytes` before, 0 after).

        Live records are read in windows of 4 MiB (a gap of dead records wider than a
        window is skipped unread) and written back in batches of 4 MiB; a prefix already
        in place is neither read nor written. Cost: linear in the bytes moved plus the
        live entries (a sort by offset); see docs/ic-target.md for instructions per MiB.
        Stable memory keeps its size: later commits reuse the freed space.
        """
        freed = self.end - _HEADER - self.live_bytes
        if freed == 0:
            return 0
        stable = self._stable
        where = self._where
        old_end = self.end
        dest = _HEADER  # where the next live record goes
        written = _HEADER  # stable memory holds the new log up to here
        out: list[memoryview] = []
        view = memoryview(b"")
        base = 0
        for key, (offset, size) in sorted(where.items(), key=_BY_OFFSET):
            start = offset - 8 - len(key)
            length = offset + size - start
            if start == dest and not out:  # still in place: nothing to move
                dest = written = start + length
                continue
            if start + length > base + len(view):
                view, base = memoryview(_refill(stable, start, old_end, length)), start
            out.append(view[start - base:start - base + length])
            where[key] = (dest + 8 + len(key), size)
            dest += length
            if dest - written >= _READ_CHUNK:
                stable.stable_write(written, b"".join(out))
                out.clear()
                written = dest
        if out:
            stable.stable_write(written, b"".join(out))
        stable.stable_write(0, MAGIC + _END.pack(dest))
        self.end = dest
        return freed

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
