"""The dispatcher: which processing video goes to the transcoding worker, and when.

`start` is a replica hook (``ICFRAMEWORK["REPLICA_HOOKS"]``, docs/workers.md):
``manage.py runreplica`` calls it in the server process after the replica and the
Celery worker have started. It runs a `Dispatcher` that enqueues
`apps.video.tasks.transcode_video` for the video canister (recorded name ``video``,
`icframework.deployments.recorded_id`) from two sources:

* **events**: the canister publishes an ``UploadProgress`` on ``uploads:<creator>`` at
  every status change. A replica event listener (`Replica.add_event_listener`, called in
  the replica's round thread, so it only decodes and hands on) passes the ids of videos
  that entered *processing* to the dispatcher's thread, which enqueues them at once;
* **sweeps**: at start and every `SWEEP_SECONDS`, the ``worker_jobs`` query (as the
  worker identity) lists the processing videos no worker holds a lease on, so an upload
  finished while the server was down, an event missed or a job whose worker died and
  whose lease ran out is enqueued too.

No double enqueue. Each enqueued job is recorded in ``<state dir>/video-jobs.sqlite3``
(canister, video, Celery task id, time), which outlives restarts. A video is enqueued
again only when its last task has finished (its result is ready: it ran and the video
is still listed, so that attempt failed) or was enqueued more than `LOST_SECONDS` ago
(its message is presumed lost); records of jobs no longer listed go after two such
periods. A second message for a video already queued would cost
it one of its ``MAX_ATTEMPTS`` claims for nothing, so this matters.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from celery import Celery

from icframework.candid import CandidError, decode, encode, parse_type
from icframework.core import Principal
from icframework.deployments import recorded_id
from icframework.replica import CanisterEvent, ReplicaService
from icframework.workers import project_app, worker_identity

from .tasks import TASK_NAME

__all__ = ["APP_NAME", "LOST_SECONDS", "SWEEP_SECONDS", "Dispatcher", "JobLedger", "start"]

APP_NAME = "video"
"""The recorded name of the video canister (``manage.py deploy apps/video``)."""
SWEEP_SECONDS = 60.0
LOST_SECONDS = 3600.0
"""A job enqueued this long ago whose task has not finished is enqueued again: longer
than any queue wait plus a transcode, two canister leases."""
UPLOADS_TOPIC = "uploads:"

_PROGRESS = parse_type(
    "record { video_id : nat64; status : variant { uploading; processing; ready; rejected } }")
_JOBS = parse_type("vec record { video_id : nat64; attempt : nat32 }")

logger = logging.getLogger(__name__)


class JobLedger:
    """Which job was enqueued when, as which task: ``<state dir>/video-jobs.sqlite3``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._made = False

    def _connect(self) -> sqlite3.Connection:
        """The database, made on first use (a state directory without a video canister
        gets no file)."""
        db = sqlite3.connect(self.path, timeout=10)
        if not self._made:
            db.execute("CREATE TABLE IF NOT EXISTS enqueued (canister TEXT, video INTEGER, "
                       "task_id TEXT, at REAL, PRIMARY KEY (canister, video))")
            self._made = True
        return db

    def last(self, canister: str, video: int) -> tuple[str, float] | None:
        """(task id, time) of the video's last enqueue, if any."""
        with self._connect() as db:
            row = db.execute("SELECT task_id, at FROM enqueued WHERE canister = ? AND "
                             "video = ?", (canister, video)).fetchone()
        return (str(row[0]), float(row[1])) if row else None

    def record(self, canister: str, video: int, task_id: str, at: float) -> None:
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO enqueued VALUES (?, ?, ?, ?)",
                       (canister, video, task_id, at))

    def prune(self, canister: str, listed: set[int], before: float) -> int:
        """Forget the jobs of ``canister`` enqueued before ``before`` that are not
        ``listed`` any more (ready, rejected or deleted since); how many."""
        with self._connect() as db:
            old = db.execute("SELECT video FROM enqueued WHERE canister = ? AND at < ?",
                             (canister, before)).fetchall()
            gone = [(canister, video) for (video,) in old if video not in listed]
            db.executemany("DELETE FROM enqueued WHERE canister = ? AND video = ?", gone)
        return len(gone)


@dataclass(frozen=True)
class Enqueued:
    canister: str
    video_id: int
    task_id: str


