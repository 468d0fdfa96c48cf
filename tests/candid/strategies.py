"""Hypothesis strategies for Candid: random types (recursive ones included) and values.

`candid_types()` draws types that have at least one value; `values_of(t)` draws values
of a type in the canonical Python form a decoder returns (tuples for tuple records,
one-entry dicts for variants, `Some` under nullish opts, ``bytes`` for blobs).
"""

from __future__ import annotations

from hypothesis import strategies as st

from icframework.candid.types import (
    BOOL,
    EMPTY,
    FLOAT32,
    FLOAT64,
    INT,
    INT8,
    INT16,
    INT32,
    INT64,
    NAT,
    NAT8,
    NAT16,
    NAT32,
    NAT64,
    NULL,
    PRINCIPAL,
    RESERVED,
    TEXT,
    CandidType,
    Field,
    Func,
    FuncRef,
    Opt,
    Prim,
    PrimKind,
    Record,
    Service,
    Some,
    TypeEnv,
    TypeRef,
    Variant,
    Vec,
    is_nullish,
)
from icframework.core import Principal

__all__ = ["candid_types", "has_value", "principals", "values_of"]

PRIMS = (
    NULL, BOOL, NAT, INT, NAT8, NAT16, NAT32, NAT64, INT8, INT16, INT32, INT64, FLOAT32,
    FLOAT64, TEXT, RESERVED, EMPTY, PRINCIPAL,
)
LABELS: tuple[str | int, ...] = (
    "a", "b", "id", "name", "owner", "head", "tail", "Ok", "Err", "☃", "_", "x y",
    0, 1, 2, 7, 4294967295,
)
METHOD_NAMES = ("get", "put", "m", "🐂", "a_b")
_counter = iter(range(10**12))


def principals() -> st.SearchStrategy[Principal]:
    """Random principals (0 to 29 bytes)."""
    return st.binary(max_size=29).map(Principal)


_PRIM_CHOICE = st.sampled_from(PRIMS)
_LABEL = st.sampled_from(LABELS)
_METHOD = st.sampled_from(METHOD_NAMES)
_MODES = st.sampled_from([(), ("query",), ("oneway",), ("composite_query",)])
_KIND = st.integers(0, 9)


def _draw_fields(draw: st.DrawFn, budget: list[int], min_size: int) -> list[Field]:
    seen: set[int] = set()
    out = []
    for _ in range(draw(st.integers(min_size, 4))):
        f = Field(draw(_LABEL), _draw_type(draw, budget))
        if f.id not in seen:
            seen.add(f.id)
            out.append(f)
    return out


def _draw_func(draw: st.DrawFn, budget: list[int]) -> Func:
    args = [_draw_type(draw, budget) for _ in range(draw(st.integers(0, 2)))]
    results = [_draw_type(draw, budget) for _ in range(draw(st.integers(0, 2)))]
    return Func(tuple(args), tuple(results), draw(_MODES))


def _draw_recursive(draw: st.DrawFn, budget: list[int]) -> CandidType:
    """A recursive type built around a random element type (in a fresh TypeEnv)."""
    t = _draw_type(draw, budget)
    env = TypeEnv()
    kind = draw(st.integers(0, 6))
    if kind == 0:
        name = f"List{next(_counter)}"
        env.define(name, Opt(Record([Field("head", t), Field("tail", env.ref(name))])))
        return env.ref(name)
    if kind == 1:
        env.define("L1", Opt(env.ref("L2")))
        env.define("L2", Record([Field("head", t), Field("tail", env.ref("L1"))]))
        return env.ref("L1")
    if kind == 2:
        env.define("Tree", Variant([Field("leaf", t), Field("node", Vec(env.ref("Tree")))]))
        return env.ref("Tree")
    if kind == 3:
        env.define("Rose", Record([Field(0, t), Field(1, Vec(env.ref("Rose")))]))
        return env.ref("Rose")
    if kind == 4:
        env.define("V", Vec(env.ref("V")))
        return env.ref("V")
    if kind == 5:
        env.define("O", Opt(env.ref("O")))
        return env.ref("O")
    env.define("S", Service([("next", Func((t,), (env.ref("S"),))), ("m", env.ref("F"))]))
    env.define("F", Func((), (t, env.ref("S")), ("query",)))
    return env.ref("S")


def _draw_type(draw: st.DrawFn, budget: list[int]) -> CandidType:
    budget[0] -= 1
    kind = draw(_KIND) if budget[0] > 0 else 0
    if kind <= 2:
        return draw(_PRIM_CHOICE)
    if kind == 3:
        return Opt(_draw_type(draw, budget))
    if kind == 4:
        return Vec(_draw_type(draw, budget))
    if kind == 5:
        if draw(st.booleans()):
            n = draw(st.integers(1, 3))
            return Record.tuple_of(*(_draw_type(draw, budget) for _ in range(n)))
        return Record(_draw_fields(draw, budget, 0))
    if kind == 6:
        return Variant(_draw_fields(draw, budget, 1))
    if kind == 7:
        return _draw_func(draw, budget)
    if kind == 8:
        methods: dict[str, Func] = {}
        for _ in range(draw(st.integers(0, 3))):
            methods[draw(_METHOD)] = _draw_func(draw, budget)
        return Service(methods.items())
    return _draw_recursive(draw, budget)


