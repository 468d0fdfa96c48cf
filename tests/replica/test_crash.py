"""A replica killed with SIGKILL mid-stream loses no replied update and corrupts nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from icframework.core import Principal
from icframework.replica.embedded import Replica
from tests.replica.wat_counter import nat64_reply

ROOT = Path(__file__).resolve().parents[2]


def _run_until_killed(state_dir: Path, updates: int, delay: float) -> int:
    """Start the child, let it answer ``updates`` calls, SIGKILL it ``delay`` seconds later.

    Returns the last value the child reported as replied.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.replica.replica_crash_child", str(state_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        last = 0
        for _ in range(updates):
            line = child.stdout.readline()
            assert line, "the child replica exited unexpectedly"
            last = int(line)
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # Everything the child printed before it died counts as replied.
    for line in child.stdout.read().split():
        last = int(line)
    return last


def test_sigkill_loses_no_replied_update(tmp_path: Path) -> None:
    rng = random.Random(1234)
    replied = 0
    for _ in range(5):
        last = _run_until_killed(tmp_path, rng.randint(1, 40), rng.random() * 0.005)
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
