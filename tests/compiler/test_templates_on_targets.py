"""The four templates' generated tests pass on every target: plain CPython, the local
replica's component, and the standard IC module (issue 21: both targets run the same
suites).

Each template is generated with ``manage.py startdapp`` into a temporary project, whose
tests then run in a pytest subprocess per target, exactly as a user runs them
(``ICFRAMEWORK_TEST_TARGET=ic pytest apps``). Builds use this checkout's caches
(``<repo>/.build``: the runtime, the IC toolchain and base, compiled modules), so after a
first build the IC run costs seconds per app; a cold IC build takes minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from icframework.compiler.app_build import TEMPLATES
from icframework.testing import BUILD_DIR_VARIABLE, ENVIRONMENT_VARIABLE
from tests.node import requires_node

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = "reads the ledger's stable structures"
"""The start of the reason a template test gives for running in plain CPython only."""

Outcomes = dict[str, str]
"""Test id (``<app>.tests.test_canister::<test>``) -> ``passed``, ``failed`` or the skip
reason."""


def run_generated_tests(project: Path, target: str) -> Outcomes:
    """Run the project's app tests on ``target`` in a subprocess; their outcomes."""
    report = project / f"report-{target}.xml"
    env = {name: value for name, value in os.environ.items()
           if name != "DJANGO_SETTINGS_MODULE"}
    env |= {ENVIRONMENT_VARIABLE: target, BUILD_DIR_VARIABLE: str(ROOT / ".build")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         f"--junitxml={report}", "apps"],
        cwd=project, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    assert proc.returncode == 0, f"{target}:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    outcomes: Outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname', '').removeprefix('apps.')}::{case.get('name')}"
        skipped = case.find("skipped")
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[name] = (
            "failed" if failed else "passed" if skipped is None
            else skipped.get("message", "skipped")
        )
    return outcomes


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project holding one app per template, as ``startdapp`` writes them."""
    root = tmp_path_factory.mktemp("templates")
    for template in TEMPLATES:
        call_command("startdapp", f"{template}_app", "--template", template,
                     "--directory", str(root / "apps"), stdout=StringIO())
    return root


@pytest.fixture(scope="module")
def on_local(project: Path) -> Outcomes:
    return run_generated_tests(project, "local")


def test_every_generated_test_passes_locally(on_local: Outcomes) -> None:
    assert set(on_local.values()) == {"passed"}
    for template in TEMPLATES:
        assert any(name.startswith(f"{template}_app.") for name in on_local), template


@pytest.mark.parametrize(
    "target", ["component", pytest.param("ic", marks=requires_node)],
)
def test_the_same_tests_pass_on_the_replica_targets(
    project: Path, on_local: Outcomes, target: str
) -> None:
    outcomes = run_generated_tests(project, target)
    assert outcomes.keys() == on_local.keys()
    skipped = {name: why for name, why in outcomes.items() if why != "passed"}
    assert all(why.startswith(LOCAL_ONLY) for why in skipped.values()), skipped
    for template in TEMPLATES:
        assert any(name.startswith(f"{template}_app.") and why == "passed"
                   for name, why in outcomes.items()), template
