"""The IC target's key-value store in stable memory (`icframework.sdk.stable_log`), on the
host over a byte array with the ``_ic0`` stable-memory functions' semantics: it answers
like the SDK's sorted store, survives a reload (an upgrade), refuses foreign memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk.backend import SortedKV
from icframework.sdk.stable_log import MAGIC, PAGE_BYTES, StableLog, StableLogError


class StableMemory:
    """64 KiB pages of zeros that grow on request, read and written by offset (ic0's
    stable64_* semantics, without the trap on an out-of-range access: asserted)."""

    def __init__(self, max_pages: int = 1024) -> None:
        self.data = bytearray()
        self.max_pages = max_pages

    def stable_size(self) -> int:
        return len(self.data) // PAGE_BYTES

    def stable_grow(self, pages: int) -> int:
        previous = self.stable_size()
        if previous + pages > self.max_pages:
            return -1
        self.data.extend(bytes(pages * PAGE_BYTES))
        return previous

    def stable_read(self, offset: int, size: int) -> bytes:
        assert offset + size <= len(self.data), "read past the end of stable memory"
        return bytes(self.data[offset:offset + size])

    def stable_write(self, offset: int, data: bytes) -> None:
        assert offset + len(data) <= len(self.data), "write past the end of stable memory"
        self.data[offset:offset + len(data)] = data


def loaded(memory: StableMemory) -> StableLog:
    log = StableLog(memory)
    log.load()
    return log


def test_empty_memory_is_an_empty_store() -> None:
    memory = StableMemory()
    log = loaded(memory)
    assert len(log) == 0 and log.get(b"a") is None and log.scan(b"", None, False, 0) == []
    assert memory.stable_size() == 0  # nothing written until a commit


def test_writes_survive_a_reload_and_deletes_stay_deleted() -> None:
    memory = StableMemory()
    log = loaded(memory)
    log.apply([(b"a", b"1"), (b"b", b"2"), (b"c", b"")])
    log.apply([(b"a", None), (b"b", b"22")])
    assert memory.data[:8] == MAGIC
    again = loaded(memory)
    assert again.scan(b"", None, False, 0) == [(b"b", b"22"), (b"c", b"")]
    assert again.get(b"a") is None and again.end == log.end


def test_grows_stable_memory_and_reports_when_it_cannot() -> None:
    memory = StableMemory(max_pages=2)
    log = loaded(memory)
    log.apply([(b"big", bytes(PAGE_BYTES))])
    assert memory.stable_size() == 2
    with pytest.raises(StableLogError, match="cannot grow to 3 pages"):
        log.apply([(b"more", bytes(PAGE_BYTES))])


def test_refuses_stable_memory_written_by_another_program() -> None:
    memory = StableMemory()
    memory.stable_grow(1)
    memory.stable_write(0, b"not ours")
    with pytest.raises(StableLogError, match="written by another program"):
        loaded(memory)


def test_reload_reads_a_log_longer_than_one_read_chunk() -> None:
    memory = StableMemory(max_pages=4096)
    log = loaded(memory)
    value = bytes(range(256)) * 4096  # 1 MiB: records straddle the 4 MiB read chunks
    for i in range(10):
        log.apply([(b"k%d" % i, value)])
    again = loaded(memory)
    assert len(again) == 10 and again.get(b"k9") == value


keys = st.binary(max_size=4)
ops = st.lists(st.tuples(keys, st.none() | st.binary(max_size=6)), max_size=30)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(ops, max_size=6), start=keys, end=st.none() | keys,
       reverse=st.booleans(), limit=st.integers(0, 5))
def test_answers_like_the_sdk_sorted_store(
    batches: list[list[tuple[bytes, bytes | None]]], start: bytes, end: bytes | None,
    reverse: bool, limit: int,
) -> None:
    memory = StableMemory()
    log = loaded(memory)
    reference = SortedKV()
    for batch in batches:
        changes = dict(batch)
        log.apply(sorted(changes.items()))
        for key, value in changes.items():
            if value is None:
                reference.delete(key)
            else:
                reference.put(key, value)
    for store in (log, loaded(memory)):
        assert store.scan(start, end, reverse, limit) == reference.scan(start, end, reverse, limit)
        assert [store.get(k) for k, _ in reference.scan(b"", None, False, 0)] == [
            v for _, v in reference.scan(b"", None, False, 0)
        ]
