"""Known-answer tests for the Candid binary codec: encodings, coercions and error messages."""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from typing import Any

import pytest

from icframework.candid.binary import (
    DecodeLimits,
    FutureType,
    clear_caches,
    decode,
    decode_wire_types,
    encode,
)
from icframework.candid.errors import CandidDecodeError, CandidEncodeError, CandidTypeError
from icframework.candid.subtype import SubtypeCheckTooDeep, is_subtype
from icframework.candid.types import (
    BLOB,
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
    Record,
    Service,
    Some,
    TypeEnv,
    TypeRef,
    Variant,
    Vec,
)
from icframework.core import Principal, encode_sleb128, encode_uleb128

P = Principal.from_text("w7x7r-cok77-xa")  # bytes ca ff ee


def h(text: str) -> bytes:
    """Bytes from spaced hex, e.g. ``h("44 49 44 4c")``."""
    return bytes.fromhex(text)


def roundtrip(types: list[CandidType], values: list[Any], expected_hex: str) -> None:
    data = encode(types, values)
    assert data.hex(" ") == expected_hex
    assert decode(data, types) == tuple(values)


# ------------------------------------------------------------------ known answers


@pytest.mark.parametrize(
    "t, value, values_hex",
    [
        (NULL, None, ""),
        (BOOL, False, "00"),
        (BOOL, True, "01"),
        (NAT, 0, "00"),
        (NAT, 127, "7f"),
        (NAT, 128, "80 01"),
        (NAT, 624485, "e5 8e 26"),
        (NAT, 60000000000000000, "80 80 98 f4 e9 b5 ca 6a"),
        (INT, 0, "00"),
        (INT, -1, "7f"),
        (INT, -64, "40"),
        (INT, 64, "c0 00"),
        (INT, -123456, "c0 bb 78"),
        (INT, -60000000000000000, "80 80 e8 8b 96 ca b5 95 7f"),
        (NAT8, 255, "ff"),
        (NAT16, 256, "00 01"),
        (NAT32, 4294967295, "ff ff ff ff"),
        (NAT64, 2**64 - 1, "ff ff ff ff ff ff ff ff"),
        (INT8, -1, "ff"),
        (INT16, -2, "fe ff"),
        (INT32, -(2**31), "00 00 00 80"),
        (INT64, 2**63 - 1, "ff ff ff ff ff ff ff 7f"),
        (FLOAT32, 0.5, "00 00 00 3f"),
        (FLOAT32, -3.0, "00 00 40 c0"),
        (FLOAT64, 0.5, "00 00 00 00 00 00 e0 3f"),
        (FLOAT64, 3.0, "00 00 00 00 00 00 08 40"),
        (TEXT, "", "00"),
        (TEXT, "Motoko", "06 4d 6f 74 6f 6b 6f"),
        (TEXT, "☃", "03 e2 98 83"),
        (RESERVED, None, ""),
        (PRINCIPAL, Principal.management_canister(), "01 00"),
        (PRINCIPAL, P, "01 03 ca ff ee"),
    ],
)
def test_primitive_encodings(t: CandidType, value: Any, values_hex: str) -> None:
    opcode = encode_sleb128(t.kind.value).hex()  # type: ignore[attr-defined]
    expected = f"44 49 44 4c 00 01 {opcode}" + (f" {values_hex}" if values_hex else "")
    roundtrip([t], [value], expected)


def test_leb128_matches_core_for_large_numbers() -> None:
    for n in (2**63, 2**64, 2**449, 3**1000, 7**5000):
        assert encode([NAT], [n])[7:] == encode_uleb128(n)
        assert encode([INT], [n])[7:] == encode_sleb128(n)
        assert encode([INT], [-n])[7:] == encode_sleb128(-n)
        assert decode(encode([INT], [-n]), [INT]) == (-n,)


def test_no_arguments() -> None:
    roundtrip([], [], "44 49 44 4c 00 00")


def test_multiple_arguments() -> None:
    roundtrip(
        [NULL, BOOL, NAT, INT, NAT8], [None, True, 42, -42, 42],
        "44 49 44 4c 00 05 7f 7e 7d 7c 7b 01 2a 56 2a",
    )


