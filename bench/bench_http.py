"""The replica's IC HTTP interface under load: queries/s, updates/s, latency and server CPU.

The server is ``manage.py runreplica`` (SQLite state in a temporary directory) started as
a subprocess on a free port; the Motoko ``counter`` (``tests/replica/canisters/counter.mo``)
is installed through the agent. The load generator is **wrk** (a separate C process,
keep-alive connections), so the figures are the server's, not a Python client's:

1. ``get`` (signed query, ``POST /api/v2/canister/<id>/query``) and ``inc`` (v3 update,
   ``POST /api/v3/canister/<id>/call``, the certificate in the answer) at 1, 8 and 64
   connections. The envelopes are signed (Ed25519) before the row starts: one query
   envelope per connection, and for updates thousands of distinct call envelopes (each
   its own nonce), which a wrk Lua script (`WRK_SCRIPT`) deals out from a file so that
   no envelope is sent twice. Per row: requests/s, p50/p99 latency (wrk's), answers
   other than HTTP 200 (a 202 is a v3 call that was not answered in time), socket
   errors, and server CPU (utime + stime of the server process from ``/proc``, all its
   threads) per request and as a share of one core.
2. The reference: the in-process replica API on the same wasm (`Replica.query` /
   `Replica.update`, i.e. submit + round + commit), sequential, with the in-memory and
   the SQLite store; the ``vs ref`` column is the HTTP row's requests/s over the
   in-process SQLite store's.
3. ``--profile``: where the server's time goes. A second server runs under a per-thread
   cProfile (every thread gets its own profiler timed with `time.thread_time_ns`, so the
   figures are CPU time, blocking waits excluded); wrk drives it with `PROFILE_CONNECTIONS`
   connections, queries then updates, and each phase's profile is printed as the top
   functions by cumulative time (event-loop dispatch frames left out: their cumulative
   time is everything) and by own time, in µs per request. The profiler's timer is a
   system call per event, so small hot functions are inflated several-fold; the ranking,
   not the absolute figure, is the point.

The machine's load average is printed beside the figures: other work on a 2-core
machine moves them. No timed assertions. Usage: ``.venv/bin/python bench/bench_http.py
[--server NAME] [--profile]`` or ``main()`` (``bench/run.py``). Needs ``wrk`` on the
PATH and node with the ``motoko`` npm package (or a cached build under ``.build``);
without them it prints why and stops. Takes about 60 s (plus 30 s with ``--profile``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import marshal
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import percentile, runreplica, table  # noqa: E402
from icframework.agent import Agent, ManagementCanister  # noqa: E402
from icframework.candid import encode  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.protocol import CallContent, QueryContent, sign_envelope  # noqa: E402

CONNECTIONS = (1, 8, 64)
ROW_SECONDS = {1: 3, 8: 3, 64: 5}
UPDATES_PER_SECOND_BOUND = 2500  # envelopes signed per row second: more than any row sends
REFERENCE_CALLS = 1000
WARMUP_SECONDS = 1
PROFILE_CONNECTIONS = 8
PROFILE_SECONDS = 4
PROFILE_TOP = 15
NO_ARGS = encode([], [])
EXPIRY_NS = 4 * 60 * 1_000_000_000
#: Event-loop and thread dispatch frames: their cumulative time is just "everything".
DISPATCH = ("/asyncio/", "/concurrent/futures/", "/threading.py", "_contextvars.Context",
            "uvicorn/", "granian/", "twisted/", "daphne/")
CLOCK_TICK = 1 / os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = r"""
-- Deals out the envelopes of a file (one hex line each) over wrk's threads: thread i
-- of n sends lines i, i+n, ...; with cycle=0 each envelope is sent once and a thread
-- that runs out stops (and says so), with cycle=1 a thread sends its lines again.
local threads, counter = {}, 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  local path, step, cycle = args[1], tonumber(args[2]), args[3] == "1"
  bodies, next_body, non200, ran_out, repeat_bodies = {}, 0, 0, 0, cycle
  local k = 0
  for line in io.lines(path) do
    if k % step == id then
      bodies[#bodies + 1] = (line:gsub("..", function(h)
        return string.char(tonumber(h, 16)) end))
    end
    k = k + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/cbor"
