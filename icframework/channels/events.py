"""The bridge from committed canister events to the sockets that follow them.

How it works: `EventBridge` is a replica event listener
(`icframework.replica.Replica.add_event_listener`). After each round that committed
events it numbers every event within its (canister, topic) — ``seq`` 1, 2, 3... in commit order,
so a client can tell whether it missed one — and hands it on:

* with the in-memory channel layer (the embedded default: one process holds the replica
  and every socket) to `LocalFanout`, which appends the event's frame, serialised once,
  to the bounded outbox of every socket of that topic (`icframework.channels.delivery`).
  The channel layer and its per-channel capacity are not on this path;
* with an out-of-process layer (channels-redis, several server processes) as a
  ``canister.event`` message to the channel-layer group of its (canister, topic),
  `group_name`; each socket's consumer puts it in its outbox, which closes the socket
  with a resync hint when a ``seq`` is missing (the layer dropped a message).

Events therefore reach subscribers only after the round that produced them is durable,
in commit order, and never from a query, a reject or a trap.

Sequence numbers live in this process, counted from its start (a restart begins again at
1), for the most recent `MAX_SEQUENCED_TOPICS` topics; a topic silent while that many
others published starts again at 1 too. A ``seq`` of 1 therefore means "a new count",
never a gap.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from icframework.channels.delivery import EventFrame, LocalFanout
from icframework.core import Principal
from icframework.replica import CanisterEvent

__all__ = ["EVENT_MESSAGE_TYPE", "MAX_SEQUENCED_TOPICS", "EventBridge", "bridge",
           "event_frame", "group_name"]

EVENT_MESSAGE_TYPE = "canister.event"
MAX_TOPIC_BYTES = 256
MAX_SEQUENCED_TOPICS = 100_000

logger = logging.getLogger(__name__)


def group_name(canister_id: Principal | bytes, topic: str) -> str:
    """The channel-layer group of ``topic`` on ``canister_id`` (ASCII, under 100 chars).

    Topics are free text, so they are hashed; the canister id stays readable.
    """
    raw = canister_id.raw if isinstance(canister_id, Principal) else canister_id
    digest = hashlib.sha256(raw + b"\x00" + topic.encode("utf-8")).hexdigest()[:32]
    return f"ic.events.{Principal(raw).to_text()}.{digest}"


def event_message(event: CanisterEvent, seq: int) -> dict[str, Any]:
    """The channel-layer message for ``event`` (msgpack-friendly: bytes, str, int)."""
    return {
        "type": EVENT_MESSAGE_TYPE,
        "canister_id": Principal(event.canister_id).to_text(),
        "topic": event.topic,
        "value": event.value,
        "height": event.height,
        "index": event.index,
        "seq": seq,
    }


def event_frame(message: dict[str, Any]) -> EventFrame:
    """The socket frame of a ``canister.event`` message (docs/events.md, "Events")."""
    text = json.dumps({
        "op": "event",
        "canister_id": message["canister_id"],
        "topic": message["topic"],
        "value": base64.b64encode(message["value"]).decode("ascii"),
        "height": message["height"],
        "index": message["index"],
        "seq": message["seq"],
    }, separators=(",", ":"))
    return EventFrame(group_name(Principal.from_text(message["canister_id"]), message["topic"]),
                      message["topic"], message["seq"], message["height"], text)


class TopicSequences:
    """The last ``seq`` of each (canister, topic), for the most recent ``capacity``."""

    def __init__(self, capacity: int = MAX_SEQUENCED_TOPICS) -> None:
        self.capacity = capacity
        self._last: OrderedDict[tuple[bytes, str], int] = OrderedDict()

    def next(self, canister_id: bytes, topic: str) -> int:
        key = (canister_id, topic)
        seq = self._last.pop(key, 0) + 1
        self._last[key] = seq
        if len(self._last) > self.capacity:
            self._last.popitem(last=False)
        return seq


class EventBridge:
    """Numbers a round's events and hands them to the sockets (a subnet `EventListener`)."""

    def __init__(self, layer: BaseChannelLayer | None = None) -> None:
        self._layer = layer
        self._sequences = TopicSequences()
        self._lock = threading.Lock()
        self.local = LocalFanout()
        self.sent = 0
        self.failed = 0

    @property
    def layer(self) -> BaseChannelLayer:
        if self._layer is None:
            layer = get_channel_layer()
            if layer is None:
                raise RuntimeError(
                    "no channel layer is configured; set CHANNEL_LAYERS in the settings"
                )
            self._layer = layer
        return self._layer

    @property
    def in_process(self) -> bool:
        """True when sockets follow topics through `local` (in-memory channel layer)."""
        return isinstance(self.layer, InMemoryChannelLayer)

    def __call__(self, events: Sequence[CanisterEvent]) -> None:
        with self._lock:  # rounds commit one at a time, but keep numbering atomic anyway
            messages = [event_message(e, self._sequences.next(e.canister_id, e.topic))
                        for e in events]
        if self.in_process:
            self.local.publish([event_frame(m) for m in messages])
            self.sent += len(messages)
        else:
            asyncio.run(self._send(self.layer, messages))

    async def _send(self, layer: BaseChannelLayer, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            group = group_name(Principal.from_text(message["canister_id"]), message["topic"])
            try:
                await layer.group_send(group, message)
                self.sent += 1
            except Exception:  # one bad send must not stop the others; the seq gap shows it
                self.failed += 1
                logger.exception("could not send an event to group %s", group)


bridge = EventBridge()
"""The process-wide bridge `manage.py runreplica` installs on its subnet."""
