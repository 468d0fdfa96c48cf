"""`ChatClient`: the Python client of the chat canister — typed calls and live events.

How it works: a client holds one `CanisterSocket` (icframework.agent.socket) to the
chat canister, authenticated with the user's own identity (the same key that signs
the calls; nothing is held by the server). Every call and query travels over that
socket as a signed envelope, and the agent verifies certificates and node signatures
as over HTTP. Arguments and replies are typed by the canister's own hints: the client
compiles the method table of ``apps.chat.canister`` in this process (only its Candid
codecs are used; no canister code runs here), so replies are the dataclasses of
`apps.chat.canister.records` (``MessageView``, ``MyRoomView``...).

Live data: `follow` subscribes to a room's topic and `follow_me` to the user's own
topic; a pump thread decodes each ``ChatEvent`` into a `ChatUpdate` (``kind`` is the
event's tag: ``message``, ``edited``, ``deleted``, ``reaction``, ``typing``,
``member``...). Presence is a query in the canister, so `watch_presence` polls it and
queues a ``presence`` update whenever a watched user comes online or goes offline;
`keep_alive` pings so that others see this user online. Read the queue with
`next_update` or `updates`. `catch_up` returns what was missed since a ``seq``
(``changes_since``).

Reconnecting: a client made by `connect` reopens its socket by itself when the
connection drops (waiting 0.5 s, then doubling up to 15 s between attempts, until it
works or the client is closed), subscribes again to what it followed, and queues what
the followed rooms missed meanwhile — read with ``changes_since`` from the highest
``seq`` it had seen — before the live events, so a reader of `updates` misses no
stored change (live-only ``typing`` and ``read`` events of the gap are gone). A
``reconnected`` update (topic ``connection``, value: the count of reconnects) comes
first. Calls made while the
socket is down raise `SocketError`; they are not retried, because an update may have
reached the canister before the connection dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from apps.chat.canister.events import Changes, ChatEvent
from apps.chat.canister.records import (
    HistoryPage,
    MembersPage,
    MessageView,
    MyRoomView,
    Presence,
    Profile,
    Receipts,
    RoomView,
    ScheduledView,
    ThreadPage,
    ThreadView,
)
from icframework.agent.errors import AgentError
from icframework.agent.socket import CanisterSocket, SocketError
from icframework.candid import decode
from icframework.core import Principal
from icframework.identity import Identity
from icframework.sdk.dispatch import CompiledMethod, decode_result, encode_args, method_table
from icframework.sdk.types import TypeMapper

__all__ = [
    "CANISTER_MODULE",
    "ChatClient",
    "ChatClientError",
    "ChatUpdate",
    "Reconnect",
    "decode_event",
    "decode_reply",
    "encode_call",
    "room_topic",
    "user_topic",
]

CANISTER_MODULE = "apps.chat.canister"
_CLOSED = object()
logger = logging.getLogger(__name__)


class ChatClientError(AgentError):
    """A client-side mistake: an unknown method, a refused topic, a closed client."""


@dataclass(frozen=True, slots=True)
class ChatUpdate:
    """One live update: ``kind`` is the `ChatEvent` tag, or ``presence``.

    ``value`` is the event's record (``MessageView`` for ``message``/``edited``,
    ``DeletedEvent``, ``ReactionEvent``, ``TypingEvent``... or a ``Presence``);
    ``topic`` is where it came from (``room:<id>``, ``user:<principal>``, or
    ``presence``); ``height`` is the replica round of the event (0 for presence).
    """

    topic: str
    kind: str
    value: Any
    height: int = 0

    @property
    def room_id(self) -> int | None:
        """The room the update is about, if it is about one."""
        room = getattr(self.value, "room_id", None)
        if room is None and isinstance(self.value, RoomView):
            return int(self.value.id)
        if room is None and isinstance(self.value, MyRoomView):
            return int(self.value.room.id)
        return None if room is None else int(room)


def room_topic(room_id: int) -> str:
    """The socket topic of room ``room_id``."""
    return f"room:{room_id}"


def user_topic(user: Principal) -> str:
    """The socket topic of the notifications of ``user``."""
    return f"user:{user.to_text()}"


@cache
def _methods() -> dict[str, CompiledMethod]:
    return method_table(CANISTER_MODULE)


def encode_call(method: str, *args: Any) -> tuple[str, bytes]:
    """The kind (``update``, ``query``...) of canister ``method`` and its Candid argument
    for Python ``args``; raises `ChatClientError` for an unknown method or arity."""
    compiled = _method(method)
    if len(args) != len(compiled.arg_types):
        raise ChatClientError(f"{method} takes {len(compiled.arg_types)} argument(s), "
                              f"got {len(args)}")
    return compiled.kind, encode_args(compiled, args)


def decode_reply(method: str, reply: bytes) -> Any:
    """The Python value of ``method``'s Candid ``reply`` (None for ``()``)."""
    return decode_result(_method(method), reply)