def test_opt() -> None:
    roundtrip([Opt(NAT)], [None], "44 49 44 4c 01 6e 7d 01 00 00")
    roundtrip([Opt(NAT)], [5], "44 49 44 4c 01 6e 7d 01 00 01 05")
    # opt over a nullish type needs Some for a present value
    roundtrip([Opt(NULL)], [Some(None)], "44 49 44 4c 01 6e 7f 01 00 01")
    roundtrip(
        [Opt(Opt(NAT))], [Some(None)], "44 49 44 4c 02 6e 7d 6e 00 01 01 01 00"
    )
    roundtrip([Opt(Opt(NAT))], [Some(3)], "44 49 44 4c 02 6e 7d 6e 00 01 01 01 01 03")
    # a Some around a non-nullish inner value is accepted too
    assert encode([Opt(NAT)], [Some(5)]) == encode([Opt(NAT)], [5])


def test_vec_and_blob() -> None:
    roundtrip([Vec(NAT16)], [[1, 2]], "44 49 44 4c 01 6d 7a 01 00 02 01 00 02 00")
    roundtrip([BLOB], [b"\x01\x02"], "44 49 44 4c 01 6d 7b 01 00 02 01 02")
    roundtrip([Vec(TEXT)], [["a", "b"]], "44 49 44 4c 01 6d 71 01 00 02 01 61 01 62")
    assert encode([BLOB], [[1, 2]]) == encode([BLOB], [bytearray(b"\x01\x02")])
    assert encode([BLOB], [memoryview(b"\x01\x02")]) == encode([BLOB], [b"\x01\x02"])
    assert encode([Vec(INT)], [(1, 2)]) == encode([Vec(INT)], [[1, 2]])
    floats = [0.5, -1.25, math.inf]
    assert decode(encode([Vec(FLOAT64)], [floats]), [Vec(FLOAT64)]) == (floats,)
    assert decode(encode([Vec(INT64)], [[-1, 2**63 - 1]]), [Vec(INT64)]) == ([-1, 2**63 - 1],)


def test_record_named_fields() -> None:
    t = Record([Field("foo", INT), Field("bar", BOOL)])
    # bar (4895187) sorts before foo (5097222)
    roundtrip(
        [t], [{"bar": True, "foo": 42}],
        "44 49 44 4c 01 6c 02 d3 e3 aa 02 7e 86 8e b7 02 7c 01 00 01 2a",
    )


def test_record_tuple_and_numbered() -> None:
    roundtrip(
        [Record.tuple_of(INT, BOOL)], [(42, True)], "44 49 44 4c 01 6c 02 00 7c 01 7e 01 00 2a 01"
    )
    roundtrip([Record([Field(1, INT)])], [{1: 42}], "44 49 44 4c 01 6c 01 01 7c 01 00 2a")
    roundtrip([Record()], [{}], "44 49 44 4c 01 6c 00 01 00")
    assert encode([Record.tuple_of(INT, BOOL)], [[42, True]]) == encode(
        [Record.tuple_of(INT, BOOL)], [(42, True)]
    )
    assert encode([Record.tuple_of(INT, BOOL)], [{0: 42, 1: True}]) == encode(
        [Record.tuple_of(INT, BOOL)], [(42, True)]
    )


def test_record_accepts_mappings_dataclasses_and_ids() -> None:
    t = Record([Field("name", TEXT), Field("age", NAT8), Field("nick", Opt(TEXT))])

    @dataclasses.dataclass
    class Person:
        name: str
        age: int
        nick: str | None = None
        extra: int = 0  # attributes the type does not mention are ignored

    reference = encode([t], [{"name": "Ann", "age": 7, "nick": None}])
    assert encode([t], [Person("Ann", 7)]) == reference
    assert encode([t], [OrderedDict(name="Ann", age=7, nick=None)]) == reference
    # a missing opt field encodes as null; a field may also be keyed by its id
    assert encode([t], [{"name": "Ann", "age": 7}]) == reference
    assert encode([t], [{Field("name", TEXT).id: "Ann", "age": 7}]) == reference


