"""Inter-canister calls: ``await`` another canister from an ``async def`` entry point.

How it works: a `Call` is an awaitable describing one request (callee, method, Candid
argument, attached cycles, how to read the reply). Awaiting it inside an ``async def``
entry point (or timer callback) yields it to the `Task` driving the coroutine. The task
hands it to the backend (``call_perform`` with a fresh callback id) and the message
ends there: **its state changes are committed at the ``await``**, exactly as on the IC,
and other messages may run before the response arrives. When it does, the runtime runs
a callback (kind ``reply_callback``/``reject_callback``, method = the callback id in
decimal) and `resume` continues the coroutine with the decoded reply, or throws
`CallRejected` into it. Each continuation is a new message: a trap after an ``await``
rolls back only the changes made since that ``await``.

Awaits are sequential (one call in flight per coroutine); there is no event loop, so
``asyncio`` primitives do not apply. The waiting coroutines live in the canister's
Python instance: if it is rebuilt while a call is in flight (after a trap in another
message, or a replica restart) the callback finds no coroutine and traps with a message
saying so (see docs/sdk.md, "Inter-canister calls").

Typed calls come from the callee's Candid interface: ``Service(canister_id, did_text)``
gives one method per service method, taking and returning Python values in the
`icframework.candid` value model.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import Any

from icframework.candid import CandidError, CandidType, Func, decode, encode, parse_did
from icframework.candid import Service as ServiceType
from icframework.candid.types import TypeRef
from icframework.core import Principal
from icframework.sdk import backend as _backend
from icframework.sdk.errors import CallRejected, ReplyDecodeError, SdkError

__all__ = [
    "DONE",
    "Call",
    "Done",
    "Pending",
    "Service",
    "Task",
    "call",
    "call_raw",
    "pending_callbacks",
    "resume",
]

EMPTY_ARG = b"DIDL\x00\x00"
REPLY_CALLBACK = "reply_callback"
REJECT_CALLBACK = "reject_callback"
CALLBACK_KINDS = frozenset({REPLY_CALLBACK, REJECT_CALLBACK})


def _principal(value: Principal | str | bytes) -> Principal:
    if isinstance(value, Principal):
        return value
    if isinstance(value, str):
        return Principal.from_text(value)
    if isinstance(value, bytes | bytearray):
        return Principal(bytes(value))
    raise SdkError(f"a canister id must be a Principal or its text form, not {value!r}")


class Call:
    """One inter-canister request; ``await`` it (once) inside an ``async def``.

    ``read`` turns the reply bytes into the awaited value (the raw bytes if None).
    """

    __slots__ = ("arg", "callee", "cycles", "method", "read")

    def __init__(
        self,
        callee: Principal,
        method: str,
        arg: bytes,
        *,
        cycles: int = 0,
        read: Callable[[bytes], Any] | None = None,
    ) -> None:
        if cycles < 0:
            raise SdkError(f"cannot attach a negative number of cycles ({cycles})")
        self.callee = callee
        self.method = method
        self.arg = arg
        self.cycles = cycles
        self.read = read

    def __await__(self) -> Generator[Call, Any, Any]:
        return (yield self)

    def __repr__(self) -> str:
        return f"<Call {self.callee}.{self.method} ({len(self.arg)} bytes, {self.cycles} cycles)>"


def call_raw(
    callee: Principal | str, method: str, arg: bytes = EMPTY_ARG, *, cycles: int = 0
) -> Call:
    """A call with a ready Candid argument; awaiting it gives the reply bytes."""
    return Call(_principal(callee), method, bytes(arg), cycles=cycles)


def call(
    callee: Principal | str,
    method: str,
    *args: Any,
    arg_types: tuple[Any, ...] = (),
    result: Any = None,
    cycles: int = 0,
) -> Call:
    """A call typed by Python hints: ``await call(ledger, "get", result=nat)``.

    ``arg_types`` are the hints of ``args`` (one each); ``result`` the hint of the single
    reply value (None: the reply is ignored, as for a ``() -> ()`` method).
    """
    from icframework.sdk.types import TypeMapper

    if len(arg_types) != len(args):
        raise SdkError(
            f"call to {method!r}: {len(args)} argument(s) but {len(arg_types)} arg_types; "
            "give one type hint per argument"
        )
    mapper = TypeMapper()
    infos = [mapper.info(hint) for hint in arg_types]
    values = [a if i.to_wire is None else i.to_wire(a) for a, i in zip(args, infos, strict=True)]
    try:
        arg = encode(tuple(i.candid for i in infos), values)
    except CandidError as exc:
        raise SdkError(f"call to {method!r}: the arguments do not match arg_types: {exc}") from None
    if result is None:
        return Call(_principal(callee), method, arg, cycles=cycles, read=_ignore)
    info = mapper.info(result)
    read = _reader(str(callee), method, (info.candid,), info.from_wire)
    return Call(_principal(callee), method, arg, cycles=cycles, read=read)


def _ignore(_data: bytes) -> None:
    return None


def _reader(
    callee: str, method: str, types: tuple[CandidType, ...],
    convert: Callable[[Any], Any] | None = None,
) -> Callable[[bytes], Any]:
    def read(data: bytes) -> Any:
        try:
            values = decode(data, types)
        except CandidError as exc:
            raise ReplyDecodeError(callee, method, str(exc)) from None
        if not values:
            return None
        if len(values) == 1:
            return values[0] if convert is None else convert(values[0])
        return tuple(values)

    return read


_PARSED_SERVICES: dict[str, dict[str, Func]] = {}
"""Method types by .did text: parsing a .did costs millions of instructions in a
canister, and a canister builds its clients from the same few texts again and again."""
_PARSED_SERVICES_MAX = 32


def _service_methods(did: str) -> dict[str, Func]:
    methods = _PARSED_SERVICES.get(did)
    if methods is not None:
        return methods
    service = parse_did(did).service
    if isinstance(service, TypeRef):
        service = service.resolve()
    if not isinstance(service, ServiceType):
        raise SdkError("the .did text declares no service; expected 'service : { ... }'")
    methods = {}
    for name, method_type in service.methods:
        func = method_type.resolve() if isinstance(method_type, TypeRef) else method_type
        if isinstance(func, Func):
            methods[name] = func
    if len(_PARSED_SERVICES) >= _PARSED_SERVICES_MAX:
        _PARSED_SERVICES.clear()
    _PARSED_SERVICES[did] = methods
    return methods


class Service:
    """A typed client of another canister, from its Candid interface.

    ``Service(canister_id, did)`` where ``did`` is the callee's .did text (its
    ``service : {...}``). Each method becomes an attribute returning an awaitable
    `Call`; arguments and results use the `icframework.candid` value model (records are
    dicts, or dataclasses when encoding; variants one-entry dicts). A method with one
    result gives that value, none gives None, several give a tuple.
    """

    def __init__(self, canister_id: Principal | str, did: str) -> None:
        self.canister_id = _principal(canister_id)
        self._methods = _service_methods(did)

    @property
    def methods(self) -> list[str]:
        """The service's method names."""
        return sorted(self._methods)

    def __getattr__(self, name: str) -> Callable[..., Call]:
        methods = self.__dict__.get("_methods", {})
        func = methods.get(name)
        if func is None:
            raise AttributeError(
                f"service {self.__dict__.get('canister_id')} has no method {name!r}; it has "
                f"{', '.join(sorted(methods)) or 'none'}"
            )
        return self.method(name)

    def method(self, name: str) -> Callable[..., Call]:
        """The method ``name`` (for names that are not Python identifiers)."""
        func = self._methods.get(name)
        if func is None:
            raise SdkError(f"service {self.canister_id} has no method {name!r}")
        callee, text_id = self.canister_id, str(self.canister_id)
        read = _reader(text_id, name, func.results)

        def make_call(*args: Any, cycles: int = 0) -> Call:
            if len(args) != len(func.args):
                raise SdkError(
                    f"{text_id}.{name} takes {len(func.args)} argument(s), got {len(args)}"
                )
            try:
                arg = encode(func.args, args)
            except CandidError as exc:
                raise SdkError(f"{text_id}.{name}: bad argument: {exc}") from None
            return Call(callee, name, arg, cycles=cycles, read=read)

        make_call.__name__ = name
        return make_call


