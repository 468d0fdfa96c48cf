"""The README's first steps, run verbatim on a fresh copy of the project.

Every fenced block preceded by ``<!-- readme-test -->`` is run as it stands: a ``sh``
block line by line (each with bash, in the project directory), a ``python`` block as
one script. A comment ending in ``prints TEXT`` says what the line's output contains,
and is checked. The project is a copy of ``manage.py``, ``config/`` and ``apps/`` in a
temporary directory (its ``.venv`` and runtime cache link to this checkout's), with
its own identity home; ``runreplica`` serves it on a free port, which the commands find
through ``ICFRAMEWORK_NETWORK``, so nothing is left in the repository. Afterwards the
replica is restarted, as the README says, and the new app's page is checked at
``/hello/``. The last tests check docs/events.md's account of the socket proof against
`icframework.protocol.socket_auth` and run docs/chat.md's event decoding snippet.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from icframework.core import Principal
from icframework.protocol.socket_auth import NONCE_BYTES, SOCKET_DOMAIN, challenge_message
from tests.agent.live_replica import ROOT, free_port, wait_until_serving

MARK = "<!-- readme-test -->"
BLOCK = re.compile(re.escape(MARK) + r"\s*```(\w+)\n(.*?)```", re.DOTALL)
PRINTS = re.compile(r"#.*\bprints (.+?)\s*$")
STARTUP_SECONDS = 120.0  # a cold runtime cache builds and compiles first


def marked_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each block marked `MARK`, in order."""
    return [(lang, code) for lang, code in BLOCK.findall(text)]


def expected_output(line: str) -> str | None:
    """What a line's ``# ... prints TEXT`` comment says it prints, if it has one."""
    match = PRINTS.search(line)
    return match[1] if match else None


def copy_project(root: Path) -> Path:
    """A fresh project under ``root``: manage.py, config/ and apps/ as in a clone, with
    links to this checkout's .venv and runtime cache."""
    project = root / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copy2(ROOT / "manage.py", project / "manage.py")
    for directory in ("config", "apps"):
        shutil.copytree(ROOT / directory, project / directory, ignore=ignore)
    (project / ".venv").symlink_to(ROOT / ".venv")
    (ROOT / ".build" / "runtime").mkdir(parents=True, exist_ok=True)
    (project / ".build").mkdir()
    (project / ".build" / "runtime").symlink_to(ROOT / ".build" / "runtime")
    return project


@contextmanager
def runreplica(project: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """``.venv/bin/python manage.py runreplica --port PORT`` in ``project``; its URL."""
    url = f"http://127.0.0.1:{port}"
    log_path = project.parent / f"runreplica-{port}-{len(list(project.parent.glob('*.log')))}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [".venv/bin/python", "manage.py", "runreplica", "--port", str(port)],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_until_serving(process, url, log_path, timeout_seconds=STARTUP_SECONDS)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture
def readme() -> list[tuple[str, str]]:
    blocks = marked_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert [lang for lang, _ in blocks] == ["sh", "python"], blocks
    return blocks


def test_the_first_steps_work_verbatim(tmp_path: Path, readme: list[tuple[str, str]]) -> None:
    project = copy_project(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SETTINGS_MODULE", "ICFRAMEWORK_STATE_DIR", "VIRTUAL_ENV")}
    env |= {
        "ICFRAMEWORK_NETWORK": f"http://127.0.0.1:{port}",
        "ICFRAMEWORK_HOME": str(tmp_path / "home"),
        "DFX_CONFIG_ROOT": str(tmp_path / "dfx"),
    }
    (_, shell), (_, python) = readme
    checked = 0
    with runreplica(project, port, env) as url:
        for line in shell.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            result = subprocess.run(["bash", "-c", line], cwd=project, env=env,
                                    capture_output=True, text=True, timeout=300, check=False)
            output = result.stdout + result.stderr
            assert result.returncode == 0, f"{line}\n{output}"
            expected = expected_output(line)
            if expected is not None:
                assert expected in output, f"{line}\nexpected {expected!r} in:\n{output}"
                checked += 1
        result = subprocess.run([".venv/bin/python", "-c", python], cwd=project, env=env,
                                capture_output=True, text=True, timeout=300, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        printed = result.stdout.splitlines()
        wanted = [e for e in map(expected_output, python.splitlines()) if e is not None]
        assert printed == wanted, (printed, wanted)
        checked += len(wanted)
    assert checked == 8
    assert not (ROOT / "apps" / "hello").exists()

    canister_id = (project / ".icframework" / "canister_ids.json").read_text()
    with runreplica(project, port, env) as url:  # "restart runreplica": the page is served
        page = httpx.get(f"{url}/hello/", timeout=30)
        assert page.status_code == 200, page.text
        shown = re.search(r'<code id="canister-id">([a-z0-9-]+)</code>', page.text)
        assert shown is not None and f'"hello": "{shown[1]}"' in canister_id, page.text
        assert "increment : () -&gt; (nat);" in page.text
        assert 'href="/static/icframework/design.css"' in page.text
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        did = httpx.get(f"{url}/hello/hello.did", timeout=30)
        assert did.text == (project / "apps" / "hello" / "hello.did").read_text()


def test_blocks_and_expectations_are_read_as_documented() -> None:
    text = f"x\n{MARK}\n```sh\nls   # lists; prints a b\n```\n```sh\nnot tested\n```\n"
    assert marked_blocks(text) == [("sh", "ls   # lists; prints a b\n")]
    assert expected_output("ls   # lists; prints a b") == "a b"
    assert expected_output("ls   # lists") is None


def test_events_doc_states_what_the_socket_proof_signs() -> None:
    """docs/events.md: the proof signs the canister id's raw bytes (not its text)."""
    doc = " ".join((ROOT / "docs" / "events.md").read_text(encoding="utf-8").split())
    assert ('"\\x17icframework-socket-auth" ‖ len(raw canister id) as one byte ‖ raw '
            'canister id ‖ challenge') in doc
    assert "the canister id's raw bytes (the principal's binary form" in doc
    canister = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
    nonce = bytes(range(NONCE_BYTES))
    assert SOCKET_DOMAIN == b"\x17icframework-socket-auth"
    assert challenge_message(canister, nonce) == (
        SOCKET_DOMAIN + bytes([len(canister.raw)]) + canister.raw + nonce
    )
    assert len(canister.raw) == 10 and canister.raw != canister.to_text().encode()


def test_the_chat_doc_decodes_an_event_frame() -> None:
    """docs/chat.md's client snippet runs as written on a frame the canister would send."""
    from apps.chat.canister.events import ChatEvent, TypingEvent
    from icframework.candid import encode
    from icframework.sdk.types import TypeMapper

    doc = (ROOT / "docs" / "chat.md").read_text(encoding="utf-8")
    snippet = doc.split("a Python client decodes an `event` frame", 1)[1]
    code = snippet.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/chat.md", "exec"), namespace)
    info = TypeMapper().info(ChatEvent)
    typing = ChatEvent(typing=TypingEvent(7, Principal.anonymous(), "alice"))
    wire = info.to_wire(typing) if info.to_wire is not None else typing
    value = base64.b64encode(encode([info.candid], [wire])).decode()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        namespace["on_event"]({"op": "event", "topic": "room:7", "value": value})  # type: ignore[operator]
    assert printed.getvalue().startswith("room:7 typing TypingEvent(room_id=7, ")
