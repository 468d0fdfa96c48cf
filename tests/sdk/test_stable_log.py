"""The IC target's key-value store in stable memory (`icframework.sdk.stable_log`), on the
host over a byte array with the ``_ic0`` stable-memory functions' semantics: it answers
like the SDK's sorted store, survives a reload (an upgrade), refuses foreign memory, keeps
its live and dead byte counts, and compacts (by itself on a reload when half dead) without
losing a value, also when a trap cuts a compaction short."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk.backend import SortedKV
from icframework.sdk.stable_log import (
    COMPACT_BUDGET,
    COMPACT_MIN_BYTES,
    MAGIC,
    PAGE_BYTES,
    StableLog,
    StableLogError,
)


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


class Trapped(Exception):
    """The instruction limit, say: the message ends part-way."""


class TrappingMemory(StableMemory):
    """Stable memory that traps at its ``trap_at``-th write and, like the IC, rolls back
    what a message wrote when it traps (`message`)."""

    def __init__(self, max_pages: int = 1024) -> None:
        super().__init__(max_pages)
        self.writes = 0
        self.trap_at: int | None = None
        self.written_before_trap = False

    def stable_write(self, offset: int, data: bytes) -> None:
        self.writes += 1
        if self.writes == self.trap_at:
            raise Trapped(f"trapped at write {self.writes}")
        super().stable_write(offset, data)

    def message(self, run: Callable[[], object]) -> bool:
        """Run ``run()`` as one message; False (and the memory as before) if it trapped.
        ``written_before_trap``: whether the message had changed the memory by then."""
        before = bytes(self.data)
        try:
            run()
        except Trapped:
            self.written_before_trap = self.data != before
            self.data = bytearray(before)
            return False
        return True


def loaded(memory: StableMemory, compact_min_bytes: int = COMPACT_MIN_BYTES,
           budget: int = COMPACT_BUDGET) -> StableLog:
    log = StableLog(memory, compact_min_bytes=compact_min_bytes, compact_budget=budget)
    log.load()
    return log


def contents(log: StableLog) -> dict[bytes, bytes]:
    return dict(log.scan(b"", None, False, 0))


def live_size(model: dict[bytes, bytes]) -> int:
    return sum(8 + len(key) + len(value) for key, value in model.items())


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


def test_live_and_dead_bytes_follow_each_commit_and_survive_a_reload() -> None:
    memory = StableMemory()
    log = loaded(memory)
    log.apply([(b"a", b"12345"), (b"bb", b"")])
    assert (log.live_bytes, log.dead_bytes) == (14 + 10, 0)
    log.apply([(b"a", b"1")])  # the old value's 14 bytes die, the new record lives
    assert (log.live_bytes, log.dead_bytes) == (10 + 10, 14)
    log.apply([(b"bb", None), (b"zz", None)])  # two delete records, both dead at once
    assert (log.live_bytes, log.dead_bytes) == (10, 14 + 10 + 10 + 10)
    again = loaded(memory)
    assert (again.live_bytes, again.dead_bytes) == (log.live_bytes, log.dead_bytes)


def test_compact_moves_live_records_to_the_front_and_later_commits_reuse_the_space() -> None:
    memory = StableMemory()
    log = loaded(memory)
    for round_ in range(20):
        log.apply([(b"counter", b"%08d" % round_), (b"k%d" % (round_ % 3), b"x" * round_)])
    log.apply([(b"k1", None)])
    model = contents(log)
    pages, dead = memory.stable_size(), log.dead_bytes
    assert log.compact() == dead
    assert (log.dead_bytes, log.end) == (0, 16 + live_size(model))
    assert contents(log) == model and contents(loaded(memory)) == model
    assert log.compact() == 0  # already compact: nothing read or written
    log.apply([(b"k9", b"new")])
    assert memory.stable_size() == pages  # never shrunk, and the append fit in freed space
    assert contents(loaded(memory)) == {**model, b"k9": b"new"}


def test_reload_compacts_a_log_at_least_half_dead_long_enough_and_within_budget() -> None:
    memory = StableMemory()
    log = loaded(memory)
    log.apply([(b"keep", b"k" * 100)])
    for round_ in range(3):
        log.apply([(b"hot", b"%050d" % round_)])
    # live: 112 + 61 bytes; dead: 2 * 61: under half dead, no compaction
    assert loaded(memory, compact_min_bytes=0).dead_bytes == 2 * 61
    log.apply([(b"hot", b"%050d" % 3), (b"gone", b"g" * 100)])
    log.apply([(b"gone", None)])
    end = log.end
    assert log.dead_bytes >= log.live_bytes
    assert loaded(memory, compact_min_bytes=end).end == end  # shorter than the minimum
    assert loaded(memory).end == end  # the default minimum: 1 MiB
    over_budget = loaded(memory, compact_min_bytes=end - 16, budget=0)
    assert over_budget.compaction_instructions() > 0 and over_budget.end == end
    again = loaded(memory, compact_min_bytes=end - 16)
    assert again.dead_bytes == 0 and again.end < end
    assert contents(again) == {b"keep": b"k" * 100, b"hot": b"%050d" % 3}
    assert contents(loaded(memory)) == contents(again)


class CountingMemory(StableMemory):
    """Stable memory beside ``ic0.performance_counter``: the message's instructions."""

    spent = 0

    def performance_counter(self, counter_type: int) -> int:
        assert counter_type == 0
        return self.spent


