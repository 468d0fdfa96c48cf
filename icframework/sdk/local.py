"""`LocalCanister`: drive a canister module in plain CPython as the replica would.

Each call is one message: a `LocalBackend` transaction around
`Canister.dispatch`, committed for updates and rolled back for queries, rejects and
traps. Arguments are Python values, encoded to real Candid bytes with the method's
types, and replies are decoded back, so tests exercise the same path as production.

Inter-canister calls: `connect` a canister id to another `LocalCanister` (or to a
function standing in for a canister you do not own). A message that ends at an
``await`` commits; its call is delivered to the peer as a separate message and the
response continues the coroutine in a new message, until the method returns, so
``update`` gives the final result. `start_update` stops at each ``await`` instead and
returns an `InFlight` you answer by hand (reply, reject, or deliver), to test what
happens between the await and the response.
"""

from __future__ import annotations

import types as pytypes
from collections.abc import Callable
from typing import Any, Union

from icframework.candid import decode, encode
from icframework.core import Principal
from icframework.sdk.backend import LocalBackend, OutgoingCall, set_backend
from icframework.sdk.calls import REJECT_CALLBACK, REPLY_CALLBACK, Pending
from icframework.sdk.dispatch import (
    EMPTY_MESSAGE,
    CompiledMethod,
    Outcome,
    Rejected,
    Reply,
    load_canister,
)
from icframework.sdk.errors import CallRejected, Reject, SdkError, Trapped
from icframework.sdk.methods import (
    GLOBAL_TIMER,
    HEARTBEAT,
    INIT,
    INSPECT_MESSAGE,
    POST_UPGRADE,
    PRE_UPGRADE,
    QUERY,
    UPDATE,
)

__all__ = ["ControlledBackend", "InFlight", "LocalCanister", "Peer"]

DESTINATION_INVALID = 3
CANISTER_REJECT = 4
CANISTER_ERROR = 5

Peer = Union["LocalCanister", Callable[[str, bytes, Principal, int], bytes]]
"""What a canister id is connected to: a `LocalCanister`, or a function
``(method, arg_bytes, caller, cycles) -> reply_bytes`` that raises `CallRejected` (or
`Reject`) to reject."""


def _encode_args(method: CompiledMethod | None, args: tuple[Any, ...]) -> bytes:
    if method is None:
        if args:
            raise SdkError("this canister declares no @init; it takes no arguments")
        return EMPTY_MESSAGE
    if len(args) != len(method.arg_types):
        raise SdkError(f"{method.name} takes {len(method.arg_types)} argument(s), got {len(args)}")
    values = [a if c is None else c(a) for a, c in zip(args, method.arg_to_wire, strict=True)]
    return encode(method.arg_types, values)


class ControlledBackend(LocalBackend):
    """A `LocalBackend` that knows the canister's ``controllers`` (for
    ``ic.is_controller``); the other arguments are `LocalBackend`'s."""

    def __init__(self, *, controllers: tuple[Principal, ...] | list[Principal] = (),
                 **options: Any) -> None:
        super().__init__(**options)
        self.controllers = set(controllers)

    def is_controller(self, principal: bytes) -> bool:
        return Principal(bytes(principal)) in self.controllers


