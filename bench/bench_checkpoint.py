"""Checkpoint cost of the state store: one round's commit vs its number of dirty 4 KiB pages.

Rows: for 1 to 10,000 dirty pages, the median time of `SQLiteStateStore.commit_round`
(WAL, ``synchronous=NORMAL``, the embedded default) overwriting that many pages of one
canister, with the same bytes written to a plain file in one ``write()`` as the same-run
reference (the same durability class: in the OS page cache, no fsync). Extra columns
show the plain write followed by ``fsync``, the SQLite store with
``fsync_each_round=True`` (``synchronous=FULL``), and `MemoryStateStore` (the Python side
of a round alone).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from icframework.replica.execution.page_map import CHECKPOINT_PAGE
from icframework.replica.store import MemoryStateStore, RoundChanges, SQLiteStateStore, StateStore

PAGE_COUNTS = (1, 10, 100, 1000, 10000)
CANISTER = b"\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01"


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def _repeats(pages: int) -> int:
    return max(5, min(50, 20_000 // pages))


class _Rounds:
    """Successive rounds overwriting pages ``0 .. pages-1`` of one canister's heap."""

    def __init__(self, store: StateStore, payload: bytes, pages: int) -> None:
        self.store = store
        self.writes = {
            i: payload[i * CHECKPOINT_PAGE : (i + 1) * CHECKPOINT_PAGE] for i in range(pages)
        }
        self.height = store.height()

    def commit(self) -> None:
        self.height += 1
        changes = RoundChanges(height=self.height, time_ns=self.height)
        changes.canister_upserts[CANISTER] = self.height.to_bytes(8, "big")
        changes.page_writes[(CANISTER, "heap")] = dict(self.writes)
        self.store.commit_round(changes)


def _file_write(path: Path, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    payload = os.urandom(max(PAGE_COUNTS) * CHECKPOINT_PAGE)
    print(
        f"{'dirty pages':>11} {'MiB':>7} {'SQLite ms':>10} {'MiB/s':>7} {'file write ms':>14} "
        f"{'vs ref':>8} {'write+fsync ms':>15} {'SQLite FULL ms':>15} {'memory ms':>10}"
    )
    print("-" * 104)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "full").mkdir()
        store = SQLiteStateStore(root / "state.sqlite3")
        full = SQLiteStateStore(root / "full" / "state.sqlite3", fsync_each_round=True)
        memory = MemoryStateStore()
        try:
            for pages in PAGE_COUNTS:
                repeats = _repeats(pages)
                data = payload[: pages * CHECKPOINT_PAGE]
                timings = []
                for target in (store, full, memory):
                    rounds = _Rounds(target, payload, pages)
                    rounds.commit()  # the first round inserts; the measured ones overwrite
                    timings.append(_median_seconds(rounds.commit, repeats))
                sqlite_s, full_s, memory_s = timings
                plain = root / f"plain-{pages}"
                write_s = _median_seconds(partial(_file_write, plain, data, sync=False), repeats)
                fsync_s = _median_seconds(partial(_file_write, plain, data, sync=True), repeats)
                mib = len(data) / 2**20
                print(
                    f"{pages:>11} {mib:>7.3f} {sqlite_s * 1e3:>10.2f} {mib / sqlite_s:>7.0f} "
                    f"{write_s * 1e3:>14.3f} {sqlite_s / write_s:>7.1f}x "
                    f"{fsync_s * 1e3:>15.2f} {full_s * 1e3:>15.2f} {memory_s * 1e3:>10.3f}"
                )
        finally:
            store.close()
            full.close()


if __name__ == "__main__":
    main()
