"""`CanisterSocket`: a blocking client of the canister socket (docs/events.md).

How it works: `CanisterSocket.connect` opens ``ws://…/ws/canisters/<id>/events``,
reads the server's ``hello`` and, for a non-anonymous identity, answers the challenge
(`icframework.protocol.socket_auth`; a `DelegationIdentity` sends its delegation chain
with the signature), so the socket has the principal the identity's calls have. A
reader thread sorts incoming frames: ``event`` frames into a queue (`next_event`,
`events`), ``response`` frames to the call waiting on their id, and the rest
(``subscribed``, ``authenticated``, ``error``...) to the control queue the request
methods read. The event queue holds at most ``max_events`` events: while it is full the
reader stops taking frames off the connection, so a caller that stops reading makes the
server's outbox fill like any slow client's (requests made meanwhile wait too).

Missed events: a socket that falls ``SOCKET_EVENT_BUFFER`` events behind gets a final
``resync`` frame and the close code 4410 (docs/events.md). The reader keeps that frame
apart from the answers to requests: a request waiting when the socket closes raises
`SocketResync` at once, and `next_event` once the events before the frame are read.
Its ``last`` gives per topic the ``seq`` and ``height`` of the last event the server
sent. The caller reads what changed after them
through a query, then connects again and subscribes (no back-off is needed).

Every event carries ``seq``, 1, 2, 3... per (canister, topic). A caller can check for
gaps itself: keep the last ``seq`` read per topic; `events_missed(previous, event.seq)`
is True when an event is not the one after it (a ``seq`` of 1 starts a new count: the
server restarted), and the caller should then read the topic's changes by query.

Calls and queries: `agent` is an `icframework.agent.Agent` whose call and query
requests for this canister travel over the socket (the server answers exactly as the
HTTP endpoints do), everything else (status, read_state polling, node keys) over HTTP;
so certificates and node signatures are verified as for any agent call. `update` and
`query` are shortcuts for this canister.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from icframework.agent.client import Agent, _Request, _Response
from icframework.agent.errors import AgentError
from icframework.core import Principal
from icframework.identity import AnonymousIdentity, Identity
from icframework.protocol.socket_auth import auth_frame, sign_challenge

__all__ = [
    "CanisterSocket",
    "LastEvent",
    "SocketError",
    "SocketEvent",
    "SocketResync",
    "events_missed",
    "socket_url",
]

_ENVELOPE_PATH = re.compile(r"^/api/v[23]/canister/([^/]+)/(call|query)$")
_CLOSED = object()


class SocketError(AgentError):
    """The socket refused a request, closed, or answered something unexpected."""


@dataclass(frozen=True, slots=True)
class LastEvent:
    """Where a topic stood when the server stopped sending: its last event's ``seq`` and
    the ``height`` of the round that committed it."""

    seq: int
    height: int


class SocketResync(SocketError):
    """The server closed the socket (code 4410) because it missed events.

    ``reason`` is the server's; ``last`` maps each subscribed topic to the last event
    the server sent it (absent for a topic that had none). Read what changed after those
    events through the canister's query, then connect again and subscribe.
    """

    def __init__(self, reason: str, last: dict[str, LastEvent]) -> None:
        self.reason = reason
        self.last = dict(last)
        where = ", ".join(f"{topic} after seq {point.seq} (height {point.height})"
                          for topic, point in sorted(self.last.items())) or "no topic had events"
        super().__init__(f"the server closed the socket because it missed events: {reason}; "
                         f"read what changed by query ({where}), then connect again and "
                         "subscribe")

    @classmethod
    def from_frame(cls, frame: dict[str, Any]) -> SocketResync:
        """The exception a ``resync`` frame announces."""
        last = {str(topic): LastEvent(int(point["seq"]), int(point["height"]))
                for topic, point in dict(frame.get("last") or {}).items()}
        return cls(str(frame.get("reason", "")), last)


@dataclass(frozen=True, slots=True)
class SocketEvent:
    """One event: ``value`` is the canister's Candid bytes for ``topic``; ``seq`` counts
    the topic's events (1, 2, 3...), ``height`` and ``index`` order all events."""

    canister_id: Principal
    topic: str
    value: bytes
    height: int
    index: int
    seq: int


def events_missed(previous: int | None, seq: int) -> bool:
    """Whether an event numbered ``seq`` following one numbered ``previous`` (None: the
    first event of its topic on this socket) means events of the topic were missed.

    A first event cannot tell; ``seq`` 1 starts a new count (the server restarted, or
    the topic had long been silent); otherwise each ``seq`` is the previous one plus one.
    """
    return previous is not None and seq != 1 and seq != previous + 1


