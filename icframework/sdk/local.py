"""`LocalCanister`: drive a canister module in plain CPython as the replica would.

Each call is one message: a `LocalBackend` transaction around
`Canister.dispatch`, committed for updates and rolled back for queries, rejects and
traps. Arguments are Python values, encoded to real Candid bytes with the method's
types, and replies are decoded back, so tests exercise the same path as production.
"""

from __future__ import annotations

import types as pytypes
from typing import Any

from icframework.candid import decode, encode
from icframework.core import Principal
from icframework.sdk.backend import LocalBackend, set_backend
from icframework.sdk.dispatch import EMPTY_MESSAGE, CompiledMethod, Rejected, Reply, load_canister
from icframework.sdk.errors import Reject, SdkError
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

__all__ = ["LocalCanister"]


def _encode_args(method: CompiledMethod | None, args: tuple[Any, ...]) -> bytes:
    if method is None:
        if args:
            raise SdkError("this canister declares no @init; it takes no arguments")
        return EMPTY_MESSAGE
    if len(args) != len(method.arg_types):
        raise SdkError(f"{method.name} takes {len(method.arg_types)} argument(s), got {len(args)}")
    values = [a if c is None else c(a) for a, c in zip(args, method.arg_to_wire, strict=True)]
    return encode(method.arg_types, values)


class LocalCanister:
    """A canister module running on a `LocalBackend` (created if not given)."""

    def __init__(
        self, module: str | pytypes.ModuleType, *, backend: LocalBackend | None = None
    ) -> None:
        self.backend = backend or LocalBackend()
        self.canister = load_canister(module)

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
    ) -> Reply | Rejected:
        """One message with raw Candid bytes: committed if ``commit`` and not rejected,
        else rolled back. A trap raises `Trapped` after the rollback."""
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
    ) -> Reply | Rejected:
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
        values = decode(outcome.data, method.result_types)
        if not values:
            return None
        conv = method.result_from_wire
        return values[0] if conv is None else conv(values[0])


class _Discard(Exception):
    """Unwinds a transaction that must not commit (queries, rejects)."""

    def __init__(self, outcome: Reply | Rejected) -> None:
        super().__init__()
        self.outcome = outcome