def test_reload_compacts_only_if_the_message_ends_it_within_the_budget() -> None:
    memory = CountingMemory()
    log = loaded(memory)
    for round_ in range(10):
        log.apply([(b"hot", b"%090d" % round_)])
    end = log.end
    estimate = log.compaction_instructions()
    memory.spent = 1000  # what the message used before the compaction, reading included
    assert loaded(memory, compact_min_bytes=0, budget=estimate + 999).end == end
    assert loaded(memory, compact_min_bytes=0, budget=estimate + 1000).end < end


def test_compact_moves_records_larger_than_a_read_window_across_wide_gaps() -> None:
    memory = StableMemory(max_pages=4096)
    log = loaded(memory)
    big = bytes(range(256)) * 4096 * 3  # 3 MiB
    log.apply([(b"a", big)])
    for i in range(3):  # 9 MiB of dead values: a gap wider than the 4 MiB window
        log.apply([(b"dead", big[i:] + big[:i])])
    log.apply([(b"dead", None), (b"b", big[::-1]), (b"c", b"small")])
    log.apply([(b"a", big[1:])])
    model = contents(log)
    log.compact()
    assert contents(log) == model and contents(loaded(memory)) == model
    assert log.end == 16 + live_size(model)


def test_a_trap_at_any_write_of_a_long_compaction_leaves_the_old_log() -> None:
    memory = TrappingMemory(max_pages=4096)
    log = loaded(memory)
    big = bytes(range(256)) * 4096  # 1 MiB
    for i in range(15):  # 5 keys written 3 times: 5 MiB live, moved in two batches
        log.apply([(b"k%d" % (i % 5), big[i:] + big[:i])])
    model, end = contents(log), log.end
    probe = TrappingMemory(max_pages=4096)
    probe.data = bytearray(memory.data)
    assert loaded(probe, compact_min_bytes=0).end < end  # the reload compacts
    assert probe.writes == 3  # two batches (4 MiB, then the rest) and the header
    for trap_at in range(1, probe.writes + 1):
        memory.writes, memory.trap_at = 0, trap_at
        assert not memory.message(lambda: loaded(memory, compact_min_bytes=0))
        assert memory.written_before_trap == (trap_at > 1)
        untouched = loaded(memory, compact_min_bytes=end + 1)  # reads without compacting
        assert untouched.end == end and contents(untouched) == model == contents(log)
    memory.trap_at = None
    assert contents(loaded(memory, compact_min_bytes=0)) == model


batches_or_compactions = st.lists(
    st.one_of(ops, st.just("compact"), st.just("reload")), max_size=12
)


@settings(max_examples=80, deadline=None)
@given(steps=batches_or_compactions)
def test_any_puts_deletes_compactions_and_reloads_equal_a_dict(
    steps: list[list[tuple[bytes, bytes | None]] | str],
) -> None:
    memory = StableMemory()
    log = loaded(memory, compact_min_bytes=64)  # reloads compact small logs too
    model: dict[bytes, bytes] = {}
    for step in steps:
        if step == "compact":
            log.compact()
            assert log.end == 16 + live_size(model)
        elif step == "reload":
            log = loaded(memory, compact_min_bytes=64)
        else:
            assert not isinstance(step, str)
            changes = dict(step)
            log.apply(sorted(changes.items()))
            for key, value in changes.items():
                if value is None:
                    model.pop(key, None)
                else:
                    model[key] = value
        assert contents(log) == model and log.live_bytes == live_size(model)
        assert [log.get(key) for key in model] == list(model.values())
    assert contents(loaded(memory)) == model


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(ops, min_size=1, max_size=8), trap_at=st.integers(1, 3))
def test_a_trap_part_way_through_a_compaction_leaves_the_old_log(
    batches: list[list[tuple[bytes, bytes | None]]], trap_at: int,
) -> None:
    memory = TrappingMemory()
    log = loaded(memory)
    for batch in batches:
        log.apply(sorted(dict(batch).items()))
    model, end = contents(log), log.end
    memory.writes, memory.trap_at = 0, trap_at
    fresh = StableLog(memory)  # the message's heap: a trap discards it with stable memory

    def load_and_compact() -> None:
        fresh.load()
        fresh.compact()

    if memory.message(load_and_compact):
        assert memory.writes < trap_at and fresh.end == 16 + live_size(model)
        log = fresh
    else:
        assert memory.writes == trap_at
        assert loaded(memory).end == end  # the old heap's index still reads the old log
    memory.trap_at = None
    assert contents(log) == model and contents(loaded(memory)) == model


class AppendingMemory(StableMemory):
    """Stable memory with ``log_append`` as ``_ic0`` has it (record and header at once)."""

    def log_append(self, at: int, key: bytes, value: bytes, magic: bytes) -> int:
        end = at + 8 + len(key) + len(value)
        self.stable_write(at, struct.pack("<II", len(key), len(value)) + key + value)
        self.stable_write(0, magic + struct.pack("<Q", end))
        return end


def test_a_single_put_writes_the_same_log_with_or_without_log_append() -> None:
    plain, appending = StableMemory(), AppendingMemory()
    logs = [loaded(plain), loaded(appending)]
    for log in logs:
        log.apply([(b"a", b"1")])
        log.apply([(b"b", b"22")])
        log.apply([(b"a", b"333")])  # an overwrite: the old record is dead
        log.apply([(b"b", None)])
        log.put(b"c", b"")
    assert plain.stable_read(0, logs[0].end) == appending.stable_read(0, logs[1].end)
    for log in logs:
        assert contents(log) == {b"a": b"333", b"c": b""}
        assert log.live_bytes == (8 + 1 + 3) + (8 + 1)
    assert contents(loaded(appending)) == {b"a": b"333", b"c": b""}
