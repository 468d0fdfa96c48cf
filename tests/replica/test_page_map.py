"""Tests of `execution.page_map.PageMap`: bytes, transactions, dirty pages, large writes."""

from __future__ import annotations

import array
import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from icframework.replica.errors import MemoryAccessError, ReplicaError
from icframework.replica.execution.page_map import CHECKPOINT_PAGE, PageMap

P = CHECKPOINT_PAGE


def sized(size: int) -> PageMap:
    pages = PageMap()
    pages.resize(size)
    return pages


# -- bytes --------------------------------------------------------------------------------


def test_new_memory_reads_zeros() -> None:
    pages = sized(3 * P + 10)
    assert pages.size_bytes == 3 * P + 10
    assert pages.read(0, 3 * P + 10) == bytes(3 * P + 10)
    assert pages.read(5, 0) == b""
    assert pages.take_dirty() == {}


def test_write_across_page_boundaries_reads_back() -> None:
    pages = sized(4 * P)
    data = os.urandom(2 * P + 100)
    pages.write(P - 50, data)
    assert pages.read(P - 50, len(data)) == data
    assert pages.read(0, P - 50) == bytes(P - 50)
    assert pages.read(P - 60, 20) == bytes(10) + data[:10]
    assert sorted(pages.take_dirty()) == [0, 1, 2, 3]


def test_write_accepts_memoryview_of_any_format() -> None:
    pages = sized(P)
    words = array.array("I", [1, 2, 3])
    pages.write(8, memoryview(words))
    assert pages.read(8, 12) == words.tobytes()
    pages.write(0, memoryview(b"abcdef")[2:4])
    assert pages.read(0, 2) == b"cd"


@pytest.mark.parametrize(
    ("operation", "offset", "size"),
    [("read", 0, P + 1), ("read", P, 1), ("write", P - 1, 2), ("read", -1, 1)],
)
def test_out_of_bounds_access_names_offset_size_and_current_size(
    operation: str, offset: int, size: int
) -> None:
    pages = sized(P)
    with pytest.raises(MemoryAccessError) as info:
        if operation == "read":
            pages.read(offset, size)
        else:
            pages.write(offset, bytes(size))
    assert str(info.value).startswith(
        f"PageMap.{operation} out of bounds: offset {offset} + size {size} "
        f"exceeds the current size {P} bytes"
    )
    assert isinstance(info.value, ReplicaError)


def test_write_error_says_how_to_fix() -> None:
    with pytest.raises(MemoryAccessError, match=r"grow it first with resize\(\)"):
        PageMap().write(0, b"x")


def test_whole_zero_pages_are_not_stored_and_checkpoint_as_none() -> None:
    pages = sized(3 * P)
    pages.write(0, bytes(3 * P))
    assert pages.take_dirty() == {}
    pages.write(P, b"\x01" * P)
    assert pages.take_dirty() == {1: b"\x01" * P}
    pages.write(P, bytes(10))
    pages.write(P + 10, bytes(P - 10))
    assert pages.take_dirty() == {1: None}


# -- size -----------------------------------------------------------------------------------


def test_shrink_drops_pages_and_zeroes_the_tail_then_grow_exposes_zeros() -> None:
    pages = sized(3 * P)
    pages.write(0, b"\xff" * 3 * P)
    pages.take_dirty()
    pages.resize(P + 7)
    assert pages.size_bytes == P + 7
    assert pages.read(0, P + 7) == b"\xff" * (P + 7)
    assert pages.take_dirty() == {1: b"\xff" * 7 + bytes(P - 7), 2: None}
    pages.resize(3 * P)
    assert pages.read(0, 3 * P) == b"\xff" * (P + 7) + bytes(2 * P - 7)


def test_clear_empties_and_dirties_every_page() -> None:
    pages = sized(2 * P)
    pages.write(0, b"a" * 2 * P)
    pages.take_dirty()
    pages.clear()
    assert pages.size_bytes == 0
    assert pages.take_dirty() == {0: None, 1: None}


def test_negative_size_is_refused() -> None:
    with pytest.raises(MemoryAccessError, match="new size -1 bytes is negative"):
        PageMap().resize(-1)


# -- transactions -------------------------------------------------------------------------


def test_rollback_restores_content_size_and_dirty_set() -> None:
    pages = sized(2 * P)
    pages.write(0, b"kept")
    pages.take_dirty()
    pages.write(P, b"dirty before")
    pages.begin()
    assert pages.in_transaction
    pages.resize(4 * P)
    pages.write(10, b"gone")
    pages.write(3 * P, b"gone too")
    pages.write(P, b"overwritten")
    pages.rollback()
    assert not pages.in_transaction
    assert pages.size_bytes == 2 * P
    assert pages.read(0, 4) == b"kept"
    assert pages.read(10, 4) == bytes(4)
    assert pages.read(P, 12) == b"dirty before"
    assert pages.take_dirty() == {1: b"dirty before" + bytes(P - 12)}


def test_rollback_undoes_a_shrink() -> None:
    pages = sized(3 * P)
    pages.write(0, b"\x07" * 3 * P)
    pages.begin()
    pages.resize(10)
    pages.rollback()
    assert pages.read(0, 3 * P) == b"\x07" * 3 * P


