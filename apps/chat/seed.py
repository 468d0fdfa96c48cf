"""Demo data for the chat app: the chat canister on the embedded replica, with demo
users, rooms and a few messages — what ``manage.py runreplica --demo`` starts with.

How it works: `seed_demo` runs in the server process on the replica it is about to
serve, before the HTTP interface opens, with in-process calls (the replica's own
ingress path, as the HTTP interface uses, minus the envelope signatures: the sender is
the demo user's principal). It builds ``apps/chat`` (cached under ``.build/apps``),
reuses the canister recorded as ``chat`` in ``.icframework/canister_ids.json`` when
this replica runs it (upgrading it if the code changed), else creates and records one
— the same record ``manage.py deploy chat`` keeps, which the chat page and
``manage.py chat`` read. The canister is deployed by, and controlled only by, the
demo's admin identity (`icframework.demo.admin_identity`, ``<state dir>/admin.pem``);
one an older version left to the anonymous principal is handed to the admin. Then it
registers each demo user that has no profile, creates each demo room that does not
exist (with its opening messages) and joins each user to the rooms they are missing,
so a second start adds nothing.

The demo users' Ed25519 keys are generated here on first use and kept in
``<state dir>/demo/chat-users.json``: unlike real users, whose keys never leave their
browser or terminal, these are demo data that the server holds, so that
``manage.py chat --demo-user bob`` can speak as a seeded user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from apps.chat.client import CANISTER_MODULE
from icframework.compiler.app_build import build_app
from icframework.core import Principal
from icframework.demo import (
    TypedCaller,
    admin_identity,
    admin_pem_path,
    demo_keys,
    install_recorded,
    method_table,
)
from icframework.identity import Ed25519Identity
from icframework.replica import Replica, pack_python_module

__all__ = ["APP_DIR", "DEMO_ROOMS", "DEMO_USERS", "DemoChat", "demo_identities",
           "demo_keys_path", "run_demo", "seed_demo"]

APP_DIR = Path(__file__).resolve().parent
APP_NAME = "chat"

#: handle → display name
DEMO_USERS: dict[str, str] = {
    "alice": "Alice Example",
    "bob": "Bob Example",
    "carol": "Carol Example",
}


@dataclass(frozen=True)
class DemoRoom:
    """A public room created by ``owner``; ``messages`` are (author, text) posted once,
    when the room is created; ``reactions`` are (user, message index, emoji)."""

    name: str
    description: str
    owner: str
    messages: tuple[tuple[str, str], ...]
    reactions: tuple[tuple[str, int, str], ...] = ()


DEMO_ROOMS: tuple[DemoRoom, ...] = (
    DemoRoom(
        "general", "Say hello: everyone can read this room and join it.", "alice",
        (
            ("alice", "Welcome to the **icframework** chat demo!"),
            ("bob", "Hi @alice, this room lives in a Python canister."),
            ("carol", "Every message is an update call; the page gets it over a WebSocket."),
            ("alice", "Try `manage.py chat --room general` in a terminal too."),
        ),
        (("bob", 0, "👋"), ("carol", 0, "🎉"), ("alice", 2, "👍")),
    ),
    DemoRoom(
        "python", "Canisters written in Python.", "bob",
        (
            ("bob", "Canister state lives in stable structures, so it survives upgrades."),
            ("carol", "And `pytest apps/chat` runs the canister in plain CPython."),
        ),
        (("alice", 1, "🐍"),),
    ),
    DemoRoom(
        "random", "Anything else.", "carol",
        (("carol", "Markdown works: *italic*, ~~strike~~, and links like https://example.org"),),
    ),
)


@dataclass
class DemoChat:
    """What `seed_demo` found and did."""

    canister_id: Principal
    canister: str  # "created", "installed", "upgraded", "unchanged" or "kept (...)"
    users: dict[str, Principal]
    rooms: dict[str, int]
    admin: Principal  # the canister's controller
    added: list[str] = field(default_factory=list)  # what this run created, for the log


def demo_keys_path(state_dir: Path) -> Path:
    """Where the demo users' keys are kept: ``<state_dir>/demo/chat-users.json``."""
    return state_dir / "demo" / "chat-users.json"


def demo_identities(state_dir: Path, *, create: bool = False) -> dict[str, Ed25519Identity]:
    """The demo users' identities by handle (generated and saved when ``create``).

    Raises `ValueError` naming the file if it is not the JSON object this module writes.
    """
    return demo_keys(demo_keys_path(state_dir), DEMO_USERS, create=create)


def seed_demo(replica: Replica, url: str, state_dir: Path,
              progress: Callable[[str], None] | None = None) -> DemoChat:
    """Install the chat canister on ``replica`` (served at ``url``) and seed the demo
    users and rooms that are missing; see the module docstring.

    A recorded canister that the demo's admin does not control (``manage.py deploy
    chat`` made it) is used as it is. Raises `icframework.compiler.app_build.BuildError` if the app
    does not build and `CanisterError` if a seeding call is rejected.
    """
    result = build_app(APP_DIR, pack_python_module,
                       cache_dir=Path(settings.BASE_DIR) / ".build" / "apps", progress=progress)
    admin = admin_identity(state_dir).principal
    canister, done = install_recorded(replica, url, APP_NAME, result.wasm, admin=admin)
    call = TypedCaller(replica, canister, method_table(CANISTER_MODULE))
    demo = DemoChat(canister, done, {}, {}, admin)
    identities = demo_identities(state_dir, create=True)
    for handle, display_name in DEMO_USERS.items():
        user = identities[handle].principal
        demo.users[handle] = user
        if call(user, "me") is None:
            call(user, "register", handle, display_name)
            demo.added.append(f"user @{handle}")
    for room in DEMO_ROOMS:
        demo.rooms[room.name] = _seed_room(call, demo, room)
    return demo


def _seed_room(call: TypedCaller, demo: DemoChat, room: DemoRoom) -> int:
    owner = demo.users[room.owner]
    found = [r for r in call(owner, "public_rooms", room.name, None, 100)
             if r.name.casefold() == room.name.casefold()]
    if found:
        room_id = int(found[0].id)
    else:
        room_id = int(call(owner, "create_room", room.name, room.description, True).room.id)
        demo.added.append(f"room #{room.name}")
    for user in demo.users.values():
        if not any(int(mine.room.id) == room_id for mine in call(user, "my_rooms")):
            call(user, "join_room", room_id)
    if not found:
        ids = [int(call(demo.users[author], "send_message", room_id, text, None).id)
               for author, text in room.messages]
        for handle, index, emoji in room.reactions:
            call(demo.users[handle], "add_reaction", room_id, ids[index], emoji)
    return room_id


def run_demo(replica: Replica, url: str, state_dir: Path,
             progress: Callable[[str], None] | None = None) -> list[str]:
    """`seed_demo`, as ``manage.py runreplica --demo`` runs it (``ICFRAMEWORK
    ["DEMO_SEEDERS"]``): the lines it prints about the chat demo."""
    demo = seed_demo(replica, url, state_dir, progress)
    users = ", ".join(f"@{handle}" for handle in demo.users)
    rooms = ", ".join(f"#{name}" for name in demo.rooms)
    added = "; added " + ", ".join(demo.added) if demo.added else "; nothing new to seed"
    return [
        f"  chat:      {url}/chat/",
        f"             canister {demo.canister_id.to_text()} ({demo.canister}{added})",
        f"             demo users {users} in {rooms}",
        f"             controller: the demo admin {demo.admin.to_text()} "
        f"({admin_pem_path(state_dir)})",
        "             terminal: manage.py chat --room general --demo-user bob",
    ]
