"""``manage.py runreplica`` on a port another process holds: it says so before anything
else (no "running"), names the holder and a free port to use instead; ``--demo``'s help
names the seeders the project really runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from icframework.conf import get_setting
from tests.agent.live_replica import ROOT, free_port


def test_a_busy_port_is_refused_before_running_naming_the_holder_and_a_fix() -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = subprocess.run(
            [sys.executable, "manage.py", "runreplica", "--port", str(port)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "running" not in result.stdout
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"CommandError: port {port} on 127.0.0.1 is already in use by pid {os.getpid()} ("
    ), error
    assert "stop that process (a replica started by `make demo` in another shell?), or " \
        "serve on another port: manage.py runreplica --port " in error
    assert "Listen failure" not in result.stderr and "Traceback" not in result.stderr


def test_the_demo_help_names_the_configured_seeders() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "runreplica", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )
    help_text = " ".join(result.stdout.split())
    for seeder in get_setting("DEMO_SEEDERS"):
        assert seeder in help_text
    assert "the marketplace with its payment token, two shops and a faucet" in help_text
