"""Canister events over WebSockets: replica round → EventBridge → channel layer → socket."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from icframework.candid import TEXT, encode
from icframework.channels.consumers import MAX_FRAME_BYTES, MAX_TOPICS
from icframework.channels.events import EventBridge, bridge, group_name
from icframework.channels.routing import websocket_urlpatterns
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.component import set_runtime_loader
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.subnet import CanisterEvent
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.replica.test_events import install_publisher

__all__ = ["runtime"]

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    yield
    set_runtime_loader(None)


async def _frame(socket: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=10))  # type: ignore[no-any-return]


async def _subscribe(socket: WebsocketCommunicator, *topics: str) -> dict[str, Any]:
    await socket.send_to(text_data=json.dumps({"op": "subscribe", "topics": list(topics)}))
    return await _frame(socket)


def test_subscribers_receive_committed_events_only() -> None:
    with Replica.open() as replica:
        replica.subnet.event_listeners.append(bridge)
        canister = install_publisher(replica)
        other = install_publisher(replica)

        async def scenario() -> None:
            path = f"/ws/canisters/{canister.to_text()}/events"
            alice, bob = WebsocketCommunicator(APP, path), WebsocketCommunicator(APP, path)
            assert (await alice.connect())[0] and (await bob.connect())[0]
            assert await _subscribe(alice, "room:a") == {"op": "subscribed", "topics": ["room:a"]}
            assert (await _subscribe(bob, "room:b", "room:a"))["topics"] == ["room:a", "room:b"]

            def work() -> None:
                replica.update(other, "post", encode((TEXT, TEXT), ("a", "elsewhere")))
                replica.update(canister, "post", encode((TEXT, TEXT), ("a", "hi")))
                for method in ("post_then_trap", "post_then_reject"):
                    with pytest.raises(CanisterError):
                        replica.update(canister, method, encode((TEXT,), ("a",)))
                replica.update(canister, "post", encode((TEXT, TEXT), ("b", "for bob")))

            await asyncio.to_thread(work)
            first = await _frame(alice)
            assert first["op"] == "event" and first["topic"] == "room:a"
            assert first["canister_id"] == canister.to_text()
            assert b"hi" in base64.b64decode(first["value"])
            assert await alice.receive_nothing(timeout=0.3)  # not room:b, not the other canister
            got = [await _frame(bob), await _frame(bob)]
            assert [g["topic"] for g in got] == ["room:a", "room:b"]
            assert got[0]["height"] < got[1]["height"]
            await alice.disconnect()
            await bob.disconnect()

        asyncio.run(scenario())


def test_protocol_errors_are_reported_and_the_socket_stays_usable() -> None:
    canister = Principal.from_canister_index(7)

    async def scenario() -> None:
        socket = WebsocketCommunicator(APP, f"/ws/canisters/{canister.to_text()}/events")
        assert (await socket.connect())[0]
        for frame, expected in [
            ("not json", "not JSON"),
            ("[1]", "JSON object"),
            (json.dumps({"op": "dance"}), "unknown op 'dance'"),
            (json.dumps({"op": "subscribe", "topics": []}), "non-empty list"),
            (json.dumps({"op": "subscribe", "topics": [3]}), "topic 3"),
            (json.dumps({"op": "subscribe", "topics": ["x" * 300]}), "longer than 256"),
            (json.dumps({"op": "subscribe", "topics": [f"t{i}" for i in range(MAX_TOPICS + 1)]}),
             f"at most {MAX_TOPICS}"),
        ]:
            await socket.send_to(text_data=frame)
            reply = await _frame(socket)
            assert reply["op"] == "error" and expected in reply["message"], (frame, reply)
        await socket.send_to(bytes_data=b"\x00")
        assert "JSON text" in (await _frame(socket))["message"]
        assert (await _subscribe(socket, "ok"))["topics"] == ["ok"]
        await socket.send_to(text_data=json.dumps({"op": "unsubscribe", "topics": ["ok", "no"]}))
        assert (await _frame(socket))["topics"] == []
        await socket.send_to(text_data="x" * (MAX_FRAME_BYTES + 1))
        assert (await socket.receive_output(timeout=5))["type"] == "websocket.close"

        bad = WebsocketCommunicator(APP, "/ws/canisters/not-a-principal!/events")
        connected, code = await bad.connect()
        assert not connected and code == 4400

    asyncio.run(scenario())


def test_bridge_without_subscribers_drops_in_memory_events() -> None:
    fresh = EventBridge(get_channel_layer())
    event = CanisterEvent(b"\x01", "t", b"DIDL\x00\x00", 1, 0)
    fresh([event])
    assert (fresh.sent, fresh.dropped) == (0, 1)


def test_group_names_are_valid_and_distinct() -> None:
    a, b = Principal.from_canister_index(1), Principal.from_canister_index(2)
    names = {group_name(a, "x"), group_name(b, "x"), group_name(a, "y"), group_name(a, "é" * 256)}
    assert len(names) == 4
    assert all(len(n) < 100 and n.isascii() for n in names)
