"""Every command, given bad input, exits 1 with one ``CommandError:`` line and no traceback.

Each command runs as a user runs it (``python manage.py ...`` in a subprocess) in its own
project directory (`tests.management.project_settings`), against a live replica named
by ``ICFRAMEWORK_NETWORK`` only. Before: ``deploy my_ledger`` without ``--arg`` printed
a traceback ending in ``CandidParseError``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.live_replica import ROOT


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]
    hello: str  # the deployed counter's canister id


def manage(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=project.env, capture_output=True,
        text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, replica_url: str) -> Iterator[Project]:
    """A project with ``hello`` deployed to the package's replica and ``my_ledger`` built."""
    root = tmp_path_factory.mktemp("project")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.management.project_settings",
           "ICFRAMEWORK_TEST_PROJECT": str(root), "ICFRAMEWORK_HOME": str(root / "home"),
           "DFX_CONFIG_ROOT": str(root / "dfxroot"), "ICFRAMEWORK_NETWORK": replica_url}
    setup = Project(root, env, "")
    for args in (("startdapp", "hello", "--template", "counter"),
                 ("startdapp", "my_ledger", "--template", "ledger"),
                 ("deploy", "hello"), ("build", "my_ledger")):
        done = manage(setup, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    broken = root / "apps" / "broken"
    broken.mkdir()
    (broken / "canister.py").write_text("import numpy\n")
    (root / "breaking.did").write_text(
        "service : { get : () -> (text) query; increment : (nat) -> (nat) }")
    ids = json.loads((root / ".icframework" / "canister_ids.json").read_text())
    yield Project(root, env, ids["hello"])


def bad_inputs(project: Project) -> list[tuple[str, ...]]:
    """At least one mistake per verb (and per canister and replica action)."""
    wasm = str(next((project.root / ".build" / "apps" / "hello").glob("*.wasm")))
    missing = str(project.root / "missing")
    return [
        ("identity", "use", "ghost"),
        ("identity", "export", "ghost"),
        ("identity", "import", "someone", missing + ".pem"),
        ("identity", "new", "bad/name"),
        ("canister", "create", "hello"),
        ("canister", "create", "--controller", "not-a-principal"),
        ("canister", "install", "hello", "--wasm", missing + ".wasm"),
        ("canister", "install", "hello", "--wasm", wasm, "--arg", "(1"),
        ("canister", "reinstall", "nameless", "--wasm", wasm),
        ("canister", "upgrade", "hello", "--wasm", wasm, "--candid",
         str(project.root / "breaking.did")),
        ("canister", "status", "nameless"),
        ("canister", "start", "hello", "--identity", "ghost"),
        ("canister", "stop", "hello", "--network", "somewhere"),
        ("canister", "delete", "hello"),
        ("canister", "topup", "hello", "--cycles", "-5"),
        ("canister", "id", "nameless"),
        ("call", "hello", "increment", "(5)"),
        ("call", "hello", "increment", "(5"),
        ("call", "hello", "nosuch"),
        ("call", "hello", "get", "--candid", missing + ".did"),
        ("deploy", "my_ledger"),
        ("deploy", "nosuch"),
        ("deploy", "hello", "--network", "http://127.0.0.1:9"),
        ("build", "broken"),
        ("replica", "info", "--sender", "ghost"),
        ("replica", "create", "--cycles", "-5"),
        ("replica", "install", "hello", missing + ".wasm"),
        ("replica", "status", "nameless"),
        ("replica", "call", project.hello, "increment"),
        ("startdapp", "my-app"),
        ("startdapp", "hello"),
        ("runreplica", "--port", "0"),
        ("chat", "--room", "general"),
        ("chat", "--room", "general", "--history", "0"),
        ("chat", "--room", "general", "--canister", "hello", "--demo-user", "zed"),
    ]


def test_no_command_prints_a_traceback(project: Project) -> None:
    inputs = bad_inputs(project)
    verbs = {args[0] for args in inputs}
    assert verbs == {"identity", "canister", "call", "deploy", "build", "replica",
                     "startdapp", "runreplica", "chat"}
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda args: manage(project, *args), inputs))
    failures = []
    for args, result in zip(inputs, results, strict=True):
        # build progress ("[build] ...") may come first; then one line saying what to do
        lines = [line for line in result.stderr.splitlines() if not line.startswith("[build]")]
        if (result.returncode != 1 or "Traceback" in result.stderr or len(lines) != 1
                or not lines[0].startswith("CommandError: ")):
            failures.append(f"manage.py {' '.join(args)}: exit {result.returncode}\n"
                            f"{result.stderr}")
    assert failures == [], "\n".join(failures)
    ids = json.loads((project.root / ".icframework" / "canister_ids.json").read_text())
    assert ids == {"hello": project.hello}  # the failed ledger deploy created nothing


def test_the_ledger_deploy_names_its_init_argument(project: Project) -> None:
    result = manage(project, "deploy", "my_ledger")
    did = project.root / "apps" / "my_ledger" / "my_ledger.did"
    assert result.stderr.splitlines()[-1] == (
        f"CommandError: --arg '()' does not fit the init argument types (LedgerArg) of {did}: "
        "line 1, column 2: expected 1 values, got 0: argument 1 of type LedgerArg is missing; "
        "pass them with --arg '(...)'"
    )
