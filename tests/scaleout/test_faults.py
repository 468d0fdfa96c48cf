"""Faults of a scale-out cluster's real processes:

- the writers' connections to the broker (and Redis) are cut mid-stream, twice, by a
  real TCP proxy between them and Redis: every call (ingress and the XNet calls it
  makes) is answered, with one outcome, and ran exactly once;
- a front end's Redis connection (its answers subscription) drops while a v3 call waits
  for its answer: the call is answered (202 or replied) and read_state gives its outcome;
- every process is stopped (SIGKILL and SIGTERM) and Redis flushed: started again, the
  cluster continues from PostgreSQL alone (canister state, the ingress history of
  answered calls, an XNet call left in a stream), new calls work, certificates verify.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import cbor2
import httpx
import pytest
import redis

from icframework.agent import Agent, request_status_from_certificate
from icframework.candid import NAT, NAT64, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import CallContent, sign_envelope, verify_certificate
from icframework.replica import PostgresStateStore, Replica
from icframework.replica.xnet import XNetState
from icframework.scaleout import ClusterConfig, send_submit
from icframework.scaleout.bootstrap import root_key_der
from icframework.scaleout.celery import VISIBILITY_TIMEOUT_S
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm, wat_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    free_port,
    unique_names,
)
from tests.scaleout.tcp_proxy import TcpProxy

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

EMPTY = b"DIDL\x00\x00"
CALLS = 36
CUTS = (12, 24)
"""The stream is cut when this many calls were sent (and some answered)."""
HOLD_S = 1.0
"""How long a cut connection stays refused (a fault's length, not a measured bound)."""
RESTART_REDIS_DB = 15
"""The restart test flushes this Redis database of its own (the other tests use 0)."""


def _nat(reply: bytes) -> int:
    (value,) = decode(reply, [NAT])
    return int(value)


def _nat64(reply: bytes) -> int:
    (value,) = decode(reply, [NAT64])
    return int(value)


def _query(url: str, subnet: str, canister: Principal, method: str) -> int:
    """A query on the subnet's committed state (its writers stopped), read-only."""
    with Replica.open(store=PostgresStateStore(url, subnet)) as replica:
        return _nat(replica.query(canister, method))


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT_S} s"
        time.sleep(0.05)


def _reply(client: Client, answer: dict[str, object], request_id: bytes,
           canister: Principal) -> int:
    """The reply in one published answer, its certificate verified."""
    body = cbor2.loads(base64.b64decode(str(answer["body_b64"])))
    body = body.value if isinstance(body, cbor2.CBORTag) else body
    certificate = verify_certificate(body["certificate"], client.root_key,
                                     canister_id=canister)
    status = request_status_from_certificate(certificate, request_id)
    assert status.status == "replied" and status.reply is not None, status
    return _nat(bytes(status.reply))


def _setup_xnet(client: Client, root: str, app: str) -> tuple[Principal, Principal]:
    """A Motoko callee on the app subnet and a caller on the root subnet forwarding to it."""
    callee = client.create_canister(app, 1)
    client.install(app, callee, motoko_wasm("callee"))
    caller = client.create_canister(root, 0)
    client.install(root, caller, motoko_wasm("caller"), encode([PRINCIPAL], [callee]))
    return caller, callee


def _answer_all(client: Client, answers: Answers,
                calls: list[tuple[str, Principal, bytes, bytes]]) -> int:
    """Until every call was answered; the number of calls submitted again.

    First without help: a task a writer had taken when its connection broke is
    unacknowledged, and the broker delivers it again after its visibility timeout
    (`VISIBILITY_TIMEOUT_S`). After twice that, a call still unanswered (its message
    was popped into the cut connection) is submitted again, the same envelope, as a
    client retries."""
    patience = time.monotonic() + 2 * VISIBILITY_TIMEOUT_S
    deadline = patience + WAIT_S
    retried: set[bytes] = set()
    while True:
        missing = [call for call in calls if call[3].hex() not in answers.answered()]
        if not missing:
            return len(retried)
        assert time.monotonic() < deadline, f"{len(missing)} calls were never answered"
        time.sleep(0.5)
        if time.monotonic() < patience:
            continue
        for subnet, target, body, request_id in missing:
            if request_id.hex() not in answers.answered():
                send_submit(subnet, "call_v3", target.to_text(), body)
                retried.add(request_id)


