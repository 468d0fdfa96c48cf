"""Cross-check `icframework.candid.binary` against agent-js's `@dfinity/candid`.

This module owns the corpus of (type, value) cases and the Python side of the JSON
interchange format defined in ``tests/js/candid_codec.mjs`` (`type_to_json`,
`value_to_json`, `value_from_json`; ``bench/bench_candid.py`` reuses `case_payload`). For every
corpus case, (a) our encoding is decoded by agent-js and must give the same value, and
(b) agent-js's encoding is decoded by us and must give the same value; the same two
checks also run on random types and values (`tests.candid.strategies`). A few extra
cases check subtyping (agent-js bytes decoded here at a narrower or wider type) and
rejection (agent-js bytes made invalid, or read at a type they do not fit, must raise
`CandidDecodeError`). Node runs once for the corpus and extras (a module-scoped
fixture) and once per Hypothesis example (a batch of random cases) in the random test.

Values are compared in the interchange form, which is exact: integers as decimal
strings, floats as their IEEE-754 bits (any NaN compares equal to any NaN; float32
values are rounded to float32 first), bytes as hex, principals as text.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.candid import (
    BLOB,
    BOOL,
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
    CandidDecodeError,
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
)
from icframework.candid.types import is_nullish
from icframework.core import Principal
from tests.candid.strategies import candid_types, values_of
from tests.node import requires_node, run_node

Json = Any

# ============================================================ interchange format


def _resolve(t: CandidType) -> CandidType:
    return t.resolve() if isinstance(t, TypeRef) else t


def _key(label: str | int) -> str:
    """The JSON (and agent-js) key of a record/variant label: names as is, ids as _N_."""
    return f"_{label}_" if isinstance(label, int) else label


class Defs(dict[str, Json]):
    """The ``defs`` of a case: named types by interchange name.

    Names are made unique per (`TypeEnv`, name), so two environments that both define
    ``tree`` (differently) can meet in one case.
    """

    def __init__(self) -> None:
        super().__init__()
        self.names: dict[tuple[int, str], str] = {}


def type_to_json(t: CandidType, defs: Defs) -> Json:
    """The interchange description of ``t``; named types referenced go into ``defs``."""
    if isinstance(t, TypeRef):
        env_key = (id(t.env), t.name)
        name = defs.names.get(env_key)
        if name is None:
            name, n = t.name, 0
            while name in defs:
                n += 1
                name = f"{t.name}.{n}"
            defs.names[env_key] = name
            defs[name] = None  # placeholder: stops recursion through cycles
            defs[name] = type_to_json(t.env[t.name], defs)
        return {"ref": name}
    if isinstance(t, Prim):
        return t.kind.keyword
    if isinstance(t, Opt):
        return {"opt": type_to_json(t.inner, defs)}
    if isinstance(t, Vec):
        return {"vec": type_to_json(t.inner, defs)}
    if isinstance(t, Record):
        return {"record": [[f.label, type_to_json(f.type, defs)] for f in t.fields]}
    if isinstance(t, Variant):
        return {"variant": [[f.label, type_to_json(f.type, defs)] for f in t.fields]}
    if isinstance(t, Func):
        return {
            "func": {
                "args": [type_to_json(a, defs) for a in t.args],
                "results": [type_to_json(r, defs) for r in t.results],
                "modes": list(t.modes),
            }
        }
    if isinstance(t, Service):
        return {"service": [[name, type_to_json(m, defs)] for name, m in t.methods]}
    raise TypeError(f"no interchange form for type {t!r}")


_INT_KINDS = frozenset({
    PrimKind.NAT, PrimKind.INT, PrimKind.NAT8, PrimKind.NAT16, PrimKind.NAT32,
    PrimKind.NAT64, PrimKind.INT8, PrimKind.INT16, PrimKind.INT32, PrimKind.INT64,
})


def _float_to_json(v: float, single: bool) -> str:
    if math.isnan(v):
        return "nan"
    if single:
        v = struct.unpack("<f", struct.pack("<f", v))[0]
    return struct.pack(">d", v).hex()


def value_to_json(t: CandidType, v: Any, path: str = "value") -> Json:
    """Python value -> interchange JSON, checking the mapping documented in types.py."""

    def bad(what: str) -> TypeError:
        return TypeError(f"{path}: {what}, got {type(v).__name__} {v!r:.200}")

    t = _resolve(t)
    if isinstance(t, Prim):
        kind = t.kind
        if kind in _INT_KINDS:
            if type(v) is not int:
                raise bad(f"{kind.keyword} maps to int")
            return str(v)
        if kind in (PrimKind.FLOAT32, PrimKind.FLOAT64):
            if type(v) is not float:
                raise bad(f"{kind.keyword} maps to float")
            return _float_to_json(v, kind is PrimKind.FLOAT32)
        if kind is PrimKind.BOOL:
            if type(v) is not bool:
                raise bad("bool maps to bool")
            return v
        if kind is PrimKind.TEXT:
            if type(v) is not str:
                raise bad("text maps to str")
            return v
        if kind in (PrimKind.NULL, PrimKind.RESERVED):
            if v is not None:
                raise bad(f"{kind.keyword} maps to None")
            return None
        if kind is PrimKind.PRINCIPAL:
            if not isinstance(v, Principal):
                raise bad("principal maps to Principal")
            return v.to_text()
        raise bad(f"{kind.keyword} has no values")
    if isinstance(t, Opt):
        if v is None:
            return []
        if is_nullish(t.inner):
            if not isinstance(v, Some):
                raise bad("a present opt of a null/reserved/opt type maps to Some(v)")
            return [value_to_json(t.inner, v.value, path + "?")]
        if isinstance(v, Some):
            raise bad("Some(v) is only for opt of null/reserved/opt")
        return [value_to_json(t.inner, v, path + "?")]
    if isinstance(t, Vec):
        if _resolve(t.inner) == NAT8:
            if type(v) is not bytes:
                raise bad("blob maps to bytes")
            return v.hex()
        if type(v) is not list:
            raise bad("vec maps to list")
        return [value_to_json(t.inner, e, f"{path}[{i}]") for i, e in enumerate(v)]
    if isinstance(t, Record):
        if t.is_tuple:
            if type(v) is not tuple or len(v) != len(t.fields):
                raise bad(f"a tuple record maps to a tuple of {len(t.fields)}")
            return [value_to_json(f.type, e, f"{path}.{i}") for i, (f, e) in
                    enumerate(zip(t.fields, v, strict=True))]
        if type(v) is not dict or set(v) != {f.label for f in t.fields}:
            raise bad(f"record maps to a dict with keys {[f.label for f in t.fields]}")
        return {_key(f.label): value_to_json(f.type, v[f.label], f"{path}.{f.label}")
                for f in t.fields}
    if isinstance(t, Variant):
        if type(v) is not dict or len(v) != 1:
            raise bad("variant maps to a one-entry dict")
        [(label, inner)] = v.items()
        for f in t.fields:
            if f.label == label:
                return {_key(label): value_to_json(f.type, inner, f"{path}.{label}")}
        raise bad(f"variant tag {label!r} is not in the type")
    if isinstance(t, Func):
        if not isinstance(v, FuncRef) or not isinstance(v.service, Principal):
            raise bad("func maps to FuncRef")
        return [v.service.to_text(), v.method]
    if isinstance(t, Service):
        if not isinstance(v, Principal):
            raise bad("service maps to Principal")
        return v.to_text()
    raise TypeError(f"no interchange form for type {t!r}")


def value_from_json(t: CandidType, j: Json) -> Any:
    """Interchange JSON -> the canonical Python value of ``t``."""
    t = _resolve(t)
    if isinstance(t, Prim):
        kind = t.kind
        if kind in _INT_KINDS:
            return int(j)
        if kind in (PrimKind.FLOAT32, PrimKind.FLOAT64):
            return math.nan if j == "nan" else struct.unpack(">d", bytes.fromhex(j))[0]
        if kind is PrimKind.PRINCIPAL:
            return Principal.from_text(j)
        if kind in (PrimKind.NULL, PrimKind.RESERVED):
            return None
        return j
    if isinstance(t, Opt):
        if not j:
            return None
        inner = value_from_json(t.inner, j[0])
        return Some(inner) if is_nullish(t.inner) else inner
    if isinstance(t, Vec):
        if _resolve(t.inner) == NAT8:
            return bytes.fromhex(j)
        return [value_from_json(t.inner, e) for e in j]
    if isinstance(t, Record):
        if t.is_tuple:
            return tuple(value_from_json(f.type, e) for f, e in zip(t.fields, j, strict=True))
        return {f.label: value_from_json(f.type, j[_key(f.label)]) for f in t.fields}
    if isinstance(t, Variant):
        [(key, inner)] = j.items()
        for f in t.fields:
            if _key(f.label) == key:
                return {f.label: value_from_json(f.type, inner)}
        raise KeyError(key)
    if isinstance(t, Func):
        return FuncRef(Principal.from_text(j[0]), j[1])
    if isinstance(t, Service):
        return Principal.from_text(j)
    raise TypeError(f"no interchange form for type {t!r}")


def case_payload(
    types: Sequence[CandidType], values: Sequence[Any] | None, hex_: str | None
) -> dict[str, Json]:
    """One case of the node script's input."""
    defs = Defs()
    types_json = [type_to_json(t, defs) for t in types]
    values_json = (
        None if values is None
        else [value_to_json(t, v, f"arg {i}") for i, (t, v) in
              enumerate(zip(types, values, strict=True))]
    )
    return {"defs": defs, "types": types_json, "values": values_json, "hex": hex_}


