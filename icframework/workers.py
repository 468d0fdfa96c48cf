"""Off-chain workers: the Celery broker settings, the in-process worker, the worker identity.

Work a canister cannot do (transcoding, thumbnails, outbound mail) runs in Celery tasks
that act on canisters through the agent as the state directory's *worker identity*.

Broker. With ``CELERY_BROKER_URL`` set (the project settings take it from
``ICFRAMEWORK_BROKER_URL``: ``redis://`` or ``amqp://``) Celery uses it unchanged, with
results on the same Redis (``rpc://`` over RabbitMQ). Without it, `celery_settings`
gives the embedded default, which needs no server: kombu's SQLAlchemy transport on
``<state dir>/broker.sqlite3`` (polled once a second, the transport's own interval: a
task waits up to a second before it starts) and Celery's database result backend on
``<state dir>/celery-results.sqlite3``. `use_state_dir_broker` installs that default on
an app lazily (when its configuration is first read), so importing the app reads no
setting. Never eager mode: a task always goes through a queue to a worker.

In-process worker. `InProcessWorker` runs a real ``celery.worker.WorkController`` in a
daemon thread of the serving process (``manage.py runreplica``). Its pool is Celery's
``threads`` pool with daemon threads (`DaemonThreadPool`; concurrency
`WORKER_CONCURRENCY`): the consumer keeps polling the broker
while a task runs, and a task that spends its time in C code releasing the GIL (a
video codec) leaves the server's event loop responsive. ``prefork`` would fork the
server (its threads, sockets and WebAssembly engines) and install signal handlers
that fight the server's own; ``solo`` runs the task in the consumer's thread. The
worker is built without heartbeats, mingle and gossip, which need broadcast exchanges
the SQLAlchemy transport lacks, and installs no signal handlers: Ctrl-C belongs to the
server, which calls `InProcessWorker.stop` on its way out. Stopping waits for running
tasks at most `STOP_SECONDS`; a task still running then is left to its daemon thread
(it dies with the process, which does not wait for it as it would for the standard
pool's threads, and with ``acks_late`` its message is delivered again).

Redelivery on the embedded broker. kombu's SQLAlchemy transport marks a message it hands
to a worker invisible and keeps the unacknowledged ones in that worker's memory only: a
worker that stops normally puts them back, one that is killed (SIGKILL, a crash, the
machine) loses them, and acknowledged messages stay in the table for ever. Nor has it
a visibility timeout. `InFlight` closes the gap: every message a worker on the embedded
broker receives is recorded (``icframework_inflight`` in the broker's own file: its
delivery tag and the receiving process) and the record goes when the message is
acknowledged or rejected, with the message's row. When a worker starts on that broker
(``worker_init``: the in-process worker and ``celery worker`` alike) it makes the
messages recorded by processes that are gone visible again, so they are delivered
again. With ``acks_late`` (the project's setting) a task whose worker died is therefore
run again when a worker next starts on the state directory: at least once. Not sooner:
nothing watches for a dead worker while none starts, and a message between the broker
handing it over and the worker recording it (microseconds) can still be lost. Redis
and RabbitMQ brokers redeliver by themselves (RabbitMQ when the connection drops,
Redis after its visibility timeout) and are left alone.

Worker identity. `worker_identity` is an Ed25519 key in ``<state dir>/worker.pem``,
made once, owner-only (mode 0600), like the admin identity. A canister that accepts
results from workers authorises its principal at init (`worker_principal`).
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from celery import Celery, shared_task, signals
from celery.concurrency.base import BasePool
from celery.concurrency.thread import TaskPool as ThreadTaskPool
from celery.worker import WorkController

from icframework.conf import state_dir
from icframework.identity import Identity

logger = logging.getLogger(__name__)

WORKER_CONCURRENCY = 1
"""Tasks the in-process worker runs at once: one, so a transcode takes at most one of
the machine's cores from the server."""
STOP_SECONDS = 5.0
"""How long stopping waits for running tasks (the server's own shutdown grace)."""
START_SECONDS = 30.0
"""How long `InProcessWorker.start` waits for the worker to connect to the broker."""


def broker_path(directory: Path) -> Path:
    """The embedded broker's SQLite file: ``<directory>/broker.sqlite3``."""
    return directory / "broker.sqlite3"


def results_path(directory: Path) -> Path:
    """The embedded result backend's SQLite file: ``<directory>/celery-results.sqlite3``."""
    return directory / "celery-results.sqlite3"


