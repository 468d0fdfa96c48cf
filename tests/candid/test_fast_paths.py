"""The fast paths of `decode`/`encode` and the `decoder`/`encoder` closures.

They must never change a result or an error: every case here runs through the general
path (``limits=`` given, or caches cleared) and through the fast ones (the same type
tuple a second and third time, a one-element list, a kept closure), and the outcomes
(values, or the exception's type and message) must be identical. The inputs are the
official conformance suite grouped by types (so a learned header meets its bad values
too), mutations of valid messages (truncated, extended, bytes flipped), and
property-generated types and values.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid import binary
from icframework.candid.binary import (
    DEFAULT_LIMITS,
    clear_caches,
    decode,
    decoder,
    encode,
    encoder,
)
from icframework.candid.errors import CandidDecodeError, CandidError
from icframework.candid.types import (
    BOOL,
    FLOAT32,
    FLOAT64,
    INT,
    INT8,
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
    Opt,
    Record,
    Some,
    Variant,
    Vec,
)
from icframework.core import Principal
from tests.candid.strategies import candid_types, has_value, values_of
from tests.candid.test_conformance import ASSERTIONS, same

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

Outcome = tuple[str, Any]


def outcome(run: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", run())
    except (CandidError, TypeError) as exc:
        detail = (exc.offset, exc.reason) if isinstance(exc, CandidDecodeError) else str(exc)
        return (type(exc).__name__, detail)


def assert_same(expected: Outcome, got: Outcome, what: str) -> None:
    assert expected[0] == got[0], f"{what}: {expected!r} vs {got!r}"
    if expected[0] == "ok":
        assert same(expected[1], got[1]), f"{what}: {expected[1]!r} vs {got[1]!r}"
    else:
        assert expected[1] == got[1], f"{what}: {expected!r} vs {got!r}"


def general_decode(data: bytes, types: Sequence[CandidType]) -> Outcome:
    # an explicit `limits` always takes the general path
    return outcome(lambda: decode(data, types, limits=DEFAULT_LIMITS))


def check_decodes(types: tuple[CandidType, ...], messages: Sequence[bytes]) -> None:
    """Every message decodes alike through the general and every fast path."""
    clear_caches()
    held = tuple(types)  # one tuple object, as a service keeps its argument types
    kept = decoder(held)
    one = [held[0]] if len(held) == 1 else None
    # teach the caches every header first (a learned header then meets all the values)
    for data in messages:
        for _ in range(2):
            outcome(lambda data=data: decode(data, held))
            if one is not None:
                outcome(lambda data=data: decode(data, one))
    for data in messages:
        expected = general_decode(data, types)
        for attempt in range(2):
            assert_same(expected, outcome(lambda data=data: decode(data, held)),
                         f"decode #{attempt} of {data!r}")
            assert_same(expected, outcome(lambda data=data: kept(data)),
                         f"decoder() of {data!r}")
            if one is not None:
                assert_same(expected, outcome(lambda data=data: decode(data, one)),
                             f"decode at a one-element list of {data!r}")


# -- the conformance suite ----------------------------------------------------------------

def _suite_groups() -> dict[tuple[CandidType, ...], list[bytes]]:
    groups: dict[tuple[CandidType, ...], list[bytes]] = defaultdict(list)
    for case in ASSERTIONS:
        for side in (case.left, case.right):
            if side is not None and side.binary:
                groups[case.types].append(side.data)
    return groups


SUITE_GROUPS = sorted(_suite_groups().items(), key=lambda item: repr(item[0]))


@pytest.mark.parametrize(
    ("types", "messages"), SUITE_GROUPS, ids=[repr(t)[:60] for t, _ in SUITE_GROUPS]
)
def test_conformance_inputs_decode_alike_on_every_path(
    types: tuple[CandidType, ...], messages: list[bytes]
) -> None:
    check_decodes(types, messages)


# -- mutated messages ----------------------------------------------------------------------

SAMPLES: list[tuple[tuple[CandidType, ...], tuple[Any, ...]]] = [
    ((), ()),
    ((NAT32,), (25,)),
    ((NAT64,), (2**64 - 1,)),
    ((NAT8, NAT16, INT8, INT64), (255, 65535, -128, -(2**63))),
    ((FLOAT32, FLOAT64), (1.5, -2.25)),
    ((NAT,), (5,)),
    ((NAT,), (2**70,)),
    ((INT,), (-(2**40),)),
    ((TEXT,), ("héllo",)),
    ((BOOL, TEXT, NAT), (True, "x" * 200, 300)),
    ((PRINCIPAL,), (Principal.anonymous(),)),
    ((NULL, RESERVED), (None, None)),
    ((Opt(NAT64),), (7,)),
    ((Opt(NAT64),), (None,)),
    ((Vec(NAT8),), (b"blob bytes",)),
    ((Vec(NAT32),), ([1, 2, 3],)),
    ((Vec(TEXT),), (["a", "bc"],)),
    ((Record([Field("a", NAT), Field("b", Opt(TEXT))]),), ({"a": 1, "b": "z"},)),
    ((Variant([Field("ok", NAT), Field("err", TEXT)]),), ({"err": "no"},)),
    ((Opt(Opt(NAT)),), (Some(None),)),
]


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    out = [data[:n] for n in range(len(data))]  # every truncation
    out += [data + b"\x00", data + b"\x80", data + data[-1:] if data else b"\x01"]
    for _ in range(40):
        raw = bytearray(data)
        if not raw:
            break
        i = rng.randrange(len(raw))
        raw[i] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, raw[i] ^ 1))
        out.append(bytes(raw))
    return out


@pytest.mark.parametrize(("types", "values"), SAMPLES, ids=[repr(t)[:50] for t, _ in SAMPLES])
def test_mutated_messages_decode_alike_on_every_path(
    types: tuple[CandidType, ...], values: tuple[Any, ...]
) -> None:
    data = encode(types, values)
    check_decodes(types, [data, *_mutations(data, random.Random(repr(types)))])


def test_other_headers_and_extra_arguments_take_the_general_path() -> None:
    held = (NAT32,)
    canonical = encode(held, (7,))
    assert decode(canonical, held) == decode(canonical, held) == (7,)
    # a table entry nobody uses, and an extra argument: still decodable, not by the closure
    padded = b"DIDL\x01\x6e\x7f\x01\x79\x07\x00\x00\x00"
    extra = encode((NAT32, TEXT), (7, "extra"))
    for data in (padded, extra):
        expected = general_decode(data, held)
        assert expected == ("ok", (7,))
        for _ in range(3):
            assert_same(expected, outcome(lambda data=data: decode(data, held)), repr(data))


def test_non_bytes_input_is_decoded_like_bytes() -> None:
    held = (TEXT,)
    data = encode(held, ("abc",))
    decode(data, held)
    decode(data, held)
    for form in (bytearray(data), memoryview(data)):
        assert decode(form, held) == ("abc",)
        assert decoder(held)(form) == ("abc",)
    blob = (Vec(NAT8),)
    raw = encode(blob, (b"xyz",))
    decode(raw, blob)
    decode(raw, blob)
    assert type(decode(bytearray(raw), blob)[0]) is bytes


# -- encoding ------------------------------------------------------------------------------

BAD_VALUES: list[tuple[tuple[CandidType, ...], Any]] = [
    ((NAT64,), (-1,)),
    ((NAT64,), (2**64,)),
    ((NAT64,), (True,)),
    ((NAT64,), (1.5,)),
    ((NAT64,), ("1",)),
    ((NAT64,), ()),
    ((NAT64,), (1, 2)),
    ((NAT32,), [2**32]),
    ((NAT,), (-5,)),
    ((NAT,), (False,)),
    ((TEXT,), (b"bytes",)),
    ((TEXT,), ("\ud800",)),
    ((BOOL,), (1,)),
    ((Opt(NAT64),), (-1,)),
    ((Record([Field("a", NAT)]),), ({"b": 1},)),
    ((NAT, TEXT), (1,)),
]


def general_encode(types: Sequence[CandidType], values: Any) -> Outcome:
    clear_caches()
    return outcome(lambda: encode(types, values))


@pytest.mark.parametrize(
    ("types", "values"),
    SAMPLES + BAD_VALUES,
    ids=[repr(t)[:40] + " " + repr(v)[:30] for t, v in SAMPLES + BAD_VALUES],
)
def test_encodes_alike_on_every_path(types: tuple[CandidType, ...], values: Any) -> None:
    expected = general_encode(types, values)
    held = tuple(types)
    good = dict(SAMPLES).get(types)
    if good is not None:  # teach the caches with a good value first
        encode(held, good)
        encode(held, good)
    kept = encoder(held)
    for attempt in range(3):
        assert_same(expected, outcome(lambda: encode(held, values)), f"encode #{attempt}")
        assert_same(expected, outcome(lambda: kept(values)), "encoder()")
        if len(held) == 1:
            assert_same(expected, outcome(lambda: encode([held[0]], values)), "one-element list")


def test_int_subclasses_and_lists_encode_like_ints_and_tuples() -> None:
    import enum

    class Level(enum.IntEnum):
        HIGH = 3

    held = (NAT64,)
    for _ in range(3):
        assert encode(held, (Level.HIGH,)) == encode(held, (3,))
        assert encode(held, [3]) == encode(held, (3,))
        assert encoder(held)([Level.HIGH]) == encode(held, (3,))
    nat = (NAT,)
    for _ in range(3):
        assert encode(nat, (Level.HIGH,)) == encode(nat, (3,))
        assert encode(nat, (2**80,)) == b"DIDL\x00\x01\x7d" + binary._uleb(2**80)


def test_caches_are_bounded_and_cleared() -> None:
    clear_caches()
    for i in range(binary._CACHE_LIMIT + 20):
        types = (Vec(NAT8),) if i % 2 else (Opt(NAT32),)
        value = (b"x",) if i % 2 else (i,)
        encode(types, value)
        encode(types, value)
        data = encode(types, value)
        decode(data, types)
        decode(data, types)
    for cache in binary._FAST_CACHES:
        assert len(cache) <= binary._CACHE_LIMIT
    clear_caches()
    assert not any(binary._FAST_CACHES)


# -- properties ----------------------------------------------------------------------------

@st.composite
def _typed_values(draw: st.DrawFn) -> tuple[tuple[CandidType, ...], tuple[Any, ...]]:
    types = tuple(draw(st.lists(candid_types(max_leaves=6).filter(has_value), max_size=3)))
    values = tuple(draw(values_of(t)) for t in types)
    return types, values


@SETTINGS
@given(_typed_values(), st.randoms(use_true_random=False))
def test_generated_messages_decode_alike_on_every_path(
    typed: tuple[tuple[CandidType, ...], tuple[Any, ...]], rng: random.Random
) -> None:
    types, values = typed
    expected = general_encode(types, values)
    assert expected[0] == "ok"
    data = expected[1]
    held = tuple(types)
    for _ in range(3):
        assert encode(held, values) == data
    assert encoder(held)(values) == data
    check_decodes(types, [data, *_mutations(data, rng)[:12]])
