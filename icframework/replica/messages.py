"""Messages flowing through a subnet: requests, responses, call contexts and callbacks.

A `Request` is what a canister receives (from ingress, another canister, or the
subnet itself); its `CallOrigin` says where the eventual response goes. A canister
answers through its `CallContext`; calls it makes register a `Callback` that the
matching `Response` later runs. All amounts are cycles; times are nanoseconds.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from icframework.core import ErrorCode, RejectCode


class OriginKind(enum.Enum):
    INGRESS = "ingress"
    CANISTER = "canister"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class CallOrigin:
    """Where a response goes: an ingress request id, or a callback of a calling canister."""

    kind: OriginKind
    request_id: bytes = b""
    canister_id: bytes = b""
    callback_id: int = 0

    def to_data(self) -> list[Any]:
        return [self.kind.value, self.request_id, self.canister_id, self.callback_id]

    @classmethod
    def from_data(cls, data: Any) -> CallOrigin:
        kind, request_id, canister_id, callback_id = data
        return cls(OriginKind(kind), bytes(request_id), bytes(canister_id), int(callback_id))


@dataclass(frozen=True, slots=True)
class RejectInfo:
    """A reject as the protocol shows it: code class, message, and IC0xxx detail."""

    code: RejectCode
    message: str
    error_code: ErrorCode | None = None

    def to_data(self) -> list[Any]:
        return [int(self.code), self.message, int(self.error_code) if self.error_code else 0]

    @classmethod
    def from_data(cls, data: Any) -> RejectInfo:
        code, message, error_code = data
        return cls(RejectCode(code), message, ErrorCode(error_code) if error_code else None)


@dataclass(frozen=True, slots=True)
class Request:
    """A call delivered to ``receiver``; ``cycles`` are attached by the sender."""

    sender: bytes
    receiver: bytes
    method: str
    arg: bytes
    origin: CallOrigin
    cycles: int = 0

    def to_data(self) -> list[Any]:
        return [self.sender, self.receiver, self.method, self.arg, self.origin.to_data(),
                self.cycles]

    @classmethod
    def from_data(cls, data: Any) -> Request:
        sender, receiver, method, arg, origin, cycles = data
        return cls(bytes(sender), bytes(receiver), method, bytes(arg),
                   CallOrigin.from_data(origin), int(cycles))


@dataclass(frozen=True, slots=True)
class Response:
    """The answer to a `Request`: a reply payload or a reject, plus refunded cycles."""

    origin: CallOrigin
    reply: bytes | None = None
    reject: RejectInfo | None = None
    refund: int = 0
    respondent: bytes = b""

    def to_data(self) -> list[Any]:
        return [self.origin.to_data(), self.reply,
                self.reject.to_data() if self.reject else None, self.refund, self.respondent]

    @classmethod
    def from_data(cls, data: Any) -> Response:
        origin, reply, reject, refund, respondent = data
        return cls(CallOrigin.from_data(origin), None if reply is None else bytes(reply),
                   None if reject is None else RejectInfo.from_data(reject), int(refund),
                   bytes(respondent))


@dataclass(slots=True)
class CallContext:
    """An open call to a canister that has not yet been answered (or has open callbacks)."""

    id: int
    origin: CallOrigin
    caller: bytes
    method: str
    cycles_available: int = 0
    responded: bool = False
    outstanding: int = 0
    instructions: int = 0

    def to_data(self) -> list[Any]:
        return [self.id, self.origin.to_data(), self.caller, self.method,
                self.cycles_available, self.responded, self.outstanding, self.instructions]

    @classmethod
    def from_data(cls, data: Any) -> CallContext:
        (id_, origin, caller, method, available, responded, outstanding,
         instructions) = data
        return cls(int(id_), CallOrigin.from_data(origin), bytes(caller), method,
                   int(available), bool(responded), int(outstanding), int(instructions))


@dataclass(slots=True)
class Callback:
    """What to run when the response to a call made from ``call_context_id`` arrives."""

    id: int
    call_context_id: int
    callee: bytes
    reply: tuple[int, int]
    reject: tuple[int, int]
    cleanup: tuple[int, int] | None = None
    cycles_sent: int = 0
    reserved_fee: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_data(self) -> list[Any]:
        return [self.id, self.call_context_id, self.callee, list(self.reply), list(self.reject),
                list(self.cleanup) if self.cleanup else None, self.cycles_sent,
                self.reserved_fee, self.extra]

    @classmethod
    def from_data(cls, data: Any) -> Callback:
        (id_, context_id, callee, reply, reject, cleanup, sent, reserved, extra) = data
        return cls(int(id_), int(context_id), bytes(callee), (int(reply[0]), int(reply[1])),
                   (int(reject[0]), int(reject[1])),
                   (int(cleanup[0]), int(cleanup[1])) if cleanup else None, int(sent),
                   int(reserved), dict(extra))


@dataclass(frozen=True, slots=True)
class IngressMessage:
    """An accepted ingress call waiting for induction (``expiry_ns`` from its envelope)."""

    request_id: bytes
    request: Request
    expiry_ns: int


class IngressQueue(Protocol):
    """Where the HTTP front end leaves ingress for the subnet's execution loop.

    In the embedded default this is an in-process queue (`LocalIngressQueue`); a
    scale-out deployment puts a broker queue here, so front ends and the execution
    worker can live in different processes.
    """

    def push(self, message: IngressMessage) -> None: ...

    def pop_all(self) -> list[IngressMessage]: ...

    def __len__(self) -> int: ...


class LocalIngressQueue:
    """`IngressQueue` inside one process (FIFO)."""

    def __init__(self) -> None:
        self._items: deque[IngressMessage] = deque()

    def push(self, message: IngressMessage) -> None:
        self._items.append(message)

    def pop_all(self) -> list[IngressMessage]:
        items = list(self._items)
        self._items.clear()
        return items

    def __len__(self) -> int:
        return len(self._items)