def celery_settings(directory: Path, broker_url: str | None = None) -> dict[str, Any]:
    """Celery settings (lower-case names) for ``broker_url``, or for the embedded SQLite
    broker under ``directory`` when it is empty (see the module docstring)."""
    if broker_url:
        if broker_url.startswith(("redis://", "rediss://")):
            backend = broker_url
        elif broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
            backend = "rpc://"
        else:
            raise ValueError(
                f"broker URL {broker_url!r} is neither Redis (redis://) nor RabbitMQ "
                "(amqp://); set ICFRAMEWORK_BROKER_URL to one of them, or unset it for "
                "the embedded SQLite broker")
        return {"broker_url": broker_url, "result_backend": backend}
    return {
        "broker_url": f"sqla+sqlite:///{broker_path(directory)}",
        "result_backend": f"db+sqlite:///{results_path(directory)}",
    }


def uses_embedded_broker(app: Celery) -> bool:
    """Whether ``app`` queues on the embedded SQLite broker (no ``CELERY_BROKER_URL``)."""
    return str(app.conf.broker_url or "").startswith("sqla+sqlite://")


def embedded_broker_file(app: Celery) -> Path | None:
    """The SQLite file of ``app``'s embedded broker, or None for another broker."""
    url = str(app.conf.broker_url or "")
    prefix = "sqla+sqlite:///"
    return Path(url[len(prefix):]) if url.startswith(prefix) and len(url) > len(prefix) \
        else None


def process_token(pid: int | None = None) -> str:
    """``host/pid/start``: a process, told apart from a later one with the same pid by
    its start time (Linux ``/proc``; empty elsewhere)."""
    pid = os.getpid() if pid is None else pid
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        start = stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        start = ""
    return f"{socket.gethostname()}/{pid}/{start}"


def process_alive(token: str) -> bool:
    """Whether the process of `process_token` ``token`` still runs. A process of another
    host counts as running: this host cannot tell."""
    host, _, rest = token.partition("/")
    pid_text, _, _ = rest.partition("/")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # another user's process of that pid
    return process_token(pid) == token


class InFlight:
    """The embedded broker's record of received, unsettled messages (see the module
    docstring): ``icframework_inflight`` beside kombu's tables in ``broker_file``."""

    TABLE = "icframework_inflight"

    def __init__(self, broker_file: Path, message_table: str = "kombu_message") -> None:
        self.broker_file, self.message_table = broker_file, message_table

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.broker_file, timeout=30, isolation_level=None)
        db.execute(f"CREATE TABLE IF NOT EXISTS {self.TABLE} (delivery_tag TEXT PRIMARY KEY, "
                   "owner TEXT NOT NULL, received_at REAL NOT NULL, task TEXT)")
        return db

    @staticmethod
    def _tag_text(delivery_tag: str) -> str:
        # how the transport's JSON payload spells the tag (json.dumps, default separators)
        return f'"delivery_tag": "{delivery_tag}"'

    def received(self, delivery_tag: str, task: str = "", owner: str | None = None) -> None:
        with self._connect() as db:
            db.execute(f"INSERT OR REPLACE INTO {self.TABLE} VALUES (?, ?, ?, ?)",
                       (delivery_tag, owner or process_token(), time.time(), task))

    def settled(self, delivery_tag: str) -> None:
        """The message was acknowledged or rejected: forget it, and drop its delivered
        row (a requeued copy is visible and stays)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"DELETE FROM {self.TABLE} WHERE delivery_tag = ?", (delivery_tag,))
            if self._has_messages(db):
                db.execute(f"DELETE FROM {self.message_table} WHERE visible = 0 AND "
                           "instr(payload, ?) > 0", (self._tag_text(delivery_tag),))
            db.execute("COMMIT")

    def _has_messages(self, db: sqlite3.Connection) -> bool:
        return db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (self.message_table,)).fetchone() is not None

    def owners(self) -> dict[str, str]:
        """Delivery tag → the token of the process that received it."""
        with self._connect() as db:
            return dict(db.execute(f"SELECT delivery_tag, owner FROM {self.TABLE}"))

    def recover(self) -> int:
        """Make the messages received by processes that are gone visible again; how many.
        A message already back in the queue (put back by a worker that stopped normally)
        is not doubled."""
        lost = [tag for tag, owner in self.owners().items() if not process_alive(owner)]
        restored = 0
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            has_messages = self._has_messages(db)
            for tag in lost:
                text = self._tag_text(tag)
                if has_messages:
                    queued = db.execute(f"SELECT 1 FROM {self.message_table} WHERE visible = 1 "
                                        "AND instr(payload, ?) > 0", (text,)).fetchone()
                    if queued is None:
                        restored += db.execute(
                            f"UPDATE {self.message_table} SET visible = 1 WHERE id = (SELECT "
                            f"MAX(id) FROM {self.message_table} WHERE visible = 0 AND "
                            "instr(payload, ?) > 0)", (text,)).rowcount
                db.execute(f"DELETE FROM {self.TABLE} WHERE delivery_tag = ?", (tag,))
            db.execute("COMMIT")
        if restored:
            logger.warning("%d task message(s) received by a worker that is gone are queued "
                           "again (acks_late)", restored)
        return restored


def inflight_of(app: Celery) -> InFlight | None:
    """The `InFlight` record of ``app``'s embedded broker (None for another broker)."""
    broker = embedded_broker_file(app)
    if broker is None:
        return None
    options = app.conf.broker_transport_options or {}
    return InFlight(broker, options.get("message_tablename", "kombu_message"))