end
function request()
  next_body = next_body + 1
  if next_body > #bodies then
    if repeat_bodies then
      next_body = 1
    else
      ran_out = 1
      wrk.thread:stop()
      return wrk.format("GET", "/api/v2/status", {}, "")
    end
  end
  return wrk.format(nil, nil, nil, bodies[next_body])
end
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
  local non, out = 0, 0
  for _, t in ipairs(threads) do
    non = non + t:get("non200")
    out = out + t:get("ran_out")
  end
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d %d\n", summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), non,
    e.connect + e.read + e.write + e.timeout, out))
end
"""


# -- helpers -----------------------------------------------------------------------------------


def server_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK  # utime, stime (fields 14, 15)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def install(url: str, wasm: bytes) -> Principal:
    """Create a canister and install ``wasm`` over HTTP."""
    with Agent(url, identity=Ed25519Identity.generate(), fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, wasm)
        return canister


def query_envelopes(canister: Principal, count: int) -> list[bytes]:
    """``count`` signed ``get`` query envelopes, each by its own identity."""
    expiry = time.time_ns() + EXPIRY_NS
    bodies = []
    for _ in range(count):
        identity = Ed25519Identity.generate()
        content = QueryContent(canister, "get", NO_ARGS, identity.principal, expiry)
        bodies.append(sign_envelope(content, identity).to_cbor())
    return bodies


def call_envelopes(canister: Principal, count: int) -> list[bytes]:
    """``count`` distinct signed ``inc`` call envelopes (one identity, a nonce each)."""
    identity = Ed25519Identity.generate()
    expiry = time.time_ns() + EXPIRY_NS
    return [sign_envelope(CallContent(canister, "inc", NO_ARGS, identity.principal,
                                      ingress_expiry=expiry, nonce=n.to_bytes(8, "big")),
                          identity).to_cbor()
            for n in range(count)]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    p50: float  # seconds
    p99: float
    non200: int
    socket_errors: int
    ran_out: int  # wrk threads that ran out of envelopes before the row's end

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, bodies: Sequence[bytes], connections: int, seconds: float, *,
        cycle: bool, directory: Path) -> WrkResult:
    """Run wrk with `WRK_SCRIPT` POSTing ``bodies`` to ``url``; its summary."""
    threads = 1 if connections == 1 else 2
    script = directory / "envelopes.lua"
    script.write_text(WRK_SCRIPT)
    lines = directory / "envelopes.hex"
    lines.write_text("".join(body.hex() + "\n" for body in bodies))
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", "30s", "-s", str(script), url, "--", str(lines), str(threads),
               "1" if cycle else "0"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((row for row in output.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{output}")
    requests, micros, p50, p99, non200, errors, ran_out = map(int, line.split()[1:])
    return WrkResult(requests, micros / 1e6, p50 / 1e6, p99 / 1e6, non200, errors, ran_out)


# -- rows --------------------------------------------------------------------------------------


@dataclass
class Row:
    path: str
    method: str
    connections: int | None
    requests: int
    per_second: float
    p50: float
    p99: float
    non200: int | None = None
    socket_errors: int | None = None
    server_cpu: float | None = None  # seconds per request
    server_share: float | None = None  # server CPU / wall
    note: str = ""


def http_rows(url: str, pid: int, canister: Principal, directory: Path) -> list[Row]:
    """`CONNECTIONS` rows of queries, then of updates, against the server at ``url``."""
    rows = []
    query_url = f"{url}/api/v2/canister/{canister}/query"
    call_url = f"{url}/api/v3/canister/{canister}/call"
    queries = query_envelopes(canister, max(CONNECTIONS))
    wrk(query_url, queries, 8, WARMUP_SECONDS, cycle=True, directory=directory)
    wrk(call_url, call_envelopes(canister, 500), 8, WARMUP_SECONDS, cycle=False,
        directory=directory)
    for method, target in (("get", query_url), ("inc", call_url)):
        for connections in CONNECTIONS:
            seconds = ROW_SECONDS[connections]
            bodies = (queries if method == "get" else
                      call_envelopes(canister, UPDATES_PER_SECOND_BOUND * seconds))
            cpu = server_cpu(pid)
            result = wrk(target, bodies, connections, seconds, cycle=method == "get",
                         directory=directory)
            cpu = server_cpu(pid) - cpu
            rows.append(Row("HTTP (wrk)", method, connections, result.requests,
                            result.per_second, result.p50, result.p99, result.non200,
                            result.socket_errors, cpu / max(1, result.requests),
                            cpu / result.seconds,
                            "RAN OUT of envelopes" if result.ran_out else ""))
    return rows


def reference_rows(wasm: bytes) -> list[Row]:
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
                    for _ in range(30):
                        call()
                    clock = time.perf_counter
                    samples = []
                    started = clock()
                    for _ in range(REFERENCE_CALLS):
                        start = clock()
                        call()
                        samples.append(clock() - start)
                    wall = clock() - started
                    rows.append(Row(f"in-process, {store} store", method, None,
                                    REFERENCE_CALLS, REFERENCE_CALLS / wall,
                                    percentile(samples, 0.5), percentile(samples, 0.99)))
    return rows


def print_rows(rows: list[Row]) -> None:
    reference = {row.method: row for row in rows if row.path == "in-process, SQLite store"}
    body = []
    for method in ("get", "inc"):
        for row in rows:
            if row.method != method:
                continue
            body.append([
                row.path, row.method, "-" if row.connections is None else str(row.connections),
                f"{row.requests:,}", f"{row.per_second:,.0f}", f"{row.p50 * 1e3:.2f}",
                f"{row.p99 * 1e3:.2f}", "-" if row.non200 is None else str(row.non200),
                "-" if row.socket_errors is None else str(row.socket_errors),
                "-" if row.server_cpu is None else f"{row.server_cpu * 1e6:,.0f}",
                "-" if row.server_share is None else f"{row.server_share:.0%}",
                f"{row.per_second / reference[method].per_second:.2f}x", row.note,
            ])
    table(["path", "method", "conns", "requests", "req/s", "p50 ms", "p99 ms", "non-200",
           "sock err", "srv µs/req", "srv core", "vs ref", ""], body)


# -- the profiled server -----------------------------------------------------------------------


def profiled_server(prefix: str, argv: list[str]) -> None:
    """Run ``manage.py <argv>`` with one cProfile per thread (thread CPU time).

    Each SIGUSR1 writes every thread's statistics so far to ``<prefix>.<n>.<i>`` (then
    ``<prefix>.<n>.done``) and clears them; the final set is written after the server
    stops (SIGINT). Runs in the server subprocess (see `profile`).
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


