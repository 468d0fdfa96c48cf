"""Start ``manage.py runreplica`` as a subprocess for integration tests and stop it after.

`running_replica` serves this project with its state in a given directory;
`served_project` serves a scratch project (its own settings module, deploy record,
state and identities under one directory, see `project_options`), with ``--demo`` or
without, and `ServedProject.deploy` deploys an app into it as a developer would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from unittest import mock

import httpx
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent.parent

# A scratch project's settings: this project's, with the records and state under ``root``.
PROJECT_SETTINGS = '''\
from pathlib import Path

from config.settings import *  # noqa: F403

BASE_DIR = Path({root!r})
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                           "NAME": BASE_DIR / "django.sqlite3"}}}}
ICFRAMEWORK = {{**ICFRAMEWORK, "STATE_DIR": str(BASE_DIR / "state")}}  # noqa: F405
'''


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
        stop(process)
        log.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and wait for it; kill it if it is still there after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def project_options(root: Path) -> list[str]:
    """A project whose records and state live under ``root``: the manage.py options.

    Writes ``root/project_settings.py`` (`PROJECT_SETTINGS`): ``BASE_DIR`` (where
    the deploy record is kept) is ``root``, the state directory ``root/state``.
    """
    (root / "project_settings.py").write_text(PROJECT_SETTINGS.format(root=str(root)))
    return ["--settings", "project_settings", "--pythonpath", str(root)]


@dataclass(frozen=True)
class ServedProject:
    """A ``runreplica`` serving the scratch project under ``root``."""

    url: str
    root: Path
    options: list[str]  # the manage.py options that select the project (`project_options`)
    printed: str  # what runreplica printed before it answered

    def deploy(self, app: Path) -> str:
        """``manage.py deploy <app> --network <url>`` in this project, with its own
        identities (``root/home``, ``root/dfxroot``); what it printed."""
        printed = StringIO()
        identities = {"ICFRAMEWORK_HOME": str(self.root / "home"),
                      "DFX_CONFIG_ROOT": str(self.root / "dfxroot")}
        with mock.patch.dict(os.environ, identities), override_settings(BASE_DIR=self.root):
            call_command("deploy", str(app), "--network", self.url, stdout=printed,
                         stderr=StringIO())
        return printed.getvalue()


@contextmanager
def served_project(root: Path, *, demo: bool,
                   startup_seconds: float = 120.0) -> Iterator[ServedProject]:
    """``manage.py runreplica`` (with ``--demo``: the apps deployed and seeded) on a free
    port, serving the scratch project under ``root`` (`project_options`) with its
    identities in ``root/home``; stopped after.

    Raises ``RuntimeError`` with its output (``root/runreplica-<port>.log``) if it does
    not answer within ``startup_seconds``.
    """
    options = project_options(root)
    if demo:  # the apps' builds, pictures and clips made once per checkout, not per test
        from tests.demo_server import share_build_caches

        share_build_caches(root)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / f"runreplica-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runreplica", *(["--demo"] if demo else []),
             "--port", str(port), *options],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "ICFRAMEWORK_HOME": str(root / "home")},
        )
    try:
        wait_until_serving(process, url, log, timeout_seconds=startup_seconds)
        yield ServedProject(url, root, options, log.read_text(errors="replace"))
    finally:
        stop(process)
