"""Cross-subnet (XNet) streams: ordered, exactly-once message delivery between subnets.

Sans-IO: this module keeps the numbers and the messages; moving slices between
subnets is the transport's job (`replica.cluster` in one process, broker tasks in a
scale-out deployment), and committing them is the subnet's (`replica.subnet`).

How it works, as on the IC: every subnet keeps one outgoing `Stream` per destination
subnet. A message for a canister on another subnet (a request, or the response to a
call that came from there) is pushed to the end of that stream and numbered by its
`StreamIndex`. The transport carries a `StreamSlice` of the stream (the source's name,
the index of its first message, the messages, and the source's *signal* for the reverse
direction) to the destination. The destination keeps, per source, the index it expects
next (`expected`); it inducts only messages at or after that index (so a redelivered or
older slice adds nothing) and refuses a slice that starts after it (`StreamGapError`:
the transport resends from the expected index). The expected index travels back as the
destination's signal in its own slices, and the source drops the messages below it
(`Stream.gc`): a message stays in the stream until the destination has committed its
induction. Only committed numbers leave a subnet (`XNetState.slices` reads what the
last `write_changes` recorded), so a destination that crashes before committing an
induction gets the messages again and a source never drops a message that a crash
could lose.

State in the subnet's key/value store, committed with the round (`write_changes`):
``xnet_out`` ``<destination>`` → ``[begin, end]``; ``xnet_msg`` ``<destination> 0x00
<index: 8 bytes big-endian>`` → one message; ``xnet_in`` ``<source>`` → the expected
index.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import cbor2

from icframework.candid import PRINCIPAL, CandidError, Field, Record
from icframework.candid.binary import decode
from icframework.replica.errors import ReplicaError
from icframework.replica.messages import Request, Response
from icframework.replica.store import RoundChanges, StateStore

__all__ = [
    "Routing",
    "Stream",
    "StreamGapError",
    "StreamIndex",
    "StreamSlice",
    "XNetError",
    "XNetMessage",
    "XNetState",
    "management_target",
    "message_from_data",
    "message_to_data",
]

StreamIndex = int
"""The position of a message in the stream of one (source, destination) pair, from 0."""

XNetMessage = Request | Response

_KV_STREAMS = "xnet_out"
_KV_MESSAGES = "xnet_msg"
_KV_EXPECTED = "xnet_in"


class XNetError(ReplicaError):
    """A slice or signal that does not fit the streams it claims to continue."""


class StreamGapError(XNetError):
    """A slice starts after the index the destination expects: resend from ``expected``."""

    def __init__(self, source: str, expected: StreamIndex, begin: StreamIndex) -> None:
        self.source = source
        self.expected = expected
        self.begin = begin
        super().__init__(
            f"slice from subnet {source!r} starts at stream index {begin}, but index "
            f"{expected} is the next one expected: resend the stream from index {expected}"
        )


class Routing(Protocol):
    """Which subnet hosts a canister (`replica.registry.RoutingTable` has this method)."""

    def subnet_of(self, canister_id: bytes) -> str | None:
        """The name of the subnet whose canister range holds ``canister_id``, or None."""


_TARGETED = frozenset({
    "canister_info", "canister_status", "clear_chunk_store", "delete_canister",
    "delete_canister_snapshot", "deposit_cycles", "fetch_canister_logs", "install_code",
    "list_canister_snapshots", "load_canister_snapshot", "provisional_top_up_canister",
    "start_canister", "stop_canister", "stored_chunks", "take_canister_snapshot",
    "uninstall_code", "update_settings", "upload_chunk",
})
"""Management methods whose argument names the canister they act on (``canister_id``)."""
_TARGET = Record([Field("canister_id", PRINCIPAL)])


def management_target(method: str, arg: bytes) -> bytes | None:
    """The canister a management canister call acts on (its ``canister_id``), for the
    methods that name one; None for the others and for an argument that does not decode
    (the management canister of the caller's subnet then answers it). As on the IC, a
    canister's call to ``aaaaa-aa`` goes to the subnet hosting that canister."""
    if method not in _TARGETED:
        return None
    try:
        (value,) = decode(arg, [_TARGET])
    except (CandidError, ValueError):
        return None
    return bytes(value["canister_id"].raw)


def message_to_data(message: XNetMessage) -> list[Any]:
    """A request or response as CBOR-able data (`messages.Request.to_data` tagged)."""
    return ["req" if isinstance(message, Request) else "resp", message.to_data()]


def message_from_data(data: Any) -> XNetMessage:
    """The inverse of `message_to_data`."""
    kind, body = data
    if kind == "req":
        return Request.from_data(body)
    if kind == "resp":
        return Response.from_data(body)
    raise XNetError(f"stream message of kind {kind!r}: expected 'req' or 'resp'")


def _message_bytes(message: XNetMessage) -> int:
    return len(cbor2.dumps(message_to_data(message)))


@dataclass(slots=True)
class Stream:
    """The outgoing messages of one subnet to one other subnet, numbered from ``begin``.

    ``begin`` is the index of the oldest message kept (all below it were acknowledged by
    the destination's signal); ``end`` the index the next pushed message gets.
    """

    begin: StreamIndex = 0
    messages: deque[XNetMessage] = field(default_factory=deque)

    @property
    def end(self) -> StreamIndex:
        return self.begin + len(self.messages)

    def push(self, message: XNetMessage) -> StreamIndex:
        """Append ``message``; return its index."""
        self.messages.append(message)
        return self.end - 1

    def get(self, index: StreamIndex) -> XNetMessage:
        """The message at ``index`` (kept: ``begin <= index < end``)."""
        if not self.begin <= index < self.end:
            raise XNetError(f"stream index {index} is outside the kept messages "
                            f"[{self.begin}, {self.end})")
        return self.messages[index - self.begin]

    def slice(self, from_index: StreamIndex, *, upto: StreamIndex | None = None,
              max_messages: int | None = None,
              max_bytes: int | None = None) -> tuple[StreamIndex, list[XNetMessage]]:
        """The messages from ``from_index`` (at least ``begin``) up to ``upto`` (default
        ``end``), at most ``max_messages`` and about ``max_bytes`` of encoded messages
        (always at least one message when there is one); with the index of the first.
        """
        stop = self.end if upto is None else min(upto, self.end)
        start = min(max(from_index, self.begin), max(stop, self.begin))
        taken: list[XNetMessage] = []
        size = 0
        for index in range(start, stop):
            if max_messages is not None and len(taken) >= max_messages:
                break
            message = self.messages[index - self.begin]
            if max_bytes is not None and taken:
                size += _message_bytes(message)
                if size > max_bytes:
                    break
            elif max_bytes is not None:
                size = _message_bytes(message)
            taken.append(message)
        return start, taken

    def gc(self, signal: StreamIndex) -> int:
        """Drop the messages below ``signal`` (the destination inducted them); return how
        many were dropped. A signal beyond ``end`` acknowledges messages never sent."""
        if signal > self.end:
            raise XNetError(f"signal {signal} acknowledges messages up to index {signal}, but "
                            f"the stream ends at {self.end}: the signal belongs to another "
                            "stream or the source lost committed state")
        dropped = 0
        while self.begin < signal:
            self.messages.popleft()
            self.begin += 1
            dropped += 1
        return dropped


@dataclass(frozen=True, slots=True)
class StreamSlice:
    """Part of the stream ``source`` → ``destination``: ``messages`` numbered from
    ``begin``, and ``signal``, the index the source expects next from ``destination``
    (everything below it is inducted and committed there)."""

    source: str
    destination: str
    begin: StreamIndex
    messages: tuple[XNetMessage, ...]
    signal: StreamIndex

    @property
    def end(self) -> StreamIndex:
        return self.begin + len(self.messages)

    def to_data(self) -> list[Any]:
        return [self.source, self.destination, self.begin,
                [message_to_data(m) for m in self.messages], self.signal]

    @classmethod
    def from_data(cls, data: Any) -> StreamSlice:
        try:
            source, destination, begin, messages, signal = data
            return cls(str(source), str(destination), int(begin),
                       tuple(message_from_data(m) for m in messages), int(signal))
        except (TypeError, ValueError) as exc:
            raise XNetError(f"malformed stream slice: {exc}") from exc


@dataclass(slots=True)
class _Pending:
    """Messages of one source accepted by `XNetState.accept`, not yet inducted."""

    next_index: StreamIndex
    messages: list[XNetMessage] = field(default_factory=list)


class XNetState:
    """A subnet's XNet streams: outgoing per destination, expected index per source.

    ``name`` is this subnet's name. `push` during a round; `write_changes` when the
    round commits; `slices` for the transport; `accept` for a slice that arrives;
    `take_accepted` when the next round inducts. See the module docstring.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.streams: dict[str, Stream] = {}
        self.expected: dict[str, StreamIndex] = {}
        """Per source, the next index to induct (advanced by `take_accepted`)."""
        self._pending: dict[str, _Pending] = {}
        self._committed_end: dict[str, StreamIndex] = {}
        self._committed_expected: dict[str, StreamIndex] = {}
        self._stored: dict[str, tuple[StreamIndex, StreamIndex]] = {}
        self._dirty_streams: set[str] = set()
        self._dirty_expected: set[str] = set()
        self.dropped = 0
        """Inducted messages the subnet dropped as forged (since this object was made)."""

    # -- loading and committing -----------------------------------------------------------

    def load(self, store: StateStore) -> None:
        """Read the committed streams and expected indices."""
        messages: dict[str, dict[StreamIndex, XNetMessage]] = {}
        for key, value in store.kv_scan(_KV_MESSAGES):
            peer, index = key[:-9].decode(), int.from_bytes(key[-8:], "big")
            messages.setdefault(peer, {})[index] = message_from_data(cbor2.loads(value))
        for raw_name, value in store.kv_scan(_KV_STREAMS):
            name = raw_name.decode()
            begin, end = cbor2.loads(value)
            kept = messages.get(name, {})
            try:
                stream = Stream(begin, deque(kept[i] for i in range(begin, end)))
            except KeyError as exc:
                raise XNetError(f"stream to {name!r} misses message {exc} of [{begin}, {end}) "
                                "in the store") from exc
            self.streams[name] = stream
            self._stored[name] = (begin, end)
            self._committed_end[name] = end
        for key, value in store.kv_scan(_KV_EXPECTED):
            self.expected[key.decode()] = int(cbor2.loads(value))
        self._committed_expected = dict(self.expected)

    def write_changes(self, changes: RoundChanges) -> None:
        """Put the streams and expected indices changed since the last call into ``changes``."""
        for name in self._dirty_streams:
            stream = self.streams[name]
            old_begin, old_end = self._stored.get(name, (stream.begin, stream.begin))
            prefix = name.encode() + b"\x00"
            for index in range(old_begin, min(stream.begin, old_end)):
                changes.kv_deletes.add((_KV_MESSAGES, prefix + index.to_bytes(8, "big")))
            for index in range(max(old_end, stream.begin), stream.end):
                changes.kv_puts[(_KV_MESSAGES, prefix + index.to_bytes(8, "big"))] = \
                    cbor2.dumps(message_to_data(stream.messages[index - stream.begin]))
            changes.kv_puts[(_KV_STREAMS, name.encode())] = cbor2.dumps(
                [stream.begin, stream.end])
            self._stored[name] = (stream.begin, stream.end)
            self._committed_end[name] = stream.end
        for name in self._dirty_expected:
            changes.kv_puts[(_KV_EXPECTED, name.encode())] = cbor2.dumps(self.expected[name])
            self._committed_expected[name] = self.expected[name]
        self._dirty_streams.clear()
        self._dirty_expected.clear()

    # -- the sending side --------------------------------------------------------------------

    def push(self, destination: str, message: XNetMessage) -> StreamIndex:
        """Append ``message`` to the stream to ``destination``; return its index."""
        if destination == self.name:
            raise XNetError(f"subnet {self.name!r} cannot stream a message to itself")
        stream = self.streams.setdefault(destination, Stream())
        self._dirty_streams.add(destination)
        return stream.push(message)

    def peers(self) -> list[str]:
        """The subnets this one has a stream to or from."""
        return sorted(set(self.streams) | set(self.expected))

    def slices(self, since: Mapping[str, StreamIndex] | None = None, *,
               max_messages: int | None = None,
               max_bytes: int | None = None) -> list[StreamSlice]:
        """One slice per peer of the committed messages from ``since[peer]`` (default: the
        oldest kept), with this subnet's committed signal for the peer's stream."""
        since = since or {}
        out = []
        for peer in self.peers():
            stream = self.streams.get(peer, Stream())
            begin, messages = stream.slice(
                since.get(peer, stream.begin), upto=self._committed_end.get(peer, 0),
                max_messages=max_messages, max_bytes=max_bytes)
            out.append(StreamSlice(self.name, peer, begin, tuple(messages),
                                   self._committed_expected.get(peer, 0)))
        return out

    def signals(self) -> dict[str, StreamIndex]:
        """Per source, the committed index expected next (what this subnet acknowledges)."""
        return dict(self._committed_expected)

    # -- the receiving side ------------------------------------------------------------------

    def accept(self, piece: StreamSlice) -> list[XNetMessage]:
        """Take the new messages of ``piece`` for induction and apply its signal to the
        reverse stream; return the new messages (none for a duplicate or an old slice).

        Raises `StreamGapError` (nothing taken) if the slice has messages and starts
        after the next expected index (an empty slice only carries its signal);
        `XNetError` if it is addressed to another subnet or its signal acknowledges
        messages never sent.
        """
        if piece.destination != self.name:
            raise XNetError(f"slice from {piece.source!r} is addressed to subnet "
                            f"{piece.destination!r}, not to {self.name!r}")
        if piece.source == self.name:
            raise XNetError(f"subnet {self.name!r} received a slice from itself")
        pending = self._pending.get(piece.source)
        next_index = (pending.next_index if pending is not None
                      else self.expected.get(piece.source, 0))
        if piece.begin > next_index and piece.messages:
            raise StreamGapError(piece.source, next_index, piece.begin)
        stream = self.streams.get(piece.source)
        if stream is not None:
            if stream.gc(piece.signal):
                self._dirty_streams.add(piece.source)
        elif piece.signal > 0:
            raise XNetError(f"signal {piece.signal} from {piece.source!r} acknowledges a "
                            "stream this subnet never had")
        new = list(piece.messages[next_index - piece.begin:]) if piece.messages else []
        if new:
            if pending is None:
                pending = self._pending[piece.source] = _Pending(next_index)
            pending.messages.extend(new)
            pending.next_index += len(new)
        return new

    def has_accepted(self) -> bool:
        """True while accepted messages wait for `take_accepted`."""
        return bool(self._pending)

    def take_accepted(self) -> Iterator[tuple[str, XNetMessage]]:
        """The accepted messages, per source in stream order, advancing ``expected``."""
        pending, self._pending = self._pending, {}
        for source in sorted(pending):
            self.expected[source] = pending[source].next_index
            self._dirty_expected.add(source)
            for message in pending[source].messages:
                yield source, message

    def forget_accepted(self) -> None:
        """Drop what `accept` took but was not inducted (the subnet reloads)."""
        self._pending.clear()

