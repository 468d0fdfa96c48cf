"""Scale-out: the same task runs on a worker consuming Redis (skipped when no Redis
answers on localhost). The worker identity: made once, owner-only, reused."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from icframework.identity import Ed25519Identity
from icframework.workers import (
    InProcessWorker,
    worker_identity,
    worker_pem_path,
    worker_principal,
)
from tests.workers.conftest import make_app
from tests.workers.tasks import WHERE

REDIS_URL = "redis://127.0.0.1:6379/15"
RESULT_SECONDS = 60  # a hang guard, not a performance bound


def redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.mark.skipif(not redis_answers(),
                    reason="no Redis answers on 127.0.0.1:6379 (start redis-server to run "
                    "the scale-out test)")
def test_the_same_task_runs_on_a_worker_consuming_redis(
    tmp_path: Path, restore_default_app: None
) -> None:
    queue = f"tests-workers-{uuid.uuid4().hex}"  # apart from other workers on database 15
    app = make_app(tmp_path, REDIS_URL, task_default_queue=queue)
    worker = InProcessWorker(app, concurrency=2)
    worker.start()
    try:
        answer = app.tasks[WHERE].apply_async((5,), queue=queue).get(timeout=RESULT_SECONDS)
    finally:
        assert worker.stop()
    assert answer["value"] == 10
    assert answer["pid"] == os.getpid()
    assert not (tmp_path / "broker.sqlite3").exists()  # nothing went through SQLite


def test_the_worker_identity_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    first = worker_identity(tmp_path)
    path = worker_pem_path(tmp_path)
    assert path == tmp_path / "worker.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert isinstance(first, Ed25519Identity)
    text = path.read_text()
    again = worker_identity(tmp_path)
    assert again.principal == first.principal
    assert path.read_text() == text
    assert worker_principal(tmp_path) == first.principal.to_text()
    assert first.principal != Ed25519Identity.generate().principal


def test_a_worker_key_others_may_read_is_refused_naming_the_fix(tmp_path: Path) -> None:
    worker_identity(tmp_path)
    path = worker_pem_path(tmp_path)
    path.chmod(0o644)
    with pytest.raises(ValueError, match=f"other users may read or change it .*chmod 600 {path}"):
        worker_identity(tmp_path)


def test_a_worker_file_that_is_not_a_key_is_refused(tmp_path: Path) -> None:
    path = worker_pem_path(tmp_path)
    path.write_text("not a key")
    path.chmod(0o600)
    with pytest.raises(ValueError, match="is not a PEM identity"):
        worker_identity(tmp_path)
