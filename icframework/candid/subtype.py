"""Candid subtyping (``t1 <: t2``), as the spec's "Upgrading and Subtyping" rules define it.

The decoder needs this for function and service references (a reference decodes at an
expected type only if its wire type is a subtype of it); tools can use it to check that
a new interface version is a safe upgrade of an old one.

How it works: the check is coinductive. Recursive types are `TypeRef` cycles, so when a
pair ``(t1, t2)`` is being checked further down its own derivation it is assumed to
hold; a pair whose check fails is forgotten again. Pairs that succeeded stay assumed,
which makes the check polynomial (at most one visit per pair of type nodes).
"""

from __future__ import annotations

from icframework.candid.errors import CandidTypeError
from icframework.candid.types import (
    EMPTY,
    INT,
    NAT,
    NULL,
    PRINCIPAL,
    RESERVED,
    CandidType,
    Func,
    Opt,
    Prim,
    Record,
    Service,
    TypeRef,
    Variant,
    Vec,
)

DEFAULT_MAX_DEPTH = 300


class SubtypeCheckTooDeep(CandidTypeError):
    """A subtype check nested deeper than allowed (or used more steps than allowed)."""


def is_subtype(t1: CandidType, t2: CandidType, *, max_depth: int = DEFAULT_MAX_DEPTH) -> bool:
    """True if every value of ``t1`` can be read at ``t2`` (``t1 <: t2``).

    Raises `SubtypeCheckTooDeep` (a `CandidTypeError`) if the types nest deeper than
    ``max_depth`` non-recursive levels, and `CandidTypeError` for an undefined
    `TypeRef`.
    """
    return SubtypeChecker(max_depth=max_depth).check(t1, t2)


def accepts_null(t: CandidType) -> bool:
    """True if ``null <: t``: t is null, reserved or an opt (the "optional" types)."""
    if isinstance(t, TypeRef):
        t = t.resolve()
    return isinstance(t, Opt) or t in (NULL, RESERVED)


class SubtypeChecker:
    """A reusable subtype checker; keeps its assumptions between calls.

    ``max_steps`` bounds the total number of pair visits (None: unbounded); the decoder
    uses it to meter checks on hostile wire types. ``steps`` counts visits so far.
    """

    def __init__(self, *, max_depth: int = DEFAULT_MAX_DEPTH, max_steps: int | None = None):
        self.max_depth = max_depth
        self.max_steps = max_steps
        self.steps = 0
        self._assumed: set[tuple[int, int]] = set()
        # keeps the nodes whose ids are in _assumed alive, so ids are never reused
        self._keep: list[CandidType] = []

    def check(self, t1: CandidType, t2: CandidType) -> bool:
        """True if ``t1 <: t2``."""
        return self._check(t1, t2, 0)

    def _check(self, t1: CandidType, t2: CandidType, depth: int) -> bool:
        self.steps += 1
        if self.max_steps is not None and self.steps > self.max_steps:
            raise SubtypeCheckTooDeep(f"subtype check needs more than {self.max_steps} steps")
        if depth > self.max_depth:
            raise SubtypeCheckTooDeep(
                f"subtype check nests deeper than {self.max_depth} levels"
            )
        if isinstance(t1, TypeRef):
            t1 = t1.resolve()
        if isinstance(t2, TypeRef):
            t2 = t2.resolve()
        if t1 is t2:
            return True
        # top, bottom and the opt rules: anything is a subtype of reserved and of any opt
        if isinstance(t2, Opt) or t2 == RESERVED or t1 == EMPTY:
            return True
        if isinstance(t1, Prim) or isinstance(t2, Prim):
            if t1 == t2:
                return True
            if t1 == NAT and t2 == INT:
                return True
            return t2 == PRINCIPAL and isinstance(t1, Service)
        key = (id(t1), id(t2))
        if key in self._assumed:
            return True
        self._assumed.add(key)
        self._keep.append(t1)
        self._keep.append(t2)
        ok = self._composite(t1, t2, depth + 1)
        if not ok:
            self._assumed.discard(key)
        return ok

    def _composite(self, t1: CandidType, t2: CandidType, depth: int) -> bool:
        if isinstance(t1, Vec):
            return isinstance(t2, Vec) and self._check(t1.inner, t2.inner, depth)
        if isinstance(t1, Record):
            if not isinstance(t2, Record):
                return False
            mine = {f.id: f.type for f in t1.fields}
            for f2 in t2.fields:
                own = mine.get(f2.id)
                if own is None:
                    if not accepts_null(f2.type):
                        return False
                elif not self._check(own, f2.type, depth):
                    return False
            return True
        if isinstance(t1, Variant):
            if not isinstance(t2, Variant):
                return False
            theirs = {f.id: f.type for f in t2.fields}
            for f1 in t1.fields:
                other = theirs.get(f1.id)
                if other is None or not self._check(f1.type, other, depth):
                    return False
            return True
        if isinstance(t1, Func):
            if not isinstance(t2, Func) or set(t1.modes) != set(t2.modes):
                return False
            # arguments are contravariant, results covariant; both like tuple records
            return self._tuple(t2.args, t1.args, depth) and self._tuple(
                t1.results, t2.results, depth
            )
        if isinstance(t1, Service):
            if not isinstance(t2, Service):
                return False
            for name, m2 in t2.methods:
                m1 = t1.method(name)
                if m1 is None or not self._check(m1, m2, depth):
                    return False
            return True
        if isinstance(t1, Opt):
            return False  # t2 is not an opt, reserved or the same node (handled above)
        # types unknown to this module (e.g. a decoder's future type): equal only
        return t1 == t2

    def _tuple(
        self, sub: tuple[CandidType, ...], sup: tuple[CandidType, ...], depth: int
    ) -> bool:
        """``record {sub...} <: record {sup...}`` for tuple records."""
        for i, t in enumerate(sup):
            if i < len(sub):
                if not self._check(sub[i], t, depth):
                    return False
            elif not accepts_null(t):
                return False
        return True
