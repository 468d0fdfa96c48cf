"""``manage.py chat --room NAME``: chat in a terminal, as your own identity.

Connects to the chat canister's socket, authenticated with the identity's own key
(``--identity``, or ``--demo-user`` for the users ``runreplica --demo`` seeded),
registers the profile on first use (``--handle``), opens, joins or creates the room,
prints its recent history and then live messages, edits, deletes, reactions, typing
and presence, while each line typed is posted (`apps.chat.management.terminal`).
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.chat.client import ChatClient
from apps.chat.management.terminal import (
    COMMANDS,
    TerminalChat,
    TerminalError,
    ensure_profile,
    open_room,
)
from apps.chat.seed import demo_identities
from icframework.agent import IdentityStore
from icframework.agent.socket import SocketError
from icframework.conf import state_dir
from icframework.core import Principal
from icframework.deployments import recorded_id
from icframework.identity import Identity
from icframework.management.commands.call import (
    add_network_argument,
    agent_errors,
    network_url,
    resolve_canister,
)


def chat_canister(canister: str | None, url: str) -> Principal:
    """``--canister`` (a name or id), else the canister recorded as ``chat``."""
    if canister is not None:
        return resolve_canister(canister, url)
    found = recorded_id("chat", url)
    if found is None:
        raise CommandError(
            "no chat canister is recorded in .icframework/canister_ids.json; start the demo "
            "with `manage.py runreplica --demo`, deploy with `manage.py deploy chat`, or pass "
            "--canister ID"
        )
    return found


def chat_identity(options: dict[str, Any]) -> Identity:
    """``--demo-user`` (a seeded demo user's key) or ``--identity`` (the identity store)."""
    demo_user = options["demo_user"]
    if demo_user is None:
        with agent_errors():
            return IdentityStore().get_identity(options["identity"])
    if options["identity"] is not None:
        raise CommandError("pass either --identity or --demo-user, not both")
    try:
        users = demo_identities(state_dir())
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    handle = demo_user.lstrip("@").lower()
    if handle not in users:
        known = ", ".join(sorted(users)) or "none (start `manage.py runreplica --demo` first)"
        raise CommandError(f"--demo-user {demo_user!r} is not a demo user; demo users: {known}")
    return users[handle]


class Command(BaseCommand):
    help = (
        "Chat in the terminal: open ROOM (joined or created; @handle for a direct room),\n"
        "print its history, then live messages, edits, deletes, reactions, typing and\n"
        "presence while each line you type is posted. Signs with your own identity.\n"
        "Example: manage.py chat --room general --handle alice\n\nIn the chat:\n" + COMMANDS
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> ArgumentParser:
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--room", required=True,
                            help="room name (joined if public, created if missing) or @handle")
        add_network_argument(parser)
        parser.add_argument("--url", default=None, help="deprecated: use --network")
        parser.add_argument("--identity", default=None,
                            help="identity to chat as (`manage.py identity list`; default: "
                            "the selected one)")
        parser.add_argument("--demo-user", default=None,
                            help="chat as a user seeded by `runreplica --demo` (alice, bob, "
                            "carol; keys from the local state directory)")
        parser.add_argument("--handle", default=None,
                            help="handle to register with if the identity has no profile yet")
        parser.add_argument("--display-name", default=None,
                            help="display name when registering (default: the handle)")
        parser.add_argument("--canister", default=None,
                            help="chat canister name or id (default: the one recorded as 'chat')")
        parser.add_argument("--private", action="store_true",
                            help="create the room as private if it does not exist")
        parser.add_argument("--history", type=int, default=20,
                            help="how many recent messages to print (1-100, default 20)")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["history"] <= 100:
            raise CommandError(f"--history {options['history']} is not between 1 and 100")
        if options["url"] is not None:
            if options["network"] is not None:
                raise CommandError("pass --network only (--url is its deprecated name)")
            self.stderr.write("Note: --url is deprecated; use --network, as every command does")
        url = network_url(options["network"] or options["url"])
        canister = chat_canister(options["canister"], url)
        identity = chat_identity(options)
        stdin = options.get("stdin") or sys.stdin
        try:
            client = ChatClient.connect(url, canister, identity)
        except SocketError as exc:
            raise CommandError(str(exc)) from None
        with client, agent_errors():
            try:
                profile = ensure_profile(client, options["handle"], options["display_name"])
                room, done = open_room(client, options["room"], private=options["private"])
            except TerminalError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(f"@{profile.handle} {done} {options['room']} "
                              f"(room {room.room.id} on canister {canister.to_text()})")
            self.stdout.flush()
            TerminalChat(client, room, self.stdout, history=options["history"]).run(stdin)
