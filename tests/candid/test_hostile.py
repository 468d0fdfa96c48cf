"""Hostile input: decoding must fail with CandidDecodeError only, quickly, in bounded memory."""

from __future__ import annotations

import contextlib
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid.binary import DecodeLimits, decode, decode_wire_types, encode
from icframework.candid.errors import CandidDecodeError
from icframework.candid.types import (
    BOOL,
    INT,
    NAT,
    NULL,
    RESERVED,
    TEXT,
    CandidType,
    Field,
    Func,
    Opt,
    Record,
    TypeEnv,
    Vec,
)
from tests.candid.strategies import candid_types, values_of

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def decode_or_reject(data: bytes, types: Sequence[CandidType] | None) -> None:
    """Decode; a CandidDecodeError is fine, any other exception is a bug."""
    try:
        decode(data, types)
    except CandidDecodeError as exc:
        assert 0 <= exc.offset <= len(data)
        assert exc.reason


def bounded(fn: Callable[[], Any], calls: int = 1_000_000, megabytes: float = 20.0) -> None:
    """Run fn (which must raise CandidDecodeError) within a work and memory bound.

    Work is counted as Python and C function calls (``sys.setprofile``), not seconds:
    the count is the same on a loaded machine, and an input that makes decoding
    exponential exceeds it by orders of magnitude."""
    counted = 0

    def count(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal counted
        if event in ("call", "c_call"):
            counted += 1

    tracemalloc.start()
    sys.setprofile(count)
    try:
        with pytest.raises(CandidDecodeError):
            fn()
    finally:
        sys.setprofile(None)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert counted < calls, f"took {counted:,} function calls (bound {calls:,})"
    assert peak < megabytes * 2**20, f"peak memory {peak / 2**20:.1f} MB"


# -------------------------------------------------------------- random and mutated bytes


@SETTINGS
@given(st.binary(max_size=64), candid_types())
def test_random_bytes_after_magic(tail: bytes, t: CandidType) -> None:
    decode_or_reject(b"DIDL" + tail, [t])
    decode_or_reject(b"DIDL" + tail, None)


@SETTINGS
@given(st.binary(max_size=40))
def test_random_bytes(data: bytes) -> None:
    decode_or_reject(data, None)
    decode_or_reject(data, [NAT, Opt(TEXT)])


@st.composite
def encoded(draw: st.DrawFn) -> tuple[CandidType, bytes]:
    t = draw(candid_types())
    return t, encode([t], [draw(values_of(t))])


@SETTINGS
@given(encoded(), st.data())
def test_bit_flips(case: tuple[CandidType, bytes], data: st.DataObject) -> None:
    t, msg = case
    mutated = bytearray(msg)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(mutated) - 1))
        mutated[i] ^= 1 << data.draw(st.integers(0, 7))
    decode_or_reject(bytes(mutated), [t])
    decode_or_reject(bytes(mutated), None)


@SETTINGS
@given(encoded(), st.data())
def test_byte_replacement_insertion_deletion(
    case: tuple[CandidType, bytes], data: st.DataObject
) -> None:
    t, msg = case
    b = bytearray(msg)
    i = data.draw(st.integers(0, len(b)))
    op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
    byte = data.draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF, 0x6E, 0x6D, 0x6C, 0x68]))
    if op == "insert":
        b.insert(i, byte)
    elif i < len(b):
        if op == "replace":
            b[i] = byte
        else:
            del b[i]
    decode_or_reject(bytes(b), [t])


@SETTINGS
@given(encoded())
def test_every_truncation_is_rejected(case: tuple[CandidType, bytes]) -> None:
    t, msg = case
    for n in range(len(msg)):
        with pytest.raises(CandidDecodeError):
            decode(msg[:n], [t])
    with pytest.raises(CandidDecodeError, match="trailing"):
        decode(msg + b"\x00", [t])


_OPCODES = st.sampled_from([0x6E, 0x6D, 0x6C, 0x6B, 0x6A, 0x69, 0x67, 0x7F, 0x7D, 0x71, 0x70])


