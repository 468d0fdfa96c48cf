"""``manage.py runfrontend [--host H] [--port P]``: a stateless front end of a scale-out
cluster.

It serves the same ASGI application as ``runreplica`` (``config.asgi``: the IC HTTP
interface, Django, Channels) with uvicorn, the IC HTTP interface backed by
`icframework.scaleout.FrontendBackend` instead of an embedded replica: requests are
routed by the registry, queries and read_state run on the front end's read-only copies
of the subnets, calls go to the subnets' writers over the broker, canister sockets'
events come over channels-redis. Run as many as you like behind a load balancer.
Configuration from the environment: ``ICFRAMEWORK_DATABASE_URL``,
``ICFRAMEWORK_BROKER_URL``, ``ICFRAMEWORK_REDIS_URL`` (docs/deployment.md).
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.management.commands.runreplica import (
    DEFAULT_SERVER,
    LISTEN_BACKLOG,
    bind,
    serve,
)
from icframework.scaleout import (
    REFRESH_MS,
    ClusterConfig,
    ScaleoutError,
    channel_layers_setting,
    serve_frontend_backend,
)


class Command(BaseCommand):
    help = "Serve a stateless front end of a scale-out cluster on HOST:PORT (default 8000)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
        parser.add_argument("--port", type=int, default=8000, help="TCP port to bind")
        parser.add_argument("--refresh-ms", type=int, default=None,
                            help="the copies' refresh interval in milliseconds (default "
                            "icframework.scaleout.copies.REFRESH_MS)")
        parser.add_argument("--access-log", action="store_true",
                            help="print a line per HTTP request")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535)")
        try:
            config = ClusterConfig.from_env()
        except ScaleoutError as exc:
            raise CommandError(str(exc)) from exc
        # Before the ASGI application is loaded: its sockets follow events on Redis.
        settings.CHANNEL_LAYERS = channel_layers_setting(config.redis_url)
        listener = bind(host, port)
        refresh_ms = options["refresh_ms"] or REFRESH_MS
        try:
            backend = serve_frontend_backend(config, refresh_ms=refresh_ms)
        except Exception as exc:
            listener.close()
            raise CommandError(f"the front end cannot start: {exc}") from exc
        # Listening before saying so: a client that connects at once waits in the
        # backlog until the server accepts, instead of being refused.
        listener.listen(LISTEN_BACKLOG)
        base = f"http://{host}:{port}"
        self.stdout.write(self.style.SUCCESS("icframework front end running"))
        for name, copy in sorted(backend.copies.items()):
            self.stdout.write(f"  subnet {name}: copy at height {copy.height}")
        self.stdout.write(f"  IC API:    {base}/api/v2/status  (root key of the cluster)")
        self.stdout.write(f"  events:    ws://{host}:{port}/ws/canisters/<canister-id>/events")
        self.stdout.write(f"  staleness: reads lag commits by at most {refresh_ms} ms plus "
                          "the time to apply them")
        self.stdout.flush()
        try:
            serve(host, port, access_log=options["access_log"], sock=listener,
                  server=DEFAULT_SERVER)
        except KeyboardInterrupt:
            self.stdout.write("icframework front end stopped")
        finally:
            backend.stop()
