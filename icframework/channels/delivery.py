"""Per-socket event delivery: each socket's bounded outbox, and the in-process fan-out.

How it works: every canister socket owns an `Outbox`, a queue of at most
``ICFRAMEWORK["SOCKET_EVENT_BUFFER"]`` event frames and one task (`Outbox.run`) that
writes them to the socket in order. The task awaits each write, so a client that reads
slowly holds the task back (the server's transport stops accepting data once its write
buffer is full) and frames wait in the outbox; that is the back-pressure. Events come
from committed rounds and are never held back for one socket, so a client that falls
a whole buffer behind is not kept up with: its outbox is emptied at once (memory stays
bounded), and once the write in flight completes the socket gets a final ``resync``
frame naming the reason and, per topic, the last ``seq`` and ``height`` handed to it,
and is closed with `CLOSE_RESYNC`. The client then reads what it missed through a query
and subscribes again. Nothing is skipped silently: an outbox also refuses a frame whose
per-topic ``seq`` is not the one after the last it took (a channel layer that lost
messages) the same way.

`LocalFanout` is the in-process path of the embedded default (in-memory channel layer,
one process): the bridge hands it each round's frames, built once for all sockets, and
it appends them to the outboxes of the topic's sockets on each socket's event loop, one
loop callback per round. No channel-layer capacity applies on this path, so a reading
client loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

__all__ = ["CLOSE_RESYNC", "EventFrame", "LocalFanout", "Outbox", "Resync"]

CLOSE_RESYNC = 4410
"""Close code of a socket that missed events: read them by query, then subscribe again."""

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventFrame:
    """One event as a socket sends it: ``text`` is the JSON ``event`` frame.

    ``key`` is the (canister, topic) group name; ``seq`` counts the topic's events
    (1, 2, 3...); ``height`` is the round that committed the event.
    """

    key: str
    topic: str
    seq: int
    height: int
    text: str


@dataclass(frozen=True, slots=True)
class Resync:
    """Why a socket stops receiving events, and where each topic stood: topic → (last
    ``seq``, its ``height``) handed to the socket, absent for a topic with none yet."""

    reason: str
    last: dict[str, tuple[int, int]]

    def frame(self) -> dict[str, object]:
        """The final ``resync`` frame (docs/events.md)."""
        return {
            "op": "resync",
            "reason": self.reason,
            "last": {topic: {"seq": seq, "height": height}
                     for topic, (seq, height) in sorted(self.last.items())},
        }


class Outbox:
    """A socket's bounded queue of event frames, written in order by `run`.

    Create it on the socket's event loop; `offer` and `forget` must run on that loop.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"an outbox holds at least one frame, not {capacity}; "
                             "set ICFRAMEWORK['SOCKET_EVENT_BUFFER'] to a positive count")
        self.capacity = capacity
        self.loop = asyncio.get_running_loop()
        self._frames: deque[EventFrame] = deque()
        self._wake = asyncio.Event()
        self._taken: dict[str, int] = {}  # topic -> seq of the last frame taken
        self._sent: dict[str, tuple[int, int]] = {}  # topic -> (seq, height) last written
        self.failure: str | None = None

    def __len__(self) -> int:
        return len(self._frames)

    def offer(self, frame: EventFrame) -> bool:
        """Queue ``frame``; False (and the outbox fails) when it is full or ``frame`` is
        not the topic's next ``seq``; False without more ado once it has failed."""
        if self.failure is not None:
            return False
        previous = self._taken.get(frame.topic)
        if previous is not None and frame.seq != previous + 1 and frame.seq != 1:
            self.fail(f"events {previous + 1} to {frame.seq - 1} of topic {frame.topic!r} "
                      "were lost on the way to this server (the channel layer dropped them)")
            return False
        if len(self._frames) >= self.capacity:
            self.fail(f"this socket fell {self.capacity} events behind (the client reads "
                      "more slowly than its topics publish)")
            return False
        self._taken[frame.topic] = frame.seq
        self._frames.append(frame)
        self._wake.set()
        return True

    def fail(self, reason: str) -> None:
        """Stop taking frames, drop the queued ones and let `run` end with ``reason``."""
        if self.failure is None:
            self.failure = reason
            self._frames.clear()
            self._wake.set()

    def forget(self, topic: str) -> None:
        """``topic`` was unsubscribed: its next frame, if subscribed again, starts afresh."""
        self._taken.pop(topic, None)
        self._sent.pop(topic, None)
        self._frames = deque(f for f in self._frames if f.topic != topic)

    async def run(self, send: Callable[[str], Awaitable[None]]) -> Resync:
        """Write frames with ``send`` until the outbox fails; returns why, with the last
        ``seq``/``height`` written per topic. Cancel it when the socket closes."""
        while True:
            while not self._frames and self.failure is None:
                self._wake.clear()
                await self._wake.wait()
            if self.failure is not None:
                return Resync(self.failure, dict(self._sent))
            frame = self._frames.popleft()
            await send(frame.text)
            self._sent[frame.topic] = (frame.seq, frame.height)


class LocalFanout:
    """Which outboxes follow which (canister, topic) key in this process; thread-safe.

    `publish` may run on any thread (the replica's round loop); outboxes receive frames
    on their own event loops.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._followers: dict[str, set[Outbox]] = {}
        self._loops: dict[asyncio.AbstractEventLoop, int] = {}
        self.offered = 0
        self.refused = 0

    def add(self, key: str, outbox: Outbox) -> None:
        with self._lock:
            followers = self._followers.setdefault(key, set())
            if outbox not in followers:
                followers.add(outbox)
                self._loops[outbox.loop] = self._loops.get(outbox.loop, 0) + 1

    def discard(self, key: str, outbox: Outbox) -> None:
        with self._lock:
            followers = self._followers.get(key)
            if followers is None or outbox not in followers:
                return
            followers.discard(outbox)
            if not followers:
                del self._followers[key]
            left = self._loops[outbox.loop] - 1
            if left:
                self._loops[outbox.loop] = left
            else:
                del self._loops[outbox.loop]

    def buffered(self) -> int:
        """Frames waiting in every outbox of this process (they share the frames' text)."""
        with self._lock:
            outboxes = {o for followers in self._followers.values() for o in followers}
        return sum(len(o) for o in outboxes)

    def publish(self, frames: Iterable[EventFrame]) -> None:
        """Hand a round's ``frames`` (in commit order) to the outboxes that follow them."""
        batch = list(frames)
        with self._lock:
            loops = list(self._loops)
        for loop in loops:
            try:
                loop.call_soon_threadsafe(self._deliver, loop, batch)
            except RuntimeError:  # the loop closed since; its sockets are gone
                continue

    def _deliver(self, loop: asyncio.AbstractEventLoop, frames: list[EventFrame]) -> None:
        for frame in frames:
            with self._lock:
                outboxes = [o for o in self._followers.get(frame.key, ()) if o.loop is loop]
            for outbox in outboxes:
                if outbox.offer(frame):
                    self.offered += 1
                else:
                    self.refused += 1
