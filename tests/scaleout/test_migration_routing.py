"""Calls routed by a registry older than an online migration, forced deterministically:
a front end whose routing table is not reloaded during the whole move, and a call that
reaches the source's writer while the canister is still there (moved, not yet dropped).
Each still reaches the canister on its new subnet and is answered with a reply that
counted, never a stale "canister not found"."""

from __future__ import annotations

import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import cbor2
import psycopg
import pytest

from icframework.agent import request_status_from_certificate
from icframework.core import Principal
from icframework.protocol import parse_envelope, verify_certificate
from icframework.replica import PostgresRegistry
from icframework.scaleout import ClusterConfig, FrontendBackend
from icframework.scaleout import frontend as frontend_module
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    counter_value,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

EMPTY = b"DIDL\x00\x00"


def _cbor(body: bytes) -> Any:
    value = cbor2.loads(body)
    return value.value if isinstance(value, cbor2.CBORTag) else value


def _call(frontend: FrontendBackend, client: Client, canister: Principal) -> tuple[int, bytes]:
    """An ``inc`` through the front end's v3 call path: the count it replied and the
    subnet id whose delegation certified the answer (raises on anything else)."""
    body, request_id = client.envelope(canister, "inc", EMPTY)
    response = asyncio.run(frontend.submit(body, parse_envelope(body), canister, v3=True))
    answer = _cbor(response.body)
    assert response.status == 200 and "certificate" in answer, answer
    certificate = verify_certificate(answer["certificate"], client.root_key,
                                     canister_id=canister)
    status = request_status_from_certificate(certificate, request_id)
    assert status.status == "replied" and status.reply is not None, status
    assert certificate.delegation is not None
    return counter_value(bytes(status.reply)), certificate.delegation.subnet_id.raw


def _phase(url: str, canister: Principal) -> str | None:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute("SELECT phase FROM ic_migrations WHERE canister_id = %s",
                               (canister.raw,)).fetchone()
        except psycopg.errors.UndefinedTable:  # the command has not made it yet
            return None
    return None if row is None else str(row[0])


def test_a_front_end_with_a_stale_routing_table_reaches_the_moved_canister(
        postgres_url: str, redis_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, app1, app2 = names
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            for name in names:
                procs.start_writer(name, f"{name}-w1")
            client = Client(config, answers)
            counter = client.create_canister(app1, 1)
            client.install(app1, counter, wat_wasm("counter"))
            with PostgresRegistry(config.database_url) as registry:
                app1_id, app2_id = (registry.subnet(n).subnet_id for n in (app1, app2))
            frontend = FrontendBackend(config).start()
            try:
                assert _call(frontend, client, counter) == (1, app1_id)
                # The front end's table is not reloaded on time during the move: only a
                # refusal may make it look at the registry again.
                monkeypatch.setattr(frontend_module, "ROUTING_CHECK_S", 3600.0)
                frontend._refresh_routing(force=True)
                moved = procs.manage("cluster", "migrate", counter.to_text(), "--to", app2)
                assert f"moved {counter.to_text()} from {app1} to {app2}" in moved
                assert frontend._routing.subnet_of(counter) == app1  # still stale
                frontend.copy(app1).sync()  # its copy of app1 saw the drop

                assert _call(frontend, client, counter) == (2, app2_id)
                reader = frontend.reader(counter)  # queries and read_state follow too
                assert reader.replica.identity.subnet_id.raw == app2_id
                assert counter_value(reader.run(lambda replica: replica.query(counter, "get"))) == 2
            finally:
                frontend.stop()
    finally:
        answers.close()


def test_a_call_reaching_the_source_between_the_move_and_the_drop_is_forwarded(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """The destination imported and started the canister (phase ``moved``) while the
    source's writer was down: the canister is still in the source's store, stopped and
    marked. A call sent to the source's queue then is forwarded to the destination when
    the source's writer comes back, not refused as stopped."""
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, app1, app2 = names
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            source = procs.start_writer(app1, f"{app1}-w1")
            client = Client(config, answers)
            counter = client.create_canister(app1, 1)
            client.install(app1, counter, wat_wasm("counter"))
            assert counter_value(client.update(app1, counter, "inc")) == 1
            # Without the destination's writer the move waits in phase "stopped".
            waiting = procs.spawn(["cluster", "migrate", counter.to_text(), "--to", app2],
                                  "migrate")
            _wait_for_phase(config.database_url, counter, "stopped")
            assert source.stop() == 0
            procs.start_writer(app2, f"{app2}-w1")
            _wait_for_phase(config.database_url, counter, "moved")
            _body, request_id = client.send(app1, counter, "inc", EMPTY)
            procs.start_writer(app1, f"{app1}-w2")
            answer = answers.wait(request_id)
            assert answer["outcome"] == "replied", base64.b64decode(answer["body_b64"])
            assert counter_value(client.reply(request_id, counter)) == 2
            assert waiting.popen.wait(WAIT_S) == 0, waiting.text()
            assert counter_value(client.update(app2, counter, "inc")) == 3
    finally:
        answers.close()


def _wait_for_phase(url: str, canister: Principal, phase: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while _phase(url, canister) != phase:
        assert time.monotonic() < deadline, f"the migration never reached {phase!r}"
        time.sleep(0.05)
