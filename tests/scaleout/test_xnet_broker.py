"""XNet over the broker: a Motoko caller on the root subnet awaits a callee on an app
subnet, each subnet a writer process, the slices travelling as Celery tasks (over
Redis, and over RabbitMQ with the answers still on Redis); a slice delivered again is
inducted once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from icframework.candid import NAT, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.replica import PostgresStateStore, Replica
from icframework.replica.xnet import XNetState
from icframework.scaleout import ClusterConfig, encode_slice, send_xnet
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = [pytest.mark.services, requires_node]


def _nat(reply: bytes) -> int:
    (value,) = decode(reply, [NAT])
    return int(value)


def _query(url: str, subnet: str, canister: Principal, method: str) -> int:
    """A query on the subnet's committed state (its writers stopped), read-only."""
    with Replica.open(store=PostgresStateStore(url, subnet)) as replica:
        return _nat(replica.query(canister, method))


def _setup(client: Client, root: str, app: str) -> tuple[Principal, Principal]:
    callee = client.create_canister(app, 1)
    client.install(app, callee, motoko_wasm("callee"))
    caller = client.create_canister(root, 0)
    client.install(root, caller, motoko_wasm("caller"), encode([PRINCIPAL], [callee]))
    return caller, callee


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_calls_across_subnets_over_the_broker(
        broker: str, postgres_url: str, redis_url: str, request: pytest.FixtureRequest,
        tmp_path: Path) -> None:
    broker_url = redis_url if broker == "redis" else request.getfixturevalue("rabbitmq_url")
    config = ClusterConfig(postgres_url, broker_url, redis_url)
    root, app = unique_names(2)
    answers = Answers(redis_url, [root, app])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            for name in (root, app):
                procs.start_writer(name, f"{name}-w")
            client = Client(config, answers)
            caller, callee = _setup(client, root, app)
            previous = 0
            for value in (7, 8, 9):
                reply = client.update(root, caller, "forward", encode([NAT], [value]))
                assert _nat(reply) == previous  # the callee's old value, from the other subnet
                previous = value
        assert _query(postgres_url, app, callee, "call_count") == 3
        assert _query(postgres_url, app, callee, "get") == 9
    finally:
        answers.close()


def test_a_slice_delivered_twice_is_inducted_once(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    root, app = unique_names(2)
    answers = Answers(redis_url, [root, app])
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            procs.start_writer(root, f"{root}-w")
            app_writer = procs.start_writer(app, f"{app}-w")
            client = Client(config, answers)
            caller, callee = _setup(client, root, app)
            assert _nat(client.update(root, caller, "forward", encode([NAT], [1]))) == 0
            # With the callee's subnet down, the call waits in the root's stream: send
            # its committed slice to the callee's queue twice more, by hand.
            assert app_writer.stop() == 0
            _body, request_id = client.send(root, caller, "forward", encode([NAT], [2]))
            piece = None
            deadline = time.monotonic() + WAIT_S
            while piece is None or not piece.messages:
                assert time.monotonic() < deadline, "the root subnet never streamed the call"
                time.sleep(0.1)
                state = XNetState(root)
                with PostgresStateStore(postgres_url, root) as store:
                    state.load(store)
                piece = next((s for s in state.slices() if s.destination == app), None)
            for _ in range(2):
                send_xnet(app, encode_slice(piece))
            procs.start_writer(app, f"{app}-w2")
            assert _nat(client.reply(request_id, caller)) == 1
            assert _nat(client.update(root, caller, "forward", encode([NAT], [3]))) == 2
        # Three forwards, each executed once by the callee although its request came
        # in at least three slices (the two sent by hand, the root's own sends).
        assert _query(postgres_url, app, callee, "call_count") == 3
        assert _query(postgres_url, app, callee, "get") == 3
    finally:
        answers.close()