@signals.worker_init.connect(weak=False)
def _recover_on_start(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    inflight = inflight_of(app) if isinstance(app, Celery) else None
    if inflight is not None:
        inflight.recover()


@signals.task_received.connect(weak=False)
def _record_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    inflight = inflight_of(app) if isinstance(app, Celery) else None
    message = getattr(request, "message", None)
    tag = getattr(message, "delivery_tag", None)
    if inflight is None or message is None or not isinstance(tag, str):
        return
    inflight.received(tag, str(getattr(request, "name", "")))
    ack, reject = message.ack, message.reject

    def ack_and_forget(*args: Any, **kwargs: Any) -> Any:
        done = ack(*args, **kwargs)
        inflight.settled(tag)
        return done

    def reject_and_forget(*args: Any, **kwargs: Any) -> Any:
        done = reject(*args, **kwargs)
        inflight.settled(tag)
        return done

    message.ack, message.reject = ack_and_forget, reject_and_forget


def use_state_dir_broker(app: Celery) -> None:
    """Give ``app`` the embedded broker under the state directory unless its configuration
    names a broker (then results go where `celery_settings` says, unless it names a
    result backend too); applied when the configuration is first read."""

    def configure(sender: Celery, source: Any, **_: Any) -> None:
        if not source.broker_url:
            source.update(celery_settings(state_dir()))
        elif not source.result_backend:
            source.update(result_backend=celery_settings(
                Path(), source.broker_url)["result_backend"])

    app.on_after_configure.connect(configure, weak=False)


def project_app() -> Celery:
    """The project's Celery app: ``app`` in the ``celery`` module beside the Django
    settings module (``config.celery`` for ``config.settings``), made the default app so
    that ``@shared_task`` functions bind to it in every thread."""
    from django.conf import settings

    package = settings.SETTINGS_MODULE.rpartition(".")[0]
    name = f"{package}.celery" if package else "celery_app"
    try:
        app = importlib.import_module(name).app
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"no Celery app at {name}.app ({exc}); define `app = Celery(...)` "
                         f"there, as config/celery.py does") from None
    if not isinstance(app, Celery):
        raise ValueError(f"{name}.app is {type(app).__name__}, not a Celery app")
    app.set_default()
    return app


class DaemonThreadExecutor:
    """``submit`` and ``shutdown`` of `concurrent.futures.ThreadPoolExecutor`, on daemon
    threads: the interpreter does not wait at exit for a task still running (the standard
    executor joins its threads, so a long transcode would hold the server's exit)."""

    def __init__(self, max_workers: int, name: str = "celery-task") -> None:
        self._max, self._name = max_workers, name
        self._queue: queue.SimpleQueue[_WorkItem | None] = queue.SimpleQueue()
        self._threads: set[threading.Thread] = set()
        self._idle = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot run a task on a stopped pool")
            future: Future[Any] = Future()
            self._queue.put((future, fn, args, kwargs))
            if not self._idle.acquire(blocking=False) and len(self._threads) < self._max:
                thread = threading.Thread(target=self._work, daemon=True,
                                          name=f"{self._name}-{len(self._threads)}")
                thread.start()
                self._threads.add(thread)
            return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, fn, args, kwargs = item
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # as ThreadPoolExecutor: the future holds it
                    future.set_exception(exc)
            del item, future, fn, args, kwargs
            self._idle.release()
        self._queue.put(None)  # wake the next thread to stop

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        self._queue.put(None)
        if wait:
            for thread in list(self._threads):
                thread.join()


