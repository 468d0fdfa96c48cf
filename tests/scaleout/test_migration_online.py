"""Online migration (``manage.py cluster migrate`` with both writers running), as real
processes: a counter canister with state moves from app1 to app2 while calls stream
through a front end; its state is intact, every call sent during the move is answered
(a reject, or a reply that counted), and certificates after the move carry app2's
re-signed delegation and verify under the root key for the canister."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cbor2
import pytest

from icframework.agent import Agent, AgentError, ManagementCanister, RejectError
from icframework.candid import NAT, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import parse_certificate
from icframework.replica import PostgresRegistry, PostgresStateStore, Replica, subnet_range
from icframework.scaleout import ClusterConfig
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm, wat_wasm
from tests.scaleout.cluster_support import (
    WAIT_S,
    Answers,
    Client,
    ClusterProcesses,
    counter_value,
    free_port,
    unique_names,
)

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

EMPTY = b"DIDL\x00\x00"


def test_a_counter_moves_between_running_subnets_and_keeps_every_call(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, app1, app2 = names
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        writers = {name: procs.start_writer(name, f"{name}-w1") for name in names}
        port = free_port()
        frontend = procs.spawn(["runfrontend", "--port", str(port)], "frontend")
        frontend.wait_for("icframework front end running")
        identity = Ed25519Identity.generate()
        agent = Agent(f"http://127.0.0.1:{port}", identity, fetch_root_key=True)
        canister = ManagementCanister(agent).provisional_create_canister_with_cycles(
            effective_canister_id=Principal.from_canister_index(subnet_range(1).first))
        ManagementCanister(agent).install_code(canister, wat_wasm("counter"))
        for expected in (1, 2, 3):
            assert counter_value(agent.update(canister, "inc", EMPTY)) == expected
        with PostgresRegistry(config.database_url) as registry:
            app1_id, app2_id = (Principal(registry.subnet(n).subnet_id) for n in (app1, app2))
        before = agent.read_state(canister, [("time",)])
        assert before.delegation is not None and before.delegation.subnet_id == app1_id

        # Calls stream through the front end during the move, each on its own thread
        # so none waits for another; each must end in a reply or a reject.
        outcomes: list[tuple[str, object]] = []
        lock = threading.Lock()
        moving = threading.Event()
        callers: list[threading.Thread] = []

        def call() -> None:
            try:
                result: tuple[str, object] = ("replied",
                                              counter_value(agent.update(canister, "inc", EMPTY)))
            except RejectError as exc:
                result = ("rejected", str(exc))
            except AgentError as exc:
                result = ("refused", str(exc))
            with lock:
                outcomes.append(result)

        def stream() -> None:
            while not moving.is_set():
                thread = threading.Thread(target=call)
                thread.start()
                callers.append(thread)
                time.sleep(0.05)

        streamer = threading.Thread(target=stream)
        streamer.start()
        try:
            moved = procs.manage("cluster", "migrate", canister.to_text(), "--to", app2)
        finally:
            moving.set()
            streamer.join()
            for thread in callers:
                thread.join(WAIT_S)
        assert f"moved {canister.to_text()} from {app1} to {app2}" in moved
        assert all(not thread.is_alive() for thread in callers), "a call never ended"
        assert len(outcomes) == len(callers) > 0
        replied = sorted(int(str(value)) for kind, value in outcomes if kind == "replied")
        refused = [value for kind, value in outcomes if kind != "replied"]
        # Only the IC's retryable reject while the canister is stopped for the move: a
        # call routed by a stale table is re-routed (front end) or forwarded (old
        # subnet's writer), never refused as "not found".
        assert all("is stopp" in str(text) for text in refused), refused
        # Every reply counted once: the counts are 4, 5, ... without a gap or repeat.
        assert replied == list(range(4, 4 + len(replied)))

        # After the move: the state came along, the routing follows, app2 certifies it.
        after = counter_value(agent.update(canister, "inc", EMPTY))
        assert after == 4 + len(replied)
        assert counter_value(agent.query(canister, "get", EMPTY)) >= after
        certificate = agent.read_state(canister, [("time",)])  # verified for the canister
        assert certificate.delegation is not None
        assert certificate.delegation.subnet_id == app2_id
        delegated = parse_certificate(certificate.delegation.certificate)
        ranges = delegated.lookup([b"subnet", app2_id.raw, b"canister_ranges"])
        assert ranges.value is not None
        assert [canister.raw, canister.raw] in [list(r) for r in cbor2.loads(ranges.value)]
        assert "migration" in writers[app1].text() and "migration" in writers[app2].text()
        status = procs.manage("cluster", "status")
        index = canister.canister_index()
        assert f"range {index:#x}..{index:#x}" in status.split(app2, 1)[1]

        # And back again: app1 takes it in over the rows its first stay left there.
        back = procs.manage("cluster", "migrate", canister.to_text(), "--to", app1)
        assert f"moved {canister.to_text()} from {app2} to {app1}" in back
        assert counter_value(agent.update(canister, "inc", EMPTY)) == after + 1
        certificate = agent.read_state(canister, [("time",)])
        assert certificate.delegation is not None
        assert certificate.delegation.subnet_id == app1_id


def _nat(reply: bytes) -> int:
    (value,) = decode(reply, [NAT])
    return int(value)


@requires_node
def test_calls_from_another_subnet_during_a_move_are_answered_or_rejected_never_lost(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """A caller on the root subnet keeps calling a callee (XNet) while the callee moves
    from app1 to app2: each call ends (replied, or rejected while the callee is stopped);
    afterwards the root subnet's calls reach it on app2, and it ran each replied call once."""
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    root, app1, app2 = names
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            for name in names:
                procs.start_writer(name, f"{name}-w1")
            client = Client(config, answers)
            callee = client.create_canister(app1, 1)
            client.install(app1, callee, motoko_wasm("callee"))
            caller = client.create_canister(root, 0)
            client.install(root, caller, motoko_wasm("caller"), encode([PRINCIPAL], [callee]))
            assert _nat(client.update(root, caller, "forward", encode([NAT], [1]))) == 0
            outcomes: list[tuple[int, str, bytes]] = []
            moving = threading.Event()

            def stream() -> None:
                value = 2
                while not moving.is_set():
                    _body, request_id = client.send(root, caller, "forward",
                                                    encode([NAT], [value]))
                    answer = answers.wait(request_id)  # raises if it never comes
                    outcomes.append((value, answer["outcome"], request_id))
                    value += 1

            streamer = threading.Thread(target=stream)
            streamer.start()
            try:
                moved = procs.manage("cluster", "migrate", callee.to_text(), "--to", app2)
            finally:
                moving.set()
                streamer.join(WAIT_S)
            assert not streamer.is_alive()
            assert f"from {app1} to {app2}" in moved
            assert outcomes and {kind for _v, kind, _r in outcomes} <= {"replied", "rejected"}
            # Each replied forward saw the value the previous replied one left.
            last = 1
            for value, kind, request_id in outcomes:
                if kind == "replied":
                    assert _nat(client.reply(request_id, caller)) == last
                    last = value
            after = 10_000
            assert _nat(client.update(root, caller, "forward", encode([NAT], [after]))) == last
        replied = sum(1 for _v, kind, _r in outcomes if kind == "replied")
        assert _query(postgres_url, app2, callee, "call_count") == 1 + replied + 1
        assert _query(postgres_url, app2, callee, "get") == after
    finally:
        answers.close()


def _query(url: str, subnet: str, canister: Principal, method: str) -> int:
    """A query on the subnet's committed state (its writers stopped), read-only."""
    with Replica.open(store=PostgresStateStore(url, subnet)) as replica:
        return _nat(replica.query(canister, method))
