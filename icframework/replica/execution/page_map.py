"""`PageMap`: sparse byte-addressable memory in 4 KiB pages, with undo log and dirty set.

A `PageMap` holds canister stable memory (and is the page granularity of heap
checkpoints). Offsets and sizes are in bytes; page indexes count `CHECKPOINT_PAGE`
(4096-byte) pages. Pages that were never written, or that hold only zeros, need not be
stored: reading them yields zeros.

How it works: pages are `bytearray`s in a dict keyed by page index, and reads and writes
copy whole slices per page, so the cost is O(pages touched), never O(bytes) in Python.
`begin()` opens a message transaction: the first time a page is touched its original
content (or its absence) is saved in an undo log, so `rollback()` restores exactly and
costs O(pages written); `commit()` drops the log. Independently, every page changed since
the last checkpoint is in a dirty set that `take_dirty()` hands to the state store.
"""

from __future__ import annotations

from icframework.replica.errors import MemoryAccessError, ReplicaError

CHECKPOINT_PAGE = 4096
"""Bytes per page, for stable memory and heap checkpoints alike."""

_ZERO_PAGE = bytes(CHECKPOINT_PAGE)


class PageMap:
    """A sparse memory of ``size_bytes`` bytes made of 4 KiB pages (see the module docstring).

    Invariant: no stored page lies at or beyond ``size_bytes``, and the bytes of a
    partly covered last page beyond ``size_bytes`` are zero, so growing exposes zeros.
    """

    __slots__ = ("_dirty", "_pages", "_size", "_undo", "_undo_size")

    def __init__(self) -> None:
        self._pages: dict[int, bytearray] = {}
        self._size = 0
        self._dirty: set[int] = set()
        # page index -> (original content or None if absent, was it dirty before)
        self._undo: dict[int, tuple[bytes | None, bool]] | None = None
        self._undo_size = 0

    # -- size -----------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        """The current size in bytes (any value; stable memory keeps it a multiple of 64 KiB)."""
        return self._size

    @property
    def in_transaction(self) -> bool:
        """True between `begin()` and `commit()` / `rollback()`."""
        return self._undo is not None

    def resize(self, new_size_bytes: int) -> None:
        """Set the size in bytes. Growing exposes zeros.

        Shrinking (used to reset or restore a memory) drops the pages beyond the new size
        and zeroes the tail of a partly kept last page; inside a transaction it is undone
        by `rollback()` like any write. Raises `MemoryAccessError` for a negative size.
        """
        if new_size_bytes < 0:
            raise MemoryAccessError(
                f"PageMap.resize: new size {new_size_bytes} bytes is negative "
                f"(current size {self._size} bytes)"
            )
        if new_size_bytes < self._size:
            first_dropped, tail = divmod(new_size_bytes, CHECKPOINT_PAGE)
            if tail:
                first_dropped += 1
                if first_dropped - 1 in self._pages:
                    page = self._touch(first_dropped - 1)
                    page[tail:] = _ZERO_PAGE[tail:]
            for index in [i for i in self._pages if i >= first_dropped]:
                self._log(index)
                del self._pages[index]
        self._size = new_size_bytes

    def clear(self) -> None:
        """Drop every page and set the size to 0 (``resize(0)``); the pages become dirty."""
        self.resize(0)

    # -- bytes ----------------------------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """Return ``size`` bytes from byte ``offset``, zeros where no page is stored.

        Raises `MemoryAccessError` if the range is negative or ends beyond ``size_bytes``.
        """
        self._check_range("read", offset, size)
        if size == 0:
            return b""
        first, start = divmod(offset, CHECKPOINT_PAGE)
        last = (offset + size - 1) // CHECKPOINT_PAGE
        pages = self._pages
        if first == last:
            page = pages.get(first)
            return bytes(size) if page is None else bytes(page[start : start + size])
        # One allocation: join page slices (whole pages by reference, zeros shared).
        parts: list[bytes | bytearray] = []
        pos = 0
        for index in range(first, last + 1):
            n = min(CHECKPOINT_PAGE - start, size - pos)
            page = pages.get(index)
            if page is None:
                parts.append(_ZERO_PAGE if n == CHECKPOINT_PAGE else bytes(n))
            else:
                parts.append(page if n == CHECKPOINT_PAGE else page[start : start + n])
            pos += n
            start = 0
        return b"".join(parts)

    def write(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Copy ``data`` to byte ``offset``; the touched pages become dirty.

        A new page written whole with zeros is not stored. Raises
        `MemoryAccessError` if the range is negative or ends beyond ``size_bytes``.
        """
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        size = view.nbytes
        self._check_range("write", offset, size)
        index, start = divmod(offset, CHECKPOINT_PAGE)
        pos = 0
        pages = self._pages
        while pos < size:
            n = min(CHECKPOINT_PAGE - start, size - pos)
            chunk = view[pos : pos + n]
            if n < CHECKPOINT_PAGE or index in pages:
                self._touch(index)[start : start + n] = chunk
            else:
                # A new whole page: copy it once, and store it only if it is not all zero.
                page = bytearray(chunk)
                if page != _ZERO_PAGE:
                    self._log(index)
                    pages[index] = page
            pos += n
            index += 1
            start = 0

    def _check_range(self, operation: str, offset: int, size: int) -> None:
        if offset < 0 or size < 0 or offset + size > self._size:
            raise MemoryAccessError(
                f"PageMap.{operation} out of bounds: offset {offset} + size {size} "
                f"exceeds the current size {self._size} bytes"
                + (" (grow it first with resize())" if operation == "write" else "")
            )

    def _log(self, index: int) -> None:
        """Mark page ``index`` dirty, saving its original content first if in a transaction."""
        undo = self._undo
        if undo is not None and index not in undo:
            page = self._pages.get(index)
            undo[index] = (None if page is None else bytes(page), index in self._dirty)
        self._dirty.add(index)

    def _touch(self, index: int) -> bytearray:
        """The stored page ``index`` (created as zeros), logged for undo and marked dirty."""
        self._log(index)
        page = self._pages.get(index)
        if page is None:
            page = self._pages[index] = bytearray(CHECKPOINT_PAGE)
        return page

    # -- transactions ---------------------------------------------------------------------

    def begin(self) -> None:
        """Open a message transaction. Raises `ReplicaError` if one is already open."""
        if self._undo is not None:
            raise ReplicaError(
                "PageMap.begin: a transaction is already open; commit() or rollback() it first"
            )
        self._undo = {}
        self._undo_size = self._size

    def commit(self) -> None:
        """Keep the transaction's changes and drop the undo log."""
        self._end("commit")

    def rollback(self) -> None:
        """Restore content, size and dirty set as they were at `begin()`; O(pages written)."""
        undo = self._end("rollback")
        pages = self._pages
        for index, (original, was_dirty) in undo.items():
            if original is None:
                pages.pop(index, None)
            else:
                pages[index] = bytearray(original)
            if not was_dirty:
                self._dirty.discard(index)
        self._size = self._undo_size

    def _end(self, operation: str) -> dict[int, tuple[bytes | None, bool]]:
        undo = self._undo
        if undo is None:
            raise ReplicaError(f"PageMap.{operation}: no transaction is open; call begin() first")
        self._undo = None
        return undo

    # -- checkpoints ----------------------------------------------------------------------

    def take_dirty(self) -> dict[int, bytes | None]:
        """Pages changed since the last call, by index: 4096 bytes, or None if all zero.

        Clears the dirty set. Raises `ReplicaError` inside a transaction (its changes are
        not final yet).
        """
        if self._undo is not None:
            raise ReplicaError(
                "PageMap.take_dirty: a transaction is open; commit() or rollback() it first"
            )
        pages = self._pages
        dirty: dict[int, bytes | None] = {}
        for index in sorted(self._dirty):
            page = pages.get(index)
            if page is None or page == _ZERO_PAGE:
                pages.pop(index, None)
                dirty[index] = None
            else:
                dirty[index] = bytes(page)
        self._dirty.clear()
        return dirty

    def load_page(self, index: int, data: bytes) -> None:
        """Set page ``index`` from the state store without marking it dirty.

        Grows ``size_bytes`` to cover the page if needed (callers set the exact size with
        `resize` afterwards). Raises `ReplicaError` if ``data`` is not 4096 bytes, the index
        is negative, or a transaction is open.
        """
        if self._undo is not None:
            raise ReplicaError("PageMap.load_page: not allowed while a transaction is open")
        if len(data) != CHECKPOINT_PAGE or index < 0:
            raise ReplicaError(
                f"PageMap.load_page: page {index} has {len(data)} bytes; "
                f"expected a non-negative index and {CHECKPOINT_PAGE} bytes"
            )
        if data == _ZERO_PAGE:
            self._pages.pop(index, None)
        else:
            self._pages[index] = bytearray(data)
        self._size = max(self._size, (index + 1) * CHECKPOINT_PAGE)
