"""Canister events across processes: a subnet writer publishes each committed round's
events to the channels-redis groups that the front ends' canister sockets follow.

The writer adds `publish_round_events` as an event listener of its replica
(``replica.add_event_listener(publish_round_events)``): after each round that committed
events it numbers them and sends each as a ``canister.event`` message to the
channel-layer group of its (canister, topic), exactly as the embedded bridge
(`icframework.channels.events.EventBridge`) does with an out-of-process layer, so a
socket on any front end receives events of canisters on any subnet, in commit order,
only once their round is durable. ``seq`` is counted by the writer of the canister's
subnet (a standby taking over starts again at 1, which sockets read as a new count).

Front ends use the same layer: `channel_layers_setting` is the ``CHANNEL_LAYERS`` value
for ``ICFRAMEWORK_REDIS_URL`` (``runfrontend`` sets it; the embedded default stays the
in-memory layer). The sends run on one event loop of their own (a thread), so the
layer's connection pool lives as long as the process; a round waits for its sends at
most `SEND_TIMEOUT_S`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import Any

from channels_redis.core import RedisChannelLayer

from icframework.channels.events import TopicSequences, event_message, group_name
from icframework.core import Principal
from icframework.replica import CanisterEvent
from icframework.scaleout.config import ClusterConfig

__all__ = [
    "CHANNEL_LAYER_BACKEND",
    "EventPublisher",
    "channel_layers_setting",
    "publish_round_events",
    "redis_channel_layer",
]

CHANNEL_LAYER_BACKEND = "channels_redis.core.RedisChannelLayer"
CHANNEL_CAPACITY = 1000
"""Messages a socket's channel may hold in Redis before the layer drops (then the socket
sees a ``seq`` gap and resyncs)."""
SEND_TIMEOUT_S = 10.0

logger = logging.getLogger(__name__)


def channel_layers_setting(redis_url: str) -> dict[str, Any]:
    """``CHANNEL_LAYERS`` for a front end (and anything that sends events) on Redis."""
    return {"default": {"BACKEND": CHANNEL_LAYER_BACKEND,
                        "CONFIG": {"hosts": [redis_url], "capacity": CHANNEL_CAPACITY}}}


def redis_channel_layer(redis_url: str) -> RedisChannelLayer:
    """A channels-redis layer configured as `channel_layers_setting` configures it."""
    return RedisChannelLayer(hosts=[redis_url], capacity=CHANNEL_CAPACITY)


class EventPublisher:
    """Sends rounds' events to the channels-redis groups from a loop of its own."""

    def __init__(self, redis_url: str) -> None:
        self.layer = redis_channel_layer(redis_url)
        self._sequences = TopicSequences()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="events",
                                        daemon=True)
        self._thread.start()
        self.sent = 0
        self.failed = 0

    def __call__(self, events: Sequence[CanisterEvent]) -> None:
        """Number ``events`` (one committed round's) and send them, in order; returns
        once sent (a failed send is logged and counted, the others still go)."""
        if not events:
            return
        with self._lock:
            messages = [event_message(e, self._sequences.next(e.canister_id, e.topic))
                        for e in events]
        future = asyncio.run_coroutine_threadsafe(self._send(messages), self._loop)
        try:
            future.result(SEND_TIMEOUT_S)
        except TimeoutError:
            logger.error("events of height %d not all sent within %gs (Redis slow or down)",
                         events[0].height, SEND_TIMEOUT_S)

    async def _send(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            group = group_name(Principal.from_text(message["canister_id"]), message["topic"])
            try:
                await self.layer.group_send(group, message)
                self.sent += 1
            except Exception:  # one bad send must not stop the others; the seq gap shows it
                self.failed += 1
                logger.exception("could not send an event to group %s", group)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


_publisher: EventPublisher | None = None
_publisher_lock = threading.Lock()


def publish_round_events(events: Sequence[CanisterEvent]) -> None:
    """The writer's event listener: send a committed round's events to the front ends
    (Redis of ``ICFRAMEWORK_REDIS_URL``; one `EventPublisher` per process)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = EventPublisher(ClusterConfig.from_env().redis_url)
        publisher = _publisher
    publisher(events)