def socket_url(replica_url: str, canister_id: Principal) -> str:
    """The canister socket URL of ``canister_id`` on the replica at ``replica_url``."""
    base = replica_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://"):]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://"):]
    return f"{base}/ws/canisters/{canister_id.to_text()}/events"


class _SocketAgent(Agent):
    """An `Agent` whose call/query requests to the socket's canister go over the socket."""

    def __init__(self, socket: CanisterSocket, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._socket = socket

    def _send(self, request: _Request) -> _Response:
        match = _ENVELOPE_PATH.match(request.path)
        if (request.method == "POST" and request.body is not None and match
                and match.group(1) == self._socket.canister_id.to_text()):
            return self._socket._round_trip(match.group(2), request.body)
        return super()._send(request)


class CanisterSocket:
    """A connected canister socket; use `connect`. Close it (or use ``with``)."""

    def __init__(self, connection: ClientConnection, canister_id: Principal, agent_url: str,
                 identity: Identity, *, fetch_root_key: bool, root_key: bytes | None,
                 timeout: float, max_events: int = 10_000) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be at least 1, not {max_events}")
        self._ws = connection
        self.canister_id = canister_id
        self.identity = identity
        self.principal = Principal.anonymous()
        self.timeout = timeout
        self._events: queue.Queue[object] = queue.Queue(maxsize=max_events)
        self._closing = threading.Event()
        self._control: queue.Queue[object] = queue.Queue()
        self._waiting: dict[str, queue.Queue[object]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.closed_reason = ""
        self.resync: SocketResync | None = None
        self.agent = _SocketAgent(self, url=agent_url, identity=identity, root_key=root_key,
                                  fetch_root_key=fetch_root_key)
        self._reader = threading.Thread(target=self._read, name="canister-socket", daemon=True)

    @classmethod
    def connect(cls, replica_url: str, canister_id: Principal | str,
                identity: Identity | None = None, *, fetch_root_key: bool = True,
                root_key: bytes | None = None, timeout: float = 30.0,
                max_events: int = 10_000) -> CanisterSocket:
        """Open the socket of ``canister_id`` on the replica at ``replica_url`` (http URL)
        and authenticate as ``identity`` (anonymous when None).

        ``max_events`` is how many received events wait for `next_event` before the
        socket stops reading (and the server, its own buffer full, closes it with a
        resync)."""
        canister = (canister_id if isinstance(canister_id, Principal)
                    else Principal.from_text(canister_id))
        url = socket_url(replica_url, canister)
        try:
            connection = ws_connect(url, open_timeout=timeout, max_size=8 * 1024 * 1024)
        except (OSError, TimeoutError) as exc:
            raise SocketError(f"cannot open {url}: {exc} (is the replica running?)") from exc
        socket = cls(connection, canister, replica_url.rstrip("/"),
                     identity or AnonymousIdentity(), fetch_root_key=fetch_root_key,
                     root_key=None if fetch_root_key else root_key, timeout=timeout,
                     max_events=max_events)
        try:
            hello = json.loads(connection.recv(timeout=timeout))
            if hello.get("op") != "hello":
                raise SocketError(f"expected a hello frame, got {hello!r}")
            socket._reader.start()
            if socket.identity.der_public_key is not None:
                socket._authenticate(base64.b64decode(hello["challenge"]))
        except BaseException:
            connection.close()
            raise
        return socket

    # -- requests ---------------------------------------------------------------------------

    def _authenticate(self, nonce: bytes) -> None:
        proof = sign_challenge(self.identity, self.canister_id, nonce)
        self._send(auth_frame(proof))
        reply = self._control_frame()
        if reply.get("op") != "authenticated":
            raise SocketError(f"authentication refused: {reply.get('message', reply)}")
        self.principal = Principal.from_text(reply["principal"])

    def subscribe(self, *topics: str) -> tuple[list[str], dict[str, str]]:
        """Subscribe to ``topics``; returns (all subscribed topics, refused → reason)."""
        self._send({"op": "subscribe", "topics": list(topics)})
        reply = self._control_frame("subscribed")
        return list(reply["topics"]), dict(reply.get("refused", {}))

    def unsubscribe(self, *topics: str) -> list[str]:
        """Unsubscribe from ``topics``; returns the topics still subscribed."""
        self._send({"op": "unsubscribe", "topics": list(topics)})
        return list(self._control_frame("subscribed")["topics"])

    def next_event(self, timeout: float | None = None) -> SocketEvent | None:
        """The next event, or None after ``timeout`` seconds (None: wait forever).

        Once the events received before the socket closed are read, raises
        `SocketResync` if the server closed it because it missed events, else
        `SocketError`.
        """
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._events.put(_CLOSED)
            raise self._closed_error()
        assert isinstance(item, SocketEvent)
        return item

    def events(self, timeout: float | None = None) -> Iterator[SocketEvent]:
        """Events as they come; stops after ``timeout`` seconds without one."""
        while (event := self.next_event(timeout)) is not None:
            yield event

    def update(self, method: str, arg: bytes) -> bytes:
        """An update call to this canister over the socket (certificate verified)."""
        return self.agent.update(self.canister_id, method, arg)

    def query(self, method: str, arg: bytes) -> bytes:
        """A query to this canister over the socket (node signatures verified)."""
        return self.agent.query(self.canister_id, method, arg)

    def close(self) -> None:
        # unread events are dropped, so a reader waiting for room goes on to the close
        self._closing.set()
        while True:
            try:
                self._events.get_nowait()
            except queue.Empty:
                break
        self._ws.close()
        self.agent.close()

    def __enter__(self) -> CanisterSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _round_trip(self, kind: str, envelope: bytes) -> _Response:
        request_id = f"r{next(self._ids)}"
        waiter: queue.Queue[object] = queue.Queue(maxsize=1)
        with self._lock:
            self._waiting[request_id] = waiter
        try:
            self._send({"op": kind, "id": request_id, "envelope": _b64(envelope)})
            try:
                frame = waiter.get(timeout=self.timeout + 15)
            except queue.Empty:
                raise SocketError(f"no response to {kind} {request_id} within "
                                  f"{self.timeout + 15:g} s{self._backlog()}") from None
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        if frame is _CLOSED:
            if self.resync is not None:
                raise self._closed_error()
            raise SocketError(f"the socket closed during a {kind}: {self.closed_reason}")
        assert isinstance(frame, dict)
        return _Response(int(frame["status"]), base64.b64decode(frame["body"]))

    def _send(self, frame: dict[str, Any]) -> None:
        try:
            self._ws.send(json.dumps(frame, separators=(",", ":")))
        except ConnectionClosed as exc:
            raise SocketError(f"the socket is closed: {exc}") from exc

    def _control_frame(self, expected: str | None = None) -> dict[str, Any]:
        try:
            frame = self._control.get(timeout=self.timeout)
        except queue.Empty:
            raise SocketError(f"no answer from the socket within {self.timeout:g} s"
                              f"{self._backlog()}") from None
        if frame is _CLOSED:
            raise self._closed_error()
        assert isinstance(frame, dict)
        if expected is not None and frame.get("op") != expected:
            raise SocketError(frame.get("message") or f"unexpected frame {frame!r}")
        return frame

    def _read(self) -> None:
        try:
            for raw in self._ws:
                frame = json.loads(raw)
                op = frame.get("op")
                if op == "event":
                    if not self._closing.is_set():
                        self._events.put(SocketEvent(
                            Principal.from_text(frame["canister_id"]), frame["topic"],
                            base64.b64decode(frame["value"]), int(frame["height"]),
                            int(frame["index"]), int(frame["seq"]),
                        ))
                elif op == "resync":  # the close reason, never the answer to a request
                    self.resync = SocketResync.from_frame(frame)
                elif op == "response":
                    with self._lock:
                        waiter = self._waiting.get(str(frame.get("id")))
                    if waiter is not None:
                        waiter.put(frame)
                else:
                    self._control.put(frame)
        except ConnectionClosed as exc:
            self.closed_reason = str(exc)
        finally:
            self.closed_reason = self.closed_reason or "closed by the server"
            self._control.put(_CLOSED)
            with self._lock:
                for waiter in self._waiting.values():
                    waiter.put(_CLOSED)
            if not self._closing.is_set():  # after the events the caller has yet to read
                self._events.put(_CLOSED)


    def _closed_error(self) -> SocketError:
        if self.resync is not None:
            return SocketResync(self.resync.reason, self.resync.last)
        return SocketError(f"the socket is closed: {self.closed_reason}")

    def _backlog(self) -> str:
        unread = self._events.qsize()
        if unread < (self._events.maxsize or unread + 1):
            return ""
        return (f" (the event queue is full: {unread} events wait for next_event, and the "
                "socket reads nothing more, answers included, until they are taken; read "
                "events from another thread or raise max_events)")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
