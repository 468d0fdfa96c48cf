"""The in-canister `Backend`: the SDK over the WIT imports of the shared runtime component.

How it works: the runtime glue (``icframework/compiler/runtime/icframework_runtime.py``)
executes the app's source; if it registered SDK methods, the glue builds one
`RuntimeBackend` over the component's WIT imports (``ic0``, ``kv``, ``events``, passed
in, so this module imports nothing that exists only inside the component) and routes
every ``call`` export through `RuntimeBackend.run`, which maps the WIT call kind onto
the SDK's entry-point kind and calls `icframework.sdk.dispatch`.

One message is one transaction on the guest side too: key-value writes go to a
`WriteBuffer` (reads and scans see them without crossing to the host), events are
kept in a list, and both cross once when an update-like entry point returns normally
(one ``kv.commit`` with the sorted batch, or one ``kv.put``/``kv.delete``
for a single write). Queries and `Rejected` outcomes drop them
without crossing; a trap drops them and calls ``ic0.trap``, after which the host
discards the instance. The other effects (cycles, certified data, the global timer)
go to the host at once: the replica's System API checks and rolls them back on a trap,
but a `Rejected` update keeps them (the SDK only rejects before user code ran or when
it raised `Reject`).

Bytes cross as latin-1 strings (see docs/abi.md); cycles as (high, low) 64-bit halves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from icframework.sdk.backend import WriteBuffer
from icframework.sdk.calls import (
    CALLBACK_KINDS,
    REJECT_CALLBACK,
    REPLY_CALLBACK,
    Done,
    Pending,
)
from icframework.sdk.dispatch import Canister, Rejected, Reply
from icframework.sdk.errors import Trapped
from icframework.sdk.methods import (
    CALL_KINDS,
    COMPOSITE_QUERY,
    GLOBAL_TIMER,
    HEARTBEAT,
    INIT,
    INSPECT_MESSAGE,
    POST_UPGRADE,
    PRE_UPGRADE,
    QUERY,
    UPDATE,
)

__all__ = ["SDK_KINDS", "RuntimeBackend", "export_names"]

_U64 = (1 << 64) - 1

SDK_KINDS = {
    "update": UPDATE,
    "query": QUERY,
    "init": INIT,
    "pre-upgrade": PRE_UPGRADE,
    "post-upgrade": POST_UPGRADE,
    "heartbeat": HEARTBEAT,
    "timer": GLOBAL_TIMER,
    "inspect": INSPECT_MESSAGE,
    "reply-callback": REPLY_CALLBACK,
    "reject-callback": REJECT_CALLBACK,
}
"""WIT ``call-kind`` name → SDK entry-point kind."""

_COMPOSITE_PREFIX = "canister_composite_query "
_READ_ONLY = frozenset({QUERY, COMPOSITE_QUERY, INSPECT_MESSAGE})


def export_names(canister: Canister) -> list[str]:
    """The IC export names of an SDK canister (what the runtime's ``install`` returns).

    ``canister_init``, ``canister_post_upgrade`` and ``canister_global_timer`` are always
    offered (the SDK re-arms timers after an upgrade and runs them on the global timer);
    the other system exports only when the app declares the hook.
    """
    names = {"canister_init", "canister_post_upgrade", "canister_global_timer"}
    for kind, export in (
        (PRE_UPGRADE, "canister_pre_upgrade"),
        (HEARTBEAT, "canister_heartbeat"),
        (INSPECT_MESSAGE, "canister_inspect_message"),
    ):
        if kind in canister.hooks:
            names.add(export)
    for name, kind in canister.method_table().items():
        prefix = "canister_update " if kind == UPDATE else (
            _COMPOSITE_PREFIX if kind == COMPOSITE_QUERY else "canister_query "
        )
        names.add(prefix + name)
    return sorted(names)


class _Store:
    """The host's key-value store as a `KVSource` (read side; bytes ↔ latin-1)."""

    __slots__ = ("_get", "_scan")

    def __init__(self, kv: Any) -> None:
        self._get: Callable[[str], str | None] = kv.get
        self._scan: Callable[[str, str | None, bool, int], list[tuple[str, str]]] = kv.scan

    def get(self, key: bytes) -> bytes | None:
        blob = self._get(key.decode("latin-1"))
        return None if blob is None else blob.encode("latin-1")

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        rows = self._scan(
            start.decode("latin-1"), None if end is None else end.decode("latin-1"),
            reverse, limit,
        )
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in rows]


def _halves(amount: int) -> tuple[int, int]:
    return ((amount >> 64) & _U64, amount & _U64)


def _amount(halves: tuple[int, int]) -> int:
    return (halves[0] << 64) | halves[1]


