"""At least once on the embedded broker: a task whose worker process is killed (SIGKILL,
mid-task, so nothing is put back) runs again when a worker next starts on the broker,
while a task a live worker holds is left to it; acknowledged messages leave nothing
behind in the broker's tables."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.workers import InFlight, InProcessWorker, inflight_of, process_alive
from tests.agent.live_replica import ROOT
from tests.workers.conftest import make_app
from tests.workers.tasks import HOLD, WHERE

RESULT_SECONDS = 60  # hang guards, not performance bounds
WORKER_SCRIPT = """
import sys, time
from pathlib import Path
import django
django.setup()
from icframework.workers import InProcessWorker
from tests.workers.conftest import make_app
worker = InProcessWorker(make_app(Path(sys.argv[1])))
worker.start()
print("consuming", flush=True)
sys.stdin.readline()  # "stop": a normal stop, with a grace period of one second
print("stopped" if worker.stop(timeout=1.0) else "left a task running", flush=True)
"""


def rows(broker: Path, table: str, where: str = "1") -> int:
    with sqlite3.connect(broker) as db:
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}").fetchone()
    return int(count)


def wait_until(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + RESULT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"waited {RESULT_SECONDS} s for {what}"
        time.sleep(0.1)


@pytest.fixture
def other_worker(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A worker in another process, consuming the broker in ``tmp_path``."""
    process = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT, str(tmp_path)], cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == b"consuming\n", line + process.stdout.read()
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def test_a_task_whose_worker_was_killed_runs_again_when_a_worker_starts(
    tmp_path: Path, other_worker: subprocess.Popen[bytes], restore_default_app: None
) -> None:
    broker = tmp_path / "broker.sqlite3"
    runs = tmp_path / "runs.txt"
    app = make_app(tmp_path)
    result = app.tasks[HOLD].delay(str(runs))
    wait_until(lambda: runs.exists() and runs.read_text(), "the first run to start")
    assert runs.read_text().split() == [str(other_worker.pid)]
    inflight = inflight_of(app)
    assert inflight is not None
    (owner,) = inflight.owners().values()
    assert owner.split("/")[1] == str(other_worker.pid) and process_alive(owner)

    # A worker starting while the other one still runs the task leaves it alone.
    here = InProcessWorker(app)
    here.start()
    try:
        assert inflight.recover() == 0
        assert rows(broker, "kombu_message", "visible = 0") == 1
        assert result.status == "PENDING"
    finally:
        assert here.stop()

    other_worker.send_signal(signal.SIGKILL)  # no shutdown: nothing is put back
    assert other_worker.wait(timeout=RESULT_SECONDS) == -signal.SIGKILL
    assert not process_alive(owner)
    assert rows(broker, "kombu_message", "visible = 1") == 0  # the transport lost it...

    here = InProcessWorker(app)
    here.start()  # ...and the next worker to start queues it again
    try:
        answer = result.get(timeout=RESULT_SECONDS)
    finally:
        assert here.stop()
    assert answer == {"runs": 2, "pid": os.getpid()}
    assert runs.read_text().split() == [str(other_worker.pid), str(os.getpid())]
    assert inflight.owners() == {}
    assert rows(broker, "kombu_message") == 0


def test_acknowledged_messages_leave_no_rows_and_no_records(
    embedded_worker: InProcessWorker, tmp_path: Path
) -> None:
    app = embedded_worker.app
    results = [app.tasks[WHERE].delay(n) for n in range(5)]
    assert [r.get(timeout=RESULT_SECONDS)["value"] for r in results] == [0, 2, 4, 6, 8]
    broker = tmp_path / "broker.sqlite3"
    wait_until(lambda: rows(broker, "kombu_message") == 0, "the acknowledged rows to go")
    assert rows(broker, InFlight.TABLE) == 0


def test_a_task_left_running_by_a_worker_that_stopped_runs_again_once(
    tmp_path: Path, other_worker: subprocess.Popen[bytes], restore_default_app: None
) -> None:
    """A worker that stops normally while a task runs past its grace period (kombu may
    put the message back as it closes; the process then ends): the task runs once more,
    not twice, and nothing is left in the broker."""
    runs = tmp_path / "runs.txt"
    app = make_app(tmp_path)
    result = app.tasks[HOLD].delay(str(runs))
    wait_until(lambda: runs.exists() and runs.read_text(), "the first run to start")
    assert other_worker.stdin is not None and other_worker.stdout is not None
    other_worker.stdin.write(b"stop\n")
    other_worker.stdin.flush()
    assert other_worker.wait(timeout=RESULT_SECONDS) == 0, other_worker.stdout.read()
    here = InProcessWorker(app)
    here.start()
    try:
        assert result.get(timeout=RESULT_SECONDS) == {"runs": 2, "pid": os.getpid()}
        wait_until(lambda: rows(tmp_path / "broker.sqlite3", "kombu_message") == 0,
                   "the acknowledged rows to go")
    finally:
        assert here.stop()
    assert runs.read_text().split() == [str(other_worker.pid), str(os.getpid())]
    inflight = inflight_of(app)
    assert inflight is not None and inflight.owners() == {}
