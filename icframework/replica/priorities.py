"""Turn priorities of a subnet's canisters: who goes next in a round, fairly.

How it works: the round scheduler (`replica.subnet`) gives canisters turns of one
message each; among those with work it picks the one with the lowest `key`: the fewest
instructions used lately, then the longest since its last turn, then the id. Usage is
what a canister's messages cost (`record`), halved after every round (`age`), so it is a
recent measure: a canister that spins every round keeps about twice its per-round
cost, one that waits sees its usage fall until it is first (no canister starves), and
an idle canister (nothing executed, nothing waiting) is forgotten, so its next message
is first in its round. `last_cost` lets the scheduler end a round before a message that
would not fit in what is left of the round's budget. Priorities live in memory only: a
restarted subnet starts everyone equal.
"""

from __future__ import annotations

from collections.abc import Container, Iterable

__all__ = ["TurnPriorities"]


class TurnPriorities:
    """Recent instruction usage per canister (see the module docstring)."""

    def __init__(self) -> None:
        self._usage: dict[bytes, int] = {}
        self._last_turn: dict[bytes, int] = {}
        self._last_cost: dict[bytes, int] = {}

    def key(self, canister_id: bytes) -> tuple[int, int, bytes]:
        """Sort key of the next turn: lowest first."""
        return (self._usage.get(canister_id, 0), self._last_turn.get(canister_id, 0),
                canister_id)

    def last_cost(self, canister_id: bytes) -> int:
        """Instructions (and host complexity) of the canister's previous turn."""
        return self._last_cost.get(canister_id, 0)

    def record(self, canister_id: bytes, cost: int, height: int) -> None:
        """The canister took a turn at ``height`` that cost ``cost``."""
        self._usage[canister_id] = self._usage.get(canister_id, 0) + cost
        self._last_cost[canister_id] = cost
        self._last_turn[canister_id] = height

    def age(self, busy: Iterable[bytes], existing: Container[bytes]) -> None:
        """After a round: halve the usage of canisters that are ``busy`` (executed or
        still waiting), forget idle ones and canisters that no longer exist."""
        busy = set(busy)
        self._usage = {c: u // 2 for c, u in self._usage.items()
                       if c in busy and c in existing and u > 1}
        self._last_turn = {c: h for c, h in self._last_turn.items() if c in existing}
        self._last_cost = {c: n for c, n in self._last_cost.items() if c in existing}