@st.composite
def _types(draw: st.DrawFn, max_leaves: int) -> CandidType:
    return _draw_type(draw, [max_leaves])


def candid_types(max_leaves: int = 8) -> st.SearchStrategy[CandidType]:
    """Random Candid types (with at least one value), including recursive ones."""
    return _types(max_leaves).filter(has_value)


def has_value(t: CandidType, visiting: frozenset[int] = frozenset()) -> bool:
    """True if ``t`` has a finite value that avoids re-entering the types in ``visiting``."""
    if isinstance(t, TypeRef):
        t = t.resolve()
        if id(t) in visiting:
            return False
        visiting = visiting | {id(t)}
    if isinstance(t, Prim):
        return t.kind is not PrimKind.EMPTY
    if isinstance(t, Record):
        return all(has_value(f.type, visiting) for f in t.fields)
    if isinstance(t, Variant):
        return any(has_value(f.type, visiting) for f in t.fields)
    return True  # opt, vec (null / empty), func, service


_INT_BOUNDS = {
    PrimKind.NAT8: (0, 2**8 - 1), PrimKind.NAT16: (0, 2**16 - 1),
    PrimKind.NAT32: (0, 2**32 - 1), PrimKind.NAT64: (0, 2**64 - 1),
    PrimKind.INT8: (-(2**7), 2**7 - 1), PrimKind.INT16: (-(2**15), 2**15 - 1),
    PrimKind.INT32: (-(2**31), 2**31 - 1), PrimKind.INT64: (-(2**63), 2**63 - 1),
}
_PRIM_VALUES: dict[PrimKind, st.SearchStrategy[object]] = {
    **{k: st.integers(lo, hi) for k, (lo, hi) in _INT_BOUNDS.items()},
    PrimKind.NAT: st.one_of(st.integers(0, 300), st.integers(0, 2**200)),
    PrimKind.INT: st.one_of(st.integers(-300, 300), st.integers(-(2**200), 2**200)),
    PrimKind.BOOL: st.booleans(),
    PrimKind.TEXT: st.text(max_size=20),
    PrimKind.FLOAT32: st.floats(width=32, allow_nan=False),
    PrimKind.FLOAT64: st.floats(allow_nan=False),
    PrimKind.PRINCIPAL: principals(),
    PrimKind.NULL: st.none(),
    PrimKind.RESERVED: st.none(),
}
_BLOBS = st.binary(max_size=40)
_PRINCIPALS = principals()
_METHOD_NAMES = st.text(max_size=10)
_SIZE = st.integers(0, 3)


def _draw_value(
    draw: st.DrawFn, t: CandidType, depth: int, visiting: frozenset[int]
) -> object:
    if isinstance(t, TypeRef):
        t = t.resolve()
        depth -= 1
        if depth < 0:
            visiting = visiting | {id(t)}
    if isinstance(t, Prim):
        if t.kind is PrimKind.EMPTY:
            raise ValueError("empty has no values")
        return draw(_PRIM_VALUES[t.kind])
    if isinstance(t, Opt):
        if depth < 0 or not has_value(t.inner, visiting) or not draw(st.booleans()):
            return None
        v = _draw_value(draw, t.inner, depth, visiting)
        return Some(v) if is_nullish(t.inner) else v
    if isinstance(t, Vec):
        if isinstance(t.inner, Prim) and t.inner.kind is PrimKind.NAT8:
            return draw(_BLOBS)
        if depth < 0 or not has_value(t.inner, visiting):
            return []
        return [_draw_value(draw, t.inner, depth, visiting) for _ in range(draw(_SIZE))]
    if isinstance(t, Record):
        vals = [_draw_value(draw, f.type, depth, visiting) for f in t.fields]
        if t.is_tuple:
            return tuple(vals)
        return {f.label: v for f, v in zip(t.fields, vals, strict=True)}
    if isinstance(t, Variant):
        arms = [f for f in t.fields if has_value(f.type, visiting)]
        f = arms[draw(st.integers(0, len(arms) - 1))]
        return {f.label: _draw_value(draw, f.type, depth, visiting)}
    if isinstance(t, Func):
        return FuncRef(draw(_PRINCIPALS), draw(_METHOD_NAMES))
    if isinstance(t, Service):
        return draw(_PRINCIPALS)
    raise TypeError(f"no values for {t!r}")


@st.composite
def _values(draw: st.DrawFn, t: CandidType, depth: int) -> object:
    return _draw_value(draw, t, depth, frozenset())


def values_of(t: CandidType, depth: int = 3) -> st.SearchStrategy[object]:
    """Values of ``t`` in decoded form; recursion is cut off after ``depth`` TypeRefs."""
    return _values(t, depth)
