"""Timers over the global timer, with the queue stored durably."""

from __future__ import annotations

import pytest

from icframework.sdk import (
    LocalBackend,
    LocalCanister,
    StableVec,
    TimerError,
    clear_timer,
    ic,
    set_timer,
    set_timer_interval,
    update,
)
from icframework.sdk.timers import run_due_timers

SECOND = 1_000_000_000
fired = StableVec[str]("fired")


def tick() -> None:
    fired.push(f"tick@{ic.time()}")


def boom() -> None:
    fired.push("boom")
    raise ValueError("bad timer")


@update
def start(delay: int, every: int) -> int:
    set_timer(delay, tick)
    return set_timer_interval(every, tick)


def test_one_shot_and_interval(backend: LocalBackend) -> None:
    c = LocalCanister(__name__, backend=backend)
    t0 = backend.now_ns
    interval_id = c.update("start", 5 * SECOND, 2 * SECOND)
    assert backend.global_timer == t0 + 2 * SECOND
    assert c.advance_time(SECOND) == 0
    assert c.advance_time(SECOND) == 1  # interval at +2
    assert c.advance_time(3 * SECOND) == 1  # interval (+4 due at +5) and one-shot at +5
    assert list(fired) == [f"tick@{t0 + 2 * SECOND}", f"tick@{t0 + 5 * SECOND}",
                           f"tick@{t0 + 5 * SECOND}"]
    with backend.transaction():
        clear_timer(interval_id)
        clear_timer(interval_id)
    assert backend.global_timer == 0
    assert c.advance_time(10 * SECOND) == 0


def test_timers_survive_upgrade(backend: LocalBackend) -> None:
    c = LocalCanister(__name__, backend=backend)
    c.update("start", SECOND, 10 * SECOND)
    c.upgrade()
    assert backend.global_timer == backend.now_ns + SECOND  # re-armed from the stored queue
    c.advance_time(SECOND)
    assert len(fired) == 1


def test_failing_callback_is_logged_and_others_run(backend: LocalBackend) -> None:
    set_timer(0, boom)
    set_timer(0, tick)
    assert run_due_timers() == 2
    assert fired[0] == "boom" and fired[1].startswith("tick@")
    assert "ValueError: bad timer" in backend.logs[0]
    assert "test_timers.py:" in backend.logs[0]


def test_callbacks_must_be_module_level() -> None:
    with pytest.raises(TimerError, match="module-level function"):
        set_timer(1, lambda: None)

    def local() -> None:
        pass

    with pytest.raises(TimerError, match="module-level function"):
        set_timer(1, local)
    with pytest.raises(TimerError, match="interval must be > 0"):
        set_timer_interval(0, tick)
    with pytest.raises(TimerError, match="delay must be >= 0"):
        set_timer(-1, tick)
