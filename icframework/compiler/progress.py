"""Long steps made visible: a line with an honest estimate, a live bar on a terminal, the time.

`timed_step` wraps a step that runs for seconds without saying anything (componentize-py,
wasmtime compiling the runtime, seeding the demo). It prints a line through the caller's
``progress`` callback with the time the step is expected to take — the time it took
last on this machine when one was recorded (`StepTimes`, a small JSON file beside the
cache it belongs to), else the default the caller measured — then, when standard error
is a terminal, a tqdm bar counting the seconds against that estimate, and finally the
time it really took (which is recorded for the next estimate).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

__all__ = ["BAR_FORMAT", "StepTimes", "estimate_text", "timed_step"]

Progress = Callable[[str], None]
BAR_FORMAT = "  {desc}: {bar} {elapsed} of about {total:.0f} s"
_TICK_SECONDS = 0.25


class StepTimes:
    """Seconds each named step last took, kept as JSON in ``path`` (missing or unreadable:
    nothing known)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, step: str) -> float | None:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get(step)
        except (OSError, ValueError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) and value >= 0 else None

    def record(self, step: str, seconds: float) -> None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        data[step] = round(seconds, 1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                 encoding="utf-8")
        except OSError:
            pass  # a read-only cache: the next estimate falls back to the default


def estimate_text(measured: float | None, default: float, default_source: str) -> tuple[float, str]:
    """(seconds, how they are known) for a step: ``measured`` here last time, or ``default``."""
    if measured is not None:
        return measured, f"about {max(1, round(measured))} s, as it took last time on this machine"
    return default, f"about {max(1, round(default))} s {default_source}"


@contextmanager
def timed_step(
    progress: Progress | None,
    label: str,
    *,
    step: str,
    default_seconds: float,
    default_source: str = "the first time",
    times: StepTimes | None = None,
    done: str = "done",
) -> Iterator[None]:
    """Say ``label`` with its estimate, show a bar while the body runs (on a terminal),
    then say ``done`` with the seconds it took; record them in ``times``."""
    if progress is None:
        yield
        return
    estimate, how = estimate_text(times.get(step) if times else None, default_seconds,
                                  default_source)
    progress(f"{label} ({how})")
    started = time.perf_counter()
    stop = threading.Event()
    ticker: threading.Thread | None = None
    if sys.stderr.isatty():
        bar = tqdm(total=max(1.0, estimate), desc=step, bar_format=BAR_FORMAT, leave=False,
                   file=sys.stderr)

        def tick() -> None:
            while not stop.wait(_TICK_SECONDS):
                bar.n = min(time.perf_counter() - started, bar.total)
                bar.refresh()
            bar.close()

        ticker = threading.Thread(target=tick, name=f"progress-{step}", daemon=True)
        ticker.start()
    try:
        yield
    finally:
        stop.set()
        if ticker is not None:
            ticker.join()
    seconds = time.perf_counter() - started
    if times is not None:
        times.record(step, seconds)
    progress(f"{done} in {seconds:.1f} s")
