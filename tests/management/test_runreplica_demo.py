"""``manage.py runreplica --demo`` (what ``make demo`` runs) in a temporary project:
the chat app is deployed and seeded, the chat page's URL printed, a seeded user can
chat from the terminal, and a restart on the same state seeds nothing twice."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from apps.chat.client import ChatClient
from apps.chat.seed import DEMO_ROOMS
from icframework.core import Principal
from tests.agent.live_replica import ROOT, free_port

SETTINGS = '''\
from pathlib import Path

from config.settings import *  # noqa: F403

BASE_DIR = Path({root!r})
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3",
                           "NAME": BASE_DIR / "django.sqlite3"}}}}
ICFRAMEWORK = {{**ICFRAMEWORK, "STATE_DIR": str(BASE_DIR / "state")}}  # noqa: F405
'''


def project(root: Path) -> list[str]:
    """A project whose records and state live under ``root``: the manage.py options."""
    (root / "demo_project_settings.py").write_text(SETTINGS.format(root=str(root)))
    return ["--settings", "demo_project_settings", "--pythonpath", str(root)]


@contextmanager
def demo_server(root: Path, options: list[str]) -> Iterator[tuple[str, str]]:
    """``runreplica --demo`` on a free port: (URL, what it printed before serving)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = root / f"runreplica-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runreplica", "--demo", "--port", str(port), *options],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/api/v2/status", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.1)
            yield url, log_path.read_text()
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_the_demo_starts_with_the_chat_seeded_once(tmp_path: Path) -> None:
    options = project(tmp_path)
    with demo_server(tmp_path, options) as (url, printed):
        assert f"  chat:      {url}/chat/" in printed
        assert "(created; added user @alice, user @bob, user @carol, room #general" in printed
        assert "demo users @alice, @bob, @carol in #general, #python, #random" in printed
        canister = Principal.from_text(printed.split("canister ")[1].split()[0])
        assert canister.to_text() in (tmp_path / ".icframework" / "canister_ids.json").read_text()
        with ChatClient.connect(url, canister) as anonymous:
            assert sorted(r.name for r in anonymous.public_rooms()) == sorted(
                r.name for r in DEMO_ROOMS)
            general = next(r for r in anonymous.public_rooms() if r.name == "general")
            seeded = [m.text for m in anonymous.history(int(general.id), None, 100).messages]
        assert seeded == [text for _, text in DEMO_ROOMS[0].messages]

        # a seeded user in the terminal, with the key the demo generated
        terminal = subprocess.run(
            [sys.executable, "manage.py", "chat", "--room", "general", "--demo-user", "bob",
             "--url", url, *options],
            cwd=ROOT, input="hello from the terminal\n/quit\n", capture_output=True,
            text=True, timeout=60, check=False,
        )
        assert terminal.returncode == 0, terminal.stdout + terminal.stderr
        assert terminal.stdout.startswith(f"@bob opened general (room {general.id} on canister "
                                          f"{canister.to_text()})")
        assert "@alice: Welcome to the **icframework** chat demo!  [👋 1, 🎉 1]" in terminal.stdout

    with demo_server(tmp_path, options) as (url, printed):
        assert f"canister {canister.to_text()} (unchanged; nothing new to seed)" in printed
        with ChatClient.connect(url, canister) as anonymous:
            rooms = anonymous.public_rooms()
            assert sorted(r.name for r in rooms) == sorted(r.name for r in DEMO_ROOMS)
            general = next(r for r in rooms if r.name == "general")
            texts = [m.text for m in anonymous.history(int(general.id), None, 100).messages]
        assert texts == [*seeded, "hello from the terminal"]
        assert general.member_count == 3
