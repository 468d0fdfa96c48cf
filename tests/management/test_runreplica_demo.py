"""``manage.py runreplica --demo`` (what ``make demo`` runs) in a temporary project:
the chat app is deployed and seeded, the chat page's URL printed, a seeded user can
chat from the terminal, and a restart on the same state seeds nothing twice; the demo's
canisters are the local admin's alone, also after repairing an older state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from apps.chat.client import ChatClient
from apps.chat.seed import DEMO_ROOMS
from apps.chat.tests.test_seed_control import old_style_chat
from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.core import Principal
from icframework.demo import REPAIRED
from icframework.identity import AnonymousIdentity, load_pem
from icframework.replica.embedded import Replica
from tests.agent.live_replica import ROOT, served_project
from tests.demo_server import share_build_caches
from tests.replica.wat_counter import counter_wasm


def test_the_demo_starts_with_the_chat_seeded_once(tmp_path: Path) -> None:
    share_build_caches(tmp_path)  # a new state still; the modules and pictures built before
    with served_project(tmp_path, demo=True) as served:
        url, printed = served.url, served.printed
        assert f"  chat:      {url}/chat/" in printed
        assert "(created; added user @alice, user @bob, user @carol, room #general" in printed
        assert "demo users @alice, @bob, @carol in #general, #python, #random" in printed
        # A new state directory and a seeded one are estimated apart (seconds vs. a hundredth).
        assert "apps.chat.seed.run_demo: deploying and seeding (about 1 s on a new state" in printed
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
             "--network", url, *served.options],
            cwd=ROOT, input="hello from the terminal\n/quit\n", capture_output=True,
            text=True, timeout=60, check=False,
        )
        assert terminal.returncode == 0, terminal.stdout + terminal.stderr
        assert terminal.stdout.startswith(f"@bob opened general (room {general.id} on canister "
                                          f"{canister.to_text()})")
        assert "@alice: Welcome to the **icframework** chat demo!  [👋 1, 🎉 1]" in terminal.stdout

    with served_project(tmp_path, demo=True) as served:
        url, printed = served.url, served.printed
        assert f"canister {canister.to_text()} (unchanged; nothing new to seed)" in printed
        assert "apps.chat.seed.run_demo: checking what is seeded (about 1 s on a seeded" in printed
        with ChatClient.connect(url, canister) as anonymous:
            rooms = anonymous.public_rooms()
            assert sorted(r.name for r in rooms) == sorted(r.name for r in DEMO_ROOMS)
            general = next(r for r in rooms if r.name == "general")
            texts = [m.text for m in anonymous.history(int(general.id), None, 100).messages]
        assert texts == [*seeded, "hello from the terminal"]
        assert general.member_count == 3


def test_the_demo_takes_anonymous_control_away_and_keeps_it(tmp_path: Path) -> None:
    """Over the HTTP interface: a state an older version left (the chat canister
    controlled by the anonymous principal) is repaired on the next ``--demo`` start, and
    then no demo canister can be stopped, reinstalled or deleted by anyone without the
    admin's key, while the admin (``<state dir>/admin.pem``) can manage them."""
    with override_settings(BASE_DIR=tmp_path), Replica.open(tmp_path / "state") as replica:
        chat = old_style_chat(replica, "http://127.0.0.1")
    with served_project(tmp_path, demo=True) as served:
        url, printed = served.url, served.printed
        assert f"  chat:      {url}/chat/" in printed
        assert f"canister {chat.to_text()} (unchanged; {REPAIRED}; added user @alice" in printed
        admin_pem = tmp_path / "state" / "admin.pem"
        admin = load_pem(admin_pem.read_text())
        assert f"controller: the demo admin {admin.principal.to_text()} ({admin_pem})" in printed
        ids = json.loads((tmp_path / ".icframework" / "canister_ids.json").read_text())
        canisters = [Principal.from_text(ids[name])
                     for name in ("chat", "marketplace", "marketplace_token")]
        anyone = ManagementCanister(Agent(url, identity=AnonymousIdentity(), fetch_root_key=True))
        owner = ManagementCanister(Agent(url, identity=admin, fetch_root_key=True))
        for canister in canisters:
            assert owner.canister_status(canister).controllers == (admin.principal,)
            for attempt in (anyone.stop_canister, anyone.delete_canister,
                            lambda c: anyone.install_code(c, counter_wasm(), mode="reinstall")):
                with pytest.raises(RejectError) as info:
                    attempt(canister)
                assert info.value.error_code == "IC0512"
                assert (f"Only controllers of canister {canister.to_text()} can call ic00 method"
                        in info.value.reject_message)
            assert owner.canister_status(canister).status == "running"
