"""Type hints → Candid types, and the converters in both directions."""

# ruff: noqa: UP045 - Optional[...] hints are what these tests are about

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal, Optional, TypedDict

import pytest

from icframework.candid import (
    FLOAT32,
    NAT,
    NAT16,
    TEXT,
    decode,
    encode,
    format_type,
)
from icframework.core import Principal
from icframework.sdk import TypeHintError, candid_type_of, nat, nat8, nat64, variant
from icframework.sdk.types import TypeMapper, float32, int8, int16, int32, int64, nat16, nat32


class Suit(Enum):
    hearts = "h"
    spades = "s"


@dataclass
class Node:
    label: str
    next: Node | None


@dataclass
class Ping:
    kind: Literal["ping"] = "ping"


@dataclass
class Move:
    x: int
    y: int


class Row(TypedDict, total=False):
    name: str
    age: nat8


@variant
class Res:
    ok: nat
    err: str
    nothing: None


@dataclass
class Holder:
    suit: Suit
    table: dict[str, list[Suit]]


def shown(hint: Any) -> str:
    return format_type(candid_type_of(hint))


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (int, "int"),
        (bool, "bool"),
        (float, "float64"),
        (str, "text"),
        (bytes, "blob"),
        (None, "null"),
        (Principal, "principal"),
        (nat, "nat"),
        (nat8, "nat8"),
        (nat16, "nat16"),
        (nat32, "nat32"),
        (nat64, "nat64"),
        (int8, "int8"),
        (int16, "int16"),
        (int32, "int32"),
        (int64, "int64"),
        (float32, "float32"),
        (list[int], "vec int"),
        (list[nat8], "blob"),
        (tuple[str, ...], "vec text"),
        (set[str], "vec text"),
        (frozenset[nat16], "vec nat16"),
        (tuple[int, str], "record { int; text }"),
        (tuple[()], "record {}"),
        (dict[str, nat64], "vec record { text; nat64 }"),
        (Optional[str], "opt text"),
        (str | None, "opt text"),
        (Optional[list[int | None]], "opt vec opt int"),
        (Literal["a", "b"], "variant { a; b }"),
        (Annotated[int, NAT16], "nat16"),
        (Annotated[str, "doc only"], "text"),
        (Suit, "Suit"),
        (Node, "Node"),
        (Ping | Move, "variant { Move : Move; ping }"),
        (Optional[Ping | Move], "opt variant { Move : Move; ping }"),
    ],
)
def test_hint_maps_to_candid(hint: Any, expected: str) -> None:
    assert shown(hint) == expected


def test_named_definitions_and_recursion() -> None:
    mapper = TypeMapper()
    mapper.info(Node)
    mapper.info(Row)
    mapper.info(Res)
    mapper.info(Suit)
    defs = {name: format_type(t) for name, t in mapper.env.items()}
    assert defs == {
        "Node": "record { next : opt Node; label : text }",
        "Row": "record { age : opt nat8; name : opt text }",
        "Res": "variant { ok : nat; err : text; nothing }",
        "Suit": "variant { spades; hearts }",
    }


def roundtrip(hint: Any, value: Any) -> Any:
    info = TypeMapper().info(hint)
    wire = value if info.to_wire is None else info.to_wire(value)
    (decoded,) = decode(encode([info.candid], [wire]), [info.candid])
    return decoded if info.from_wire is None else info.from_wire(decoded)


@pytest.mark.parametrize(
    ("hint", "value"),
    [
        (int, -5),
        (nat64, 2**64 - 1),
        (list[nat8], [1, 2, 3]),
        (tuple[nat8, ...], (1, 2)),
        (bytes, b"\x00\xff"),
        (set[str], {"a", "b"}),
        (dict[str, nat64], {"a": 1, "b": 2}),
        (dict[Suit, list[Suit]], {Suit.hearts: [Suit.spades]}),
        (tuple[Suit, str], (Suit.spades, "x")),
        (Optional[Suit], None),
        (Optional[Suit], Suit.hearts),
        (Node, Node("a", Node("b", None))),
        (Ping | Move, Ping()),
        (Ping | Move, Move(1, 2)),
        (Row, {"name": "x"}),
        (Row, {}),
        (Res, Res(ok=3)),
        (Res, Res(nothing=None)),
        (list[Res], [Res(err="e"), Res(ok=1)]),
        (Holder, Holder(Suit.hearts, {"k": [Suit.spades, Suit.hearts]})),
        (Literal["a", "b"], "b"),
        (Principal, Principal.anonymous()),
    ],
)
def test_values_roundtrip_through_candid(hint: Any, value: Any) -> None:
    assert roundtrip(hint, value) == value


def test_identity_paths_need_no_converters() -> None:
    @dataclass
    class Plain:
        a: int
        b: list[str]

    info = TypeMapper().info(list[dict[str, int] | None].__args__[0].__args__[0])
    assert info.from_wire is dict
    plain = TypeMapper().info(Plain)
    assert plain.to_wire is None  # the encoder reads dataclass attributes itself
    assert TypeMapper().info(list[int]).to_wire is None
    assert TypeMapper().info(Optional[bytes]).from_wire is None


def test_variant_class_values() -> None:
    r = Res(ok=1)
    assert (r.tag, r.value) == ("ok", 1)
    assert r == Res(ok=1) and r != Res(ok=2) and hash(r) == hash(Res(ok=1))
    assert repr(r) == "Res(ok=1)"
    with pytest.raises(TypeError, match="exactly one arm"):
        Res(ok=1, err="x")
    with pytest.raises(TypeError, match="no arm 'bad'"):
        Res(bad=1)
    with pytest.raises(AttributeError):
        r.tag = "err"
    match r:
        case Res("ok", v):
            assert v == 1
        case _:
            pytest.fail("no match")


@dataclass
class Tagless:
    kind: Literal["x"]


@pytest.mark.parametrize(
    ("hint", "message"),
    [
        (list, "bare list has no element type"),
        (dict, "bare dict has no key/value types"),
        (int | str, "every member is a dataclass"),
        (Any, "has no Candid equivalent"),
        (Literal[1, 2], "only Literal of strings"),
        (Tagless, "give it the default 'x'"),
        (complex, "has no Candid equivalent"),
    ],
)
def test_unsupported_hints_explain_the_fix(hint: Any, message: str) -> None:
    with pytest.raises(TypeHintError, match=message):
        candid_type_of(hint)


def test_field_errors_name_the_field() -> None:
    @dataclass
    class Bad:
        ok: int
        wrong: complex

    with pytest.raises(TypeHintError, match=r"Bad\.wrong"):
        candid_type_of(Bad)


def test_same_name_different_classes_get_suffixes() -> None:
    def make() -> type:
        @dataclass
        class Item:
            a: int

        return Item

    first, second = make(), make()
    mapper = TypeMapper()
    mapper.info(tuple[first, second])  # type: ignore[valid-type]
    assert list(mapper.env) == ["Item", "Item_2"]


def test_annotated_candid_type_overrides() -> None:
    assert candid_type_of(Annotated[int, NAT]) == NAT
    assert candid_type_of(Annotated[str, TEXT]) == TEXT
    assert candid_type_of(float32) == FLOAT32
