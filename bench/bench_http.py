"""The replica's IC HTTP interface: latency, throughput and CPU per request over loopback.

The server is ``manage.py runreplica`` (daphne + Django ASGI, SQLite state in a temporary
directory) started as a subprocess on a free port; the Motoko ``counter``
(``tests/replica/canisters/counter.mo``) is installed through the agent
(`ManagementCanister`). All figures are measured in this run:

1. ``get`` (query, ``/api/v2/.../query``, node signature verified by the agent) and ``inc``
   (update, ``/api/v3/.../call``, the certificate verified by the agent) with 1, 8 and 64
   concurrent clients. Each client is an `AsyncAgent` with its own Ed25519 identity and its
   own HTTP connection, run as an asyncio task in this (single-threaded) process; a client
   sends its next request when the previous one is answered. Per row: p50/p99 latency,
   throughput (requests / wall time of the row), server CPU per request (utime + stime of
   the server process from ``/proc/<pid>/stat``, all threads, 10 ms ticks, read before and
   after the row) and client CPU per request (`time.process_time` of this process), each
   also as a share of one core (CPU time / wall time).
2. The reference: the in-process replica API on the same wasm (`Replica.query` /
   `Replica.update`, i.e. submit + round + commit), sequential, with the in-memory store
   (the reference of the ratio column) and with the SQLite store that the server uses.
   The ratio is HTTP p50 / in-process (memory) p50: what the HTTP layer, the signing and
   verification on both sides and the v3 wait add.
3. Where the server's time goes: a second server runs under a per-thread cProfile (every
   thread gets its own profiler timed with `time.thread_time_ns`, so the figures are CPU
   time, blocking waits excluded; plain ``python -m cProfile`` would only see daphne's
   event-loop thread, not the worker threads nor the round loop). After a warm-up it is
   driven by `PROFILE_CLIENTS` clients with `PROFILE_QUERIES` queries, then
   `PROFILE_UPDATES` updates; each phase's profile is printed separately as the top
   functions by cumulative time (event-loop and thread-pool dispatch frames left out:
   their cumulative time is everything) and by own time, in µs per request. The
   profiler's timer is a system call per event, so small hot functions are inflated
   several-fold; the ranking, not the absolute figure, is the point.

The cost of an update depends on the ingress history: every certificate is pruned from
the state tree of all requests so far, so the ``hist`` column shows how many there were
when each row started (the rows run in table order on one server).

No timed assertions. Usage: ``.venv/bin/python bench/bench_http.py`` or ``main()``
(``bench/run.py``). Needs node and the ``motoko`` npm package, or a cached build under
``.build``; without them it prints why and stops. Takes about 60-90 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import marshal
import os
import platform
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import runreplica  # noqa: E402
from icframework.agent import Agent, AsyncAgent, ManagementCanister  # noqa: E402
from icframework.candid import NAT, decode, encode  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402

CONCURRENCY = (1, 8, 64)
#: Requests per row: (method, clients) -> total requests (split evenly over the clients).
REQUESTS = {
    ("get", 1): 200, ("get", 8): 400, ("get", 64): 640,
    ("inc", 1): 100, ("inc", 8): 160, ("inc", 64): 192,
}
REFERENCE_CALLS = 1000
WARMUP = 30
PROFILE_CLIENTS = 8
PROFILE_QUERIES = 500
PROFILE_UPDATES = 150
PROFILE_TOP = 15
NO_ARGS = encode([], [])
INSTALL_CALLS = 2  # provisional_create_canister_with_cycles, install_code
#: Event-loop and thread-pool dispatch frames: their cumulative time is just "everything".
DISPATCH = ("/asyncio/", "/concurrent/futures/", "/threading.py", "_contextvars.Context")
CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")


# -- helpers -----------------------------------------------------------------------------------


def _server_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK  # utime, stime (fields 14, 15)


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _nat(reply: bytes) -> int:
    value: int = decode(reply, [NAT])[0]
    return value


def _install(url: str, wasm: bytes) -> tuple[Principal, bytes]:
    """Create a canister and install ``wasm`` over HTTP; return it and the root key."""
    with Agent(url, identity=Ed25519Identity.generate(), fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, wasm)
        assert agent.root_key is not None
        return canister, agent.root_key


# -- rows --------------------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    method: str
    requests: int
    p50: float
    p99: float
    per_second: float
    server_cpu: float | None  # seconds per request
    server_share: float | None  # server CPU / wall
    client_cpu: float
    client_share: float
    history: int | None = None  # update calls in the server's ingress history at the start


class Clients:
    """`AsyncAgent`s, each with its own Ed25519 identity and connection, on one event loop."""

    def __init__(self, url: str, root_key: bytes, canister: Principal, count: int) -> None:
        self.canister = canister
        self.updates = INSTALL_CALLS  # calls in the server's ingress history
        self.agents = [AsyncAgent(url, identity=Ed25519Identity.generate(), root_key=root_key)
                       for _ in range(count)]

    def call(self, agent: AsyncAgent, method: str) -> Awaitable[bytes]:
        if method == "get":
            return agent.query(self.canister, "get", NO_ARGS)
        self.updates += 1
        return agent.update(self.canister, "inc", NO_ARGS)

    async def warm_up(self) -> None:
        """One query per agent (opens its connection, fetches the subnet's node keys)."""
        await asyncio.gather(*(self.call(agent, "get") for agent in self.agents))
        for method in ("get", "inc"):
            for _ in range(WARMUP):
                await self.call(self.agents[0], method)

    async def drive(self, method: str, clients: int, requests: int) -> tuple[list[float], float]:
        """``requests`` calls split over ``clients`` agents; per-call seconds, wall seconds."""
        clock = time.perf_counter
        samples: list[float] = []

        async def client(agent: AsyncAgent, count: int) -> None:
            for _ in range(count):
                start = clock()
                await self.call(agent, method)
                samples.append(clock() - start)

        share, extra = divmod(requests, clients)
        started = clock()
        await asyncio.gather(*(client(agent, share + (index < extra))
                               for index, agent in enumerate(self.agents[:clients])))
        return samples, clock() - started

    async def row(self, method: str, clients: int, server_pid: int) -> Row:
        requests = REQUESTS[(method, clients)]
        history = self.updates
        server_before, client_before = _server_cpu(server_pid), time.process_time()
        samples, wall = await self.drive(method, clients, requests)
        server = _server_cpu(server_pid) - server_before
        client = time.process_time() - client_before
        p50, p99 = _p50_p99(samples)
        done = len(samples)
        return Row(f"HTTP, {clients} client{'s' if clients > 1 else ''}", method, done, p50, p99,
                   done / wall, server / done, server / wall, client / done, client / wall,
                   history)

    async def close(self) -> None:
        await asyncio.gather(*(agent.aclose() for agent in self.agents))


def _reference_rows(wasm: bytes) -> list[Row]:
    """The in-process replica API, sequential, in-memory and SQLite stores."""
    from icframework.replica.embedded import Replica

    rows = []
    with tempfile.TemporaryDirectory(prefix="icfw-bench-http-") as directory:
        for store, state_dir in (("memory", None), ("SQLite", Path(directory) / "state")):
            with Replica.open(state_dir) as replica:
                canister = replica.create_canister()
                replica.install_code(canister, wasm)
                calls: dict[str, Callable[[], bytes]] = {
                    "get": partial(replica.query, canister, "get"),
                    "inc": partial(replica.update, canister, "inc"),
                }
                for method, call in calls.items():
                    for _ in range(WARMUP):
                        call()
                    clock = time.perf_counter
                    samples = []
                    cpu_before, started = time.process_time(), clock()
                    for _ in range(REFERENCE_CALLS):
                        start = clock()
                        call()
                        samples.append(clock() - start)
                    wall = clock() - started
                    cpu = time.process_time() - cpu_before
                    p50, p99 = _p50_p99(samples)
                    rows.append(Row(f"in-process, {store} store", method, REFERENCE_CALLS, p50,
                                    p99, REFERENCE_CALLS / wall, None, None,
                                    cpu / REFERENCE_CALLS, cpu / wall))
    return rows


def _print_rows(rows: list[Row]) -> None:
    reference = {row.method: row for row in rows if row.label == "in-process, memory store"}
    print(f"{'path':<27} {'method':<6} {'reqs':>5} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7} "
          f"{'srv CPU':>8} {'srv':>5} {'cli CPU':>8} {'cli':>5} {'p50 vs':>7} {'hist':>5}")
    print(f"{'':<27} {'':<6} {'':>5} {'':>8} {'':>8} {'':>7} "
          f"{'ms/req':>8} {'core':>5} {'ms/req':>8} {'core':>5} {'ref':>7} {'':>5}")
    print("-" * 109)
    for method in ("get", "inc"):
        for row in rows:
            if row.method != method:
                continue
            server = "-" if row.server_cpu is None else f"{row.server_cpu * 1e3:.3f}"
            share = "-" if row.server_share is None else f"{row.server_share:.0%}"
            ratio = row.p50 / reference[method].p50
            print(f"{row.label:<27} {row.method:<6} {row.requests:>5} {row.p50 * 1e3:>8.3f} "
                  f"{row.p99 * 1e3:>8.3f} {row.per_second:>7,.0f} {server:>8} {share:>5} "
                  f"{row.client_cpu * 1e3:>8.3f} {row.client_share:>5.0%} {ratio:>6.1f}x "
                  f"{'-' if row.history is None else row.history:>5}")


# -- the profiled server -----------------------------------------------------------------------


def _profiled_server(prefix: str, argv: list[str]) -> None:
    """Run ``manage.py <argv>`` with one cProfile per thread (thread CPU time).

    Each SIGUSR1 writes every thread's statistics so far to ``<prefix>.<n>.<i>`` (then
    ``<prefix>.<n>.done``) and clears them; the final set is written after the server
    stops (SIGINT). Runs in the server subprocess (see `_profile`).
    """
    profilers: list[cProfile.Profile] = []
    registry = threading.Lock()

    def new_profiler() -> cProfile.Profile:
        profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
        with registry:
            profilers.append(profiler)
        return profiler

    bootstrap = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]

    def profiled_bootstrap(thread: threading.Thread) -> None:
        profiler = new_profiler()
        profiler.enable()
        try:
            bootstrap(thread)
        finally:
            profiler.disable()

    threading.Thread._bootstrap_inner = profiled_bootstrap  # type: ignore[attr-defined]
    main_thread = new_profiler()
    dumps = 0

    def dump() -> None:
        nonlocal dumps
        main_thread.disable()  # the dump itself (here, on the main thread) is not measured
        with registry:
            current = list(profilers)
        written = 0
        for profiler in current:
            profiler.snapshot_stats()  # reads the entries without disabling the profiler
            profiler.clear()
            # Threads idle since the last dump have no entries: nothing to write.
            if profiler.stats:  # type: ignore[attr-defined]
                with open(f"{prefix}.{dumps}.{written}", "wb") as out:
                    marshal.dump(profiler.stats, out)  # type: ignore[attr-defined]
                written += 1
        Path(f"{prefix}.{dumps}.done").touch()
        dumps += 1
        main_thread.enable()

    signal.signal(signal.SIGUSR1, lambda _signum, _frame: dump())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    main_thread.enable()
    try:
        execute_from_command_line(["manage.py", *argv])
    except KeyboardInterrupt:
        pass
    finally:
        dump()
        main_thread.disable()


