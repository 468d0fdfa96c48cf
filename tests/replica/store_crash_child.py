"""Child process of the crash test in ``test_store.py``: commit rounds until killed.

Usage: ``python -m tests.replica.store_crash_child STATE_FILE``. Each round ``h`` writes
``h`` into a key/value entry, into every byte of `PAGES_PER_ROUND` stable pages and into a
canister record, then prints ``h`` once `commit_round` has returned.
"""

from __future__ import annotations

import sys

from icframework.replica.execution.page_map import CHECKPOINT_PAGE
from icframework.replica.store import RoundChanges, SQLiteStateStore, StateStore

CANISTER = b"\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01"
PAGES_PER_ROUND = 64
HISTORY_KEPT = 3


def round_changes(height: int) -> RoundChanges:
    """The changes of round ``height``: the counter, everywhere at once."""
    value = height.to_bytes(8, "big")
    changes = RoundChanges(height=height, time_ns=height * 1_000_000_000)
    changes.canister_upserts[CANISTER] = b"record " + value
    page = value * (CHECKPOINT_PAGE // len(value))
    changes.page_writes[(CANISTER, "stable")] = dict.fromkeys(range(PAGES_PER_ROUND), page)
    changes.kv_puts[("counter", b"value")] = value
    changes.kv_puts[("history", value)] = value
    changes.kv_deletes.add(("history", (height - HISTORY_KEPT).to_bytes(8, "big", signed=True)))
    return changes


def check_state(store: StateStore, height: int) -> None:
    """Assert that ``store`` holds exactly round ``height``'s state, all parts agreeing."""
    value = height.to_bytes(8, "big")
    assert store.height() == height
    assert store.time_ns() == height * 1_000_000_000
    assert store.canister_records() == {CANISTER: b"record " + value}
    page = value * (CHECKPOINT_PAGE // len(value))
    assert list(store.load_pages(CANISTER, "stable")) == [
        (index, page) for index in range(PAGES_PER_ROUND)
    ]
    assert store.kv_get("counter", b"value") == value
    history = [h.to_bytes(8, "big") for h in range(max(1, height - HISTORY_KEPT + 1), height + 1)]
    assert list(store.kv_scan("history")) == [(key, key) for key in history]


def main(path: str) -> None:
    store = SQLiteStateStore(path)
    height = store.height()
    while True:
        height += 1
        store.commit_round(round_changes(height))
        print(height, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