@dataclass(frozen=True, slots=True)
class Done:
    """A callback ended a coroutine that has nobody to answer (a timer's)."""


DONE = Done()


# ---- driving coroutines ---------------------------------------------------------------------


Finish = Callable[[Any], bytes | None]
"""What a task does with the coroutine's return value: the reply bytes (None: none)."""


@dataclass(frozen=True, slots=True)
class Pending:
    """The message ended at an ``await``: the call with ``callback`` id is in flight."""

    callback: int


class Task:
    """One ``async def`` entry point in progress: a coroutine and how to reply."""

    __slots__ = ("coro", "finish", "name")

    def __init__(
        self, coro: Coroutine[Any, Any, Any], finish: Finish, name: str
    ) -> None:
        self.coro = coro
        self.finish = finish
        self.name = name

    def step(
        self, value: Any = None, error: BaseException | None = None
    ) -> bytes | Pending | None:
        """Run until the next ``await`` of a `Call` (performed: returns `Pending`) or the
        end (returns ``finish(result)``). Exceptions of the coroutine propagate."""
        while True:
            try:
                awaited = self.coro.send(value) if error is None else self.coro.throw(error)
            except StopIteration as stop:
                return self.finish(stop.value)
            value = error = None
            if not isinstance(awaited, Call):
                self.coro.close()
                raise SdkError(
                    f"{self.name} awaited {awaited!r}; a canister method can only await "
                    "inter-canister calls (ic.call, ic.call_raw, Service methods)"
                )
            callback = _next_callback_id()
            code = _backend.current_backend().call_perform(
                awaited.callee.raw, awaited.method, awaited.arg, awaited.cycles, callback
            )
            if code == 0:
                _WAITING[callback] = (self, awaited)
                return Pending(callback)
            error = CallRejected(
                str(awaited.callee), awaited.method, code,
                "the call could not be sent (not enough cycles to attach "
                f"{awaited.cycles} and pay for it)" if code == 2 else "the call could not be sent",
            )


