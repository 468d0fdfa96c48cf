"""Formatting of nanosecond timestamps the way the IC prints them in error messages."""

from __future__ import annotations

from datetime import UTC, datetime

NANOS_PER_SECOND = 1_000_000_000


def format_ns(time_ns: int) -> str:
    """``2023-06-01 12:00:00.000000000 UTC`` for a time in ns since the Unix epoch."""
    seconds, nanos = divmod(time_ns, NANOS_PER_SECOND)
    try:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{time_ns} ns"
    return f"{stamp}.{nanos:09d} UTC"
