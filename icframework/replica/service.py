"""The replica inside a server process: one `Replica`, a thread that runs its rounds and
the work queued for it, and callers that run their work inline while that thread idles.

How it works: the subnet is not thread-safe, so whoever touches it holds `_busy`: the
service's thread (``replica-rounds``) for each of its turns (serving queued work,
running a round, resolving waiters), or a caller for one piece of work. `run`
(blocking, for synchronous code such as the dashboard's views and the management
commands) and `call` (awaitable, for the event loop of the HTTP interface) run
``work(replica)`` **inline** in the caller's thread when the replica's thread is idle
(`_busy` free and not wanted by that thread): no thread hop, which is what queries,
status reads and submissions between rounds cost. Otherwise the work is **queued**, and
whoever holds `_busy` serves the queue: the replica's thread between two messages of a
round (the subnet's ``between_messages`` hook) and at the start and end of each turn,
an inline caller when its own work is done. So queued work waits for at most one
running message, never a whole round, and under load callers go back to running inline
as soon as a turn ends instead of feeding the thread a queue. Results travel back
through a `concurrent.futures.Future` (`run`) or an asyncio future resolved with
``loop.call_soon_threadsafe`` (`call`). A caller never blocks on `_busy`, and once the
replica's thread wants it callers queue instead, so no lock is handed back and forth
and rounds are not starved. The round loop executes a round whenever messages wait, and
at least once per ``idle_round_seconds`` so that timers and heartbeats fire.

What work sees mid-round: each canister's state as of its last executed message;
ingress answers and the certified state of the last committed round only (the subnet
stages answers until the commit, and the certified state is built before the round
starts).

**Submit and wait** (`submit_and_wait`, `submit_and_wait_blocking`) is the one way the HTTP
interface (v3 calls), the gateway's update calls and the canister WebSocket's calls wait
for an update: the submission registers a waiter for the request id in the same piece
of work, so no commit can slip between them; after every commit the replica's thread
resolves the waiters whose calls reached a terminal status (with the certificate of
``/request_status/<id>`` from that commit when asked for). Nothing polls.

Before `start` and after `stop` there is no thread: `run` then calls ``work`` directly,
under a lock, in the caller's thread.

The service serializes the replica itself too (`Replica.serialize_with`): a thread that
calls ``service.replica.update(...)`` (or submit, query, a management helper) directly
runs it through `run`, exactly as if it had written ``service.run(lambda r:
r.update(...))``; inside work the replica's calls run at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from icframework.replica.embedded import Replica
from icframework.replica.errors import ReplicaError
from icframework.replica.state import IngressStatus

T = TypeVar("T")
logger = logging.getLogger(__name__)

QUEUE_GRACE_SECONDS = 0.002
"""How long work queued during a turn waits for an inline caller to serve it before the
replica's thread takes a turn for it."""

_service: ReplicaService | None = None
_service_lock = threading.Lock()

