"""Timers: one-shot and periodic callbacks over the backend's single global timer.

How it works: the timer queue is durable (namespace ``__timers`` of the key-value
store), so timers survive upgrades and restarts. Entries are keyed by
``deadline (8 bytes BE) + id (8 bytes BE)`` so the earliest deadline is the first key;
a second index maps each id to its deadline for `clear_timer`. After every change the
backend's global timer is armed for the earliest deadline. When it fires
(``dispatch("global_timer")``) `run_due_timers` takes every entry whose deadline has
passed, reschedules the periodic ones at ``now + interval``, calls the callbacks in
deadline order and re-arms.

Because the queue is stored, a callback is stored *by name* (``module:qualname``): it
must be a module-level function (not a lambda or closure). A callback that raises is
reported through ``debug_print`` and does not stop the others; its writes made before
the exception are kept (the message is not rolled back).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

from icframework.sdk import backend as _backend
from icframework.sdk.errors import TimerError
from icframework.sdk.stable import namespace, scan_range

__all__ = ["clear_timer", "rearm", "run_due_timers", "set_timer", "set_timer_interval"]

_NS = namespace("__timers")
_NEXT_ID = _NS + b"\x00"
_QUEUE = _NS + b"\x01"
_QUEUE_END = _NS + b"\x02"
_BY_ID = _NS + b"\x02"
_MAX = (1 << 64) - 1


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def callback_ref(callback: Callable[[], Any]) -> str:
    """``module:qualname`` of a module-level function; raises `TimerError` otherwise."""
    module = getattr(callback, "__module__", None)
    qualname = getattr(callback, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise TimerError(
            f"timer callback {callback!r} must be a module-level function (timers are stored "
            "durably and refer to their callback by name; lambdas and closures cannot be)"
        )
    ref = f"{module}:{qualname}"
    if resolve_callback(ref) is not callback:
        raise TimerError(f"timer callback {ref} cannot be found again by its name")
    return ref


def resolve_callback(ref: str) -> Callable[[], Any] | None:
    module_name, _, qualname = ref.partition(":")
    module = sys.modules.get(module_name)
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if callable(obj) else None


def _schedule(delay_ns: int, interval_ns: int, callback: Callable[[], Any]) -> int:
    if delay_ns < 0:
        raise TimerError(f"timer delay must be >= 0 nanoseconds, got {delay_ns}")
    ref = callback_ref(callback)
    kv = _backend.current_backend()
    raw = kv.kv_get(_NEXT_ID)
    timer_id = 1 if raw is None else int.from_bytes(raw, "big")
    kv.kv_put(_NEXT_ID, _u64(timer_id + 1))
    deadline = min(kv.time() + delay_ns, _MAX)
    kv.kv_put(_QUEUE + _u64(deadline) + _u64(timer_id), _u64(interval_ns) + ref.encode())
    kv.kv_put(_BY_ID + _u64(timer_id), _u64(deadline))
    rearm()
    return timer_id


def set_timer(delay_ns: int, callback: Callable[[], Any]) -> int:
    """Call ``callback()`` once, ``delay_ns`` nanoseconds from now; returns the timer id."""
    return _schedule(delay_ns, 0, callback)


def set_timer_interval(interval_ns: int, callback: Callable[[], Any]) -> int:
    """Call ``callback()`` every ``interval_ns`` nanoseconds (> 0); returns the timer id."""
    if interval_ns <= 0:
        raise TimerError(f"timer interval must be > 0 nanoseconds, got {interval_ns}")
    return _schedule(interval_ns, interval_ns, callback)


def clear_timer(timer_id: int) -> None:
    """Cancel timer ``timer_id``; no error if it already fired or never existed."""
    kv = _backend.current_backend()
    index_key = _BY_ID + _u64(timer_id)
    raw = kv.kv_get(index_key)
    if raw is None:
        return
    kv.kv_delete(index_key)
    kv.kv_delete(_QUEUE + raw + _u64(timer_id))
    rearm()


def rearm() -> None:
    """Arm the backend's global timer for the earliest deadline (or disarm it)."""
    kv = _backend.current_backend()
    first = kv.kv_scan(_QUEUE, _QUEUE_END, False, 1)
    kv.global_timer_set(int.from_bytes(first[0][0][len(_QUEUE) : len(_QUEUE) + 8], "big")
                        if first else 0)


def run_due_timers() -> int:
    """Run every timer whose deadline has passed; returns how many ran."""
    from icframework.sdk.dispatch import call_hook

    kv = _backend.current_backend()
    now = kv.time()
    due: list[tuple[bytes, Callable[[], Any] | None]] = []
    for key, value in list(scan_range(_QUEUE, _QUEUE + _u64(now) + b"\xff" * 8 + b"\x00")):
        timer_id = key[len(_QUEUE) + 8 :]
        interval = int.from_bytes(value[:8], "big")
        ref = value[8:].decode()
        callback = resolve_callback(ref)
        kv.kv_delete(key)
        if interval and callback is not None:
            deadline = _u64(min(now + interval, _MAX))
            kv.kv_put(_QUEUE + deadline + timer_id, value)
            kv.kv_put(_BY_ID + timer_id, deadline)
        else:
            kv.kv_delete(_BY_ID + timer_id)
        if callback is None:
            kv.debug_print(f"timer callback {ref} no longer exists; timer dropped")
        due.append((key, callback))
    for _, callback in due:
        if callback is not None:
            call_hook(callback)
    rearm()
    return len(due)
