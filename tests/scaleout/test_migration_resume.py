"""An online migration whose destination writer is not running waits in its phase with
the canister stopped (calls to it refused with the IC's reject), says which writer it
waits for, and finishes when that writer starts and the command runs again."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from icframework.scaleout import ClusterConfig
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import (
    ROOT,
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    counter_value,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services


def _migrate(procs: ClusterProcesses, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), "cluster", "migrate",
                           *args], cwd=ROOT, env=procs.env, capture_output=True, text=True,
                          timeout=WAIT_S * 2)


def test_a_migration_waits_for_the_destination_writer_and_resumes(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, app1, app2 = names
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            procs.start_writer(app1, f"{app1}-w1")
            client = Client(config, answers)
            counter = client.create_canister(app1, 1)
            client.install(app1, counter, wat_wasm("counter"))
            assert counter_value(client.update(app1, counter, "inc")) == 1
            assert counter_value(client.update(app1, counter, "inc")) == 2

            waited = _migrate(procs, counter.to_text(), "--to", app2, "--timeout", "3")
            assert waited.returncode != 0
            assert "phase 'stopped'" in waited.stderr, waited.stderr
            assert f"runsubnet {app2}" in waited.stderr
            # Stopped for the move: a call is refused with the IC's reject.
            _body, request_id = client.send(app1, counter, "inc", b"DIDL\x00\x00")
            refused = answers.wait(request_id)
            assert refused["outcome"] == "refused"
            assert b"stopped" in base64.b64decode(refused["body_b64"])

            procs.start_writer(app2, f"{app2}-w1")
            done = _migrate(procs, counter.to_text(), "--to", app2)
            assert done.returncode == 0, done.stderr
            assert f"moved {counter.to_text()} from {app1} to {app2}" in done.stdout
            # The state came along; the reply's certificate verifies for the canister
            # under app2's re-signed delegation.
            assert counter_value(client.update(app2, counter, "inc")) == 3
            # A call still sent to app1 is forwarded to app2 and answered from there.
            assert counter_value(client.update(app1, counter, "inc")) == 4

            # Asking for the finished move again says it is done; an unknown subnet is named.
            again = _migrate(procs, counter.to_text(), "--to", app2)
            assert again.returncode == 0 and f"from {app1} to {app2}" in again.stdout
            missing = _migrate(procs, counter.to_text(), "--to", "nowhere")
            assert missing.returncode != 0 and "nowhere" in missing.stderr
    finally:
        answers.close()