__all__ = [
    "CallOutcome",
    "ReplicaService",
    "get_service",
    "start_service",
    "stop_service",
]


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What waiting for an update call gave: its request id and, once it was answered
    within the wait, its terminal status and (when asked for) the certificate of
    ``/request_status/<request_id>`` and ``/time`` from the round that answered it."""

    request_id: bytes
    status: IngressStatus | None = None
    certificate: bytes | None = None


Resolve = Callable[[Any, BaseException | None], None]


@dataclass(slots=True)
class _Job:
    work: Callable[[Replica], Any]
    resolve: Resolve
    light: bool
    """Queued by `call`: bounded work that the event loop may serve (see `call`)."""


@dataclass(slots=True)
class _Waiter:
    certify: bool
    resolve: Resolve


def _asyncio_resolver(future: asyncio.Future[Any]) -> Resolve:
    """Resolve ``future`` on its own event loop, from any thread."""
    loop = future.get_loop()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():  # the caller stopped waiting (timeout, disconnect)
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def resolve(value: Any, error: BaseException | None) -> None:
        # A closed loop (RuntimeError) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, value, error)

    return resolve


def _blocking_resolver(future: concurrent.futures.Future[Any]) -> Resolve:
    def resolve(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    return resolve


class ReplicaService:
    """A `Replica` driven by its own thread, which runs rounds and queued work (see the
    module docstring)."""

    def __init__(self, replica: Replica, *, idle_round_seconds: float = 1.0) -> None:
        self.replica = replica
        self.idle_round_seconds = idle_round_seconds
        self.round_errors = 0
        self._jobs: deque[_Job] = deque()
        self._waiters: dict[bytes, list[_Waiter]] = {}
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._direct = threading.RLock()  # `run` without the thread (before start, after stop)
        # Held by whoever touches the replica: its thread for a turn (jobs, a round), or a
        # caller running work inline while the thread is idle (`_inline`).
        self._busy = threading.Lock()
        self._round_wants = False  # the thread waits for `_busy`: callers must queue
        self._inline_holder: int | None = None
        self._serving = False  # the thread is inside a job: the hook must not nest jobs
        self._seen_height = -1
        self._thread = threading.Thread(target=self._loop, name="replica-rounds", daemon=True)
        # Code holding the replica may call it from any thread: its calls become our work.
        replica.serialize_with(self.run)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop after the current round, fail what still waits, close the store."""
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
        self._fail_pending(ReplicaError("the replica service stopped"))
        with self._direct:
            self.replica.close()

    @property
    def _running(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()

    # -- work ------------------------------------------------------------------------------

    def run(self, work: Callable[[Replica], T]) -> T:
        """``work(replica)``, returning its result (or raising what it raised): at once in
        this thread if the replica's thread is idle, else queued for that thread (mid-round
        it waits for the running message only). Blocks until done.

        Called from the replica thread itself, or from work running inline, it runs at once.
        """
        ident = threading.get_ident()
        if ident == self._thread.ident or ident == self._inline_holder:
            return work(self.replica)
        if not self._running:
            with self._direct:
                return work(self.replica)
        if self._take_inline():
            return self._inline(work, light_only=False)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._enqueue(_Job(work, _blocking_resolver(future), light=False))
        return future.result()

    async def call(self, work: Callable[[Replica], T]) -> T:
        """`run` for the event loop: ``work(replica)`` inline if the replica's thread is
        idle, else on that thread, awaited without blocking the loop.

        ``work`` must be *light*: bounded to a few milliseconds (status, a submission, a
        query within a small instruction budget), because inline it runs on the event
        loop. Heavy work goes through `run` in a worker thread. For the same reason an
        event-loop caller serves only the light jobs queued meanwhile; the others wait
        for the replica's thread or a caller in a worker thread.
        """
        if not self._running:
            with self._direct:
                return work(self.replica)
        if threading.get_ident() != self._inline_holder and self._take_inline():
            return self._inline(work, light_only=True)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Job(work, _asyncio_resolver(future), light=True))
        return await future

    def _take_inline(self) -> bool:
        """Take `_busy` if the replica's thread neither holds nor waits for it."""
        if self._round_wants or not self._busy.acquire(blocking=False):
            return False
        self._inline_holder = threading.get_ident()
        return True

    def _inline(self, work: Callable[[Replica], T], *, light_only: bool) -> T:
        """Run ``work`` in this thread holding `_busy` (taken by `_take_inline`), then the
        jobs queued meanwhile (only the light ones if ``light_only``); wake the replica's
        thread if it left messages to execute (a submitted call) or jobs."""
        try:
            result = work(self.replica)
        finally:
            try:
                # Work queued while this caller held the replica: served here and now, so
                # it needs no turn of the replica's thread (and no hop back).
                self._serve_jobs(light_only=light_only)
                wake = self.replica.subnet.has_work()
            finally:
                self._inline_holder = None
                self._busy.release()
        if wake or self._jobs:  # messages to execute, or work queued after the serve
            self._wake.set()
        return result

    async def submit_and_wait(self, submit: Callable[[Replica], bytes], *, timeout: float,
                              certify: bool = False) -> CallOutcome:
        """Submit an update call with ``submit(replica)`` (which returns its request id, or
        raises, e.g. `CanisterError` for a call refused before execution) and wait at most
        ``timeout`` seconds for its terminal status.

        Returns a `CallOutcome` whose ``status`` is None if the call was not answered in
        time; with ``certify`` it carries the certificate of the answering round.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CallOutcome] = loop.create_future()
        request_id = await self.call(self._submitter(submit, certify,
                                                     _asyncio_resolver(future)))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return CallOutcome(request_id)
        finally:
            future.cancel()

    def submit_and_wait_blocking(self, submit: Callable[[Replica], bytes], *, timeout: float,
                                 certify: bool = False) -> CallOutcome:
        """`submit_and_wait` for synchronous callers (blocks this thread, never the replica's)."""
        future: concurrent.futures.Future[CallOutcome] = concurrent.futures.Future()
        request_id = self.run(self._submitter(submit, certify, _blocking_resolver(future)))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            return CallOutcome(request_id)
        finally:
            future.cancel()

    def _submitter(self, submit: Callable[[Replica], bytes], certify: bool,
                   resolve: Resolve) -> Callable[[Replica], bytes]:
        """Work that submits and registers the waiter in the same step (replica thread)."""

        def work(replica: Replica) -> bytes:
            request_id = submit(replica)
            waiter = _Waiter(certify, resolve)
            status = replica.subnet.ingress_status(request_id)
            if (status is not None and status.state.terminal
                    and not replica.subnet.in_round):
                self._resolve(replica, request_id, status, [waiter])
            else:
                self._waiters.setdefault(request_id, []).append(waiter)
            return request_id

        return work

    def _enqueue(self, job: _Job) -> None:
        if self._stopped.is_set():
            job.resolve(None, ReplicaError("the replica service stopped"))
            return
        self._jobs.append(job)
        # Whoever holds the replica serves the queue before letting go and looks again
        # after; only if nobody holds it now must the replica's thread be woken for it.
        if not self._busy.locked():
            self._wake.set()
        if self._stopped.is_set() and not self._thread.is_alive():
            # The loop ended between the check above and the append: fail it here.
            self._fail_pending(ReplicaError("the replica service stopped"))

    # -- the replica thread ------------------------------------------------------------------

    def _serve_jobs(self, *, light_only: bool = False) -> None:
        """Run the jobs queued now (not those queued meanwhile, so a round between whose
        messages this runs cannot be held up for ever), holding `_busy`: the replica
        thread between messages or rounds, or a caller that ran its own work inline.
        With ``light_only`` (an event-loop caller) heavy jobs stay queued, in order."""
        if self._serving:
            return
        jobs = self._jobs
        skipped: list[_Job] = []
        self._serving = True
        try:
            for _ in range(len(jobs)):
                job = jobs.popleft()
                if light_only and not job.light:
                    skipped.append(job)
                    continue
                try:
                    value = job.work(self.replica)
                except BaseException as exc:  # handed to the caller, who raises it
                    job.resolve(None, exc)
                else:
                    job.resolve(value, None)
        finally:
            jobs.extendleft(reversed(skipped))
            self._serving = False

    def _resolve_answered(self) -> None:
        """After a commit: resolve the waiters whose calls now have a terminal status."""
        subnet = self.replica.subnet
        if not self._waiters or subnet.in_round or subnet.height == self._seen_height:
            return
        self._seen_height = subnet.height
        for request_id in list(self._waiters):
            status = subnet.ingress_status(request_id)
            if status is None or status.state.terminal:
                self._resolve(self.replica, request_id, status,
                              self._waiters.pop(request_id))

    def _resolve(self, replica: Replica, request_id: bytes, status: IngressStatus | None,
                 waiters: list[_Waiter]) -> None:
        certificate = None
        if status is not None and any(waiter.certify for waiter in waiters):
            try:
                certificate = replica.certified_state().certificate(
                    [("request_status", request_id)])
            except ReplicaError as exc:
                for waiter in waiters:
                    waiter.resolve(None, exc)
                return
        for waiter in waiters:
            waiter.resolve(CallOutcome(request_id, status,
                                       certificate if waiter.certify else None), None)

    def _fail_pending(self, error: ReplicaError) -> None:
        while self._jobs:
            self._jobs.popleft().resolve(None, error)
        waiters, self._waiters = self._waiters, {}
        for pending in waiters.values():
            for waiter in pending:
                waiter.resolve(None, error)

    def _loop(self) -> None:
        next_idle_round = 0.0
        while not self._stopped.is_set():
            self._wake.clear()
            self._round_wants = True  # callers queue from now on instead of running inline
            with self._busy:
                self._round_wants = False
                next_idle_round = self._turn(next_idle_round)
                busy = self.replica.subnet.has_work()
            if busy:
                continue
            if self._jobs:
                # Queued while the turn served the queue: the next caller to run inline
                # serves it after its own work (no hop). Taking a turn for it at once
                # would make every caller queue again, and under load the queue would
                # never empty; only if no caller comes does the thread serve it.
                self._stopped.wait(QUEUE_GRACE_SECONDS)
                if self._jobs:
                    continue
            self._wake.wait(max(0.0, next_idle_round - time.monotonic()))
        self._fail_pending(ReplicaError("the replica service stopped"))

    def _turn(self, next_idle_round: float) -> float:
        """Serve the queue, run a round if one is due, resolve the answered waiters;
        returns when the next idle round is due (`time.monotonic` seconds)."""
        self._serve_jobs()
        self._resolve_answered()
        subnet = self.replica.subnet
        try:
            if subnet.has_work() or time.monotonic() >= next_idle_round:
                # Work let in mid-round reads the certified state of the last
                # committed round: have it built before the round starts.
                self.replica.certified_state()
                subnet.between_messages = self._serve_jobs
                subnet.execute_round()
                next_idle_round = time.monotonic() + self.idle_round_seconds
        except Exception:
            # A failed round committed nothing: log it and go back to the last
            # committed state rather than keep a half-applied one in memory.
            self.round_errors += 1
            logger.exception("round %s failed; reloading the committed state", subnet.height)
            self.replica.reload()
            return time.monotonic() + self.idle_round_seconds
        self._resolve_answered()
        self._serve_jobs()
        return next_idle_round


def start_service(state_dir: Path | None) -> ReplicaService:
    """Open the replica at ``state_dir`` and start its thread (once per process)."""
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
