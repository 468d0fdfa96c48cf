"""Per-user rate limits: a sliding-window log of recent action times per (user, action).

`limits.RATE_LIMITS` names every action with its count and window. The log keeps at
most ``count`` timestamps, so a check reads and writes one small value. A refused
action raises `Reject`, which rolls the message back: refused attempts are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from icframework.sdk import Principal, Reject, ic

from .limits import HOUR, MINUTE, RATE_LIMITS, SECOND
from .social_store import rate_log


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` actions per sliding ``window_ns``, per user."""

    name: str
    count: int
    window_ns: int
    what: str

    def describe(self) -> str:
        """E.g. ``"20 comments per 1 min"``."""
        if self.window_ns < MINUTE:
            shown = f"{self.window_ns / SECOND:g} s"
        elif self.window_ns < HOUR:
            shown = f"{self.window_ns / MINUTE:g} min"
        else:
            shown = f"{self.window_ns / HOUR:g} h"
        return f"{self.count} {self.what} per {shown}"


def limit_of(action: str) -> RateLimit:
    """The limit of ``action``; an unknown action is a programming error (``KeyError``
    naming the known ones)."""
    entry = RATE_LIMITS.get(action)
    if entry is None:
        raise KeyError(f"no rate limit named {action!r}; known: {', '.join(RATE_LIMITS)}")
    count, window_ns, what = entry
    return RateLimit(action, count, window_ns, what)


def check(caller: Principal, action: str) -> None:
    """Count one ``action`` of ``caller``; `Reject` naming the action, its limit and when
    to retry if the window is full."""
    limit = limit_of(action)
    now = ic.time()
    key = (caller, action)
    recent = [t for t in rate_log.get(key, []) if t > now - limit.window_ns]
    if len(recent) >= limit.count:
        wait = (min(recent) + limit.window_ns - now) / SECOND
        raise Reject(f"rate limit on {action}: at most {limit.describe()}; "
                     f"try again in {wait:.1f} s")
    recent.append(now)
    rate_log[key] = recent
