"""Textual Candid values: parsing at types, inference, printing and round trips."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid.binary import decode, encode
from icframework.candid.did import parse_did, parse_type, parse_types
from icframework.candid.errors import CandidEncodeError, CandidParseError
from icframework.candid.lexer import MAX_NESTING
from icframework.candid.textvalue import (
    format_value,
    format_values,
    parse_values,
    parse_values_inferred,
)
from icframework.candid.types import (
    BLOB,
    BOOL,
    EMPTY,
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
    Func,
    FuncRef,
    Opt,
    Record,
    Service,
    Some,
    TypeEnv,
    Variant,
    Vec,
)
from icframework.core import Principal
from tests.candid.strategies import candid_types, values_of

MGMT = Principal.management_canister()
CANISTER = Principal.from_text("w7x7r-cok77-xa")


def one(text: str, t: CandidType) -> Any:
    (value,) = parse_values(text, [t])
    return value


# ------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "t", "value"),
    [
        ("(0)", NAT, 0),
        ("(1_000_000)", NAT, 1_000_000),
        ("(0xff)", NAT, 255),
        ("(0xFF_FF)", NAT16, 65535),
        ("(+5)", INT, 5),
        ("(-5)", INT, -5),
        ("(- 5)", INT, -5),
        ("(-0x10)", INT, -16),
        ("(340282366920938463463374607431768211456)", NAT, 2**128),
        ("(255)", NAT8, 255),
        ("(4294967295)", NAT32, 2**32 - 1),
        ("(18446744073709551615)", NAT64, 2**64 - 1),
        ("(-128)", INT8, -128),
        ("(-9223372036854775808)", INT64, -(2**63)),
        ("(1.5)", FLOAT64, 1.5),
        ("(0.)", FLOAT64, 0.0),
        ("(-2.5e-3)", FLOAT64, -0.0025),
        ("(1E3)", FLOAT64, 1000.0),
        ("(0x1.8p1)", FLOAT64, 3.0),
        ("(3)", FLOAT64, 3.0),
        ("(0.1)", FLOAT32, 0.10000000149011612),
        ("(inf)", FLOAT64, math.inf),
        ("(-inf)", FLOAT32, -math.inf),
    ],
)
def test_numbers(text: str, t: CandidType, value: object) -> None:
    result = one(text, t)
    assert result == value
    assert type(result) is type(value)


def test_sign_needs_a_number() -> None:
    with pytest.raises(CandidParseError) as info:
        one("(- x)", INT)
    assert (info.value.line, info.value.column, info.value.reason) == (
        1, 4, "expected a number after '-', got 'x'"
    )


def test_nan() -> None:
    assert math.isnan(one("(nan)", FLOAT64))
    assert math.isnan(one("(NaN)", FLOAT32))


@pytest.mark.parametrize(
    ("text", "t", "fragment"),
    [
        ("(-1)", NAT, "expected a value of type nat, got '-1' (nat is never negative)"),
        ("(256)", NAT8, "nat8 ranges over 0..255"),
        ("(-129)", INT8, "int8 ranges over -128..127"),
        ("(18446744073709551616)", NAT64, "ranges over"),
        ("(1.5)", NAT, "got '1.5' (a float literal is not an integer)"),
        ("(1e400)", FLOAT64, "got '1e400' (out of range)"),
        ("(1e39)", FLOAT32, "out of range for float32"),
        ("(true)", NAT, "expected a value of type nat, got 'true'"),
        ('("5")', NAT, 'got text "5"'),
    ],
)
def test_number_errors(text: str, t: CandidType, fragment: str) -> None:
    with pytest.raises(CandidParseError) as info:
        one(text, t)
    assert fragment in info.value.reason
    assert (info.value.line, info.value.column) == (1, 2)


# ---------------------------------------------------------------------------- text


def test_text_and_escapes() -> None:
    assert one('("")', TEXT) == ""
    assert one(r'("a\n\t\r\\\"\'")', TEXT) == "a\n\t\r\\\"'"
    assert one(r'("\u{2603}\u{1F402}")', TEXT) == "☃🐂"
    assert one(r'("\e2\98\83")', TEXT) == "☃"
    assert one('("☃")', TEXT) == "☃"
    with pytest.raises(CandidParseError, match="not valid UTF-8"):
        one(r'("\ff")', TEXT)
    with pytest.raises(CandidParseError, match="unclosed escape"):
        one(r'("\u{2603")', TEXT)


def test_blob() -> None:
    assert one(r'(blob "\00\01ab\ff")', BLOB) == b"\x00\x01ab\xff"
    assert one(r'(blob "☃")', BLOB) == "☃".encode()
    assert one("(vec { 1; 2; 0xff })", BLOB) == b"\x01\x02\xff"
    assert one("(vec {})", BLOB) == b""
    assert one(r'(blob "\01\02")', Vec(NAT)) == [1, 2]
    with pytest.raises(CandidParseError, match="nat8 ranges over"):
        one("(vec { 1; 256 })", BLOB)
    with pytest.raises(CandidParseError, match="expected the bytes in quotes"):
        one("(blob 5)", BLOB)


# ------------------------------------------------------------------- opt and null


def test_opt_rules() -> None:
    assert one("(null)", Opt(NAT)) is None
    assert one("(opt 5)", Opt(NAT)) == 5
    assert one("(5)", Opt(NAT)) == 5  # the special opt rule: a bare value is present
    assert one("(opt null)", Opt(NULL)) == Some(None)
    assert one("(null)", Opt(NULL)) is None
    assert one("(opt opt 5)", Opt(Opt(NAT))) == Some(5)
    assert one("(opt null)", Opt(Opt(NAT))) == Some(None)
    assert one("(opt 5)", Opt(Opt(NAT))) == Some(5)
    assert one("(opt opt null)", Opt(Opt(NULL))) == Some(Some(None))
    assert one("(opt null)", Opt(RESERVED)) == Some(None)
    assert one("(null)", NULL) is None
    with pytest.raises(CandidParseError, match="expected a value of type nat, got '-1'"):
        one("(opt -1)", Opt(NAT))
    with pytest.raises(CandidParseError, match="type null, got '5'"):
        one("(5)", NULL)


def test_recursive_opt() -> None:
    env = TypeEnv()
    env.define("O", Opt(env.ref("O")))
    o = env.ref("O")
    assert one("(null)", o) is None
    assert one("(opt opt null)", o) == Some(Some(None))
    with pytest.raises(CandidParseError, match="expected a value of type O, got '5'"):
        one("(5)", o)


def test_reserved_accepts_anything() -> None:
    for text in ("(5)", '("x")', "(record { a = vec { 1 } })", "(variant { x })", "(null)"):
        assert one(text, RESERVED) is None
    with pytest.raises(CandidParseError, match="invalid principal"):
        one('(principal "nope")', RESERVED)


def test_empty_has_no_values() -> None:
    with pytest.raises(CandidParseError, match="no value has type empty"):
        one("(null)", EMPTY)


# -------------------------------------------------------------- records, variants


RECORD = Record([Field("name", TEXT), Field("age", NAT8), Field("note", Opt(TEXT))])


def test_records() -> None:
    assert one('(record { name = "x"; age = 5 })', RECORD) == {
        "name": "x", "age": 5, "note": None,
    }
    assert one('(record { age = 5; name = "x"; note = opt "n"; })', RECORD) == {
        "name": "x", "age": 5, "note": "n",
    }
    # by quoted name or by id
    assert one('(record { "name" = "x"; 4846783 = 5 })', RECORD)["age"] == 5
    # tuples
    pair = Record.tuple_of(NAT, TEXT)
    assert one('(record { 1; "a" })', pair) == (1, "a")
    assert one('(record { 1 = "a"; 0 = 1 })', pair) == (1, "a")
    # numbered fields that are no tuple stay a dict
    assert one("(record { 1 = 5 })", Record([Field(1, NAT)])) == {1: 5}
    assert one("(record { 5; 6 })", Record([Field(1, NAT)])) == {1: 6}
    # extra fields are ignored (spec coercion), missing nullish fields are None
    assert one('(record { name = "x"; age = 1; extra = 7 })', RECORD)["note"] is None
    assert one("(record {})", Record()) == {}
    assert one("(record { a = 1 })", Record([Field("b", RESERVED)])) == {"b": None}


def test_record_errors() -> None:
    with pytest.raises(CandidParseError) as info:
        one('(record {\n  name = "x"\n})', RECORD)
    assert (info.value.line, info.value.column) == (1, 2)
    assert "field age is missing" in info.value.reason
    with pytest.raises(CandidParseError) as info:
        one('(record { name = "x"; age = 300 })', RECORD)
    assert info.value.column == 29
    with pytest.raises(CandidParseError, match="record field 'a' is given twice"):
        one("(record { a = 1; a = 2 })", Record())
    with pytest.raises(CandidParseError, match="record field 97 has the same id as 'a'"):
        one("(record { a = 1; 97 = 2 })", Record())
    with pytest.raises(CandidParseError, match="expected ';' or '}' after record field 'a'"):
        one("(record { a = 1 b = 2 })", Record())


def test_variants() -> None:
    result = Variant([Field("ok", TEXT), Field("err", NULL), Field(3, NAT)])
    assert one('(variant { ok = "good" })', result) == {"ok": "good"}
    assert one("(variant { err })", result) == {"err": None}
    assert one("(variant { err = null; })", result) == {"err": None}
    assert one("(variant { 3 = 7 })", result) == {3: 7}
    assert one('(variant { "ok" = "q" })', result) == {"ok": "q"}
    with pytest.raises(CandidParseError, match="the type has no field nope"):
        one("(variant { nope })", result)
    with pytest.raises(CandidParseError, match="expected the variant's field"):
        one("(variant {})", result)
    with pytest.raises(CandidParseError, match="a variant value has one field"):
        one("(variant { ok = \"a\"; err })", result)


def test_vectors() -> None:
    assert one("(vec { 1; 2; 3 })", Vec(NAT)) == [1, 2, 3]
    assert one("(vec { 1; 2; })", Vec(INT)) == [1, 2]
    assert one("(vec {})", Vec(TEXT)) == []
    assert one("(vec { vec {}; vec { null } })", Vec(Vec(NULL))) == [[], [None]]
    with pytest.raises(CandidParseError) as info:
        one("(vec { 1; -1 })", Vec(NAT))
    assert info.value.column == 11


# -------------------------------------------------------------------- references


def test_references() -> None:
    assert one('(principal "aaaaa-aa")', PRINCIPAL) == MGMT
    assert one('(service "w7x7r-cok77-xa")', PRINCIPAL) == CANISTER
    assert one('(service "w7x7r-cok77-xa")', Service()) == CANISTER
    assert one('(func "w7x7r-cok77-xa".foo)', Func()) == FuncRef(CANISTER, "foo")
    assert one('(func "aaaaa-aa"."🐂")', Func()) == FuncRef(MGMT, "🐂")
    with pytest.raises(CandidParseError, match="a service reference is needed"):
        one('(principal "aaaaa-aa")', Service())
    with pytest.raises(CandidParseError) as info:
        one('(principal "w7x7r-cok77-xb")', PRINCIPAL)
    assert "invalid principal" in info.value.reason and info.value.column == 12
    with pytest.raises(CandidParseError, match="wrong checksum"):
        one('(principal "a7x7r-cok77-xa")', PRINCIPAL)
    with pytest.raises(CandidParseError, match=r"expected '\.' between"):
        one('(func "aaaaa-aa" m)', Func())


# ------------------------------------------------------------------ annotations


def test_annotations() -> None:
    assert parse_values("(5 : nat8, (7 : int))", [NAT8, INT]) == (5, 7)
    assert one("(vec { 1 : nat8; 2 })", BLOB) == b"\x01\x02"
    assert one("(opt (5 : nat))", Opt(NAT)) == 5
    with pytest.raises(CandidParseError, match="nat8 ranges over"):
        one("(300 : nat8)", NAT)
    env = TypeEnv({"Small": NAT8})
    assert parse_values("(5 : Small)", [NAT], env=env) == (5,)
    with pytest.raises(CandidParseError, match="unknown type 'Small'"):
        parse_values("(5 : Small)", [NAT])


# ------------------------------------------------------------ argument sequences


def test_argument_lists() -> None:
    assert parse_values("()", []) == ()
    assert parse_values("(1, \"a\",)", [NAT, TEXT]) == (1, "a")
    assert parse_values("42", [NAT]) == (42,)  # a bare value
    assert parse_values("(1)", [NAT, Opt(NAT), NULL, RESERVED]) == (1, None, None, None)
    assert parse_values("(1, 2, 3)", [NAT]) == (1,)  # extra arguments are ignored
    with pytest.raises(CandidParseError) as info:
        parse_values("(1)", [NAT, TEXT])
    assert "argument 2 of type text is missing" in info.value.reason
    assert info.value.column == 3
    with pytest.raises(CandidParseError, match="expected ',' or '\\)' after argument 1"):
        parse_values("(1 2)", [NAT, NAT])
    with pytest.raises(CandidParseError, match="expected end of input after the values"):
        parse_values("(1) (2)", [NAT])
    with pytest.raises(TypeError):
        parse_values("(1)", NAT)  # type: ignore[arg-type]


def test_parse_errors_name_line_and_column() -> None:
    with pytest.raises(CandidParseError) as info:
        parse_values('(\n  record {\n    owner : principal "aaaaa-aa"\n  })', [Record()])
    err = info.value
    assert (err.line, err.column) == (3, 11)
    assert str(err) == (
        "line 3, column 11: expected '=' after field name 'owner', got ':'"
    )


@pytest.mark.parametrize(
    "text",
    [
        "(" + "opt " * 100_000 + "1)",
        "(" + "vec { " * 10_000 + "}" * 10_000 + ")",
        "(" + "record { a = " * 10_000 + "1" + " }" * 10_000 + ")",
        "(" + "(" * 10_000 + "1" + ")" * 10_000 + ")",
        "(" + "1 : " + "vec " * 10_000 + "nat)",
    ],
)
def test_deep_nesting_is_a_parse_error(text: str) -> None:
    with pytest.raises(CandidParseError, match=f"deeper than {MAX_NESTING} levels"):
        parse_values(text, [RESERVED])


def test_nesting_up_to_the_limit() -> None:
    depth = MAX_NESTING - 1
    t: CandidType = NAT
    for _ in range(depth):
        t = Vec(t)
    (value,) = parse_values("(" + "vec { " * depth + "1" + " }" * depth + ")", [t])
    text = format_values([value], [t])
    assert parse_values(text, [t]) == (value,)


# --------------------------------------------------------------------- inference


def test_inference() -> None:
    types, values = parse_values_inferred(
        '(1, -1, 1.5, "s", true, null, blob "\\00", vec { 1; -2 }, vec {}, opt 1,'
        ' record { a = 1; 2 }, variant { b }, principal "aaaaa-aa", (7 : nat8),'
        ' vec { null; opt 1 }, vec { variant { a }; variant { b = 1 } },'
        ' service "aaaaa-aa", func "aaaaa-aa".m)'
    )
    assert types == (
        NAT, INT, FLOAT64, TEXT, BOOL, NULL, BLOB, Vec(INT), Vec(EMPTY), Opt(NAT),
        Record([Field("a", NAT), Field(98, NAT)]), Variant([Field("b", NULL)]), PRINCIPAL,
        NAT8, Vec(Opt(NAT)), Vec(Variant([Field("a", NULL), Field("b", NAT)])),
        Service(), Func(),
    )
    assert values == (
        1, -1, 1.5, "s", True, None, b"\x00", [1, -2], [], 1, {"a": 1, 98: 2}, {"b": None},
        MGMT, 7, [None, 1], [{"a": None}, {"b": 1}], MGMT, FuncRef(MGMT, "m"),
    )
    assert parse_values("(1, \"x\")") == (1, "x")
    with pytest.raises(CandidParseError, match="cannot infer one element type"):
        parse_values('(vec { 1; "a" })')


# ---------------------------------------------------------------------- printing


@pytest.mark.parametrize(
    ("values", "types", "text"),
    [
        (
            [{"name": "x", "age": 5}],
            [Record([Field("name", TEXT), Field("age", NAT8)])],
            '(record { age = 5 : nat8; name = "x" })',
        ),
        ([], [], "()"),
        ([1_000_000, -3, 7], [NAT, INT, INT8], "(1_000_000 : nat, -3 : int, 7 : int8)"),
        ([1.5, 0.1, 3.0], [FLOAT64, FLOAT32, FLOAT64],
         "(1.5 : float64, 0.1 : float32, 3.0 : float64)"),
        ([math.nan, -math.inf, 1e300], [FLOAT64, FLOAT64, FLOAT64],
         "(nan : float64, -inf : float64, 1e+300 : float64)"),
        (['a"b\\c\n☃\x00'], [TEXT], '("a\\"b\\\\c\\n☃\\u{0}")'),
        ([b"\x00ab\"\\\xff"], [BLOB], '(blob "\\00ab\\22\\5c\\ff")'),
        ([None, 5, Some(None), Some(Some(1))], [Opt(NAT), Opt(NAT8), Opt(NULL), Opt(Opt(Opt(NAT)))],
         "(null, opt (5 : nat8), opt null, opt opt opt (1 : nat))"),
        ([[1, 2], []], [Vec(NAT), Vec(TEXT)], "(vec { 1 : nat; 2 : nat }, vec {})"),
        ([(1, "a")], [Record.tuple_of(NAT, TEXT)], '(record { 1 : nat; "a" })'),
        ([{}], [Record()], "(record {})"),
        ([{"first name": True, 3: None}], [Record([Field("first name", BOOL), Field(3, NULL)])],
         '(record { 3 = null; "first name" = true })'),
        ([{"ok": "good"}, {"err": None}],
         [Variant([Field("ok", TEXT)]), Variant([Field("err", NULL)])],
         '(variant { ok = "good" }, variant { err })'),
        ([MGMT, CANISTER, FuncRef(CANISTER, "type")], [PRINCIPAL, Service(), Func()],
         '(principal "aaaaa-aa", service "w7x7r-cok77-xa", func "w7x7r-cok77-xa"."type")'),
        ([None, None], [NULL, RESERVED], "(null, null)"),
    ],
)
def test_format_values_style(values: list[Any], types: list[CandidType], text: str) -> None:
    assert format_values(values, types) == text
    back = parse_values(text, types)
    assert format_values(back, types) == text


def test_format_accepts_other_python_forms() -> None:
    assert format_value(bytearray(b"a"), BLOB) == 'blob "a"'
    assert format_value([1, 2], BLOB) == 'blob "\\01\\02"'
    assert format_value((MGMT, "m"), Func()) == 'func "aaaaa-aa".m'
    assert format_value([1, "a"], Record.tuple_of(NAT, TEXT)) == 'record { 1 : nat; "a" }'
    assert format_value({"a": 1}, Record([Field("a", NAT), Field("b", Opt(NAT))])) == (
        "record { a = 1 : nat; b = null }"
    )


@pytest.mark.parametrize(
    ("value", "t", "fragment"),
    [
        (-1, NAT, "nat is never negative"),
        (256, NAT8, "out of range"),
        (True, NAT, "expected an int"),
        ("x", BLOB, "expected bytes"),
        (1, TEXT, "expected a str"),
        ("\ud800", TEXT, "lone surrogate"),
        (5, Opt(NULL), "wrapped in Some"),
        ({"a": 1}, Record(), "no field(s) ['a']"),
        ({}, Record([Field("a", NAT)]), "field 'a' is missing"),
        ({"a": 1, "b": 2}, Variant([Field("a", NAT)]), "exactly one entry"),
        ({"c": 1}, Variant([Field("a", NAT)]), "no field 'c'"),
        (None, EMPTY, "empty"),
        ("aaaaa-aa", PRINCIPAL, "expected a Principal"),
        (1e39, FLOAT32, "out of range for float32"),
    ],
)
def test_format_errors(value: Any, t: CandidType, fragment: str) -> None:
    with pytest.raises(CandidEncodeError) as info:
        format_values([value], [t])
    assert fragment in str(info.value)


def test_format_values_checks_arity() -> None:
    with pytest.raises(CandidEncodeError, match="2 values for 1 types"):
        format_values([1, 2], [NAT])


def test_format_deep_values_iteratively() -> None:
    env = TypeEnv()
    env.define("List", Opt(Record([Field("head", NAT), Field("tail", env.ref("List"))])))
    value: Any = None
    for i in range(5000):
        value = {"head": i, "tail": value}
    text = format_values([value], [env.ref("List")])
    assert text.count("opt record") == 5000


# ------------------------------------------------------------------- round trips

DID = parse_did(
    """
    type List = opt record { head : int; tail : List };
    type Tree = variant { leaf : int; node : vec Tree };
    type Account = record { owner : principal; subaccount : opt blob };
    type Tx = record {
      from : Account; to : Account; amount : nat; fee : opt nat64; memo : opt blob;
      created_at_time : opt nat64; kind : variant { mint; burn; transfer : record {} };
    };
    type Callback = func (nat) -> (opt nat) query;
    type Nested = opt opt opt null;
    """
)
ENV = DID.env

CORPUS: list[tuple[str, str]] = [
    ("(nat, int, nat8, nat16, nat32, nat64, int8, int64)",
     "(0, -1, 255, 65535, 4294967295, 18446744073709551615, -128, -9223372036854775808)"),
    ("(float32, float64, float64, float32)", "(1.25, -0.0, 5e-324, 3.4028234663852886e38)"),
    ("(text, text, bool, null, reserved)", '("", "tab\\t ☃ \\u{1F402} \\"q\\"", false, null, 7)'),
    ("(blob, vec nat8, vec vec nat8)", '(blob "\\00\\ff abc", vec { 1; 2 }, vec { blob "x" })'),
    ("(List)", "(opt record { head = 1; tail = opt record { head = -2; tail = null } })"),
    ("(Tree)", "(variant { node = vec { variant { leaf = 1 }; variant { node = vec {} } } })"),
    ("(Tx)",
     '(record { from = record { owner = principal "aaaaa-aa"; subaccount = null };'
     ' to = record { owner = principal "w7x7r-cok77-xa"; subaccount = opt blob "\\01" };'
     " amount = 1_000; fee = opt 10; memo = null; created_at_time = null;"
     " kind = variant { transfer = record {} } })"),
    ("(Callback, opt Callback)", '(func "aaaaa-aa".m, opt func "w7x7r-cok77-xa"."x y")'),
    ("(Nested, Nested, Nested, Nested)", "(null, opt null, opt opt null, opt opt opt null)"),
    ("(opt opt nat, opt opt nat, opt opt nat)", "(null, opt null, opt opt 5)"),
    ("(record { nat; text; opt bool }, record { 5 : nat; \"a b\" : nat })",
     '(record { 1; "x"; opt true }, record { 5 = 1; "a b" = 2 })'),
    ("(service { m : () -> () }, principal)",
     '(service "w7x7r-cok77-xa", service "aaaaa-aa")'),
    ("(vec record { text; opt vec int })",
     '(vec { record { "a"; null }; record { "b"; opt vec { 1; -1 } } })'),
]


@pytest.mark.parametrize(("types_text", "values_text"), CORPUS)
def test_corpus_round_trip(types_text: str, values_text: str) -> None:
    types = parse_types(types_text, ENV)
    values = parse_values(values_text, types)
    printed = format_values(values, types)
    assert parse_values(printed, types) == values
    assert format_values(parse_values(printed, types), types) == printed
    # The same values survive the binary codec, so text and binary agree.
    assert decode(encode(types, values), types) == values


@pytest.mark.parametrize(("types_text", "values_text"), CORPUS)
def test_printed_values_infer_their_types(types_text: str, values_text: str) -> None:
    # Printed numbers carry their types, so inference finds number types exactly; the
    # values read at the inferred types print the same text again.
    types = parse_types(types_text, ENV)
    values = parse_values(values_text, types)
    printed = format_values(values, types)
    inferred, inferred_values = parse_values_inferred(printed)
    assert format_values(inferred_values, inferred) == printed
    assert parse_values(printed) == inferred_values


def test_text_agrees_with_binary_at_nat8_vectors() -> None:
    (t,) = parse_types("(vec nat8)")
    assert parse_values("(vec { 1; 2 })", [t]) == decode(encode([t], [b"\x01\x02"]), [t])


def _no_float_nan(v: Any) -> bool:
    return not (isinstance(v, float) and math.isnan(v))


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[CandidType, Any]:
    t = draw(candid_types())
    return t, draw(values_of(t))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(typed_values(), max_size=3))
def test_property_format_then_parse(tvs: list[tuple[CandidType, Any]]) -> None:
    types = [t for t, _ in tvs]
    values = tuple(v for _, v in tvs)
    text = format_values(values, types)
    assert parse_values(text, types) == values
    parse_values_inferred(text)  # the printed text is also readable without types


@settings(max_examples=200, deadline=None)
@given(st.floats(width=32), st.floats())
def test_property_floats(f32: float, f64: float) -> None:
    text = format_values([f32, f64], [FLOAT32, FLOAT64])
    a, b = parse_values(text, [FLOAT32, FLOAT64])
    assert (math.isnan(a) and math.isnan(f32)) or a == f32
    assert (math.isnan(b) and math.isnan(f64)) or b == f64
    assert math.copysign(1, a) == math.copysign(1, f32) or math.isnan(f32)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_property_text(s: str) -> None:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return
    assert parse_values(format_values([s], [TEXT]), [TEXT]) == (s,)
    assert parse_values(format_values([s.encode()], [BLOB]), [BLOB]) == (s.encode(),)


def test_nan_round_trip() -> None:
    (x,) = parse_values(format_values([math.nan], [FLOAT64]), [FLOAT64])
    assert math.isnan(x)


def test_parse_type_and_values_together() -> None:
    t = parse_type("record { a : vec opt nat16 }")
    assert one("(record { a = vec { null; opt 1; 2 } })", t) == {"a": [None, 1, 2]}
