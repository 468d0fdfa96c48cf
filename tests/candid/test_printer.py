"""The .did pretty-printer: golden files, round trips and the layout rules.

Golden files: for every ``golden/NAME.in.did`` the canonical output of
``format_did(parse_did(...))`` is ``golden/NAME.out.did``. Run with ``UPDATE_GOLDEN=1``
to rewrite the expected outputs after an intended layout change (then review the diff).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from icframework.candid.did import parse_did, parse_type, same_did, same_type
from icframework.candid.errors import CandidError
from icframework.candid.printer import format_did, format_label, format_type, quote_text
from icframework.candid.types import (
    BLOB,
    NAT,
    NAT8,
    NULL,
    TEXT,
    CandidType,
    DidFile,
    Field,
    Func,
    Opt,
    Record,
    Service,
    TypeEnv,
    TypeRef,
    Variant,
    Vec,
)
from tests.candid.strategies import candid_types

GOLDEN = Path(__file__).parent / "golden"
INPUTS = sorted(GOLDEN.glob("*.in.did"))


def _out_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".in.did", ".out.did"))


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_golden(path: Path) -> None:
    printed = format_did(parse_did(path.read_text(encoding="utf-8")))
    expected_path = _out_path(path)
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_text(printed, encoding="utf-8")
    assert printed == expected_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_golden_round_trip_and_idempotence(path: Path) -> None:
    original = parse_did(path.read_text(encoding="utf-8"))
    canonical = _out_path(path).read_text(encoding="utf-8")
    reparsed = parse_did(canonical)
    # (`==` on named types also compares their environments, so compare structurally.)
    assert same_did(reparsed, original)
    assert format_did(reparsed) == canonical


def test_there_are_golden_files() -> None:
    assert len(INPUTS) >= 4


def test_layout_of_records() -> None:
    did = parse_did(
        "type A = record { b : text; a : nat };"
        "type B = record { only : nat };"
        "type C = record {};"
        "type D = record { nat; text };"
        "type E = record { x : record { y : nat; z : nat }; w : nat };"
    )
    # Fields come out in field-id order: idl_hash("a") < idl_hash("b"), w < x.
    assert format_did(did) == (
        "type A = record {\n  a : nat;\n  b : text;\n};\n"
        "type B = record { only : nat };\n"
        "type C = record {};\n"
        "type D = record { nat; text };\n"
        "type E = record {\n  w : nat;\n  x : record {\n    y : nat;\n    z : nat;\n  };\n};\n"
    )


def test_layout_of_services() -> None:
    assert format_did(parse_did("service : {}")) == "service : {}\n"
    assert format_did(parse_did("service : { m : () -> () }")) == (
        "service : {\n  m : () -> ();\n}\n"
    )
    assert format_did(parse_did("type S = service { m : () -> () }; service : (nat) -> S")) == (
        "type S = service { m : () -> () };\n\nservice : (nat) -> S\n"
    )
    assert format_did(parse_did("")) == ""
    assert format_did(parse_did("type T = nat;")) == "type T = nat;\n"


@pytest.mark.parametrize(
    ("t", "text"),
    [
        (NAT, "nat"),
        (BLOB, "blob"),
        (Vec(Vec(NAT8)), "vec blob"),
        (Opt(Vec(TEXT)), "opt vec text"),
        (Record(), "record {}"),
        (Record([Field("a", NAT), Field("b", TEXT)]), "record { a : nat; b : text }"),
        (Record.tuple_of(NAT, TEXT), "record { nat; text }"),
        (Record([Field(1, NAT)]), "record { 1 : nat }"),
        (Variant([Field("a", NULL), Field("b", NAT)]), "variant { a; b : nat }"),
        (Variant([Field("x y", NULL)]), 'variant { "x y" }'),
        (Func((NAT,), (TEXT,), ("query",)), "func (nat) -> (text) query"),
        (Func(), "func () -> ()"),
        (Service([("m", Func())]), "service { m : () -> () }"),
        (Service(), "service {}"),
    ],
)
def test_format_type(t: CandidType, text: str) -> None:
    assert format_type(t) == text
    assert parse_type(text) == t


def test_format_type_of_named_types() -> None:
    env = TypeEnv()
    env.define("List", Opt(Record([Field("head", NAT), Field("tail", env.ref("List"))])))
    assert format_type(env.ref("List")) == "List"
    assert format_type(env["List"]) == "opt record { head : nat; tail : List }"
    assert parse_type("opt record { head : nat; tail : List }", env) == env["List"]


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("name", "name"),
        ("_x1", "_x1"),
        ("type", '"type"'),
        ("nat", '"nat"'),
        ("service", '"service"'),
        ("first name", '"first name"'),
        ("1a", '"1a"'),
        ("", '""'),
        ("☃", '"☃"'),
        (0, "0"),
        (4294967295, "4294967295"),
    ],
)
def test_format_label(label: str | int, text: str) -> None:
    assert format_label(label) == text


def test_quote_text_escapes() -> None:
    assert quote_text('a"b\\c\nd\re\tf\'g') == '"a\\"b\\\\c\\nd\\re\\tf\'g"'
    assert quote_text("\x00\x7f\u2028☃") == '"\\u{0}\\u{7f}\\u{2028}☃"'


def test_unprintable_type_name_is_an_error() -> None:
    env = TypeEnv({"not an id": NAT})
    with pytest.raises(CandidError, match="not an identifier"):
        format_did(DidFile(env))
    with pytest.raises(CandidError):
        format_type(TypeRef("type", env))


def _oneway_with_results(t: CandidType) -> bool:
    """True for types the strategies may draw but the spec (and the parser) rejects."""
    seen: set[tuple[int, str]] = set()
    pending = [t]
    while pending:
        node = pending.pop()
        if isinstance(node, TypeRef):
            key = (id(node.env), node.name)
            if key not in seen:
                seen.add(key)
                pending.append(node.env[node.name])
        elif isinstance(node, Opt | Vec):
            pending.append(node.inner)
        elif isinstance(node, Record | Variant):
            pending.extend(f.type for f in node.fields)
        elif isinstance(node, Func):
            if "oneway" in node.modes and node.results:
                return True
            pending.extend((*node.args, *node.results))
        elif isinstance(node, Service):
            pending.extend(m for _, m in node.methods)
    return False


def _has_ref(t: CandidType) -> bool:
    if isinstance(t, TypeRef):
        return True
    if isinstance(t, Opt | Vec):
        return _has_ref(t.inner)
    if isinstance(t, Record | Variant):
        return any(_has_ref(f.type) for f in t.fields)
    if isinstance(t, Func):
        return any(_has_ref(a) for a in (*t.args, *t.results))
    if isinstance(t, Service):
        return any(_has_ref(m) for _, m in t.methods)
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(candid_types().filter(lambda t: not _has_ref(t) and not _oneway_with_results(t)))
def test_format_type_round_trip(t: CandidType) -> None:
    assert parse_type(format_type(t)) == t
    did = DidFile(TypeEnv({"T": t}), Service([("m", Func((t,), (t,)))]))
    assert parse_did(format_did(did)) == did
    assert same_did(parse_did(format_did(did)), did)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(candid_types().filter(lambda t: not _oneway_with_results(t)))
def test_format_did_round_trip_with_recursive_types(t: CandidType) -> None:
    # Gather the definitions the random type refers to into one environment. The
    # strategies give every recursive type its own small environment whose names may
    # clash with another's, so a clash just skips the example.
    env = TypeEnv()
    pending = [t]
    seen: dict[str, CandidType] = {}
    while pending:
        node = pending.pop()
        if isinstance(node, TypeRef):
            definition = node.env[node.name]
            if node.name in seen:
                if not same_type(seen[node.name], definition):
                    return
                continue
            seen[node.name] = definition
            pending.append(definition)
        elif isinstance(node, Opt | Vec):
            pending.append(node.inner)
        elif isinstance(node, Record | Variant):
            pending.extend(f.type for f in node.fields)
        elif isinstance(node, Func):
            pending.extend((*node.args, *node.results))
        elif isinstance(node, Service):
            pending.extend(m for _, m in node.methods)
    for name, definition in seen.items():
        env.define(name, definition)
    env.define("Main", t)
    did = DidFile(env)
    reparsed = parse_did(format_did(did))
    assert same_did(reparsed, did)
    assert format_did(reparsed) == format_did(did)


def test_same_type_and_same_did() -> None:
    a = parse_did("type L = opt record { h : nat; t : L }; service : { m : (L) -> () }")
    b = parse_did("type L = opt record { t : L; h : nat };\nservice : { m : (L) -> () }")
    assert a != b  # references into different environments are never ==
    assert same_did(a, b)
    assert not same_did(a, parse_did("type L = opt record { h : int; t : L };"))
    assert not same_did(a, parse_did("type M = opt record { h : nat; t : M };"))
    assert not same_type(Func(modes=("query",)), Func())
    assert not same_type(Record([Field("a", NAT)]), Variant([Field("a", NAT)]))
    assert same_type(parse_type("vec record { nat; text }"), Vec(Record.tuple_of(NAT, TEXT)))


# -- the reference printer's style -----------------------------------------------


def reference(text: str) -> str:
    return format_did(parse_did(text), style="reference")


def test_reference_style_keeps_argument_names_and_doc_comments() -> None:
    text = """
