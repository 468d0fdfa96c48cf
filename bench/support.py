"""What the benchmarks share: `runreplica` (a ``manage.py runreplica`` server to measure),
`StoreView` (native fills on a replica canister's store), `percentile` and `table`."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from icframework.replica.execution.kv_store import KeyValueStore
from tests.agent.live_replica import ROOT, free_port, wait_until_serving


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))


class StoreView:
    """A replica canister's `KeyValueStore` as a `LocalBackend`'s store: writes join the
    store's open transaction, which the filler commits after each message."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def __len__(self) -> int:
        return len(self.kv)

    def get(self, key: bytes) -> bytes | None:
        return self.kv.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.kv.begin()
        self.kv.put(key, value)

    def delete(self, key: bytes) -> None:
        self.kv.begin()
        self.kv.delete(key)

    def scan(self, start: bytes, end: bytes | None, reverse: bool,
             limit: int) -> list[tuple[bytes, bytes]]:
        return self.kv.scan(start, end, reverse=reverse, limit=limit)


@contextlib.contextmanager
def runreplica(state_dir: Path, log: Path, *, project: Path = ROOT,
               command: Sequence[str] = (sys.executable, "manage.py"),
               options: Sequence[str] = (),
               startup_seconds: float = 60.0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run ``<command> runreplica <options>`` in ``project`` on a free port with its state
    in ``state_dir`` and its output in ``log``; yield its URL and process; stop it with
    SIGINT (a clean shutdown), killing it if it is still there after 30 s.

    ``command`` is ``manage.py`` under this interpreter, or a launcher in front of it
    (e.g. a profiler); ``options`` are more of runreplica's (``--server``). Raises
    ``RuntimeError`` with its output if it does not answer within ``startup_seconds``.
    """
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["runreplica", "--host", "127.0.0.1", "--port", str(port), "--state-dir",
            str(state_dir), *options]
    with log.open("wb") as output:
        process = subprocess.Popen([*command, *args], cwd=project, stdout=output,
                                   stderr=subprocess.STDOUT)
        try:
            wait_until_serving(process, url, log, timeout_seconds=startup_seconds)
            yield url, process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