@requires_node
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_calls_and_xnet_survive_cut_broker_connections(
        broker: str, postgres_url: str, redis_url: str, request: pytest.FixtureRequest,
        tmp_path: Path) -> None:
    """Two subnet writers reach their broker (Redis or RabbitMQ) and Redis (answers,
    heights) through proxies whose connections are cut twice during a stream of
    forwards (root -> app over XNet) and direct ingress to the callee: each call ends
    replied, and the callee's counter and replies show each of its ``set`` calls ran
    exactly once."""
    broker_url = redis_url if broker == "redis" else request.getfixturevalue("rabbitmq_url")
    root, app = unique_names(2)
    direct = ClusterConfig(postgres_url, broker_url, redis_url)
    answers = Answers(redis_url, [root, app])
    with TcpProxy.to(redis_url, 6379) as proxy, \
            TcpProxy.to(broker_url, 5672 if broker == "rabbitmq" else 6379) as broker_proxy:
        writers_config = ClusterConfig(postgres_url, broker_proxy.url(broker_url),
                                       proxy.url(redis_url))
        try:
            with ClusterProcesses(tmp_path, writers_config) as procs:
                procs.init([root, app])
                writers = [procs.start_writer(name, f"{name}-w") for name in (root, app)]
                client = Client(direct, answers)
                caller, callee = _setup_xnet(client, root, app)
                calls: list[tuple[str, Principal, bytes, bytes]] = []
                values: list[int] = []
                for number in range(CALLS):
                    value = 1000 + number
                    if number % 3 == 2:  # direct ingress to the callee on the app subnet
                        body, request_id = client.envelope(callee, "set",
                                                           encode([NAT], [value]))
                        calls.append((app, callee, body, request_id))
                    else:  # ingress to the caller, which awaits the callee over XNet
                        body, request_id = client.envelope(caller, "forward",
                                                           encode([NAT], [value]))
                        calls.append((root, caller, body, request_id))
                    values.append(value)
                started = time.monotonic()
                cut_connections = []
                for number, (subnet, target, body, _request_id) in enumerate(calls):
                    if number in CUTS:
                        _until(lambda n=number: len(answers.answered()) >= n // 2,  # type: ignore[misc]
                               "answers before the cut")
                        proxy.block()  # mid-stream: calls and slices are in flight
                        broker_proxy.block()
                        cut_connections.append(broker_proxy.connections)
                        time.sleep(HOLD_S)
                        proxy.restore()
                        broker_proxy.restore()
                    send_submit(subnet, "call_v3", target.to_text(), body)
                    time.sleep(0.01)
                retried = _answer_all(client, answers, calls)
                elapsed = time.monotonic() - started
                replies = []
                for _subnet, target, _body, request_id in calls:
                    outcomes = answers.by_id[request_id.hex()]
                    # Every answer of a call (a call delivered again is answered again)
                    # is the same certified reply.
                    assert {a["outcome"] for a in outcomes} == {"replied"}, outcomes
                    assert len({_reply(client, a, request_id, target) for a in outcomes}) == 1
                    replies.append(_nat(client.reply(request_id, target)))
                # The writers came back to the broker after each cut and still serve.
                assert broker_proxy.connections > cut_connections[-1] > 0
                assert _nat(client.update(root, caller, "forward", encode([NAT], [7]))) \
                    not in replies
                for writer in writers:
                    assert writer.popen.poll() is None, writer.text()
            # Each set ran once: it returned the value before it, so the replies are 0
            # and every value but the one set last, each once.
            final = _query(postgres_url, app, callee, "get")
            assert final == 7
            assert _query(postgres_url, app, callee, "call_count") == CALLS + 1
            last_of_stream = sorted(set(values) - set(replies))
            assert len(last_of_stream) == 1
            assert sorted(replies) == sorted([0] + [v for v in values
                                                    if v != last_of_stream[0]])
            again = sum(len(answers.by_id[c[3].hex()]) > 1 for c in calls)
            print(f"\n{broker} broker cuts: {CALLS} calls with {len(CUTS)} cuts of {HOLD_S} s "
                  f"answered in {elapsed:.2f} s; {retried} submitted again by the client, "
                  f"{again} answered more than once; broker connections "
                  f"{broker_proxy.connections}")
        finally:
            answers.close()


