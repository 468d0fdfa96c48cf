"""The committed heap of a wasm canister: its linear memory image, mutable globals and dirty pages.

How it works: a `HeapImage` keeps the *committed image* of a live instance's linear
memory (a bytearray) and of its mutable globals, and follows the instance it is
attached to (`attach`, after every instantiation). The module's stores mark the 4 KiB
pages they write in a dirty bitmap (`icframework.replica.execution.dirty_pages`), and
so do the System API's copies into the heap (`mark_written`). `commit` reads the
bitmap over the heap's pages, compares each marked page with the image (a mark is a
candidate: one store may mark a neighbour it did not touch), copies those that differ
into the image, remembers them as dirty for the next checkpoint (`take_dirty_pages`)
and clears the marks; grown pages are dirty whether written or not. `rollback` copies
the marked pages back from the image instead, so a failed message leaves no trace; if
the memory grew it cannot, and the owner re-instantiates and calls `restore`. Either
way the cost is proportional to the pages written, not to the heap. A module the
instrumentation could not decode has no bitmap: its pages are found by comparing the
whole heap with the image (``memcmp`` per 1 MiB chunk, then per page;
`changed_pages`).

The bitmap memory also holds the marking's instruction counter (`overhead`), which
the sandbox subtracts from the fuel it used. Sizes are bytes, page indexes count
`CHECKPOINT_PAGE` pages. Not thread-safe; the sandbox that owns it drives it.
"""

from __future__ import annotations

import ctypes
from typing import Any

import wasmtime

from icframework.replica.execution.dirty_pages import (
    BITMAP_EXPORT,
    COUNTER_BYTES,
    MARK_SPAN,
    PAGE_SHIFT,
)
from icframework.replica.execution.engine import RawFunc
from icframework.replica.execution.page_map import CHECKPOINT_PAGE
from icframework.replica.execution.wasm_module import (
    GLOBALS_GET_EXPORT,
    GLOBALS_SET_EXPORT,
    CanisterModule,
)

__all__ = ["ACCESSOR_FUEL", "CHECKPOINT_PAGE", "HeapImage"]

ACCESSOR_FUEL = 1_000_000
"""Fuel for the instrumented global accessors (a few instructions per global)."""
_CHUNK = 1024 * 1024

