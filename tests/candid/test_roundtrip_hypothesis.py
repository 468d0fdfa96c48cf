"""Property tests: encode then decode gives the value back, also at supertypes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid.binary import decode, decode_wire_types, encode
from icframework.candid.errors import CandidDecodeError
from icframework.candid.subtype import is_subtype
from icframework.candid.types import (
    INT,
    NAT,
    NULL,
    RESERVED,
    CandidType,
    Field,
    Opt,
    Prim,
    PrimKind,
    Record,
    Some,
    TypeRef,
    Variant,
    Vec,
    is_nullish,
)
from tests.candid.strategies import candid_types, has_value, values_of

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

EXTRA_TAGS: tuple[str | int, ...] = ("new_tag", 99, "other")
Widened = tuple[CandidType, Callable[[Any], Any]]


def _identity(v: Any) -> Any:
    return v


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[CandidType, Any]:
    t = draw(candid_types())
    return t, draw(values_of(t))


@SETTINGS
@given(typed_values())
def test_roundtrip(tv: tuple[CandidType, Any]) -> None:
    t, v = tv
    data = encode([t], [v])
    assert decode(data, [t]) == (v,)


@SETTINGS
@given(st.lists(typed_values(), max_size=4))
def test_roundtrip_argument_lists(tvs: list[tuple[CandidType, Any]]) -> None:
    types = [t for t, _ in tvs]
    values = [v for _, v in tvs]
    data = encode(types, values)
    assert decode(data, types) == tuple(values)
    # extra trailing arguments are skipped
    assert decode(data, types[:1]) == tuple(values[:1])


@SETTINGS
@given(typed_values())
def test_roundtrip_at_wire_types(tv: tuple[CandidType, Any]) -> None:
    t, v = tv
    data = encode([t], [v])
    wire = decode_wire_types(data)
    (at_wire,) = decode(data)
    assert decode(data, list(wire)) == (at_wire,)
    again = encode(list(wire), [at_wire])
    assert decode(again, list(wire)) == (at_wire,)
    assert decode(again, [t]) == (v,)
    assert is_subtype(wire[0], t) and is_subtype(t, wire[0])


def _widen(draw: st.DrawFn, t: CandidType, depth: int) -> Widened:
    """A random supertype of ``t`` and the map from a value of t to its coercion."""
    choice = draw(st.integers(0, 9))
    if depth <= 0 or isinstance(t, TypeRef) or choice == 0:
        return t, _identity
    if choice == 1:
        return RESERVED, lambda v: None
    if choice == 2 and not is_nullish(t):
        inner, f = _widen(draw, t, depth - 1)
        if is_nullish(inner):
            return Opt(inner), lambda v: Some(f(v))
        return Opt(inner), f
    if t == NAT:
        return INT, _identity
    if isinstance(t, Opt):
        inner, f = _widen(draw, t.inner, depth - 1)
        was, now = is_nullish(t.inner), is_nullish(inner)

        def widen_opt(v: Any) -> Any:
            if v is None:
                return None
            x = f(v.value if was else v)
            return Some(x) if now else x

        return Opt(inner), widen_opt
    if isinstance(t, Vec):
        inner, f = _widen(draw, t.inner, depth - 1)
        if inner == t.inner:
            return t, _identity
        return Vec(inner), lambda v: [f(x) for x in v]
    if isinstance(t, Record):
        return _widen_record(draw, t, depth)
    if isinstance(t, Variant):
        arms = {f.label: _widen(draw, f.type, depth - 1) for f in t.fields}
        fields = [Field(label, w) for label, (w, _) in arms.items()]
        ids = {f.id for f in fields}
        extra = draw(st.sampled_from(EXTRA_TAGS))
        if Field(extra, NULL).id not in ids and draw(st.booleans()):
            fields.append(Field(extra, NAT))

        def widen_variant(v: Any) -> Any:
            ((label, x),) = v.items()
            return {label: arms[label][1](x)}

        return Variant(fields), widen_variant
    return t, _identity


def _widen_record(draw: st.DrawFn, t: Record, depth: int) -> Widened:
    kept: list[tuple[Field, Callable[[Any], Any]]] = []
    for f in t.fields:
        if draw(st.booleans()) and draw(st.booleans()):
            continue  # drop the field: it is skipped on the wire
        w, g = _widen(draw, f.type, depth - 1)
        kept.append((Field(f.label, w), g))
    new: list[Field] = []
    ids = {f.id for f in t.fields}
    added: list[str | int] = draw(st.lists(st.sampled_from(["added", "later", 42, 5]), max_size=2))
    for label in added:
        ftype = draw(st.sampled_from([Opt(NAT), NULL, RESERVED, Opt(Opt(NULL))]))
        f = Field(label, ftype)
        if f.id not in ids:
            ids.add(f.id)
            new.append(f)
    result = Record([f for f, _ in kept] + new)
    maps = {f.label: g for f, g in kept}

    def widen_record(v: Any) -> Any:
        # tuple records are tuples indexed by their labels 0..n-1; others are dicts
        out: dict[str | int, Any] = {}
        for f in result.fields:
            g = maps.get(f.label)
            out[f.label] = None if g is None else g(v[f.label])
        if result.is_tuple:
            return tuple(out[i] for i in range(len(result.fields)))
        return out

    return result, widen_record


@st.composite
def widened_values(draw: st.DrawFn) -> tuple[CandidType, Any, CandidType, Any]:
    t, v = draw(typed_values())
    sup, f = _widen(draw, t, 3)
    return t, v, sup, f(v)


@SETTINGS
@given(widened_values())
def test_decode_at_supertype(case: tuple[CandidType, Any, CandidType, Any]) -> None:
    t, v, sup, expected = case
    assert is_subtype(t, sup)
    data = encode([t], [v])
    assert decode(data, [sup]) == (expected,)


@SETTINGS
@given(typed_values())
def test_anything_reads_as_reserved_and_opt(tv: tuple[CandidType, Any]) -> None:
    t, v = tv
    data = encode([t], [v])
    assert decode(data, [RESERVED]) == (None,)
    got = decode(data, [Opt(NAT)])[0]
    if isinstance(t, Prim) and t.kind is PrimKind.NAT:
        assert got == v
    else:
        assert got is None or isinstance(got, int)


@SETTINGS
@given(st.data())
def test_subtype_soundness(data: st.DataObject) -> None:
    t1 = data.draw(candid_types())
    t2 = data.draw(st.one_of(candid_types(), st.just(t1)))
    assert is_subtype(t1, t1)
    assert is_subtype(t1, RESERVED) and is_subtype(t1, Opt(t2))
    if has_value(t1) and is_subtype(t1, t2):
        # soundness: a subtype's values always decode at the supertype
        v = data.draw(values_of(t1))
        try:
            assert len(decode(encode([t1], [v]), [t2])) == 1
        except CandidDecodeError as exc:
            # the one sanctioned exception (conformance test "parsing (true : bool) at
            # fix opt fails"): a non-opt value at an infinitely nested opt type
            assert "infinitely nested opt" in exc.reason
