"""Start ``manage.py runreplica`` as a subprocess for integration tests and stop it after."""

from __future__ import annotations

import os
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


def wait_until_serving(
    process: subprocess.Popen[bytes], url: str, log: Path, *, timeout_seconds: float = 120.0
) -> None:
    """Return once the replica ``process`` answers ``GET {url}/api/v2/status`` with 200.

    Raises ``RuntimeError`` with the process's output (``log``) if it exits first or
    does not answer within ``timeout_seconds``.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"runreplica exited with {process.returncode}; its output ({log}):\n"
                f"{log.read_text(errors='replace')}"
            )
        try:
            if httpx.get(f"{url}/api/v2/status", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"runreplica did not answer within {timeout_seconds} s; its output ({log}):\n"
                f"{log.read_text(errors='replace')}"
            )
        time.sleep(0.1)


@contextmanager
def running_replica(state_dir: Path, *, startup_seconds: float = 30.0,
                    settings_module: str | None = None) -> Iterator[str]:
    """Run a replica on a free port with its state in ``state_dir``; yield its URL.

    ``settings_module`` replaces ``config.settings`` (DJANGO_SETTINGS_MODULE), e.g. a
    test module that lowers a limit.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = state_dir.parent / f"runreplica-{port}.log"
    log = log_path.open("wb")
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
        env={**os.environ, "DJANGO_SETTINGS_MODULE": settings_module or "config.settings"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_serving(process, url, log_path, timeout_seconds=startup_seconds)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
