"""Long steps say what they do, how long they should take (the last time measured here, else
the given default) and how long they took; a failed step says no time and records none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from icframework.compiler.progress import StepTimes, timed_step


def test_a_step_says_its_estimate_and_then_its_time(tmp_path: Path) -> None:
    times = StepTimes(tmp_path / "timings.json")
    lines: list[str] = []
    with timed_step(lines.append, "compiling", step="compile", default_seconds=17,
                    default_source="the first time (measured on a 2-core machine)",
                    times=times, done="compiled"):
        pass
    assert lines[0] == "compiling (about 17 s the first time (measured on a 2-core machine))"
    assert re.fullmatch(r"compiled in \d+\.\d s", lines[1]), lines
    recorded = json.loads((tmp_path / "timings.json").read_text())["compile"]
    assert times.get("compile") == recorded

    (tmp_path / "timings.json").write_text(json.dumps({"compile": 23.4}))
    lines.clear()
    with timed_step(lines.append, "compiling", step="compile", default_seconds=17, times=times):
        pass
    assert lines[0] == "compiling (about 23 s, as it took last time on this machine)"


def test_a_failed_step_records_no_time(tmp_path: Path) -> None:
    times = StepTimes(tmp_path / "timings.json")
    lines: list[str] = []
    with pytest.raises(RuntimeError), timed_step(lines.append, "building", step="build",
                                                 default_seconds=13, times=times):
        raise RuntimeError("componentize-py failed")
    assert lines == ["building (about 13 s the first time)"]
    assert times.get("build") is None


def test_unreadable_timings_fall_back_to_the_default(tmp_path: Path) -> None:
    path = tmp_path / "timings.json"
    for text in ("not json", "[1, 2]", '{"build": "slow"}', '{"build": -1}'):
        path.write_text(text)
        assert StepTimes(path).get("build") is None
    lines: list[str] = []
    with timed_step(lines.append, "building", step="build", default_seconds=13,
                    times=StepTimes(path)):
        pass
    assert lines[0] == "building (about 13 s the first time)"
    assert StepTimes(path).get("build") is not None


def test_silent_without_a_progress_callback(tmp_path: Path) -> None:
    times = StepTimes(tmp_path / "timings.json")
    with timed_step(None, "building", step="build", default_seconds=13, times=times):
        pass
    assert not (tmp_path / "timings.json").exists()
