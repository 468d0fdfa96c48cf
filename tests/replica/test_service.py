"""The replica service: one thread runs rounds and the work other threads queue for it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.core import Principal
from icframework.protocol import lookup_value, verify_certificate
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.service import ReplicaService
from icframework.replica.state import IngressState
from tests.replica.wat_counter import counter_wasm, nat64_reply

OWNER = Principal.self_authenticating(b"service owner")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[ReplicaService, Principal]]:
    """A started service with an installed counter canister."""
    running = ReplicaService(Replica.open(tmp_path), idle_round_seconds=0.05)
    canister = running.run(lambda r: r.create_canister(sender=OWNER))
    running.run(lambda r: r.install_code(canister, counter_wasm(), sender=OWNER))
    running.start()
    yield running, canister
    running.stop()


def test_round_loop_answers_submitted_calls(
        service: tuple[ReplicaService, Principal]) -> None:
    running, canister = service
    request_id = running.run(lambda r: r.submit(canister, "inc"))
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        status = running.run(lambda r: r.subnet.ingress_status(request_id))
        if status is not None and status.state.terminal:
            break
        time.sleep(0.005)
    assert status is not None and status.state is IngressState.REPLIED
    assert status.reply == nat64_reply(1)
    height = running.run(lambda r: r.subnet.height)
    time.sleep(0.2)
    assert running.run(lambda r: r.subnet.height) > height, "idle rounds keep running"


def test_work_runs_inline_when_idle_and_between_two_messages_mid_round(
        tmp_path: Path) -> None:
    running = ReplicaService(Replica.open(tmp_path), idle_round_seconds=60)
    canister = running.run(lambda r: r.create_canister(sender=OWNER))
    running.run(lambda r: r.install_code(canister, counter_wasm(), sender=OWNER))
    in_round, release = threading.Event(), threading.Event()
    serve_jobs = running._serve_jobs

    def pausing_hook(*, light_only: bool = False) -> None:  # also the between_messages
        if running.replica.subnet.in_round and not in_round.is_set():  # hook: pause once
            in_round.set()
            release.wait(10)
        serve_jobs(light_only=light_only)

    running._serve_jobs = pausing_hook  # type: ignore[method-assign]
    running.start()
    try:
        deadline = time.monotonic() + 10
        while running.run(lambda r: r.subnet.height) == 0:
            assert time.monotonic() < deadline, "no first round"
            time.sleep(0.01)
        time.sleep(0.1)  # the thread is idle now, waiting for work or the idle round
        # Idle: the caller's own thread runs the work, without a hop.
        assert running.run(lambda r: threading.current_thread().name) == "MainThread"
        # Work that calls run again runs at once instead of waiting for itself.
        assert running.run(lambda r: running.run(lambda again: again.subnet.height)) >= 1
        with pytest.raises(CanisterError, match="no update method 'nothing'"):
            running.run(lambda r: r.submit(canister, "nothing"))

        running.run(lambda r: r.submit(canister, "inc"))
        assert in_round.wait(10), "the submitted call started a round"
        seen: dict[str, object] = {}

        def look(r: Replica) -> None:
            seen["thread"] = threading.current_thread().name
            seen["in_round"] = r.subnet.in_round

        looker = threading.Thread(target=lambda: running.run(look))
        looker.start()
        time.sleep(0.1)
        assert not seen, "mid-message, the work waits"
        release.set()
        looker.join(10)
        # Served between two messages of that round, on the replica's thread.
        assert seen == {"thread": "replica-rounds", "in_round": True}

        async def on_the_loop() -> int:
            return await running.call(lambda r: r.subnet.height)

        assert asyncio.run(on_the_loop()) >= 1
    finally:
        release.set()
        running.stop()


def test_submit_and_wait_gives_the_certified_outcome_of_the_answering_round(
        service: tuple[ReplicaService, Principal]) -> None:
    running, canister = service
    root_key = running.replica.subnet.config.root_key

    async def submit() -> list[object]:
        outcomes = await asyncio.gather(*(
            running.submit_and_wait(lambda r: r.submit(canister, "inc"), timeout=10,
                                    certify=True)
            for _ in range(5)))
        return list(outcomes)

    outcomes = asyncio.run(submit())
    replies = set()
    for outcome in outcomes:
        assert outcome.status is not None  # type: ignore[attr-defined]
        assert outcome.status.state is IngressState.REPLIED  # type: ignore[attr-defined]
        replies.add(outcome.status.reply)  # type: ignore[attr-defined]
        certificate = verify_certificate(outcome.certificate, root_key)  # type: ignore[attr-defined]
        path = ["request_status", outcome.request_id]  # type: ignore[attr-defined]
        assert lookup_value([*path, "status"], certificate.tree) == b"replied"
        assert lookup_value([*path, "reply"], certificate.tree) == outcome.status.reply  # type: ignore[attr-defined]
    assert replies == {nat64_reply(n) for n in range(1, 6)}


def test_submit_and_wait_blocking_and_a_refusal(
        service: tuple[ReplicaService, Principal]) -> None:
    running, canister = service
    outcome = running.submit_and_wait_blocking(lambda r: r.submit(canister, "inc"), timeout=10)
    assert outcome.status is not None and outcome.status.reply == nat64_reply(1)
    assert outcome.certificate is None  # not asked for
    with pytest.raises(CanisterError, match="no update method"):
        running.submit_and_wait_blocking(lambda r: r.submit(canister, "nothing"), timeout=10)


def test_an_unanswered_call_times_out_without_a_status(tmp_path: Path) -> None:
    # Never started: nobody executes rounds, so the call is never answered.
    idle = ReplicaService(Replica.open(tmp_path))
    try:
        canister = idle.run(lambda r: r.create_canister(sender=OWNER))
        idle.run(lambda r: r.install_code(canister, counter_wasm(), sender=OWNER))
        started = time.monotonic()
        outcome = idle.submit_and_wait_blocking(lambda r: r.submit(canister, "inc"),
                                                timeout=0.3)
        assert time.monotonic() - started >= 0.3
        assert outcome.status is None and len(outcome.request_id) == 32
    finally:
        idle.stop()


def test_stopping_fails_what_still_waits(tmp_path: Path) -> None:
    running = ReplicaService(Replica.open(tmp_path), idle_round_seconds=60)
    canister = running.run(lambda r: r.create_canister(sender=OWNER))
    running.run(lambda r: r.install_code(canister, counter_wasm(), sender=OWNER))
    gate = threading.Event()
    running.start()
    blocked = threading.Thread(target=lambda: running.run(lambda r: gate.wait(10)))
    blocked.start()  # holds the replica thread, so the next job stays queued
    time.sleep(0.1)
    failures: list[BaseException] = []

    def queued() -> None:
        try:
            running.run(lambda r: r.subnet.height)
        except ReplicaError as exc:
            failures.append(exc)

    waiter = threading.Thread(target=queued)
    waiter.start()
    time.sleep(0.1)
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    gate.set()
    for thread in (blocked, waiter, stopper):
        thread.join(10)
    # Either the queued job ran before the loop saw the stop, or it was failed: never lost.
    assert not waiter.is_alive()
    assert all("stopped" in str(failure) for failure in failures)


def test_an_event_loop_caller_serves_only_light_jobs(tmp_path: Path) -> None:
    """Work queued by `run` (worker threads: possibly a query under the full limit) is
    never served by an event-loop caller, which would stall the loop; it stays queued in
    order for the replica's thread, while the light jobs queued by `call` are served."""
    from icframework.replica.service import _Job

    running = ReplicaService(Replica.open(None))
    ran: list[str] = []

    def job(name: str, *, light: bool) -> _Job:
        return _Job(lambda replica: ran.append(name), lambda value, error: None, light)

    running._jobs.extend([job("heavy-1", light=False), job("light-1", light=True),
                          job("heavy-2", light=False), job("light-2", light=True)])
    running._serve_jobs(light_only=True)
    assert ran == ["light-1", "light-2"]
    running._serve_jobs()
    assert ran == ["light-1", "light-2", "heavy-1", "heavy-2"]
    running.replica.close()


def test_a_blocking_update_run_as_work_lets_waiting_queries_read_the_certificate(
        tmp_path: Path) -> None:
    """Work that calls `Replica.update` (a faucet's mint, a seeder) runs rounds itself; a
    query let in between its messages reads the certified state of the last committed
    round, which must have been built before that round started (it was not: the query
    failed with "no certified state of round N", a 500 over HTTP)."""
    replica = Replica.open(tmp_path)
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, counter_wasm(), sender=OWNER)
    replica.update(canister, "inc", sender=OWNER)  # a new height nobody certified yet
    seen: list[int] = []

    def waiting_query() -> None:  # what a service serving its queue mid-round does
        if not seen:
            seen.append(replica.certified_state().height)

    replica.subnet.between_messages = waiting_query
    replica.update(canister, "inc", sender=OWNER)
    replica.update(canister, "inc", sender=OWNER)
    assert seen and seen[0] >= 1
