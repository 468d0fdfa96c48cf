"""The order-preserving key encoding: encoded order == Python order, and round trips."""

# ruff: noqa: UP045 - Optional[...] hints are what these tests are about

from __future__ import annotations

from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.core import Principal
from icframework.sdk import StorageError, int8, int64, nat8, nat64
from icframework.sdk.keys import component_codec, key_codec

INTS = st.integers(min_value=-(2**200), max_value=2**200)
TEXT = st.text()
BYTES = st.binary()
PRINCIPALS = st.binary(max_size=29).map(Principal)

CASES: list[tuple[Any, st.SearchStrategy[Any]]] = [
    (int, INTS),
    (nat64, st.integers(0, 2**64 - 1)),
    (int64, st.integers(-(2**63), 2**63 - 1)),
    (nat8, st.integers(0, 255)),
    (int8, st.integers(-128, 127)),
    (bool, st.booleans()),
    (str, TEXT),
    (bytes, BYTES),
    (Principal, PRINCIPALS),
    (tuple[str, int], st.tuples(TEXT, INTS)),
    (tuple[bytes, bytes, bool], st.tuples(BYTES, BYTES, st.booleans())),
    (tuple[int, str, nat64], st.tuples(INTS, TEXT, st.integers(0, 2**64 - 1))),
    (tuple[Principal, str], st.tuples(PRINCIPALS, TEXT)),
]


def _python_order(value: Any) -> Any:
    """Python's order with None first (Optional keys)."""
    if isinstance(value, tuple):
        return tuple(_python_order(v) for v in value)
    return (value is not None, value)


@pytest.mark.parametrize(("hint", "strategy"), CASES, ids=[repr(h) for h, _ in CASES])
def test_encoded_order_is_python_order(hint: Any, strategy: st.SearchStrategy[Any]) -> None:
    codec = key_codec(hint)

    @given(strategy, strategy)
    def check(a: Any, b: Any) -> None:
        ea, eb = codec.encode(a), codec.encode(b)
        assert (ea < eb) == (a < b)
        assert (ea == eb) == (a == b)
        assert codec.decode(ea) == a

    check()


@given(st.lists(st.one_of(st.none(), INTS), min_size=2, max_size=20))
def test_optional_keys_sort_none_first(values: list[int | None]) -> None:
    codec = key_codec(Optional[int])
    by_bytes = sorted(values, key=codec.encode)
    assert [_python_order(v) for v in by_bytes] == sorted(_python_order(v) for v in values)
    assert all(codec.decode(codec.encode(v)) == v for v in values)


@given(st.lists(st.tuples(st.one_of(st.none(), TEXT), BYTES), max_size=10))
def test_tuples_with_optional_text(values: list[tuple[str | None, bytes]]) -> None:
    codec = key_codec(tuple[str | None, bytes])
    by_bytes = sorted(values, key=codec.encode)
    assert [_python_order(v) for v in by_bytes] == sorted(_python_order(v) for v in values)


@given(TEXT, TEXT)
def test_component_encoding_is_self_delimiting(a: str, b: str) -> None:
    codec = component_codec(str)
    value, end = codec.read(codec.encode(a) + codec.encode(b), 0)
    assert value == a
    assert codec.read(codec.encode(a) + codec.encode(b), end)[0] == b


def test_known_layouts() -> None:
    enc = key_codec(int).encode
    assert enc(0) == b"\x80"
    assert enc(1) == b"\x81\x01"
    assert enc(256) == b"\x82\x01\x00"
    assert enc(-1) == b"\x7e\xff"
    assert enc(-256) == b"\x7d\xff\x00"
    assert key_codec(int64).encode(-1) == b"\x7f" + b"\xff" * 7
    assert key_codec(tuple[str, str]).encode(("a\x00", "b")) == b"a\x00\xff\x00\x01b"


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (str, 1, "expected a str key"),
        (int, "1", "expected an int key"),
        (int, True, "expected an int key"),
        (nat8, 256, "out of range for a 8-bit int"),
        (int, 1 << 2000, "too large"),
        (tuple[int, str], (1,), "expected a tuple of 2 values"),
        (bool, 1, "expected a bool key"),
    ],
)
def test_bad_keys_are_refused(hint: Any, value: Any, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        key_codec(hint).encode(value)


@pytest.mark.parametrize("hint", [float, list[int], dict[str, int], tuple[int, ...]])
def test_unsupported_key_types(hint: Any) -> None:
    with pytest.raises(StorageError, match="cannot be a storage key"):
        key_codec(hint)


@pytest.mark.parametrize("hint", [nat64, int64, nat8, int8, int, str])
@given(value=st.integers(-(2**70), 2**70) | st.booleans() | st.text(max_size=3))
def test_prefixed_encoder_is_prefix_plus_encode(hint: Any, value: Any) -> None:
    codec = key_codec(hint)
    prefixed = codec.prefixed(b"Sm\x00\x01")
    try:
        expected: Any = b"Sm\x00\x01" + codec.encode(value)
    except (StorageError, TypeError, AttributeError) as exc:
        expected = type(exc)
    try:
        got: Any = prefixed(value)
    except (StorageError, TypeError, AttributeError) as exc:
        got = type(exc)
    assert got == expected
