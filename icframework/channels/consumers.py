"""The canister socket: ``/ws/canisters/<canister_id>/events``.

A thin adapter around `icframework.protocol.socket_auth` (who is on the socket),
the canister's own ``can_subscribe`` query (what they may receive), the channel-layer
groups of `icframework.channels.events` (delivery) and the HTTP interface's call and
query handlers (signed envelopes over the socket). JSON text frames; the protocol is
specified in docs/events.md:

* server → ``hello`` (with a single-use ``challenge``) on connect;
* client → ``auth`` (public key + signature over the challenge, and the delegation
  chain when the key signs through one), ``subscribe`` /
  ``unsubscribe`` (topics), ``call`` / ``query`` (a base64 CBOR envelope, answered with
  exactly the body the HTTP endpoint would send);
* server → ``authenticated``, ``subscribed``, ``unsubscribed`` (access withdrawn),
  ``event``, ``response``, ``error``, and ``resync`` before closing with `CLOSE_RESYNC`.

Events: each socket has an `icframework.channels.delivery.Outbox` written by its own
task, so a slow client holds back only its own events, and one that falls the outbox's
size behind (``ICFRAMEWORK["SOCKET_EVENT_BUFFER"]``) gets ``resync`` (the reason and,
per topic, the last ``seq`` and ``height`` it was sent) and is closed, never silently
skipped. Topics are followed through the bridge's in-process fan-out with the in-memory
channel layer, and through channel-layer groups otherwise (`icframework.channels.events`).

Access: if the canister has a ``can_subscribe : (text) -> (bool) query`` method, each
topic needs it to answer true for the socket's principal (anonymous until ``auth``);
subscriptions are checked again every `RECHECK_SECONDS` and after ``auth``, so a
removed member stops receiving events. A canister without the method has public
topics.

Origin: a socket opened from a page of another site (an ``Origin`` header whose host is
not the one the socket was opened on) stays anonymous: its ``auth`` is refused, so a
foreign page cannot act as a user on the replica through their keys. Clients that send
no ``Origin`` (programs, not browsers) may authenticate.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from icframework.candid import BOOL, TEXT, CandidError, decode, encode
from icframework.channels.delivery import CLOSE_RESYNC, Outbox
from icframework.channels.events import MAX_TOPIC_BYTES, bridge, event_frame, group_name
from icframework.conf import ConfigurationError, get_setting
from icframework.core import ErrorCode, Principal, PrincipalError
from icframework.protocol import ProtocolError
from icframework.protocol.errors import MalformedRequestError
from icframework.protocol.socket_auth import NONCE_BYTES, proof_from_frame, verify_challenge
from icframework.replica import (
    HttpError,
    Replica,
    api_backend,
    error_status,
    query_body,
    submit_call_body,
)

logger = logging.getLogger(__name__)

__all__ = [
    "ACCESS_METHOD",
    "CLOSE_RESYNC",
    "MAX_FRAME_BYTES",
    "MAX_TOPICS",
    "RECHECK_SECONDS",
    "SERVER_MESSAGE_LIMIT",
    "CanisterSocketConsumer",
    "foreign_origin",
]

PROTOCOL_VERSION = 1
ACCESS_METHOD = "can_subscribe"
MAX_TOPICS = 64
MAX_FRAME_BYTES = 3 * 1024 * 1024  # a 2 MiB envelope in base64 JSON fits
MAX_CONTROL_FRAME_BYTES = 16 * 1024
# What the WebSocket server itself lets through (runreplica passes it to uvicorn as
# ws_max_size): above MAX_FRAME_BYTES and up to this, the consumer closes with
# CLOSE_TOO_BIG; beyond it the server closes the connection (1009) before the consumer
# sees the message.
SERVER_MESSAGE_LIMIT = 2 * MAX_FRAME_BYTES
RECHECK_SECONDS = 30.0
FRAME_BUDGET = 600  # frames per FRAME_WINDOW_SECONDS before the socket is closed
FRAME_WINDOW_SECONDS = 10.0
# Application close codes (4000-4999): some servers (daphne) refuse to send the
# protocol's own 1008/1009 from application code, and clients would see 1011 instead.
CLOSE_POLICY = 4008  # the frame budget is spent
CLOSE_TOO_BIG = 4009  # a frame is over its size limit
CLOSE_BAD_CANISTER = 4400
CLOSE_AUTH_FAILED = 4401
CLOSE_NO_REPLICA = 4503


class CanisterSocketConsumer(AsyncWebsocketConsumer):
    """One client socket bound to one canister."""

    canister: Principal
    principal: Principal
    topics: set[str]

    async def connect(self) -> None:
        text = self.scope["url_route"]["kwargs"]["canister_id"]
        try:
            self.canister = Principal.from_text(text)
        except PrincipalError:
            await self.close(code=CLOSE_BAD_CANISTER)
            return
        self.principal = Principal.anonymous()
        self.origin = foreign_origin(self.scope.get("headers", ()))
        self.topics = set()
        self.nonce: bytes | None = os.urandom(NONCE_BYTES)
        self.frames: list[float] = []
        self.recheck: asyncio.Task[None] | None = None
        self.envelopes: set[asyncio.Task[None]] = set()
        self.outbox = Outbox(_event_buffer())
        self.writer: asyncio.Task[None] | None = None
        await self.accept()
        await self._send({
            "op": "hello",
            "protocol": PROTOCOL_VERSION,
            "canister_id": self.canister.to_text(),
            "challenge": _b64(self.nonce),
        })
        self.recheck = asyncio.create_task(self._recheck_loop())
        self.writer = asyncio.create_task(self._write_events())

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "recheck", None), getattr(self, "writer", None)):
            if task is not None:
                task.cancel()
        for pending in list(getattr(self, "envelopes", ())):
            pending.cancel()
        for topic in list(getattr(self, "topics", ())):
            await self._unfollow(topic)

    # -- frames ---------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        size = len(text_data.encode("utf-8")) if text_data is not None else len(bytes_data or b"")
        if size > MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if not self._within_budget():
            await self._error("rate", f"more than {FRAME_BUDGET} frames in "
                                      f"{FRAME_WINDOW_SECONDS:g} s; closing")
            await self.close(code=CLOSE_POLICY)
            return
        if text_data is None:
            await self._error("frame", "frames must be JSON text, not binary")
            return
        try:
            frame = json.loads(text_data)
        except json.JSONDecodeError as exc:
            await self._error("frame", f"the frame is not JSON: {exc.msg} at position {exc.pos}")
            return
        if not isinstance(frame, dict):
            await self._error("frame", "a frame must be a JSON object with an \"op\"")
            return
        op = frame.get("op")
        handler = _HANDLERS.get(op) if isinstance(op, str) else None
        if handler is None:
            await self._error("frame", f"unknown op {op!r}; expected one of "
                                       f"{', '.join(sorted(_HANDLERS))}")
            return
        if op in ("auth", "subscribe", "unsubscribe") and size > MAX_CONTROL_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        await handler(self, frame)

    def _within_budget(self) -> bool:
        now = time.monotonic()
        frames = [t for t in self.frames if now - t < FRAME_WINDOW_SECONDS]
        frames.append(now)
        self.frames = frames
        return len(frames) <= FRAME_BUDGET

    # -- auth -------------------------------------------------------------------------------------

    async def _auth(self, frame: dict[str, Any]) -> None:
        nonce, self.nonce = self.nonce, None
        if nonce is None:
            await self._error("auth", "this socket has already used its challenge")
            await self.close(code=CLOSE_AUTH_FAILED)
            return
        if self.origin is not None:
            await self._error("auth", f"authentication refused: this socket was opened from "
                                      f"a page of {self.origin}, another site than this "
                                      "replica, so it stays anonymous; authenticate from a "
                                      "page the replica serves, or from a program (no Origin)")
            return
        try:
            proof = proof_from_frame(frame)
            principal = await sync_to_async(verify_challenge, thread_sensitive=False)(
                proof, self.canister, nonce, now_ns=time.time_ns()
            )
        except ProtocolError as exc:
            await self._error("auth", f"authentication failed: {exc}")
            await self.close(code=CLOSE_AUTH_FAILED)
            return
        self.principal = principal
        await self._send({"op": "authenticated", "principal": principal.to_text()})
        await self._recheck()

    # -- topics -------------------------------------------------------------------------------

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        topics = frame.get("topics")
        problem = _check_topics(topics)
        if problem:
            await self._error("topics", problem)
            return
        assert isinstance(topics, list)
        new = [t for t in dict.fromkeys(topics) if t not in self.topics]
        if len(self.topics) + len(new) > MAX_TOPICS:
            await self._error("topics", f"at most {MAX_TOPICS} topics per connection")
            return
        refused: dict[str, str] = {}
        for topic in new:
            reason = await self._access(topic)
            if reason is not None:
                refused[topic] = reason
                continue
            await self._follow(topic)
            self.topics.add(topic)
        reply: dict[str, Any] = {"op": "subscribed", "topics": sorted(self.topics)}
        if refused:
            reply["refused"] = refused
        await self._send(reply)

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        topics = frame.get("topics")
        problem = _check_topics(topics)
        if problem:
            await self._error("topics", problem)
            return
        assert isinstance(topics, list)
        for topic in topics:
            await self._drop(topic)
        await self._send({"op": "subscribed", "topics": sorted(self.topics)})

    async def _drop(self, topic: str) -> None:
        if topic in self.topics:
            self.topics.discard(topic)
            await self._unfollow(topic)
            self.outbox.forget(topic)

    async def _follow(self, topic: str) -> None:
        key = group_name(self.canister, topic)
        if bridge.in_process:
            bridge.local.add(key, self.outbox)
        else:
            await self.channel_layer.group_add(key, self.channel_name)

    async def _unfollow(self, topic: str) -> None:
        key = group_name(self.canister, topic)
        if bridge.in_process:
            bridge.local.discard(key, self.outbox)
        else:
            await self.channel_layer.group_discard(key, self.channel_name)

    async def _access(self, topic: str) -> str | None:
        """None if the socket's principal may receive ``topic``, else why not."""
        try:  # the embedded replica, or a front end's copy of the canister's subnet
            reader = api_backend().reader(self.canister)
        except HttpError as exc:
            return exc.message
        arg = encode((TEXT,), (topic,))

        def ask(replica: Replica) -> tuple[bytes | None, str | None, ErrorCode | None]:
            result = replica.run_query(self.canister, ACCESS_METHOD, arg,
                                       sender=self.principal)
            if result.reject is None:
                return result.reply, None, None
            return None, result.reject.message, result.reject.error_code

        reply, message, code = await sync_to_async(reader.run, thread_sensitive=False)(ask)
        if reply is None:
            if code is ErrorCode.CANISTER_METHOD_NOT_FOUND and ACCESS_METHOD in (message or ""):
                return None  # no access method: the canister's topics are public
            return f"{ACCESS_METHOD} failed: {message}"
        try:
            (allowed,) = decode(reply, (BOOL,))
        except CandidError as exc:
            return f"{ACCESS_METHOD} must return a bool: {exc}"
        return None if allowed else f"{self.principal} may not receive {topic!r}"

    async def _recheck(self) -> None:
        withdrawn: dict[str, str] = {}
        for topic in sorted(self.topics):
            reason = await self._access(topic)
            if reason is not None:
                withdrawn[topic] = reason
                await self._drop(topic)
        if withdrawn:
            await self._send({"op": "unsubscribed", "topics": sorted(withdrawn),
                              "reasons": withdrawn})

    async def _recheck_loop(self) -> None:
        while True:
            await asyncio.sleep(RECHECK_SECONDS)
            if self.topics:
                await self._recheck()

    # -- calls ------------------------------------------------------------------------------

    async def _call(self, frame: dict[str, Any]) -> None:
        self._in_background(self._envelope(frame, query=False))

    async def _query(self, frame: dict[str, Any]) -> None:
        self._in_background(self._envelope(frame, query=True))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Answer a call or query without holding up this socket's other frames: the
        consumer handles one message at a time, so awaiting a call here would hold back
        the socket's events until the call's round is done."""
        task = asyncio.create_task(work)
        self.envelopes.add(task)
        task.add_done_callback(self.envelopes.discard)

    async def _envelope(self, frame: dict[str, Any], *, query: bool) -> None:
        request_id = frame.get("id")
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            await self._error("frame", "a call or query frame needs an \"id\" (string or number)")
            return
        try:
            body = _unb64(frame, "envelope")
            if query:
                response = await query_body(body, self.canister)
            else:
                response = await submit_call_body(body, self.canister, v3=True)
            status, payload = response.status, response.body
        except Exception as exc:  # mapped exactly as the HTTP endpoints map it
            status, text = error_status(exc)
            payload = text.encode("utf-8")
        await self._send({
            "op": "response", "id": request_id, "status": status, "body": _b64(payload),
        })

    # -- events ------------------------------------------------------------------------------

    async def canister_event(self, message: dict[str, Any]) -> None:
        """A ``canister.event`` from a channel-layer group (out-of-process layers): into
        the outbox if still subscribed."""
        if message["topic"] not in self.topics or message["canister_id"] != self.canister.to_text():
            return
        self.outbox.offer(event_frame(message))

    async def _write_events(self) -> None:
        """Write the outbox until it fails, then send ``resync`` and close the socket."""
        try:
            resync = await self.outbox.run(self._send_text)
            for topic in list(self.topics):
                await self._unfollow(topic)
            await self._send(resync.frame())
            await self.close(code=CLOSE_RESYNC, reason="resync: events were missed")
        except OSError:  # the client went away mid-write (uvicorn's ClientDisconnected)
            logger.debug("the event writer of a socket on %s stopped: the client left",
                         self.canister, exc_info=True)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        """Close the socket; the event writer stops first, so no event follows the close."""
        writer = getattr(self, "writer", None)
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()
        await super().close(code=code, reason=reason)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _error(self, kind: str, message: str) -> None:
        await self._send({"op": "error", "kind": kind, "message": message})


_HANDLERS: dict[str, Any] = {
    "auth": CanisterSocketConsumer._auth,
    "subscribe": CanisterSocketConsumer._subscribe,
    "unsubscribe": CanisterSocketConsumer._unsubscribe,
    "call": CanisterSocketConsumer._call,
    "query": CanisterSocketConsumer._query,
}

CanisterEventsConsumer = CanisterSocketConsumer
"""The name this consumer had when it only carried events."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(frame: dict[str, Any], name: str) -> bytes:
    value = frame.get(name)
    if not isinstance(value, str):
        raise MalformedRequestError(f"\"{name}\" must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise MalformedRequestError(f"\"{name}\" is not valid base64: {exc}") from None


