"""``manage.py runreplica`` runs the Celery worker in its own process: a task sent to the
state directory's broker is answered from the server's process id, and Ctrl-C stops the
server and the worker together. ``--no-worker`` leaves tasks queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from icframework.workers import InProcessWorker, celery_settings
from tests.agent.live_replica import ROOT, free_port, stop, wait_until_serving
from tests.workers.conftest import make_app

EXIT_SECONDS = 60  # a hang guard, not a performance bound
ANSWER_SECONDS = 60


@contextmanager
def runreplica(tmp_path: Path, *options: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    port = free_port()
    log_path = tmp_path / "runreplica.log"
    env = {key: value for key, value in os.environ.items() if key != "ICFRAMEWORK_BROKER_URL"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runreplica", "--port", str(port),
             "--state-dir", str(tmp_path / "state"), *options],
            cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "config.settings",
                           "PYTHONUNBUFFERED": "1"},
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(process, f"http://127.0.0.1:{port}", log_path)
            yield process, log_path
        finally:
            if process.poll() is None:
                stop(process)


def test_the_server_process_runs_the_worker_and_ctrl_c_stops_both(
    tmp_path: Path, restore_default_app: None
) -> None:
    client = make_app(tmp_path / "state")
    assert client.conf.broker_url == celery_settings(tmp_path / "state")["broker_url"]
    with runreplica(tmp_path) as (process, log):
        printed = log.read_text()
        assert "  worker:    Celery, in this process, on sqla+sqlite:///" in printed
        assert (tmp_path / "state" / "worker.pem").stat().st_mode & 0o777 == 0o600
        answer = client.send_task("icframework.ping").get(timeout=ANSWER_SECONDS)
        assert answer["pid"] == process.pid
        assert answer["thread"].startswith("celery-task-")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=EXIT_SECONDS)
    output = log.read_text()
    assert "still runs a task" not in output
    assert "Finished server process" in output
    # Ctrl-C is the normal way to stop: no traceback, a clean exit.
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "icframework replica stopped" in output
    assert process.returncode == 0


def test_no_worker_leaves_tasks_queued_for_a_worker_elsewhere(
    tmp_path: Path, restore_default_app: None
) -> None:
    client = make_app(tmp_path / "state")
    with runreplica(tmp_path, "--no-worker") as (process, log):
        assert "  worker:    not in this process; tasks queue on sqla+sqlite:///" \
            in log.read_text()
        result = client.send_task("icframework.ping")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=EXIT_SECONDS)
    assert result.status == "PENDING"
    worker = InProcessWorker(client)  # a worker started later, elsewhere, takes it
    worker.start()
    try:
        assert result.get(timeout=ANSWER_SECONDS)["pid"] == os.getpid()
    finally:
        assert worker.stop()
