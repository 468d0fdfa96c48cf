"""``manage.py startdapp``, ``build`` and ``deploy``: scaffold, test, build and deploy an app."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_django.fixtures import Settings

from icframework.agent import Agent
from icframework.candid import NAT, decode, encode
from icframework.core import Principal


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


def browser_get(url: str) -> httpx.Response:
    """GET ``url`` as a browser would: ``*.localhost`` names loopback (RFC 6761), which
    this machine's resolver may not know."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.hostname.endswith(".localhost")
    return httpx.get(url.replace(parts.hostname, "127.0.0.1", 1),
                     headers={"Host": parts.netloc})


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


def test_scaffold_test_build_and_deploy_the_counter(project: Path, replica_url: str) -> None:
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
        rf"counter: ([\d,]+) bytes, module (0x[0-9a-f]{{64}}), built in [\d.]+ s, "
        rf"did {app}/counter\.did",
        built,
    )
    assert match, built
    assert (app / "counter.did").read_text() == (
        "service : {\n  get : () -> (nat) query;\n  increment : () -> (nat);\n}\n"
    )
    assert run("build", "counter").endswith(f"module {match[2]}, cached, did {app}/counter.did")

    url = replica_url
    port = url.rsplit(":", 1)[1]
    deployed = run("deploy", "counter", "--network", url).splitlines()
    first = re.fullmatch(
        r"counter: canister (\S+) \(created and installed, [\d,]+ bytes, module (0x\w+)\)",
        deployed[0],
    )
    assert first, deployed
    canister_id = first[1]
    # the page (urls.py), and no gateway URL: without http_request it answers 502
    assert deployed[1:] == [f"  page:    {url}/counter/"]
    gateway = f"http://{canister_id}.localhost:{port}/"
    assert browser_get(gateway).status_code == 502
    # one module hash: the SHA-256 of the module, as canister status shows it
    wasm = next((project / ".build" / "apps" / "counter").glob("*.wasm")).read_bytes()
    assert first[2] == match[2] == "0x" + hashlib.sha256(wasm).hexdigest()
    status = run("canister", "status", "counter", "--network", url).splitlines()
    assert status[2] == f"Module hash:        {first[2]}"
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

    (app / "urls.py").unlink()
    assert run("deploy", "counter", "--network", url).splitlines()[1:] == []


def test_deploy_refuses_an_upgrade_that_breaks_callers(project: Path,
                                                       replica_url: str) -> None:
    """Before: ``increment: () -> (nat)`` became ``(nat) -> (nat)`` silently, and every
    caller's ``increment()`` was then rejected."""
    run("startdapp", "counter", "--template", "counter")
    app = project / "apps" / "counter"
    url = replica_url
    net = ["--network", url]
    canister_id = run("deploy", "counter", *net).split()[2]
    source = (app / "canister.py").read_text()
    (app / "canister.py").write_text(source.replace(
        "def increment() -> nat:\n    count.set(count.get() + 1)",
        "def increment(step: nat) -> nat:\n    count.set(count.get() + step)"))
    with pytest.raises(CommandError) as refused:
        run("deploy", "counter", *net)
    assert str(refused.value) == (
        f"upgrading counter ({canister_id}) would break callers of its current interface "
        "(increment: () -> (nat) becomes (nat) -> (nat)); keep the old methods' types "
        "(adding methods, optional arguments and results is safe), or pass --yes to "
        "upgrade anyway"
    )
    assert run("call", "counter", "increment", *net) == "(1 : nat)"  # still the old one

    out, err = StringIO(), StringIO()
    call_command("deploy", "counter", "--yes", *net, stdout=out, stderr=err)
    assert out.getvalue().startswith(f"counter: canister {canister_id} (upgraded,")
    assert err.getvalue().splitlines()[-1] == (
        f"Warning: upgrading counter ({canister_id}) breaks callers of its current "
        "interface (increment: () -> (nat) becomes (nat) -> (nat)); upgrading anyway (--yes)"
    )
    assert run("call", "counter", "increment", "(5)", *net) == "(6 : nat)"

    (app / "canister.py").write_text(source.replace(
        "def increment() -> nat:", "def increment(step: nat | None) -> nat:"))
    assert "(upgraded," in run("deploy", "counter", *net)  # optional argument: safe


GATEWAY_APP = '''"""Serves its counter over HTTP."""

from dataclasses import dataclass

from icframework.sdk import nat16, query


@dataclass
class HttpRequest:
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class HttpResponse:
    status_code: nat16
    headers: list[tuple[str, str]]
    body: bytes


@query
def http_request(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, [("content-type", "text/plain")], b"served")
'''


def test_deploy_prints_the_gateway_url_of_a_canister_that_serves_http(
        project: Path, replica_url: str) -> None:
    app = project / "apps" / "site"
    app.mkdir(parents=True)
    (app / "canister.py").write_text(GATEWAY_APP)
    url = replica_url
    deployed = run("deploy", "site", "--network", url).splitlines()
    canister_id = deployed[0].split()[2]
    port = url.rsplit(":", 1)[1]
    assert deployed[1:] == [f"  gateway: http://{canister_id}.localhost:{port}/"]
    answer = browser_get(deployed[1].split()[1])
    assert (answer.status_code, answer.text) == (200, "served")
