"""``manage.py startdapp``, ``build`` and ``deploy``: scaffold, test, build and deploy an app."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from icframework.agent import Agent
from icframework.candid import NAT, decode, encode
from icframework.core import Principal
from tests.agent.live_replica import running_replica


@pytest.fixture
def project(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory and identity home."""
    settings.BASE_DIR = tmp_path
    monkeypatch.setenv("ICFRAMEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DFX_CONFIG_ROOT", str(tmp_path / "dfxroot"))
    return tmp_path


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


def test_startdapp_refuses_bad_names_and_existing_apps(project: Path) -> None:
    with pytest.raises(CommandError, match="'my-app' is not a valid app name"):
        run("startdapp", "my-app", "--template", "counter")
    run("startdapp", "blog", "--template", "blank")
    with pytest.raises(CommandError, match="already exists: choose another name"):
        run("startdapp", "blog", "--template", "todo")
    with pytest.raises(CommandError, match="no app 'nothing'"):
        run("build", "nothing")


def test_build_without_apps_explains_how_to_make_one(project: Path) -> None:
    with pytest.raises(CommandError, match="startdapp NAME --template counter"):
        run("build")


def test_build_reports_errors_with_file_and_line(project: Path) -> None:
    run("startdapp", "broken", "--template", "blank")
    (project / "apps" / "broken" / "canister.py").write_text("import numpy\n")
    with pytest.raises(CommandError, match=r"cannot build broken: .*canister\.py:1: 'numpy'"):
        run("build", "broken")


def test_scaffold_test_build_and_deploy_the_counter(project: Path) -> None:
    created = run("startdapp", "counter", "--template", "counter")
    app = project / "apps" / "counter"
    assert created.startswith(f"Created {app} from the counter template.")

    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(app / "tests")],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "3 passed" in tests.stdout

    built = run("build")
    match = re.fullmatch(
        rf"counter: ([\d,]+) bytes, hash ([0-9a-f]{{8}}), built in [\d.]+ s, "
        rf"did {app}/counter\.did",
        built,
    )
    assert match, built
    assert (app / "counter.did").read_text() == (
        "service : {\n  get : () -> (nat) query;\n  increment : () -> (nat);\n}\n"
    )
    assert run("build", "counter").endswith(f"hash {match[2]}, cached, did {app}/counter.did")

    (project / "replica").mkdir()
    with running_replica(project / "replica" / "state") as url:
        port = url.rsplit(":", 1)[1]
        deployed = run("deploy", "counter", "--network", url).splitlines()
        first = re.fullmatch(r"counter: canister (\S+) \(created and installed, .*\)", deployed[0])
        assert first, deployed
        canister_id = first[1]
        assert [f"{url}/counter/"] == [
            line.split()[1] for line in deployed[1:] if line.split()[0] == "page:"
        ], deployed
        assert f"{canister_id}.localhost:{port}" not in "".join(deployed)  # no http_request
        ids = json.loads((project / ".icframework" / "canister_ids.json").read_text())
        assert ids == {"counter": canister_id}
        assert run("canister", "id", "counter") == canister_id

        agent = Agent(url, fetch_root_key=True)
        canister = Principal.from_text(canister_id)
        empty = encode([], [])
        assert decode(agent.update(canister, "increment", empty), [NAT]) == (1,)
        assert decode(agent.update(canister, "increment", empty), [NAT]) == (2,)
        assert decode(agent.query(canister, "get", empty), [NAT]) == (2,)

        assert run("deploy", "counter", "--network", url).startswith(
            f"counter: canister {canister_id} (unchanged,"
        )
        source = (app / "canister.py").read_text()
        reset = "\n\n@update\ndef reset() -> None:\n    count.set(0)\n"
        (app / "canister.py").write_text(source + reset)
        assert run("deploy", "counter", "--network", url).startswith(
            f"counter: canister {canister_id} (upgraded,"
        )
        assert decode(agent.query(canister, "get", empty), [NAT]) == (2,)
        agent.update(canister, "reset", empty)
        assert decode(agent.query(canister, "get", empty), [NAT]) == (0,)