def test_variant() -> None:
    t = Variant([Field("Ok", TEXT), Field("Err", TEXT)])
    roundtrip(
        [t], [{"Ok": "good"}],
        "44 49 44 4c 01 6b 02 bc 8a 01 71 c5 fe d2 01 71 01 00 00 04 67 6f 6f 64",
    )
    enum = Variant([Field("Foo", NULL), Field("Bar", NULL)])
    roundtrip(
        [enum], [{"Bar": None}], "44 49 44 4c 01 6b 02 b3 d3 c9 01 7f e6 fd d5 01 7f 01 00 00"
    )
    assert encode([t], [{Field("Err", NULL).id: "x"}]) == encode([t], [{"Err": "x"}])


def test_references() -> None:
    roundtrip(
        [Func()], [FuncRef(P, "a")], "44 49 44 4c 01 6a 00 00 00 01 00 01 01 03 ca ff ee 01 61"
    )
    roundtrip([Service()], [P], "44 49 44 4c 01 69 00 01 00 01 03 ca ff ee")
    query = Func((TEXT,), (NAT,), ("query",))
    roundtrip(
        [Service([("foo", query)])], [P],
        "44 49 44 4c 02 6a 01 71 01 7d 01 01 69 01 03 66 6f 6f 00 01 01 01 03 ca ff ee",
    )


def test_recursive_list_type_table() -> None:
    env = TypeEnv()
    env.define("List", Opt(Record([Field("head", INT), Field("tail", env.ref("List"))])))
    value = {"head": 1, "tail": {"head": 2, "tail": None}}
    # the exact bytes of the conformance test "record: list"
    roundtrip(
        [env.ref("List")], [value],
        "44 49 44 4c 02 6e 01 6c 02 a0 d2 ac a8 04 7c 90 ed da e7 04 00 01 00 01 01 01 02 00",
    )


def test_identical_composite_types_share_a_table_entry() -> None:
    data = encode([Vec(TEXT), Vec(TEXT), Opt(Vec(TEXT))], [[], ["x"], None])
    assert data.startswith(h("44 49 44 4c 02 6d 71 6e 00 03 00 00 01"))


def test_mutually_recursive_and_service_types() -> None:
    env = TypeEnv()
    env.define("S", Service([("next", Func((), (env.ref("S"),)))]))
    env.define("Tree", Variant([Field("leaf", NAT), Field("node", Vec(env.ref("Tree")))]))
    tree = {"node": [{"leaf": 1}, {"node": []}, {"node": [{"leaf": 2}]}]}
    data = encode([env.ref("S"), env.ref("Tree")], [P, tree])
    assert decode(data, [env.ref("S"), env.ref("Tree")]) == (P, tree)
    assert decode(data, [PRINCIPAL, RESERVED]) == (P, None)


# ------------------------------------------------------------------ decoding


def test_decode_at_wire_types() -> None:
    t = Record([Field("name", TEXT), Field("pair", Record.tuple_of(NAT, BOOL))])
    data = encode([t, Variant([Field("a", NULL)])], [{"name": "x", "pair": (1, True)}, {"a": None}])
    (record, variant) = decode(data)
    assert record == {Field("name", NULL).id: "x", Field("pair", NULL).id: (1, True)}
    assert variant == {Field("a", NULL).id: None}
    wire = decode_wire_types(data)
    assert all(isinstance(w, TypeRef) for w in wire)
    first = wire[0]
    assert isinstance(first, TypeRef)
    resolved = first.resolve()
    assert isinstance(resolved, Record)
    assert [f.label for f in resolved.fields] == sorted(
        [Field("name", NULL).id, Field("pair", NULL).id]
    )
    assert decode_wire_types(h("44 49 44 4c 00 02 7d 71")) == (NAT, TEXT)


