"""Per-user rate limits: a sliding window log of recent action times per (user, action).

The log keeps at most ``count`` timestamps, so a check reads and writes one small
value. A refused action raises `Reject`, which rolls the message back: refused
attempts are not counted. `limits.RATE_LIMITS` names every action.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic

from .limits import RATE_LIMITS, SECOND
from .store import rate_log


def check(caller: Principal, action: str) -> None:
    """Count one ``action`` of ``caller``; `Reject` naming the action, its limit and
    when to retry if the window is full. An unknown action is a programming error
    (``KeyError`` naming the known ones)."""
    limit = RATE_LIMITS.get(action)
    if limit is None:
        raise KeyError(f"no rate limit named {action!r}; known: {', '.join(RATE_LIMITS)}")
    now = ic.time()
    key = (caller, action)
    recent = [t for t in rate_log.get(key, []) if t > now - limit.window_ns]
    if len(recent) >= limit.count:
        wait = (min(recent) + limit.window_ns - now) / SECOND
        raise Reject(f"rate limit on {action}: at most {limit.describe()}; "
                     f"try again in {wait:.1f} s")
    recent.append(now)
    rate_log[key] = recent
