"""``manage.py runreplica``: serve the replica and dashboard over HTTP (daphne, ASGI).

With ``--demo`` it first installs the chat reference app on the replica and seeds its
demo users and rooms (`apps.chat.seed`, idempotent: a restart adds nothing), so that
``make demo`` opens on a chat with people in it.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.conf import state_dir
from icframework.core import Principal
from icframework.replica.errors import ReplicaError
from icframework.replica.service import ReplicaService, start_service, stop_service


class Command(BaseCommand):
    help = (
        "Start the bundled replica with its HTTP interface and dashboard on HOST:PORT "
        "(default 127.0.0.1:4943, the IC tools' local port)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
        parser.add_argument("--port", type=int, default=4943, help="TCP port to bind")
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=None,
            help="directory for the replica's state (default: ICFRAMEWORK['STATE_DIR'])",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="deploy the chat app with demo users (alice, bob, carol) and rooms (general, "
            "python, random) before serving; idempotent across restarts; the demo users' "
            "keys are kept in <state dir>/demo/",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from daphne.cli import CommandLineInterface

        if options["state_dir"] is not None:
            settings.ICFRAMEWORK["STATE_DIR"] = str(options["state_dir"].resolve())
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535)")
        try:
            service = start_service(state_dir())
        except ReplicaError as exc:
            raise CommandError(str(exc)) from None
        base = f"http://{host}:{port}"
        demo_lines = self.seed_demo(service, base) if options["demo"] else []
        from icframework.channels.events import bridge

        subnet = service.replica.subnet
        subnet.event_listeners.append(bridge)
        self.stdout.write(self.style.SUCCESS("icframework replica running"))
        self.stdout.write(f"  state:     {state_dir()} (round {subnet.height}, "
                          f"{len(subnet.canisters)} canister(s))")
        self.stdout.write(f"  subnet:    {Principal(subnet.config.subnet_id).to_text()}")
        self.stdout.write(f"  dashboard: {base}/")
        self.stdout.write(f"  IC API:    {base}/api/v2/status  (agents: fetch the root key)")
        self.stdout.write(f"  canisters: http://<canister-id>.localhost:{port}/  "
                          f"or {base}/?canisterId=<canister-id>")
        self.stdout.write(f"  events:    ws://{host}:{port}/ws/canisters/<canister-id>/events")
        for line in demo_lines:
            self.stdout.write(line)
        self.stdout.write("  stop with Ctrl-C")
        from icframework.channels.consumers import SERVER_MESSAGE_LIMIT

        limit = str(SERVER_MESSAGE_LIMIT)
        try:
            CommandLineInterface().run(
                ["--bind", host, "--port", str(port),
                 "--websocket-max-message-size", limit, "--websocket-max-frame-size", limit,
                 "config.asgi:application"]
            )
        finally:
            stop_service()

    def seed_demo(self, service: ReplicaService, base: str) -> list[str]:
        """Deploy and seed the chat demo; the lines to print about it."""
        from apps.chat.seed import seed_demo  # the reference app, only for --demo
        from icframework.compiler.app_build import BuildError

        try:
            demo = service.run(lambda replica: seed_demo(
                replica, base, state_dir(),
                progress=lambda line: self.stderr.write(f"[build] {line}")))
        except (BuildError, ReplicaError, ValueError) as exc:
            stop_service()
            raise CommandError(f"--demo: cannot seed the chat app: {exc}") from None
        users = ", ".join(f"@{handle}" for handle in demo.users)
        rooms = ", ".join(f"#{name}" for name in demo.rooms)
        added = "; added " + ", ".join(demo.added) if demo.added else "; nothing new to seed"
        return [
            self.style.SUCCESS(f"  chat:      {base}/chat/"),
            f"             canister {demo.canister_id.to_text()} ({demo.canister}{added})",
            f"             demo users {users} in {rooms}",
            "             terminal: manage.py chat --room general --demo-user bob",
        ]