def test_decode_future_type() -> None:
    data = h("44 49 44 4c 01 67 03 41 42 43 02 00 7e 05 00 68 65 6c 6c 6f 01")
    assert decode(data, [Opt(EMPTY), BOOL]) == (None, True)
    assert decode(data) == (None, True)
    wire = decode_wire_types(data)
    assert isinstance(wire[0], TypeRef)
    assert wire[0].resolve() == FutureType(-25, b"ABC")
    with pytest.raises(CandidDecodeError, match="cannot read a wire future type"):
        decode(data, [NAT, BOOL])


def test_subtyping_coercions() -> None:
    assert decode(encode([NAT], [5]), [INT]) == (5,)
    assert decode(encode([NAT], [5]), [RESERVED]) == (None,)
    assert decode(encode([NAT], [5]), [Opt(NAT)]) == (5,)
    assert decode(encode([NAT], [5]), [Opt(Opt(NAT))]) == (Some(5),)
    assert decode(encode([NAT], [5]), [Opt(TEXT)]) == (None,)
    assert decode(encode([Service()], [P]), [PRINCIPAL]) == (P,)
    # records: extra wire fields are skipped; missing optional fields read as None
    wide = Record([Field("a", NAT), Field("b", TEXT), Field("c", Vec(NAT))])
    narrow = Record([Field("b", TEXT), Field("d", Opt(NAT)), Field("e", RESERVED)])
    data = encode([wide], [{"a": 1, "b": "x", "c": [1, 2, 3]}])
    assert decode(data, [narrow]) == ({"b": "x", "d": None, "e": None},)
    # variants: tags must exist in the expected type, else coercion fails (null under opt)
    v2 = Variant([Field("a", NAT), Field("new", NULL)])
    v1 = Variant([Field("a", NAT)])
    assert decode(encode([v2], [{"a": 1}]), [v1]) == ({"a": 1},)
    assert decode(encode([v2], [{"new": None}]), [Opt(v1)]) == (None,)
    with pytest.raises(CandidDecodeError, match=r"variant tag \d+ is not in the expected type"):
        decode(encode([v2], [{"new": None}]), [v1])
    # a coercion failure deep inside an opt gives None for the whole opt
    deep = Opt(Record([Field("x", Vec(v2))]))
    data = encode([deep, NAT], [{"x": [{"a": 1}, {"new": None}]}, 7])
    assert decode(data, [Opt(Record([Field("x", Vec(v1))])), NAT]) == (None, 7)
    # argument lists: extra arguments ignored, missing optional ones read as None
    assert decode(encode([NAT, TEXT], [1, "x"]), [NAT]) == (1,)
    assert decode(encode([NAT], [1]), [NAT, Opt(TEXT), NULL, RESERVED]) == (1, None, None, None)


def test_func_and_service_reference_subtyping() -> None:
    f_wire = Func((TEXT,), (NAT,))
    data = encode([f_wire], [FuncRef(P, "foo")])
    assert decode(data, [Func((TEXT, Opt(TEXT)), ())]) == (FuncRef(P, "foo"),)
    with pytest.raises(CandidDecodeError, match="not a subtype"):
        decode(data, [Func((), (NAT,))])
    assert decode(data, [Opt(Func((), (NAT,)))]) == (None,)
    with pytest.raises(CandidDecodeError, match="not a subtype"):
        decode(data, [Func((TEXT,), (NAT,), ("query",))])
    s = Service([("foo", f_wire), ("bar", Func())])
    data = encode([s], [P])
    assert decode(data, [Service([("foo", f_wire)])]) == (P,)
    assert decode(data, [Opt(Service([("baz", Func())]))]) == (None,)


def test_decode_caches_by_header_and_types() -> None:
    t = [Record([Field("a", NAT)])]
    one = encode(t, [{"a": 1}])
    two = encode(t, [{"a": 2}])
    assert decode(one, t) == ({"a": 1},)
    assert decode(two, t) == ({"a": 2},)  # same header: cached program
    assert decode(encode([NAT], [3]), [NAT]) == (3,)
    clear_caches()
    assert decode(two, t) == ({"a": 2},)


# ------------------------------------------------------------------ decoding errors


