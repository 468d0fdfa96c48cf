"""The in-process worker over the embedded SQLite broker: tasks go through the queue to
a worker thread (never eager), failing tasks are retried, and the broker is chosen from
the settings as documented."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from celery import Celery
from django.test import override_settings

from icframework.workers import (
    InProcessWorker,
    celery_settings,
    use_state_dir_broker,
    uses_embedded_broker,
)
from tests.workers.tasks import FLAKY, WHERE

RESULT_SECONDS = 60  # a hang guard, not a performance bound


def test_a_delayed_task_runs_in_the_worker_thread_through_the_sqlite_queue(
    embedded_worker: InProcessWorker, tmp_path: Path
) -> None:
    app = embedded_worker.app
    assert not app.conf.task_always_eager
    assert uses_embedded_broker(app)
    result = app.tasks[WHERE].delay(21)
    answer = result.get(timeout=RESULT_SECONDS)
    assert answer["value"] == 42
    assert answer["pid"] == os.getpid()
    assert answer["thread"] != threading.current_thread().name
    assert answer["thread"].startswith("celery-task-")  # the worker's threads pool
    # the message went through the broker's tables, the result through the backend's
    with sqlite3.connect(tmp_path / "broker.sqlite3") as broker:
        queues = {name for (name,) in broker.execute("SELECT name FROM kombu_queue")}
    assert "celery" in queues
    with sqlite3.connect(tmp_path / "celery-results.sqlite3") as results:
        stored = results.execute("SELECT status FROM celery_taskmeta WHERE task_id = ?",
                                 (result.id,)).fetchall()
    assert stored == [("SUCCESS",)]


def test_a_task_that_raises_is_retried_until_it_succeeds(
    embedded_worker: InProcessWorker, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts.txt"
    flaky = embedded_worker.app.tasks[FLAKY]
    answer = flaky.delay(str(attempts), 2).get(timeout=RESULT_SECONDS)
    assert answer == {"attempts": 3, "retries": 2}
    assert attempts.read_text().splitlines() == ["0", "1", "2"]


def test_a_task_that_keeps_failing_ends_failed_after_its_retries(
    embedded_worker: InProcessWorker, tmp_path: Path
) -> None:
    attempts = tmp_path / "attempts.txt"
    result = embedded_worker.app.tasks[FLAKY].delay(str(attempts), 99)
    with pytest.raises(Exception, match="attempt 6 of 100 fails on purpose"):
        result.get(timeout=RESULT_SECONDS)
    assert result.status == "FAILURE"
    assert len(attempts.read_text().splitlines()) == 6  # the first run and 5 retries


def test_stopping_twice_and_starting_again_work(tmp_path: Path,
                                               restore_default_app: None) -> None:
    from tests.workers.conftest import make_app

    worker = InProcessWorker(make_app(tmp_path))
    worker.start()
    assert worker.running
    assert worker.stop()
    assert worker.stop()
    worker.start()
    assert worker.app.tasks[WHERE].delay(1).get(timeout=RESULT_SECONDS)["value"] == 2
    assert worker.stop()
    assert not worker.running


def test_without_a_broker_url_the_app_queues_under_the_state_directory(
    tmp_path: Path,
) -> None:
    app = Celery("unconfigured", set_as_current=False)
    app.conf.update(broker_url="")
    use_state_dir_broker(app)
    with override_settings(ICFRAMEWORK={"STATE_DIR": str(tmp_path)}):
        assert app.conf.broker_url == f"sqla+sqlite:///{tmp_path}/broker.sqlite3"
    assert app.conf.result_backend == f"db+sqlite:///{tmp_path}/celery-results.sqlite3"
    assert uses_embedded_broker(app)


def test_a_named_broker_is_used_unchanged_with_results_beside_it(tmp_path: Path) -> None:
    app = Celery("scale-out", set_as_current=False)
    app.conf.update(broker_url="redis://127.0.0.1:6379/3")
    use_state_dir_broker(app)
    assert app.conf.broker_url == "redis://127.0.0.1:6379/3"
    assert app.conf.result_backend == "redis://127.0.0.1:6379/3"
    assert not uses_embedded_broker(app)
    assert celery_settings(tmp_path, "amqp://guest@localhost//")["result_backend"] == "rpc://"


def test_a_broker_of_another_kind_is_refused_naming_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'memory://' is neither Redis .* nor RabbitMQ"):
        celery_settings(tmp_path, "memory://")


def test_the_project_settings_never_run_tasks_eagerly() -> None:
    from django.conf import settings

    assert not hasattr(settings, "CELERY_TASK_ALWAYS_EAGER")
    from config.celery import app

    assert not app.conf.task_always_eager
    assert app.conf.task_acks_late