# ===================================================================== corpus


@dataclass(frozen=True)
class Case:
    name: str
    types: tuple[CandidType, ...]
    values: tuple[Any, ...]


def _rec(**fields: CandidType) -> Record:
    return Record(Field(name, t) for name, t in fields.items())


def _var(**fields: CandidType) -> Variant:
    return Variant(Field(name, t) for name, t in fields.items())


ANON = Principal.anonymous()
MGMT = Principal.management_canister()
LEDGER = Principal.from_text("ryjl3-tyaaa-aaaaa-aaaba-cai")
CANISTER0 = Principal.from_canister_index(0)
CANISTER_MAX = Principal.from_canister_index(2**64 - 1)
USER = Principal.self_authenticating(bytes.fromhex("302a300506032b6570032100") + bytes(range(32)))
OPAQUE29 = Principal(bytes(range(28)) + b"\x7f")

ENV = TypeEnv()
LIST = ENV.ref("list")
ENV.define("list", Opt(_rec(head=INT, tail=LIST)))
ROSE = ENV.ref("rose")
ENV.define("rose", _rec(value=NAT, children=Vec(ROSE)))
NODE_A = ENV.ref("A")
NODE_B = ENV.ref("B")
ENV.define("A", _rec(b=Opt(NODE_B)))
ENV.define("B", _rec(a=Opt(NODE_A), v=NAT))
STREAM = ENV.ref("Stream")
ENV.define("Stream", Service([("next", Func((), (NAT, STREAM), ("query",)))]))
CALLBACK = ENV.ref("Callback")
ENV.define("Callback", Func((TEXT, Opt(CALLBACK)), (), ("oneway",)))
TREE = ENV.ref("tree")
ENV.define("tree", _var(leaf=INT, node=_rec(left=TREE, right=TREE)))
SUBACCOUNT = ENV.ref("Subaccount")
ENV.define("Subaccount", BLOB)
ACCOUNT = ENV.ref("Account")
ENV.define("Account", _rec(owner=PRINCIPAL, subaccount=Opt(SUBACCOUNT)))
TRANSFER_ARG = ENV.ref("TransferArg")
ENV.define("TransferArg", _rec(
    from_subaccount=Opt(SUBACCOUNT), to=ACCOUNT, amount=NAT, fee=Opt(NAT), memo=Opt(BLOB),
    created_at_time=Opt(NAT64),
))
TRANSFER_ERROR = ENV.ref("TransferError")
ENV.define("TransferError", _var(
    BadFee=_rec(expected_fee=NAT),
    BadBurn=_rec(min_burn_amount=NAT),
    InsufficientFunds=_rec(balance=NAT),
    TooOld=NULL,
    CreatedInFuture=_rec(ledger_time=NAT64),
    Duplicate=_rec(duplicate_of=NAT),
    TemporarilyUnavailable=NULL,
    GenericError=_rec(error_code=NAT, message=TEXT),
))
TRANSFER_RESULT = _var(Ok=NAT, Err=TRANSFER_ERROR)

