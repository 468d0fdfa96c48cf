"""`replica.priorities.TurnPriorities`: the order of turns, and how usage ages."""

from __future__ import annotations

from icframework.replica.priorities import TurnPriorities

A, B, C = b"a", b"b", b"c"


def test_the_canister_that_used_least_lately_goes_first() -> None:
    priorities = TurnPriorities()
    priorities.record(A, 1_000, height=1)
    priorities.record(B, 10, height=1)
    assert sorted([A, B, C], key=priorities.key) == [C, B, A]  # C never ran: first
    assert priorities.last_cost(A) == 1_000 and priorities.last_cost(C) == 0


def test_ties_go_to_the_longest_waiting_then_the_id() -> None:
    priorities = TurnPriorities()
    priorities.record(A, 0, height=5)
    priorities.record(B, 0, height=3)
    assert sorted([A, B], key=priorities.key) == [B, A]
    assert sorted([C, b"0"], key=priorities.key) == [b"0", C]


def test_aging_halves_the_busy_and_forgets_the_idle_and_the_deleted() -> None:
    priorities = TurnPriorities()
    for canister in (A, B, C):
        priorities.record(canister, 800, height=1)
    priorities.age(busy=[A, C], existing={A, B})  # B idle, C deleted
    assert priorities.key(A)[0] == 400
    assert priorities.key(B)[0] == 0 and priorities.key(C)[0] == 0
    assert priorities.last_cost(C) == 0 and priorities.last_cost(B) == 800


def test_a_spinner_settles_at_twice_its_cost_and_a_waiter_catches_up() -> None:
    priorities = TurnPriorities()
    for height in range(1, 30):
        priorities.record(A, 1_000, height)
        priorities.age(busy=[A, B], existing={A, B})
    assert 990 <= priorities.key(A)[0] <= 1_000  # (2 x 1,000) halved after the round
    assert priorities.key(B) < priorities.key(A)
