"""Start ``manage.py runreplica`` as a subprocess for integration tests and stop it after."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_replica(state_dir: Path, *, startup_seconds: float = 30.0) -> Iterator[str]:
    """Run a replica on a free port with its state in ``state_dir``; yield its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (state_dir.parent / f"runreplica-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "runreplica",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"runreplica exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{url}/api/v2/status", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"runreplica did not answer within {startup_seconds} s")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