RESULT = _var(ok=NAT, err=TEXT)
PERSON = _rec(name=TEXT, age=NAT8, active=BOOL)
SHAPE = _var(
    circle=_rec(radius=FLOAT64),
    rect=_rec(w=FLOAT64, h=FLOAT64),
    point=NULL,
)
QUERY_FUNC = Func((TEXT,), (NAT,), ("query",))
COUNTER = Service([
    ("get", Func((), (NAT,), ("query",))),
    ("inc", Func((NAT,), (), ())),
    ("reset", Func((), (), ("oneway",))),
])
WIDE = Record(Field(f"field_{i:02d}", (NAT, TEXT, BOOL, Opt(INT))[i % 4]) for i in range(30))
WIDE_VALUE = {f"field_{i:02d}": (i * 10**i, f"v{i}", i % 2 == 0, -i if i % 3 else None)[i % 4]
              for i in range(30)}


def _list(*items: int) -> Any:
    value: Any = None
    for item in reversed(items):
        value = {"head": item, "tail": value}
    return value


F32_MAX = struct.unpack("<f", bytes.fromhex("ffff7f7f"))[0]
F32_TINY = struct.unpack("<f", bytes.fromhex("01000000"))[0]


def _build_corpus() -> list[Case]:
    c: list[Case] = []

    def add(name: str, types: Sequence[CandidType], values: Sequence[Any]) -> None:
        c.append(Case(name, tuple(types), tuple(values)))

    # -- numbers
    add("nat_small", [NAT, NAT, NAT], [0, 127, 128])
    add("nat_huge", [NAT, NAT], [2**64, 2**200])
    add("int_signs", [INT, INT, INT, INT], [0, -1, 63, -64])
    add("int_huge", [INT, INT], [2**200, -(2**200)])
    add("nat8_bounds", [NAT8, NAT8], [0, 255])
    add("nat16_bounds", [NAT16, NAT16], [0, 2**16 - 1])
    add("nat32_bounds", [NAT32, NAT32], [0, 2**32 - 1])
    add("nat64_bounds", [NAT64, NAT64, NAT64], [0, 2**53 + 1, 2**64 - 1])
    add("int8_bounds", [INT8, INT8, INT8], [-(2**7), 0, 2**7 - 1])
    add("int16_bounds", [INT16, INT16], [-(2**15), 2**15 - 1])
    add("int32_bounds", [INT32, INT32], [-(2**31), 2**31 - 1])
    add("int64_bounds", [INT64, INT64, INT64], [-(2**63), -(2**53) - 1, 2**63 - 1])
    add("float64_values", [FLOAT64] * 8,
        [0.0, -0.0, 1.5, math.pi, 5e-324, 1.7976931348623157e308, -1e-300, 2.0**-1022])
    add("float64_inf", [FLOAT64, FLOAT64], [math.inf, -math.inf])
    add("float64_nan", [FLOAT64], [math.nan])
    add("float32_values", [FLOAT32] * 6, [0.0, -0.0, 1.5, F32_MAX, F32_TINY, -2.5])
    add("float32_rounded", [FLOAT32, FLOAT32], [0.1, math.pi])
    add("float32_inf_nan", [FLOAT32, FLOAT32, FLOAT32], [math.inf, -math.inf, math.nan])
    # -- simple primitives
    add("bool", [BOOL, BOOL], [True, False])
    add("null_reserved", [NULL, RESERVED], [None, None])
    add("no_args", [], [])
    # -- text
    add("text_ascii", [TEXT, TEXT], ["", "hello, world"])
    add("text_emoji", [TEXT], ["🦀🚀 👩‍👩‍👧‍👦 🇨🇭"])
    add("text_cjk", [TEXT], ["互联网计算机 インターネット 인터넷"])
    add("text_combining", [TEXT, TEXT], ["e\u0301 a\u0308\u0323", "\u00e9"])
    add("text_nul_controls", [TEXT], ["a\x00b\x01\x7f\n\t\u2028\ufeff\U0010ffff"])
    add("text_long", [TEXT], ["Σ" * 5000 + "x" * 5000])
    # -- principals
    add("principal_special", [PRINCIPAL, PRINCIPAL], [ANON, MGMT])
    add("principal_canisters", [PRINCIPAL, PRINCIPAL, PRINCIPAL], [LEDGER, CANISTER0, CANISTER_MAX])
    add("principal_self_auth_and_29", [PRINCIPAL, PRINCIPAL], [USER, OPAQUE29])
    add("vec_principal", [Vec(PRINCIPAL)], [[ANON, MGMT, USER, LEDGER]])
    # -- opt / vec
    add("opt_nat", [Opt(NAT), Opt(NAT)], [None, 42])
    add("opt_opt_nat", [Opt(Opt(NAT))] * 3, [None, Some(None), Some(7)])
    add("opt_null_reserved", [Opt(NULL), Opt(NULL), Opt(RESERVED)], [None, Some(None), Some(None)])
    add("opt3_nat", [Opt(Opt(Opt(NAT)))] * 2, [Some(Some(None)), Some(Some(3))])
    add("vec_opt_text", [Vec(Opt(TEXT))], [["a", None, "日本", ""]])
    add("vec_vec_nat", [Vec(Vec(NAT)), Vec(NAT)], [[[], [1], [2, 3**40]], []])
    add("vec_bool", [Vec(BOOL)], [[True, False, True]])
    add("vec_fixed_ints", [Vec(NAT16), Vec(NAT32), Vec(NAT64), Vec(INT8), Vec(INT16),
                           Vec(INT32), Vec(INT64)],
        [[0, 65535], [1, 2**32 - 1], [2**64 - 1, 5], [-128, 127], [-32768, 1],
         [-(2**31), 7], [-(2**63), 2**63 - 1]])
    add("vec_float", [Vec(FLOAT64), Vec(FLOAT32)], [[1.0, -0.0, math.inf], [0.5, -1.25]])
    add("blob_empty", [BLOB], [b""])
    add("blob_all_bytes", [BLOB], [bytes(range(256))])
    add("blob_100k", [BLOB], [bytes((i * 31 + 7) % 256 for i in range(100_000))])
    # -- records, tuples
    add("record_simple", [PERSON], [{"name": "Ada", "age": 36, "active": True}])
    add("record_empty", [Record(), Vec(Record())], [{}, [{}, {}]])
    add("record_numeric_labels", [Record([Field(1, NAT), Field(5, TEXT), Field(2**32 - 1, BOOL)])],
        [{1: 10, 5: "five", 2**32 - 1: False}])
    add("record_unicode_labels",
        [Record([Field("名前", TEXT), Field("größe", NAT16), Field("emoji 🦀", BOOL)])],
        [{"名前": "太郎", "größe": 180, "emoji 🦀": True}])
    add("record_nested", [_rec(owner=PERSON, tags=Vec(TEXT), meta=Opt(_rec(a=NULL, b=RESERVED)))],
        [{"owner": {"name": "", "age": 0, "active": False}, "tags": ["x", "y"],
          "meta": {"a": None, "b": None}}])
    add("record_wide", [WIDE], [WIDE_VALUE])
    add("tuple", [Record.tuple_of(NAT, TEXT, PRINCIPAL)], [(1, "one", ANON)])
    add("tuple_single_nested", [Record.tuple_of(Record.tuple_of(INT, Opt(TEXT)))],
        [((-5, None),)])
    add("vec_records", [Vec(PERSON)],
        [[{"name": f"user{i}", "age": i % 256, "active": i % 3 == 0} for i in range(1000)]])
    # -- variants
    add("variant_result", [RESULT, RESULT], [{"ok": 2**70}, {"err": "boom"}])
    add("variant_record_payload", [SHAPE, SHAPE, SHAPE],
        [{"circle": {"radius": 2.5}}, {"rect": {"w": 1.0, "h": -3.0}}, {"point": None}])
    add("variant_enum", [Vec(_var(red=NULL, green=NULL, blue=NULL))],
        [[{"red": None}, {"blue": None}, {"green": None}]])
    add("variant_numeric_labels", [Variant([Field(0, NAT), Field(7, TEXT)])], [{7: "seven"}])
    add("opt_vec_variant", [Opt(Vec(RESULT))], [[{"ok": 1}, {"err": ""}]])
    # -- references
    add("func_refs", [QUERY_FUNC, Func((), (), ("oneway",)),
                      Func((NAT,), (Vec(TEXT),), ("composite_query",))],
        [FuncRef(LEDGER, "icrc1_balance_of"), FuncRef(MGMT, ""), FuncRef(ANON, "ß_🦀")])
    add("service_ref", [COUNTER, Service()], [LEDGER, MGMT])
    add("vec_func", [Vec(QUERY_FUNC)], [[FuncRef(CANISTER0, "a"), FuncRef(USER, "b")]])
    # -- recursive types
    add("recursive_list", [LIST, LIST], [_list(1, -2, 3**50), None])
    add("recursive_tree", [TREE],
        [{"node": {"left": {"leaf": 1}, "right": {"node": {"left": {"leaf": -2},
                                                            "right": {"leaf": 3}}}}}])
    add("recursive_list_deep", [LIST], [_list(*range(-75, 75))])
    add("recursive_through_vec", [ROSE], [{"value": 1, "children": [
        {"value": 2, "children": []},
        {"value": 3, "children": [{"value": 4, "children": []}]},
    ]}])
    add("mutually_recursive", [NODE_A, NODE_B],
        [{"b": {"a": {"b": None}, "v": 1}}, {"a": None, "v": 2}])
    add("recursive_service_and_func", [STREAM, CALLBACK], [LEDGER, FuncRef(USER, "notify")])
    # -- ICRC-1
    add("icrc1_transfer_arg", [TRANSFER_ARG], [{
        "from_subaccount": None,
        "to": {"owner": USER, "subaccount": bytes(31) + b"\x01"},
        "amount": 1_000_000_000_000,
        "fee": 10_000,
        "memo": b"invoice #42",
        "created_at_time": 1_732_000_000_000_000_000,
    }])
    add("icrc1_transfer_arg_minimal", [TRANSFER_ARG], [{
        "from_subaccount": bytes(32), "to": {"owner": LEDGER, "subaccount": None},
        "amount": 0, "fee": None, "memo": None, "created_at_time": None,
    }])
    add("icrc1_transfer_result_ok", [TRANSFER_RESULT], [{"Ok": 123_456_789}])
    add("icrc1_transfer_result_errors", [TRANSFER_RESULT] * 4, [
        {"Err": {"InsufficientFunds": {"balance": 99}}},
        {"Err": {"GenericError": {"error_code": 500, "message": "ledger is busy ⏳"}}},
        {"Err": {"TooOld": None}},
        {"Err": {"CreatedInFuture": {"ledger_time": 2**64 - 1}}},
    ])
    add("mixed_args", [NAT, TEXT, Opt(PRINCIPAL), Vec(PERSON), BOOL],
        [5, "mixed", ANON, [{"name": "a", "age": 1, "active": True}], False])
    return c


