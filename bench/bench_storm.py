"""Connection storms: how ``manage.py runreplica`` answers hundreds of simultaneous clients.

The server is ``manage.py runreplica`` (SQLite state in a temporary directory) started
as a subprocess on a free port; the WAT counter of ``tests/replica/wat_counter.py`` is
installed through the agent. The load comes from ``wrk`` (a separate process, 2 threads,
30 s request timeout so slow answers are measured rather than
dropped) against two endpoints:

* ``status``: ``GET /api/v2/status`` (CBOR, no canister work), on keep-alive connections;
* ``status/new``: the same with ``Connection: close``, so every request opens a new
  connection (what a burst of fresh clients does to the listen backlog);
* ``query``: ``POST /api/v2/canister/<id>/query``, an anonymous query of ``get`` (one
  CBOR envelope built before each run, valid for 4 minutes), answered and signed by the
  node.

Per row (connections x endpoint): requests answered, answers per second, back-pressure
answers (503 with ``Retry-After``) and other non-2xx answers,
socket errors (connect, read — a reset shows here —, write, timeout), and the p50/p95/
p99 latency of every answer wrk received (200 and 503 alike). The reference is the
same endpoint with `REFERENCE_CONNECTIONS` connections in the same run; ``p95 x ref``
is a row's p95 over the reference p95.

No timed assertions. Usage: ``.venv/bin/python bench/bench_storm.py [--seconds N]
[--connections 500,1000] [--project DIR]`` or ``main()`` (``bench/run.py``);
``--project`` runs the ``manage.py`` of another checkout (e.g. an older commit in a git
worktree) with this script, to compare servers. Needs ``wrk`` on the PATH;
without it the script prints why and stops. Takes about 90 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import runreplica  # noqa: E402
from icframework.agent import Agent, ManagementCanister  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.protocol.envelope import Envelope, QueryContent  # noqa: E402
from tests.replica.wat_counter import counter_wasm  # noqa: E402

REFERENCE_CONNECTIONS = 8
CONNECTIONS = (500, 1000)
SECONDS = 10
WRK_THREADS = 2
QUERY_VALIDITY_NS = 4 * 60 * 1_000_000_000
NO_ARGS = b"DIDL\x00\x00"

# wrk's Lua hooks: each thread counts its 503s that carry Retry-After (`response` runs in
# the thread's own Lua state; `done` collects the counts through `setup`'s thread list)
# and `done` writes a JSON summary.
_SCRIPT = r"""
wrk.method = "%(method)s"
%(body)s
wrk.headers["Content-Type"] = "application/cbor"
%(close)s
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) backoff = 0 end
function response(status, headers, body)
  local retry = headers["Retry-After"] or headers["retry-after"]
  if status == 503 and retry ~= nil then backoff = backoff + 1 end
