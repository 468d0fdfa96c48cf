"""The message outcome of the canister ABI: a Python canister's reply and effects in one blob.

How it works: the ABI's hot exports (``call-method``, ``call-callback``, docs/abi.md)
answer one ``blob`` instead of crossing the component boundary once per key-value write
and event, because every crossing costs the guest thousands of instructions. The blob
is built inside the canister by `encode_outcome` and read by the replica with
`decode_outcome`; both sides import this module (it is pure standard library, bundled
into the runtime). Integers are little-endian ``u32``.

::

    outcome = flags:u8 rest
    flags 0x00            nothing follows: no reply (yet), no effects
    flags 0x01            the reply is the rest of the blob (the common case)
    flags 0x02            effects are the rest
    flags 0x03            reply length:u32, reply, then effects
    effect  = 0x01 key length:u32 key value length:u32 value    put
            | 0x02 key length:u32 key                           delete
            | 0x03 topic length:u32 topic (UTF-8) value length:u32 value   event

Writes come in the order the canister applies them; events in publish order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "NO_OUTCOME",
    "MessageOutcome",
    "OutcomeError",
    "decode_outcome",
    "encode_outcome",
]

NO_OUTCOME = b"\x00"
"""The outcome of a message that neither replied nor had effects."""

_REPLY = 0x01
_EFFECTS = 0x02
_PUT = 0x01
_DELETE = 0x02
_EVENT = 0x03
_U32 = struct.Struct("<I")
_TAG_U32 = struct.Struct("<BI")
_pack_u32 = _U32.pack
_pack_tag = _TAG_U32.pack
_REPLY_ONLY = bytes((_REPLY,))


class OutcomeError(ValueError):
    """A malformed outcome blob (names the offset and what was expected there)."""


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """A decoded outcome: the reply (or None), key-value writes (value None: delete), events."""

    reply: bytes | None
    writes: list[tuple[bytes, bytes | None]]
    events: list[tuple[str, bytes]]


def encode_outcome(
    reply: bytes | None,
    writes: list[tuple[bytes, bytes | None]] | None = None,
    events: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """The outcome blob of a message (see the module docstring)."""
    if not writes and not events:
        return NO_OUTCOME if reply is None else _REPLY_ONLY + reply
    parts = [b"\x02"] if reply is None else [b"\x03", _pack_u32(len(reply)), reply]
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
    return b"".join(parts)


def decode_outcome(blob: bytes) -> MessageOutcome:
    """Read an outcome blob; raises `OutcomeError` if it is malformed."""
    if not blob:
        raise OutcomeError("empty outcome: expected a flags byte at offset 0")
    flags = blob[0]
    if flags == _REPLY:
        return MessageOutcome(blob[1:], [], [])
    if flags == 0:
        if len(blob) != 1:
            raise OutcomeError(f"{len(blob) - 1} byte(s) after flags 0x00 at offset 1")
        return MessageOutcome(None, [], [])
    if flags not in (_EFFECTS, _REPLY | _EFFECTS):
        raise OutcomeError(f"unknown flags 0x{flags:02x} at offset 0: expected 0x00 to 0x03")
    view = memoryview(blob)
    p = 1
    reply = None
    if flags & _REPLY:
        size, p = _length(blob, p, "reply")
        reply, p = _take(view, p, size, "reply")
    writes: list[tuple[bytes, bytes | None]] = []
    events: list[tuple[str, bytes]] = []
    end = len(blob)
    while p < end:
        tag = blob[p]
        p += 1
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
                f"unknown effect tag 0x{tag:02x} at offset {p - 1}: expected 0x01 (put), "
                "0x02 (delete) or 0x03 (event)"
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
