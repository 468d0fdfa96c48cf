"""``manage.py runreplica``: serve the replica and dashboard over HTTP (uvicorn, ASGI).

With ``--demo`` it first runs the demo seeders the project names in
``ICFRAMEWORK["DEMO_SEEDERS"]`` (the reference apps' ``seed.run_demo``: each installs
its app on the replica and seeds demo data, idempotently: a restart adds nothing), so
that ``make demo`` opens on apps with people and things in them. Each seeder is a step
with its estimate and the time it took (`icframework.compiler.progress`).

It also runs the project's Celery worker in this process (`icframework.workers`) when
tasks queue on the embedded SQLite broker, or with ``--worker``; it stops with the server.
Then it calls the project's replica hooks (``ICFRAMEWORK["REPLICA_HOOKS"]``: dotted
paths of ``hook(service, base_url, state_dir)``, e.g. an app's job dispatcher that
listens to canister events), and on the way out the stop functions they returned.

The port is bound before anything is printed or started: a port another process holds
is a `CommandError` naming the holder when ``/proc`` tells it (Linux) and a free port to
use instead, and the bound socket is handed to uvicorn, so nothing can take the port
between the check and the serving.

The server is uvicorn (httptools, asyncio's event loop): it hands request bodies to the
application as they arrive, so `icframework.replica.asgi_limits` can refuse an oversized
one before reading it (daphne buffers the whole body first), and it offers the WebSocket
denial extension the limits answer a 503 with (granian can only close the socket).
``--server`` serves with uvloop, granian or daphne instead, to compare them
(``bench/bench_servers.py``); on the IC HTTP interface none measured faster by more than
the noise of a shared machine, so the default stays. Its connection settings are the constants
below: a deep listen backlog so a burst of connections waits in the kernel instead of
being reset, a keep-alive timeout that frees idle connections, and the WebSocket
message limit the canister socket needs.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from argparse import ArgumentParser, BooleanOptionalAction
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from icframework.compiler.progress import StepTimes, timed_step
from icframework.conf import get_setting, state_dir
from icframework.replica import (
    Replica,
    ReplicaError,
    ReplicaService,
    start_service,
    stop_service,
)
from icframework.workers import (
    InProcessWorker,
    celery_settings,
    project_app,
    uses_embedded_broker,
    worker_principal,
)

SERVERS = ("uvicorn", "uvicorn-uvloop", "granian", "daphne")
"""ASGI servers runreplica can serve with (uvicorn with httptools; its asyncio or uvloop
event loop)."""
DEFAULT_SERVER = "uvicorn"
LISTEN_BACKLOG = 4096  # connections waiting to be accepted (the kernel caps it: somaxconn)
KEEP_ALIVE_SECONDS = 5  # an idle keep-alive connection is closed after this
SHUTDOWN_SECONDS = 5  # on Ctrl-C or SIGTERM, open connections get this long to finish
SEED_SECONDS = 1.0
"""A demo seeder on a fresh state with the runtime already compiled (chat 0.6 s,
marketplace 0.5 s measured on a 2-core machine), unless its module names its own
``FIRST_SEED_SECONDS``; the runtime's own first build and compile come before, with
their own estimates."""


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
            "--server",
            choices=SERVERS,
            default=DEFAULT_SERVER,
            help=f"the ASGI server (default {DEFAULT_SERVER}); the others are there to "
            "compare (bench/bench_servers.py): granian refuses a WebSocket past the limit "
            "by closing it instead of a 503, daphne reads a whole body before the limits see it",
        )
        parser.add_argument(
            "--access-log",
            action="store_true",
            help="print a line per HTTP request (off by default: under a burst of "
            "requests the log line costs more than a refused request's answer)",
        )
        parser.add_argument(
            "--worker",
            action=BooleanOptionalAction,
            default=None,
            help="run a Celery worker for the project's tasks in this process (docs/workers.md); "
            "default: on with the embedded SQLite broker, off when ICFRAMEWORK_BROKER_URL "
            "names Redis or RabbitMQ (run `celery -A config worker` there instead)",
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="before serving, deploy and seed the apps named in "
            "ICFRAMEWORK['DEMO_SEEDERS'] (in config/settings.py: "
            + ", ".join(get_setting("DEMO_SEEDERS"))
            + "; the reference apps' seeders deploy the chat with users alice, bob, carol and "
            "rooms general, python, random, and the marketplace with its payment token, two "
            "shops and a faucet); idempotent across restarts; demo users' keys are kept in "
            "<state dir>/demo/",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["state_dir"] is not None:
            settings.ICFRAMEWORK["STATE_DIR"] = str(options["state_dir"].resolve())
        host, port = options["host"], options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"--port {port} is not a TCP port (1-65535)")
        listener = bind(host, port)
        try:
            service = start_service(state_dir())
        except ReplicaError as exc:
            listener.close()
            raise CommandError(str(exc)) from None
        base = f"http://{host}:{port}"
        demo_lines = self.seed_demo(service, base) if options["demo"] else []
        from icframework.channels.events import bridge

        replica = service.replica
        replica.add_event_listener(bridge)
        self.stdout.write(self.style.SUCCESS("icframework replica running"))
        self.stdout.write(f"  state:     {state_dir()} (round {replica.height}, "
                          f"{len(replica.canister_records())} canister(s))")
        self.stdout.write(f"  subnet:    {replica.subnet_id.to_text()}")
        self.stdout.write(f"  dashboard: {base}/")
        self.stdout.write(f"  IC API:    {base}/api/v2/status  (agents: fetch the root key)")
        self.stdout.write(f"  canisters: http://<canister-id>.localhost:{port}/  "
                          f"({base}/?canisterId=<canister-id> redirects there)")
        self.stdout.write(f"  events:    ws://{host}:{port}/ws/canisters/<canister-id>/events")
        for line in demo_lines:
            self.stdout.write(line)
        worker = self.start_worker(options["worker"])
        stop_hooks = self.start_hooks(service, base)
        self.stdout.write("  stop with Ctrl-C")
        try:
            serve(host, port, access_log=options["access_log"], sock=listener,
                  server=options["server"])
        except KeyboardInterrupt:
            # uvicorn shuts down gracefully on Ctrl-C, then re-raises the interrupt (or,
            # depending on when the signal arrives, returns): the normal way to stop, not
            # an error worth a traceback.
            pass
        finally:
            for stop_hook in reversed(stop_hooks):
                stop_hook()
            if worker is not None:
                worker.stop()
            stop_service()
        self.stdout.write("icframework replica stopped")

    def start_worker(self, wanted: bool | None) -> InProcessWorker | None:
        """The in-process Celery worker, started, unless ``--no-worker`` (or a broker named
        by ``ICFRAMEWORK_BROKER_URL`` without ``--worker``); prints where it consumes."""
        try:
            app = project_app()
        except ValueError as exc:
            if wanted:
                stop_service()
                raise CommandError(f"--worker: {exc}") from None
            self.stdout.write(f"  worker:    none ({exc})")
            return None
        embedded = uses_embedded_broker(app)
        if embedded:  # the state directory of this run, even if the app read another
            app.conf.update(celery_settings(state_dir()))
        broker = app.connection().as_uri()  # a password in the URL is masked
        if not (embedded if wanted is None else wanted):
            self.stdout.write(f"  worker:    not in this process; tasks queue on {broker} "
                              "(--worker runs one here)")
            return None
        worker = InProcessWorker(app)
        try:
            worker.start()
        except RuntimeError as exc:
            stop_service()
            raise CommandError(f"{exc}; check ICFRAMEWORK_BROKER_URL, or run without "
                               "--worker") from None
        self.stdout.write(f"  worker:    Celery, in this process, on {broker} "
                          f"(acts as {worker_principal(state_dir())})")
        return worker

    def start_hooks(self, service: ReplicaService, base: str) -> list[Callable[[], Any]]:
        """Call each ``ICFRAMEWORK["REPLICA_HOOKS"]`` entry with (service, base URL, state
        directory), after the replica and the worker started; the stop functions they
        returned, called on the way out (docs/workers.md, "Replica hooks")."""
        from django.utils.module_loading import import_string

        paths = getattr(settings, "ICFRAMEWORK", {}).get("REPLICA_HOOKS", [])
        stops: list[Callable[[], Any]] = []
        for path in paths:
            try:
                hook = import_string(path)
                stop = hook(service, base, state_dir())
            except Exception as exc:
                for started in reversed(stops):
                    started()
                stop_service()
                raise CommandError(f"ICFRAMEWORK['REPLICA_HOOKS'] names {path!r}, which "
                                   f"failed to start: {exc}") from exc
            if callable(stop):
                stops.append(stop)
        if paths:
            self.stdout.write(f"  hooks:     {', '.join(paths)}")
        return stops

    def seed_demo(self, service: ReplicaService, base: str) -> list[str]:
        """Run each ``ICFRAMEWORK["DEMO_SEEDERS"]`` entry on the replica; the lines they
        print (the reference apps' seeders are named in the project settings, so the
        framework imports no app of its own accord)."""
        from django.utils.module_loading import import_string

        from icframework.compiler.app_build import BuildError

        lines: list[str] = []
        try:  # first, so that the seeders' own times (and estimates) leave it out
            service.run(lambda replica: replica.warm_python_runtime())
        except ReplicaError as exc:
            stop_service()
            raise CommandError(f"--demo: {exc}") from None
        times = StepTimes(Path(settings.BASE_DIR) / ".build" / "demo-timings.json")
        # Seeding a new state directory and checking a seeded one differ a hundredfold,
        # so each is estimated from its own last measurement.
        fresh = service.run(lambda replica: not replica.canister_records())
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
                first = getattr(sys.modules.get(seeder.__module__), "FIRST_SEED_SECONDS",
                                SEED_SECONDS)
                with timed_step(self._demo_progress,
                                f"{path}: " + ("deploying and seeding" if fresh
                                               else "checking what is seeded"),
                                step=f"{path}:{'new' if fresh else 'again'}",
                                default_seconds=first if fresh else SEED_SECONDS,
                                times=times,
                                default_source="on a new state directory" if fresh
                                else "on a seeded one"):
                    lines += service.run(seed)
            except (BuildError, ReplicaError, ValueError) as exc:
                stop_service()
                raise CommandError(f"--demo: {path} failed: {exc}") from None
        if not lines:
            lines.append("  demo:      ICFRAMEWORK['DEMO_SEEDERS'] is empty; nothing seeded")
        return lines

    def _progress(self, line: str) -> None:
        self.stderr.write(f"[build] {line}")

    def _demo_progress(self, line: str) -> None:
        self.stderr.write(f"[demo] {line}")


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for uvicorn (which listens on it); a `CommandError`
    saying who holds the port and what to do when it cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says TCP. With it on, a response written as two pieces
    # (head, body) waits for the client's delayed ACK of the first: 40 ms per request
    # on a keep-alive connection.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            holder = port_holder(port)
            by = f" by {holder}" if holder else " by another process"
            free = free_port_near(host, port)
            instead = (f"manage.py runreplica --port {free} (then point commands at it with "
                       f"--network http://{host}:{free})") if free else "another --port"
            raise CommandError(
                f"port {port} on {host} is already in use{by}: stop that process (a replica "
                f"started by `make demo` in another shell?), or serve on another port: "
                f"{instead}"
            ) from None
        if exc.errno == errno.EACCES:
            raise CommandError(f"binding {host}:{port} is not permitted ({exc.strerror}): "
                               "ports below 1024 need privileges; use --port 4943") from None
        raise CommandError(f"cannot bind {host}:{port}: {exc.strerror}; check --host "
                           "(e.g. 127.0.0.1) and --port") from None
    sock.set_inheritable(True)
    return sock


def free_port_near(host: str, port: int) -> int | None:
    """The first port after ``port`` (up to 20 further) that ``host`` can bind now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in range(port + 1, min(port + 21, 65536)):
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, candidate))
            except OSError:
                continue
            return candidate
    return None


