"""Canister events across processes: what a subnet writer publishes with
`publish_round_events` reaches the channels-redis groups a front end's sockets follow."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from websockets.sync.client import connect

from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.agent.socket import socket_url
from icframework.candid import NAT, TEXT, decode, encode
from icframework.channels.events import event_frame, group_name
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica import CanisterEvent, pack_python_module, subnet_range
from icframework.scaleout import ClusterConfig
from icframework.scaleout.events_bridge import EventPublisher, redis_channel_layer
from icframework.sdk import load_canister, service_did
from tests.compiler.runtime_support import runtime
from tests.scaleout.cluster_support import WAIT_S, ClusterProcesses, free_port, unique_names

__all__ = ["runtime"]

pytest_plugins = ["tests.services"]

CANISTER = Principal.from_canister_index(0x8000000000200001)


@pytest.mark.services
def test_published_round_events_reach_a_front_ends_group_in_order(redis_url: str) -> None:
    """Two rounds' events, sent by the writer's publisher, arrive at a channel of another
    layer instance (as in a front end) in commit order with seq 1, 2, 3 per topic, and
    make the same socket frames as the embedded bridge."""
    topic = f"news-{uuid.uuid4().hex[:8]}"
    other = f"other-{uuid.uuid4().hex[:8]}"
    publisher = EventPublisher(redis_url)

    async def follow_and_receive() -> list[dict[str, object]]:
        layer = redis_channel_layer(redis_url)  # the front end's side
        channel = await layer.new_channel()
        await layer.group_add(group_name(CANISTER, topic), channel)
        rounds = [
            [CanisterEvent(CANISTER.raw, topic, b"a", 7, 0),
             CanisterEvent(CANISTER.raw, other, b"x", 7, 1)],
            [CanisterEvent(CANISTER.raw, topic, b"b", 8, 0),
             CanisterEvent(CANISTER.raw, topic, b"c", 8, 1)],
        ]
        for events in rounds:
            await asyncio.to_thread(publisher, events)
        received = [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(3)]
        await layer.group_discard(group_name(CANISTER, topic), channel)
        return received

    try:
        received = asyncio.run(follow_and_receive())
    finally:
        publisher.close()
    assert [(m["value"], m["seq"], m["height"]) for m in received] == \
        [(b"a", 1, 7), (b"b", 2, 8), (b"c", 3, 8)]
    assert publisher.sent == 4 and publisher.failed == 0
    frame = event_frame(received[0])
    assert frame.key == group_name(CANISTER, topic)
    assert json.loads(frame.text) == {
        "op": "event", "canister_id": CANISTER.to_text(), "topic": topic,
        "value": base64.b64encode(b"a").decode(), "height": 7, "index": 0, "seq": 1,
    }


SOURCE = Path(__file__).resolve().parents[1] / "channels" / "publisher_canister.py"


def test_a_socket_on_front_end_b_gets_events_of_a_canister_updated_through_a(
        runtime: object, postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    """A Python canister on the app subnet publishes in an update called through front
    end A; a canister socket on front end B, subscribed to the topic, gets the event."""
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(2)
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        for name in names:
            procs.start_writer(name, f"{name}-w1")
        urls = []
        for tag in "ab":
            port = free_port()
            procs.spawn(["runfrontend", "--port", str(port)], f"frontend-{tag}").wait_for(
                "icframework front end running")
            urls.append(f"http://127.0.0.1:{port}")
        identity = Ed25519Identity.generate()
        with Agent(urls[0], identity, fetch_root_key=True) as agent_a:
            management = ManagementCanister(agent_a)
            canister = management.provisional_create_canister_with_cycles(
                effective_canister_id=Principal.from_canister_index(subnet_range(1).first))
            did = service_did(load_canister("tests.channels.publisher_canister"))
            management.install_code(canister, pack_python_module(
                {"publisher.py": SOURCE.read_text()}, "publisher.py", did=did))
            with Agent(urls[1], identity, fetch_root_key=True) as agent_b:
                # B's copy has the module within its staleness bound.
                deadline = time.monotonic() + WAIT_S
                while True:
                    try:
                        agent_b.query(canister, "can_subscribe", encode((TEXT,), ("room:x",)))
                        break
                    except RejectError:
                        assert time.monotonic() < deadline, "B never saw the module"
                        time.sleep(0.02)
            with connect(socket_url(urls[1], canister)) as socket_b:
                assert json.loads(socket_b.recv(timeout=WAIT_S))["op"] == "hello"
                socket_b.send(json.dumps({"op": "subscribe", "topics": ["room:x"]}))
                subscribed = json.loads(socket_b.recv(timeout=WAIT_S))
                assert subscribed == {"op": "subscribed", "topics": ["room:x"]}, subscribed
                agent_a.update(canister, "post_many", encode((TEXT, NAT), ("x", 2)))
                frames = [json.loads(socket_b.recv(timeout=WAIT_S)) for _ in range(2)]
    assert [(f["op"], f["topic"], f["seq"]) for f in frames] == \
        [("event", "room:x", 1), ("event", "room:x", 2)]
    assert [decode(base64.b64decode(f["value"]), (TEXT,))[0] for f in frames] == \
        ["message 0", "message 1"]
