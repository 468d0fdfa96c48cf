"""What the subnet did lately, for people watching it: counters, recent calls and traps.

How it works: the subnet owns one `SubnetMetrics` and tells it about each accepted
ingress call, each execution (instructions per canister), each trap, each query and
each committed round (cycles burned per canister are the growth of the canisters'
``cycles_consumed`` between two commits). It keeps running totals and two bounded
rings (`RECENT_CALLS` calls, `RECENT_TRAPS` traps), so its memory does not grow with
traffic. A recorded call keeps raw ids, rendered as principal text only when a snapshot
is read (the text costs ~15 µs per id, too much to pay on every query). `snapshot`
returns all of it as JSON-ready values; rates (rounds/s, messages/s)
are for the reader to take from two snapshots. Nothing here is replicated state: the
wall clock it reads (latency, when) never reaches a canister, and a reloaded subnet
keeps the same metrics object (`icframework.replica.embedded.Replica.reload`).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from icframework.core import Principal

__all__ = ["RECENT_CALLS", "RECENT_TRAPS", "CanisterCounters", "SubnetMetrics",
           "python_location"]

RECENT_CALLS = 200
RECENT_TRAPS = 50
PENDING_CALLS = 10_000
"""Ingress calls remembered between acceptance and answer (the oldest are forgotten)."""

_FRAME = re.compile(r"([^\s:]+\.py):(\d+) in ([\w<>.]+)")


def python_location(message: str) -> str | None:
    """The innermost ``file.py:LINE in function`` of a Python canister's trap message, or
    None when it names no Python frame (a wasm canister's trap)."""
    frames = _FRAME.findall(message)
    if not frames:
        return None
    path, line, function = frames[-1]
    return f"{path}:{line} in {function}"


def _text(canister_id: bytes) -> str:
    return Principal(canister_id).to_text()


@dataclass(slots=True)
class CanisterCounters:
    """Totals for one canister since this process started: instructions executed,
    cycles burned, messages executed and traps."""

    instructions: int = 0
    cycles_burned: int = 0
    messages: int = 0
    traps: int = 0


@dataclass(frozen=True, slots=True)
class _Call:
    """A recorded ingress call or query, with raw ids (see `_Call.to_json`)."""

    kind: str
    canister_id: bytes
    method: str
    sender: bytes
    reject: str | None
    latency_ms: float
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "canister": _text(self.canister_id), "method": self.method,
            "sender": _text(self.sender),
            "status": "replied" if self.reject is None else "rejected",
            "reject": self.reject, "latency_ms": self.latency_ms, "at": self.at,
        }


@dataclass(slots=True)
class _Pending:
    started: float
    canister_id: bytes
    method: str
    sender: bytes


@dataclass(slots=True)
class SubnetMetrics:
    """Counters and rings fed by the subnet (see the module docstring).

    ``clock`` is a monotonic clock in seconds (latencies); ``wall_clock`` the time of day
    in seconds (when a call or trap happened).
    """

    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rounds: int = 0
    messages: int = 0
    instructions: int = 0
    height: int = 0
    canisters: dict[bytes, CanisterCounters] = field(default_factory=dict)
    calls: deque[_Call] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    traps: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=RECENT_TRAPS))
    _pending: OrderedDict[bytes, _Pending] = field(default_factory=OrderedDict)
    _consumed: dict[bytes, int] = field(default_factory=dict)

    def _counters(self, canister_id: bytes) -> CanisterCounters:
        counters = self.canisters.get(canister_id)
        if counters is None:
            counters = self.canisters[canister_id] = CanisterCounters()
        return counters

    # -- fed by the subnet ----------------------------------------------------------------

    def call_received(self, request_id: bytes, canister_id: bytes, method: str,
                      sender: bytes) -> None:
        """An ingress update call was accepted (its latency starts now)."""
        self._pending[request_id] = _Pending(self.clock(), canister_id, method, sender)
        while len(self._pending) > PENDING_CALLS:
            self._pending.popitem(last=False)

    def executed(self, canister_id: bytes, instructions: int) -> None:
        """A message of ``canister_id`` ran ``instructions`` instructions."""
        counters = self._counters(canister_id)
        counters.instructions += instructions
        counters.messages += 1

    def trapped(self, canister_id: bytes, method: str, message: str) -> None:
        """``canister_id`` trapped in ``method`` (an export or method name)."""
        self._counters(canister_id).traps += 1
        self.traps.appendleft({
            "canister": _text(canister_id), "method": method, "message": message,
            "location": python_location(message), "at": self.wall_clock(),
        })

    def query_answered(self, sender: bytes, canister_id: bytes, method: str, started: float,
                       reject: str | None) -> None:
        """A non-replicated query started at ``started`` (``clock``) was answered."""
        self._record_call("query", canister_id, method, sender, started, reject)

    def round_committed(self, height: int, messages: int, instructions: int,
                        answered: Iterable[tuple[bytes, str | None]],
                        consumed: Mapping[bytes, int]) -> None:
        """Round ``height`` committed: its ingress answers (request id, reject message
        or None for a reply) and every canister's total ``cycles_consumed``."""
        self.rounds += 1
        self.height = height
        self.messages += messages
        self.instructions += instructions
        for request_id, reject in answered:
            pending = self._pending.pop(request_id, None)
            if pending is not None:
                self._record_call("update", pending.canister_id, pending.method, pending.sender,
                                  pending.started, reject)
        for canister_id, total in consumed.items():
            before = self._consumed.get(canister_id)
            if before is not None and total > before:
                self._counters(canister_id).cycles_burned += total - before
            self._consumed[canister_id] = total
        for gone in self._consumed.keys() - consumed.keys():
            del self._consumed[gone]
            self.canisters.pop(gone, None)

    def _record_call(self, kind: str, canister_id: bytes, method: str, sender: bytes,
                     started: float, reject: str | None) -> None:
        self.calls.appendleft(_Call(
            kind, canister_id, method, sender, reject,
            round((self.clock() - started) * 1000, 3), self.wall_clock(),
        ))

    # -- read by the dashboard ------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Totals, per-canister counters (by canister id text), recent calls and traps
        (newest first), as JSON-ready values; ``clock`` (seconds) dates it for rates."""
        return {
            "clock": self.clock(),
            "height": self.height,
            "rounds": self.rounds,
            "messages": self.messages,
            "instructions": self.instructions,
            "canisters": {
                _text(canister_id): {
                    "instructions": c.instructions, "cycles_burned": c.cycles_burned,
                    "messages": c.messages, "traps": c.traps,
                }
                for canister_id, c in self.canisters.items()
            },
            "calls": [call.to_json() for call in self.calls],
            "traps": list(self.traps),
        }
