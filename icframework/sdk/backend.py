"""The backend protocol: the ONE interface through which the SDK reaches the outside world.

Everything the SDK does that is not pure computation — reading the caller or the time,
moving cycles, printing, trapping, setting the global timer, reading and writing durable
storage, publishing events — goes through the `Backend` object installed with
`set_backend`. Two implementations exist:

* `LocalBackend` (here): in-memory and deterministic, for unit tests and for running
  canister code in plain CPython; time only moves when told, the caller is settable,
  storage is a sorted dict with per-message transactions.
* the in-canister backend (built with the canister ABI, outside this package): each
  method maps onto an ``ic0`` System API call or a WIT import of the canister ABI.

How a message runs (the contract both sides rely on):

1. The runtime receives an entry point (``canister_update foo`` etc.), installs a
   backend for it if needed, and calls `icframework.sdk.dispatch.dispatch` with the
   entry-point kind, the method name and the Candid argument bytes.
2. While it runs, the SDK calls the backend methods below. All writes (``kv_put``,
   ``kv_delete``, ``certified_data_set``, ``global_timer_set``, ``publish``, cycles
   accepted or burnt) belong to the message's transaction.
3. If `dispatch` returns (a `Reply` or a `Rejected`), the runtime replies or rejects and
   commits the transaction — except for a `Rejected` outcome, and for queries, where it
   discards it (the IC keeps no state changes of a query; a reject in this SDK means
   "refused", so its writes are dropped too: the SDK only rejects before running user
   code or after user code raised `Reject`).
4. If the SDK calls ``trap``, the message ends there: the transaction is discarded and
   the caller gets a CANISTER_ERROR reject carrying the message. ``trap`` never returns.

Bytes conventions: principals are their raw bytes (0 to 29 bytes); times are
nanoseconds since 1970-01-01 UTC; cycle amounts are non-negative ints below 2**128.
`WriteBuffer` is a helper for backends whose storage lives elsewhere: it keeps a
message's writes in Python, serves reads through them, and hands them over in one
sorted batch at commit, so the (expensive) host boundary is crossed once per message.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, Protocol

from icframework.core import Principal
from icframework.sdk.errors import SdkError, Trapped

__all__ = [
    "Backend",
    "LocalBackend",
    "OutgoingCall",
    "WriteBuffer",
    "current_backend",
    "set_backend",
]

# ic0.performance_counter types
INSTRUCTIONS_IN_CALL = 0
INSTRUCTIONS_IN_CALL_CONTEXT = 1


class Backend(Protocol):
    """What the SDK needs from its host. Every method is synchronous.

    Unless stated otherwise a method may be called in any entry point; calling one
    where the IC forbids it (e.g. ``cycles_accept`` in a query) should trap with the
    IC's wording rather than raise.
    """

    @property
    def generation(self) -> object:
        """A value equal to an earlier one only if no stored value changed in between (no
        write, no dropped transaction): structures may keep a decoded value while it
        stays equal (`icframework.sdk.stable.StableCell`). An int counts up (and
        `set_backend` moves it past every other backend's); any other value must be
        new each time it is read."""
        ...

    # ---- message context ------------------------------------------------------------
    def caller(self) -> bytes:
        """Raw bytes of the principal that sent the current message (``ic0.msg_caller``)."""
        ...

    def canister_self(self) -> bytes:
        """Raw bytes of this canister's own principal (``ic0.canister_self``)."""
        ...

    def time(self) -> int:
        """The message's time in nanoseconds since the epoch (``ic0.time``).

        Constant during one message; never decreases between messages.
        """
        ...

    # ---- cycles -----------------------------------------------------------------------
    def cycles_balance(self) -> int:
        """The canister's cycle balance (``ic0.canister_cycle_balance128``)."""
        ...

    def cycles_available(self) -> int:
        """Cycles attached to the current call, not yet accepted (``msg_cycles_available128``)."""
        ...

    def cycles_accept(self, max_amount: int) -> int:
        """Move up to ``max_amount`` attached cycles to the balance; return the amount moved."""
        ...

    def cycles_refunded(self) -> int:
        """Cycles refunded with the reply being handled (0 outside call callbacks)."""
        ...

    def cycles_burn(self, amount: int) -> int:
        """Burn up to ``amount`` cycles of the balance; return the amount burnt."""
        ...

    # ---- certification, metering, output ---------------------------------------------------
    def certified_data_set(self, data: bytes) -> None:
        """Set the certified data (at most 32 bytes; only in update-like entry points)."""
        ...

    def data_certificate(self) -> bytes | None:
        """The CBOR certificate for the certified data in a non-replicated query, else None."""
        ...

    def performance_counter(self, counter_type: int) -> int:
        """Instructions executed so far: type 0 = this call, 1 = the whole call context."""
        ...

    def debug_print(self, message: str) -> None:
        """Write one line to the canister's log (``ic0.debug_print``); never fails."""
        ...

    def trap(self, message: str) -> NoReturn:
        """End the message now, discarding its transaction; the caller sees ``message``."""
        ...

    def accept_message(self) -> None:
        """In ``canister_inspect_message``: accept the ingress message (``ic0.accept_message``)."""
        ...

    # ---- timer ------------------------------------------------------------------------------
    def global_timer_set(self, timestamp_ns: int) -> int:
        """Arm the global timer for ``timestamp_ns`` (0 disarms); return the previous value.

        When the time passes it, the runtime calls `dispatch` with kind
        ``"global_timer"`` (once; the timer is disarmed before the call).
        """
        ...

    # ---- transactional ordered key-value store -------------------------------------------
    def kv_get(self, key: bytes) -> bytes | None:
        """The value stored under ``key``, as seen by the current transaction, or None."""
        ...

    def kv_put(self, key: bytes, value: bytes) -> None:
        """Store ``value`` under ``key`` (both arbitrary bytes; keys compare as unsigned bytes)."""
        ...

    def kv_delete(self, key: bytes) -> None:
        """Remove ``key`` if present (no error if absent)."""
        ...

    def kv_scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        """Entries with ``start <= key < end`` (``end=None``: no upper bound), sorted.

        Ascending by key, or descending when ``reverse`` (then the *largest* keys of
        the range come first). At most ``limit`` entries when ``limit > 0``; all of
        them when ``limit == 0``. Reflects the transaction's own writes.
        """
        ...

    # ---- events -------------------------------------------------------------------------------
    def call_perform(
        self, callee: bytes, method: str, arg: bytes, cycles: int, callback: int
    ) -> int:
        """Send ``arg`` to ``callee.method`` with ``cycles`` attached when the message
        commits; the response runs callback ``callback``. 0 if queued, else a reject
        code (2: not enough cycles)."""
        ...

    def reject_code(self) -> int:
        """In a reject callback: the reject code of the response."""
        ...

    def reject_message(self) -> str:
        """In a reject callback: the reject message of the response."""
        ...

    def publish(self, topic: str, value: bytes) -> None:
        """Emit an event (``value`` is Candid bytes) to subscribers of ``topic`` at commit.

        Optional capability: a backend whose host delivers no events (the Internet
        Computer's) has a class attribute ``publishes_events = False`` and raises
        here; a backend without the attribute delivers them. Canister code asks
        `icframework.sdk.events.supported` before publishing.
        """
        ...


# ============================================================================ WriteBuffer


class KVSource(Protocol):
    """The committed store a `WriteBuffer` overlays (read side only)."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]: ...


_DELETED = None
_PAGE = 64


class WriteBuffer:
    """A message's pending writes over a committed `KVSource`.

    Reads see the pending writes; `changes` returns them as a sorted batch of
    ``(key, value or None for a delete)`` for the commit; `clear` forgets them.
    ``pending`` is the dict of those writes itself (key → value, None for a delete),
    for backends that batch them without a method call per message.
    """

    __slots__ = ("_source", "pending")

    def __init__(self, source: KVSource) -> None:
        self._source = source
        self.pending: dict[bytes, bytes | None] = {}

    def __bool__(self) -> bool:
        return bool(self.pending)

    def get(self, key: bytes) -> bytes | None:
        pending = self.pending
        if key in pending:
            return pending[key]
        return self._source.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def delete(self, key: bytes) -> None:
        self.pending[key] = _DELETED

    def changes(self) -> list[tuple[bytes, bytes | None]]:
        return sorted(self.pending.items())

    def clear(self) -> None:
        self.pending.clear()

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        if not self.pending:
            return self._source.scan(start, end, reverse, limit)
        out: list[tuple[bytes, bytes]] = []
        for item in self._merged(start, end, reverse):
            out.append(item)
            if len(out) == limit:
                break
        return out

    def _merged(
        self, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        pending = sorted(
            (k, v) for k, v in self.pending.items() if k >= start and (end is None or k < end)
        )
        if reverse:
            pending.reverse()
        base = self._pages(start, end, reverse)
        b = next(base, None)
        i = 0
        while b is not None or i < len(pending):
            if i < len(pending) and (
                b is None or (pending[i][0] > b[0] if reverse else pending[i][0] < b[0])
            ):
                key, value = pending[i]
                i += 1
            else:
                assert b is not None
                key, value = b
                b = next(base, None)
                if key in self.pending:
                    continue
            if value is not None:
                yield key, value

    def _pages(
        self, start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        lo, hi = start, end
        while True:
            page = self._source.scan(lo, hi, reverse, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1][0]
            if reverse:
                hi = last
            else:
                lo = last + b"\x00"


# ============================================================================ LocalBackend


class SortedKV:
    """A committed in-memory store: a dict plus a sorted key list (bisect for ranges)."""

    __slots__ = ("_data", "_keys")

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if key not in self._data:
            bisect.insort(self._keys, key)
        self._data[key] = value

    def delete(self, key: bytes) -> None:
        if self._data.pop(key, None) is not None:
            del self._keys[bisect.bisect_left(self._keys, key)]

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        keys = self._keys
        lo = bisect.bisect_left(keys, start)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        if hi <= lo:
            return []
        if reverse:
            first = hi - limit if 0 < limit < hi - lo else lo
            chosen = keys[first:hi][::-1]
        else:
            chosen = keys[lo : lo + limit] if 0 < limit < hi - lo else keys[lo:hi]
        data = self._data
        return [(k, data[k]) for k in chosen]


@dataclass
class _Effects:
    """The non-storage effects of a message, rolled back with it."""

    certified_data: bytes = b""
    global_timer: int = 0
    balance: int = 0
    events: list[tuple[str, bytes]] = field(default_factory=list)
    calls: list[OutgoingCall] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutgoingCall:
    """An inter-canister call a committed message made (`LocalBackend.outbox`)."""

    callee: Principal
    method: str
    arg: bytes
    cycles: int
    callback: int


DEFAULT_CANISTER_ID = Principal.from_canister_index(0)
DEFAULT_TIME_NS = 1_700_000_000_000_000_000


class LocalBackend:
    """An in-memory, deterministic `Backend` for unit tests and plain-CPython runs.

    * time starts at ``time_ns`` and moves only through `advance_time`/`set_time`;
    * the caller is ``caller`` (anonymous by default) and can be changed at any time;
    * storage is a `SortedKV`; outside `transaction` writes apply at once, inside one
      they are buffered and applied by `commit` or dropped by `rollback` (together with
      certified data, timer, cycles and events);
    * ``trap`` raises `Trapped`; ``debug_print`` appends to `logs`; ``publish`` appends
      to `events` at commit; ``call_perform`` appends to `outbox` at commit (attached
      cycles leave the balance at once; `LocalCanister` delivers the calls).
    """

    @property
    def generation(self) -> object:
        """Never equal to an earlier one: nothing is remembered over this backend's
        storage, which tests may change directly."""
        return object()

    def __init__(
        self,
        *,
        canister_id: Principal = DEFAULT_CANISTER_ID,
        caller: Principal | None = None,
        time_ns: int = DEFAULT_TIME_NS,
        cycles_balance: int = 100_000_000_000_000,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.canister_id = canister_id
        self.caller_principal = caller if caller is not None else Principal.anonymous()
        self.now_ns = time_ns
        self.store = SortedKV()
        self.logs: list[str] = []
        self.events: list[tuple[str, bytes]] = []
        self.outbox: list[OutgoingCall] = []
        self.reject: tuple[int, str] = (0, "")
        self.cycles_attached = 0
        self.cycles_unaccepted = 0
        self.cycles_refund = 0
        self.accepted = False
        self.instructions = 0
        self._echo = echo
        self._committed = _Effects(balance=cycles_balance)
        self._effects = self._committed
        self._buffer: WriteBuffer | None = None

    # ---- test controls ------------------------------------------------------------
    def set_caller(self, caller: Principal) -> None:
        """Make ``caller`` the sender of the following calls."""
        self.caller_principal = caller

    def set_time(self, time_ns: int) -> None:
        """Set the clock (nanoseconds since the epoch); it may not go backwards."""
        if time_ns < self.now_ns:
            raise SdkError(f"time cannot go backwards ({time_ns} < {self.now_ns})")
        self.now_ns = time_ns

    def advance_time(self, delta_ns: int) -> None:
        """Move the clock forward by ``delta_ns`` nanoseconds."""
        self.set_time(self.now_ns + delta_ns)

    @property
    def global_timer(self) -> int:
        """The armed global timer deadline (ns), 0 when disarmed."""
        return self._effects.global_timer

    def timer_due(self) -> bool:
        """True when the global timer is armed and its deadline has passed."""
        deadline = self._committed.global_timer
        return deadline != 0 and deadline <= self.now_ns

    def take_due_timer(self) -> bool:
        """Disarm the global timer if due (as the IC does before ``canister_global_timer``)."""
        if self.timer_due():
            self._committed.global_timer = 0
            return True
        return False

    @property
    def certified_data(self) -> bytes:
        return self._effects.certified_data

    @property
    def in_transaction(self) -> bool:
        return self._buffer is not None

    def begin(self, *, cycles: int = 0) -> None:
        """Start a message transaction with ``cycles`` attached to it."""
        if self._buffer is not None:
            raise SdkError("a transaction is already open; commit or roll it back first")
        self._buffer = WriteBuffer(self.store)
        c = self._committed
        self._effects = _Effects(c.certified_data, c.global_timer, c.balance, [], [])
        self.cycles_attached = cycles
        self.accepted = False

    def commit(self) -> None:
        """Apply the open transaction's writes and effects."""
        buffer = self._require_transaction()
        for key, value in buffer.changes():
            if value is None:
                self.store.delete(key)
            else:
                self.store.put(key, value)
        self.events.extend(self._effects.events)
        self._effects.events = []
        self.outbox.extend(self._effects.calls)
        self._effects.calls = []
        self._committed = self._effects
        self._end()

    def rollback(self) -> None:
        """Drop the open transaction's writes and effects."""
        self._require_transaction()
        self._effects = self._committed
        self._end()

    @contextmanager
    def transaction(self, *, cycles: int = 0) -> Iterator[None]:
        """``with backend.transaction():`` commits on success, rolls back on any exception."""
        self.begin(cycles=cycles)
        try:
            yield
        except BaseException:
            self.rollback()
            raise
        self.commit()

    def _require_transaction(self) -> WriteBuffer:
        if self._buffer is None:
            raise SdkError("no transaction is open")
        return self._buffer

    def _end(self) -> None:
        self._buffer = None
        self.cycles_unaccepted = self.cycles_attached
        self.cycles_attached = 0

    # ---- Backend: context -------------------------------------------------------------
    def caller(self) -> bytes:
        return self.caller_principal.raw

    def canister_self(self) -> bytes:
        return self.canister_id.raw

    def time(self) -> int:
        return self.now_ns

    # ---- Backend: cycles ----------------------------------------------------------------
    def cycles_balance(self) -> int:
        return self._effects.balance

    def cycles_available(self) -> int:
        return self.cycles_attached

    def cycles_accept(self, max_amount: int) -> int:
        amount = min(max(max_amount, 0), self.cycles_attached)
        self.cycles_attached -= amount
        self._effects.balance += amount
        return amount

    def cycles_refunded(self) -> int:
        return self.cycles_refund

    def cycles_burn(self, amount: int) -> int:
        burnt = min(max(amount, 0), self._effects.balance)
        self._effects.balance -= burnt
        return burnt

    # ---- Backend: certification, metering, output --------------------------------------
    def certified_data_set(self, data: bytes) -> None:
        if len(data) > 32:
            self.trap(f"certified_data_set: {len(data)} bytes given, at most 32 allowed")
        self._effects.certified_data = bytes(data)

    def data_certificate(self) -> bytes | None:
        return None

    def performance_counter(self, counter_type: int) -> int:
        return self.instructions

    def debug_print(self, message: str) -> None:
        self.logs.append(message)
        if self._echo is not None:
            self._echo(message)

    def trap(self, message: str) -> NoReturn:
        raise Trapped(message)

    def accept_message(self) -> None:
        self.accepted = True

    # ---- Backend: timer ---------------------------------------------------------------------
    def global_timer_set(self, timestamp_ns: int) -> int:
        previous = self._effects.global_timer
        self._effects.global_timer = timestamp_ns
        return previous

    # ---- Backend: key-value store -----------------------------------------------------------
    def kv_get(self, key: bytes) -> bytes | None:
        buffer = self._buffer
        return self.store.get(key) if buffer is None else buffer.get(key)

    def kv_put(self, key: bytes, value: bytes) -> None:
        buffer = self._buffer
        if buffer is None:
            self.store.put(bytes(key), bytes(value))
        else:
            buffer.put(bytes(key), bytes(value))

    def kv_delete(self, key: bytes) -> None:
        buffer = self._buffer
        if buffer is None:
            self.store.delete(key)
        else:
            buffer.delete(bytes(key))

    def kv_scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        buffer = self._buffer
        source: KVSource = self.store if buffer is None else buffer
        return source.scan(start, end, reverse, limit)

    # ---- Backend: inter-canister calls ----------------------------------------------------
    def call_perform(
        self, callee: bytes, method: str, arg: bytes, cycles: int, callback: int
    ) -> int:
        effects = self._effects
        if cycles > effects.balance:
            return 2  # SYS_TRANSIENT, as the IC answers when the cycles are not there
        effects.balance -= cycles
        call = OutgoingCall(Principal(bytes(callee)), method, bytes(arg), cycles, callback)
        if self._buffer is None:
            self.outbox.append(call)
        else:
            effects.calls.append(call)
        return 0

    def reject_code(self) -> int:
        return self.reject[0]

    def reject_message(self) -> str:
        return self.reject[1]

    def credit_refund(self, amount: int) -> None:
        """Return ``amount`` refunded cycles to the balance (a callback's refund)."""
        self.cycles_refund = amount
        self._committed.balance += amount
        if self._effects is not self._committed:
            self._effects.balance += amount

    # ---- Backend: events --------------------------------------------------------------------
    def publish(self, topic: str, value: bytes) -> None:
        if self._buffer is None:
            self.events.append((topic, bytes(value)))
        else:
            self._effects.events.append((topic, bytes(value)))


installed: Backend | None = None
"""The installed backend, or None. Use `current_backend()`; hot paths that run on every
message read ``installed or current_backend()`` to save a call."""


def set_backend(backend: Backend | None) -> Backend | None:
    """Install ``backend`` for all SDK calls (None: a fresh `LocalBackend` on next use).

    Returns the previously installed backend. The in-canister runtime calls this once
    at start-up; tests call it (or use `LocalCanister`) to get a clean world.
    """
    global installed, _generations_seen
    previous = installed
    # Generations count per backend (small numbers are cheap inside a canister); give
    # the one installed now numbers above any seen so far, so that a value remembered
    # with another backend's generation never matches (`Backend.generation`).
    for seen in (previous, backend):
        generation = getattr(seen, "generation", None)
        if type(generation) is int and generation > _generations_seen:
            _generations_seen = generation
    if backend is not None and type(getattr(backend, "generation", None)) is int:
        _generations_seen += 1
        backend.generation = _generations_seen  # type: ignore[misc]
    installed = backend
    return previous


_generations_seen = 0


def current_backend() -> Backend:
    """The installed backend; installs a fresh `LocalBackend` if there is none."""
    global installed
    if installed is None:
        installed = LocalBackend()
    return installed