def _short(location: tuple[str, int, str]) -> str:
    filename, line, func = location
    if filename == "~":
        return func.replace("<built-in method ", "<").replace("<method ", "<")
    path = Path(filename)
    with contextlib.suppress(ValueError):
        path = path.relative_to(ROOT)
    parts = [part for part in path.parts if part not in ("site-packages",)]
    short = "/".join(parts[-2:]) if len(parts) > 2 else "/".join(parts)
    return f"{short}:{line}({func})"


def _print_profile(title: str, files: list[str], requests: int, server_cpu: float) -> None:
    stats: dict[Any, Any] = pstats.Stats(*files).stats  # type: ignore[attr-defined]
    rows = [(loc, nc, tt, ct) for loc, (_cc, nc, tt, ct, _callers) in stats.items()]
    profiled = sum(tt for _loc, _nc, tt, _ct in rows)
    print(f"{title}: {requests} requests; profiled thread CPU {profiled / requests * 1e6:,.0f} "
          f"µs/req (server process CPU {server_cpu / requests * 1e6:,.0f} µs/req, with the "
          "profiler's own cost)")
    for heading, key in (("by cumulative time, dispatch frames left out", 3),
                         ("by own time", 2)):
        print(f"  top {PROFILE_TOP} {heading} (µs/req; calls/req):")
        ranked = sorted(rows, key=lambda r: r[key], reverse=True)
        if key == 3:
            ranked = [r for r in ranked if not any(part in r[0][0] + r[0][2]
                                                   for part in DISPATCH)]
        for loc, nc, tt, ct in ranked[:PROFILE_TOP]:
            print(f"    {ct / requests * 1e6:>7,.0f} cum {tt / requests * 1e6:>6,.0f} own "
                  f"{nc / requests:>5.1f}  {_short(loc)}")


