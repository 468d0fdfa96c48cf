"""Benchmark canister (Python SDK): the same logic as ``motoko_app.mo``.

Every compute method has a ``*_body`` twin that returns the instructions the body alone
used (``ic.performance_counter(0)`` before and after), so the benchmark can split a
message's cost into the body and everything around it (dispatch, Candid, the boundary).
"""

import sys
from collections.abc import Callable

from icframework.candid import NAT32, NAT64, decode, encode
from icframework.sdk import StableBTreeMap, StableCell, ic, nat32, nat64, query, update

sys.setrecursionlimit(10_000)

count = StableCell[nat64]("count", default=0)
entries = StableBTreeMap[nat64, nat64]("entries")


@query
def noop() -> None:
    return None


@update
def noop_update() -> None:
    return None


@update
def increment() -> nat64:
    value = count.get() + 1
    count.set(value)
    return value


heap_count = 0
"""Basilisk's counter: a module global (a cache here, rebuilt after a trap or upgrade)."""


@update
def increment_global() -> nat64:
    global heap_count
    heap_count += 1
    return heap_count


@query
def get() -> nat64:
    return count.get()


def _fib_iter(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _fib_rec(n: int) -> int:
    if n < 2:
        return n
    return _fib_rec(n - 1) + _fib_rec(n - 2)


def _sum_to(n: int) -> int:
    total = 0
    for i in range(n + 1):
        total += i
    return total


def _ackermann(m: int, n: int) -> int:
    if m == 0:
        return n + 1
    if n == 0:
        return _ackermann(m - 1, 1)
    return _ackermann(m - 1, _ackermann(m, n - 1))


@query
def fib_iter(n: nat32) -> nat64:
    return _fib_iter(n)


@query
def fib_rec(n: nat32) -> nat64:
    return _fib_rec(n)


@query
def sum_to(n: nat32) -> nat64:
    return _sum_to(n)


@query
def ackermann(m: nat32, n: nat32) -> nat64:
    return _ackermann(m, n)


def _measured(run: Callable[..., int], *args: int) -> int:
    start = ic.performance_counter(0)
    run(*args)
    return ic.performance_counter(0) - start


@query
def fib_iter_body(n: nat32) -> nat64:
    return _measured(_fib_iter, n)


@query
def fib_rec_body(n: nat32) -> nat64:
    return _measured(_fib_rec, n)


@query
def sum_to_body(n: nat32) -> nat64:
    return _measured(_sum_to, n)


@query
def ackermann_body(m: nat32, n: nat32) -> nat64:
    return _measured(_ackermann, m, n)


@update
def fill(start: nat64, size: nat64) -> nat64:
    for key in range(start, start + size):
        entries[key] = key * 2
    return start + size


@query
def map_get(key: nat64) -> nat64 | None:
    return entries.get(key)


@update
def map_insert(key: nat64, value: nat64) -> None:
    entries[key] = value


@query
def candid_cost(n: nat32) -> tuple[nat64, nat64, nat64]:
    """Instructions of decoding this message's argument ``(nat32)``, of encoding one
    ``(nat64)`` reply, and of reading the performance counter twice (the probe's own cost)."""
    arg = ic.arg_data()
    first = ic.performance_counter(0)
    second = ic.performance_counter(0)
    decode(arg, [NAT32])
    third = ic.performance_counter(0)
    encode([NAT64], [n])
    fourth = ic.performance_counter(0)
    return third - second, fourth - third, second - first