@pytest.mark.parametrize(
    "data, types, offset, reason",
    [
        ("", [], 0, "magic bytes 'DIDL'"),
        ("44 41 44 4c 00 00", [], 0, "magic bytes 'DIDL'"),
        ("44 49 44 4c 00 01 7e 02", [BOOL], 7, "expected bool byte 0 or 1, got 0x02"),
        ("44 49 44 4c 00 01 7e", [BOOL], 7, "input ends inside a bool value"),
        ("44 49 44 4c 00 00 00", [], 6, "1 unexpected trailing byte(s) after the values"),
        ("44 49 44 4c 00 01 6e", [], 6, "composite type opcode"),
        ("44 49 44 4c 00 01 00", [], 6, "type index 0 is out of range"),
        ("44 49 44 4c 01 7f 00", [], 5, "type table entry 0 is primitive type null"),
        ("44 49 44 4c 01 68 00", [], 5, "type table entry 0 is primitive type principal"),
        ("44 49 44 4c 01 6e 01 00", [], 6, "type index 1 is out of range"),
        ("44 49 44 4c 00 01 7a 00", [NAT16], 7, "input ends inside a nat16 value"),
        ("44 49 44 4c 00 01 71 03 e2 28 a1", [TEXT], 8, "text is not valid UTF-8"),
        ("44 49 44 4c 00 01 71 07 4d", [TEXT], 7, "text of 7 bytes overruns the input"),
        ("44 49 44 4c 00 01 7d 80", [NAT], 7, "input ends inside a nat value"),
        ("44 49 44 4c 00 00", [NAT], 6, "argument 0 (type nat) is missing"),
        ("44 49 44 4c 00 01 7e 01", [NAT], 7, "cannot read a wire bool value at type nat"),
        ("44 49 44 4c 00 01 70", [NULL], 7, "cannot read a wire reserved value at type null"),
        ("44 49 44 4c 00 01 6f", [EMPTY], 7, "a value of wire type empty cannot exist"),
        ("44 49 44 4c 00 01 68 03 ca", [PRINCIPAL], 7, "expected reference flag 0x01, got 0x03"),
        ("44 49 44 4c 00 01 68 00", [PRINCIPAL], 7, "opaque references"),
        (
            "44 49 44 4c 00 01 68 01 1e" + " 00" * 30, [PRINCIPAL], 8,
            "principal of 30 bytes; the maximum is 29",
        ),
        ("44 49 44 4c 01 6e 7c 01 00 02", [Opt(INT)], 9, "expected opt flag 0 or 1, got 0x02"),
        ("44 49 44 4c 01 6b 00 01 00 00", [RESERVED], 9, "variant index 0 is out of range"),
        (
            "44 49 44 4c 01 6c 02 01 7c 00 7e 01 00", [], 9,
            "record field ids must be strictly increasing: 0 after 1",
        ),
        (
            "44 49 44 4c 01 6c 01 80 e4 97 d0 12 7c 01 00 2a", [], 7,
            "record field id 5000000000 is larger than 2**32-1",
        ),
        (
            "44 49 44 4c 01 6a 00 00 01 04 01 00", [], 9,
            "unknown func annotation byte 0x04",
        ),
        (
            "44 49 44 4c 02 6a 00 00 00 69 02 01 62 00 01 61 00 01 01 01 00", [], 14,
            "service method 'a' is not sorted",
        ),
        ("44 49 44 4c 02 69 01 01 61 01 6e 7e 00", [], 9, "must be a func type"),
        (
            "44 49 44 4c 01 6d 7e 01 00 80 94 eb dc 03 00", [Vec(BOOL)], 9,
            "vector of 1000000000 elements needs at least 1000000000 bytes",
        ),
        ("44 49 44 4c 01 6d 7f 01 00 80 94 eb dc 03", [], 9, "work budget exceeded"),
        (
            "44 49 44 4c 01 6c 01 00 7d 01 00 01", [Record([Field(1, NAT)])], 11,
            "record field 1 (type nat) is missing",
        ),
    ],
)
def test_decode_errors(data: str, types: list[CandidType], offset: int, reason: str) -> None:
    with pytest.raises(CandidDecodeError) as info:
        decode(h(data), types)
    assert reason in info.value.reason
    assert info.value.offset == offset
    assert str(info.value) == f"at byte offset {offset}: {info.value.reason}"


