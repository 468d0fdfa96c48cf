"""Run this directory's Node scripts: one JSON document in on stdin, one out on stdout.

Node 20 has the standard WebSocket only behind ``--experimental-websocket`` (it is on by
default from Node 22), so the flag is passed when this Node needs it.
"""

from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


@functools.cache
def websocket_flags() -> tuple[str, ...]:
    probe = subprocess.run(
        ["node", "-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"],
        capture_output=True, check=False,
    )
    return () if probe.returncode == 0 else ("--experimental-websocket",)


def run_script(script: str, payload: Any, timeout: float = 300.0) -> Any:
    """Run ``tests/frontend/<script>`` with ``payload``; its JSON output, or AssertionError
    with its stderr."""
    proc = subprocess.run(
        ["node", *websocket_flags(), str(HERE / script)],
        input=json.dumps(payload), capture_output=True, text=True, cwd=ROOT,
        timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"node {script} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)
