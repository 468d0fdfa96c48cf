"""Events under load: a reading client gets every event of its topics, in order and
numbered; a client that stops reading is told to resync and closed, and nobody else
notices. Real replica service, bridge and consumer; the client side is Channels'
`WebsocketCommunicator` behind `FlowControlled`, a transport with a bounded window as a
TCP connection has (the server's write waits while the client has not read)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from icframework.candid import NAT, TEXT, decode, encode
from icframework.channels import consumers
from icframework.channels.delivery import CLOSE_RESYNC, EventFrame, Outbox
from icframework.channels.events import EventBridge, bridge
from icframework.core import Principal
from icframework.replica import CanisterEvent
from icframework.replica.service import ReplicaService
from tests.channels.test_events_socket import (
    APP,
    _update,
    canister,
    python_runtime,
    runtime,
    service,
)

__all__ = ["canister", "python_runtime", "runtime", "service"]

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]],
                    Callable[[dict[str, Any]], Awaitable[None]]], Awaitable[None]]


class FlowControlled:
    """``app`` behind a transport that holds at most ``window`` frames the client has not
    read: a further ``websocket.send`` waits until `read` makes room."""

    def __init__(self, app: ASGIApp, window: int) -> None:
        self.app = app
        self.window = window
        self.room: asyncio.Semaphore | None = None

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.room = asyncio.Semaphore(self.window)
        room = self.room

        async def flow_controlled(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                await room.acquire()
            await send(message)

        await self.app(scope, receive, flow_controlled)

    def read(self) -> None:
        assert self.room is not None
        self.room.release()


async def _connect(app: Any, canister: Principal, *topics: str) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(app, f"/ws/canisters/{canister.to_text()}/events")
    connected, _ = await socket.connect()
    assert connected
    return socket


async def _read(socket: WebsocketCommunicator, transport: FlowControlled | None = None
                ) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await socket.receive_from(timeout=20))
    if transport is not None:
        transport.read()
    return frame


async def _subscribe(socket: WebsocketCommunicator, transport: FlowControlled | None,
                     *topics: str) -> None:
    assert (await _read(socket, transport))["op"] == "hello"
    await socket.send_to(text_data=json.dumps({"op": "subscribe", "topics": list(topics)}))
    assert (await _read(socket, transport))["topics"] == sorted(topics)


def _burst(service: ReplicaService, canister: Principal, room: str, count: int) -> None:
    """``count`` events on ``room:<room>``, all committed in one round."""
    _update(service, canister, "post_many", encode((TEXT, NAT), (room, count)))


def _text(frame: dict[str, Any]) -> str:
    (text,) = decode(base64.b64decode(frame["value"]), (TEXT,))
    return str(text)


def test_a_slow_reader_gets_every_event_in_order(
    service: ReplicaService, canister: Principal
) -> None:
    """Three rounds of 300 events each: the in-memory channel layer held 100 messages
    per socket and dropped the rest without a word."""
    transport = FlowControlled(APP, window=4)

    async def scenario() -> None:
        socket = await _connect(transport, canister)
        await _subscribe(socket, transport, "room:a")
        for _ in range(3):
            await asyncio.to_thread(_burst, service, canister, "a", 300)
        frames = []
        for _ in range(900):
            frames.append(await _read(socket, transport))
            if len(frames) % 50 == 0:
                await asyncio.sleep(0.01)  # a slow reader
        assert [f["op"] for f in frames] == ["event"] * 900
        assert [_text(f) for f in frames] == [f"message {i}" for i in range(300)] * 3
        first = frames[0]["seq"]
        assert [f["seq"] for f in frames] == list(range(first, first + 900))
        heights = [f["height"] for f in frames]
        assert heights == sorted(heights) and len(set(heights)) == 3
        assert [f["index"] for f in frames] == list(range(300)) * 3
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()

    asyncio.run(scenario())


def test_a_client_that_stops_reading_is_closed_with_a_resync_hint(
    service: ReplicaService, canister: Principal
) -> None:
    stalled = FlowControlled(APP, window=5)
    buffer = 50

    async def scenario() -> None:
        reader = await _connect(APP, canister)  # the default buffer (1000 events)
        await _subscribe(reader, None, "room:a", "room:b")
        with override_settings(ICFRAMEWORK={"SOCKET_EVENT_BUFFER": buffer}):
            slow = await _connect(stalled, canister)
        await _subscribe(slow, stalled, "room:a", "room:b")
        await asyncio.to_thread(_burst, service, canister, "b", 1)
        # 31 events: 5 in the transport, 1 being written, 25 in the stalled outbox
        await asyncio.to_thread(_burst, service, canister, "a", 30)
        got = [await _read(reader) for _ in range(31)]
        assert 0 < bridge.local.buffered() <= buffer
        await asyncio.to_thread(_burst, service, canister, "a", 300)  # past the buffer
        got += [await _read(reader) for _ in range(300)]
        assert [(f["topic"], _text(f)) for f in got] == (
            [("room:b", "message 0")] + [("room:a", f"message {i}") for i in range(30)]
            + [("room:a", f"message {i}") for i in range(300)])
        a_seqs = [f["seq"] for f in got if f["topic"] == "room:a"]
        assert a_seqs == list(range(a_seqs[0], a_seqs[0] + 330))
        assert bridge.local.buffered() == 0  # the stalled socket's outbox was emptied

        # The client reads again: what the transport held, then why it was cut off.
        frames = []
        while (frame := await _read(slow, stalled))["op"] == "event":
            frames.append(frame)
        assert [(f["topic"], _text(f)) for f in frames] == (
            [("room:b", "message 0")] + [("room:a", f"message {i}") for i in range(5)])
        b_seq = next(f["seq"] for f in got if f["topic"] == "room:b")
        last_a = [f for f in frames if f["topic"] == "room:a"][-1]
        assert frame == {
            "op": "resync",
            "reason": f"this socket fell {buffer} events behind (the client reads more "
                      "slowly than its topics publish)",
            "last": {"room:a": {"seq": last_a["seq"], "height": last_a["height"]},
                     "room:b": {"seq": b_seq, "height": got[0]["height"]}},
        }
        closed = await slow.receive_output(timeout=5)
        assert closed == {"type": "websocket.close", "code": CLOSE_RESYNC,
                          "reason": "resync: events were missed"}

        await asyncio.to_thread(_burst, service, canister, "a", 2)  # the reader goes on
        assert [_text(await _read(reader)) for _ in range(2)] == ["message 0", "message 1"]
        await reader.disconnect()

    asyncio.run(scenario())


def test_sequence_numbers_count_each_topic_without_gaps(
    service: ReplicaService, canister: Principal
) -> None:
    async def scenario() -> None:
        early = await _connect(APP, canister)
        await _subscribe(early, None, "room:x", "room:y")
        for room, count in (("x", 2), ("y", 3), ("x", 1)):
            await asyncio.to_thread(_burst, service, canister, room, count)
        got = [await _read(early) for _ in range(6)]
        seqs: dict[str, list[int]] = {}
        for frame in got:
            seqs.setdefault(frame["topic"], []).append(frame["seq"])
        x0, y0 = seqs["room:x"][0], seqs["room:y"][0]
        assert seqs == {"room:x": [x0, x0 + 1, x0 + 2], "room:y": [y0, y0 + 1, y0 + 2]}

        late = await _connect(APP, canister)  # a later subscriber continues the count
        await _subscribe(late, None, "room:x")
        await asyncio.to_thread(_burst, service, canister, "x", 1)
        assert (await _read(late))["seq"] == (await _read(early))["seq"] == x0 + 3
        await early.disconnect()
        await late.disconnect()

    asyncio.run(scenario())


def test_an_outbox_refuses_a_gap_and_a_full_buffer() -> None:
    """What a socket on an out-of-process channel layer does when the layer lost
    messages (a ``seq`` is missing), and when the client fell behind."""

    def frame(topic: str, seq: int) -> EventFrame:
        return EventFrame(f"key-{topic}", topic, seq, 10 + seq, f"{topic}:{seq}")

    async def scenario() -> None:
        outbox = Outbox(3)
        assert outbox.offer(frame("t", 7)) and outbox.offer(frame("t", 8))
        assert outbox.offer(frame("u", 1))  # a topic's first frame may start anywhere
        assert not outbox.offer(frame("u", 2))  # full
        assert outbox.failure == ("this socket fell 3 events behind (the client reads "
                                  "more slowly than its topics publish)")
        assert len(outbox) == 0

        outbox = Outbox(10)
        sent: list[str] = []

        async def send(text: str) -> None:
            sent.append(text)

        writer = asyncio.create_task(outbox.run(send))
        assert outbox.offer(frame("t", 1)) and outbox.offer(frame("t", 2))
        await asyncio.sleep(0)
        assert outbox.offer(frame("t", 1))  # a new count (the bridge restarted it)
        while len(sent) < 3:
            await asyncio.sleep(0)
        assert not outbox.offer(frame("t", 4))
        resync = await writer
        assert resync.reason == ("events 2 to 3 of topic 't' were lost on the way to this "
                                 "server (the channel layer dropped them)")
        assert sent == ["t:1", "t:2", "t:1"] and resync.last == {"t": (1, 11)}

        with pytest.raises(ValueError, match="SOCKET_EVENT_BUFFER"):
            Outbox(0)

    asyncio.run(scenario())


def test_the_bridge_numbers_events_with_nobody_subscribed() -> None:
    fresh = EventBridge()
    event = CanisterEvent(b"\x01", "t", b"DIDL\x00\x00", 1, 0)
    fresh([event, event])
    fresh([CanisterEvent(b"\x01", "u", b"", 2, 0), CanisterEvent(b"\x02", "t", b"", 2, 1)])
    assert fresh.sent == 4 and fresh.local.buffered() == 0
    assert fresh._sequences.next(b"\x01", "t") == 3
    assert fresh._sequences.next(b"\x02", "t") == 2


def test_a_bad_buffer_setting_names_itself(
    service: ReplicaService, canister: Principal
) -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(APP, f"/ws/canisters/{canister.to_text()}/events")
        with pytest.raises(consumers.ConfigurationError, match=(
                r"ICFRAMEWORK\['SOCKET_EVENT_BUFFER'\] must be a positive number of "
                r"events, not 'many'")):
            await socket.connect()

    with override_settings(ICFRAMEWORK={"SOCKET_EVENT_BUFFER": "many"}):
        asyncio.run(scenario())
