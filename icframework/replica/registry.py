"""The registry: which subnets exist, their keys and delegations, and who hosts which canister.

- `CanisterRange`: a closed range of canister *indexes* (the 64-bit number in a canister
  id, ``Principal.from_canister_index``); `subnet_range` gives subnet number k's default
  range (k = 0 is the root subnet, with the embedded replica's range).
- `RoutingTable`: the pure routing table, sorted ranges looked up by bisection:
  `subnet_of(canister_id)`, `ranges_of(subnet)`; `add` refuses overlaps, `move` reassigns
  a range (canister migration). Adjacent ranges of the same subnet are merged.
- `SubnetRecord`: one subnet's name, id (``Principal.self_authenticating(public_key_der)``),
  key, whether it is the root subnet, its root-signed delegation (CBOR, as served in
  certificates; None for the root subnet or before the root signed it) and the range it
  was created with.
- `Registry`: the storage interface; `MemoryRegistry` keeps it in the process (embedded
  replica, in-process cluster), `PostgresRegistry` (``postgres_registry.py``, kept apart
  so that this module does not load psycopg) in PostgreSQL (scale-out). `RegistryState`
  holds the content and applies the rules for both.
- `check_subnet_name`: what a subnet name may be (shared by the registry, the state
  store and the lease).

Every change bumps `Registry.version`, so readers can cache the routing table and reload
it when the version moved.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from icframework.core import Principal, PrincipalError
from icframework.replica.errors import ReplicaError, StateStoreError

ROOT_FIRST_INDEX = 0x8000000000100000
"""The first canister index of the root subnet (the embedded replica's range)."""

RANGE_SIZE = 0x100000
"""How many canister indexes each subnet gets by default."""

_MAX_INDEX = (1 << 64) - 1

_SUBNET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def check_subnet_name(subnet: str) -> str:
    """Return ``subnet`` if it is a valid subnet name, else raise `StateStoreError`."""
    if not isinstance(subnet, str) or not _SUBNET_NAME.fullmatch(subnet):
        raise StateStoreError(
            f"subnet name {subnet!r} is invalid; use 1-63 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit (e.g. 'root', 'app1')"
        )
    return subnet


class RegistryError(ReplicaError):
    """A registry change is refused (overlap, unknown subnet, conflicting record) or the
    registry's storage failed; the message names the values involved."""


@dataclass(frozen=True, order=True, slots=True)
class CanisterRange:
    """The canister indexes ``first..last``, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if not (
            isinstance(self.first, int)
            and isinstance(self.last, int)
            and 0 <= self.first <= self.last <= _MAX_INDEX
        ):
            raise RegistryError(
                f"canister range {self.first!r}..{self.last!r} is invalid; expected "
                "indexes 0 <= first <= last < 2**64"
            )

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.first <= index <= self.last

    def __str__(self) -> str:
        return f"{self.first:#x}..{self.last:#x}"

    def principals(self) -> tuple[Principal, Principal]:
        """The range as the canister ids at its ends (as certificates' canister_ranges)."""
        return Principal.from_canister_index(self.first), Principal.from_canister_index(self.last)


def subnet_range(number: int) -> CanisterRange:
    """The default range of subnet number ``number`` (0: the root subnet, then 1, 2, …)."""
    if not isinstance(number, int) or number < 0:
        raise RegistryError(f"subnet number {number!r} is invalid; expected 0, 1, 2, …")
    first = ROOT_FIRST_INDEX + number * RANGE_SIZE
    return CanisterRange(first, first + RANGE_SIZE - 1)


def canister_index(canister: int | bytes | Principal) -> int | None:
    """The index of a canister id (raw bytes or `Principal`); ints pass through.

    None for a principal that is not a canister id (8-byte index ‖ 0x01 0x01).
    """
    if isinstance(canister, int):
        return canister
    try:
        principal = canister if isinstance(canister, Principal) else Principal(bytes(canister))
        return principal.canister_index()
    except (PrincipalError, TypeError, ValueError):
        return None


def _index_of(value: int | bytes | Principal, what: str) -> int:
    index = canister_index(value)
    if index is None:
        raise RegistryError(f"{what} {value!r} is not a canister id or a canister index")
    return index


class RoutingTable:
    """Canister ranges → subnet names; pure, sorted, looked up by bisection."""

    def __init__(self, routes: Iterable[tuple[CanisterRange, str]] = ()) -> None:
        self._firsts: list[int] = []
        self._routes: list[tuple[CanisterRange, str]] = []
        for canister_range, subnet in routes:
            self.add(canister_range, subnet)

    def routes(self) -> list[tuple[CanisterRange, str]]:
        """Every ``(range, subnet)``, sorted by range."""
        return list(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RoutingTable) and self._routes == other._routes

    def __repr__(self) -> str:
        inner = ", ".join(f"{r} -> {s!r}" for r, s in self._routes)
        return f"RoutingTable({inner})"

    def copy(self) -> RoutingTable:
        table = RoutingTable()
        table._firsts, table._routes = list(self._firsts), list(self._routes)
        return table

    def subnet_of(self, canister: int | bytes | Principal) -> str | None:
        """The subnet hosting ``canister`` (id bytes, `Principal` or index), or None."""
        index = canister_index(canister)
        if index is None:
            return None
        at = bisect.bisect_right(self._firsts, index) - 1
        if at >= 0 and index in self._routes[at][0]:
            return self._routes[at][1]
        return None

    def ranges_of(self, subnet: str) -> list[CanisterRange]:
        """The ranges routed to ``subnet``, sorted (empty for an unknown subnet)."""
        return [r for r, s in self._routes if s == subnet]

    def add(self, canister_range: CanisterRange, subnet: str) -> None:
        """Route ``canister_range`` to ``subnet``; `RegistryError` if it overlaps a route."""
        at = bisect.bisect_left(self._firsts, canister_range.first)
        for neighbour in (at - 1, at):
            if 0 <= neighbour < len(self._routes):
                other, owner = self._routes[neighbour]
                if other.first <= canister_range.last and canister_range.first <= other.last:
                    raise RegistryError(
                        f"canister range {canister_range} of subnet {subnet!r} overlaps the "
                        f"range {other} of subnet {owner!r}; give each subnet its own range"
                    )
        self._routes.insert(at, (canister_range, subnet))
        self._normalize()

    def move(
        self, first: int | bytes | Principal, last: int | bytes | Principal, to_subnet: str
    ) -> None:
        """Route the canisters ``first..last`` (all routed today) to ``to_subnet``."""
        moved = CanisterRange(_index_of(first, "first"), _index_of(last, "last"))
        cursor = moved.first
        kept: list[tuple[CanisterRange, str]] = []
        for route, owner in self._routes:
            if route.last < moved.first or route.first > moved.last:
                kept.append((route, owner))
                continue
            if route.first > cursor:
                break
            cursor = route.last + 1
            if route.first < moved.first:
                kept.append((CanisterRange(route.first, moved.first - 1), owner))
            if route.last > moved.last:
                kept.append((CanisterRange(moved.last + 1, route.last), owner))
        if cursor <= moved.last:
            raise RegistryError(
                f"cannot move canister range {moved} to subnet {to_subnet!r}: the canisters "
                f"from {cursor:#x} on are not routed to any subnet; move only routed ranges"
            )
        kept.append((moved, to_subnet))
        kept.sort()
        self._routes = kept
        self._normalize()

    def _normalize(self) -> None:
        """Merge adjacent ranges of the same subnet; rebuild the bisection keys."""
        merged: list[tuple[CanisterRange, str]] = []
        for route, owner in self._routes:
            if merged and merged[-1][1] == owner and merged[-1][0].last + 1 == route.first:
                merged[-1] = (CanisterRange(merged[-1][0].first, route.last), owner)
            else:
                merged.append((route, owner))
        self._routes = merged
        self._firsts = [route.first for route, _ in merged]


@dataclass(frozen=True, slots=True)
class SubnetRecord:
    """One subnet as the registry knows it (see the module docstring)."""

    name: str
    subnet_id: bytes
    public_key_der: bytes
    is_root: bool
    canister_range: CanisterRange
    delegation: bytes | None = None

    def same_subnet(self, other: SubnetRecord) -> bool:
        """Whether ``other`` describes this subnet (all but the delegation agree)."""
        return replace(other, delegation=self.delegation) == self


class Registry(Protocol):
    """The registry's storage: the same interface in memory and in PostgreSQL."""

    def register_subnet(self, record: SubnetRecord) -> None:
        """Add a subnet and route its range to it; registering the same subnet again is
        a no-op (a restarted subnet), a different one under a taken name, id, root role
        or range is a `RegistryError`."""

    def subnet(self, name: str) -> SubnetRecord:
        """The record of subnet ``name``; `RegistryError` if unknown."""

    def subnets(self) -> list[SubnetRecord]:
        """Every subnet, by name."""

    def root(self) -> SubnetRecord:
        """The root subnet's record; `RegistryError` if none is registered yet."""

    def set_delegation(self, name: str, delegation: bytes) -> None:
        """Store the root-signed delegation (CBOR) of subnet ``name``."""

    def routing_table(self) -> RoutingTable:
        """A copy of the current routing table."""

    def move_range(
        self, first: int | bytes | Principal, last: int | bytes | Principal, to_subnet: str
    ) -> None:
        """Route the canisters ``first..last`` to ``to_subnet`` (canister migration)."""

    def version(self) -> int:
        """A counter bumped by every change (0 for an empty registry)."""

    def close(self) -> None:
        """Release the storage; closing twice is allowed."""


class RegistryState:
    """The registry's content and its rules, shared by both storages."""

    def __init__(
        self, subnets: Iterable[SubnetRecord] = (), table: RoutingTable | None = None
    ) -> None:
        self.subnets = {record.name: record for record in subnets}
        self.table = table if table is not None else RoutingTable()

    def get(self, name: str) -> SubnetRecord:
        record = self.subnets.get(name)
        if record is None:
            known = ", ".join(sorted(self.subnets)) or "none yet"
            raise RegistryError(f"subnet {name!r} is not registered (registered: {known})")
        return record

    def root(self) -> SubnetRecord:
        for record in self.subnets.values():
            if record.is_root:
                return record
        raise RegistryError("no root subnet is registered yet; register the root subnet first")

    def register(self, record: SubnetRecord) -> bool:
        """Apply `Registry.register_subnet`; False if it was already registered."""
        if not isinstance(record, SubnetRecord):
            raise RegistryError(f"register_subnet expects a SubnetRecord, not {record!r}")
        try:
            check_subnet_name(record.name)
        except StateStoreError as exc:
            raise RegistryError(str(exc)) from None
        existing = self.subnets.get(record.name)
        if existing is not None:
            if existing.same_subnet(record):
                return False
            raise RegistryError(
                f"subnet {record.name!r} is already registered with another id, key, role or "
                "range; use a new name for a new subnet"
            )
        for other in self.subnets.values():
            if other.subnet_id == record.subnet_id:
                raise RegistryError(
                    f"subnet id {Principal(record.subnet_id)} of {record.name!r} is already "
                    f"the id of subnet {other.name!r}; each subnet needs a key of its own"
                )
            if record.is_root and other.is_root:
                raise RegistryError(
                    f"subnet {record.name!r} cannot be the root subnet: {other.name!r} is"
                )
        self.table.add(record.canister_range, record.name)
        self.subnets[record.name] = record
        return True

    def set_delegation(self, name: str, delegation: bytes) -> SubnetRecord:
        if not isinstance(delegation, bytes | bytearray):
            raise RegistryError(
                f"the delegation of subnet {name!r} is a {type(delegation).__name__}; "
                "store its CBOR bytes"
            )
        record = replace(self.get(name), delegation=bytes(delegation))
        self.subnets[name] = record
        return record

    def move(
        self, first: int | bytes | Principal, last: int | bytes | Principal, to_subnet: str
    ) -> None:
        self.get(to_subnet)
        self.table.move(first, last, to_subnet)


class MemoryRegistry:
    """A `Registry` in this process's memory (the embedded replica, in-process clusters)."""

    def __init__(self) -> None:
        self._state = RegistryState()
        self._version = 0
        self._mutex = threading.Lock()

    def register_subnet(self, record: SubnetRecord) -> None:
        with self._mutex:
            if self._state.register(record):
                self._version += 1

    def subnet(self, name: str) -> SubnetRecord:
        with self._mutex:
            return self._state.get(name)

    def subnets(self) -> list[SubnetRecord]:
        with self._mutex:
            return [self._state.subnets[name] for name in sorted(self._state.subnets)]

    def root(self) -> SubnetRecord:
        with self._mutex:
            return self._state.root()

    def set_delegation(self, name: str, delegation: bytes) -> None:
        with self._mutex:
            self._state.set_delegation(name, delegation)
            self._version += 1

    def routing_table(self) -> RoutingTable:
        with self._mutex:
            return self._state.table.copy()

    def move_range(
        self, first: int | bytes | Principal, last: int | bytes | Principal, to_subnet: str
    ) -> None:
        with self._mutex:
            self._state.move(first, last, to_subnet)
            self._version += 1

    def version(self) -> int:
        with self._mutex:
            return self._version

    def close(self) -> None:
        """Nothing to release."""