def _method(name: str) -> CompiledMethod:
    compiled = _methods().get(name)
    if compiled is None:
        known = ", ".join(sorted(_methods()))
        raise ChatClientError(f"the chat canister has no method {name!r} (methods: {known})")
    return compiled


@cache
def _event_codec() -> tuple[Any, Any]:
    info = TypeMapper().info(ChatEvent)
    return info.candid, info.from_wire


def decode_event(value: bytes) -> ChatEvent:
    """The `ChatEvent` of an event frame's Candid ``value``."""
    candid, from_wire = _event_codec()
    (wire,) = decode(value, (candid,))
    event: ChatEvent = from_wire(wire) if from_wire is not None else wire
    return event


@dataclass(frozen=True, slots=True)
class Reconnect:
    """How a `ChatClient` reopens a dropped socket: ``open_socket`` makes a new
    connected `CanisterSocket`; attempts wait ``first_delay`` seconds, doubling up to
    ``max_delay``."""

    open_socket: Callable[[], CanisterSocket]
    first_delay: float = 0.5
    max_delay: float = 15.0


class ChatClient:
    """A connected chat user (or an anonymous reader); use `connect`, then `close`.

    Methods mirror the canister's (docs/chat.md) with Python types; a rejected call
    raises `icframework.agent.RejectError` whose ``reject_message`` says what was wrong
    (``rate limit: ...``, ``register first ...``). Thread-safe: the pump and presence
    threads and the caller may use it at once.
    """

    def __init__(self, socket: CanisterSocket, reconnect: Reconnect | None = None) -> None:
        self.socket = socket
        self.reconnects = 0
        self._reconnect = reconnect
        self._topics: set[str] = set()  # what to subscribe again after a reconnect
        self._seen_seq: dict[int, int] = {}  # followed room -> highest seq applied
        self._follow_lock = threading.Lock()
        self._updates: queue.Queue[object] = queue.Queue()
        self._stop = threading.Event()
        self._presence_lock = threading.Lock()
        self._watched: dict[Principal, bool | None] = {}
        self._presence_every = 30.0
        self._ping_every: float | None = None
        self._poll_now = False
        self._presence_thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pump = threading.Thread(target=self._pump_events, name="chat-events", daemon=True)
        self._pump.start()

    @classmethod
    def connect(cls, replica_url: str, canister_id: Principal | str,
                identity: Identity | None = None, *, timeout: float = 30.0,
                reconnect: bool = True) -> ChatClient:
        """Open the chat canister's socket on the replica at ``replica_url`` as
        ``identity`` (anonymous when None); the root key is fetched (local replicas).
        With ``reconnect`` (the default) a dropped socket is reopened (module docstring).

        Raises `SocketError` if the replica cannot be reached or refuses the key.
        """
        def open_socket() -> CanisterSocket:
            return CanisterSocket.connect(replica_url, canister_id, identity, timeout=timeout)

        return cls(open_socket(), Reconnect(open_socket) if reconnect else None)

    @property
    def principal(self) -> Principal:
        """The socket's (and the calls') principal."""
        return self.socket.principal

    @property
    def canister_id(self) -> Principal:
        return self.socket.canister_id

    def close(self) -> None:
        """Stop the background threads and close the socket."""
        self._stop.set()
        self._wake.set()
        self.socket.close()
        if self._presence_thread is not None:
            self._presence_thread.join(timeout=5)

    def __enter__(self) -> ChatClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- any method ---------------------------------------------------------------------------

    def call(self, method: str, *args: Any) -> Any:
        """Call canister ``method`` with Python ``args`` (a query for query methods);
        the reply converted to the canister's record types, None for ``()``.

        Raises `ChatClientError` for an unknown method, `RejectError` for a reject.
        """
        kind, arg = encode_call(method, *args)
        if kind == "update":
            reply = self.socket.update(method, arg)
        else:
            reply = self.socket.query(method, arg)
        return decode_reply(method, reply)

    # -- users and presence ---------------------------------------------------------------------

    def register(self, handle: str, display_name: str) -> Profile:
        result: Profile = self.call("register", handle, display_name)
        return result

    def me(self) -> Profile | None:
        result: Profile | None = self.call("me")
        return result

    def profile(self, handle_or_principal: str) -> Profile | None:
        result: Profile | None = self.call("profile", handle_or_principal)
        return result

    def profiles(self, users: Iterable[Principal]) -> list[Profile]:
        result: list[Profile] = self.call("profiles", list(users))
        return result

    def ping(self) -> None:
        """Mark this user online (``last_seen``); `keep_alive` repeats it."""
        self.call("ping")

    def presence(self, users: Iterable[Principal]) -> list[Presence]:
        result: list[Presence] = self.call("presence", list(users))
        return result

    # -- rooms ------------------------------------------------------------------------------

    def create_room(self, name: str, description: str = "", public: bool = True) -> MyRoomView:
        result: MyRoomView = self.call("create_room", name, description, public)
        return result

    def join_room(self, room_id: int) -> MyRoomView:
        result: MyRoomView = self.call("join_room", room_id)
        return result

    def leave_room(self, room_id: int) -> None:
        self.call("leave_room", room_id)

    def open_direct(self, handle_or_principal: str) -> MyRoomView:
        result: MyRoomView = self.call("open_direct", handle_or_principal)
        return result

    def room(self, room_id: int) -> RoomView:
        result: RoomView = self.call("room", room_id)
        return result

    def my_rooms(self) -> list[MyRoomView]:
        result: list[MyRoomView] = self.call("my_rooms")
        return result

    def public_rooms(self, search: str = "", before: int | None = None,
                     limit: int = 100) -> list[RoomView]:
        result: list[RoomView] = self.call("public_rooms", search, before, limit)
        return result

    def members(self, room_id: int, after: Principal | None = None,
                limit: int = 500) -> MembersPage:
        result: MembersPage = self.call("members", room_id, after, limit)
        return result

    # -- messages ---------------------------------------------------------------------------

    def send_message(self, room_id: int, text: str, reply_to: int | None = None) -> MessageView:
        result: MessageView = self.call("send_message", room_id, text, reply_to)
        return result

    def send_direct(self, handle_or_principal: str, text: str) -> MessageView:
        result: MessageView = self.call("send_direct", handle_or_principal, text)
        return result

    def edit_message(self, room_id: int, message_id: int, text: str) -> MessageView:
        result: MessageView = self.call("edit_message", room_id, message_id, text)
        return result

    def delete_message(self, room_id: int, message_id: int) -> None:
        self.call("delete_message", room_id, message_id)

    def add_reaction(self, room_id: int, message_id: int, emoji: str) -> MessageView:
        result: MessageView = self.call("add_reaction", room_id, message_id, emoji)
        return result

    def remove_reaction(self, room_id: int, message_id: int, emoji: str) -> MessageView:
        result: MessageView = self.call("remove_reaction", room_id, message_id, emoji)
        return result

    def typing(self, room_id: int) -> None:
        """Tell the room's followers that this user is typing (at most 1 per 2 s counts)."""
        self.call("typing", room_id)

    def mark_read(self, room_id: int, up_to: int) -> None:
        self.call("mark_read", room_id, up_to)

    def mark_delivered(self, room_id: int, up_to: int) -> None:
        """This user got the room's messages up to ``up_to`` (a delivered receipt)."""
        self.call("mark_delivered", room_id, up_to)

    def receipts(self, room_id: int, message_id: int) -> Receipts:
        """Who got and who read a message (counts up to 1,000, the first 50 of each)."""
        result: Receipts = self.call("receipts", room_id, message_id)
        return result

    def send_thread_reply(self, room_id: int, root_id: int, text: str) -> MessageView:
        """Reply in the thread of message ``root_id``."""
        result: MessageView = self.call("send_thread_reply", room_id, root_id, text)
        return result

    def thread(self, room_id: int, root_id: int, before: int | None = None,
               limit: int = 50) -> ThreadPage:
        """A thread: its root and up to ``limit`` (≤ 100) replies before ``before``."""
        result: ThreadPage = self.call("thread", room_id, root_id, before, limit)
        return result

    def mark_thread_read(self, room_id: int, root_id: int, up_to: int) -> None:
        self.call("mark_thread_read", room_id, root_id, up_to)

    def my_threads(self, room_id: int | None = None) -> list[ThreadView]:
        """The threads this user follows (in one room or all), with unread replies."""
        result: list[ThreadView] = self.call("my_threads", room_id)
        return result

    def schedule_message(self, room_id: int, text: str, at_ns: int) -> ScheduledView:
        """Post ``text`` at ``at_ns`` (nanoseconds since the epoch) from a canister timer."""
        result: ScheduledView = self.call("schedule_message", room_id, text, at_ns)
        return result

    def cancel_scheduled(self, scheduled_id: int) -> None:
        self.call("cancel_scheduled", scheduled_id)

    def my_scheduled(self, room_id: int | None = None) -> list[ScheduledView]:
        result: list[ScheduledView] = self.call("my_scheduled", room_id)
        return result

    def history(self, room_id: int, before: int | None = None, limit: int = 50) -> HistoryPage:
        """Up to ``limit`` (≤ 100) messages before message id ``before``, oldest first."""
        result: HistoryPage = self.call("history", room_id, before, limit)
        return result

    def message(self, room_id: int, message_id: int) -> MessageView | None:
        result: MessageView | None = self.call("message", room_id, message_id)
        return result

    def changes_since(self, room_id: int, since: int) -> Changes:
        result: Changes = self.call("changes_since", room_id, since)
        return result

    def catch_up(self, room_id: int, since: int) -> tuple[list[ChatEvent], int]:
        """Every change of the room after ``seq`` ``since`` (``changes_since`` until
        ``more`` is false): the events, oldest first, and the room's ``seq`` now."""
        events: list[ChatEvent] = []
        while True:
            page = self.changes_since(room_id, since)
            events.extend(page.events)
            since = int(page.seq)
            if not page.more:
                return events, since

    # -- live updates -----------------------------------------------------------------------

    def follow(self, room_id: int, since: int | None = None) -> None:
        """Receive the room's events (members only for private and direct rooms).

        ``since`` is the room ``seq`` the caller's view is at (e.g. a `history` page's);
        None asks the room for its ``seq`` now. After a reconnect, what changed after it
        is queued first. Raises `ChatClientError` with the server's reason if the topic
        is refused.
        """
        self._subscribe(room_topic(room_id))
        if since is None:
            since = int(self.history(room_id, None, 1).seq)
        with self._follow_lock:
            self._seen_seq[room_id] = max(since, self._seen_seq.get(room_id, 0))

    def unfollow(self, room_id: int) -> None:
        topic = room_topic(room_id)
        with self._follow_lock:
            self._topics.discard(topic)
            self._seen_seq.pop(room_id, None)
        self.socket.unsubscribe(topic)

    def follow_me(self) -> None:
        """Receive this user's notifications (``room_added``, ``mention``, ``member``)."""
        self._subscribe(user_topic(self.principal))

    def _subscribe(self, topic: str) -> None:
        _topics, refused = self.socket.subscribe(topic)
        if topic in refused:
            raise ChatClientError(f"the socket refused {topic!r}: {refused[topic]}")
        with self._follow_lock:
            self._topics.add(topic)

    def keep_alive(self, every: float = 60.0) -> None:
        """Ping every ``every`` seconds (and now) so that others see this user online."""
        with self._presence_lock:
            self._ping_every = every
        self.ping()
        self._start_presence_thread()

    def watch_presence(self, users: Iterable[Principal], every: float = 30.0) -> None:
        """Poll the presence of ``users`` every ``every`` seconds and queue a ``presence``
        update when one comes online or goes offline (the first poll reports each)."""
        with self._presence_lock:
            for user in users:
                self._watched.setdefault(user, None)
            self._presence_every = every
            self._poll_now = True
        self._start_presence_thread()
        self._wake.set()

    def next_update(self, timeout: float | None = None) -> ChatUpdate | None:
        """The next live update, or None after ``timeout`` seconds (None: wait forever).

        Raises `SocketError` once the socket has closed and every update was read.
        """
        try:
            item = self._updates.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is _CLOSED:
            self._updates.put(_CLOSED)
            raise SocketError(f"the chat socket is closed: {self.socket.closed_reason}")
        assert isinstance(item, ChatUpdate)
        return item

    def updates(self, timeout: float | None = None) -> Iterator[ChatUpdate]:
        """Live updates as they come; stops after ``timeout`` seconds without one."""
        while (update := self.next_update(timeout)) is not None:
            yield update

    # -- background threads -----------------------------------------------------------------

    def _pump_events(self) -> None:
        try:
            while True:
                try:
                    for event in self.socket.events():
                        decoded = decode_event(event.value)
                        if not self._note_seq(decoded):
                            continue  # already queued by a catch-up
                        self._updates.put(ChatUpdate(event.topic, decoded.tag, decoded.value,
                                                     event.height))
                except SocketError:
                    pass
                if self._stop.is_set() or self._reconnect is None or not self._reopen():
                    return
        finally:
            self._updates.put(_CLOSED)

    def _note_seq(self, event: ChatEvent) -> bool:
        """Record a live event's room ``seq``; False if a catch-up already covered it."""
        seq = getattr(event.value, "seq", None)
        room = getattr(event.value, "room_id", None)
        if seq is None or room is None:
            return True
        with self._follow_lock:
            seen = self._seen_seq.get(int(room))
            if seen is None:
                return True
            if int(seq) <= seen:
                return False
            self._seen_seq[int(room)] = int(seq)
            return True

    def _reopen(self) -> bool:
        """Reopen the socket, subscribe again and queue what the followed rooms missed;
        False when the client was closed first."""
        assert self._reconnect is not None
        reason = self.socket.closed_reason
        # A resync close (the client fell behind its events) calls for catching up now,
        # as the page does; any other drop backs off.
        delay = 0.0 if self.socket.resync is not None else self._reconnect.first_delay
        while not self._stop.is_set():
            logger.info("chat socket lost (%s); reconnecting in %g s", reason, delay)
            if self._stop.wait(delay):
                return False
            try:
                socket = self._reconnect.open_socket()
            except AgentError as exc:
                reason = str(exc)
                delay = min(max(delay * 2, self._reconnect.first_delay), self._reconnect.max_delay)
                continue
            old, self.socket = self.socket, socket
            old.agent.close()
            try:
                self._resume()
            except AgentError as exc:  # the new socket dropped too: start over
                reason = str(exc)
                continue
            self._wake.set()
            return True
        return False

    def _resume(self) -> None:
        with self._follow_lock:
            topics = sorted(self._topics)
            rooms = dict(self._seen_seq)
        if topics:
            _subscribed, refused = self.socket.subscribe(*topics)
            for topic, why in refused.items():
                logger.warning("chat socket: %s refused after reconnecting: %s", topic, why)
                with self._follow_lock:
                    self._topics.discard(topic)
        self.reconnects += 1
        self._updates.put(ChatUpdate("connection", "reconnected", self.reconnects))
        for room_id, since in rooms.items():
            if room_topic(room_id) not in self._topics:
                continue
            events, now = self.catch_up(room_id, since)
            for event in events:
                self._updates.put(ChatUpdate(room_topic(room_id), event.tag, event.value))
            with self._follow_lock:
                if room_id in self._seen_seq:
                    self._seen_seq[room_id] = max(self._seen_seq[room_id], now)

    def _start_presence_thread(self) -> None:
        with self._presence_lock:
            if self._presence_thread is None:
                self._presence_thread = threading.Thread(
                    target=self._presence_loop, name="chat-presence", daemon=True)
                self._presence_thread.start()

    def _presence_loop(self) -> None:
        next_ping = next_poll = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            with self._presence_lock:
                ping_every, poll_every = self._ping_every, self._presence_every
                watched, poll_now, self._poll_now = list(self._watched), self._poll_now, False
            try:
                if ping_every is not None and now >= next_ping:
                    if next_ping:  # keep_alive pinged once itself
                        self.ping()
                    next_ping = now + ping_every
                if watched and (poll_now or now >= next_poll):
                    self._poll_presence(watched)
                    next_poll = now + poll_every
            except AgentError as exc:
                if self._stop.is_set():
                    return
                if self._reconnect is None and self.socket.closed_reason:
                    return
                logger.warning("chat presence: %s (retrying in %g s)", exc, poll_every)
                next_poll = now + poll_every
            deadlines = [next_poll] if watched else []
            if ping_every is not None:
                deadlines.append(next_ping)
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            self._wake.wait(wait)
            self._wake.clear()

    def _poll_presence(self, users: list[Principal]) -> None:
        for start in range(0, len(users), 200):
            for seen in self.presence(users[start:start + 200]):
                with self._presence_lock:
                    before = self._watched.get(seen.user)
                    self._watched[seen.user] = seen.online
                if before is None or before != seen.online:
                    self._updates.put(ChatUpdate("presence", "presence", seen))