_libc = ctypes.CDLL(None)
_memcmp = _libc.memcmp
_memcmp.restype = ctypes.c_int
_memcmp.argtypes = (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_MARKED = 1


class HeapImage:
    """The committed linear memory and globals of one instance (see the module docstring)."""

    def __init__(self, module: CanisterModule) -> None:
        self.module = module
        self.image = bytearray()
        """The committed linear memory."""
        self.committed_globals: dict[int, Any] = {}
        """The committed mutable globals, by global index."""
        self.dirty_pages: set[int] = set()
        """Pages changed since the last `take_dirty_pages`."""
        self.store: wasmtime.Store | None = None
        self.memory: wasmtime.Memory | None = None
        self.bitmap: wasmtime.Memory | None = None
        self.overhead = ctypes.c_int64()
        """The marking's instruction counter (`dirty_pages.MarkingCounter`), in place."""
        self._exports: dict[str, Any] = {}
        self._globals_get: RawFunc | None = None
        self._globals_set: RawFunc | None = None
        self._committed_raw: tuple[Any, ...] | None = None
        """`committed_globals` as the accessor returns them (None without accessors)."""
        self._bitmap_base = 0
        self._bitmap_size = 0

    # -- the live instance ----------------------------------------------------------------------

    def attach(self, store: wasmtime.Store, memory: wasmtime.Memory | None,
               exports: dict[str, Any]) -> None:
        """Follow a new instance: its ``store``, main ``memory`` and ``exports`` (globals,
        the dirty bitmap). The image is not touched (see `start` and `restore`)."""
        self.store = store
        self.memory = memory
        self._exports = exports
        if self.module.globals_accessors:
            self._globals_get = RawFunc(store, exports[GLOBALS_GET_EXPORT])
            self._globals_set = RawFunc(store, exports[GLOBALS_SET_EXPORT])
        bitmap = exports.get(BITMAP_EXPORT) if memory is not None else None
        self.bitmap = bitmap if isinstance(bitmap, wasmtime.Memory) else None
        if self.bitmap is not None:
            # The bitmap memory cannot grow (its minimum is its maximum), so it stays put.
            self._bitmap_base = ctypes.addressof(self.bitmap.data_ptr(store).contents)
            self._bitmap_size = self.bitmap.data_len(store)
            self.overhead = ctypes.c_int64.from_address(
                self._bitmap_base + self._bitmap_size - COUNTER_BYTES
            )

    def _store(self) -> wasmtime.Store:
        store = self.store
        assert store is not None, "HeapImage used before `attach`"
        return store

    def load_memory(self, data: bytes | bytearray) -> None:
        """Grow the live memory to ``len(data)`` bytes if needed and copy ``data`` to its start."""
        if self.memory is None:
            return
        store = self._store()
        current = self.memory.data_len(store)
        if len(data) > current:
            self.memory.grow(store, (len(data) - current) // 65536)
        base = ctypes.addressof(self.memory.data_ptr(store).contents)
        ctypes.memmove(base, bytes(data), len(data))

    def _memory_bytes(self) -> bytes:
        if self.memory is None:
            return b""
        store = self._store()
        length = self.memory.data_len(store)
        return ctypes.string_at(ctypes.addressof(self.memory.data_ptr(store).contents), length)

    def read_globals(self) -> dict[int, Any]:
        """The live instance's mutable globals by index."""
        store = self._store()
        indexes = self.module.mutable_globals
        if self._globals_get is not None:
            store.set_fuel(ACCESSOR_FUEL)
            return dict(zip(indexes, self._globals_get(), strict=True))
        return {
            index: self._exports[self.module.global_export(index)].value(store)
            for index in indexes
        }

    def _commit_globals(self) -> None:
        """Take the live instance's globals as the committed ones."""
        self.committed_globals = self.read_globals()
        if self._globals_get is not None:
            self._committed_raw = tuple(self.committed_globals.values())

    def _rollback_globals(self) -> None:
        """Reset the live instance's globals to the committed ones (two raw calls at
        most with accessors: a query rarely changes a global)."""
        committed = self._committed_raw
        if committed is None or self._globals_get is None or self._globals_set is None:
            self.write_globals(self.committed_globals)
            return
        store = self._store()
        store.set_fuel(ACCESSOR_FUEL)
        if self._globals_get() != committed:
            store.set_fuel(ACCESSOR_FUEL)
            self._globals_set(*committed)

    def write_globals(self, values: dict[int, Any]) -> None:
        """Set the live instance's mutable globals to ``values`` (by index)."""
        if not values:
            return
        store = self._store()
        if self._globals_set is not None:
            # One raw call reads them all; write only if one changed, in one call too.
            current = self.read_globals()
            if all(current.get(index) == value for index, value in values.items()):
                return
            current.update(values)
            store.set_fuel(ACCESSOR_FUEL)
            self._globals_set(*(current[index] for index in self.module.mutable_globals))
            return
        for index, value in values.items():
            self._exports[self.module.global_export(index)].set_value(store, value)

    # -- finding written pages ------------------------------------------------------------------

    def changed_pages(self) -> list[int]:
        """Indexes of 4 KiB pages whose content differs from the image (same sizes).

        Each 1 MiB chunk is compared with one ``memcmp``; a chunk that differs is split
        in halves recursively down to single pages, so a few scattered writes cost a few
        dozen comparisons instead of one per page.
        """
        assert self.memory is not None
        length = len(self.image)
        live = ctypes.addressof(self.memory.data_ptr(self._store()).contents)
        image_buffer = (ctypes.c_char * length).from_buffer(self.image)
        try:
            shadow = ctypes.addressof(image_buffer)
            changed: list[int] = []
            # A stack of (offset, size) ranges to compare, lowest offset on top.
            pending = [
                (start, min(_CHUNK, length - start))
                for start in reversed(range(0, length, _CHUNK))
            ]
            while pending:
                start, size = pending.pop()
                if not _memcmp(live + start, shadow + start, size):
                    continue
                if size <= CHECKPOINT_PAGE:
                    changed.append(start // CHECKPOINT_PAGE)
                    continue
                half = (size // 2 + CHECKPOINT_PAGE - 1) // CHECKPOINT_PAGE * CHECKPOINT_PAGE
                pending.append((start + half, size - half))
                pending.append((start, half))
            return changed
        finally:
            del image_buffer

    def mark_written(self, address: int, size: int) -> None:
        """Mark the pages of ``size`` > 0 bytes at ``address`` (a host write) as written."""
        if self.bitmap is None:
            return
        first = address >> PAGE_SHIFT
        last = (address + size - 1) >> PAGE_SHIFT
        ctypes.memset(self._bitmap_base + first, _MARKED, last - first + 1)

    def take_marked_pages(self) -> list[int]:
        """The pages marked in the bitmap since the last call, ascending; clears the marks.

        Reads the bitmap bytes of the live memory's pages (plus the few a store past
        the last page may mark), so the cost is one ``memchr`` pass over heap / 4096
        bytes plus one step per marked page.
        """
        if self.bitmap is None or self.memory is None:
            return []
        pages = self.memory.data_len(self._store()) // CHECKPOINT_PAGE
        base = self._bitmap_base
        marks = ctypes.string_at(base, min(pages + MARK_SPAN, self._bitmap_size))
        marked: list[int] = []
        page = marks.find(_MARKED)
        while page >= 0:
            marked.append(page)
            page = marks.find(_MARKED, page + 1)
        if marked:
            ctypes.memset(base + marked[0], 0, marked[-1] - marked[0] + 1)
        return [page for page in marked if page < pages]

    def written_pages(self) -> list[int]:
        """Pages below the image's size whose content differs from the image.

        From the bitmap's candidates when the module has one, else `changed_pages`.
        """
        if self.bitmap is None:
            return self.changed_pages()
        assert self.memory is not None
        limit = len(self.image) // CHECKPOINT_PAGE
        candidates = [page for page in self.take_marked_pages() if page < limit]
        if not candidates:
            return []
        live = ctypes.addressof(self.memory.data_ptr(self._store()).contents)
        image_buffer = (ctypes.c_char * len(self.image)).from_buffer(self.image)
        try:
            shadow = ctypes.addressof(image_buffer)
            return [
                page for page in candidates
                if _memcmp(live + page * CHECKPOINT_PAGE, shadow + page * CHECKPOINT_PAGE,
                           CHECKPOINT_PAGE)
            ]
        finally:
            del image_buffer

    # -- commit and rollback --------------------------------------------------------------------

    def start(self) -> None:
        """Take the whole live memory and globals as the image (a new instance: every page
        is dirty) and clear the marks."""
        self.image = bytearray(self._memory_bytes())
        self._commit_globals()
        self.dirty_pages = set(range(len(self.image) // CHECKPOINT_PAGE))
        self.take_marked_pages()

    def commit(self) -> None:
        """Copy the pages the live instance wrote (and grew) into the image, and its globals."""
        if self.memory is not None:
            changed = self.written_pages()
            length = self.memory.data_len(self._store())
            base = ctypes.addressof(self.memory.data_ptr(self._store()).contents)
            for page in changed:
                offset = page * CHECKPOINT_PAGE
                self.image[offset : offset + CHECKPOINT_PAGE] = ctypes.string_at(
                    base + offset, CHECKPOINT_PAGE
                )
            self.dirty_pages.update(changed)
            old = len(self.image)
            if length > old:
                # Grown pages are dirty whether or not anything was written to them.
                self.image.extend(ctypes.string_at(base + old, length - old))
                self.dirty_pages.update(range(old // CHECKPOINT_PAGE, length // CHECKPOINT_PAGE))
        self._commit_globals()

    def rollback(self) -> bool:
        """Copy the image back over the pages the live instance marked, and reset its globals.

        Returns False, changing nothing, if the memory grew: a wasm memory cannot shrink,
        so the owner must re-instantiate and `restore` the image. Marked pages are copied
        back without comparing them first (copying an unchanged page is harmless and
        costs no more than the comparison).
        """
        if self.memory is not None:
            if self.memory.data_len(self._store()) != len(self.image):
                return False
            if self.bitmap is None:
                changed = self.changed_pages()
            else:
                limit = len(self.image) // CHECKPOINT_PAGE
                changed = [page for page in self.take_marked_pages() if page < limit]
            if changed:
                base = ctypes.addressof(self.memory.data_ptr(self._store()).contents)
                image_buffer = (ctypes.c_char * len(self.image)).from_buffer(self.image)
                try:
                    shadow = ctypes.addressof(image_buffer)
                    for page in changed:
                        offset = page * CHECKPOINT_PAGE
                        ctypes.memmove(base + offset, shadow + offset, CHECKPOINT_PAGE)
                finally:
                    del image_buffer
        self._rollback_globals()
        return True

    def restore(self, image: bytes | bytearray, global_values: dict[int, Any]) -> None:
        """Load ``image`` and ``global_values`` into a fresh instance and commit them."""
        self.load_memory(image)
        if image is not self.image:
            self.image = bytearray(image)
        self.write_globals(global_values)
        self._commit_globals()

    # -- checkpoints ----------------------------------------------------------------------------

    def take_dirty_pages(self) -> dict[int, bytes]:
        """The heap pages changed since the last call (index -> 4 KiB), for the checkpoint."""
        pages = {
            index: bytes(self.image[index * CHECKPOINT_PAGE : (index + 1) * CHECKPOINT_PAGE])
            for index in sorted(self.dirty_pages)
        }
        self.dirty_pages.clear()
        return pages

    def mark_all_dirty(self) -> None:
        """Make the next checkpoint write every page (after its space was cleared)."""
        self.dirty_pages.update(range(len(self.image) // CHECKPOINT_PAGE))