CORPUS = _build_corpus()
CASES = {case.name: case for case in CORPUS}


# ======================================================== subtyping / rejection


@dataclass(frozen=True)
class Extra:
    """Bytes agent-js encodes (at ``types``), then mutated and decoded here at ``expect``."""

    name: str
    types: tuple[CandidType, ...]
    values: tuple[Any, ...]
    expect: tuple[CandidType, ...]
    result: tuple[Any, ...] | None  # None: must raise CandidDecodeError
    mutate: Callable[[bytes], bytes] = field(default=lambda b: b)


WIDE_LISTING = _rec(
    id=NAT, name=TEXT, tags=Vec(TEXT), owner=PRINCIPAL,
    meta=Opt(_rec(x=INT, y=Vec(Opt(TEXT)))), flag=BOOL,
)
WIDE_LISTING_VALUE = {"id": 7, "name": "lamp", "tags": ["a", "b"], "owner": USER,
                      "meta": {"x": -1, "y": [None, "z"]}, "flag": True}

EXTRAS = [
    # subtyping
    Extra("record_extra_fields", (WIDE_LISTING,), (WIDE_LISTING_VALUE,),
          (_rec(id=NAT, name=TEXT),), ({"id": 7, "name": "lamp"},)),
    Extra("record_extra_numeric_fields",
          (Record([Field(0, NAT), Field(1, TEXT), Field(9, Vec(NAT))]),), ({0: 1, 1: "a", 9: [2]},),
          (Record([Field(1, TEXT)]),), ({1: "a"},)),
    Extra("record_missing_opt_field", (_rec(a=NAT),), ({"a": 1},),
          (_rec(a=NAT, b=Opt(TEXT), c=RESERVED),), ({"a": 1, "b": None, "c": None},)),
    Extra("opt_of_mismatched_type", (Opt(NAT),), (5,), (Opt(TEXT),), (None,)),
    Extra("opt_of_narrower_variant", (RESULT,), ({"err": "x"},), (Opt(_var(ok=NAT)),), (None,)),
    Extra("bare_value_into_opt", (NAT,), (5,), (Opt(NAT),), (5,)),
    Extra("nat_as_int", (NAT,), (2**100,), (INT,), (2**100,)),
    Extra("variant_into_wider_variant", (_var(ok=NAT),), ({"ok": 1},),
          (_var(ok=NAT, err=TEXT, other=NULL),), ({"ok": 1},)),
    Extra("extra_arguments", (NAT, TEXT, Vec(PERSON)), (1, "x", []), (NAT,), (1,)),
    Extra("missing_trailing_opt_arg", (NAT,), (1,), (NAT, Opt(TEXT), NULL), (1, None, None)),
    Extra("func_with_fewer_results", (Func((NAT,), (TEXT, NAT), ("query",)),),
          (FuncRef(LEDGER, "m"),), (Func((NAT,), (TEXT,), ("query",)),), (FuncRef(LEDGER, "m"),)),
    # rejection
    Extra("truncated_value", (TRANSFER_ARG,), CASES["icrc1_transfer_arg"].values,
          (TRANSFER_ARG,), None, lambda b: b[:-1]),
    Extra("truncated_header", (TRANSFER_ARG,), CASES["icrc1_transfer_arg"].values,
          (TRANSFER_ARG,), None, lambda b: b[:9]),
    Extra("truncated_blob", (BLOB,), (bytes(1000),), (BLOB,), None, lambda b: b[:-500]),
    Extra("trailing_bytes", (NAT,), (1,), (NAT,), None, lambda b: b + b"\x00"),
    Extra("bad_magic", (NAT,), (1,), (NAT,), None, lambda b: b"DIDM" + b[4:]),
    Extra("invalid_utf8", (TEXT,), ("ab",), (TEXT,), None, lambda b: b[:-1] + b"\xff"),
    Extra("text_as_nat", (TEXT,), ("1",), (NAT,), None),
    Extra("int_as_nat", (INT,), (-1,), (NAT,), None),
    Extra("nat_as_nat8", (NAT,), (5,), (NAT8,), None),
    Extra("missing_required_field", (_rec(a=NAT),), ({"a": 1},), (_rec(a=NAT, b=TEXT),), None),
    Extra("unknown_variant_tag", (RESULT,), ({"err": "x"},), (_var(ok=NAT),), None),
    Extra("missing_required_arg", (NAT,), (1,), (NAT, TEXT), None),
]


