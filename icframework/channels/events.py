"""The bridge from committed canister events to the Django Channels layer.

How it works: `EventBridge` is a subnet event listener (see
`icframework.replica.subnet.EventListener`). After each round that committed events it
sends every event to the channel-layer group of its (canister, topic) — `group_name` —
as a ``canister.event`` message. Subscribers (`icframework.channels.consumers`) join
those groups. Events therefore reach subscribers only after the round that produced
them is durable, in commit order, and never from a query, a reject or a trap.

The round loop runs in its own thread. With the in-memory channel layer (the embedded
default) the sends must run on the event loop of the server that holds the
subscribers, so consumers register that loop with `attach_loop` when they connect and
the bridge schedules onto it without waiting; until a consumer has connected there is
nobody to deliver to. With an out-of-process layer (Redis) the bridge sends directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Sequence
from typing import Any

from channels.layers import BaseChannelLayer, InMemoryChannelLayer, get_channel_layer

from icframework.core import Principal
from icframework.replica import CanisterEvent

__all__ = ["EVENT_MESSAGE_TYPE", "EventBridge", "bridge", "group_name"]

EVENT_MESSAGE_TYPE = "canister.event"
MAX_TOPIC_BYTES = 256

logger = logging.getLogger(__name__)


def group_name(canister_id: Principal | bytes, topic: str) -> str:
    """The channel-layer group of ``topic`` on ``canister_id`` (ASCII, under 100 chars).

    Topics are free text, so they are hashed; the canister id stays readable.
    """
    raw = canister_id.raw if isinstance(canister_id, Principal) else canister_id
    digest = hashlib.sha256(raw + b"\x00" + topic.encode("utf-8")).hexdigest()[:32]
    return f"ic.events.{Principal(raw).to_text()}.{digest}"


def event_message(event: CanisterEvent) -> dict[str, Any]:
    """The channel-layer message for ``event`` (msgpack-friendly: bytes, str, int)."""
    return {
        "type": EVENT_MESSAGE_TYPE,
        "canister_id": Principal(event.canister_id).to_text(),
        "topic": event.topic,
        "value": event.value,
        "height": event.height,
        "index": event.index,
    }


class EventBridge:
    """Forwards a round's events to the channel layer (a subnet `EventListener`)."""

    def __init__(self, layer: BaseChannelLayer | None = None) -> None:
        self._layer = layer
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0

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

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop`` (the server loop of the subscribers; see the module doc)."""
        with self._lock:
            self._loop = loop

    def __call__(self, events: Sequence[CanisterEvent]) -> None:
        messages = [(group_name(e.canister_id, e.topic), event_message(e)) for e in events]
        layer = self.layer
        with self._lock:
            loop = self._loop
        if loop is not None and not loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._send(layer, messages), loop)
        elif isinstance(layer, InMemoryChannelLayer):
            self.dropped += len(messages)  # no subscriber has ever connected here
        else:
            asyncio.run(self._send(layer, messages))

    async def _send(
        self, layer: BaseChannelLayer, messages: list[tuple[str, dict[str, Any]]]
    ) -> None:
        for group, message in messages:
            try:
                await layer.group_send(group, message)
                self.sent += 1
            except Exception:  # one bad send must not stop the others
                self.dropped += 1
                logger.exception("could not send an event to group %s", group)


bridge = EventBridge()
"""The process-wide bridge `manage.py runreplica` installs on its subnet."""
