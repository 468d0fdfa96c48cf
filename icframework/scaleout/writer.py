"""A subnet's writer: the process that executes the subnet's rounds (``manage.py runsubnet``).

`SubnetWriter.run`:

1. takes the subnet's `WriterLease` (a standby blocks here, saying so, and consumes no
   queue until it holds the lease);
2. opens the subnet on the shared `PostgresStateStore`, fenced by the lease's epoch,
   as the identity the registry and ``ic_subnet_keys`` give it (`bootstrap`), with
   the node key of ``ic_subnet_keys`` and the registry's routing table;
3. starts a Celery worker in this process (a ``WorkController`` in a daemon thread,
   as `icframework.workers.InProcessWorker`, consuming queue ``subnet.<name>`` only)
   whose tasks (``celery.py``) hand their work to the writer's thread; a worker that
   ends on its own (Celery gives up after some broker connection losses) is started
   again;
4. runs the rounds on its own (main) thread: jobs from the tasks between rounds, a
   round whenever messages wait (at least every ``idle_round_s``, for timers), and
   after each commit: the height to Redis (``icframework:height:<name>`` and pub/sub
   ``icframework:rounds:<name>``), its canister events to the front ends' channel
   groups (`events_bridge.EventPublisher`), the answers of the calls it answered to
   ``icframework:answers:<name>``, and the new XNet slices to their destinations'
   queues (`xnet_transport.SlicePusher`, which also resends unacknowledged ones);
5. renews the lease from a thread: a lost lease (or a commit refused by the fence)
   ends the process at once with exit status `EXIT_LEASE_LOST` and a line saying so;
   SIGTERM / Ctrl-C stop after the current round and release the lease (exit 0).

Submissions run the embedded HTTP interface's code (``endpoints.submit_call``: the
same checks, deduplication by request id and refusals), so a front end answers exactly
as the embedded replica: each outcome is one JSON message on the answers channel,
``{"request_id", "height", "outcome", "status", "body_b64"}`` with ``outcome``
``"replied"`` / ``"rejected"`` (v3: the certified CBOR body of ``/api/v3/.../call``,
published after the answering round committed), ``"refused"`` (the HTTP status and
body of a refusal at submission) or ``"accepted"`` (v2 calls: status 202 once queued).
A task is acknowledged once its work is in the writer's memory: a writer killed
before the next commit loses those submissions (their senders see no answer and may
resubmit; a resubmitted call that was committed keeps its outcome) and the slices it
had taken (their sources resend them).
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import cbor2
import redis

from icframework.core import Principal
from icframework.protocol import ProtocolError, parse_envelope
from icframework.replica import (
    CanisterError,
    CanisterStatus,
    IngressState,
    LeaseLost,
    PostgresRegistry,
    PostgresStateStore,
    Replica,
    RoundChanges,
    StreamGapError,
    SubnetConfig,
    SubnetDriver,
    WriterLease,
    XNetError,
    call_certificate,
    cbor_response,
    decode_envelope,
    error_status,
    non_replicated_rejection,
    submit_call,
)
from icframework.scaleout import celery as tasks
from icframework.scaleout.bootstrap import writer_identity
from icframework.scaleout.config import (
    ClusterConfig,
    answers_channel,
    height_key,
    queue_name,
    rounds_channel,
)
from icframework.scaleout.events_bridge import EventPublisher
from icframework.scaleout.keys import load_keys
from icframework.scaleout.migration import (
    MIGRATION_NAMESPACE,
    MigrationStep,
    adopt_delegation,
    migrated_away,
)
from icframework.scaleout.xnet_transport import SlicePusher, decode_slice

__all__ = ["EXIT_LEASE_LOST", "SubnetWriter"]

logger = logging.getLogger(__name__)
T = TypeVar("T")

EXIT_LEASE_LOST = 3
"""The exit status of a writer that lost its lease."""
WORKER_CONCURRENCY = 4
ROUTING_CHECK_S = 1.0
TOMBSTONE_ROUNDS = 600
"""Tombstones (deleted rows kept for the read-only copies) are collected once they are
this many rounds old (about ten minutes of idle rounds); a copy further behind than
that reloads in full."""


class SubnetWriter:
    """The writer of subnet ``name`` (see the module docstring)."""

    def __init__(self, config: ClusterConfig, name: str, holder: str | None = None, *,
                 ttl_s: float = 3.0, idle_round_s: float = 1.0, resend_after_s: float = 1.0,
                 cache_dir: Path | None = None, out: IO[str] | None = None) -> None:
        self.config = config
        self.subnet_name = name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.ttl_s = ttl_s
        self.idle_round_s = idle_round_s
        self.cache_dir = cache_dir
        self.out = out or sys.stdout
        self.lease = WriterLease(config.database_url, name, self.holder, ttl_s)
        self.pusher = SlicePusher(self._send_slice, resend_after_s=resend_after_s)
        self.replica: Replica | None = None
        self._jobs: queue.Queue[tuple[Callable[[Replica], Any],
                                      concurrent.futures.Future[Any]]] = queue.Queue()
        self._pending: dict[bytes, bool] = {}  # request id -> v3 (publish its answer)
        self._stop = threading.Event()
        self._redis: redis.Redis | None = None
        self._controller: Any = None
        self._worker_thread: threading.Thread | None = None
        self._events: EventPublisher | None = None
        self._gc_floor = 0
        self._migrations: MigrationStep | None = None

    def say(self, line: str) -> None:
        print(f"[subnet {self.subnet_name}] {line}", file=self.out, flush=True)

    # -- life cycle ----------------------------------------------------------------------

    def run(self) -> int:
        """Stand by, write, and return the exit status (0 after a stop request)."""
        self._install_signals()
        if not self.lease.try_acquire():
            current = self.lease.current()
            self.say(f"standby: {current[0] if current else 'another writer'} holds the "
                     f"lease; {self.holder} waits for it")
            while not self.lease.acquire(timeout=0.5):
                if self._stop.is_set():
                    self.lease.close()
                    return 0
        epoch = self.lease.epoch
        started = time.monotonic()
        self.lease.keep_renewed(on_lost=self._lost)
        try:
            replica = self._open()
            self.say(f"writer {self.holder} holds the lease (epoch {epoch}); resumed at "
                     f"height {replica.height} in {time.monotonic() - started:.2f} s")
            self._start_worker()
            self._loop(replica)
        except LeaseLost as exc:
            self._lost(exc)
        finally:
            self._stop_worker()
            tasks.set_handler(None)
            self.lease.close()
            if self.replica is not None:
                self.replica.close()
            if self._events is not None:
                self._events.close()
            if self._migrations is not None:
                self._migrations.close()
        self.say("stopped; lease released")
        return 0

    def stop(self) -> None:
        """Ask the writer to stop after the current round (any thread)."""
        self._stop.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())

    def _lost(self, exc: Exception) -> None:
        """The lease is gone: stop executing now (no commit may follow)."""
        self.say(f"lost the writer lease ({exc}); exiting")
        try:
            self.out.flush()
        finally:
            os._exit(EXIT_LEASE_LOST)

    def _open(self) -> Replica:
        db = self.config.database_url
        _record, keys, identity = writer_identity(db, self.subnet_name)
        store = PostgresStateStore(db, self.subnet_name, epoch=self.lease.epoch)
        if store.kv_get("meta", b"node_ed25519_seed") is None:
            store.commit_round(RoundChanges(
                height=store.height(), time_ns=store.time_ns(),
                kv_puts={("meta", b"node_ed25519_seed"): keys.node_seed}))
        replica = Replica.open(self.cache_dir, store=store, identity=identity,
                               config=SubnetConfig(subnet_name=self.subnet_name))
        self.replica = replica
        self._registry = PostgresRegistry(db)
        self._routing_version = self._registry.version()
        SubnetDriver(replica).routing = self._registry.routing_table()
        self._migrations = MigrationStep(db, self.subnet_name, self.say)
        adopt_delegation(replica, self._registry, self.subnet_name)
        # Committed canister events go to the front ends' sockets (channels-redis groups).
        self._events = EventPublisher(self.config.redis_url)
        replica.add_event_listener(self._events)
        self._redis = redis.Redis.from_url(self.config.redis_url)
        self._publish_height(replica)
        return replica

    def _start_worker(self, *, wait: bool = True) -> None:
        from celery.worker import WorkController

        from icframework.workers import DaemonThreadPool

        app = tasks.configure(self.config)
        tasks.set_handler(self)
        app.set_default()
        app.finalize()
        # After a broker connection loss Celery lowers the prefetch count and raises it
        # again as tasks finish: a synchronous basic.qos on the AMQP connection that the
        # task threads ack on, which was seen to block the consumer for good.
        app.conf.worker_enable_prefetch_count_reduction = False
        ready = threading.Event()

        def on_ready(consumer: Any) -> None:
            ready.set()
            if not wait:
                self.say(f"consuming queue {queue_name(self.subnet_name)} again")

        controller = WorkController(
            app=app, hostname=f"{self.subnet_name}@{self.holder}", pool=DaemonThreadPool,
            concurrency=WORKER_CONCURRENCY, queues=[queue_name(self.subnet_name)],
            without_heartbeat=True, without_mingle=True, without_gossip=True,
            ready_callback=on_ready)
        self._controller = controller
        thread = threading.Thread(target=controller.start, name="celery-worker", daemon=True)
        thread.start()
        self._worker_thread = thread
        if not wait:
            return
        if not ready.wait(30):
            raise RuntimeError(f"the Celery worker did not reach the broker "
                               f"{app.connection().as_uri()} within 30 s")
        self.say(f"consuming queue {queue_name(self.subnet_name)}")

    def _check_worker(self) -> None:
        """Start the Celery worker again if it ended: Celery gives up on some broker
        connection losses (an "Unrecoverable error" while it closes the broken connection)
        and its thread ends while this writer holds the lease, consuming nothing."""
        thread = self._worker_thread
        if thread is None or thread.is_alive() or self._stop.is_set():
            return
        self.say("the Celery worker stopped (its broker connection broke); starting it again")
        self._controller = None
        self._start_worker(wait=False)

    def _stop_worker(self) -> None:
        controller, self._controller = self._controller, None
        if controller is None:
            return
        stopper = threading.Thread(target=controller.stop,
                                   kwargs={"in_sighandler": False, "exitcode": 0}, daemon=True)
        stopper.start()
        stopper.join(5)

    # -- the round loop (main thread) ----------------------------------------------------------

    def _loop(self, replica: Replica) -> None:
        next_round = time.monotonic()
        next_routing = time.monotonic() + ROUTING_CHECK_S
        while not self._stop.is_set():
            wait = max(0.0, min(next_round, next_routing) - time.monotonic())
            try:
                self._run_job(*self._jobs.get(timeout=min(wait, 0.2)))
                while True:
                    self._run_job(*self._jobs.get_nowait())
            except queue.Empty:
                pass
            now = time.monotonic()
            driver = SubnetDriver(replica)
            if driver.has_work() or now >= next_round:
                try:
                    driver.execute_round()
                except LeaseLost:
                    raise
                except Exception:
                    logger.exception("round %s of subnet %s failed; reloading the committed "
                                     "state", replica.height, self.subnet_name)
                    replica.reload()
                else:
                    self._outside(self._after_commit, replica)
                next_round = time.monotonic() + self.idle_round_s
            elif self.pusher.peers:
                self._outside(self._push_slices, replica)
            if now >= next_routing:
                next_routing = now + ROUTING_CHECK_S
                self._check_worker()
                self._migrate(replica)
                self._refresh_routing(replica)
                self._refresh_delegation(replica)
                self._collect_tombstones(replica)

    def _outside(self, action: Callable[[Replica], Any], replica: Replica) -> None:
        """Run ``action`` that talks to Redis or the broker: a failure is logged, not fatal
        (answers then time out at the front ends; slices go again with the next push)."""
        try:
            action(replica)
        except LeaseLost:
            raise
        except Exception:
            logger.exception("subnet %s: publishing after round %s failed", self.subnet_name,
                             replica.height)

    def _run_job(self, work: Callable[[Replica], Any],
                 future: concurrent.futures.Future[Any]) -> None:
        assert self.replica is not None
        try:
            future.set_result(work(self.replica))
        except LeaseLost:
            raise
        except BaseException as exc:  # handed to the task, which reports it
            future.set_exception(exc)

    def call(self, work: Callable[[Replica], T], timeout: float = 60.0) -> T:
        """Run ``work(replica)`` on the writer's thread, between rounds; return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((work, future))
        return future.result(timeout)

    def _refresh_routing(self, replica: Replica) -> None:
        version = self._registry.version()
        if version != self._routing_version:
            self._routing_version = version
            SubnetDriver(replica).routing = self._registry.routing_table()
            self.say(f"routing table reloaded (registry version {version})")

    def _migrate(self, replica: Replica) -> None:
        """This subnet's steps of the online migrations (`migration`), then the routing
        table and delegation at once when the registry moved (a migration re-signs the
        delegations of both subnets)."""
        assert self._migrations is not None
        try:
            self._migrations.run(replica, self.lease.epoch or 0, self._registry)
            if self._registry.version() != self._routing_version:
                SubnetDriver(replica).routing = self._registry.routing_table()
                if adopt_delegation(replica, self._registry, self.subnet_name):
                    self.say("delegation re-signed for the subnet's new canister ranges")
        except LeaseLost:
            raise
        except Exception:
            logger.exception("subnet %s: a migration step failed; it is tried again",
                             self.subnet_name)
            replica.reload()

    def _collect_tombstones(self, replica: Replica) -> None:
        """Every `TOMBSTONE_ROUNDS` rounds, drop the tombstones older than that."""
        floor = replica.height - TOMBSTONE_ROUNDS
        if floor - self._gc_floor >= TOMBSTONE_ROUNDS:
            store = replica.store
            assert isinstance(store, PostgresStateStore)
            store.collect_tombstones(floor)
            self._gc_floor = floor

    def _refresh_delegation(self, replica: Replica) -> None:
        """Renew a day-old delegation with the root subnet's key (agents accept 30 days),
        in the subnet's state and in the registry, so its front ends serve it too."""
        now = time.time_ns()
        if not replica.identity.needs_refresh(now):
            return
        root = load_keys(self.config.database_url, self._registry.root().name)
        delegation = replica.identity.fresh_delegation(root.bls, now)
        replica.set_delegation(delegation)
        self._registry.set_delegation(self.subnet_name, cbor2.dumps({
            "subnet_id": delegation.subnet_id.raw, "certificate": delegation.certificate}))
        self.say("delegation renewed by the root key")

    def _after_commit(self, replica: Replica) -> None:
        self._publish_height(replica)
        driver = SubnetDriver(replica)
        for request_id in list(self._pending):
            status = driver.ingress_status(request_id)
            if status is None:
                del self._pending[request_id]
            elif status.state.terminal:
                if self._pending[request_id]:  # v3: publish the answer
                    self._publish_answer(replica, request_id)
                # Only once published: if Redis failed, the next round publishes it again.
                del self._pending[request_id]
        self._push_slices(replica)

    def _push_slices(self, replica: Replica) -> None:
        self.pusher.push(SubnetDriver(replica).outgoing_slices(), time.monotonic())

    # -- publishing ---------------------------------------------------------------------------

    def _publish_height(self, replica: Replica) -> None:
        assert self._redis is not None
        height = replica.height
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(height_key(self.subnet_name), height)
        pipe.publish(rounds_channel(self.subnet_name), str(height))
        pipe.execute()

    def _publish(self, request_id: bytes, height: int, outcome: str, status: int,
                 body: bytes) -> None:
        assert self._redis is not None
        self._redis.publish(answers_channel(self.subnet_name), json.dumps({
            "request_id": request_id.hex(), "height": height, "outcome": outcome,
            "status": status, "body_b64": base64.b64encode(body).decode()}))

    def _publish_answer(self, replica: Replica, request_id: bytes) -> None:
        status = SubnetDriver(replica).ingress_status(request_id)
        certificate = call_certificate(replica, request_id)
        if status is None or certificate is None:
            return
        outcome = "replied" if status.state is IngressState.REPLIED else "rejected"
        response = cbor_response({"status": "replied", "certificate": certificate})
        self._publish(request_id, replica.height, outcome, response.status, response.body)

    # -- tasks (Celery worker threads) -------------------------------------------------------

    def submit(self, kind: str, canister_id_text: str, body: bytes) -> None:
        """The ``icframework.subnet.submit`` task: submit one call envelope."""
        v3 = kind == "call_v3"
        try:
            request_id = parse_envelope(body).request_id
        except ProtocolError as exc:
            logger.warning("subnet %s: an unreadable call envelope was dropped: %s",
                           self.subnet_name, exc)
            return
        try:
            envelope, _targets = decode_envelope(body, "call", now_ns=time.time_ns())
            ecid = Principal.from_text(canister_id_text)
        except Exception as exc:
            code, text = error_status(exc)
            self.call(lambda replica: self._publish(request_id, replica.height, "refused",
                                                    code, text.encode()))
            return

        def work(replica: Replica) -> None:
            moved_to = self._moved_to(replica, ecid)
            if moved_to is not None:  # a front end routed by a registry older than a move
                tasks.send_submit(moved_to, kind, canister_id_text, body)
                return
            try:
                submitted = submit_call(replica, envelope, ecid)
            except Exception as exc:  # HttpError 400: the effective canister id
                code, text = error_status(exc)
                self._publish(request_id, replica.height, "refused", code, text.encode())
                return
            if isinstance(submitted, CanisterError):
                response = non_replicated_rejection(submitted, v3=v3)
                self._publish(request_id, replica.height, "refused", response.status,
                              response.body)
                return
            status = SubnetDriver(replica).ingress_status(request_id)
            if not v3:
                self._publish(request_id, replica.height, "accepted", 202, b"")
            elif status is not None and status.state.terminal:
                self._publish_answer(replica, request_id)  # a resubmission: answer again
            else:
                self._pending[request_id] = v3

        self.call(work)

    def _moved_to(self, replica: Replica, ecid: Principal) -> str | None:
        """The subnet a canister was migrated to online from here (the registry, read
        again now if it moved, routes it there and a migration record says it left from
        here), or None: the call is this subnet's to answer. The canister is either gone
        from this subnet or still here, stopped and marked, until the drop."""
        if ecid.is_management_canister:
            return None
        state = replica.canister_record(ecid)
        if state is not None and (state.status is not CanisterStatus.STOPPED or
                                  replica.store.kv_get(MIGRATION_NAMESPACE, ecid.raw) is None):
            return None
        self._refresh_routing(replica)
        routing = SubnetDriver(replica).routing
        owner = None if routing is None else routing.subnet_of(ecid.raw)
        if owner is None or owner == self.subnet_name:
            return None
        return owner if migrated_away(self.config.database_url, ecid, self.subnet_name,
                                      owner) else None

    def xnet(self, slice_bytes: bytes) -> None:
        """The ``icframework.subnet.xnet`` task: induct a stream slice (once by index)."""
        piece = decode_slice(slice_bytes)

        def work(replica: Replica) -> None:
            try:
                new = SubnetDriver(replica).induct_slice(piece)
            except StreamGapError as exc:
                logger.info("subnet %s: %s", self.subnet_name, exc)
                self.pusher.want_signal(piece.source)
                return
            except XNetError as exc:
                logger.warning("subnet %s dropped a slice: %s", self.subnet_name, exc)
                return
            if piece.messages and not new:
                self.pusher.want_signal(piece.source)

        self.call(work)

    def _send_slice(self, destination: str, data: bytes) -> None:
        tasks.send_xnet(destination, data)
