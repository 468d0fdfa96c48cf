"""Typed events: what ``ic.publish(topic, value)`` sends to subscribers.

An event is a topic (text, at most `MAX_TOPIC_BYTES` bytes of UTF-8) and a Candid
message holding one value. The value's Candid type comes from ``hint`` or, without
one, from the value's own class (a dataclass, an Enum, ``str``, ``int``, ``bool``,
``float``, `Principal`); `bytes` without a hint is taken to be Candid already and sent
as is. Events leave the canister only if the message commits (never from queries,
rejects or traps); the replica hands them to its event listeners in commit order.

Events are a feature of the local replica: on the IC target `publish` fails
(docs/ic-target.md). Canister code meant for both targets asks `supported` first and
keeps what clients need in stable structures they can poll.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from icframework.candid import CandidError, CandidType, encode
from icframework.core import Principal
from icframework.sdk.backend import current_backend
from icframework.sdk.errors import SdkError
from icframework.sdk.types import Converter, TypeMapper

__all__ = ["MAX_TOPIC_BYTES", "encode_event", "supported"]

MAX_TOPIC_BYTES = 256

_CODECS: dict[Any, tuple[tuple[CandidType, ...], Converter | None]] = {}
_INFERRED = (str, int, bool, float, Principal)


def supported() -> bool:
    """Whether ``ic.publish`` delivers events on the installed backend: True everywhere
    but on the IC target, whose backend declares ``publishes_events = False`` (see
    `icframework.sdk.backend.Backend.publish`)."""
    return bool(getattr(current_backend(), "publishes_events", True))


def _codec(hint: Any) -> tuple[tuple[CandidType, ...], Converter | None]:
    codec = _CODECS.get(hint)
    if codec is None:
        info = TypeMapper().info(hint)
        codec = _CODECS[hint] = ((info.candid,), info.to_wire)
    return codec


def encode_event(value: Any, hint: Any = None) -> bytes:
    """The Candid bytes of an event ``value`` (see the module docstring)."""
    if hint is None:
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value)
        cls = type(value)
        if dataclasses.is_dataclass(cls) or issubclass(cls, enum.Enum) or cls in _INFERRED:
            hint = cls
        else:
            raise SdkError(
                f"cannot infer the Candid type of a {cls.__name__} event; pass its type "
                "hint: ic.publish(topic, value, list[Message])"
            )
    types, to_wire = _codec(hint)
    try:
        return encode(types, (value if to_wire is None else to_wire(value),))
    except CandidError as exc:
        raise SdkError(f"the event value does not match its type {hint!r}: {exc}") from None


def check_topic(topic: str) -> str:
    """``topic`` if it is a valid event topic; raises `SdkError` naming the problem."""
    if not isinstance(topic, str) or not topic:
        raise SdkError(f"an event topic must be a non-empty str, not {topic!r}")
    if len(topic.encode("utf-8")) > MAX_TOPIC_BYTES:
        raise SdkError(f"event topic {topic[:40]!r}... is longer than {MAX_TOPIC_BYTES} bytes")
    return topic