@st.composite
def random_tables(draw: st.DrawFn) -> bytes:
    """Headers assembled from plausible pieces (valid opcodes, small indices) + values."""
    n = draw(st.integers(1, 4))
    out = bytearray(b"DIDL")
    out.append(n)
    small = st.integers(0, n)
    for _ in range(n):
        op = draw(_OPCODES)
        out.append(op)
        if op in (0x6E, 0x6D):
            out.append(draw(small))
        elif op in (0x6C, 0x6B):
            k = draw(st.integers(0, 3))
            out.append(k)
            for j in range(k):
                out += bytes([j, draw(st.sampled_from([0, 1, 0x7F, 0x7D, 0x71, 0x70]))])
        elif op == 0x6A:
            out += bytes([1, draw(small), 0, draw(st.integers(0, 1))])
        elif op == 0x69:
            out += bytes([1, 1, ord("m"), draw(small)])
        elif op == 0x67:
            out += bytes([0])
    out += bytes([1, draw(st.integers(0, n - 1))])
    out += draw(st.binary(max_size=16))
    return bytes(out)


@SETTINGS
@given(random_tables())
def test_random_type_tables(data: bytes) -> None:
    decode_or_reject(data, None)
    decode_or_reject(data, [Opt(NAT)])
    decode_or_reject(data, [RESERVED])
    with contextlib.suppress(CandidDecodeError):
        decode_wire_types(data)


# ------------------------------------------------------------------------------- bombs

BILLION = b"\x80\x94\xeb\xdc\x03"


@pytest.mark.parametrize(
    "data, types",
    [
        (b"DIDL\x01\x6d\x7f\x01\x00" + BILLION, []),
        (b"DIDL\x01\x6d\x7f\x01\x00" + BILLION, [Vec(Opt(NAT))]),
        (b"DIDL\x01\x6d\x70\x01\x00" + BILLION, [Vec(RESERVED)]),
        (b"DIDL\x01\x6d\x7f\x01\x00" + BILLION, [Opt(NAT)]),
        (b"DIDL\x02\x6d\x01\x6c\x00\x01\x00\x80\xad\xe2\x04", [Vec(Record())]),
        (b"DIDL\x02\x6d\x01\x6d\x7f\x01\x00\x05" + b"\xff\xff\x3f" * 5, [Vec(Vec(NULL))]),
        (b"DIDL\x80\x94\xeb\xdc\x03\x00", []),
        (b"DIDL\x00" + BILLION, []),
        (b"DIDL\x00\x01\x71" + BILLION + b"Motoko", [TEXT]),
        (b"DIDL\x01\x6c" + BILLION + b"\x00\x7f\x00\x7f", []),
        (b"DIDL\x01\x6d\x7e\x01\x00" + BILLION + b"\x00\x00\x00", [Vec(BOOL)]),
        (b"DIDL\x01\x67" + BILLION + b"\x00\x00", []),
        (b"DIDL\x01\x67\x00\x01\x00" + BILLION + b"\x00\x00", []),
    ],
)
def test_size_bombs_fail_fast(data: bytes, types: list[CandidType]) -> None:
    bounded(lambda: decode(data, types), calls=100_000)


def _binary_tree_bomb(levels: int) -> bytes:
    """vec opt record-tree with 2**levels null leaves in a few hundred bytes."""
    table = bytearray()
    table += b"\x6c\x02\x01\x7f\x02\x7f"  # 0: record {1: null; 2: null}
    for i in range(1, levels):
        table += b"\x6c\x02\x00" + bytes([i - 1]) + b"\x01" + bytes([i - 1])
    top = levels - 1
    table += b"\x6e" + bytes([top]) + b"\x6d" + bytes([levels])
    n = levels + 2
    return b"DIDL" + bytes([n]) + table + b"\x01" + bytes([n - 1]) + b"\x05" + b"\x01" * 5


def test_zero_byte_record_tree_bomb() -> None:
    data = _binary_tree_bomb(20)
    assert len(data) < 200
    bounded(lambda: decode(data, []))
    bounded(lambda: decode(data, None))
    bounded(lambda: decode(data, [Vec(Opt(Record()))]))


def test_recursive_nesting_is_bounded() -> None:
    env = TypeEnv()
    env.define("O", Opt(env.ref("O")))
    deep = b"DIDL\x01\x6e\x00\x01\x00" + b"\x01" * 100_000 + b"\x00"
    bounded(lambda: decode(deep, [env.ref("O")]))
    bounded(lambda: decode(deep, None))
    bounded(lambda: decode(deep, [RESERVED]))
    bounded(lambda: decode(deep, []))
    vecs = b"DIDL\x01\x6d\x00\x01\x00" + b"\x01" * 100_000 + b"\x00"
    bounded(lambda: decode(vecs, None))
    # a value that never ends: record { 0 : self }
    bounded(lambda: decode(b"DIDL\x01\x6c\x01\x00\x00\x01\x00", None))
    # moderate nesting is fine
    ok = b"DIDL\x01\x6e\x00\x01\x00" + b"\x01" * 100 + b"\x00"
    assert decode(ok, None) is not None


