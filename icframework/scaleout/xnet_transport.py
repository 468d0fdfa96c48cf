"""XNet over the broker: a writer's committed stream slices, sent to their destinations' queues.

`SlicePusher` decides, after each committed round, what to send to each peer subnet
(``send(destination, slice_cbor)``, a task on queue ``subnet.<destination>``):

- the messages committed since the last push (only committed ones: the slices come
  from ``Subnet.outgoing_slices``, which reads what the last commit recorded), with this
  subnet's signal for the reverse stream;
- a signal-only (empty) slice when the signal moved (the destination then drops the
  messages this subnet inducted: garbage collection), or when a peer sent messages
  this subnet already had (its signal was lost or is late);
- every ``resend_after_s`` while a stream keeps messages the destination has not
  acknowledged, the whole unacknowledged part again: a lost broker message (or a
  destination that crashed before committing an induction) is made up for. The
  destination inducts by stream index, so a message arriving twice is inducted once.

A writer that starts (or takes over) knows nothing sent yet, so its first push resends
every unacknowledged message. Sans-IO apart from ``send``; the clock is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cbor2

from icframework.replica import StreamSlice

__all__ = ["SlicePusher", "decode_slice", "encode_slice"]


def encode_slice(piece: StreamSlice) -> bytes:
    return cbor2.dumps(piece.to_data())


def decode_slice(data: bytes) -> StreamSlice:
    return StreamSlice.from_data(cbor2.loads(data))


@dataclass(slots=True)
class _Peer:
    sent_end: int = -1
    sent_signal: int = -1
    last_full: float = float("-inf")
    signal_wanted: bool = False


class SlicePusher:
    """Sends committed slices to their destinations (see the module docstring)."""

    def __init__(self, send: Callable[[str, bytes], None], *, resend_after_s: float = 1.0) -> None:
        self.send = send
        self.resend_after_s = resend_after_s
        self.peers: dict[str, _Peer] = {}
        self.sent = 0
        """Slices sent so far."""
        self.resent = 0
        """Of those, periodic resends of unacknowledged messages."""

    def want_signal(self, peer: str) -> None:
        """Send ``peer`` this subnet's signal with the next push (it resent messages)."""
        self.peers.setdefault(peer, _Peer()).signal_wanted = True

    def push(self, slices: Iterable[StreamSlice], now: float) -> int:
        """Send what the peers need of ``slices`` (each from the oldest unacknowledged
        message, as ``Subnet.outgoing_slices()`` gives them); return how many were sent."""
        count = 0
        for piece in slices:
            peer = self.peers.setdefault(piece.destination, _Peer())
            out: StreamSlice | None = None
            if piece.messages and now - peer.last_full >= self.resend_after_s:
                if peer.sent_end >= piece.end:
                    self.resent += 1
                out = piece
                peer.last_full = now
            elif piece.end > peer.sent_end and piece.messages:
                start = max(peer.sent_end, piece.begin)
                out = StreamSlice(piece.source, piece.destination, start,
                                  piece.messages[start - piece.begin:], piece.signal)
            elif piece.signal != peer.sent_signal or peer.signal_wanted:
                out = StreamSlice(piece.source, piece.destination, piece.end, (), piece.signal)
            if out is None:
                continue
            self.send(piece.destination, encode_slice(out))
            peer.sent_end = max(peer.sent_end, piece.end)
            peer.sent_signal = piece.signal
            peer.signal_wanted = False
            count += 1
        self.sent += count
        return count