def test_commit_keeps_changes() -> None:
    pages = sized(P)
    pages.begin()
    pages.write(0, b"yes")
    pages.commit()
    assert pages.read(0, 3) == b"yes"
    assert pages.take_dirty() == {0: b"yes" + bytes(P - 3)}


def test_transaction_misuse_is_refused_with_the_fix() -> None:
    pages = sized(P)
    with pytest.raises(ReplicaError, match=r"no transaction is open; call begin\(\) first"):
        pages.rollback()
    with pytest.raises(ReplicaError, match="no transaction is open"):
        pages.commit()
    pages.begin()
    with pytest.raises(ReplicaError, match="a transaction is already open"):
        pages.begin()
    with pytest.raises(ReplicaError, match=r"PageMap\.take_dirty: a transaction is open"):
        pages.take_dirty()
    with pytest.raises(ReplicaError, match=r"PageMap\.load_page: not allowed"):
        pages.load_page(0, bytes(P))


# -- loading ------------------------------------------------------------------------------


def test_load_page_populates_without_dirtying_and_grows_to_cover() -> None:
    pages = PageMap()
    pages.load_page(2, b"\x05" * P)
    pages.load_page(0, bytes(P))
    assert pages.size_bytes == 3 * P
    assert pages.read(2 * P - 1, 2) == b"\x00\x05"
    assert pages.take_dirty() == {}
    pages.resize(5 * P)
    assert pages.size_bytes == 5 * P


def test_load_page_refuses_a_short_page() -> None:
    with pytest.raises(ReplicaError, match=r"page 1 has 10 bytes; expected .* 4096 bytes"):
        PageMap().load_page(1, bytes(10))


# -- large writes ----------------------------------------------------------------------------


def test_ten_megabytes_write_read_and_rollback() -> None:
    size = 10 * 1024 * 1024  # how fast this is, bench_replica measures
    pages = sized(size)
    data = os.urandom(size)
    pages.begin()
    pages.write(0, data)
    assert pages.read(0, size) == data
    pages.rollback()
    assert pages.read(0, size) == bytes(size)


# -- model check ----------------------------------------------------------------------------

MAX_SIZE = 6 * P


class PageMapAgainstBytearray(RuleBasedStateMachine):
    """Random writes, resizes, transactions and checkpoints against a plain bytearray.

    A second model, ``stored``, is the state store: it only learns what `take_dirty`
    reports, and must always rebuild the memory exactly, as a restart would. ``touched``
    bounds what may be reported: pages written or cut since the last checkpoint, outside
    rolled-back transactions.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pages = PageMap()
        self.model = bytearray()
        self.saved: tuple[bytes, set[int]] | None = None
        self.touched: set[int] = set()
        self.stored: dict[int, bytes] = {}
        self.stored_size = 0

    @rule(data=st.data(), length=st.integers(0, 2 * P + 3))
    def write(self, data: st.DataObject, length: int) -> None:
        length = min(length, len(self.model))
        offset = data.draw(st.integers(0, len(self.model) - length))
        payload = data.draw(
            st.one_of(st.binary(min_size=length, max_size=length), st.just(bytes(length)))
        )
        self.pages.write(offset, payload)
        self.model[offset : offset + length] = payload
        self.touched.update(range(offset // P, (offset + length + P - 1) // P))

    @rule(size=st.integers(0, MAX_SIZE))
    def resize(self, size: int) -> None:
        self.pages.resize(size)
        self.touched.update(range(size // P, (len(self.model) + P - 1) // P))
        if size < len(self.model):
            del self.model[size:]
        else:
            self.model.extend(bytes(size - len(self.model)))

    @precondition(lambda self: self.saved is None)
    @rule()
    def begin(self) -> None:
        self.pages.begin()
        self.saved = (bytes(self.model), set(self.touched))

    @precondition(lambda self: self.saved is not None)
    @rule()
    def commit(self) -> None:
        self.pages.commit()
        self.saved = None

    @precondition(lambda self: self.saved is not None)
    @rule()
    def rollback(self) -> None:
        self.pages.rollback()
        assert self.saved is not None
        self.model = bytearray(self.saved[0])
        self.touched = self.saved[1]
        self.saved = None

    @precondition(lambda self: self.saved is None)
    @rule()
    def checkpoint(self) -> None:
        dirty = self.pages.take_dirty()
        assert set(dirty) <= self.touched
        self.touched.clear()
        for index, page in dirty.items():
            if page is None:
                self.stored.pop(index, None)
            else:
                assert len(page) == P and page != bytes(P)
                self.stored[index] = page
        self.stored_size = len(self.model)
        assert all(index * P < self.stored_size for index in self.stored)
        restarted = PageMap()
        for index, page in sorted(self.stored.items()):
            restarted.load_page(index, page)
        restarted.resize(self.stored_size)
        assert restarted.read(0, self.stored_size) == self.model

    @invariant()
    def same_content(self) -> None:
        assert self.pages.size_bytes == len(self.model)
        assert self.pages.read(0, len(self.model)) == self.model


PageMapAgainstBytearray.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestPageMapAgainstBytearray = PageMapAgainstBytearray.TestCase
