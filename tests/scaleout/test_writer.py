"""Subnet writers as real processes: a 2-subnet cluster (2 writers and a standby) running
updates submitted as Celery tasks, with answers (certified) read from Redis."""

from __future__ import annotations

import base64
import time
from pathlib import Path

import cbor2
import pytest
import redis

from icframework.candid import NAT64
from icframework.candid.binary import decode
from icframework.protocol import verify_certificate
from icframework.replica import PostgresRegistry
from icframework.scaleout import ClusterConfig, height_key, init_cluster, send_submit
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import (
    Answers,
    Client,
    ClusterProcesses,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services


def _count(reply: bytes) -> int:
    (value,) = decode(reply, [NAT64])
    return int(value)


def test_two_writers_and_a_standby_answer_calls_from_the_broker(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    root, app = unique_names(2)
    answers = Answers(redis_url, [root, app])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            writers = {name: procs.start_writer(name, f"{name}-w1") for name in (root, app)}
            standby = procs.start_writer(app, f"{app}-w2", wait=False)
            standby.wait_for("standby")
            client = Client(config, answers)
            counters = {}
            for number, name in enumerate((root, app)):
                counters[name] = client.create_canister(name, number)
                client.install(name, counters[name], wat_wasm("counter"))
            for expected in (1, 2, 3):
                for name, canister in counters.items():
                    assert _count(client.update(name, canister, "inc")) == expected
            # A v2 call is answered 202 once queued; a call to a canister of another
            # subnet's range, sent to this subnet, is refused as the embedded replica does.
            _body, request_id = client.send(app, counters[app], "inc", b"DIDL\x00\x00",
                                            kind="call")
            accepted = answers.wait(request_id)
            assert (accepted["outcome"], accepted["status"]) == ("accepted", 202)
            _body, refused_id = client.send(app, counters[root], "inc", b"DIDL\x00\x00")
            refused = answers.wait(refused_id)
            assert refused["outcome"] == "refused"
            rejection = cbor2.loads(base64.b64decode(refused["body_b64"]))
            assert rejection["status"] == "non_replicated_rejection", rejection
            # The same envelope submitted twice runs once and is answered with its outcome.
            body, twice_id = client.envelope(counters[root], "inc", b"DIDL\x00\x00")
            send_submit(root, "call_v3", counters[root].to_text(), body)
            first = client.reply(twice_id, counters[root])
            send_submit(root, "call_v3", counters[root].to_text(), body)
            answers.wait(twice_id)
            assert _count(first) == 4
            assert _count(client.update(root, counters[root], "inc")) == 5
            # The standby consumed nothing: the app subnet's writer is still the first.
            assert "consuming queue" not in standby.text()
            store = redis.Redis.from_url(redis_url)
            height = store.get(height_key(app))
            assert isinstance(height, bytes) and int(height) > 0
            status = procs.manage("cluster", "status")
            assert f"writer {app}-w1" in status and f"writer {root}-w1" in status
            assert writers[app].stop() == 0
            standby.wait_for("consuming queue")
            assert _count(client.update(app, counters[app], "inc")) == 5
    finally:
        answers.close()


def test_a_writer_renews_a_stale_delegation(postgres_url: str, redis_url: str,
                                            tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    root, app = unique_names(2)
    stale = time.time_ns() - 3 * 24 * 3600 * 10**9
    init_cluster(postgres_url, [root, app], time_ns=stale)
    with PostgresRegistry(postgres_url) as registry:
        old = registry.subnet(app).delegation
    with ClusterProcesses(tmp_path, config) as procs:
        writer = procs.start_writer(app, "w")
        writer.wait_for("delegation renewed")
    with PostgresRegistry(postgres_url) as registry:
        record = registry.subnet(app)
        root_key = registry.root().public_key_der
    assert record.delegation is not None and record.delegation != old
    certificate = verify_certificate(cbor2.loads(record.delegation)["certificate"], root_key)
    assert (certificate.time_ns or 0) > stale