def port_holder(port: int) -> str:
    """``pid N (command line)`` of a process listening on TCP ``port``, as far as ``/proc``
    shows (Linux, processes this user may inspect); ``''`` when unknown."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # local address "ADDR:PORT" in hex, state 0A is LISTEN, field 9 the inode
            if len(fields) > 9 and fields[3] == "0A" and fields[1].endswith(f":{port:04X}"):
                inodes.add(fields[9])
    if not inodes:
        return ""
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            links = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except OSError:
            continue
        if links & targets:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                return f"pid {pid}"
            shown = " ".join(command.decode(errors="replace").split())
            return f"pid {pid} ({shown[:80] + '…' if len(shown) > 80 else shown})"
    return ""


def serve(host: str, port: int, *, access_log: bool = False,
          sock: socket.socket | None = None, server: str = DEFAULT_SERVER) -> None:
    """Serve ``settings.ASGI_APPLICATION`` on ``host:port`` (on ``sock`` when given, a
    socket `bind` bound there) with ``server`` (one of `SERVERS`) until stopped."""
    if server == "granian":
        _serve_granian(host, port, access_log=access_log, sock=sock)
        return
    if server == "daphne":
        _serve_daphne(host, port, access_log=access_log, sock=sock)
        return
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
        loop="uvloop" if server == "uvicorn-uvloop" else "asyncio",
        lifespan="off",
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        proxy_headers=False,
        server_header=False,
        access_log=access_log,
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)


def _application() -> Any:
    from django.utils.module_loading import import_string

    return import_string(settings.ASGI_APPLICATION)


def _serve_granian(host: str, port: int, *, access_log: bool,
                   sock: socket.socket | None) -> None:
    """granian's embedded server (in this process, so it shares the replica service);
    it binds the port itself, so ``sock`` is closed first."""
    import asyncio

    from granian.constants import Interfaces
    from granian.server.embed import Server

    if sock is not None:
        sock.close()
    server = Server(_application(), address=host, port=port, interface=Interfaces.ASGINL,
                    websockets=True, backlog=LISTEN_BACKLOG, log_access=access_log)
    asyncio.run(server.serve())


def _serve_daphne(host: str, port: int, *, access_log: bool,
                  sock: socket.socket | None) -> None:
    """daphne (Twisted); it binds the port itself, so ``sock`` is closed first."""
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server

    if sock is not None:
        sock.close()
    endpoints = build_endpoint_description_strings(host=host, port=port)
    Server(_application(), endpoints=endpoints, verbosity=1 if access_log else 0).run()
