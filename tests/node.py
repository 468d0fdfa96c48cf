"""Run Node.js scripts from tests: third-party JavaScript (agent-js, candid) as an oracle.

A script reads one JSON document on stdin and writes one JSON document on stdout.
Binary data crosses as hex strings. Tests that use this carry `requires_node`: they are
skipped with a clear reason only when ``node`` or ``node_modules`` is missing, which
`make test` never allows (it runs ``npm ci`` first).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JS_DIR = ROOT / "tests" / "js"


def node_available() -> bool:
    return shutil.which("node") is not None and (ROOT / "node_modules" / "@dfinity").is_dir()


requires_node = pytest.mark.skipif(
    not node_available(), reason="needs node and `npm ci` (make test does both)"
)
"""Mark a test, or a module via ``pytestmark = requires_node``, as needing Node.js."""


def run_node(script: str, payload: Any, timeout: float = 120.0) -> Any:
    """Run ``tests/js/<script>`` with ``payload`` as JSON on stdin; return its JSON output."""
    proc = subprocess.run(
        ["node", str(JS_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"node {script} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)

