"""The dashboard socket: ``/ws/dashboard`` sends the replica's live figures every second.

A thin adapter around `icframework.dashboard.overview.live`: on connect, and then every
`INTERVAL_SECONDS`, it sends one JSON text frame ``{"type": "live", ...}`` with the
metrics (totals, per-canister counters, recent calls, traps), every canister's row and
each subnet's facts (height, its age, lag behind the writer, lease): one subnet for the
embedded replica, every subnet of the cluster on a scale-out front end (read from its
copies, so each subnet's figures move as its copy refreshes); the page turns successive
frames into rates and charts. The socket
only sends; a frame from the client closes it. A page of another site (a foreign
``Origin``) is refused, as are connections to a process that serves no replica
(close code `CLOSE_NO_REPLICA`): the figures name the replica's canisters and callers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from icframework.channels.consumers import foreign_origin
from icframework.dashboard import overview
from icframework.dashboard.subnets import subnet_sources

__all__ = ["CLOSE_FOREIGN_ORIGIN", "CLOSE_NO_REPLICA", "INTERVAL_SECONDS",
           "DashboardConsumer", "live_frame"]

INTERVAL_SECONDS = 1.0
CLOSE_NO_REPLICA = 4004
CLOSE_FOREIGN_ORIGIN = 4003
CLOSE_NOT_LISTENING = 4000


def live_frame() -> dict[str, Any] | None:
    """The next frame's content, or None when this process serves no replica."""
    sources = subnet_sources()
    if not sources:
        return None
    frame = overview.live(sources, overview.canister_names())
    frame["type"] = "live"
    return frame


class DashboardConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Sends `live_frame` every `INTERVAL_SECONDS` while the socket is open."""

    _task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        if foreign_origin(self.scope.get("headers", ())) is not None:
            await self.close(code=CLOSE_FOREIGN_ORIGIN)
            return
        if not await sync_to_async(subnet_sources, thread_sensitive=False)():
            await self.close(code=CLOSE_NO_REPLICA)
            return
        await self.accept()
        self._task = asyncio.create_task(self._feed())

    async def _feed(self) -> None:
        while True:
            frame = await sync_to_async(live_frame, thread_sensitive=False)()
            if frame is None:
                await self.close(code=CLOSE_NO_REPLICA)
                return
            await self.send(text_data=json.dumps(frame))
            await asyncio.sleep(INTERVAL_SECONDS)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.close(code=CLOSE_NOT_LISTENING)

    async def disconnect(self, code: int) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
