"""``manage.py runreplica``: serve the replica and dashboard over HTTP (uvicorn, ASGI).

With ``--demo`` it first runs the demo seeders the project names in
``ICFRAMEWORK["DEMO_SEEDERS"]`` (the reference apps' ``seed.run_demo``: each installs
its app on the replica and seeds demo data, idempotently: a restart adds nothing), so
that ``make demo`` opens on apps with people and things in them.

The server is uvicorn (httptools): it hands request bodies to the application as they
arrive, so `icframework.replica.asgi_limits` can refuse an oversized one before reading
it (daphne buffers the whole body first). Its connection settings are the constants
below: a deep listen backlog so a burst of connections waits in the kernel instead of
being reset, a keep-alive timeout that frees idle connections, and the WebSocket
message limit the canister socket needs.
"""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.conf import get_setting, state_dir
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import ReplicaError
from icframework.replica.service import ReplicaService, start_service, stop_service

LISTEN_BACKLOG = 4096  # connections waiting to be accepted (the kernel caps it: somaxconn)
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_SECONDS = 5  # on Ctrl-C or SIGTERM, open connections get this long to finish


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
            "--access-log",
            action="store_true",
            help="print a line per HTTP request (off by default: under a burst of "
            "requests the log line costs more than a refused request's answer)",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="before serving, deploy and seed the reference apps named in "
            "ICFRAMEWORK['DEMO_SEEDERS'] (here: the chat app with users alice, bob, carol "
            "and rooms general, python, random); idempotent across restarts; demo users' "
            "keys are kept in <state dir>/demo/",
        )

    def handle(self, *args: Any, **options: Any) -> None:
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
                          f"({base}/?canisterId=<canister-id> redirects there)")
        self.stdout.write(f"  events:    ws://{host}:{port}/ws/canisters/<canister-id>/events")
        for line in demo_lines:
            self.stdout.write(line)
        self.stdout.write("  stop with Ctrl-C")
        try:
            serve(host, port, access_log=options["access_log"])
        finally:
            stop_service()

    def seed_demo(self, service: ReplicaService, base: str) -> list[str]:
        """Run each ``ICFRAMEWORK["DEMO_SEEDERS"]`` entry on the replica; the lines they
        print (the reference apps' seeders are named in the project settings, so the
        framework imports no app of its own accord)."""
        from django.utils.module_loading import import_string

        from icframework.compiler.app_build import BuildError

        lines: list[str] = []
        for path in get_setting("DEMO_SEEDERS"):
            try:
                seeder = import_string(path)
            except ImportError as exc:
                stop_service()
                raise CommandError(f"--demo: ICFRAMEWORK['DEMO_SEEDERS'] names {path!r}, "
                                   f"which cannot be imported: {exc}") from None
            def seed(replica: Replica, seeder: Any = seeder) -> list[str]:
                lines: list[str] = seeder(replica, base, state_dir(), progress=self._progress)
                return lines

            try:
                lines += service.run(seed)
            except (BuildError, ReplicaError, ValueError) as exc:
                stop_service()
                raise CommandError(f"--demo: {path} failed: {exc}") from None
        if not lines:
            lines.append("  demo:      ICFRAMEWORK['DEMO_SEEDERS'] is empty; nothing seeded")
        return lines

    def _progress(self, line: str) -> None:
        self.stderr.write(f"[build] {line}")


def serve(host: str, port: int, *, access_log: bool = False) -> None:
    """Serve ``settings.ASGI_APPLICATION`` on ``host:port`` with uvicorn until stopped."""
    import uvicorn

    from icframework.channels.consumers import SERVER_MESSAGE_LIMIT

    module, _, name = settings.ASGI_APPLICATION.rpartition(".")
    config = uvicorn.Config(
        f"{module}:{name}",
        host=host,
        port=port,
        http="httptools",
        ws="websockets-sansio",
        ws_max_size=SERVER_MESSAGE_LIMIT,
        loop="asyncio",
        lifespan="off",
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        proxy_headers=False,
        server_header=False,
        access_log=access_log,
    )
    uvicorn.Server(config).run()