end
function done(summary, latency, requests)
  local busy = 0
  for _, thread in ipairs(threads) do busy = busy + thread:get("backoff") end
  local out = io.open("%(out)s", "w")
  out:write(string.format(
    '{"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"timeout":%%d,"non2xx":%%d,"busy":%%d,"p50":%%d,"p95":%%d,"p99":%%d}',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.errors.status, busy,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
  out:close()
end
"""


@dataclass
class Row:
    endpoint: str
    connections: int
    requests: int
    per_second: float
    non2xx: int
    connect: int
    read: int
    write: int
    timeout: int
    busy: int
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _install(url: str) -> Principal:
    with Agent(url, identity=Ed25519Identity.generate(), fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        management.install_code(canister, counter_wasm())
        return canister


def _query_body(canister: Principal) -> bytes:
    content = QueryContent(canister_id=canister, method_name="get", arg=NO_ARGS,
                           sender=Principal.anonymous(),
                           ingress_expiry=time.time_ns() + QUERY_VALIDITY_NS)
    return Envelope(content).to_cbor()


def _lua_string(data: bytes) -> str:
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def _run(url: str, path: str, body: bytes | None, connections: int, seconds: int,
         directory: Path, *, new_connections: bool = False) -> Row:
    out = directory / "wrk.json"
    script = directory / "storm.lua"
    script.write_text(_SCRIPT % {
        "method": "POST" if body is not None else "GET",
        "body": f"wrk.body = {_lua_string(body)}" if body is not None else "",
        "out": str(out),
        "close": 'wrk.headers["Connection"] = "close"' if new_connections else "",
    })
    threads = min(WRK_THREADS, connections)
    completed = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
         "--timeout", "30s", "-s", str(script), f"{url}{path}"],
        capture_output=True, text=True, check=False)
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({completed.returncode}):\n{completed.stderr}")
    data = json.loads(out.read_text())
    out.unlink()
    return Row(
        endpoint="query" if body is not None else "status/new" if new_connections else "status",
        connections=connections,
        requests=data["requests"],
        per_second=data["requests"] / (data["duration_us"] / 1e6),
        non2xx=data["non2xx"],
        connect=data["connect"], read=data["read"], write=data["write"],
        timeout=data["timeout"], busy=data["busy"],
        p50_ms=data["p50"] / 1e3, p95_ms=data["p95"] / 1e3, p99_ms=data["p99"] / 1e3,
    )


def _print(rows: list[Row]) -> None:
    reference = {row.endpoint: row.p95_ms for row in rows
                 if row.connections == REFERENCE_CONNECTIONS}
    header = (f"{'endpoint':<10} {'conns':>5} {'answers':>8} {'ans/s':>7} {'503+RA':>7} "
              f"{'other':>6} {'connect':>7} {'read':>6} {'write':>6} {'timeout':>7} {'p50 ms':>8} "
              f"{'p95 ms':>8} {'p99 ms':>8} {'p95 x ref':>9}")
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.p95_ms / reference[row.endpoint] if reference.get(row.endpoint) else 0.0
        print(f"{row.endpoint:<10} {row.connections:>5} {row.requests:>8} "
              f"{row.per_second:>7.0f} {row.busy:>7} {row.non2xx - row.busy:>6} "
              f"{row.connect:>7} {row.read:>6} {row.write:>6} {row.timeout:>7} "
              f"{row.p50_ms:>8.1f} {row.p95_ms:>8.1f} {row.p99_ms:>8.1f} {ratio:>9.1f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=SECONDS, help="wrk run length")
    parser.add_argument("--project", type=Path, default=ROOT,
                        help="checkout whose manage.py runreplica is measured")
    parser.add_argument("--connections", default=",".join(map(str, CONNECTIONS)),
                        help="comma-separated connection counts (the reference is added)")
    options = parser.parse_args(argv or [])
    if shutil.which("wrk") is None:
        print("bench_storm: wrk is not installed (apt-get install wrk); nothing measured")
        return
    counts = [REFERENCE_CONNECTIONS, *(int(c) for c in options.connections.split(","))]
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()} on "
          f"{platform.machine()}; wrk {WRK_THREADS} threads, {options.seconds} s per row")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="icfw-bench-storm-") as name:
        directory = Path(name)
        with runreplica(directory / "state", directory / "runreplica.log",
                        project=options.project.resolve()) as (url, _process):
            canister = _install(url)
            for new_connections in (False, True):
                for connections in counts:
                    rows.append(_run(url, "/api/v2/status", None, connections,
                                     options.seconds, directory,
                                     new_connections=new_connections))
                    time.sleep(2)
            for connections in counts:
                rows.append(_run(url, f"/api/v2/canister/{canister}/query",
                                 _query_body(canister), connections, options.seconds,
                                 directory))
                time.sleep(2)
    print()
    print(f"runreplica of {options.project.resolve()} under wrk (latency of every answer, "
          "200 or 503)")
    _print(rows)
    print("503+RA = back-pressure answers (503 with Retry-After); other = any other "
          "non-2xx answer;\nconnect/read/write/timeout = wrk socket errors (a reset "
          "connection counts under read);\np95 x ref = p95 over the same endpoint's p95 with "
          f"{REFERENCE_CONNECTIONS} connections")
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