def _event_buffer() -> int:
    size = get_setting("SOCKET_EVENT_BUFFER")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigurationError(f"ICFRAMEWORK['SOCKET_EVENT_BUFFER'] must be a positive "
                                 f"number of events, not {size!r}")
    return size


def foreign_origin(headers: Any) -> str | None:
    """The ``Origin`` of a WebSocket upgrade if it is another site's, else None.

    ``headers`` are the ASGI scope's (lower-case byte names). An origin is foreign unless
    its host and port are exactly the ``Host`` the upgrade was sent to; no ``Origin`` at
    all (a program, not a browser page) is not foreign.
    """
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in (b"origin", b"host"):
            found.setdefault(name, value.decode("latin-1").strip())
    origin = found.get(b"origin")
    if origin is None:
        return None
    try:
        origin_host = urlsplit(origin).netloc.lower()
    except ValueError:
        return origin
    host = found.get(b"host", "").lower()
    return None if origin_host and origin_host == host else origin


def _check_topics(topics: object) -> str | None:
    if not isinstance(topics, list) or not topics:
        return "\"topics\" must be a non-empty list of strings"
    for topic in topics:
        if not isinstance(topic, str) or not topic:
            return f"topic {topic!r} is not a non-empty string"
        if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
            return f"topic {topic[:40]!r}... is longer than {MAX_TOPIC_BYTES} bytes"
    return None
