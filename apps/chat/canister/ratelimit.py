"""Per-user rate limits: a sliding window log of recent action times per (user, limit).

The log keeps at most ``count`` timestamps, so a check reads and writes one small
value. A refused action raises `Reject`, which rolls the message back: refused
attempts are not counted.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic

from .limits import SECOND, RateLimit
from .store import rate_log


def allow(user: Principal, limit: RateLimit) -> bool:
    """Record an action of ``user`` under ``limit`` if the window has room; whether it had."""
    now = ic.time()
    key = (user, limit.name)
    recent = [t for t in rate_log.get(key, []) if t > now - limit.window_ns]
    if len(recent) >= limit.count:
        return False
    recent.append(now)
    rate_log[key] = recent
    return True


def check(user: Principal, limit: RateLimit) -> None:
    """Like `allow`, but refuse with `Reject` saying the limit and when to retry."""
    if allow(user, limit):
        return
    now = ic.time()
    oldest = min(t for t in rate_log[(user, limit.name)] if t > now - limit.window_ns)
    wait = (oldest + limit.window_ns - now) / SECOND
    raise Reject(f"rate limit: at most {limit.describe()}; try again in {wait:.1f} s")
