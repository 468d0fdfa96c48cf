"""`ControlledReplica`: the embedded replica canisters under test run on, with its clock.

How it works: a `Replica` on an in-memory state store whose clock is a number the
driver moves (`advance_time`), not the wall clock, so time in tests moves only when a
test says so, as with `LocalCanister` (each round still adds at least a nanosecond, as
on the IC). Compiled modules are cached in memory per process (a 20 MB IC-target module
compiles once, in 10-40 s; an install of it then takes a few tenths of a second) and,
when a directory is given, on disk under ``<dir>/wasm-cache`` (the replica's own
compiled-module cache), where only the newest `MAX_CACHED_MODULES` are kept. Events
canisters publish are handed to the list each `ReplicaCanister` registered. A canister
no test holds any more is deleted before the next one is created, so a long test
session does not keep every instance.

`shared_replica` is the one per process that `ReplicaCanister` uses by default.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import wasmtime
from wasmtime import component

from icframework.core import Principal
from icframework.replica import (
    CanisterEvent,
    MemoryStateStore,
    Replica,
    set_runtime_loader,
)
from icframework.sdk.backend import DEFAULT_TIME_NS

__all__ = ["MAX_CACHED_MODULES", "ControlledReplica", "prune_compiled_modules", "shared_replica"]

MAX_TIMER_ROUNDS = 1000
"""Rounds `ControlledReplica.advance_time` runs before deciding a timer re-arms forever."""
MAX_CACHED_MODULES = 12
"""Compiled modules kept on disk: an IC-target module takes about 38 MB there, and each
change of an app, or of the SDK its module embeds, adds one."""


class _Clock:
    """The replica's clock: nanoseconds since the epoch, moved only by the driver."""

    def __init__(self, now_ns: int) -> None:
        self.now_ns = now_ns

    def __call__(self) -> int:
        return self.now_ns


class ControlledReplica:
    """An embedded replica driven by tests (see the module docstring).

    ``cache_dir``: where compiled modules are kept between processes (None: in memory
    only). ``runtime_loader``: loads the shared Python runtime for the component target
    (`icframework.replica.set_runtime_loader`; None leaves the process's loader as is).
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        runtime_loader: Callable[[wasmtime.Engine], component.Component] | None = None,
        start_ns: int = DEFAULT_TIME_NS,
    ) -> None:
        if runtime_loader is not None:
            set_runtime_loader(runtime_loader)
        self.clock = _Clock(start_ns)
        if cache_dir is not None:
            prune_compiled_modules(cache_dir / "wasm-cache")
        self.replica = Replica.open(cache_dir, store=MemoryStateStore(), clock=self.clock)
        self.controller = Principal.anonymous()
        self._events: dict[bytes, list[tuple[str, bytes]]] = {}
        self._dropped: list[Principal] = []
        self.replica.add_event_listener(self._deliver)

    # -- canisters ---------------------------------------------------------------------------
    def create_canister(self, owner: object, events: list[tuple[str, bytes]]) -> Principal:
        """A new empty canister, controlled by `controller`; its events go to ``events``,
        and it is deleted once ``owner`` is garbage (at the next creation)."""
        self._delete_dropped()
        canister_id = self.replica.create_canister(sender=self.controller)
        self._events[canister_id.raw] = events
        weakref.finalize(owner, self._dropped.append, canister_id)
        return canister_id

    def _delete_dropped(self) -> None:
        while self._dropped:
            canister_id = self._dropped.pop()
            self._events.pop(canister_id.raw, None)
            self.replica.stop_canister(canister_id, sender=self.controller)
            self.replica.delete_canister(canister_id, sender=self.controller)

    def _deliver(self, events: Sequence[CanisterEvent]) -> None:
        for event in events:
            found = self._events.get(event.canister_id)
            if found is not None:
                found.append((event.topic, event.value))

    # -- time --------------------------------------------------------------------------------
    @property
    def time_ns(self) -> int:
        """The replica's time: that of its last round, which queries see (nanoseconds)."""
        return self.replica.time_ns

    def run_round(self, canister_id: Principal) -> None:
        """Execute one round (heartbeats, due timers, queued messages) by asking the
        management canister for ``canister_id``'s status, a message without effects."""
        self.replica.canister_status(canister_id, sender=self.controller)

    def advance_time(self, delta_ns: int, canister_id: Principal) -> int:
        """Move the clock ``delta_ns`` nanoseconds past the replica's time and run a round
        there, then one more round while ``canister_id``'s global timer is due (a timer
        that re-armed in the past); returns how many times that timer ran.

        Raises `ValueError` for a negative delta and `RuntimeError` if the timer is still
        due after `MAX_TIMER_ROUNDS` rounds.
        """
        if delta_ns < 0:
            raise ValueError(f"time cannot go backwards: delta_ns={delta_ns}; pass 0 or more")
        self.clock.now_ns = max(self.clock.now_ns, self.replica.time_ns + delta_ns)
        runs = 0
        for _ in range(MAX_TIMER_ROUNDS):
            due = self._timer_due(canister_id)
            self.run_round(canister_id)
            runs += due
            if not self._timer_due(canister_id):
                return runs
        raise RuntimeError(
            f"the global timer of canister {canister_id} was still due after "
            f"{MAX_TIMER_ROUNDS} rounds: it keeps re-arming in the past"
        )

    def _timer_due(self, canister_id: Principal) -> bool:
        """Whether the next round runs ``canister_id``'s global timer."""
        record = self.replica.canister_record(canister_id)
        deadline = 0 if record is None else record.global_timer_ns
        return deadline != 0 and deadline <= max(self.replica.time_ns + 1, self.clock.now_ns)


def prune_compiled_modules(directory: Path, keep: int = MAX_CACHED_MODULES) -> None:
    """Delete all but the ``keep`` most recently written compiled modules (``*.cwasm``)
    in ``directory``; another process may be pruning or reading them too."""

    def written(path: Path) -> float:
        try:
            return path.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    for stale in sorted(directory.glob("*.cwasm"), key=written, reverse=True)[keep:]:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


_shared: ControlledReplica | None = None


def shared_replica(
    cache_dir: Path | None,
    runtime_loader: Callable[[wasmtime.Engine], component.Component],
) -> ControlledReplica:
    """The process's `ControlledReplica`, opened at the first call (with these arguments)."""
    global _shared
    if _shared is None:
        _shared = ControlledReplica(cache_dir, runtime_loader=runtime_loader)
    return _shared
