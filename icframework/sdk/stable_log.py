"""A transactional-at-commit ordered key-value store kept in stable memory (the IC target).

How it works: stable memory holds a header (``ICFKV001`` and the end of the log, a
little-endian u64) and, from byte 16, a log of records: ``u32 key length``, ``u32 value
length`` (``0xFFFFFFFF`` for a delete), the key, the value. A commit appends the
message's writes as one ``stable_write`` and then moves the end in the header, so a
message that traps leaves both as they were (the IC rolls stable memory back with it).
The heap keeps an index (the sorted keys and, per key in log order, where its latest
value lies) as a cache: after an upgrade the heap starts from the module's image again
and the index is rebuilt by reading the log once (`load`), a cost linear in the log's
size paid once per upgrade; every operation after that costs one bisect and at most one
stable read or write, whatever the number of entries.

Overwritten and deleted values stay in the log until `compact` rewrites the live records
to the front of the log, in log order, and moves the end back; the space after the end is
reused by later commits (stable memory never shrinks: the IC cannot shrink it). Each
record moves to an offset no later than its old one, so copying in increasing offsets
never overwrites a byte not yet read, and one message does it all: a trap part-way (the
instruction limit) rolls stable memory back with the heap and leaves the old log. The
index keeps ``live_bytes`` (the records a compaction keeps) up to date at each commit
without reading stable memory, so ``dead_bytes`` tells an app when compaction is due.
`load` compacts by itself when the dead bytes are at least the live bytes in a log of at
least ``compact_min_bytes``, since it has just read the whole log anyway (it runs in
``canister_post_upgrade``, whose limit is the IC's 300 billion instructions), unless the
message's instructions so far plus the estimate of `compaction_instructions` pass
``compact_budget``; an app that compacts in an update (40 billion on the IC, 5 billion
without deterministic time slicing) can compare the same estimate with its own budget.

``stable`` is any object with the ``_ic0`` stable-memory functions (``stable_size``,
``stable_grow``, ``stable_read``, ``stable_write``, and ``performance_counter`` and
``log_append`` if it has them), so this module runs on the host in tests too.
"""

from __future__ import annotations

import bisect
import struct
from typing import Any

__all__ = [
    "COMPACT_BUDGET", "COMPACT_MIN_BYTES", "MAGIC", "PAGE_BYTES", "StableLog", "StableLogError",
]

MAGIC = b"ICFKV001"
PAGE_BYTES = 65536
_HEADER = 16
_DELETE = 0xFFFF_FFFF
_RECORD = struct.Struct("<II")
_END = struct.Struct("<Q")
_READ_CHUNK = 4 * 1024 * 1024

COMPACT_MIN_BYTES = 1024 * 1024
"""The log size in bytes below which `load` does not compact (a smaller log wastes little)."""
COMPACT_BUDGET = 150_000_000_000
"""The message's instructions (reading the log included) a compaction in `load` must be
estimated to end within: half the IC's limit for an upgrade, the rest left to the app's
``post_upgrade`` hook."""
# Instructions of `compact`: once, per live entry and per byte moved, measured on our
# replica (docs/ic-target.md: ~80,000, ~4,500 and ~2.5) and rounded up; per byte with
# room for the IC's own charge per byte of a stable read and write, which ours does not make.
_COMPACT_FIXED = 200_000
_COMPACT_PER_ENTRY = 5_000
_COMPACT_PER_BYTE = 5


class StableLogError(Exception):
    """Stable memory does not hold this store's log, or cannot grow."""