// An account.
type Account = record {
  // Who owns it.
  owner : principal;
  subaccount : opt blob;   // trailing comments are not docs
};

// The ledger.
service : (init : record { minting : Account }) -> {
  // Moves tokens.
  transfer : (to : Account, amount : nat) -> (ok : bool);
  balance : (Account) -> (nat) query;
}
"""
    assert reference(text) == (
        "// An account.\n"
        "type Account = record {\n"
        "  // Who owns it.\n"
        "  owner : principal;\n"
        "  subaccount : opt blob;\n"
        "};\n"
        "// The ledger.\n"
        "service : (init : record { minting : Account }) -> {\n"
        "  balance : (Account) -> (nat) query;\n"
        "  // Moves tokens.\n"
        "  transfer : (to : Account, amount : nat) -> (ok : bool);\n"
        "}\n"
    )
    # The default style leaves them out.
    assert format_did(parse_did(text)) == (
        "type Account = record {\n"
        "  owner : principal;\n"
        "  subaccount : opt blob;\n"
        "};\n\n"
        "service : (record { minting : Account }) -> {\n"
        "  balance : (Account) -> (nat) query;\n"
        "  transfer : (Account, nat) -> (bool);\n"
        "}\n"
    )


def test_reference_style_breaks_lines_at_80_columns() -> None:
    fits = "type T = record { " + "; ".join(f"f{i} : nat" for i in range(6)) + " };"
    assert len(fits) <= 80
    assert reference(fits) == fits + "\n\n"  # no service: the reference ends in a blank line
    wide = "type T = record { " + "; ".join(f"field{i} : nat" for i in range(6)) + " };"
    assert len(wide) > 80
    assert reference(wide) == (
        "type T = record {\n"
        + "".join(f"  field{i} : nat;\n" for i in range(6))
        + "};\n\n"
    )
    # An argument list that does not fit goes one argument per line, indented under
    # the method, with a trailing comma.
    long = "x" * 50
    assert reference(f"service : {{ m : (record {{ {long} : nat }}) -> () }}") == (
        "service : {\n"
        "  m : (\n"
        f"      record {{ {long} : nat }},\n"
        "    ) -> ();\n"
        "}\n"
    )


def test_reference_style_quotes_like_the_reference() -> None:
    assert reference(
        "type t = record { \"'\" : nat; true : nat; \"query\" : nat; 1291438163 : nat8; "
        "\"\\u{e000}\" : nat };"
    ) == (
        "type t = record {\n"
        "  \"\\'\" : nat;\n"
        "  \"\\u{e000}\" : nat;\n"
        "  1_291_438_163 : nat8;\n"
        "  true : nat;\n"
        "  \"query\" : nat;\n"
        "};\n\n"
    )


def test_reference_style_drops_argument_names_that_are_numbers() -> None:
    assert reference('service : { m : (two : int, "2" : nat) -> () }') == (
        "service : { m : (two : int, nat) -> () }\n"
    )


def test_unknown_style_is_refused() -> None:
    with pytest.raises(CandidError, match=r"unknown \.did style 'dfx'; use 'canonical' or"):
        format_did(parse_did(""), style="dfx")  # type: ignore[arg-type]