_WAITING: dict[int, tuple[Task, Call]] = {}
_ids: list[int] = []


def _next_callback_id() -> int:
    # Unique across rebuilt instances: a random 40-bit epoch, drawn at the first call
    # (not at import: the runtime's import-time state is shared by every canister), and
    # a 24-bit counter.
    if not _ids:
        _ids.append(int.from_bytes(os.urandom(5), "little") << 24)
    _ids[0] += 1
    return _ids[0] & 0xFFFF_FFFF_FFFF_FFFF


def start(
    coro: Coroutine[Any, Any, Any], finish: Finish, name: str
) -> bytes | Pending | None:
    """Drive a fresh coroutine to its first ``await`` (`Pending`) or its end (the reply)."""
    return Task(coro, finish, name).step()


def resume(kind: str, callback: str, data: bytes) -> bytes | Pending | None:
    """Continue the coroutine waiting on ``callback``: `Pending` at its next ``await``,
    else what its task's ``finish`` made of the result (reply bytes, or None).

    A reply callback sends it the decoded reply; a reject callback throws `CallRejected`
    with the backend's reject code and message. Traps if no coroutine waits on it.
    """
    try:
        task, pending = _WAITING.pop(int(callback))
    except (KeyError, ValueError):
        _backend.current_backend().trap(
            f"callback {callback} has no waiting coroutine: the canister's Python instance "
            "was rebuilt (after a trap or a replica restart) while the call was in flight, "
            "so the code after its await cannot run"
        )
    backend = _backend.current_backend()
    if kind == REPLY_CALLBACK:
        try:
            value = data if pending.read is None else pending.read(data)
        except ReplyDecodeError as exc:
            return task.step(error=exc)
        return task.step(value)
    error = CallRejected(
        str(pending.callee), pending.method, backend.reject_code(), backend.reject_message()
    )
    return task.step(error=error)


def pending_callbacks() -> int:
    """How many coroutines wait for a response (for tests and the dashboard)."""
    return len(_WAITING)