class StableLog:
    """The committed store (`icframework.sdk.backend.KVSource`) plus `apply` for commits."""

    __slots__ = (
        "_append", "_keys", "_pages", "_stable", "_where", "compact_budget", "compact_min_bytes",
        "end", "live_bytes", "loaded",
    )

    def __init__(self, stable: Any, *, compact_min_bytes: int = COMPACT_MIN_BYTES,
                 compact_budget: int = COMPACT_BUDGET) -> None:
        self._stable = stable
        # ``_ic0.log_append(at, key, value, magic)``: one put's record and the header in one
        # crossing (`put`); without it (host tests) the same bytes in two stable writes.
        self._append: Any = getattr(stable, "log_append", None)
        self._keys: list[bytes] = []
        self._where: dict[bytes, tuple[int, int]] = {}
        self._pages = 0  # stable memory's size as `load` found it and `_grow` grew it
        self.compact_min_bytes = compact_min_bytes
        self.compact_budget = compact_budget
        self.end = _HEADER
        self.live_bytes = 0  # bytes of the records holding current values
        self.loaded = False

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def dead_bytes(self) -> int:
        """Bytes of the log a compaction frees: overwritten values and delete records."""
        return self.end - _HEADER - self.live_bytes

    def compaction_instructions(self) -> int:
        """An upper estimate of the instructions `compact` takes now (from its measured
        cost once, per live entry and per byte moved)."""
        return (_COMPACT_FIXED + len(self._where) * _COMPACT_PER_ENTRY
                + self.live_bytes * _COMPACT_PER_BYTE)

    def compaction_due(self) -> bool:
        """Whether `load` compacts: the log is at least ``compact_min_bytes`` long, at
        least half dead, and the message's instructions so far (``performance_counter``)
        plus `compaction_instructions` are within ``compact_budget``."""
        size = self.end - _HEADER
        if size < self.compact_min_bytes or size < 2 * self.live_bytes:
            return False
        counter = getattr(self._stable, "performance_counter", None)
        spent = int(counter(0)) if counter is not None else 0
        return spent + self.compaction_instructions() <= self.compact_budget

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
            where.pop(key, None)  # re-inserted last: the index's order stays the log's
            if value_size != _DELETE:
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
        return self._stable.stable_read(offset, size) if size else b""  # bytes already

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
    def put(self, key: bytes, value: bytes) -> None:
        """Append one put: what `apply` does for ``[(key, value)]``, in fewer steps (the
        common commit: one `StableCell` or map write)."""
        start = self.end
        at = start + 8 + len(key)
        size = len(value)
        end = at + size
        if end > self._pages * PAGE_BYTES:
            self._grow(end)
        where = self._where
        old = where.pop(key, None)  # and re-inserted last: see `compact`
        if old is None:
            bisect.insort(self._keys, key)
            self.live_bytes += end - start
        else:
            self.live_bytes += size - old[1]
        where[key] = (at, size)
        append = self._append
        if append is not None:
            append(start, key, value, MAGIC)
        else:
            self._stable.stable_write(start, _RECORD.pack(len(key), size) + key + value)
            self._stable.stable_write(0, MAGIC + _END.pack(end))
        self.end = end

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        """Append ``changes`` (sorted; None deletes) to the log and the index."""
        if not changes:
            return
        if len(changes) == 1 and changes[0][1] is not None:
            self.put(changes[0][0], changes[0][1])
            return
        parts: list[bytes] = []
        at = self.end
        live = self.live_bytes
        where = self._where
        keys = self._keys
        for key, value in changes:
            # Few Python operations per change (each costs instructions in the canister):
            # lengths taken once, one extend, the growth check inline.
            key_size = len(key)
            at += 8 + key_size
            if value is None:
                parts += (_RECORD.pack(key_size, _DELETE), key)
                old = where.pop(key, None)
                if old is not None:
                    del keys[bisect.bisect_left(keys, key)]
                    live -= 8 + key_size + old[1]
            else:
                size = len(value)
                parts += (_RECORD.pack(key_size, size), key, value)
                old = where.pop(key, None)  # and re-inserted last: see `compact`
                if old is None:
                    bisect.insort(keys, key)
                    live += 8 + key_size + size
                else:
                    live += size - old[1]
                where[key] = (at, size)
                at += size
        if at > self._pages * PAGE_BYTES:
            self._grow(at)
        self._stable.stable_write(self.end, b"".join(parts))
        self._stable.stable_write(0, MAGIC + _END.pack(at))
        self.end = at
        self.live_bytes = live

    def compact(self) -> int:
        """Rewrite the live records to the front of the log in log order and move the end
        back to their total; return the bytes freed (`dead_bytes` before, 0 after).

        The index lists its keys in log order (a commit and `load` re-insert a key they
        write), so the live records are found without a sort: a first pass gives each
        key its new offset and gathers the stretches of adjacent live records; a second
        copies the stretches, reading the old log in windows of 4 MiB (dead gaps wider
        than a window are skipped unread) and writing the new one in batches of 4 MiB.
        A leading stretch already in place is neither read nor written. Cost: linear in
        the live entries and the bytes moved (docs/ic-target.md gives instructions per
        entry and per MiB). Stable memory keeps its size: later commits reuse the space.
        """
        freed = self.end - _HEADER - self.live_bytes
        if freed == 0:
            return 0
        stretches: list[tuple[int, int]] = []  # (old start, old end) of adjacent live records
        first = last = _HEADER  # the stretch being gathered
        shift = 0  # its records' old offset minus their new one
        dest = _HEADER  # the new offset of `first`
        where = self._where
        for key, (offset, size) in where.items():
            start = offset - 8 - len(key)
            if start != last:
                stretches.append((first, last))
                dest += last - first
                first = start
                shift = start - dest
            where[key] = (offset - shift, size)  # an existing key: the dict keeps its size
            last = offset + size
        stretches.append((first, last))
        self._move(stretches)
        end = dest + last - first
        self._stable.stable_write(0, MAGIC + _END.pack(end))
        self.end = end
        return freed

    def _move(self, stretches: list[tuple[int, int]]) -> None:
        """Copy ``stretches`` of the old log one after the other from byte 16 on."""
        stable = self._stable
        old_end = self.end
        written = _HEADER  # the new log is in stable memory up to here
        if stretches[0][0] == _HEADER:  # in place already
            written = stretches[0][1]
            del stretches[0]
        out: list[memoryview] = []
        pending = 0
        view = memoryview(b"")
        base = 0
        for at, stop in stretches:
            while at < stop:
                if at >= base + len(view):
                    view, base = memoryview(_refill(stable, at, old_end)), at
                take = min(stop, base + len(view)) - at
                out.append(view[at - base:at - base + take])
                pending += take
                at += take
                if pending >= _READ_CHUNK:
                    stable.stable_write(written, b"".join(out))
                    written += pending
                    out.clear()
                    pending = 0
        if out:
            stable.stable_write(written, b"".join(out))

    def _grow(self, size: int) -> None:
        """Grow stable memory to hold ``size`` bytes (more than it holds now)."""
        have = self._pages
        need = -(-size // PAGE_BYTES)
        if self._stable.stable_grow(need - have) < 0:
            raise StableLogError(
                f"stable memory cannot grow to {need} pages ({size} bytes) for this commit"
            )
        self._pages = need


def _refill(stable: Any, at: int, end: int, least: int = 0) -> bytes:
    size = min(end - at, max(_READ_CHUNK, least))
    return bytes(stable.stable_read(at, size))