class RuntimeBackend:
    """`Backend` over the runtime component's WIT imports (``ic0``, ``kv``, ``events``).

    ``before_trap`` runs just before ``ic0.trap`` (the glue flushes ``print`` output).
    The caller and the time are read once per message; the canister id once.
    """

    def __init__(
        self,
        ic0: Any,
        kv: Any,
        events: Any,
        *,
        before_trap: Callable[[], None] | None = None,
    ) -> None:
        self._ic0 = ic0
        self._kv_commit: Callable[[list[Any]], None] = kv.commit
        self._kv_put: Callable[[str, str], None] = kv.put
        self._kv_delete: Callable[[str], None] = kv.delete
        self._kv_write: Callable[[str, str | None], Any] = kv.Write
        self._publish: Callable[[str, str], None] = events.publish
        self._before_trap = before_trap
        self.buffer = WriteBuffer(_Store(kv))
        self.events: list[tuple[str, bytes]] = []
        self.kind = ""
        self._caller: bytes | None = None
        self._time: int | None = None
        self._self: bytes | None = None

    # ---- the message --------------------------------------------------------------------
    def run(
        self, canister: Canister, kind: str, method: str, arg: bytes
    ) -> Reply | Rejected | None:
        """Run one WIT ``call``: the SDK outcome for update/query calls and callbacks,
        None otherwise (and None when the method now waits on an ``await``).

        Writes are sent to the host here for update-like kinds that did not reject (a
        method that ends at an ``await`` commits: state is committed at each await); a
        reject in a lifecycle hook traps (the IC has no reject there); an
        ``inspect`` that does not accept just ends (the message is refused).
        """
        sdk_kind = SDK_KINDS[kind]
        if sdk_kind == UPDATE and method.startswith(_COMPOSITE_PREFIX):
            sdk_kind, method = COMPOSITE_QUERY, method[len(_COMPOSITE_PREFIX):]
        self.kind = sdk_kind
        self._caller = self._time = None
        try:
            outcome = canister.dispatch(sdk_kind, method, arg)
            if isinstance(outcome, Rejected) or sdk_kind in _READ_ONLY:
                self.discard()
            else:
                self.commit()
        finally:
            self.kind = ""
        if type(outcome) is Pending or type(outcome) is Done:
            return None
        if sdk_kind in CALL_KINDS or sdk_kind in CALLBACK_KINDS:
            return outcome  # type: ignore[return-value]
        if isinstance(outcome, Rejected) and sdk_kind != INSPECT_MESSAGE:
            self.trap(f"{kind} rejected: {outcome.message}")
        return None

    def commit(self) -> None:
        """Send the message's writes (one ``kv.commit``) and events to the host."""
        buffer = self.buffer
        if buffer:
            changes = buffer.changes()
            if len(changes) == 1:  # kv.put/delete cross for about half of a one-row commit
                key, value = changes[0]
                if value is None:
                    self._kv_delete(key.decode("latin-1"))
                else:
                    self._kv_put(key.decode("latin-1"), value.decode("latin-1"))
            else:
                write = self._kv_write
                self._kv_commit([
                    write(k.decode("latin-1"), None if v is None else v.decode("latin-1"))
                    for k, v in changes
                ])
            buffer.clear()
        if self.events:
            for topic, value in self.events:
                self._publish(topic, value.decode("latin-1"))
            self.events.clear()

    def discard(self) -> None:
        """Forget the message's writes and events."""
        self.buffer.clear()
        self.events.clear()

    # ---- Backend: context ---------------------------------------------------------------
    def caller(self) -> bytes:
        caller = self._caller
        if caller is None:
            caller = self._caller = self._ic0.msg_caller().encode("latin-1")
        return caller

    def canister_self(self) -> bytes:
        own = self._self
        if own is None:
            own = self._self = self._ic0.canister_self().encode("latin-1")
        return own

    def time(self) -> int:
        now = self._time
        if now is None:
            now = self._time = int(self._ic0.time())
        return now

    # ---- Backend: cycles ----------------------------------------------------------------
    def cycles_balance(self) -> int:
        return _amount(self._ic0.canister_cycle_balance())

    def cycles_available(self) -> int:
        return _amount(self._ic0.msg_cycles_available())

    def cycles_accept(self, max_amount: int) -> int:
        return _amount(self._ic0.msg_cycles_accept(_halves(max_amount)))

    def cycles_refunded(self) -> int:
        if self.kind not in CALLBACK_KINDS:
            return 0  # only call callbacks have a refund
        return _amount(self._ic0.msg_cycles_refunded())

    def cycles_burn(self, amount: int) -> int:
        return _amount(self._ic0.cycles_burn(_halves(amount)))

    # ---- Backend: certification, metering, output -----------------------------------------
    def certified_data_set(self, data: bytes) -> None:
        self._ic0.certified_data_set(data.decode("latin-1"))

    def data_certificate(self) -> bytes | None:
        blob = self._ic0.data_certificate()
        return None if blob is None else bytes(blob.encode("latin-1"))

    def performance_counter(self, counter_type: int) -> int:
        return int(self._ic0.performance_counter(counter_type))

    def debug_print(self, message: str) -> None:
        self._ic0.debug_print(message.encode("utf-8").decode("latin-1"))

    def trap(self, message: str) -> NoReturn:
        self.discard()
        if self._before_trap is not None:
            self._before_trap()
        self._ic0.trap(message)
        raise Trapped(message)  # the host never returns from ic0.trap

    def accept_message(self) -> None:
        self._ic0.accept_message()

    # ---- Backend: timer ---------------------------------------------------------------------
    def global_timer_set(self, timestamp_ns: int) -> int:
        return int(self._ic0.global_timer_set(timestamp_ns))

    # ---- Backend: key-value store -----------------------------------------------------------
    def kv_get(self, key: bytes) -> bytes | None:
        return self.buffer.get(key)

    def kv_put(self, key: bytes, value: bytes) -> None:
        self.buffer.put(bytes(key), bytes(value))

    def kv_delete(self, key: bytes) -> None:
        self.buffer.delete(bytes(key))

    def kv_scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        return self.buffer.scan(start, end, reverse, limit)

    # ---- Backend: inter-canister calls ----------------------------------------------------
    def call_perform(
        self, callee: bytes, method: str, arg: bytes, cycles: int, callback: int
    ) -> int:
        return int(self._ic0.call_perform(
            callee.decode("latin-1"), method, arg.decode("latin-1"), _halves(cycles), callback
        ))

    def reject_code(self) -> int:
        return int(self._ic0.msg_reject_code())

    def reject_message(self) -> str:
        return str(self._ic0.msg_reject_msg())

    # ---- Backend: events --------------------------------------------------------------------
    def publish(self, topic: str, value: bytes) -> None:
        self.events.append((topic, bytes(value)))
