"""``ic``: the System API as plain functions (``ic.caller()``, ``ic.time()``...).

Each function is a thin wrapper over the installed `Backend` (see
`icframework.sdk.backend`); the message's method name and argument bytes are kept by
the dispatcher in `message`. Outside a dispatched message (plain unit tests calling a
method directly) the values come from the `LocalBackend` and ``method_name()`` is "".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from icframework.core import Principal
from icframework.sdk import backend as _backend
from icframework.sdk import events
from icframework.sdk.errors import SdkError

__all__ = [
    "accept_message",
    "arg_data",
    "call",
    "call_raw",
    "caller",
    "canister_balance",
    "clear_timer",
    "cycles_burn",
    "data_certificate",
    "id",
    "is_controller",
    "method_name",
    "msg_cycles_accept",
    "msg_cycles_available",
    "msg_cycles_refunded",
    "performance_counter",
    "print",
    "publish",
    "randomness_ready",
    "set_certified_data",
    "set_timer",
    "set_timer_interval",
    "time",
    "trap",
]


class _Message:
    """The message being dispatched: entry-point kind, and ``current``, a tuple
    ``(method name, argument bytes)`` made afresh for every message (its identity tells
    one message from the next: the runtime backend keys its per-message caches on it)."""

    __slots__ = ("current", "kind")

    def __init__(self) -> None:
        self.kind = ""
        self.current: tuple[str, bytes] = NO_MESSAGE

    @property
    def method(self) -> str:
        return self.current[0]

    @property
    def arg(self) -> bytes:
        return self.current[1]


NO_MESSAGE: tuple[str, bytes] = ("", b"")
"""`_Message.current` between messages."""

message = _Message()


def caller() -> Principal:
    """The principal that sent the current message."""
    return Principal(_backend.current_backend().caller())


def id() -> Principal:
    """This canister's own principal."""
    return Principal(_backend.current_backend().canister_self())


def time() -> int:
    """The message time in nanoseconds since 1970-01-01 UTC (constant within a message)."""
    return _backend.current_backend().time()


def trap(message: str) -> NoReturn:
    """Abort the message with ``message``: every state change it made is rolled back."""
    _backend.current_backend().trap(message)


def print(*values: object, sep: str = " ") -> None:
    """Write one line to the canister log (``ic0.debug_print``)."""
    _backend.current_backend().debug_print(sep.join(map(str, values)))


def method_name() -> str:
    """The name of the method being called (useful in ``@inspect_message``)."""
    return message.current[0]


def arg_data() -> bytes:
    """The raw Candid argument bytes of the current message."""
    return message.current[1]


def accept_message() -> None:
    """Accept the ingress message in ``@inspect_message`` (returning True does it too)."""
    _backend.current_backend().accept_message()


def is_controller(principal: Principal | str) -> bool:
    """Whether ``principal`` (a `Principal` or its text) is one of this canister's
    controllers (``ic0.is_controller``). Raises `SdkError` on a backend that does not
    know the controllers (a plain `LocalBackend`: use `LocalCanister(controllers=...)`).
    """
    raw = (Principal.from_text(principal) if isinstance(principal, str) else principal).raw
    backend = _backend.current_backend()
    check: Callable[[bytes], bool] | None = getattr(backend, "is_controller", None)
    if check is None:
        raise SdkError(
            f"{type(backend).__name__} does not know this canister's controllers, so "
            "ic.is_controller cannot answer; in tests run the canister with "
            "LocalCanister(module, controllers=[...])"
        )
    return bool(check(raw))


def randomness_ready() -> bool:
    """Whether ``os.urandom``/``secrets`` are seeded (always on the local replica's
    component target; on the IC target once ``raw_rand`` has arrived, a round or two
    after install and after each upgrade: see `icframework.sdk.randomness`)."""
    from icframework.sdk import randomness

    return randomness.ready()


# ---- cycles (amounts are cycles, non-negative ints below 2**128) -------------------------


def canister_balance() -> int:
    """The canister's cycle balance."""
    return _backend.current_backend().cycles_balance()


def msg_cycles_available() -> int:
    """Cycles attached to the current call and not yet accepted."""
    return _backend.current_backend().cycles_available()


def msg_cycles_accept(max_amount: int) -> int:
    """Accept up to ``max_amount`` attached cycles; returns the amount accepted."""
    if max_amount < 0:
        raise SdkError(f"cannot accept a negative amount of cycles ({max_amount})")
    return _backend.current_backend().cycles_accept(max_amount)


def msg_cycles_refunded() -> int:
    """Cycles refunded with the reply being handled (0 outside call callbacks)."""
    return _backend.current_backend().cycles_refunded()


def cycles_burn(amount: int) -> int:
    """Burn up to ``amount`` cycles of the balance; returns the amount burnt."""
    if amount < 0:
        raise SdkError(f"cannot burn a negative amount of cycles ({amount})")
    return _backend.current_backend().cycles_burn(amount)


# ---- certification, metering, events -------------------------------------------------------


def set_certified_data(data: bytes) -> None:
    """Set the certified data (at most 32 bytes, usually a hash-tree root)."""
    _backend.current_backend().certified_data_set(bytes(data))


def data_certificate() -> bytes | None:
    """The certificate of the certified data (only in non-replicated queries)."""
    return _backend.current_backend().data_certificate()


def performance_counter(counter_type: int = 0) -> int:
    """Instructions executed: 0 = in this call, 1 = in the whole call context."""
    return _backend.current_backend().performance_counter(counter_type)


def publish(topic: str, value: Any, hint: Any = None) -> None:
    """Send ``value`` to the subscribers of ``topic`` if the message commits.

    The value is Candid-encoded with the type of ``hint`` (default: inferred from the
    value: a dataclass, TypedDict-shaped dict needs a hint, `bytes` is sent as is, so
    ``publish(topic, raw_candid)`` keeps working). Subscribers (WebSocket clients, see
    docs/events.md) receive the Candid bytes and the topic.
    """
    _backend.current_backend().publish(events.check_topic(topic), events.encode_event(value, hint))


# ---- inter-canister calls (see icframework.sdk.calls) ------------------------------------------


def call(
    callee: Principal | str,
    method: str,
    *args: Any,
    arg_types: tuple[Any, ...] = (),
    result: Any = None,
    cycles: int = 0,
) -> Any:
    """An awaitable call typed by hints: ``n = await ic.call(c, "get", result=nat)``."""
    from icframework.sdk import calls

    return calls.call(callee, method, *args, arg_types=arg_types, result=result, cycles=cycles)


def call_raw(callee: Principal | str, method: str, arg: bytes = b"DIDL\x00\x00", *,
             cycles: int = 0) -> Any:
    """An awaitable call with a ready Candid argument; gives the reply bytes."""
    from icframework.sdk import calls

    return calls.call_raw(callee, method, arg, cycles=cycles)


# ---- timers (see icframework.sdk.timers) -----------------------------------------------------


def set_timer(delay_ns: int, callback: Callable[[], Any]) -> int:
    """Call ``callback`` once after ``delay_ns`` nanoseconds; returns the timer id."""
    from icframework.sdk import timers

    return timers.set_timer(delay_ns, callback)


def set_timer_interval(interval_ns: int, callback: Callable[[], Any]) -> int:
    """Call ``callback`` every ``interval_ns`` nanoseconds; returns the timer id."""
    from icframework.sdk import timers

    return timers.set_timer_interval(interval_ns, callback)


def clear_timer(timer_id: int) -> None:
    """Cancel a timer (no error if it already fired or was cleared)."""
    from icframework.sdk import timers

    timers.clear_timer(timer_id)
