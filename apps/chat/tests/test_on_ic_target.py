"""The chat canister's own tests on the IC target, so CI runs them on both targets.

The pure-canister modules (`MODULES`) run again in a pytest subprocess with
``ICFRAMEWORK_TEST_TARGET=ic``: the canister built as a standard IC module
(docs/ic-target.md) and installed on the embedded replica, each test on a fresh
canister. The only tests skipped there are those about published events (local-replica
only) and those that read or patch the canister's Python module in this process.
The browser, client and CLI tests drive a served canister and stay on the local target.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from icframework.testing import ENVIRONMENT_VARIABLE, test_target
from tests.node import requires_node

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parents[2]
MODULES = (
    "test_canister.py",
    "test_polls.py",
    "test_threads.py",
    "test_receipts.py",
    "test_schedule.py",
    "test_disappearing.py",
)
EXPECTED_SKIPS = (
    "events are local-replica-only",
    "reads or changes the canister's Python module",
    "installs with raw argument bytes",
)
"""What a test skipped on the IC target may give as its reason (the start of it)."""

pytestmark = [
    requires_node,  # the IC build merges its WASI shim with binaryen's wasm-merge
    pytest.mark.skipif(test_target() == "ic", reason="this run is on the IC target already"),
]


def test_the_chat_canister_tests_pass_on_the_ic_target(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", *(str(TESTS / module) for module in MODULES)],
        cwd=ROOT,
        env={**os.environ, ENVIRONMENT_VARIABLE: "ic"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    skips = {f"{case.get('classname')}::{case.get('name')}": skip.get("message", "")
             for case in suite.iter("testcase") for skip in case.iter("skipped")}
    assert {name: reason for name, reason in skips.items()
            if not reason.startswith(EXPECTED_SKIPS)} == {}
    assert int(suite.get("tests", "0")) - len(skips) > len(skips)  # most tests run there
