"""ASGI servers compared on the replica's IC HTTP interface: the same workload on each.

Each server `runreplica --server` offers (uvicorn with httptools on asyncio's loop and
on uvloop, granian's embedded server, daphne) serves a fresh replica with the Motoko
counter; wrk drives it exactly as `bench_http` does (pre-signed envelopes, keep-alive
connections): signed queries and v3 updates at 1 and 64 connections. Printed per server
and row: requests/s, p50/p99, non-200 answers, socket errors and server CPU per request.
Which server `runreplica` uses by default is decided by this table *and* by the
request-limit tests (``tests/replica/test_asgi_limits.py``): the limits need the body
handed over as it arrives (daphne buffers it) and the WebSocket denial extension for a
503 (granian only closes).

No timed assertions. Usage: ``.venv/bin/python bench/bench_servers.py [SERVER ...]``.
Takes about 40 s per server.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bench_http  # noqa: E402
from bench.support import runreplica, table  # noqa: E402

CONNECTIONS = (1, 64)


def measure(server: str, wasm: bytes, directory: Path) -> list[bench_http.Row]:
    """Queries, then updates, at `CONNECTIONS` against ``runreplica --server server``."""
    saved = bench_http.CONNECTIONS
    bench_http.CONNECTIONS = CONNECTIONS
    try:
        with runreplica(directory / "state", directory / "server.log",
                        options=["--server", server]) as (url, process):
            canister = bench_http.install(url, wasm)
            return bench_http.http_rows(url, process.pid, canister, directory)
    finally:
        bench_http.CONNECTIONS = saved


def main(argv: list[str] | None = None) -> None:
    from icframework.management.commands.runreplica import SERVERS

    servers = argv if argv else list(SERVERS)
    started = time.perf_counter()
    print(f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{bench_http.load_average()}")
    wasm = bench_http.motoko_counter()
    if wasm is None:
        return
    body = []
    for server in servers:
        with tempfile.TemporaryDirectory(prefix=f"icfw-bench-{server}-") as name:
            try:
                rows = measure(server, wasm, Path(name))
            except Exception as exc:  # a server that cannot serve is a row, not a crash
                body.append([server, "-", "-", "-", "-", "-", "-", "-", "-",
                             f"failed: {str(exc).splitlines()[0][:60]}"])
                continue
        for row in rows:
            body.append([server, row.method, str(row.connections), f"{row.per_second:,.0f}",
                         f"{row.p50 * 1e3:.2f}", f"{row.p99 * 1e3:.2f}", str(row.non200),
                         str(row.socket_errors),
                         f"{(row.server_cpu or 0) * 1e6:,.0f}", row.note])
        print(f"  {server}: done; {bench_http.load_average()}", flush=True)
    print()
    print("ASGI servers on the Motoko counter (runreplica --server NAME, wrk, loopback; get = "
          "signed query, inc = v3 call)")
    table(["server", "method", "conns", "req/s", "p50 ms", "p99 ms", "non-200", "sock err",
           "srv µs/req", ""], body)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