def _print_profile(title: str, files: list[str], requests: int, cpu: float) -> None:
    stats: dict[Any, Any] = pstats.Stats(*files).stats  # type: ignore[attr-defined]
    rows = [(loc, nc, tt, ct) for loc, (_cc, nc, tt, ct, _callers) in stats.items()]
    profiled = sum(tt for _loc, _nc, tt, _ct in rows)
    print(f"{title}: {requests:,} requests; profiled thread CPU {profiled / requests * 1e6:,.0f} "
          f"µs/req (server process CPU {cpu / requests * 1e6:,.0f} µs/req, with the "
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


def profile(wasm: bytes, directory: Path, options: Sequence[str]) -> None:
    prefix = str(directory / "profile")
    launcher = [sys.executable, str(Path(__file__).resolve()), "--profiled-server", prefix, "--"]
    with runreplica(directory / "profiled-state", directory / "profiled.log",
                    command=launcher, options=options) as (url, process):
        canister = install(url, wasm)
        query_url = f"{url}/api/v2/canister/{canister}/query"
        call_url = f"{url}/api/v3/canister/{canister}/call"
        queries = query_envelopes(canister, PROFILE_CONNECTIONS)
        wrk(query_url, queries, PROFILE_CONNECTIONS, WARMUP_SECONDS, cycle=True,
            directory=directory)
        _signal_dump(process, prefix, 0)  # start-up and warm-up: discarded
        phases = []
        for number, (method, target, bodies) in enumerate((
                ("get", query_url, queries),
                ("inc", call_url, call_envelopes(canister, 2000 * PROFILE_SECONDS))), start=1):
            cpu = server_cpu(process.pid)
            result = wrk(target, bodies, PROFILE_CONNECTIONS, PROFILE_SECONDS,
                         cycle=method == "get", directory=directory)
            cpu = server_cpu(process.pid) - cpu
            files = _signal_dump(process, prefix, number)
            phases.append((method, result, cpu, files))
    print(f"3. Server profile: cProfile per thread (thread CPU time), wrk with "
          f"{PROFILE_CONNECTIONS} connections for {PROFILE_SECONDS} s per phase; cum = "
          "including callees, own = the function itself")
    for method, result, cpu, files in phases:
        kind = "query `get`" if method == "get" else "v3 update `inc`"
        _print_profile(f"{kind} ({result.per_second:,.0f}/s under the profiler)", files,
                       result.requests, cpu)


# -- main --------------------------------------------------------------------------------------


def motoko_counter() -> bytes | None:
    if shutil.which("wrk") is None:
        print("(skipped: wrk is not on the PATH; install it, e.g. apt-get install wrk)")
        return None
    try:
        from tests.replica.corpus import motoko_wasm

        return motoko_wasm("counter")
    except Exception as exc:  # no node / npm package
        print(f"(skipped: cannot build counter.mo: {str(exc).splitlines()[0]})")
        return None


def measure_server(wasm: bytes, directory: Path, options: Sequence[str] = ()) -> list[Row]:
    """`http_rows` against a fresh ``runreplica <options>``."""
    with runreplica(directory / "state", directory / "server.log",
                    options=options) as (url, process):
        canister = install(url, wasm)
        return http_rows(url, process.pid, canister, directory)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--server", default=None,
                        help="runreplica's --server (default: runreplica's default)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the server per thread (section 3)")
    args = parser.parse_args([] if argv is None else argv)  # bench/run.py passes none
    options = ["--server", args.server] if args.server else []
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} "
          f"({platform.python_implementation()}) on {platform.machine()}; {load_average()}")
    wasm = motoko_counter()
    if wasm is None:
        return
    with tempfile.TemporaryDirectory(prefix="icfw-bench-http-") as name:
        directory = Path(name)
        http = measure_server(wasm, directory, options)
        after = load_average()
        reference = reference_rows(wasm)
        print()
        print(f"1+2. Motoko counter: runreplica {' '.join(options) or '(default server)'} "
              "(SQLite store) driven by wrk over loopback, vs the in-process Replica API")
        print_rows(reference + http)
        print("get = signed query (/api/v2/.../query); inc = v3 call (/api/v3/.../call, "
              "certificate in the answer); non-200 counts every other answer (202 = not "
              "answered in time);\nsrv = the server process's utime+stime (/proc, "
              f"{CLOCK_TICK * 1e3:.0f} ms ticks) per request and per wall second (1 core = "
              "100%); vs ref = req/s over the in-process SQLite store's req/s (sequential)."
              f"\n{after} right after the HTTP rows")
        if args.profile:
            print()
            profile(wasm, directory, options)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--profiled-server"]:
        profiled_server(sys.argv[2], sys.argv[4:])
    else:
        main(sys.argv[1:])