def _signal_dump(process: subprocess.Popen[bytes], prefix: str, number: int) -> list[str]:
    process.send_signal(signal.SIGUSR1)
    marker = Path(f"{prefix}.{number}.done")
    deadline = time.monotonic() + 30
    while not marker.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the profiled server did not write its profile")
        time.sleep(0.02)
    return _dump_files(prefix, number)


def _dump_files(prefix: str, number: int) -> list[str]:
    files = []
    index = 0
    while Path(f"{prefix}.{number}.{index}").exists():
        files.append(f"{prefix}.{number}.{index}")
        index += 1
    return files


def _profile(wasm: bytes, directory: Path) -> None:
    prefix = str(directory / "profile")
    launcher = [sys.executable, str(Path(__file__).resolve()), "--profiled-server", prefix, "--"]
    with runreplica(directory / "profiled-state", directory / "profiled.log",
                    command=launcher) as (url, process):
        canister, root_key = _install(url, wasm)

        async def drive() -> list[tuple[str, int, float, int, list[str]]]:
            clients = Clients(url, root_key, canister, PROFILE_CLIENTS)
            try:
                await clients.warm_up()
                _signal_dump(process, prefix, 0)  # start-up and warm-up: discarded
                phases = []
                for number, (method, requests) in enumerate(
                    (("get", PROFILE_QUERIES), ("inc", PROFILE_UPDATES)), start=1
                ):
                    history = clients.updates
                    cpu = _server_cpu(process.pid)
                    samples, _wall = await clients.drive(method, PROFILE_CLIENTS, requests)
                    cpu = _server_cpu(process.pid) - cpu
                    # The last phase is written when the server stops.
                    files = _signal_dump(process, prefix, number) if number == 1 else []
                    phases.append((method, len(samples), cpu, history, files))
                return phases
            finally:
                await clients.close()

        phases = asyncio.run(drive())
    phases[-1] = (*phases[-1][:4], _dump_files(prefix, 2))
    print(f"3. Server profile: cProfile per thread (thread CPU time), {PROFILE_CLIENTS} clients; "
          "cum = including callees, own = the function itself")
    for method, requests, cpu, history, files in phases:
        kind = ("query `get`" if method == "get"
                else f"v3 update `inc` (ingress history {history} to {history + requests})")
        _print_profile(kind, files, requests, cpu)


