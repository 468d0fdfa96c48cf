"""The in-canister `Backend`: the SDK over the WIT imports of the shared runtime component.

How it works: the runtime glue (``icframework/compiler/runtime/icframework_runtime.py``)
executes the app's source; if it registered SDK methods, the glue builds one
`RuntimeBackend` over the component's WIT imports (``ic0``, ``kv``, ``events``, passed
in, so this module imports nothing that exists only inside the component) and routes
every ``call`` export through `RuntimeBackend.run`, which maps the WIT call kind onto
the SDK's entry-point kind and calls `icframework.sdk.dispatch`.

One message is one transaction on the guest side too: key-value writes go to a
`WriteBuffer` (reads and scans see them without crossing to the host), events are
kept in a list, and both leave once when an update-like entry point returns normally:
in the message outcome that ``call-method`` and ``call-callback`` answer
(`icframework.core.outcome`, no extra crossing), or, for the entry points that come
through ``call`` (init, upgrades, timers, heartbeat), as one ``kv.commit`` (one
``kv.put``/``kv.delete`` for a single write) and ``events.publish`` per event. Queries
and `Rejected` outcomes drop them without crossing; a trap drops them and calls
``ic0.trap``, after which the host discards the instance.

Committed values this instance read or wrote are cached across messages
(`CommittedCache`, at most `CACHE_BYTES`): the instance is the only writer of its
canister's store, and the host discards the instance whenever the store changes other
than by the instance's own committed writes (a trap, a failed upgrade rolled back, an
upgrade or reinstall, a restart), so the cache cannot go stale. A value read a second
time costs no crossing. The other effects (cycles, certified data, the global timer)
go to the host at once: the replica's System API checks and rolls them back on a trap,
but a `Rejected` update keeps them (the SDK only rejects before user code ran or when
it raised `Reject`).

Blobs cross as bytes (WIT ``list<u8>``, see docs/abi.md); cycles as (high, low) 64-bit
halves.
"""

from __future__ import annotations

import struct
import types
from collections.abc import Callable
from typing import Any, NoReturn

from icframework.candid import CandidError
from icframework.core.outcome import (
    NO_OUTCOME,
    REPLY,
    encode_outcome,
)
from icframework.core.outcome import delete_record as _delete_record
from icframework.core.outcome import put_record as _put_record
from icframework.sdk import calls
from icframework.sdk.backend import WriteBuffer
from icframework.sdk.calls import (
    CALLBACK_KINDS,
    REJECT_CALLBACK,
    REPLY_CALLBACK,
    Done,
    Pending,
)
from icframework.sdk.dispatch import (
    EMPTY_MESSAGE,
    ArgumentError,
    Canister,
    CompiledMethod,
    Rejected,
    Reply,
    ResultError,
    outcome_of,
    refusal,
)
from icframework.sdk.dispatch import active_canister as _active_canister
from icframework.sdk.errors import Trapped
from icframework.sdk.fastcodec import fixed_width, optional_fixed_width
from icframework.sdk.ic import message as _ic_message
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

__all__ = ["CACHE_BYTES", "SDK_KINDS", "CommittedCache", "RuntimeBackend", "export_names"]

CACHE_BYTES = 16 * 1024 * 1024
"""Bytes of keys and values `CommittedCache` keeps before it starts over (empty)."""

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
_Coroutine = types.CoroutineType
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


class CommittedCache:
    """The committed key-value state as this instance sees it: host reads, cached.

    `get` answers from the cache or asks the host once (a miss is cached too: None);
    `scan` always asks the host (ranges are not cached); `apply` records the writes of
    a message that commits. Past `CACHE_BYTES` the cache empties and refills.
    """

    __slots__ = ("_get", "_scan", "size", "values")

    def __init__(self, kv: Any) -> None:
        self._get: Callable[[bytes], bytes | None] = kv.get
        self._scan: Callable[[bytes, bytes | None, bool, int], list[tuple[bytes, bytes]]] = (
            kv.scan
        )
        self.values: dict[bytes, bytes | None] = {}
        self.size = 0

    def get(self, key: bytes) -> bytes | None:
        value = self.values.get(key, _UNKNOWN)
        if value is _UNKNOWN:
            return self.fetch(key)
        found: bytes | None = value
        return found

    def fetch(self, key: bytes) -> bytes | None:
        """Ask the host for a value this cache does not hold, and keep it."""
        value = self._get(key)
        size = self.size + len(key)
        if value is not None:
            size += len(value)
        if size > CACHE_BYTES:
            self.values.clear()
            size = len(key) if value is None else len(key) + len(value)
        self.size = size
        self.values[key] = value
        return value

    def scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        return list(self._scan(start, end, reverse, limit))

    def apply(self, changes: list[tuple[bytes, bytes | None]]) -> None:
        values = self.values
        size = self.size
        for key, value in changes:
            size += len(key) + (0 if value is None else len(value))
            values[key] = value
        if size > CACHE_BYTES:
            values.clear()
            size = 0
        self.size = size

    def clear(self) -> None:
        self.values.clear()
        self.size = 0


