"""A Celery app per test, on the embedded SQLite broker in the test's directory, with an
in-process worker consuming it; the default app is restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery import Celery, _state

from icframework.workers import InProcessWorker, celery_settings
from tests.workers import tasks  # noqa: F401  (registers the test tasks)


def make_app(directory: Path, broker_url: str | None = None, **extra: object) -> Celery:
    app = Celery("tests.workers", set_as_current=False)
    app.conf.update(celery_settings(directory, broker_url), task_acks_late=True,
                    task_serializer="json", result_serializer="json",
                    accept_content=["json"], **extra)
    return app


@pytest.fixture
def restore_default_app() -> Iterator[None]:
    before = _state.default_app
    yield
    _state.set_default_app(before)


@pytest.fixture
def embedded_worker(tmp_path: Path, restore_default_app: None) -> Iterator[InProcessWorker]:
    worker = InProcessWorker(make_app(tmp_path))
    worker.start()
    try:
        yield worker
    finally:
        assert worker.stop(), "the worker thread did not end"
