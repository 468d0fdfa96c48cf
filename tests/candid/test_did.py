"""The .did parser (and the lexer under it): accepted syntax, imports and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from icframework.candid.did import load_did, parse_did, parse_type, parse_types, resolve_import
from icframework.candid.errors import CandidParseError
from icframework.candid.lexer import MAX_NESTING, tokenize
from icframework.candid.types import (
    BLOB,
    BOOL,
    INT,
    NAT,
    NAT8,
    NAT16,
    NULL,
    PRINCIPAL,
    RESERVED,
    TEXT,
    Field,
    Func,
    Opt,
    Record,
    Service,
    TypeEnv,
    TypeRef,
    Variant,
    Vec,
    idl_hash,
)

# ----------------------------------------------------------------------------- lexer


def test_lexer_positions_and_kinds() -> None:
    toks = tokenize('type a = /* x\n */ record {\n  "b" : 0x1F; } // tail\n')
    assert [(t.kind, t.text, t.line, t.column) for t in toks] == [
        ("id", "type", 1, 1),
        ("id", "a", 1, 6),
        ("sym", "=", 1, 8),
        ("id", "record", 2, 5),
        ("sym", "{", 2, 12),
        ("text", '"b"', 3, 3),
        ("sym", ":", 3, 7),
        ("nat", "0x1F", 3, 9),
        ("sym", ";", 3, 13),
        ("sym", "}", 3, 15),
        ("eof", "", 4, 1),
    ]
    assert toks[7].value == 31


@pytest.mark.parametrize(
    ("source", "kind", "value"),
    [
        ("1_000_000", "nat", 1_000_000),
        ("0xff_ff", "nat", 0xFFFF),
        ("0.", "float", 0.0),
        ("1.5", "float", 1.5),
        ("1_0.2_5", "float", 10.25),
        ("1e3", "float", 1000.0),
        ("1.5E-2", "float", 0.015),
        ("2.e+2", "float", 200.0),
        ("0x1.8p1", "float", 3.0),
        ("0x10p-4", "float", 1.0),
        ("0x1.", "float", 1.0),
    ],
)
def test_lexer_numbers(source: str, kind: str, value: object) -> None:
    (tok, eof) = tokenize(source)
    assert (tok.kind, tok.value) == (kind, value)
    assert eof.kind == "eof"


@pytest.mark.parametrize(
    ("source", "value"),
    [
        (r'"plain"', b"plain"),
        (r'"\n\r\t\\\"\'"', b"\n\r\t\\\"'"),
        (r'"\u{2603}"', "☃".encode()),
        (r'"\u{1_F4_02}"', "🐂".encode()),
        (r'"\00\ff\7F"', b"\x00\xff\x7f"),
        ('"☃ raw"', "☃ raw".encode()),
    ],
)
def test_lexer_text_escapes(source: str, value: bytes) -> None:
    assert tokenize(source)[0].value == value


@pytest.mark.parametrize(
    ("source", "line", "column", "fragment"),
    [
        ('"abc', 1, 1, "never closed"),
        ('x "a\\q"', 1, 5, "bad escape '\\q\"'"),
        ('"\\u{d800}"', 1, 2, "not a Unicode scalar value"),
        ('"\\u{110000}"', 1, 2, "not a Unicode scalar value"),
        ('"\\u{12"', 1, 2, "unclosed escape"),
        ('"\\u12"', 1, 2, "expected '\\u{'"),
        ("a\n  /* /* */", 2, 3, "never closed"),
        ("12abc", 1, 1, "malformed number '12abc'"),
        ("1e", 1, 1, "exponent has no digits"),
        ("0x", 1, 1, "no hex digits"),
        ("a # b", 1, 3, "unexpected character '#'"),
        ("é", 1, 1, "unexpected character 'é'"),
    ],
)
def test_lexer_errors(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(CandidParseError) as info:
        tokenize(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert fragment in info.value.reason


# ------------------------------------------------------------------------- accepted


def test_definitions_and_service() -> None:
    did = parse_did(
        """
        // a comment
        type List = opt record { head : int; tail : List };
        type Pair = record { nat; text };
        type Color = variant { red; green; "blue" : nat8 };
        type Callback = func (x : nat, text) -> (opt nat) query;
        /* nested /* comments */ work */
        service Counter : {
          inc : () -> ();
          "get value" : () -> (nat) query;
          watch : Callback;
        }
        """
    )
    env = did.env
    assert list(env) == ["List", "Pair", "Color", "Callback"]
    assert env["List"] == Opt(Record([Field("head", INT), Field("tail", TypeRef("List", env))]))
    assert env["Pair"] == Record.tuple_of(NAT, TEXT)
    assert env["Color"] == Variant([Field("red", NULL), Field("green", NULL), Field("blue", NAT8)])
    assert env["Callback"] == Func((NAT, TEXT), (Opt(NAT),), ("query",))
    assert did.service == Service([
        ("inc", Func()),
        ("get value", Func((), (NAT,), ("query",))),
        ("watch", env.ref("Callback")),
    ])
    assert did.service_args is None
    # The TypeRef points into the file's environment.
    tail = env["List"]
    assert isinstance(tail, Opt) and isinstance(tail.inner, Record)
    ref = tail.inner.fields[1].type
    assert isinstance(ref, TypeRef) and ref.resolve() == env["List"]


def test_empty_file_and_types_only() -> None:
    assert parse_did("").service is None
    assert len(parse_did("").env) == 0
    did = parse_did("type A = nat; type B = A;")
    assert did.service is None and list(did.env) == ["A", "B"]


def test_service_class_and_named_service() -> None:
    did = parse_did("type S = service { m : () -> () }; service : (nat, opt text) -> S;")
    assert did.service_args == (NAT, Opt(TEXT))
    assert did.service == TypeRef("S", did.env)
    did = parse_did("service : (x : nat) -> { m : () -> () }")
    assert did.service_args == (NAT,)
    assert did.service == Service([("m", Func())])


def test_field_shorthands_and_labels() -> None:
    t = parse_type(
        'record { nat; text; 5 : bool; bool; "quoted name" : nat; "type" : null; 0x10 : int }'
    )
    assert t == Record([
        Field(0, NAT), Field(1, TEXT), Field(5, BOOL), Field(6, BOOL),
        Field("quoted name", NAT), Field("type", NULL), Field(16, INT),
    ])
    assert parse_type("variant { a; 3; b : nat; \"c d\" }") == Variant([
        Field("a", NULL), Field(3, NULL), Field("b", NAT), Field("c d", NULL),
    ])
    # Keywords and primitive names may be labels when followed by ':' (or alone in a
    # variant); positional record fields are types.
    assert parse_type("record { nat : nat; query : text }") == Record(
        [Field("nat", NAT), Field("query", TEXT)]
    )
    assert parse_type("record { nat }") == Record.tuple_of(NAT)
    assert parse_type("variant { nat }") == Variant([Field("nat", NULL)])
    assert parse_type("record { a : nat; }") == Record([Field("a", NAT)])


def test_sugar_and_references() -> None:
    assert parse_type("blob") == BLOB == Vec(NAT8)
    assert parse_type("vec opt blob") == Vec(Opt(BLOB))
    assert parse_type("principal") == PRINCIPAL
    assert parse_type("reserved") == RESERVED
    assert parse_type("service { m : (nat) -> () oneway }") == Service(
        [("m", Func((NAT,), (), ("oneway",)))]
    )
    assert parse_type("func () -> () composite_query") == Func(modes=("composite_query",))
    env = TypeEnv({"T": NAT16})
    assert parse_type("vec T", env) == Vec(TypeRef("T", env))
    assert parse_types("(nat, opt text)") == (NAT, Opt(TEXT))
    assert parse_types("()") == ()
    assert parse_types("(a : nat, \"b\" : T,)", env) == (NAT, TypeRef("T", env))


def test_numeric_and_named_ids() -> None:
    t = parse_type("record { 4294967295 : nat; a : nat }")
    assert isinstance(t, Record)
    assert [f.id for f in t.fields] == [idl_hash("a"), 4294967295]


def test_imports() -> None:
    files = {
        "common.did": "type Id = nat64; type Name = text;",
        "user.did": 'import "common.did"; type User = record { id : Id; name : Name };'
        " service : { who : () -> (User) }",
        "admin.did": 'import "common.did"; service : { ban : (Id) -> () }',
        "class.did": "service : (nat) -> { m : () -> () }",
    }
    loaded: list[str] = []

    def load(path: str) -> str:
        loaded.append(path)
        return files[path]

    did = parse_did(
        'import "user.did"; import service "admin.did"; type Extra = vec User;'
        " service : { me : () -> (User) query }",
        load=load,
    )
    # Each file is read once (common.did is imported twice); plain import drops the
    # service, import service merges its methods.
    assert loaded == ["user.did", "common.did", "admin.did"]
    assert list(did.env) == ["Id", "Name", "User", "Extra"]
    assert did.service == Service([
        ("ban", Func((TypeRef("Id", did.env),), ())),
        ("me", Func((), (TypeRef("User", did.env),), ("query",))),
    ])

    did = parse_did('import service "admin.did";', load=load)
    assert isinstance(did.service, Service) and did.service.method("ban") is not None

    with pytest.raises(CandidParseError, match="is a class"):
        parse_did('import service "class.did";', load=load)
    with pytest.raises(CandidParseError, match="'ban' of the imported service is already"):
        parse_did('import service "admin.did"; service : { ban : () -> () }', load=load)


def test_imports_are_relative_to_the_importing_file() -> None:
    # The reference parser's own layout: a.did imports "b/b.did", its neighbour's folder.
    files = {
        "main.did": 'import "import/a.did"; import service "import/b/b.did";',
        "import/a.did": 'import "b/b.did"; type a = variant { a; b : b };',
        "import/b/b.did": 'import "../../shared.did"; type b = record { int; S };'
        " service : { bbbbb : (b) -> () }",
        "shared.did": "type S = nat;",
    }
    loaded: list[str] = []

    def load(path: str) -> str:
        loaded.append(path)
        return files[path]

    did = parse_did('import "main.did";', load=load)
    # Before, "b/b.did" was looked up from the top and import/b/b.did read a second time.
    assert loaded == ["main.did", "import/a.did", "import/b/b.did", "shared.did"]
    assert list(did.env) == ["S", "b", "a"]
    assert did.service is None

    loaded.clear()
    did = parse_did(files["main.did"], load=load, path="main.did")
    # import service of a file already read (through a.did) still takes its methods.
    assert loaded == ["import/a.did", "import/b/b.did", "shared.did"]
    assert isinstance(did.service, Service) and did.service.method("bbbbb") is not None

    assert resolve_import("x/y/a.did", "../b.did") == "x/b.did"
    assert resolve_import("x/a.did", "/abs/b.did") == "/abs/b.did"
    assert resolve_import("", "./b//c.did") == "b/c.did"


def test_circular_imports() -> None:
    files = {
        "a.did": 'import "b.did"; type A = opt B; service : { a : (A) -> () }',
        "b.did": 'import "a.did"; type B = opt nat;',
        "c.did": 'import service "d.did"; type C = nat;',
        "d.did": 'import "c.did"; service : { d : () -> () }',
    }
    # A file being read is not read again when a file it imports imports it back.
    did = parse_did(files["a.did"], load=files.__getitem__, path="a.did")
    assert list(did.env) == ["B", "A"]
    with pytest.raises(CandidParseError) as info:
        parse_did('import service "d.did";', load=files.__getitem__)
    assert "'import service' of 'd.did' is circular" in str(info.value)


def test_load_did_reads_imports_from_disk(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "types.did").write_text("type Id = nat64;", encoding="utf-8")
    (tmp_path / "api" / "can.did").write_text(
        'import "../types.did";\nservice : { get : (Id) -> (text) query }', encoding="utf-8"
    )
    did = load_did(tmp_path / "api" / "can.did")
    assert list(did.env) == ["Id"]
    assert isinstance(did.service, Service)
    (tmp_path / "api" / "broken.did").write_text('import "gone.did";', encoding="utf-8")
    with pytest.raises(CandidParseError) as info:
        load_did(tmp_path / "api" / "broken.did")
    assert f"cannot import 'gone.did' (at '{tmp_path}/api/gone.did')" in str(info.value)


def test_separator_before_the_service_is_optional() -> None:
    # ckBTC's and ckETH's minters and index-ng end their last type without ';'.
    did = parse_did("type A = nat\nservice : { f : (A) -> () }")
    assert list(did.env) == ["A"] and isinstance(did.service, Service)
    assert list(parse_did("type A = nat").env) == ["A"]
    assert parse_did("type A = nat; service : {};").service == Service()


def test_underscores_in_numbers_follow_the_reference_lexer() -> None:
    # fieldnat.did of the reference parser writes a field id as 2_.
    t = parse_type("record { 2_ : int; 1__0 : nat; 0x1_f_ : text }")
    assert isinstance(t, Record)
    assert [f.label for f in t.fields] == [2, 10, 31]
    assert tokenize("1_000_")[0].value == 1000


def test_import_errors() -> None:
    with pytest.raises(CandidParseError) as info:
        parse_did('type A = nat;\nimport "x.did";')
    assert (info.value.line, info.value.column) == (2, 1)
    assert "no loader given" in info.value.reason

    def missing(path: str) -> str:
        raise FileNotFoundError(path)

    with pytest.raises(CandidParseError, match=r"cannot import 'x\.did'"):
        parse_did('import "x.did";', load=missing)

    with pytest.raises(CandidParseError) as info:
        parse_did('\n  import "bad.did";', load=lambda _: "type A = ;")
    assert (info.value.line, info.value.column) == (2, 10)
    assert "in imported file 'bad.did', line 1, column 10: expected a type, got ';'" in str(
        info.value
    )
    with pytest.raises(CandidParseError, match="defined twice"):
        parse_did('type A = nat; import "a.did";', load=lambda _: "type A = int;")


# ------------------------------------------------------------------------- rejected

BAD = [
    # (source, line, column, fragment of the message)
    (
        "type A = record {\n  name : text;\n  owner = principal;\n};",
        3, 9, "expected ':' after field name 'owner', got '='",
    ),
    ("type A = record { 5 = nat };", 1, 21, "expected ':' after field label 5, got '='"),
    ("type A = Foo;", 1, 10, "unknown type 'Foo'"),
    ("type A = record { a : vec B };", 1, 27, "unknown type 'B'"),
    ("type A = nat;\ntype A = text;", 2, 6, "type 'A' is defined twice (first at line 1"),
    ("type a = b;\ntype b = a;", 1, 10, "type alias cycle without a constructor"),
    ("type a = a;", 1, 10, "cycle"),
    ("type A = record { a : nat; a : text };", 1, 28, "field 'a' is declared twice"),
    ("type A = record { a : nat; 97 : text };", 1, 28, "has the same id 97 as field 'a'"),
    ("type A = variant { x; x };", 1, 23, "declared twice"),
    ("type A = record { 4294967296 : nat };", 1, 19, "too large"),
    ("type F = func () -> () query oneway;", 1, 30, "cannot be combined"),
    ("type F = func () -> () query composite_query;", 1, 30, "cannot be combined"),
    ("type F = func () -> () query query;", 1, 30, "given twice"),
    ("type F = func () -> (nat) oneway;", 1, 27, "oneway function has no results"),
    ("type F = func (a : nat, a : nat) -> ();", 1, 25, "argument name 'a' is used twice"),
    ("type S = service { m : () -> (); m : () -> () };", 1, 34, "declared twice"),
    ("type S = service { m : nat };", 1, 24, "expected a function type"),
    ("type S = service { m : func () -> () };", 1, 24, "expected a function type"),
    ("type N = nat; service : { m : N }", 1, 31, "must name a func type"),
    ("type N = nat; service : N", 1, 25, "must name a service type"),
    ('type A = record { "\\q" : nat };', 1, 20, "bad escape"),
    ('type A = record { "\\ff" : nat };', 1, 19, "not valid UTF-8"),
    ("type nat = text;", 1, 6, "reserved word"),
    ("type opt = text;", 1, 6, "reserved word"),
    ("type A = opt;", 1, 13, "expected a type, got ';'"),
    ("type A = record;", 1, 16, "expected '{' after 'record', got ';'"),
    ("type A = record { a : nat b : nat };", 1, 27, "expected ';' or '}' after record field"),
    ("type A = variant { a : nat = 1 };", 1, 28, "expected ';' or '}'"),
    ("type A = variant { record {} };", 1, 27, "after variant field 'record', got '{'"),
    ("type A = variant { (nat) };", 1, 20, "expected a variant field"),
    ("type A = nat type B = nat;", 1, 14, "expected ';' after the declaration, got 'type'"),
    ("type A = nat; service : {}; type B = nat;", 1, 29, "it must come last"),
    ("service : { m : () -> () } extra", 1, 28, "expected end of input"),
    ("service : nat", 1, 11, "expected the service's methods"),
    ("typ A = nat;", 1, 1, "expected 'type', 'import' or 'service', got 'typ'"),
    ("type A = func (nat) (nat);", 1, 21, "expected '->'"),
    ("type A = func (nat -> ();", 1, 20, "expected ',' or ')'"),
]


@pytest.mark.parametrize(("source", "line", "column", "fragment"), BAD)
def test_rejected(source: str, line: int, column: int, fragment: str) -> None:
    with pytest.raises(CandidParseError) as info:
        parse_did(source)
    err = info.value
    assert fragment in err.reason
    assert (err.line, err.column) == (line, column), err.reason
    assert str(err).startswith(f"line {line}, column {column}: ")


def test_parse_type_errors() -> None:
    with pytest.raises(CandidParseError, match="unknown type 'T'"):
        parse_type("vec T")
    with pytest.raises(CandidParseError, match="expected end of input after the type"):
        parse_type("nat nat")
    with pytest.raises(CandidParseError, match="expected '\\(' to start the type list"):
        parse_types("nat")
    with pytest.raises(CandidParseError, match="expected a type, got keyword 'query'"):
        parse_type("query")


@pytest.mark.parametrize(
    "source",
    [
        "type A = " + "opt " * 100_000 + "nat;",
        "type A = " + "record { a : " * 5_000 + "nat" + " }" * 5_000 + ";",
        "type A = " + "func (" * 5_000,
        "type A = " + "vec " * (MAX_NESTING + 1) + "nat;",
    ],
)
def test_deep_nesting_is_a_parse_error(source: str) -> None:
    with pytest.raises(CandidParseError, match=f"deeper than {MAX_NESTING} levels"):
        parse_did(source)


def test_nesting_up_to_the_limit_is_fine() -> None:
    t = parse_type("vec " * (MAX_NESTING - 1) + "nat")
    for _ in range(MAX_NESTING - 1):
        assert isinstance(t, Vec)
        t = t.inner
    assert t == NAT


def test_doc_comments_are_the_line_comments_right_above() -> None:
    did = parse_did(
        "// dropped: a blank line follows\n"
        "\n"
        "// kept\n"
        "/* a block comment does not break them */\n"
        "//   kept too  \n"
        "/// three slashes\n"
        "type A = record {\n"
        "  x : nat;  // at the end of a line: no doc\n"
        "  // of y\n"
        "  y : nat;\n"
        "  // a quoted label takes none\n"
        '  "z" : nat;\n'
        "};\n"
        "// of the service\n"
        "service : {\n"
        "  // of m\n"
        "  m : (A) -> ();\n"
        "}\n"
    )
    assert did.docs == {"A": ("kept", "kept too", "/ three slashes")}
    record = did.env["A"]
    assert isinstance(record, Record)
    assert {f.label: f.docs for f in record.fields} == {"x": (), "y": ("of y",), "z": ()}
    assert isinstance(did.service, Service)
    assert did.service.docs == {"m": ("of m",)}
    assert did.service_docs == ("of the service",)
    # Documentation is no part of the type.
    assert record == Record([Field("x", NAT), Field("y", NAT), Field("z", NAT)])


def test_argument_names_are_documentation_only() -> None:
    from icframework.candid.binary import decode_wire_types, encode
    from icframework.candid.subtype import is_subtype
    from icframework.candid.types import FuncRef
    from icframework.core import Principal

    named = parse_type("func (to : principal, amount : nat) -> (ok : bool)")
    plain = parse_type("func (principal, nat) -> (bool)")
    assert isinstance(named, Func) and isinstance(plain, Func)
    assert (named.arg_names, named.result_names) == (("to", "amount"), ("ok",))
    assert (plain.arg_names, plain.result_names) == ((), ())
    assert named == plain and hash(named) == hash(plain)
    assert is_subtype(named, plain) and is_subtype(plain, named)
    ref = FuncRef(Principal.management_canister(), "transfer")
    message = encode([named], [ref])
    assert message == encode([plain], [ref])
    (wire,) = decode_wire_types(message)
    assert isinstance(wire, TypeRef) and wire.resolve() == plain
    # A name that reads as a number is no name, as in the reference parser.
    assert parse_types('(two : int, "2" : nat)') == (INT, NAT)
    numbered = parse_type('func (two : int, "2" : nat) -> ()')
    assert isinstance(numbered, Func) and numbered.arg_names == ("two", None)


def test_imported_definitions_are_listed_after_the_files_own() -> None:
    files = {
        "main.did": 'import service "a.did"; type M = nat; service : { m : (A) -> () }',
        "a.did": 'import "b.did"; type A = B; service : { a : () -> () }',
        "b.did": "type B = nat;",
    }
    did = parse_did(files["main.did"], load=files.__getitem__, path="main.did")
    assert list(did.env) == ["B", "A", "M"]  # in the order they were read
    assert did.order == ("M", "B", "A")  # the file's own, then each import's
    assert isinstance(did.service, Service)
    assert did.service.order == ("m", "a")