_WorkItem = tuple["Future[Any]", "Callable[..., Any]", "tuple[Any, ...]", "dict[str, Any]"]


class DaemonThreadPool(ThreadTaskPool):  # type: ignore[misc]
    """Celery's ``threads`` pool on a `DaemonThreadExecutor`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        BasePool.__init__(self, *args, **kwargs)
        self.executor = DaemonThreadExecutor(self.limit)


class InProcessWorker:
    """A Celery worker in a daemon thread of this process (see the module docstring)."""

    def __init__(self, app: Celery, *, concurrency: int = WORKER_CONCURRENCY,
                 hostname: str = "embedded@localhost") -> None:
        if concurrency < 1:
            raise ValueError(f"worker concurrency {concurrency} must be at least 1")
        self.app = app
        self.concurrency = concurrency
        self.hostname = hostname
        self._controller: WorkController | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start consuming; returns once the worker is connected to the broker. Raises
        `RuntimeError` naming the broker if it cannot connect within `START_SECONDS`."""
        if self.running:
            raise RuntimeError("this in-process worker is already running")
        self.app.set_default()  # tasks traced in the worker's threads use this app
        self.app.finalize()
        ready = threading.Event()
        controller = WorkController(
            app=self.app, hostname=self.hostname, pool=DaemonThreadPool,
            concurrency=self.concurrency, without_heartbeat=True, without_mingle=True,
            without_gossip=True, ready_callback=lambda consumer: ready.set(),
        )
        self._controller = controller
        self._thread = threading.Thread(target=controller.start, name="celery-worker",
                                        daemon=True)
        self._thread.start()
        # WorkController.start says that a task waiting on another task's result would
        # block its worker; that holds for its own threads, not for the server's.
        from celery.result import _set_task_join_will_block

        _set_task_join_will_block(False)
        waited = 0.0
        while not ready.wait(0.1):
            waited += 0.1
            if not self._thread.is_alive() or waited >= START_SECONDS:
                self.stop()
                broker = self.app.connection().as_uri()
                raise RuntimeError(
                    f"the Celery worker did not start on its broker {broker} "
                    + ("(it stopped: its error is logged above)" if waited < START_SECONDS
                       else f"within {START_SECONDS:.0f} s"))

    def stop(self, timeout: float = STOP_SECONDS) -> bool:
        """Stop consuming and wait up to ``timeout`` seconds for running tasks; whether
        the worker thread has ended (else it is left to die with the process)."""
        controller, thread = self._controller, self._thread
        if controller is None or thread is None:
            return True
        # WorkController.stop waits for the pool's running tasks; it runs in a thread of
        # its own so that a long task cannot hold the server's shutdown.
        stopper = threading.Thread(target=controller.stop,
                                   kwargs={"in_sighandler": False, "exitcode": 0},
                                   name="celery-worker-stop", daemon=True)
        stopper.start()
        stopper.join(timeout)
        thread.join(max(0.0, timeout / 2) if stopper.is_alive() else timeout)
        ended = not thread.is_alive()
        if not ended:
            logger.warning("the Celery worker still runs a task after %.0f s; leaving it "
                           "(its message is delivered again if the task acknowledges late)",
                           timeout)
        self._controller = self._thread = None
        return ended


@shared_task(name="icframework.ping")
def ping() -> dict[str, Any]:
    """Where tasks run: the worker's process id, thread and node name (a health check:
    ``ping.delay().get(timeout=...)`` answers only when a worker consumes the queue)."""
    from celery import current_task

    return {"pid": os.getpid(), "thread": threading.current_thread().name,
            "hostname": current_task.request.hostname}


def worker_pem_path(directory: Path) -> Path:
    """Where the state directory's worker identity is kept: ``<directory>/worker.pem``."""
    return directory / "worker.pem"


def worker_identity(directory: Path) -> Identity:
    """The identity tasks act as on canisters (see the module docstring).

    Created on first use (Ed25519, written owner-only); any PEM key dfx can use works if
    put there instead. Raises `ValueError` naming the file and the fix if others may
    read or change it, or if it is not a plaintext PEM key.
    """
    # Imported here: the project package imports this module with its Celery app, and
    # loading the settings should not load the replica.
    from icframework.replica import kept_identity

    return kept_identity(
        worker_pem_path(directory), holds="the worker identity's key",
        if_lost="make a new worker identity (and authorise its principal in the canisters "
                "that accept work from it)")


def worker_principal(directory: Path) -> str:
    """The textual principal of `worker_identity`, for a canister's init arguments."""
    return worker_identity(directory).principal.to_text()