# ==================================================================== fixture


@dataclass
class Outcome:
    expected: list[Json]  # the corpus values in interchange form
    ours_hex: str | None
    ours_error: str | None
    js: dict[str, Json]


@pytest.fixture(scope="module")
def results() -> tuple[dict[str, Outcome], dict[str, dict[str, Json]]]:
    from icframework.candid.binary import encode

    payload: list[dict[str, Json]] = []
    outcomes: dict[str, Outcome] = {}
    for case in CORPUS:
        try:
            ours_hex: str | None = encode(case.types, case.values).hex()
            error = None
        except Exception as exc:  # reported by the test of this case
            ours_hex, error = None, f"{type(exc).__name__}: {exc}"
        item = case_payload(case.types, case.values, ours_hex)
        outcomes[case.name] = Outcome(item["values"], ours_hex, error, {})
        payload.append(item)
    for extra in EXTRAS:
        payload.append(case_payload(extra.types, extra.values, None))
    out = run_node("candid_codec.mjs", {"cases": payload})["results"]
    assert len(out) == len(payload)
    for case, js in zip(CORPUS, out, strict=False):
        outcomes[case.name].js = js
    extras = {extra.name: js for extra, js in zip(EXTRAS, out[len(CORPUS):], strict=True)}
    return outcomes, extras


