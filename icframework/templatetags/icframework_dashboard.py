"""How the dashboard writes its figures: cycles, bytes and counts a person can read.

The same rules are in ``static/icframework/dashboard.js`` (the live figures), so a value
reads the same before and after the socket opens. Short forms are rounded *down*, so a
balance never reads higher than it is; the exact value goes in a ``title`` attribute
(`exact_count`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import template

__all__ = ["bytes_size", "clock_time", "cycles", "exact_count"]

register = template.Library()

# (factor, suffix), largest first: cycles are counted in trillions on the IC ("T cycles")
_CYCLE_UNITS = ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "k"))
_BYTE_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


@register.filter
def exact_count(value: int | None) -> str:
    """``value`` with thousands separators (``99,999,644,376,836``); ``–`` for None."""
    return "–" if value is None else f"{value:,}"


@register.filter
def cycles(value: int | None) -> str:
    """A number of cycles shortened to two decimals of its unit (``99.99 T``), rounded
    down; ``–`` for None."""
    if value is None:
        return "–"
    for factor, suffix in _CYCLE_UNITS:
        if value >= factor:
            hundredths = value * 100 // factor
            return f"{hundredths // 100:,}.{hundredths % 100:02d} {suffix}"
    return str(value)


@register.filter
def bytes_size(value: int | None) -> str:
    """A size in bytes in binary units with one decimal (``118.1 KiB``), rounded down;
    ``–`` for None (a wasm canister has no key-value data)."""
    if value is None:
        return "–"
    for factor, suffix in _BYTE_UNITS:
        if value >= factor:
            tenths = value * 10 // factor
            return f"{tenths // 10:,}.{tenths % 10} {suffix}"
    return f"{value} B"


@register.filter
def clock_time(seconds: float) -> str:
    """A wall-clock time in seconds since the epoch as ``HH:MM:SS`` (UTC)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S")
