"""`seed_demo` on a replica with SQLite state: the chat canister installed and recorded,
the demo users, rooms and messages seeded once, and nothing added by later runs, also
after the replica is reopened from its state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from apps.chat.client import decode_reply, encode_call
from apps.chat.seed import DEMO_ROOMS, DEMO_USERS, demo_identities, demo_keys_path, seed_demo
from icframework.core import Principal
from icframework.replica.embedded import Replica

URL = "http://127.0.0.1:4943"


def query(replica: Replica, canister: Principal, method: str, *args: Any,
          sender: Principal | None = None) -> Any:
    _kind, arg = encode_call(method, *args)
    reply = replica.query(canister, method, arg, sender=sender or Principal.anonymous())
    return decode_reply(method, reply)


def test_seeding_is_idempotent(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path):
        with Replica.open(state) as replica:
            first = seed_demo(replica, URL, state, progress=None)
            again = seed_demo(replica, URL, state, progress=None)
        with Replica.open(state) as replica:
            reopened = seed_demo(replica, URL, state, progress=None)
            canister = first.canister_id
            rooms = query(replica, canister, "public_rooms", "", None, 100)
            general = query(replica, canister, "history", first.rooms["general"], None, 100)
            bob_rooms = query(replica, canister, "my_rooms", sender=first.users["bob"])

    assert first.canister == "created"
    assert first.added == [f"user @{h}" for h in DEMO_USERS] + [f"room #{r.name}"
                                                                 for r in DEMO_ROOMS]
    for later in (again, reopened):
        assert (later.canister, later.added) == ("unchanged", [])
        assert (later.canister_id, later.users, later.rooms) == (
            canister, first.users, first.rooms)
    ids = json.loads((tmp_path / ".icframework" / "canister_ids.json").read_text())
    assert ids == {"chat": canister.to_text()}

    assert sorted(r.name for r in rooms) == sorted(r.name for r in DEMO_ROOMS)
    assert all(r.member_count == len(DEMO_USERS) for r in rooms)
    assert sorted(m.room.name for m in bob_rooms) == sorted(r.name for r in DEMO_ROOMS)
    seeded = DEMO_ROOMS[0]
    assert [(m.author_handle, m.text) for m in general.messages] == list(seeded.messages)
    assert sum(r.count for m in general.messages for r in m.reactions) == len(seeded.reactions)

    keys = demo_keys_path(state)
    assert keys.stat().st_mode & 0o777 == 0o600
    users = demo_identities(state)
    assert {h: i.principal for h, i in users.items()} == first.users


def test_a_damaged_key_file_names_the_fix(tmp_path: Path) -> None:
    path = demo_keys_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text('{"alice": "not hex"}')
    with pytest.raises(ValueError, match=r"chat-users.json is not a JSON object .*delete it"):
        demo_identities(tmp_path)
