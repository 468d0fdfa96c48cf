"""The WebSocket consumer of canister events: ``/ws/canisters/<canister_id>/events``.

A thin adapter: it validates JSON frames, joins and leaves the channel-layer groups of
`icframework.channels.events`, and forwards ``canister.event`` messages to the socket.
Frames (JSON text; the full protocol is in docs/events.md):

* client → ``{"op": "subscribe", "topics": ["room:1", ...]}`` and ``"unsubscribe"``;
* server → ``{"op": "subscribed", "topics": [...]}``, ``{"op": "event", "canister_id",
  "topic", "value" (base64 Candid), "height", "index"}`` and ``{"op": "error",
  "message"}`` (the socket stays open after an error, except for oversized frames).

Events are public, like an unauthenticated query: anyone who can reach the replica can
subscribe to any topic of any canister, so canisters must not publish secrets.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer

from icframework.channels.events import MAX_TOPIC_BYTES, bridge, group_name
from icframework.core import Principal, PrincipalError

__all__ = ["MAX_FRAME_BYTES", "MAX_TOPICS", "CanisterEventsConsumer"]

MAX_TOPICS = 64
MAX_FRAME_BYTES = 16 * 1024
CLOSE_TOO_BIG = 1009
CLOSE_BAD_CANISTER = 4400


class CanisterEventsConsumer(AsyncWebsocketConsumer):
    """One subscriber socket for one canister's events."""

    canister: Principal
    topics: set[str]

    async def connect(self) -> None:
        text = self.scope["url_route"]["kwargs"]["canister_id"]
        try:
            self.canister = Principal.from_text(text)
        except PrincipalError:
            await self.close(code=CLOSE_BAD_CANISTER)
            return
        self.topics = set()
        bridge.attach_loop(asyncio.get_running_loop())
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for topic in list(getattr(self, "topics", ())):
            await self.channel_layer.group_discard(group_name(self.canister, topic),
                                                   self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        size = len(text_data.encode("utf-8")) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if text_data is None:
            await self._error("frames must be JSON text, not binary")
            return
        try:
            frame = json.loads(text_data)
        except json.JSONDecodeError as exc:
            await self._error(f"the frame is not JSON: {exc.msg} at position {exc.pos}")
            return
        if not isinstance(frame, dict):
            await self._error("a frame must be a JSON object with an \"op\"")
            return
        op = frame.get("op")
        if op not in ("subscribe", "unsubscribe"):
            await self._error(f"unknown op {op!r}; expected \"subscribe\" or \"unsubscribe\"")
            return
        topics = frame.get("topics")
        problem = _check_topics(topics)
        if problem:
            await self._error(problem)
            return
        assert isinstance(topics, list)
        if op == "subscribe":
            new = [t for t in dict.fromkeys(topics) if t not in self.topics]
            if len(self.topics) + len(new) > MAX_TOPICS:
                await self._error(f"at most {MAX_TOPICS} topics per connection")
                return
            for topic in new:
                await self.channel_layer.group_add(group_name(self.canister, topic),
                                                   self.channel_name)
                self.topics.add(topic)
            await self._send({"op": "subscribed", "topics": sorted(self.topics)})
        else:
            for topic in topics:
                if topic in self.topics:
                    self.topics.discard(topic)
                    await self.channel_layer.group_discard(group_name(self.canister, topic),
                                                           self.channel_name)
            await self._send({"op": "subscribed", "topics": sorted(self.topics)})

    async def canister_event(self, message: dict[str, Any]) -> None:
        """A ``canister.event`` from the bridge: forward it if still subscribed."""
        if message["topic"] not in self.topics or message["canister_id"] != self.canister.to_text():
            return
        await self._send({
            "op": "event",
            "canister_id": message["canister_id"],
            "topic": message["topic"],
            "value": base64.b64encode(message["value"]).decode("ascii"),
            "height": message["height"],
            "index": message["index"],
        })

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _error(self, message: str) -> None:
        await self._send({"op": "error", "message": message})


def _check_topics(topics: object) -> str | None:
    if not isinstance(topics, list) or not topics:
        return "\"topics\" must be a non-empty list of strings"
    for topic in topics:
        if not isinstance(topic, str) or not topic:
            return f"topic {topic!r} is not a non-empty string"
        if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
            return f"topic {topic[:40]!r}... is longer than {MAX_TOPIC_BYTES} bytes"
    return None
