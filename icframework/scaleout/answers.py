"""Call answers for a front end: one Redis subscriber per process, resolving the waiting
calls by request id.

A subnet's writer publishes every answered call on ``icframework:answers:<subnet>``
after the round that answered it committed (JSON: ``request_id`` hex, ``height``,
``outcome`` replied / rejected / refused, ``status``, ``body_b64``; see
``writer.py``). `Answers` subscribes once to all subnets' channels (a pattern
subscription, on a thread of its own) and hands each message to the futures waiting
for its request id, on their own event loops. A caller registers with `expect`
*before* it sends the call, so an answer can never arrive unseen; `wait` gives up after
a timeout (the HTTP interface then answers 202, as the embedded replica does, and the
client polls read_state).

Messages for request ids nobody here waits for are dropped: every front end gets every
answer, and only the one that took the call waits for it.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import redis

from icframework.scaleout.config import ScaleoutError

__all__ = ["ANSWERS_PATTERN", "Answer", "Answers", "AnswersError"]

ANSWERS_PATTERN = "icframework:answers:*"
RECONNECT_SECONDS = 1.0

logger = logging.getLogger(__name__)


class AnswersError(ScaleoutError):
    """The answers subscriber cannot run (Redis does not answer) or got a bad message."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A call's answer as its writer published it: the HTTP status and body a front end
    returns (for v3 calls the certified response; for refusals the error)."""

    request_id: bytes
    subnet: str
    height: int
    outcome: str
    status: int
    body: bytes

    @classmethod
    def from_message(cls, channel: str, data: bytes | str) -> Answer:
        """Parse one published answer; raises `AnswersError` naming what is wrong."""
        try:
            fields = json.loads(data)
            return cls(bytes.fromhex(fields["request_id"]), channel.rsplit(":", 1)[-1],
                       int(fields["height"]), str(fields["outcome"]), int(fields["status"]),
                       base64.b64decode(fields["body_b64"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise AnswersError(f"answer on {channel!r} is malformed ({exc}): {data!r:.200}") \
                from exc


Waiter = asyncio.Future[Answer] | concurrent.futures.Future[Answer]


class Answers:
    """The process's answers subscriber (see the module docstring)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._lock = threading.Lock()
        self._waiting: dict[bytes, list[Waiter]] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.received = 0
        self.resolved = 0

    def start(self, timeout: float = 10.0) -> Answers:
        """Subscribe (on a thread); returns once subscribed. Raises `AnswersError` if
        Redis does not answer within ``timeout`` seconds."""
        self._thread = threading.Thread(target=self._listen, name="answers", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise AnswersError(f"cannot subscribe to call answers on {self.redis_url}: Redis "
                               f"did not answer within {timeout:g}s; check ICFRAMEWORK_REDIS_URL")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def expect(self, request_id: bytes) -> asyncio.Future[Answer]:
        """A future for ``request_id``'s answer; call before sending the call, on the
        event loop that awaits it. `forget` it when done waiting."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        with self._lock:
            self._waiting.setdefault(request_id, []).append(future)
        return future

    def expect_blocking(self, request_id: bytes) -> concurrent.futures.Future[Answer]:
        """`expect` for synchronous code (a thread): wait with ``future.result(timeout)``."""
        future: concurrent.futures.Future[Answer] = concurrent.futures.Future()
        with self._lock:
            self._waiting.setdefault(request_id, []).append(future)
        return future

    def forget(self, request_id: bytes, future: Waiter) -> None:
        with self._lock:
            futures = self._waiting.get(request_id)
            if futures is None:
                return
            with contextlib.suppress(ValueError):
                futures.remove(future)
            if not futures:
                del self._waiting[request_id]

    @property
    def waiting(self) -> int:
        """Calls waiting for their answers."""
        with self._lock:
            return sum(len(f) for f in self._waiting.values())

    async def wait(self, future: asyncio.Future[Answer], timeout: float) -> Answer | None:
        """``future``'s answer, or None after ``timeout`` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None

    def deliver(self, answer: Answer) -> None:
        """Resolve the futures waiting for ``answer`` (from any thread)."""
        with self._lock:
            futures = self._waiting.pop(answer.request_id, [])
        for future in futures:
            if isinstance(future, asyncio.Future):
                with contextlib.suppress(RuntimeError):  # its loop closed: nobody waits
                    future.get_loop().call_soon_threadsafe(_settle, future, answer)
            elif not future.done():
                future.set_result(answer)
            self.resolved += 1

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=5,
                                              health_check_interval=30)
                pubsub = client.pubsub()
                pubsub.psubscribe(ANSWERS_PATTERN)
                while not self._stop.is_set():  # confirmed: no answer published from now is missed
                    confirmation = pubsub.get_message(timeout=1.0)
                    if confirmation is not None and confirmation["type"] == "psubscribe":
                        break
                self._ready.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is not None:
                        self._handle(message)
                pubsub.close()
                client.close()
            except redis.RedisError:
                logger.warning("call answers: Redis failed; subscribing again",
                               exc_info=True)
                self._stop.wait(RECONNECT_SECONDS)

    def _handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        self.received += 1
        try:
            answer = Answer.from_message(channel, message["data"])
        except AnswersError:
            logger.exception("dropped a call answer")
            return
        self.deliver(answer)


def _settle(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():
        future.set_result(answer)
