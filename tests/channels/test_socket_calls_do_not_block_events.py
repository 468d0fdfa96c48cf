"""A socket waiting for its own call's answer still delivers its events: the consumer
answers call and query frames in background tasks (a v3 call waits for its round)."""

from __future__ import annotations

import asyncio
import base64
import threading
import time

from icframework.candid import TEXT, encode
from icframework.channels.events import bridge
from icframework.core import Principal
from icframework.protocol import CallContent, sign_envelope
from icframework.replica import CanisterEvent
from icframework.replica.service import ReplicaService
from tests.channels.test_events_socket import (
    ALICE,
    _frame,
    _open,
    _send,
    canister,
    python_runtime,
    runtime,
    service,
)

__all__ = ["canister", "python_runtime", "runtime", "service"]


def test_events_arrive_while_the_sockets_call_waits(
    service: ReplicaService, canister: Principal
) -> None:
    content = CallContent(canister, "post", encode((TEXT, TEXT), ("x", "my post")),
                          ALICE.principal, time.time_ns() + 60_000_000_000)
    envelope = base64.b64encode(sign_envelope(content, ALICE).to_cbor()).decode()
    held, release = threading.Event(), threading.Event()

    def hold_the_replica() -> None:
        service.run(lambda _replica: (held.set(), release.wait(30)))

    async def scenario() -> None:
        socket, _ = await _open(canister)
        await _send(socket, op="subscribe", topics=["room:x"])
        await _frame(socket)
        holder = threading.Thread(target=hold_the_replica)
        holder.start()
        await asyncio.to_thread(held.wait, 10)
        try:
            await _send(socket, op="call", id="c1", envelope=envelope)  # blocked on the replica
            # an event handed to the bridge as the round loop hands it (the replica is held)
            bridge([CanisterEvent(canister.raw, "room:x", b"someone else's event", 1, 0)])
            first = await _frame(socket)
            assert first["op"] == "event", first
            assert base64.b64decode(first["value"]) == b"someone else's event"
        finally:
            release.set()
            await asyncio.to_thread(holder.join, 10)
        frames = [await _frame(socket), await _frame(socket)]
        assert sorted(f["op"] for f in frames) == ["event", "response"]
        assert next(f for f in frames if f["op"] == "response")["status"] == 200
        await socket.disconnect()

    asyncio.run(scenario())