class Dispatcher:
    """Enqueues transcoding jobs from events and sweeps (see the module docstring).

    ``lookup()`` is the video canister's id now (None while none is deployed);
    ``list_jobs(canister)`` the ids of the videos ``worker_jobs`` lists; ``send(canister,
    video_id, task_id)`` enqueues the task. `Dispatcher.start` runs it in a daemon
    thread; `Dispatcher.dispatch` does one round in the caller's thread (tests).
    """

    def __init__(self, ledger: JobLedger, lookup: Callable[[], Principal | None],
                 list_jobs: Callable[[Principal], list[int]],
                 send: Callable[[str, int, str], None], *,
                 is_finished: Callable[[str], bool],
                 sweep_seconds: float = SWEEP_SECONDS, lost_seconds: float = LOST_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self.ledger, self.lookup, self.list_jobs, self.send = ledger, lookup, list_jobs, send
        self.is_finished = is_finished
        self.sweep_seconds, self.lost_seconds, self.clock = sweep_seconds, lost_seconds, clock
        self.events: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sweeps = 0

    # -- the replica event listener (round thread: decode, hand on, return) --------------

    def on_events(self, events: Sequence[CanisterEvent]) -> None:
        for event in events:
            if not event.topic.startswith(UPLOADS_TOPIC):
                continue
            try:
                (progress,) = decode(event.value, [_PROGRESS])
            except CandidError:  # another canister's topic of the same name
                continue
            if "processing" in progress["status"]:
                self.events.put((bytes(event.canister_id), int(progress["video_id"])))

    # -- dispatching ----------------------------------------------------------------------

    def enqueue(self, canister: Principal, video_id: int) -> Enqueued | None:
        """Enqueue ``video_id`` unless its last task is still queued or running."""
        key = canister.to_text()
        last = self.ledger.last(key, video_id)
        now = self.clock()
        if last is not None:
            task_id, at = last
            if now - at < self.lost_seconds and not self.is_finished(task_id):
                return None
        task_id = f"video-{key}-{video_id}-{uuid.uuid4().hex[:12]}"
        self.send(key, video_id, task_id)
        self.ledger.record(key, video_id, task_id, now)
        logger.info("video %s of %s: transcoding enqueued as %s", video_id, key, task_id)
        return Enqueued(key, video_id, task_id)

    def sweep(self) -> list[Enqueued]:
        """Enqueue every job ``worker_jobs`` lists that is not queued already."""
        self.sweeps += 1
        canister = self.lookup()
        if canister is None:
            return []
        listed = self.list_jobs(canister)
        done = [self.enqueue(canister, video_id) for video_id in listed]
        # a job not listed for two lost-periods is finished one way or another
        self.ledger.prune(canister.to_text(), set(listed), self.clock() - 2 * self.lost_seconds)
        return [job for job in done if job is not None]

    def dispatch(self, wait: float = 0.0) -> list[Enqueued]:
        """Enqueue the videos events announced (waiting up to ``wait`` s for the first)."""
        found: list[Enqueued] = []
        canister = None
        try:
            item = self.events.get(timeout=wait) if wait > 0 else self.events.get_nowait()
        except queue.Empty:
            return found
        canister = self.lookup()
        while True:
            raw, video_id = item
            if canister is not None and raw == canister.raw:
                job = self.enqueue(canister, video_id)
                if job is not None:
                    found.append(job)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return found

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="video-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_seconds
                self.dispatch(wait=min(1.0, max(0.05, next_sweep - time.monotonic())))
            except Exception:  # a broken round must not end the dispatcher
                logger.exception("the video job dispatcher failed a round; it goes on")
                self._stop.wait(5)


def start(service: ReplicaService, url: str, state_dir: Path) -> Callable[[], None] | None:
    """The replica hook: run a `Dispatcher` for the video canister on ``service``, its
    tasks told to reach the replica at ``url``, acting as ``state_dir``'s worker
    identity; returns the function that stops it. A project without a Celery app gets
    no dispatcher (a warning says why): uploads then stay processing until one runs."""
    try:
        app = project_app()
    except ValueError as exc:
        logger.warning("video transcoding jobs are not dispatched: %s", exc)
        return None
    worker = worker_identity(state_dir).principal
    replica_url = url.replace("://0.0.0.0:", "://127.0.0.1:")

    def lookup() -> Principal | None:
        return recorded_id(APP_NAME, replica_url)

    def list_jobs(canister: Principal) -> list[int]:
        return jobs_of(service, canister, worker)

    dispatcher = Dispatcher(JobLedger(state_dir / "video-jobs.sqlite3"), lookup, list_jobs,
                            sender(app, replica_url), is_finished=finished_in(app))
    service.replica.add_event_listener(dispatcher.on_events)
    dispatcher.start()
    return dispatcher.stop


def jobs_of(service: ReplicaService, canister: Principal, worker: Principal) -> list[int]:
    """The video ids ``worker_jobs`` lists for ``worker`` (none if it may not ask: the
    canister was installed with other workers)."""
    from icframework.replica import CanisterError

    try:
        reply = service.run(lambda replica: replica.query(
            canister, "worker_jobs", encode([], []), sender=worker))
    except CanisterError as exc:
        logger.warning("worker_jobs of %s refused: %s", canister.to_text(), exc)
        return []
    (jobs,) = decode(reply, [_JOBS])
    return [int(job["video_id"]) for job in jobs]


def sender(app: Celery, replica_url: str) -> Callable[[str, int, str], None]:
    def send(canister: str, video_id: int, task_id: str) -> None:
        app.send_task(TASK_NAME, args=[canister, video_id, replica_url], task_id=task_id)

    return send


def finished_in(app: Celery) -> Callable[[str], bool]:
    def is_finished(task_id: str) -> bool:
        return bool(app.AsyncResult(task_id).ready())

    return is_finished
