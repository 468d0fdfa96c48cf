"""What the HTTP benchmarks share: `runreplica`, a ``manage.py runreplica`` server to measure."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.agent.live_replica import ROOT, free_port, wait_until_serving


@contextlib.contextmanager
def runreplica(state_dir: Path, log: Path, *, project: Path = ROOT,
               command: Sequence[str] = (sys.executable, "manage.py"),
               startup_seconds: float = 60.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``<command> runreplica`` in ``project`` on a free port with its state in
    ``state_dir`` and its output in ``log``; yield its URL and process; stop it with
    SIGINT (a clean shutdown), killing it if it is still there after 30 s.

    ``command`` is ``manage.py`` under this interpreter, or a launcher in front of it
    (e.g. a profiler). Raises ``RuntimeError`` with its output if it does not answer
    within ``startup_seconds``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["runreplica", "--host", "127.0.0.1", "--port", str(port), "--state-dir",
            str(state_dir)]
    with log.open("wb") as output:
        process = subprocess.Popen([*command, *args], cwd=project, stdout=output,
                                   stderr=subprocess.STDOUT)
        try:
            wait_until_serving(process, url, log, timeout_seconds=startup_seconds)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