def test_decode_rejects_non_bytes() -> None:
    with pytest.raises(TypeError):
        decode("DIDL", [])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        decode(b"DIDL\x00\x01\x7d\x00", NAT)  # type: ignore[arg-type]
    assert decode(bytearray(b"DIDL\x00\x01\x7d\x05"), [NAT]) == (5,)
    assert decode(memoryview(b"DIDL\x00\x01\x7d\x05"), [NAT]) == (5,)


def test_decode_limits_defaults() -> None:
    limits = DecodeLimits()
    assert limits.budget(1000) == limits.base_work + 1000 * limits.work_per_byte
    assert limits.max_depth >= 100


# ------------------------------------------------------------------ encoding errors


@pytest.mark.parametrize(
    "types, values, message",
    [
        ([NAT], [-1], "arg 0: nat value -1 is negative"),
        ([NAT], [True], "arg 0: expected an int for nat, got bool"),
        ([NAT], ["1"], "arg 0: expected an int for nat, got str"),
        ([INT], [1.5], "arg 0: expected an int for int, got float"),
        ([NAT8], [256], "arg 0: nat8 value 256 is outside 0..255"),
        ([INT8], [-129], "arg 0: int8 value -129 is outside -128..127"),
        ([NAT64], [2**64], "arg 0: nat64 value 18446744073709551616 is outside"),
        ([FLOAT32], [1e300], "arg 0: float32 value 1e+300 is out of range"),
        ([FLOAT64], ["x"], "arg 0: expected a float for float64, got str"),
        ([BOOL], [1], "arg 0: expected a bool, got int: 1"),
        ([TEXT], [b"x"], "arg 0: expected a str for text, got bytes"),
        ([TEXT], ["\ud800"], "arg 0: text is not encodable as UTF-8"),
        ([NULL], [0], "arg 0: expected None for null, got int"),
        ([EMPTY], [None], "arg 0: type empty has no values"),
        ([PRINCIPAL], ["aaaaa-aa"], "arg 0: expected a Principal, got str"),
        ([Func()], [P], "arg 0: expected a FuncRef, got Principal"),
        ([Opt(NULL)], [5], "arg 0: opt over a null/reserved/opt type"),
        ([BLOB], ["text"], "arg 0: expected bytes or a list for vec nat8, got str"),
        ([BLOB], [[1, 256]], "arg 0 [1]: nat8 value 256 is outside 0..255"),
        ([Vec(TEXT)], [["a", 2]], "arg 0 [1]: expected a str for text, got int"),
        ([Vec(TEXT)], ["ab"], "arg 0: expected a list for vec, got str"),
        (
            [NAT, Record([Field("owner", PRINCIPAL)])], [1, {}],
            "arg 1 .owner: missing record field (the record has 'owner')",
        ),
        (
            [Record([Field("items", Vec(Record([Field("name", TEXT)])))])],
            [{"items": [{"name": "a"}, {"name": "b"}, {"name": 3}]}],
            "arg 0 .items[2].name: expected a str for text, got int",
        ),
        ([Record([Field("a", NAT)])], [{"a": 1, "b": 2}], "arg 0: unknown record field(s) 'b'"),
        ([Record([Field("a", NAT)])], [(1,)], "arg 0: expected a dict for this record"),
        ([Record.tuple_of(NAT, NAT)], [(1,)], "arg 0: expected a tuple of 2 values, got 1"),
        ([Record.tuple_of(NAT, TEXT)], [(1, 2)], "arg 0 .1: expected a str for text"),
        ([Record([Field("a", NAT)])], [5], "arg 0: expected a dict or dataclass for a record"),
        (
            [Variant([Field("ok", NAT)])], [{"ok": 1, "err": 2}],
            "arg 0: expected a one-entry dict {tag: value} for a variant",
        ),
        ([Variant([Field("ok", NAT)])], [{"err": 1}], "arg 0: unknown variant tag 'err'"),
        ([Variant([Field("ok", NAT)])], [{"ok": -1}], "arg 0 .ok: nat value -1 is negative"),
        ([Opt(Record([Field("x", NAT)]))], [{"x": "1"}], "arg 0 .x: expected an int for nat"),
        ([NAT, NAT], [1], "2 type(s) but 1 value(s) given"),
    ],
)
def test_encode_errors(types: list[CandidType], values: list[Any], message: str) -> None:
    with pytest.raises(CandidEncodeError) as info:
        encode(types, values)
    assert str(info.value).startswith(message)


