"""The SDK's `Backend` on the IC target: every method maps onto the ``_ic0`` extension.

How it works: the IC-target runtime glue (``icframework_ic_runtime``, built into the
module by ``icframework.compiler.ic_target``) builds one `Ic0Backend` over the ``_ic0``
module it was linked with (passed in, so this file imports nothing that exists only in
the canister) and runs every IC entry point through `Ic0Backend.run_entry` and every
call response through `Ic0Backend.run_callback`.

Durable state is a `StableLog` in stable memory; one message is one transaction: writes
go to a `WriteBuffer` over it and are appended to the log when an update-like entry
point returns without rejecting. Queries and `Rejected` outcomes drop them. A trap ends
the message in ``ic0.trap``, and the IC rolls back the heap and stable memory together.
The other effects (cycles, certified data, the global timer, calls) go to ``ic0`` at
once, as on the IC.

Events (`icframework.sdk.events.publish`) have no equivalent on the Internet Computer:
`Ic0Backend.publish` raises `SdkError` (a trap that names the limitation).

Randomness (`icframework.sdk.randomness`): the backend installs the ``os.urandom`` guard,
reseeds ``random`` from the canister id and the time at install and upgrade, arms the
global timer for "now" there (init and post_upgrade cannot make calls), and sends
``raw_rand`` from the next global-timer (or heartbeat) message; its reply seeds the
canister's DRBG and ``random``. A failed ``raw_rand`` is retried after
`icframework.sdk.randomness.RETRY_NS` through the global timer.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Callable
from typing import Any, NoReturn

from icframework.sdk import calls as _calls
from icframework.sdk import ic as _ic
from icframework.sdk import randomness
from icframework.sdk.backend import WriteBuffer
from icframework.sdk.calls import CALLBACK_KINDS, REJECT_CALLBACK, REPLY_CALLBACK, Done, Pending
from icframework.sdk.dispatch import Canister, Rejected, Reply
from icframework.sdk.dispatch import active_canister as _active_canister
from icframework.sdk.errors import SdkError
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
from icframework.sdk.stable_log import StableLog

__all__ = ["EVENTS_UNSUPPORTED", "FastEntry", "Ic0Backend", "entry_table"]

EVENTS_UNSUPPORTED = (
    "events.publish is not available on the Internet Computer: events are a feature of the "
    "local replica (subscribers over WebSockets); on the IC target, keep the data in "
    "stable structures and let clients poll a query (docs/ic-target.md)"
)

_READ_ONLY = frozenset({QUERY, COMPOSITE_QUERY, INSPECT_MESSAGE})
_NO_ARGUMENT = frozenset({PRE_UPGRADE, HEARTBEAT, GLOBAL_TIMER})
_RESEED = frozenset({INIT, POST_UPGRADE})
_SEEDING = frozenset({GLOBAL_TIMER, HEARTBEAT})  # kinds that may send raw_rand
_HAS_CALLER = frozenset({UPDATE, QUERY, COMPOSITE_QUERY, INSPECT_MESSAGE})
_SYSTEM_EXPORTS = {
    "canister_init": INIT,
    "canister_pre_upgrade": PRE_UPGRADE,
    "canister_post_upgrade": POST_UPGRADE,
    "canister_heartbeat": HEARTBEAT,
    "canister_global_timer": GLOBAL_TIMER,
    "canister_inspect_message": INSPECT_MESSAGE,
}
_METHOD_PREFIXES = (
    ("canister_update ", UPDATE),
    ("canister_query ", QUERY),
    ("canister_composite_query ", COMPOSITE_QUERY),
)
_EMPTY = b"DIDL\x00\x00"

FastEntry = Callable[[], None] | tuple[
    Callable[[], None], Callable[[bytes], object], Any, StableLog, Any, Callable[[object], None],
    Callable[[], None],
]
"""What `Ic0Backend.fast_entry` gives the C side for one export."""


def _no_reply(_result: object) -> None:
    return None


def entry_table(export_names: list[str]) -> list[tuple[str, str]]:
    """The SDK ``(kind, method)`` of each IC export name, in the same order."""
    table = []
    for name in export_names:
        if name in _SYSTEM_EXPORTS:
            table.append((_SYSTEM_EXPORTS[name], ""))
            continue
        for prefix, kind in _METHOD_PREFIXES:
            if name.startswith(prefix):
                table.append((kind, name[len(prefix):]))
                break
        else:
            raise SdkError(f"{name!r} is not an IC entry point this runtime can export")
    return table


class Ic0Backend:
    """`Backend` over ``_ic0`` (see the module docstring); ``output`` is the glue's
    ``print`` stream (a ``_pending`` partial line and ``flush``), flushed after each
    message and before a trap. ``guard_randomness`` installs `icframework.sdk.randomness`
    (process-wide: the canister's runtime does; a test on the host need not)."""
    publishes_events = False  # `publish` raises (see `icframework.sdk.events.supported`)

    def __init__(self, ic0: Any, *, output: Any = None, guard_randomness: bool = True) -> None:
        self._ic0 = ic0
        self._output = output
        self.store = StableLog(ic0)
        self.buffer = WriteBuffer(self.store)
        self.kind = ""
        # The SDK's callback ids by the 32-bit env the IC hands back to the callbacks.
        self._callbacks: dict[int, int] = {}
        self.generation = 0  # see `Backend.generation`; `set_backend` renumbers it
        native_put = getattr(ic0, "kv_put", None)
        if native_put is not None:  # `kv_put` in C: the same steps, no Python frame
            self.kv_put = functools.partial(  # type: ignore[method-assign]
                native_put, self, self.buffer.pending)
        if guard_randomness:
            randomness.install(self.message_context)

    # ---- entry points ---------------------------------------------------------------------
    def entry(self, canister: Canister, kind: str, method: str) -> Callable[[], None]:
        """The function the module's export for ``(kind, method)`` calls, prepared once.

        For update and query methods it is the hot path, written for few Python
        operations (each costs instructions): the method's prepared runner
        (`Canister.method_runner`), then reply, commit or drop the writes; other
        outcomes (a reject, an ``await``) and the other entry points go through
        `run_entry`.
        """
        if kind not in CALL_KINDS:
            return functools.partial(self.run_entry, canister, kind, method)
        run = canister.method_runner(kind, method)
        if run is None:
            return functools.partial(self.run_entry, canister, kind, method)
        ic0 = self._ic0
        arg_data, reply = ic0.msg_arg_data, ic0.reply
        store = self.store
        pending = self.buffer.pending
        output = self._output
        read_only = kind in _READ_ONLY
        finish = self._finish

        def call_method() -> None:
            if not store.loaded:
                store.load()
            out = run(arg_data())
            if type(out) is bytes:
                if pending:
                    if read_only:
                        self.discard()
                    else:
                        self.commit()
                reply(out)
            else:
                finish(out, read_only)
            if output is not None and output._pending:
                output.flush()

        return call_method

    def fast_entry(self, canister: Canister, kind: str, method: str) -> FastEntry:
        """What the C side runs for ``(kind, method)``: `entry`'s function, or for update
        and query methods ``(call_method, run, pending, store, output, after, settle)`` so
        that C does the common case without a Python frame of ours: when ``store.loaded``,
        it reads the argument, calls ``run(arg)`` and, for reply bytes with no ``pending``
        write, replies itself; any other outcome goes to ``after(out)``, and a reply C
        encoded itself with writes pending calls ``settle()`` (commit for an update, drop
        for a query) first; then it flushes a partial ``output`` line. ``call_method`` (the
        same in Python) runs when the store is not loaded yet.
        """
        call_method = self.entry(canister, kind, method)
        run = canister.method_runner(kind, method) if kind in CALL_KINDS else None
        if run is None:
            return call_method
        read_only = kind in _READ_ONLY
        reply = self._ic0.reply
        finish = self._finish
        settle = self.discard if read_only else self.commit

        def after(out: object) -> None:
            if type(out) is bytes:
                settle()  # there were writes (C replies itself when there are none)
                reply(out)
            else:
                finish(out, read_only)

        return (call_method, run, self.buffer.pending, self.store, self._output, after, settle)

    def _finish(self, out: object, read_only: bool) -> None:
        if isinstance(out, Rejected):
            self.discard()
            self._ic0.reject(out.message)
        elif read_only:
            self.discard()
        else:
            self.commit()  # waiting on an await: state is committed at each await

    def run_entry(self, canister: Canister, kind: str, method: str) -> None:
        """Run one IC entry point: reply or reject a call, commit or drop its writes."""
        store = self.store
        if not store.loaded:
            store.load()
        ic0 = self._ic0
        arg = _EMPTY if kind in _NO_ARGUMENT else ic0.msg_arg_data()
        if kind == INSPECT_MESSAGE:
            method = self._method_name()
        elif kind in _RESEED:
            # The snapshot's `random` state is the same in every canister: seed it with
            # this canister's id and the install time (replicas agree; predictable, so
            # not for secrets) until raw_rand arrives (`icframework.sdk.randomness`).
            random.seed(ic0.canister_self() + ic0.time().to_bytes(8, "little"))
            randomness.reset()
            # Callback ids start from a random epoch (unique across upgrades), which
            # `calls` draws from os.urandom: unseeded here, so it is drawn from `random`.
            _calls._ids[:] = [random.getrandbits(40) << 24]
        elif kind in _SEEDING and randomness.needs_seed():
            _calls.start(randomness.request(), _no_reply, "raw_rand seeding")
        self.kind = kind
        try:
            outcome = canister.dispatch(kind, method, arg)
        finally:
            self.kind = ""
        if isinstance(outcome, Rejected) or kind in _READ_ONLY:
            self.discard()
        else:
            self.commit()
        if kind in _RESEED:
            self._arm_timer(int(ic0.time()))  # raw_rand goes out from the next timer message
        elif kind == GLOBAL_TIMER:
            retry = randomness.retry_deadline()
            if retry:
                self._arm_timer(retry)
        if isinstance(outcome, Pending | Done):
            return
        if kind in CALL_KINDS:
            if isinstance(outcome, Reply):
                self._ic0.reply(outcome.data)
            else:
                self._ic0.reject(outcome.message)
        elif isinstance(outcome, Rejected) and kind != INSPECT_MESSAGE:
            self.trap(f"{kind} rejected: {outcome.message}")

    def _arm_timer(self, deadline: int) -> None:
        """Arm the global timer for ``deadline`` (ns) unless it is armed earlier."""
        previous = int(self._ic0.global_timer_set(deadline))
        if previous and previous < deadline:
            self._ic0.global_timer_set(previous)

    def _method_name(self) -> str:
        """The ingress message's method name in ``canister_inspect_message``."""
        name_of = getattr(self._ic0, "msg_method_name", None)
        return "" if name_of is None else str(name_of())

    def message_context(self) -> bytes:
        """What tells this message from others for the DRBG (`randomness.Drbg.enter`):
        its kind, whether it is replicated, its time, its argument's SHA-256, its method
        and, where the IC gives one, its caller (fixed widths, then the method's length:
        no two contexts read alike)."""
        ic0 = self._ic0
        message = _ic.message
        kind = message.kind or self.kind
        method, arg = message.current
        name = method.encode()
        return b"".join((
            kind.encode(), b"\x00", b"\x01" if ic0.in_replicated_execution() else b"\x00",
            int(ic0.time()).to_bytes(8, "big"), hashlib.sha256(arg).digest(),
            len(name).to_bytes(4, "big"), name,
            bytes(ic0.msg_caller()) if kind in _HAS_CALLER else b"",
        ))

    def run_callback(self, env: int, which: int) -> None:
        """Run the response to call ``env``: ``which`` 0 reply, 1 reject, 2 cleanup (the
        callbacks trapped: nothing to run, the waiting coroutine is gone with the trap)."""
        callback = self._callbacks.pop(env, env)
        if which == 2:
            return
        store = self.store
        if not store.loaded:
            store.load()
        kind = REPLY_CALLBACK if which == 0 else REJECT_CALLBACK
        arg = self._ic0.msg_arg_data() if which == 0 else b""
        self.kind = kind
        try:
            outcome = _active_canister().dispatch(kind, str(callback), arg)
        finally:
            self.kind = ""
        if isinstance(outcome, Rejected):
            self.discard()
            self._ic0.reject(outcome.message)
            return
        self.commit()
        if type(outcome) is Reply:
            self._ic0.reply(outcome.data)

    def commit(self) -> None:
        """Append the message's writes to the log. The generation stays: what the message
        saw is what is stored now (it moves on each write and on `discard`)."""
        pending = self.buffer.pending
        if len(pending) == 1:  # the common update: one write, nothing to sort
            key, value = pending.popitem()
            if value is None:
                self.store.apply([(key, None)])
            else:
                self.store.put(key, value)
        elif pending:
            self.store.apply(self.buffer.changes())
            pending.clear()

    def discard(self) -> None:
        pending = self.buffer.pending
        if pending:
            pending.clear()
            self.generation += 1

    # ---- Backend: message context -----------------------------------------------------------
    def caller(self) -> bytes:
        return bytes(self._ic0.msg_caller())

    def canister_self(self) -> bytes:
        return bytes(self._ic0.canister_self())

    def time(self) -> int:
        return int(self._ic0.time())

    # ---- Backend: cycles ----------------------------------------------------------------------
    def cycles_balance(self) -> int:
        return int(self._ic0.canister_cycle_balance())

    def cycles_available(self) -> int:
        return int(self._ic0.msg_cycles_available())

    def cycles_accept(self, max_amount: int) -> int:
        return int(self._ic0.msg_cycles_accept(max_amount))

    def cycles_refunded(self) -> int:
        if self.kind not in CALLBACK_KINDS:
            return 0  # only call callbacks have a refund (elsewhere ic0 would trap)
        return int(self._ic0.msg_cycles_refunded())

    def cycles_burn(self, amount: int) -> int:
        return int(self._ic0.cycles_burn(amount))

    # ---- Backend: certification, metering, output ---------------------------------------
    def certified_data_set(self, data: bytes) -> None:
        self._ic0.certified_data_set(bytes(data))

    def data_certificate(self) -> bytes | None:
        certificate = self._ic0.data_certificate()
        return None if certificate is None else bytes(certificate)

    def performance_counter(self, counter_type: int) -> int:
        return int(self._ic0.performance_counter(counter_type))

    def is_controller(self, principal: bytes) -> bool:
        """Whether ``principal`` controls this canister (``ic0.is_controller``)."""
        return bool(self._ic0.is_controller(bytes(principal)))

    def debug_print(self, message: str) -> None:
        self._ic0.debug_print(message)

    def trap(self, message: str) -> NoReturn:
        if self._output is not None:
            self._output.flush()
        self._ic0.trap(message)
        raise AssertionError("ic0.trap returned")  # pragma: no cover - it never does

    def accept_message(self) -> None:
        self._ic0.accept_message()

    # ---- Backend: timer ------------------------------------------------------------------------
    def global_timer_set(self, timestamp_ns: int) -> int:
        return int(self._ic0.global_timer_set(timestamp_ns))

    # ---- Backend: key-value store ------------------------------------------------------------
    def kv_get(self, key: bytes) -> bytes | None:
        # `WriteBuffer.get` inlined: one Python frame less on every read.
        pending = self.buffer.pending
        if key in pending:
            return pending[key]
        return self.store.get(key)

    def kv_put(self, key: bytes, value: bytes) -> None:
        self.buffer.pending[bytes(key)] = bytes(value)
        self.generation += 1

    def kv_delete(self, key: bytes) -> None:
        self.buffer.pending[bytes(key)] = None
        self.generation += 1

    def kv_scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        return self.buffer.scan(start, end, reverse, limit)

    # ---- Backend: calls and events ------------------------------------------------------------
    def call_perform(
        self, callee: bytes, method: str, arg: bytes, cycles: int, callback: int
    ) -> int:
        # The IC passes a 32-bit env to the callbacks: the SDK's callback ids are 64-bit
        # (an epoch and a counter), so the low 32 bits travel and are mapped back here.
        env = callback & 0xFFFF_FFFF
        code = int(self._ic0.call_perform(bytes(callee), method, bytes(arg), cycles, env, True))
        if code == 0:
            self._callbacks[env] = callback
        return code

    def reject_code(self) -> int:
        return int(self._ic0.msg_reject_code())

    def reject_message(self) -> str:
        return str(self._ic0.msg_reject_msg())

    def publish(self, topic: str, value: bytes) -> None:
        raise SdkError(EVENTS_UNSUPPORTED)
