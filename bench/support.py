"""What the benchmarks share: `runreplica` (a ``manage.py runreplica`` server to measure),
`SteppedReplica` (an in-process replica whose clock the bench moves, with typed calls that
count instructions), `build_python_app` (an app's canister for the wasm Python runtime),
`round_reports` (what each subnet round did), `mp4_like` (bytes that sniff as MP4),
`StoreView` (native fills on a replica canister's store), `percentile` and `table`."""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.test import override_settings

from icframework.compiler.app_build import BuildResult, build_app
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.execution.kv_store import KeyValueStore
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.subnet import RoundReport, Subnet
from icframework.sdk.dispatch import decode_result, encode_args, method_table
from tests.agent.live_replica import ROOT, free_port, wait_until_serving


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, ["-" * w for w in widths], *rows]:
        print("  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def build_python_app(app_dir: Path) -> BuildResult:
    """The canister of the app at ``app_dir`` built for the wasm Python runtime (cached
    under ``.build/apps``)."""
    with override_settings(BASE_DIR=ROOT):
        return build_app(app_dir, pack_python_module, cache_dir=ROOT / ".build" / "apps",
                         progress=None)


def mp4_like(size: int, seed: int) -> bytes:
    """``size`` bytes that sniff as MP4 (an ``ftyp`` box, then random bytes)."""
    head = b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00"
    return head + random.Random(seed).randbytes(size - len(head))


def round_reports(subnet: Subnet) -> tuple[list[RoundReport], Callable[[], None]]:
    """Record the report of every round ``subnet`` executes from now on (an
    instance-level wrapper of `Subnet.execute_round`): the list, and the undo."""
    reports: list[RoundReport] = []
    original = subnet.execute_round

    def recording() -> RoundReport:
        report = original()
        reports.append(report)
        return report

    subnet.execute_round = recording  # type: ignore[method-assign]

    def undo() -> None:
        del subnet.execute_round

    return reports, undo


_SECOND = 1_000_000_000
_ANSWERED = ("REPLIED", "REJECTED", "DONE")


class SteppedReplica:
    """An in-process replica (memory store) whose clock the bench moves (``clock``, ns),
    and typed calls on the canister built from the Python package ``canister_module``
    (the subclass installs it as ``canister``) that count the instructions they cost."""

    canister: Principal

    def __init__(self, canister_module: str) -> None:
        self.clock = time.time_ns()
        self.replica = Replica.open(None, clock=lambda: self.clock)
        self.methods = method_table(canister_module)

    def update(self, sender: Principal, method: str, *args: Any,
               canister: Principal | None = None, raw: bytes | None = None
               ) -> tuple[int, float, Any]:
        """One update through the replica, rounds run (the clock one second on before
        each) until it is answered: instructions, seconds, the decoded reply (the raw
        reply bytes when the argument is ``raw`` bytes, as for a canister without a
        method table here)."""
        started = time.perf_counter()
        arg = raw if raw is not None else encode_args(self.methods[method], args)
        request = self.replica.submit(canister or self.canister, method, arg, sender=sender)
        spent = 0
        while True:
            status = self.replica.subnet.ingress_status(request)
            if status is not None and status.state.name in _ANSWERED:
                break
            self.clock += _SECOND
            spent += self.replica.subnet.execute_round().instructions
        seconds = time.perf_counter() - started
        assert status.reply is not None, (method, status)
        reply = status.reply if raw is not None else decode_result(self.methods[method],
                                                                    status.reply)
        return spent, seconds, reply

    def query(self, sender: Principal, method: str, *args: Any) -> tuple[int, float, Any]:
        """One query on the canister: instructions, seconds, the decoded reply."""
        started = time.perf_counter()
        result = self.replica.run_query(self.canister, method,
                                        encode_args(self.methods[method], args), sender=sender)
        seconds = time.perf_counter() - started
        assert result.reply is not None, (method, result.reject)
        return result.instructions, seconds, decode_result(self.methods[method], result.reply)


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
