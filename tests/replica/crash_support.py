"""Run a replica child process until SIGKILL: the harness of the kill -9 tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_until_killed(child_module: str, state_dir: Path, updates: int, delay: float) -> int:
    """Start ``python -m child_module state_dir``, read ``updates`` replies, SIGKILL it.

    The child prints ``ready`` and then one integer per answered update. The kill comes
    ``delay`` seconds after the last reply read; everything the child printed before
    it died counts as replied. Returns the last value reported.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", child_module, str(state_dir)],
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
    for line in child.stdout.read().split():
        last = int(line)
    return last
