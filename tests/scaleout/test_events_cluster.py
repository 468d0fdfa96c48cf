"""Canister events across processes: what a subnet writer publishes with
`publish_round_events` reaches the channels-redis groups a front end's sockets follow."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest

from icframework.channels.events import event_frame, group_name
from icframework.core import Principal
from icframework.replica import CanisterEvent
from icframework.scaleout.events_bridge import EventPublisher, redis_channel_layer

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