# -- main --------------------------------------------------------------------------------------


def _motoko_counter() -> bytes | None:
    try:
        from tests.replica.corpus import motoko_wasm

        return motoko_wasm("counter")
    except Exception as exc:  # no node / npm package
        print(f"(skipped: cannot build counter.mo: {str(exc).splitlines()[0]})")
        return None


def _http_rows(wasm: bytes, directory: Path) -> tuple[list[Row], int]:
    with runreplica(directory / "state", directory / "server.log") as (url, process):
        canister, root_key = _install(url, wasm)

        async def drive() -> tuple[list[Row], int]:
            clients = Clients(url, root_key, canister, max(CONCURRENCY))
            try:
                await clients.warm_up()
                rows = [await clients.row(method, count, process.pid)
                        for method in ("get", "inc") for count in CONCURRENCY]
                final = _nat(await clients.call(clients.agents[0], "get"))
                return rows, final
            finally:
                await clients.close()

        return asyncio.run(drive())


def main() -> None:
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
          f"({platform.python_implementation()}) on {platform.machine()}")
    wasm = _motoko_counter()
    if wasm is None:
        return
    with tempfile.TemporaryDirectory(prefix="icfw-bench-http-") as name:
        directory = Path(name)
        http, final = _http_rows(wasm, directory)
        reference = _reference_rows(wasm)
        incs = WARMUP + sum(row.requests for row in http if row.method == "inc")
        print()
        print("1+2. Motoko counter over HTTP on loopback (runreplica: daphne + Django, SQLite "
              "store) vs the in-process Replica API")
        print(f"     clients = AsyncAgent tasks on one asyncio loop in this process, each with "
              f"its own Ed25519 identity and connection; {WARMUP} warm-up calls per method")
        _print_rows(reference + http)
        print(f"srv CPU = server process utime+stime per request (/proc, {CLOCK_TICK * 1e3:.0f} ms "
              "ticks), cli CPU = this process; core = CPU time / wall time (1 core = 100%);\n"
              "p50 vs ref = p50 / in-process memory-store p50. get = signed query verified by "
              "the agent; inc = v3 call, certificate verified;\nhist = update calls in the "
              "server's ingress history (all in its certified state tree) when the row starts.\n"
              f"counter after the run: {final} (expected {incs})")
        print()
        _profile(wasm, directory)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--profiled-server"]:
        _profiled_server(sys.argv[2], sys.argv[4:])
    else:
        main()
