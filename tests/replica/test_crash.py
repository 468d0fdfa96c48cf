"""A replica killed with SIGKILL mid-stream loses no replied update and corrupts nothing."""

from __future__ import annotations

import random
from pathlib import Path

from icframework.core import Principal
from icframework.replica.embedded import Replica
from tests.replica.crash_support import run_until_killed
from tests.replica.wat_counter import nat64_reply


def test_sigkill_loses_no_replied_update(tmp_path: Path) -> None:
    rng = random.Random(1234)
    replied = 0
    for _ in range(5):
        last = run_until_killed(
            "tests.replica.replica_crash_child", tmp_path, rng.randint(1, 40),
            rng.random() * 0.005,
        )
        assert last > replied, "after a restart the counter continues from the committed state"
        replied = last
    with Replica.open(tmp_path) as replica:
        canister = Principal.from_text((tmp_path / "canister").read_text())
        value = int.from_bytes(replica.query(canister, "get")[7:15], "little")
        # Every update the child saw answered is there; at most the one in flight beyond it.
        assert value in (replied, replied + 1)
        # No canister is half-updated: global, heap and stable memory moved together.
        assert replica.query(canister, "memory_counter") == nat64_reply(value)
        assert replica.query(canister, "load_stable") == nat64_reply(value)