class LocalCanister:
    """A canister module running on a `LocalBackend` (a `ControlledBackend` with
    ``controllers`` if not given)."""

    def __init__(
        self, module: str | pytypes.ModuleType, *, backend: LocalBackend | None = None,
        controllers: tuple[Principal, ...] | list[Principal] = (),
    ) -> None:
        if backend is not None and controllers:
            if not isinstance(backend, ControlledBackend):
                raise SdkError(
                    f"controllers given with a {type(backend).__name__}, which cannot hold "
                    "them; pass a ControlledBackend(controllers=...) or no backend"
                )
            backend.controllers.update(controllers)
        self.backend = backend or ControlledBackend(controllers=controllers)
        self.canister = load_canister(module)
        self.peers: dict[Principal, Peer] = {}
        self._callers: dict[int, Principal] = {}

    @property
    def canister_id(self) -> Principal:
        return self.backend.canister_id

    def connect(self, canister_id: Principal | str, peer: Peer) -> None:
        """Deliver this canister's calls to ``canister_id`` to ``peer``."""
        if isinstance(canister_id, str):
            canister_id = Principal.from_text(canister_id)
        self.peers[canister_id] = peer

    # ---- raw messages --------------------------------------------------------------------
    def run(
        self,
        kind: str,
        method: str,
        arg: bytes,
        *,
        caller: Principal | None = None,
        cycles: int = 0,
        commit: bool = True,
        deliver: bool = True,
    ) -> Outcome:
        """One message with raw Candid bytes: committed if ``commit`` and not rejected,
        else rolled back. A trap raises `Trapped` after the rollback.

        If the method ends at an ``await`` (`Pending`), its call is delivered to the
        connected peer and the method continued, until it replies (unless ``deliver`` is
        False: then the `Pending` is returned and the call waits in ``backend.outbox``).
        """
        outcome = self._message_once(kind, method, arg, caller, cycles, commit)
        outbox = self.backend.outbox
        while deliver and outbox:  # this message's calls, and those of timers it ran
            call = outbox.pop(0)
            result = self.respond(call, self.deliver(call))
            if type(outcome) is Pending and outcome.callback == call.callback:
                outcome = result
        return outcome

    # ---- inter-canister calls ---------------------------------------------------------------
    def take_call(self, pending: Pending) -> OutgoingCall:
        """Remove the call ``pending`` waits on from ``backend.outbox``."""
        outbox = self.backend.outbox
        for i, call in enumerate(outbox):
            if call.callback == pending.callback:
                return outbox.pop(i)
        raise SdkError(f"no call with callback {pending.callback} is waiting in the outbox")

    def deliver(self, call: OutgoingCall) -> Response:
        """Run ``call`` on the connected peer and return its response (no callback yet)."""
        peer = self.peers.get(call.callee)
        if peer is None:
            return Response(
                reject=(DESTINATION_INVALID, f"canister {call.callee} is not connected; "
                        f"use LocalCanister.connect({str(call.callee)!r}, peer)"),
                refund=call.cycles,
            )
        if isinstance(peer, LocalCanister):
            try:
                outcome = peer.run(
                    UPDATE, call.method, call.arg, caller=self.canister_id, cycles=call.cycles
                )
            except Trapped as trap:
                response = Response(
                    reject=(CANISTER_ERROR, f"canister {call.callee} trapped: {trap.message}"),
                    refund=call.cycles,
                )
            else:
                if isinstance(outcome, Reply):
                    response = Response(data=outcome.data, refund=peer.backend.cycles_unaccepted)
                else:
                    assert isinstance(outcome, Rejected)
                    response = Response(reject=(outcome.code, outcome.message), refund=call.cycles)
            set_backend(self.backend)
            return response
        try:
            data = peer(call.method, call.arg, self.canister_id, call.cycles)
        except CallRejected as exc:
            return Response(reject=(exc.code, exc.message), refund=call.cycles)
        except Reject as exc:
            return Response(reject=(CANISTER_REJECT, exc.message), refund=call.cycles)
        finally:
            set_backend(self.backend)
        return Response(data=bytes(data))

    def respond(self, call: OutgoingCall, response: Response) -> Outcome:
        """Continue the method waiting on ``call`` with ``response`` (one message)."""
        backend = self.backend
        backend.credit_refund(response.refund)
        if response.reject is None:
            kind, data = REPLY_CALLBACK, response.data
            backend.reject = (0, "")
        else:
            kind, data = REJECT_CALLBACK, b""
            backend.reject = response.reject
        # in a callback the caller is the original call's caller, as on the IC
        caller = self._callers.pop(call.callback, None)
        try:
            return self._message_once(kind, str(call.callback), data, caller, 0, True)
        finally:
            backend.cycles_refund = 0

    def start_update(
        self, method: str, *args: Any, caller: Principal | None = None, cycles: int = 0
    ) -> InFlight:
        """Call an update method but stop at its first ``await`` (see `InFlight`)."""
        compiled = self._method(method)
        outcome = self.run(
            UPDATE, method, _encode_args(compiled, args), caller=caller, cycles=cycles,
            deliver=False,
        )
        return InFlight(self, compiled, outcome)

    def _message_once(
        self, kind: str, method: str, arg: bytes, caller: Principal | None, cycles: int,
        commit: bool,
    ) -> Outcome:
        set_backend(self.backend)
        if caller is not None:
            self.backend.set_caller(caller)
        try:
            with self.backend.transaction(cycles=cycles):
                outcome = self.canister.dispatch(kind, method, arg)
                if not commit or isinstance(outcome, Rejected):
                    raise _Discard(outcome)
        except _Discard as discarded:
            return discarded.outcome
        if type(outcome) is Pending:
            self._callers[outcome.callback] = self.backend.caller_principal
        return outcome

    # ---- typed calls ------------------------------------------------------------------------
    def install(self, *args: Any) -> None:
        """Run ``@init`` with ``args`` (Python values)."""
        self._lifecycle(INIT, _encode_args(self.canister.hooks.get(INIT), args))

    def upgrade(self, *args: Any) -> None:
        """Run ``@pre_upgrade``, then ``@post_upgrade`` with ``args``; the timer is disarmed."""
        self._lifecycle(PRE_UPGRADE, EMPTY_MESSAGE)
        self.backend.global_timer_set(0)
        hook = self.canister.hooks.get(POST_UPGRADE)
        self._lifecycle(POST_UPGRADE, _encode_args(hook, args) if hook else EMPTY_MESSAGE)

    def query(self, method: str, *args: Any, caller: Principal | None = None) -> Any:
        """Call a query method; its writes are discarded. Raises `Reject`/`Trapped`."""
        return self._call(QUERY, method, args, caller, 0, commit=False)

    def update(
        self, method: str, *args: Any, caller: Principal | None = None, cycles: int = 0
    ) -> Any:
        """Call an update method; its writes are committed. Raises `Reject`/`Trapped`."""
        return self._call(UPDATE, method, args, caller, cycles, commit=True)

    def inspect(self, method: str, *args: Any, caller: Principal | None = None) -> bool:
        """Would ``@inspect_message`` accept this ingress call?"""
        compiled = self._method(method)
        outcome = self._message(
            INSPECT_MESSAGE, method, _encode_args(compiled, args), caller, 0, commit=False
        )
        return isinstance(outcome, Reply) and (
            self.backend.accepted or INSPECT_MESSAGE not in self.canister.hooks
        )

    def heartbeat(self) -> None:
        self._lifecycle(HEARTBEAT, EMPTY_MESSAGE)

    def advance_time(self, delta_ns: int) -> int:
        """Move the clock and run the global timer if it became due; returns timer runs."""
        self.backend.advance_time(delta_ns)
        runs = 0
        while self.backend.take_due_timer():
            self._lifecycle(GLOBAL_TIMER, EMPTY_MESSAGE)
            runs += 1
        return runs

    # ---- helpers -------------------------------------------------------------------------------
    def _method(self, name: str) -> CompiledMethod:
        try:
            return self.canister.methods[name]
        except KeyError:
            raise SdkError(f"{self.canister.module} has no method {name!r}") from None

    def _lifecycle(self, kind: str, arg: bytes) -> None:
        outcome = self._message(kind, kind, arg, None, 0, commit=True)
        if isinstance(outcome, Rejected):
            raise Reject(outcome.message)

    def _message(
        self, kind: str, method: str, arg: bytes, caller: Principal | None, cycles: int,
        *, commit: bool,
    ) -> Outcome:
        return self.run(kind, method, arg, caller=caller, cycles=cycles, commit=commit)

    def _call(
        self, kind: str, name: str, args: tuple[Any, ...], caller: Principal | None,
        cycles: int, *, commit: bool,
    ) -> Any:
        method = self._method(name)
        outcome = self._message(kind, name, _encode_args(method, args), caller, cycles,
                                commit=commit)
        if isinstance(outcome, Rejected):
            raise Reject(outcome.message)
        assert isinstance(outcome, Reply)
        return _decode_result(method, outcome.data)


