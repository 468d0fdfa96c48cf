"""Tasks the worker tests send: where a task ran, and one that fails before it succeeds.

Tests send them through their own app (``app.tasks[WHERE]``), never through the shared
proxies, which follow whichever app is current.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from celery import shared_task

WHERE = "tests.workers.where"
FLAKY = "tests.workers.flaky"
HOLD = "tests.workers.hold"


@shared_task(name=WHERE)
def where(value: int) -> dict[str, Any]:
    """``value`` doubled, with the process and thread that ran it."""
    return {"value": value * 2, "pid": os.getpid(), "thread": threading.current_thread().name}


class Flaky(RuntimeError):
    """The failure `flaky` raises on its first attempts."""


@shared_task(name=FLAKY, bind=True, autoretry_for=(Flaky,),
             retry_backoff=False, default_retry_delay=0, max_retries=5)
def flaky(self: Any, attempts_file: str, failures: int) -> dict[str, int]:
    """Fail ``failures`` times (counted in ``attempts_file``, one line per attempt), then
    answer how many attempts it took and Celery's retry count."""
    path = Path(attempts_file)
    with path.open("a", encoding="utf-8") as log:
        log.write(f"{self.request.retries}\n")
    attempts = len(path.read_text(encoding="utf-8").splitlines())
    if attempts <= failures:
        raise Flaky(f"attempt {attempts} of {failures + 1} fails on purpose")
    return {"attempts": attempts, "retries": self.request.retries}


@shared_task(name=HOLD, acks_late=True)
def hold(runs_file: str) -> dict[str, int]:
    """Append this process's id to ``runs_file``; on the first run, then wait (up to 5
    minutes) for the process to be killed; on a later run, answer how many runs there
    were and where this one ran."""
    path = Path(runs_file)
    with path.open("a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\n")
    runs = len(path.read_text(encoding="utf-8").splitlines())
    if runs == 1:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            time.sleep(0.1)
        raise TimeoutError("the first run of `hold` was not killed within 5 minutes")
    return {"runs": runs, "pid": os.getpid()}