# ====================================================================== tests


def test_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 40
    assert len(CASES) == len(CORPUS), "case names must be unique"


def test_corpus_round_trips_through_value_from_json() -> None:
    """The interchange converters are inverse (guards the oracle plumbing itself)."""
    for case in CORPUS:
        expected = case_payload(case.types, case.values, None)["values"]
        rebuilt = [value_from_json(t, j) for t, j in zip(case.types, expected, strict=True)]
        assert case_payload(case.types, rebuilt, None)["values"] == expected, case.name


@requires_node
@pytest.mark.parametrize("name", list(CASES))
def test_our_encoding_decodes_in_agent_js(
    name: str, results: tuple[dict[str, Outcome], dict[str, Any]]
) -> None:
    outcome = results[0][name]
    assert outcome.ours_error is None, f"our encoder failed: {outcome.ours_error}"
    ours = (outcome.ours_hex or "")[:400]
    js = outcome.js
    assert js["decodeError"] is None, (
        f"agent-js cannot decode our bytes {ours}: {js['decodeError']}"
    )
    assert js["decoded"] == outcome.expected, f"our bytes: {ours}"


@requires_node
@pytest.mark.parametrize("name", list(CASES))
def test_agent_js_encoding_decodes_here(
    name: str, results: tuple[dict[str, Outcome], dict[str, Any]]
) -> None:
    from icframework.candid.binary import decode

    case = CASES[name]
    outcome = results[0][name]
    js = outcome.js
    assert js["encodeError"] is None, f"agent-js cannot encode the value: {js['encodeError']}"
    decoded = decode(bytes.fromhex(js["hex"]), case.types)
    assert len(decoded) == len(case.types)
    got = [value_to_json(t, v, f"arg {i}") for i, (t, v) in
           enumerate(zip(case.types, decoded, strict=True))]
    assert got == outcome.expected, f"agent-js bytes: {js['hex'][:400]}"