class Response:
    """A callee's answer to an `OutgoingCall`: reply ``data`` or ``reject`` (code,
    message), and the cycles ``refund``ed."""

    __slots__ = ("data", "refund", "reject")

    def __init__(
        self, data: bytes = b"", *, reject: tuple[int, str] | None = None, refund: int = 0
    ) -> None:
        self.data = data
        self.reject = reject
        self.refund = refund


class InFlight:
    """An update method stopped at an ``await``: answer its `call` by hand.

    ``reply(data)``, ``reject(code, message)`` or ``deliver()`` (to the connected
    peer) continue it until its next ``await`` or its end; then `result` gives its
    value (or raises `Reject`). Between answers, other messages may run, which is how
    interleavings are tested.
    """

    def __init__(
        self, canister: LocalCanister, method: CompiledMethod, outcome: Outcome
    ) -> None:
        self._canister = canister
        self._method = method
        self._outcome = outcome
        self.call: OutgoingCall | None = (
            canister.take_call(outcome) if type(outcome) is Pending else None
        )

    @property
    def done(self) -> bool:
        return self.call is None

    def reply(self, data: bytes) -> InFlight:
        return self._answer(Response(data))

    def reject(self, code: int, message: str) -> InFlight:
        return self._answer(Response(reject=(code, message), refund=self._require().cycles))

    def deliver(self) -> InFlight:
        return self._answer(self._canister.deliver(self._require()))

    def result(self) -> Any:
        """The method's return value; raises `Reject` if it rejected, `SdkError` if it
        still waits."""
        outcome = self._outcome
        if type(outcome) is Pending:
            raise SdkError(f"{self._method.name} still waits on {self.call}")
        if isinstance(outcome, Rejected):
            raise Reject(outcome.message)
        assert isinstance(outcome, Reply)
        return _decode_result(self._method, outcome.data)

    def _require(self) -> OutgoingCall:
        if self.call is None:
            raise SdkError(f"{self._method.name} is not waiting on a call")
        return self.call

    def _answer(self, response: Response) -> InFlight:
        call = self._require()
        self.call = None
        outcome = self._canister.respond(call, response)
        self._outcome = outcome
        if type(outcome) is Pending:
            self.call = self._canister.take_call(outcome)
        return self


def _decode_result(method: CompiledMethod, data: bytes) -> Any:
    values = decode(data, method.result_types)
    if not values:
        return None
    conv = method.result_from_wire
    return values[0] if conv is None else conv(values[0])


class _Discard(Exception):
    """Unwinds a transaction that must not commit (queries, rejects)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome
