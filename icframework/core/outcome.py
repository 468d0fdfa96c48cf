"""The message outcome of the canister ABI: a Python canister's reply and effects in one blob.

How it works: the ABI's hot exports (``call-method``, ``call-callback``, docs/abi.md)
answer one ``blob`` instead of crossing the component boundary once per key-value write
and event, because every crossing costs the guest thousands of instructions. The blob
is built inside the canister by `encode_outcome` (or the SDK's own fast paths, which
write the same bytes) and read by the replica with `decode_outcome`; both sides import
this module (it is pure standard library, bundled into the runtime). Integers are
little-endian ``u32``.

::

    outcome = effect* reply?
    reply   = 0x01 data                                       the rest of the blob
    effect  = 0x02 key length:u32 key value length:u32 value   put
            | 0x03 key length:u32 key                          delete
            | 0x04 topic length:u32 topic (UTF-8) value length:u32 value   event

An empty blob is a message that neither replied (yet) nor had effects. The reply comes
last and runs to the end, so a reply alone is ``0x01`` and the reply, and a message with
effects is its effects followed by that same reply record: the guest builds either with
one concatenation, never measuring the reply. Writes come in the order the canister
applies them (a later write of a key wins); events in publish order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "NO_OUTCOME",
    "REPLY",
    "MessageOutcome",
    "OutcomeError",
    "decode_outcome",
    "delete_record",
    "encode_outcome",
    "put_record",
]

NO_OUTCOME = b""
"""The outcome of a message that neither replied nor had effects."""

REPLY = b"\x01"
"""The tag of the reply record: ``REPLY + data`` is the outcome of a reply alone."""

_REPLY = 0x01
_PUT = 0x02
_DELETE = 0x03
_EVENT = 0x04
_U32 = struct.Struct("<I")
_TAG_U32 = struct.Struct("<BI")
_pack_u32 = _U32.pack
_pack_tag = _TAG_U32.pack


class OutcomeError(ValueError):
    """A malformed outcome blob (names the offset and what was expected there)."""


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """A decoded outcome: the reply (or None), key-value writes (value None: delete), events."""

    reply: bytes | None
    writes: list[tuple[bytes, bytes | None]]
    events: list[tuple[str, bytes]]


def put_record(key: bytes, value: bytes) -> bytes:
    """The effect record that stores ``value`` under ``key``."""
    return b"".join((_pack_tag(_PUT, len(key)), key, _pack_u32(len(value)), value))


def delete_record(key: bytes) -> bytes:
    """The effect record that removes ``key``."""
    return _pack_tag(_DELETE, len(key)) + key


def encode_outcome(
    reply: bytes | None,
    writes: list[tuple[bytes, bytes | None]] | None = None,
    events: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """The outcome blob of a message (see the module docstring)."""
    if not writes and not events:
        return NO_OUTCOME if reply is None else REPLY + reply
    parts: list[bytes] = []
    append = parts.append
    for key, value in writes or ():
        if value is None:
            append(_pack_tag(_DELETE, len(key)))
            append(key)
        else:
            append(_pack_tag(_PUT, len(key)))
            append(key)
            append(_pack_u32(len(value)))
            append(value)
    for topic, data in events or ():
        name = topic.encode("utf-8")
        append(_pack_tag(_EVENT, len(name)))
        append(name)
        append(_pack_u32(len(data)))
        append(data)
    if reply is not None:
        append(REPLY)
        append(reply)
    return b"".join(parts)


def decode_outcome(blob: bytes) -> MessageOutcome:
    """Read an outcome blob; raises `OutcomeError` if it is malformed."""
    if blob[:1] == REPLY:
        return MessageOutcome(blob[1:], [], [])
    view = memoryview(blob)
    p = 0
    reply = None
    writes: list[tuple[bytes, bytes | None]] = []
    events: list[tuple[str, bytes]] = []
    end = len(blob)
    while p < end:
        tag = blob[p]
        p += 1
        if tag == _REPLY:
            reply = bytes(view[p:])
            break
        if tag in (_PUT, _DELETE):
            size, p = _length(blob, p, "key")
            key, p = _take(view, p, size, "key")
            if tag == _DELETE:
                writes.append((key, None))
                continue
            size, p = _length(blob, p, "value")
            value, p = _take(view, p, size, "value")
            writes.append((key, value))
        elif tag == _EVENT:
            size, p = _length(blob, p, "topic")
            raw, p = _take(view, p, size, "topic")
            size, p = _length(blob, p, "event value")
            data, p = _take(view, p, size, "event value")
            try:
                topic = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OutcomeError(f"event topic before offset {p} is not UTF-8") from None
            events.append((topic, data))
        else:
            raise OutcomeError(
                f"unknown record tag 0x{tag:02x} at offset {p - 1}: expected 0x01 (reply), "
                "0x02 (put), 0x03 (delete) or 0x04 (event)"
            )
    return MessageOutcome(reply, writes, events)


def _length(blob: bytes, p: int, what: str) -> tuple[int, int]:
    if p + 4 > len(blob):
        raise OutcomeError(f"truncated {what} length at offset {p}")
    return _U32.unpack_from(blob, p)[0], p + 4


def _take(view: memoryview, p: int, size: int, what: str) -> tuple[bytes, int]:
    if p + size > len(view):
        raise OutcomeError(
            f"truncated {what} at offset {p}: {size} byte(s) announced, {len(view) - p} left"
        )
    return bytes(view[p:p + size]), p + size