@requires_node
@pytest.mark.parametrize("extra", [e for e in EXTRAS if e.result is not None],
                         ids=lambda e: e.name)
def test_agent_js_bytes_decode_at_other_types(
    extra: Extra, results: tuple[dict[str, Outcome], dict[str, dict[str, Json]]]
) -> None:
    from icframework.candid.binary import decode

    js = results[1][extra.name]
    assert js["encodeError"] is None, js["encodeError"]
    assert extra.result is not None
    data = extra.mutate(bytes.fromhex(js["hex"]))
    decoded = decode(data, extra.expect)
    got = [value_to_json(t, v) for t, v in zip(extra.expect, decoded, strict=True)]
    want = [value_to_json(t, v) for t, v in zip(extra.expect, extra.result, strict=True)]
    assert got == want, f"bytes: {data.hex()}"


@requires_node
@pytest.mark.parametrize("extra", [e for e in EXTRAS if e.result is None], ids=lambda e: e.name)
def test_agent_js_bytes_rejected(
    extra: Extra, results: tuple[dict[str, Outcome], dict[str, dict[str, Json]]]
) -> None:
    from icframework.candid.binary import decode

    js = results[1][extra.name]
    assert js["encodeError"] is None, js["encodeError"]
    data = extra.mutate(bytes.fromhex(js["hex"]))
    with pytest.raises(CandidDecodeError):
        decode(data, extra.expect)


_RANDOM_PAIRS = candid_types().flatmap(lambda t: st.tuples(st.just(t), values_of(t)))


@requires_node
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(_RANDOM_PAIRS, min_size=50, max_size=50))
def test_random_types_and_values_agree_with_agent_js(pairs: list[tuple[CandidType, Any]]) -> None:
    """(a) and (b) for random types/values; one node call per batch of 50 cases."""
    from icframework.candid.binary import decode, encode

    payload = [case_payload([t], [v], encode([t], [v]).hex()) for t, v in pairs]
    out = run_node("candid_codec.mjs", {"cases": payload})["results"]
    for (t, _), item, js in zip(pairs, payload, out, strict=True):
        where = f"type {t!r}, our bytes {item['hex'][:400]}"
        assert js["decodeError"] is None, f"{where}: agent-js: {js['decodeError']}"
        assert js["decoded"] == item["values"], where
        assert js["encodeError"] is None, f"{where}: agent-js: {js['encodeError']}"
        [decoded] = decode(bytes.fromhex(js["hex"]), [t])
        assert [value_to_json(t, decoded)] == item["values"], f"{where}, JS bytes {js['hex']}"