_UNKNOWN: Any = object()


def _halves(amount: int) -> tuple[int, int]:
    return ((amount >> 64) & _U64, amount & _U64)


def _amount(halves: tuple[int, int]) -> int:
    return (halves[0] << 64) | halves[1]


class RuntimeBackend:
    """`Backend` over the runtime component's WIT imports (``ic0``, ``kv``, ``events``).

    ``before_trap`` runs just before ``ic0.trap`` (the glue flushes ``print`` output).
    The caller and the time are read once per message, when asked for; the canister id
    once per instance.
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
        self._kv_put: Callable[[bytes, bytes], None] = kv.put
        self._kv_delete: Callable[[bytes], None] = kv.delete
        self._kv_write: Callable[[bytes, bytes | None], Any] = kv.Write
        self._publish: Callable[[str, bytes], None] = events.publish
        self._before_trap = before_trap
        self.committed = CommittedCache(kv)
        self._values = self.committed.values
        self.buffer = WriteBuffer(self.committed)
        self._pending = self.buffer.pending
        self.events: list[tuple[str, bytes]] = []
        self.kind = ""
        self.generation = 0  # see `Backend.generation`; `set_backend` renumbers it
        # Per-message caches, valid while `ic.message.current` is the tuple they were
        # read under (a fresh tuple each message, so a new message needs no reset).
        self._caller = b""
        self._caller_of: object = None
        self._time = 0
        self._time_of: object = None
        self._self: bytes | None = None

    # ---- the message --------------------------------------------------------------------
    def run(
        self, canister: Canister, kind: str, method: str, arg: bytes
    ) -> Reply | Rejected | None:
        """Run one WIT ``call``: the SDK outcome for update/query calls and callbacks,
        None otherwise (and None when the method now waits on an ``await``).

        Writes are sent to the host here (``kv.commit``) for update-like kinds that did
        not reject (a method that ends at an ``await`` commits: state is committed at
        each await); a reject in a lifecycle hook traps (the IC has no reject there); an
        ``inspect`` that does not accept just ends (the message is refused).
        """
        sdk_kind, method = _sdk_kind(kind, method)
        outcome = self._dispatch(canister, sdk_kind, method, arg)
        if isinstance(outcome, Rejected) or sdk_kind in _READ_ONLY:
            self.discard()
        else:
            self.commit()
        if type(outcome) is Pending or type(outcome) is Done:
            return None
        if sdk_kind in CALL_KINDS or sdk_kind in CALLBACK_KINDS:
            answer: Reply | Rejected = outcome
            return answer
        if isinstance(outcome, Rejected) and sdk_kind != INSPECT_MESSAGE:
            self.trap(f"{kind} rejected: {outcome.message}")
        return None

    def _dispatch(self, canister: Canister, sdk_kind: str, method: str, arg: bytes) -> Any:
        self.kind = sdk_kind
        try:
            return canister.dispatch(sdk_kind, method, arg)
        finally:
            self.kind = ""

    def method_runner(
        self, canister: Canister, kind: str, method: str
    ) -> Callable[[bytes], bytes] | None:
        """The runner of one update/query method for the ``call-method`` export, prepared
        once: ``runner(arg)`` runs the method and answers the message outcome blob
        (`icframework.core.outcome`) with the reply and, unless the method is read-only
        or rejected, the message's writes and events. A reject is sent with
        ``ic0.msg_reject``. None if the canister has no such method.
        """
        sdk_kind, name = _sdk_kind(kind, method)
        if canister.method_runner(sdk_kind, name) is None:
            return None
        return _compile_runner(self, canister.methods[name], sdk_kind in _READ_ONLY)

    def callback_runner(self, kind: str, method: str, arg: bytes) -> bytes:
        """Run a reply or reject callback (``call-callback``); answers the outcome blob."""
        sdk_kind = SDK_KINDS[kind]
        out = self._dispatch(_active_canister(), sdk_kind, method, arg)
        if type(out) is Reply:
            return self._outcome(REPLY + out.data)
        return self._other_outcome(out, False)

    def _finish(self, out: Any, read_only: bool) -> bytes:
        """The outcome of a method's run: ``out`` is the reply bytes, a `Rejected` or
        `Pending` (what `Canister.method_runner`'s run answers)."""
        if type(out) is bytes:
            if not self._pending and not self.events:
                return REPLY + out
            if read_only:
                self.discard()
                return REPLY + out
            return self._outcome(REPLY + out)
        return self._other_outcome(out, read_only)

    def _other_outcome(self, out: Any, read_only: bool) -> bytes:
        if type(out) is Rejected:
            self.discard()
            self._ic0.msg_reject(out.message)
            return NO_OUTCOME
        if read_only:  # a composite query waiting on a call
            self.discard()
            return NO_OUTCOME
        return self._outcome(NO_OUTCOME)  # waiting on an await (or a timer's coroutine ended)

    def _outcome(self, tail: bytes) -> bytes:
        """The outcome blob: the message's writes and events as effect records, then
        ``tail`` (the reply record, or nothing). Records the writes as committed and
        forgets them and the events."""
        pending = self._pending
        events = self.events
        if not events and len(pending) == 1:  # the common update: one write
            key, value = pending.popitem()
            return self._single_write(key, value, tail)
        parts: list[bytes] = []
        if pending:
            committed = self.committed
            size = committed.size
            if len(pending) == 2 and not events:  # e.g. a new map entry and the length
                (k1, v1), (k2, v2) = pending.items()
                if v1 is not None and v2 is not None:
                    n1 = len(v1)
                    n2 = len(v2)
                    committed.values.update(pending)
                    pending.clear()
                    committed.size = size + len(k1) + len(k2) + n1 + n2
                    if committed.size > CACHE_BYTES:
                        committed.clear()
                    return b"".join((
                        _pack_tag(_PUT, len(k1)), k1, _U32S[n1] if n1 < _SMALL else _pack_u32(n1),
                        v1, _pack_tag(_PUT, len(k2)), k2,
                        _U32S[n2] if n2 < _SMALL else _pack_u32(n2), v2, tail,
                    ))
            append = parts.append
            for key, value in pending.items():
                if value is None:
                    size += len(key)
                    append(_delete_record(key))
                else:
                    n = len(value)
                    size += len(key) + n
                    append(_pack_tag(_PUT, len(key)))
                    append(key)
                    append(_U32S[n] if n < _SMALL else _pack_u32(n))
                    append(value)
            committed.values.update(pending)
            pending.clear()
            committed.size = size
            if size > CACHE_BYTES:
                committed.clear()
        if events:
            parts.append(encode_outcome(None, None, events))
            events.clear()
        parts.append(tail)
        return b"".join(parts)

    def _single_write(self, key: bytes, value: bytes | None, tail: bytes) -> bytes:
        """The outcome of one write (already taken from the pending writes) and ``tail``."""
        committed = self.committed
        committed.values[key] = value
        if value is None:
            committed.size += len(key)
            record = _delete_record(key) + tail
        else:
            size = len(value)
            committed.size += len(key) + size
            record = b"".join((
                _put_prefixes.get(key) or _put_prefix(key),
                _U32S[size] if size < _SMALL else _pack_u32(size), value, tail,
            ))
        if committed.size > CACHE_BYTES:
            committed.clear()
        return record

    def commit(self) -> None:
        """Send the message's writes (one ``kv.commit``) and events to the host now."""
        pending = self._pending
        if pending:
            changes = list(pending.items())
            pending.clear()
            if len(changes) == 1:  # kv.put/delete cross for about half of a one-row commit
                key, value = changes[0]
                if value is None:
                    self._kv_delete(key)
                else:
                    self._kv_put(key, value)
            else:
                write = self._kv_write
                self._kv_commit([write(k, v) for k, v in changes])
            self.committed.apply(changes)
        if self.events:
            for topic, value in self.events:
                self._publish(topic, value)
            self.events.clear()

    def discard(self) -> None:
        """Forget the message's writes and events."""
        if self._pending:
            self._pending.clear()
            self.generation += 1
        self.events.clear()

    def forget(self) -> None:
        """Forget every committed value this instance has seen (they are read again)."""
        self.committed.clear()
        self.generation += 1

    # ---- Backend: context ---------------------------------------------------------------
    def caller(self) -> bytes:
        current = _ic_message.current
        if self._caller_of is current:
            return self._caller
        caller = self._caller = bytes(self._ic0.msg_caller())
        self._caller_of = current
        return caller

    def canister_self(self) -> bytes:
        own = self._self
        if own is None:
            own = self._self = bytes(self._ic0.canister_self())
        return own

    def time(self) -> int:
        current = _ic_message.current
        if self._time_of is current:
            return self._time
        now = self._time = int(self._ic0.time())
        self._time_of = current
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
        self._ic0.certified_data_set(bytes(data))

    def data_certificate(self) -> bytes | None:
        blob = self._ic0.data_certificate()
        return None if blob is None else bytes(blob)

    def performance_counter(self, counter_type: int) -> int:
        return int(self._ic0.performance_counter(counter_type))

    def is_controller(self, principal: bytes) -> bool:
        """Whether ``principal`` controls this canister (``ic0.is-controller``)."""
        return bool(self._ic0.is_controller(bytes(principal)))

    def debug_print(self, message: str) -> None:
        self._ic0.debug_print(message.encode("utf-8"))

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
        # The buffer's and the cache's lookups inline (see `method_runner` on calls).
        pending = self._pending
        if key in pending:
            return pending[key]
        value = self._values.get(key, _UNKNOWN)
        if value is _UNKNOWN:
            return self.committed.fetch(key)
        return value  # type: ignore[no-any-return]

    # Keys and values are bytes (the SDK's structures build them so): no conversion.
    def kv_put(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value
        self.generation += 1

    def kv_delete(self, key: bytes) -> None:
        self._pending[key] = None
        self.generation += 1

    def kv_scan(
        self, start: bytes, end: bytes | None, reverse: bool, limit: int
    ) -> list[tuple[bytes, bytes]]:
        return self.buffer.scan(start, end, reverse, limit)

    # ---- Backend: inter-canister calls ----------------------------------------------------
    def call_perform(
        self, callee: bytes, method: str, arg: bytes, cycles: int, callback: int
    ) -> int:
        return int(self._ic0.call_perform(
            bytes(callee), method, bytes(arg), _halves(cycles), callback
        ))

    def reject_code(self) -> int:
        return int(self._ic0.msg_reject_code())

    def reject_message(self) -> str:
        return str(self._ic0.msg_reject_msg())

    # ---- Backend: events --------------------------------------------------------------------
    def publish(self, topic: str, value: bytes) -> None:
        self.events.append((topic, bytes(value)))


def _sdk_kind(kind: str, method: str) -> tuple[str, str]:
    """The SDK entry-point kind and method name of a WIT call kind and method."""
    sdk_kind = SDK_KINDS[kind]
    if sdk_kind == UPDATE and method.startswith(_COMPOSITE_PREFIX):
        return COMPOSITE_QUERY, method[len(_COMPOSITE_PREFIX):]
    return sdk_kind, method


# ---- prepared method runners ------------------------------------------------------------
#
# Inside the component every Python operation is paid for in instructions (about a
# hundred per bytecode, about a thousand per function call), so the runner of each
# method is generated once, at install, for its shape: no branch on what is known when
# the app loads, no call it can avoid. What it does is `Canister.method_runner`'s run
# (guards, decode, call, encode; errors through the same `outcome_of`) with this
# backend's part of the message folded in:
#
# - a method without parameters called with the empty argument is called at once;
#   parameters that are all fixed-width numbers are read with one ``struct.unpack``
#   of the whole message when it starts with the header the SDK's encoder writes;
#   anything else is `CompiledMethod.codecs`' decoder (the general path);
# - a method without a result answers a constant outcome; one whose result is a
#   fixed-width number packs the outcome (reply tag, Candid header, value) with one
#   ``struct.pack``; anything else (and any value those would not encode exactly as
#   the general encoder does) goes through `CompiledMethod.codecs`' encoder;
# - coroutines, rejects and errors leave the fast path for `_finish`.
#
# tests/sdk and tests/replica pin that both paths give the same replies, rejects and
# traps.

_pack_u32 = struct.Struct("<I").pack
_pack_tag = struct.Struct("<BI").pack
_PUT = 0x02  # the put record's tag (`icframework.core.outcome`)
_SMALL = 1024
_U32S = tuple(_pack_u32(n) for n in range(_SMALL))  # little-endian u32 lengths, ready
_put_prefixes: dict[bytes, bytes] = {}
"""``0x02 key-length key`` (a put record without its value) by key, for keys written often."""
_PUT_PREFIXES = 4096

def _put_prefix(key: bytes) -> bytes:
    prefix = _put_record(key, b"")[:-4]
    if len(_put_prefixes) >= _PUT_PREFIXES:
        _put_prefixes.clear()
    _put_prefixes[key] = prefix
    return prefix


_RUNNER_SOURCE = """\
def runner(arg):
    msg.current = (NAME, arg)
    try:
{guards}{call}{result}
    except Exception as exc:
        return failed(exc)
{effects}    return out
"""
_EFFECTS_READ_ONLY = """\
    if pending or events:
        backend.discard()
"""
# An update's effects; one write (the common case) inline, as `RuntimeBackend._outcome`.
_EFFECTS_UPDATE = """\
    if pending:
        if events or len(pending) != 1:
            return outcome(out)
        key, value = pending.popitem()
        if value is None:
            return single(key, value, out)
        committed_values[key] = value
        size = len(value)
        committed.size += len(key) + size
        if committed.size > CACHE_BYTES:
            committed.clear()
        return join((
            put_prefixes.get(key) or put_prefix(key),
            U32S[size] if size < SMALL else pack_u32(size), value, out,
        ))
    if events:
        return outcome(out)
"""
_GUARDS = """\
        refused = refusal(guards, NAME)
        if refused is not None:
            return other(refused, READ_ONLY)
"""
_CALL_NO_ARGS = """\
        if arg == EMPTY:
            result = fn()
        else:
            result = fn(*decode(arg))
"""
_CALL_FIXED = """\
        try:
            head, {names} = unpack(arg)
        except struct_error:
            head = None
        if head == HEADER:
            result = fn({names})
        else:
            result = fn(*decode(arg))
"""
_CALL_GENERAL = """\
        result = fn(*decode(arg))
"""
_RESULT_NONE = """\
        if result is not None and type(result) is Coroutine:
            return after(result)
        out = EMPTY_OUTCOME"""
_RESULT_FIXED = """\
        if type(result) is RESULT_TYPE:
            try:
                out = pack(OUTCOME_HEADER, result)
            except (struct_error, OverflowError):
                return after(result)
        else:
            return after(result)"""
_RESULT_OPT_FIXED = """\
        if result is None:
            out = NONE_OUTCOME
        elif type(result) is RESULT_TYPE:
            try:
                out = pack(OUTCOME_HEADER, result)
            except (struct_error, OverflowError):
                return after(result)
        else:
            return after(result)"""
_RESULT_GENERAL = """\
        if type(result) is Coroutine:
            return after(result)
        try:
            out = REPLY + encode_result(result)
        except CandidError as exc:
            raise ResultError(target.result_error(exc)) from None"""


def _compile_runner(
    backend: RuntimeBackend, target: CompiledMethod, read_only: bool
) -> Callable[[bytes], bytes]:
    """The generated runner of ``target`` (see above)."""
    decode_args, encode_result = target.codecs()
    no_result = not target.result_types
    fn, where, name = target.fn, target.where, target.name

    def decode(arg: bytes) -> tuple[Any, ...]:
        try:
            return decode_args(arg)
        except CandidError as exc:
            raise ArgumentError(target.argument_error(exc)) from None

    def after(result: Any) -> bytes:
        # The rest of the run for a coroutine, or a result the fast path does not encode.
        out: Any
        try:
            if type(result) is _Coroutine:
                out = calls.start(result, target.finish, where)
            elif no_result:
                out = EMPTY_MESSAGE
            else:
                try:
                    out = encode_result(result)
                except CandidError as exc:
                    raise ResultError(target.result_error(exc)) from None
        except Exception as exc:
            out = outcome_of(exc)
        return backend._finish(out, read_only)

    def failed(exc: Exception) -> bytes:
        return backend._finish(outcome_of(exc), read_only)

    namespace: dict[str, Any] = {
        "msg": _ic_message, "NAME": name, "backend": backend, "fn": fn, "target": target,
        "guards": target.guards, "refusal": refusal, "other": backend._other_outcome,
        "READ_ONLY": read_only, "EMPTY": EMPTY_MESSAGE, "decode": decode, "after": after,
        "failed": failed, "pending": backend._pending,
        "events": backend.events, "Coroutine": _Coroutine, "REPLY": REPLY,
        "EMPTY_OUTCOME": REPLY + EMPTY_MESSAGE, "encode_result": encode_result,
        "CandidError": CandidError, "ResultError": ResultError,
        "struct_error": struct.error, "outcome": backend._outcome,
        "single": backend._single_write, "committed": backend.committed,
        "committed_values": backend.committed.values, "CACHE_BYTES": CACHE_BYTES,
        "join": b"".join, "put_prefixes": _put_prefixes, "put_prefix": _put_prefix,
        "U32S": _U32S, "SMALL": _SMALL, "pack_u32": _pack_u32,
    }
    if not target.arg_types:
        call = _CALL_NO_ARGS
    else:
        fixed = None if target.arg_convs is not None else fixed_width(target.arg_types)
        if fixed is None:
            call = _CALL_GENERAL
        else:
            codes, header, _kind = fixed
            names = ", ".join(f"a{i}" for i in range(len(codes)))
            call = _CALL_FIXED.format(names=names)
            namespace["HEADER"] = header
            namespace["unpack"] = struct.Struct(f"<{len(header)}s{codes}").unpack
    if no_result:
        result = _RESULT_NONE
    else:
        plain = target.result_conv is None
        fixed = fixed_width(target.result_types) if plain else None
        optional = optional_fixed_width(target.result_types[0]) if plain else None
        if fixed is not None:
            codes, header, kind = fixed
            result = _RESULT_FIXED
        elif optional is not None:
            codes, header, kind, none = optional
            result = _RESULT_OPT_FIXED
            namespace["NONE_OUTCOME"] = REPLY + none
        else:
            result = _RESULT_GENERAL
        if result is not _RESULT_GENERAL:
            namespace["RESULT_TYPE"] = kind
            namespace["OUTCOME_HEADER"] = REPLY + header
            namespace["pack"] = struct.Struct(f"<{len(header) + 1}s{codes}").pack
    source = _RUNNER_SOURCE.format(
        guards=_GUARDS if target.guards else "", call=call, result=result,
        effects=_EFFECTS_READ_ONLY if read_only else _EFFECTS_UPDATE,
    )
    exec(_runner_code(source), namespace)
    runner: Callable[[bytes], bytes] = namespace["runner"]
    # Runners of one shape share a code object, and with it the interpreter's inline
    # caches (specialised for one namespace): alternating methods would keep missing
    # them (~3 k instructions a message). A copy of the code has caches of its own.
    # Assigning it also clears the function's version, so the glue's one call of every
    # runner is never specialised for one of them: a runner made with a version would
    # save ~260 instructions a message, and cost another method ~300 at that call.
    runner.__code__ = runner.__code__.replace()
    return runner


_RUNNER_CODES: dict[str, types.CodeType] = {}
"""Compiled runner sources: they differ only by shape, and compiling costs millions of
instructions inside a canister (the common shapes are compiled when the runtime is built,
see `_precompile`)."""


def _runner_code(source: str) -> types.CodeType:
    code = _RUNNER_CODES.get(source)
    if code is None:
        code = _RUNNER_CODES[source] = compile(source, "<method runner>", "exec")
    return code


def _precompile() -> None:
    """Compile the common runner shapes (no guards; up to three fixed-width parameters)."""
    calls = [_CALL_NO_ARGS, _CALL_GENERAL] + [
        _CALL_FIXED.format(names=", ".join(f"a{i}" for i in range(n))) for n in (1, 2, 3)
    ]
    for call in calls:
        for result in (_RESULT_NONE, _RESULT_FIXED, _RESULT_OPT_FIXED, _RESULT_GENERAL):
            for effects in (_EFFECTS_READ_ONLY, _EFFECTS_UPDATE):
                _runner_code(_RUNNER_SOURCE.format(
                    guards="", call=call, result=result, effects=effects
                ))


_precompile()