def test_encode_reserved_accepts_anything() -> None:
    assert encode([RESERVED], [object()]) == h("44 49 44 4c 00 01 70")


def test_encode_type_errors() -> None:
    env = TypeEnv()
    with pytest.raises(CandidTypeError, match="not defined"):
        encode([env.ref("missing")], [1])
    with pytest.raises(TypeError):
        encode(NAT, [1])  # type: ignore[arg-type]


def test_encode_deep_value_is_an_encode_error() -> None:
    env = TypeEnv()
    env.define("L", Opt(Record([Field("tail", env.ref("L"))])))
    value: Any = None
    for _ in range(100_000):
        value = {"tail": value}
    with pytest.raises(CandidEncodeError, match="nests too deeply"):
        encode([env.ref("L")], [value])


# ------------------------------------------------------------------ subtyping


def test_is_subtype_basics() -> None:
    assert is_subtype(NAT, INT) and not is_subtype(INT, NAT)
    assert is_subtype(NAT8, NAT8) and not is_subtype(NAT8, NAT)
    assert is_subtype(EMPTY, NAT) and is_subtype(NAT, RESERVED)
    assert is_subtype(TEXT, Opt(NAT)) and is_subtype(NULL, Opt(NAT))
    assert is_subtype(Service(), PRINCIPAL) and not is_subtype(PRINCIPAL, Service())
    assert is_subtype(Record([Field("a", NAT), Field("b", TEXT)]), Record([Field("a", INT)]))
    assert is_subtype(Record(), Record([Field("a", Opt(NAT))]))
    assert not is_subtype(Record(), Record([Field("a", NAT)]))
    assert is_subtype(Variant([Field("a", NAT)]), Variant([Field("a", INT), Field("b", NULL)]))
    assert not is_subtype(Variant([Field("a", NAT), Field("b", NULL)]), Variant([Field("a", NAT)]))
    assert is_subtype(Func((INT,), (NAT,)), Func((NAT, Opt(TEXT)), (INT,)))
    assert not is_subtype(Func((NAT,), ()), Func((), ()))
    assert not is_subtype(Func((), (), ("query",)), Func((), ()))
    assert is_subtype(Service([("a", Func()), ("b", Func())]), Service([("a", Func())]))
    assert not is_subtype(Service([("a", Func())]), Service([("b", Func())]))


def test_is_subtype_recursive() -> None:
    env = TypeEnv()
    env.define("A", Opt(Record([Field("head", NAT), Field("tail", env.ref("A"))])))
    env.define("B", Opt(Record([Field("head", INT), Field("tail", env.ref("B"))])))
    env.define("V", Vec(env.ref("V")))
    env.define("W", Vec(Vec(env.ref("W"))))
    env.define("R", Record([Field("x", Vec(env.ref("R")))]))
    env.define("Q", Record([Field("x", Vec(env.ref("Q"))), Field("y", Opt(NAT))]))
    assert is_subtype(env.ref("A"), env.ref("B"))
    assert is_subtype(env.ref("V"), env.ref("W")) and is_subtype(env.ref("W"), env.ref("V"))
    assert is_subtype(env.ref("R"), env.ref("Q")) and is_subtype(env.ref("Q"), env.ref("R"))
    assert not is_subtype(Vec(env.ref("R")), env.ref("R"))


def test_is_subtype_depth_limit() -> None:
    deep: CandidType = NAT
    for _ in range(1000):
        deep = Vec(deep)
    with pytest.raises(SubtypeCheckTooDeep):
        is_subtype(deep, Vec(deep))
    assert is_subtype(deep, deep)  # identical nodes short-cut
