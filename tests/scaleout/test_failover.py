"""Failover of a subnet's writer: SIGKILL it during a stream of updates and its standby
takes over from the last committed round; every answered call is there, none ran twice.
A writer paused past its lease (SIGSTOP) finds the standby in its place and exits."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from icframework.candid import NAT64
from icframework.candid.binary import decode
from icframework.scaleout import EXIT_LEASE_LOST, ClusterConfig, send_submit
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

CALLS = 80
KILL_AFTER = 25
TTL_S = 2.0


def _count(reply: bytes) -> int:
    (value,) = decode(reply, [NAT64])
    return int(value)


def test_standby_takes_over_a_killed_writer_and_runs_each_call_once(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    root, app = unique_names(2)
    answers = Answers(redis_url, [app])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            first = procs.start_writer(app, "w1", ttl=TTL_S)
            standby = procs.start_writer(app, "w2", wait=False, ttl=TTL_S)
            standby.wait_for("standby")
            client = Client(config, answers)
            counter = client.create_canister(app, 1)
            client.install(app, counter, wat_wasm("counter"))
            calls = [client.envelope(counter, "inc", b"DIDL\x00\x00") for _ in range(CALLS)]
            ids = {request_id.hex() for _body, request_id in calls}
            killed_at: list[float] = []

            def stream() -> None:
                for number, (body, _request_id) in enumerate(calls):
                    if number == KILL_AFTER:
                        # Kill once some calls were answered, with more in flight.
                        while len(answers.answered() & ids) < KILL_AFTER // 2:
                            time.sleep(0.01)
                        first.kill()
                        killed_at.append(time.monotonic())
                    send_submit(app, "call_v3", counter.to_text(), body)
                    time.sleep(0.01)

            sender = threading.Thread(target=stream)
            sender.start()
            sender.join(WAIT_S)
            answered_before = set(answers.answered() & ids)
            standby.wait_for("consuming queue")
            takeover_s = time.monotonic() - killed_at[0]
            # Calls the killed writer took but never answered are submitted again (the
            # same envelopes): the standby answers those it finds committed, runs the rest.
            deadline = time.monotonic() + WAIT_S
            while not ids <= answers.answered():
                assert time.monotonic() < deadline, "some calls were never answered"
                for body, request_id in calls:
                    if request_id.hex() not in answers.answered():
                        send_submit(app, "call_v3", counter.to_text(), body)
                time.sleep(0.5)
            values = sorted(_count(client.reply(request_id, counter))
                            for _body, request_id in calls)
            # Each call ran exactly once: the counter took each value 1..CALLS once.
            assert values == list(range(1, CALLS + 1))
            assert _count(client.update(app, counter, "inc")) == CALLS + 1
            assert answered_before and answered_before < ids
            print(f"\nfailover: the standby consumed the queue {takeover_s:.2f} s after the "
                  f"writer was killed (lease ttl {TTL_S} s); {len(answered_before)} of "
                  f"{CALLS} calls were answered before the takeover")
    finally:
        answers.close()


def test_a_writer_paused_past_its_lease_exits_when_it_resumes(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    root, app = unique_names(2)
    answers = Answers(redis_url, [app])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            first = procs.start_writer(app, "w1", ttl=TTL_S)
            standby = procs.start_writer(app, "w2", wait=False, ttl=TTL_S)
            standby.wait_for("standby")
            client = Client(config, answers)
            counter = client.create_canister(app, 1)
            client.install(app, counter, wat_wasm("counter"))
            assert _count(client.update(app, counter, "inc")) == 1
            os.kill(first.pid, signal.SIGSTOP)
            standby.wait_for("consuming queue")
            assert _count(client.update(app, counter, "inc")) == 2
            os.kill(first.pid, signal.SIGCONT)
            first.wait_for("lost the writer lease")
            assert first.popen.wait(WAIT_S) == EXIT_LEASE_LOST
            assert _count(client.update(app, counter, "inc")) == 3
    finally:
        answers.close()
