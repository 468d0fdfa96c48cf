"""`Replica` used directly from several threads while its `ReplicaService` runs rounds:
the service serializes every call on the replica (submit, wait, update, query, the
management helpers) with its own work, so concurrent callers neither corrupt the subnet
nor lose an update."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.core import Principal
from icframework.replica import Replica, ReplicaService
from tests.replica.wat_counter import counter_wasm, nat64_reply

OWNER = Principal.self_authenticating(b"threads owner")
THREADS = 6
CALLS = 25


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[ReplicaService, Principal]]:
    service = ReplicaService(Replica.open(tmp_path), idle_round_seconds=0.001)
    canister = service.replica.create_canister(sender=OWNER)
    service.replica.install_code(canister, counter_wasm(), sender=OWNER)
    service.start()
    yield service, canister
    service.stop()


def hammer(threads: int, action: object) -> list[BaseException]:
    """Run ``action()`` in ``threads`` threads started together; the errors they raised."""
    assert callable(action)
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            action()
        except BaseException as exc:  # collected and reported by the test
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not any(worker.is_alive() for worker in workers), "a caller hung"
    return errors


def test_concurrent_updates_on_a_running_service_all_count(
        running: tuple[ReplicaService, Principal]) -> None:
    service, canister = running
    replica = service.replica

    def calls() -> None:
        for _ in range(CALLS):
            replica.update(canister, "inc")
            replica.query(canister, "get")

    errors = hammer(THREADS, calls)
    assert errors == [], errors[:3]
    assert service.round_errors == 0
    assert replica.query(canister, "get") == nat64_reply(THREADS * CALLS)


def test_concurrent_creations_and_installs_on_a_running_service(
        running: tuple[ReplicaService, Principal]) -> None:
    service, _canister = running
    replica = service.replica
    created: list[Principal] = []

    def create() -> None:
        for _ in range(3):
            canister = replica.create_canister(sender=OWNER)
            replica.install_code(canister, counter_wasm(), sender=OWNER)
            replica.update(canister, "inc", sender=OWNER)
            created.append(canister)

    errors = hammer(4, create)
    assert errors == [], errors[:3]
    assert service.round_errors == 0
    assert len(set(created)) == 12
    assert all(replica.query(canister, "get") == nat64_reply(1) for canister in created)
