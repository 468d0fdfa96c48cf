"""The official Candid conformance suite (tests/candid/conformance/*.test.did).

Each ``assert`` in those files becomes one test, with an id ``<file>:<line> <desc>``.
The files are read with the package's own lexer and type parser: type definitions
first, then

    assert <input> : <types> <desc>;      the input decodes/parses at the types
    assert <input> !: <types> <desc>;     decoding/parsing raises a CandidError
    assert <input> == <input> : <types>;  both succeed and give equal values
    assert <input> != <input> : <types>;  both succeed and give different values

where an input is ``blob "..."`` (binary, decoded with `binary.decode`) or ``"..."``
(textual, parsed with `textvalue.parse_values`). Equality is Python equality, except
that two NaN floats are equal (and a bool never equals an int).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from icframework.candid.binary import decode
from icframework.candid.did import Parser
from icframework.candid.errors import CandidError
from icframework.candid.lexer import Token, describe, tokenize
from icframework.candid.textvalue import parse_values
from icframework.candid.types import CandidType, Some

SUITE = Path(__file__).parent / "conformance"

# The number of assertions in each file of the suite (as vendored, see ORIGIN.md).
EXPECTED_COUNTS = {
    "construct.test.did": 164,
    "overshoot.test.did": 10,
    "prim.test.did": 168,
    "reference.test.did": 50,
    "spacebomb.test.did": 17,
    "subtypes.test.did": 58,  # 4 more "assert" lines sit in the header comment
}


@dataclass(frozen=True)
class Input:
    binary: bool
    data: bytes

    def run(self, types: tuple[CandidType, ...]) -> tuple[Any, ...]:
        if self.binary:
            return decode(self.data, types)
        return parse_values(self.data.decode("utf-8"), types)


@dataclass(frozen=True)
class Assertion:
    file: str
    line: int
    op: str  # ":", "!:", "==" or "!="
    left: Input
    right: Input | None
    types: tuple[CandidType, ...]
    desc: str

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line} {self.desc}".rstrip()


def _read_input(p: Parser) -> Input:
    binary = p.peek().is_word("blob")
    if binary:
        p.next()
    tok: Token = p.next()
    if tok.kind != "text":
        raise tok.error(f"expected a test input (text or blob text), got {describe(tok)}")
    assert isinstance(tok.value, bytes)
    return Input(binary, tok.value)


def load_suite_file(path: Path) -> list[Assertion]:
    p = Parser(tokenize(path.read_text(encoding="utf-8")))
    while p.peek().is_word("type"):
        p.parse_definition()
        p.expect_sym(";", "after a type definition")
    p.check_refs()
    p.check_definitions()
    out: list[Assertion] = []
    while p.peek().kind != "eof":
        kw = p.next()
        if not kw.is_word("assert"):
            raise kw.error(f"expected 'assert', got {describe(kw)}")
        left = _read_input(p)
        op_tok = p.next()
        if op_tok.kind != "sym" or op_tok.text not in (":", "!:", "==", "!="):
            raise op_tok.error(f"expected ':', '!:', '==' or '!=', got {describe(op_tok)}")
        right = None
        if op_tok.text in ("==", "!="):
            right = _read_input(p)
            p.expect_sym(":", "before the test's types")
        types = p.parse_tuptype("test types")
        p.check_refs()
        desc = ""
        if p.peek().kind == "text":
            desc = p.text_value(p.next(), "description")
        p.expect_sym(";", "after an assertion")
        out.append(Assertion(path.name, kw.line, op_tok.text, left, right, types, desc))
    return out


SUITE_FILES = sorted(SUITE.glob("*.test.did"))
ASSERTIONS = [a for path in SUITE_FILES for a in load_suite_file(path)]


def same(a: Any, b: Any) -> bool:
    """Python equality, with NaN equal to NaN and bools distinct from ints."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, Some) and isinstance(b, Some):
        return same(a.value, b.value)
    return type(a) is type(b) and bool(a == b)


def test_assertion_counts() -> None:
    counts: dict[str, int] = {}
    for a in ASSERTIONS:
        counts[a.file] = counts.get(a.file, 0) + 1
    assert counts == EXPECTED_COUNTS
    assert len(ASSERTIONS) == sum(EXPECTED_COUNTS.values()) == 467


@pytest.mark.parametrize("case", ASSERTIONS, ids=[a.id for a in ASSERTIONS])
def test_conformance(case: Assertion) -> None:
    if case.op == ":":
        case.left.run(case.types)
    elif case.op == "!:":
        with pytest.raises(CandidError):
            case.left.run(case.types)
    else:
        assert case.right is not None
        left = case.left.run(case.types)
        right = case.right.run(case.types)
        if case.op == "==":
            assert same(left, right), f"{left!r} != {right!r}"
        else:
            assert not same(left, right), f"{left!r} == {right!r}"