def test_an_answer_the_writer_could_not_publish_goes_out_when_redis_is_back(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """The writer's Redis (answers, heights; not its broker) goes through a proxy that
    refuses connections while a call runs: the round commits and publishing after it
    fails; once Redis answers again the writer publishes the answer, once, without the
    call's sender resubmitting (the writer keeps a call pending until its answer went
    out)."""
    root, app = unique_names(2)
    direct = ClusterConfig(postgres_url, redis_url, redis_url)
    answers = Answers(redis_url, [app])
    with TcpProxy.to(redis_url, 6379) as proxy:
        try:
            writers = ClusterConfig(postgres_url, redis_url, proxy.url(redis_url))
            with ClusterProcesses(tmp_path, writers) as procs:
                procs.init([root, app])
                writer = procs.start_writer(app, f"{app}-w")
                client = Client(direct, answers)
                counter = client.create_canister(app, 1)
                client.install(app, counter, wat_wasm("counter"))
                assert _nat64(client.update(app, counter, "inc")) == 1
                proxy.block()
                _body, request_id = client.send(app, counter, "inc", EMPTY)
                writer.wait_for("publishing after round")
                assert request_id.hex() not in answers.by_id
                proxy.restore()
                assert _nat64(client.reply(request_id, counter)) == 2
                assert len(answers.by_id[request_id.hex()]) == 1
                assert _nat64(client.update(app, counter, "inc")) == 3
        finally:
            answers.close()


def _signed(identity: Ed25519Identity, canister: Principal, method: str,
            nonce: bytes) -> tuple[bytes, bytes]:
    content = CallContent(canister, method, EMPTY, identity.principal,
                          time.time_ns() + 240 * 10**9, nonce)
    envelope = sign_envelope(content, identity)
    return envelope.to_cbor(), envelope.request_id


def test_a_v3_call_survives_its_front_ends_redis_connection_dropping(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """The front end subscribes to answers through a proxy cut while a v3 call waits:
    the writer's answer is published into the gap; the front end answers 202 (or the
    reply, had it heard it) and read_state through it gives the certified outcome."""
    root, app = unique_names(2)
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    answers = Answers(redis_url, [app])
    with TcpProxy.to(redis_url, 6379) as proxy:
        try:
            with ClusterProcesses(tmp_path, config) as procs:
                procs.init([root, app])
                app_writer = {name: procs.start_writer(name, f"{name}-w1")
                              for name in (root, app)}[app]
                port = free_port()
                # Only this front end's Redis (answers, round notices) goes through the proxy.
                procs.env["ICFRAMEWORK_REDIS_URL"] = proxy.url(redis_url)
                frontend = procs.spawn(["runfrontend", "--port", str(port)], "frontend")
                procs.env["ICFRAMEWORK_REDIS_URL"] = redis_url
                frontend.wait_for("icframework front end running")
                url = f"http://127.0.0.1:{port}"
                client = Client(config, answers)
                counter = client.create_canister(app, 1)
                client.install(app, counter, wat_wasm("counter"))
                identity = Ed25519Identity.generate()
                with Agent(url, identity, fetch_root_key=True) as agent:
                    assert agent.fetch_root_key() == root_key_der(postgres_url)
                    assert _nat64(agent.update(counter, "inc", EMPTY)) == 1
                    # Hold the call in the broker's queue: the app writer is stopped.
                    assert app_writer.stop() == 0
                    body, request_id = _signed(identity, counter, "inc", b"cut-redis")
                    outcome: dict[str, httpx.Response] = {}

                    def call() -> None:
                        outcome["response"] = httpx.post(
                            f"{url}/api/v3/canister/{counter}/call", content=body,
                            headers={"content-type": "application/cbor"}, timeout=WAIT_S)

                    thread = threading.Thread(target=call)
                    thread.start()
                    queue = redis.Redis.from_url(redis_url)
                    _until(lambda: bool(queue.llen(f"subnet.{app}")), "the call was forwarded")
                    proxy.block()  # the front end's answers subscription drops
                    procs.start_writer(app, f"{app}-w2")
                    answered = answers.wait(request_id)  # published while it was cut
                    assert answered["outcome"] == "replied"
                    proxy.restore()
                    thread.join(WAIT_S)
                    response = outcome["response"]
                    assert response.status_code in (200, 202), response.text
                    if response.status_code == 200:
                        reply = cbor2.loads(response.content)
                        assert reply["status"] == "replied"
                    assert _nat64(agent.poll(counter, request_id, "inc")) == 2
                    # The subscription came back: the next call is answered at once.
                    assert _nat64(agent.update(counter, "inc", EMPTY)) == 3
                    assert proxy.connections >= 2
                    queue.close()
                size = len(base64.b64decode(answered["body_b64"]))
                print(f"\nfront end's Redis cut: the waiting v3 call got "
                      f"{response.status_code}; the answer it missed: {size} B")
        finally:
            answers.close()


def _redis_db(url: str, db: int) -> str:
    return urlsplit(url)._replace(path=f"/{db}").geturl()


@requires_node
def test_everything_restarts_from_postgresql(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """Calls run; every process is stopped (writers SIGKILLed or SIGTERMed, the standby
    and the front end too), an XNet call waiting in the root subnet's stream; Redis is
    flushed; all started again: state, the ingress history (old request ids through
    read_state) and the stream continue, new calls work, certificates verify."""
    root, app = unique_names(2)
    url = _redis_db(redis_url, RESTART_REDIS_DB)
    config = ClusterConfig(postgres_url, url, url)
    answers = Answers(url, [root, app])
    flush = redis.Redis.from_url(url)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init([root, app])
            root_writer = procs.start_writer(root, "root-w1")
            app_writer = procs.start_writer(app, "app-w1")
            app_standby = procs.start_writer(app, "app-w2", wait=False)
            app_standby.wait_for("standby")
            port = free_port()
            frontend = procs.spawn(["runfrontend", "--port", str(port)], "frontend-1")
            frontend.wait_for("icframework front end running")
            client = Client(config, answers)
            caller, callee = _setup_xnet(client, root, app)
            old: list[tuple[Principal, bytes, int]] = []
            previous = 0
            for value in (11, 12, 13):
                _body, request_id = client.send(root, caller, "forward", encode([NAT], [value]))
                assert _nat(client.reply(request_id, caller)) == previous
                old.append((caller, request_id, previous))
                previous = value
            # Stop the app subnet (standby first, so it does not take over), then a
            # forward whose XNet request waits in the root subnet's committed stream.
            assert app_standby.stop() == 0
            assert app_writer.stop() == 0
            _body, waiting_id = client.send(root, caller, "forward", encode([NAT], [14]))
            _until(lambda: _streamed(postgres_url, root, app), "the root streamed the call")
            stopped_at = time.monotonic()
            root_writer.kill()
            frontend.kill()
            flush.flushdb()
            assert flush.dbsize() == 0
            # Everything again, from PostgreSQL alone.
            procs.start_writer(root, "root-w2")
            procs.start_writer(app, "app-w3")
            procs.start_writer(app, "app-w4", wait=False).wait_for("standby")
            frontend = procs.spawn(["runfrontend", "--port", str(port)], "frontend-2")
            frontend.wait_for("icframework front end running")
            with Agent(f"http://127.0.0.1:{port}", client.identity,
                       fetch_root_key=True) as agent:
                assert agent.fetch_root_key() == client.root_key
                # The XNet call left in the stream completes (polled: its writer is gone).
                assert _nat(agent.poll(caller, waiting_id, "forward")) == 13
                resumed_s = time.monotonic() - stopped_at
                # The answered calls' history is still certified.
                for canister, request_id, reply in old:
                    status = agent.request_status(canister, request_id)
                    assert status.status == "replied" and status.reply is not None
                    assert _nat(bytes(status.reply)) == reply
            # New calls work, through the broker and over XNet.
            assert _nat(client.update(root, caller, "forward", encode([NAT], [15]))) == 14
            assert _nat(client.update(app, callee, "set", encode([NAT], [16]))) == 15
        assert _query(postgres_url, app, callee, "call_count") == 6
        assert _query(postgres_url, app, callee, "get") == 16
        print(f"\nrestart from PostgreSQL: the waiting XNet call was answered "
              f"{resumed_s:.2f} s after the cluster was stopped (lease ttl 3 s)")
    finally:
        answers.close()
        flush.flushdb()
        flush.close()


def _streamed(database_url: str, source: str, destination: str) -> bool:
    state = XNetState(source)
    with PostgresStateStore(database_url, source) as store:
        state.load(store)
    piece = next((s for s in state.slices() if s.destination == destination), None)
    return piece is not None and bool(piece.messages)