def test_static_type_nesting_is_bounded() -> None:
    n = 5000  # opt opt opt ... nat, as a chain of table entries (non-recursive)
    table = b"".join(b"\x6e" + _sleb(i + 1) for i in range(n - 1)) + b"\x6e\x7d"
    data = b"DIDL" + _uleb(n) + table + b"\x01\x00" + b"\x01" * n + b"\x05"
    bounded(lambda: decode(data, None))
    bounded(lambda: decode(data, [RESERVED]))
    wire = decode_wire_types(data)  # the header alone is fine
    assert len(wire) == 1


def test_deep_func_types_in_reference_checks() -> None:
    n = 3000  # func () -> (vec vec vec ... nat) checked against a recursive expected type
    table = b"\x6a\x00\x01\x01\x00" + b"".join(b"\x6d" + _sleb(i + 2) for i in range(n)) + (
        b"\x6d\x7d"
    )
    data = b"DIDL" + _uleb(n + 2) + table + b"\x01\x00\x01\x01\x00\x01m"
    env = TypeEnv()
    env.define("V", Vec(env.ref("V")))
    bounded(lambda: decode(data, [Func((), (env.ref("V"),))]))
    bounded(lambda: decode(data, [Opt(Func((), (env.ref("V"),)))]))


def test_big_numbers_decode_exactly() -> None:
    digits = 200_000  # a 1.4-million-bit nat (its speed is bench_candid's business)
    data = b"DIDL\x00\x01\x7d" + b"\xff" * digits + b"\x01"
    (value,) = decode(data, [NAT])
    assert value == (1 << (7 * digits + 1)) - 1
    (as_int,) = decode(b"DIDL\x00\x01\x7c" + b"\xff" * digits + b"\x7f", [INT])
    assert as_int == -1
    big = 3**200_000
    assert decode(encode([NAT], [big]), [NAT]) == (big,)
    assert decode(encode([INT], [-big]), [INT]) == (-big,)


def test_work_limit_is_configurable() -> None:
    data = encode([Vec(NULL)], [[None] * 50_000])
    assert len(decode(data, [Vec(NULL)])[0]) == 50_000
    with pytest.raises(CandidDecodeError, match="budget"):
        decode(data, [Vec(NULL)], limits=DecodeLimits(base_work=1000))
    assert decode(data, [], limits=DecodeLimits(base_work=10**6)) == ()
    big = encode([Vec(NULL)], [[None] * 500_000])
    with pytest.raises(CandidDecodeError, match="budget"):
        decode(big, [Vec(NULL)])
    assert len(decode(big, [Vec(NULL)], limits=DecodeLimits(base_work=10**6))[0]) == 500_000


def test_depth_limit_is_configurable() -> None:
    env = TypeEnv()
    env.define("L", Opt(Record([Field("head", NAT), Field("tail", env.ref("L"))])))
    value: Any = None
    for i in range(150):
        value = {"head": i, "tail": value}
    data = encode([env.ref("L")], [value])
    assert decode(data, [env.ref("L")]) == (value,)
    for _ in range(100):  # up to max_depth (256) recursive levels decode by default
        value = {"head": 0, "tail": value}
    assert decode(encode([env.ref("L")], [value]), [env.ref("L")]) == (value,)
    for _ in range(2000):  # encoding has no depth limit beyond the Python stack
        value = {"head": 0, "tail": value}
    deep = encode([env.ref("L")], [value])
    with pytest.raises(CandidDecodeError, match="deeper than 256"):
        decode(deep, [env.ref("L")])
    assert len(decode(deep, [env.ref("L")], limits=DecodeLimits(max_depth=3000))) == 1
    with pytest.raises(CandidDecodeError, match="deeper than 50"):
        decode(data, [env.ref("L")], limits=DecodeLimits(max_depth=50))


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if (n == 0 and not b & 0x40) or (n == -1 and b & 0x40):
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)
