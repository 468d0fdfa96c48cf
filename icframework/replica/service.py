"""The replica inside a server process: one `Replica`, a lock, and a round loop thread.

`manage.py runreplica` starts the service before serving HTTP; request handlers (the
dashboard, the IC HTTP interface, the gateway) reach it with `get_service()` and do
their work under its lock through `ReplicaService.run`, because the subnet is not
thread-safe. The loop executes a round whenever messages wait, and at least once per
``idle_round_seconds`` so that timers and heartbeats fire.

A round does not hold the lock from start to commit: between two of its messages the
subnet calls `ReplicaService._let_waiting_in`, which hands the lock to every caller
waiting in `run` at that moment and takes it back once they are done. Python's locks
are not fair, so the hand-off counts waiters under a condition; callers arriving while
the round wants the lock back wait for it, so neither side starves. A query, a status
read or a submit therefore waits for at most one message, never a whole round. What
they see mid-round: each canister's state as of its last executed message; ingress
answers and the certified state of the last committed round only (the subnet stages
answers until the commit, and the certified state is built before the round starts).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from icframework.replica.embedded import Replica
from icframework.replica.errors import ReplicaError

T = TypeVar("T")
logger = logging.getLogger(__name__)

_service: ReplicaService | None = None
_service_lock = threading.Lock()


class ReplicaService:
    """Serialises access to a `Replica` and drives its rounds in a background thread."""

    def __init__(self, replica: Replica, *, idle_round_seconds: float = 1.0) -> None:
        self.replica = replica
        self.idle_round_seconds = idle_round_seconds
        self._lock = threading.RLock()
        self._handoff = threading.Condition(threading.Lock())
        self._waiting = 0
        self._round_waiting = False
        self._owner = threading.local()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="replica-rounds", daemon=True)
        self.round_errors = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop after the current round and close the state store."""
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            self.replica.close()

    def run(self, work: Callable[[Replica], T]) -> T:
        """Call ``work(replica)`` under the lock and wake the round loop afterwards.

        During a round this waits for the message being executed, not for the round.
        """
        depth = getattr(self._owner, "depth", 0)
        if depth == 0:
            with self._handoff:
                while self._round_waiting:
                    self._handoff.wait()
                self._waiting += 1
        acquired = False
        try:
            self._lock.acquire()
            acquired = True
        finally:
            if depth == 0:
                with self._handoff:
                    self._waiting -= 1
                    self._handoff.notify_all()
        try:
            self._owner.depth = depth + 1
            result = work(self.replica)
        finally:
            self._owner.depth = depth
            if acquired:
                self._lock.release()
        self._wake.set()
        return result

    def _let_waiting_in(self) -> None:
        """Between two messages of a round: let the callers waiting in `run` go first."""
        with self._handoff:
            if not self._waiting:
                return
        self._lock.release()
        try:
            with self._handoff:
                while self._waiting:
                    self._handoff.wait()
                self._round_waiting = True
            self._lock.acquire()
        finally:
            with self._handoff:
                self._round_waiting = False
                self._handoff.notify_all()

    def _loop(self) -> None:
        next_idle_round = 0.0
        while not self._stopped.is_set():
            with self._lock:
                subnet = self.replica.subnet
                failed = False
                try:
                    if subnet.has_work() or time.monotonic() >= next_idle_round:
                        # Callers let in mid-round read the certified state of the
                        # last committed round: have it built before the round starts.
                        self.replica.certified_state()
                        subnet.between_messages = self._let_waiting_in
                        subnet.execute_round()
                        next_idle_round = time.monotonic() + self.idle_round_seconds
                except Exception:
                    # A failed round committed nothing: log it and go back to the last
                    # committed state rather than keep a half-applied one in memory.
                    failed = True
                    self.round_errors += 1
                    logger.exception("round %s failed; reloading the committed state",
                                     subnet.height)
                    self.replica.reload()
                    next_idle_round = time.monotonic() + self.idle_round_seconds
                busy = not failed and self.replica.subnet.has_work()
            if not busy:
                self._wake.wait(max(0.0, next_idle_round - time.monotonic()))
                self._wake.clear()


def start_service(state_dir: Path | None) -> ReplicaService:
    """Open the replica at ``state_dir`` and start its round loop (once per process)."""
    global _service
    with _service_lock:
        if _service is not None:
            raise ReplicaError("the replica service is already running in this process")
        _service = ReplicaService(Replica.open(state_dir))
        _service.start()
        return _service


def stop_service() -> None:
    global _service
    with _service_lock:
        if _service is not None:
            _service.stop()
            _service = None


def get_service() -> ReplicaService | None:
    """The running service, or None when this process serves no replica."""
    return _service
