"""Candid's textual value syntax: `parse_values` reads it, `format_values` writes it.

``(record { name = "x"; age = 5 : nat8 }, opt vec { 1; 2 }, blob "\\00\\ff")``

Parsing works in two steps. The text is first parsed (with the shared lexer and, for
``(v : t)`` annotations, the type parser of `icframework.candid.did`) into a small
syntax tree that remembers the line and column of every value. That tree is then
coerced to the expected types (or to types inferred from it when none are given),
producing the Python values of the mapping in `icframework.candid.types`. Coercion
follows the spec's rules for textual values:

* numbers must fit their type (``-1`` is not a ``nat``, ``256`` not a ``nat8``); an
  integer literal is accepted at a float type, a float literal only at float types;
  ``nan``, ``inf`` and ``-inf`` are accepted at float types (an extension, so that
  every float can be written);
* ``null`` is a value of null, of any ``opt`` and of ``reserved``; ``opt v`` is a value
  of ``opt T`` when ``v`` is one of ``T``; a value that is neither ``null`` nor
  ``opt ...`` also stands for ``opt v`` at an ``opt`` type (the spec's special opt
  rule). Unlike the binary decoder, a value that does not fit is an error rather than
  silently read as ``null``;
* any well-formed value is accepted at ``reserved`` (giving ``None``);
* record fields are matched by id (a name's hash or a number, given as ``name =``,
  ``"quoted name" =``, ``7 =`` or positionally for 0, 1, ...); fields the type does not
  have are ignored, missing fields are ``None`` when their type is null, opt or
  reserved and an error otherwise;
* a variant value names one field of the variant type;
* ``blob "..."`` is a ``vec nat8`` written as bytes; ``vec { 1; 2 }`` at ``vec nat8`` is
  ``bytes`` too;
* ``principal "..."`` is checked with `Principal.from_text`; ``service "..."`` is a value of
  service types and of ``principal``; ``func "..".m`` gives a `FuncRef`;
* ``(v : t)``: ``v`` must be a value of ``t``; with an expected type it is then read at
  that type, without one ``t`` is its type;
* missing trailing arguments are ``None`` when their type is null, opt or reserved;
  extra arguments are ignored (like the binary decoder, per the spec's tuple rule).

Without expected types the types are inferred: a non-negative integer is ``nat``, a
negative one ``int``, a float literal ``float64``, ``vec`` elements must share a type
(``nat`` and ``int`` mix as ``int``, ``null`` and ``opt T`` as ``opt T``) and ``vec {}``
is ``vec empty``, ``service`` values are ``service {}`` and ``func`` values
``func () -> ()``. `parse_values_inferred` returns those types along with the values.

The printing style of `format_values` (like ``didc``/dfx, on a single line):

* the arguments in parentheses separated by ``", "``: ``(1 : nat, "x")``;
* every number carries its type: ``42 : nat``, ``-1 : int``, ``5 : nat8``,
  ``1.5 : float64`` (digits grouped with ``_`` by thousands: ``1_000_000 : nat``;
  floats in their shortest round-tripping form, float32 included; ``nan``/``inf``);
  where the grammar needs it (after ``opt``) the annotation is parenthesised:
  ``opt (5 : nat8)``. Parsing the output without types hence gives the same types;
* ``record { name = "x"; age = 5 : nat8 }`` with fields in field-id order, a tuple
  record positionally (``record { 1 : nat; "x" }``), ``record {}`` when empty;
  ``variant { ok = "good" }``, and ``variant { nil }`` for a null payload;
* ``vec { 1 : int; 2 : int }``, ``vec {}``; bytes (``vec nat8``) as ``blob "..."`` with
  printable ASCII as is and any other byte as ``\\xx``;
* text in double quotes, escaping ``\\ " \\n \\r \\t`` and non-printable characters as
  ``\\u{...}``; ``principal "aaaaa-aa"``, ``service "..."``, ``func "...".method``;
* ``null`` for null and reserved values and an absent opt, ``opt v`` for a present one.

The output parses back (`parse_values`) to equal values at the same types, as long
as it nests no deeper than the parser's limit (`lexer.MAX_NESTING` levels, where a
parenthesised annotation such as ``opt (5 : nat8)`` counts as two). Printing itself
works iteratively and handles values of any depth.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from icframework.candid.did import Parser
from icframework.candid.errors import CandidEncodeError, CandidParseError, CandidTypeError
from icframework.candid.lexer import Token, describe, tokenize
from icframework.candid.printer import format_label, format_name, format_type, quote_text
from icframework.candid.types import (
    BLOB,
    BOOL,
    EMPTY,
    FLOAT64,
    INT,
    NAT,
    NULL,
    PRINCIPAL,
    TEXT,
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
    idl_hash,
    is_nullish,
)
from icframework.core import Principal
from icframework.core.errors import PrincipalError

__all__ = ["format_value", "format_values", "parse_values", "parse_values_inferred"]

_INT_RANGES: dict[PrimKind, tuple[int, int]] = {
    PrimKind.NAT8: (0, 2**8 - 1),
    PrimKind.NAT16: (0, 2**16 - 1),
    PrimKind.NAT32: (0, 2**32 - 1),
    PrimKind.NAT64: (0, 2**64 - 1),
    PrimKind.INT8: (-(2**7), 2**7 - 1),
    PrimKind.INT16: (-(2**15), 2**15 - 1),
    PrimKind.INT32: (-(2**31), 2**31 - 1),
    PrimKind.INT64: (-(2**63), 2**63 - 1),
}
_FLOAT_KINDS = (PrimKind.FLOAT32, PrimKind.FLOAT64)
_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "infinity": math.inf}
_MAX_OPT_UNFOLD = 64
# Words that start a value (an identifier that is none of these must be a field name).
_VALUE_WORDS = frozenset({
    "true", "false", "null", "opt", "vec", "blob", "record", "variant", "principal",
    "service", "func",
})

# ============================================================================ parsing


@dataclass(slots=True, eq=False)
class _Val:
    """A parsed value, not yet typed. ``kind`` says which; ``tok`` is where it starts.

    kinds and their ``value``/``items``: ``int``/``float`` (the number; ``special`` marks
    nan/inf), ``bool``, ``null``, ``text`` (str), ``blob`` (bytes), ``opt`` (items=[v]),
    ``vec`` (items), ``record`` (fields), ``variant`` (value=label, items=[v]),
    ``principal``/``service`` (Principal), ``func`` (FuncRef), ``annot`` (value=the
    type, items=[v]).
    """

    kind: str
    tok: Token
    value: Any = None
    items: list[_Val] = field(default_factory=list)
    fields: list[tuple[str | int, int, _Val]] = field(default_factory=list)
    special: bool = False
    literal: str = ""


class _ValueParser(Parser):
    def parse_args(self) -> list[_Val]:
        """The arguments; afterwards ``self.end`` is the token that closed them."""
        if not self.peek().is_sym("("):
            vals = [self.parse_annval()]
            self.end = self.peek()
        else:
            self.next()
            vals = []
            while not self.peek().is_sym(")"):
                vals.append(self.parse_annval())
                sep = self.peek()
                if sep.is_sym(","):
                    self.next()
                elif not sep.is_sym(")"):
                    raise sep.error(
                        f"expected ',' or ')' after argument {len(vals)}, got {describe(sep)}"
                    )
            self.end = self.next()
        self.expect_eof("after the values")
        return vals

    def parse_annval(self) -> _Val:
        v = self.parse_val()
        colon = self.peek()
        if colon.is_sym(":"):
            self.next()
            self.enter(colon)
            t = self.parse_datatype()
            self.check_refs()
            self.leave()
            return _Val("annot", colon, t, [v])
        return v

    def parse_number(self, sign_tok: Token | None) -> _Val:
        tok = self.next()
        start = sign_tok or tok
        negative = sign_tok is not None and sign_tok.text == "-"
        literal = (sign_tok.text if sign_tok else "") + tok.text
        if tok.kind == "nat":
            assert isinstance(tok.value, int)
            return _Val("int", start, -tok.value if negative else tok.value, literal=literal)
        if tok.kind == "float":
            assert isinstance(tok.value, float)
            return _Val("float", start, -tok.value if negative else tok.value, literal=literal)
        if tok.kind == "id" and tok.text.lower() in _SPECIAL_FLOATS:
            value = _SPECIAL_FLOATS[tok.text.lower()]
            return _Val(
                "float", start, -value if negative else value, special=True, literal=literal
            )
        shown = f"'{sign_tok.text}'" if sign_tok else "a value"
        raise tok.error(f"expected a number after {shown}, got {describe(tok)}")

    def text_arg(self, kw: Token, what: str) -> Token:
        tok = self.next()
        if tok.kind != "text":
            raise tok.error(f"expected {what} in quotes after '{kw.text}', got {describe(tok)}")
        return tok

    def principal_arg(self, kw: Token) -> Principal:
        tok = self.text_arg(kw, "a principal")
        text = self.text_value(tok, "principal")
        try:
            return Principal.from_text(text)
        except PrincipalError as exc:
            raise tok.error(f"invalid principal {tok.text}: {exc}") from None

    def parse_val(self) -> _Val:
        tok = self.peek()
        if tok.kind in ("nat", "float"):
            return self.parse_number(None)
        if tok.is_sym("+") or tok.is_sym("-"):
            self.next()
            return self.parse_number(tok)
        if tok.kind == "text":
            self.next()
            return _Val("text", tok, self.text_value(tok, "text"))
        if tok.is_sym("("):
            self.next()
            self.enter(tok)
            v = self.parse_annval()
            self.expect_sym(")", "to close the parenthesised value")
            self.leave()
            return v
        if tok.kind != "id":
            raise tok.error(f"expected a value, got {describe(tok)}")
        word = tok.text
        if word in ("true", "false"):
            self.next()
            return _Val("bool", tok, word == "true")
        if word == "null":
            self.next()
            return _Val("null", tok)
        if word.lower() in _SPECIAL_FLOATS:
            return self.parse_number(None)
        if word == "opt":
            self.next()
            self.enter(tok)
            inner = self.parse_val()
            self.leave()
            return _Val("opt", tok, items=[inner])
        if word == "vec":
            self.next()
            self.enter(tok)
            self.expect_sym("{", "after 'vec'")
            items: list[_Val] = []
            while not self.peek().is_sym("}"):
                items.append(self.parse_annval())
                sep = self.peek()
                if sep.is_sym(";"):
                    self.next()
                elif not sep.is_sym("}"):
                    raise sep.error(
                        f"expected ';' or '}}' after a vec element, got {describe(sep)}"
                    )
            self.next()
            self.leave()
            return _Val("vec", tok, items=items)
        if word == "blob":
            self.next()
            text = self.text_arg(tok, "the bytes")
            assert isinstance(text.value, bytes)
            return _Val("blob", tok, text.value)
        if word == "record":
            self.next()
            return self.parse_record(tok)
        if word == "variant":
            self.next()
            return self.parse_variant(tok)
        if word in ("principal", "service"):
            self.next()
            return _Val(word, tok, self.principal_arg(tok))
        if word == "func":
            self.next()
            service = self.principal_arg(tok)
            self.expect_sym(".", "between the func's service and its method name")
            mtok = self.next()
            method = self.name_of(mtok, "a method name")
            return _Val("func", tok, FuncRef(service, method))
        raise tok.error(f"expected a value, got {describe(tok)}")

    def parse_field_label(self, in_record: bool) -> tuple[str | int, int] | None:
        """``<name> =`` or ``<nat> =`` if present (consumed), else None."""
        tok = self.peek()
        after = self.peek(1)
        if tok.kind in ("id", "text", "nat") and after.is_sym("="):
            label = self.parse_label(tok)
            self.pos += 2
            return label, (idl_hash(label) if isinstance(label, str) else label)
        if (
            in_record
            and tok.kind == "id"
            and tok.text not in _VALUE_WORDS
            and tok.text.lower() not in _SPECIAL_FLOATS
        ):
            raise after.error(
                f"expected '=' after field name '{tok.text}', got {describe(after)}"
            )
        return None

    def parse_record(self, kw: Token) -> _Val:
        self.enter(kw)
        self.expect_sym("{", "after 'record'")
        fields: list[tuple[str | int, int, _Val]] = []
        seen: dict[int, str | int] = {}
        next_id = 0
        while not self.peek().is_sym("}"):
            tok = self.peek()
            labelled = self.parse_field_label(in_record=True)
            label, fid = labelled if labelled is not None else (next_id, next_id)
            if fid in seen:
                other = seen[fid]
                same = "is given twice" if other == label else f"has the same id as {other!r}"
                raise tok.error(f"record field {label!r} {same}")
            seen[fid] = label
            fields.append((label, fid, self.parse_annval()))
            next_id = fid + 1
            sep = self.peek()
            if sep.is_sym(";"):
                self.next()
            elif not sep.is_sym("}"):
                raise sep.error(
                    f"expected ';' or '}}' after record field {label!r}, got {describe(sep)}"
                )
        self.next()
        self.leave()
        return _Val("record", kw, fields=fields)

    def parse_variant(self, kw: Token) -> _Val:
        self.enter(kw)
        self.expect_sym("{", "after 'variant'")
        tok = self.peek()
        labelled = self.parse_field_label(in_record=False)
        if labelled is not None:
            label, fid = labelled
            v = self.parse_annval()
        elif tok.kind in ("id", "text", "nat"):
            label = self.parse_label(tok)
            fid = idl_hash(label) if isinstance(label, str) else label
            self.next()
            v = _Val("null", tok)
        else:
            raise tok.error(
                f"expected the variant's field ('label = value' or 'label'), got {describe(tok)}"
            )
        if self.peek().is_sym(";"):
            self.next()
        self.expect_sym("}", f"after variant field {label!r} (a variant value has one field)")
        self.leave()
        return _Val("variant", kw, label, [v], [(label, fid, v)])


# =========================================================================== coercion


def _show_type(t: CandidType) -> str:
    try:
        shown = format_type(t)
    except Exception:
        shown = repr(t)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _show_val(v: _Val) -> str:
    if v.kind in ("int", "float"):
        return f"'{v.literal or v.value}'"
    if v.kind in ("bool", "null", "text"):
        return describe(v.tok)
    return {
        "blob": "a blob", "opt": "an opt value", "vec": "a vec value",
        "record": "a record value", "variant": "a variant value",
        "principal": "a principal value", "service": "a service value",
        "func": "a func value", "annot": "an annotated value",
    }.get(v.kind, v.kind)


def _mismatch(v: _Val, t: CandidType, detail: str = "") -> CandidParseError:
    reason = f"expected a value of type {_show_type(t)}, got {_show_val(v)}"
    if detail:
        reason += f" ({detail})"
    return v.tok.error(reason)


def _resolve(t: CandidType, v: _Val) -> CandidType:
    if isinstance(t, TypeRef):
        try:
            return t.resolve()
        except CandidTypeError as exc:
            raise v.tok.error(str(exc)) from None
    return t


def _float32(x: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return result


def _coerce_number(v: _Val, t: Prim, shown: CandidType) -> Any:
    kind = t.kind
    value = v.value
    if kind in _FLOAT_KINDS:
        x = float(value)
        if math.isinf(x) and not v.special:
            raise _mismatch(v, shown, "out of range")
        if kind is PrimKind.FLOAT32:
            try:
                return _float32(x)
            except OverflowError:
                raise _mismatch(v, shown, "out of range for float32") from None
        return x
    if v.kind == "float":
        raise _mismatch(v, shown, "a float literal is not an integer")
    if kind is PrimKind.NAT:
        if value < 0:
            raise _mismatch(v, shown, "nat is never negative")
        return value
    if kind is PrimKind.INT:
        return value
    lo, hi = _INT_RANGES[kind]
    if not lo <= value <= hi:
        raise _mismatch(v, shown, f"{kind.keyword} ranges over {lo}..{hi}")
    return value


def _coerce(v: _Val, named: CandidType, unfold: int = 0) -> Any:
    """The Python value of ``v`` at type ``named`` (raise `CandidParseError` at ``v``)."""
    # Written as one function with plain loops, so that each level of nesting costs
    # one Python frame; errors name the type as given (``List``), not its expansion.
    t = _resolve(named, v)
    if v.kind == "annot":
        _coerce(v.items[0], v.value)
        return _coerce(v.items[0], t)
    if isinstance(t, Prim):
        kind = t.kind
        if kind is PrimKind.RESERVED:
            return None
        if v.kind in ("int", "float") and (kind in _INT_RANGES or kind in (
            PrimKind.NAT, PrimKind.INT, PrimKind.FLOAT32, PrimKind.FLOAT64
        )):
            return _coerce_number(v, t, named)
        if kind is PrimKind.NULL and v.kind == "null":
            return None
        if kind is PrimKind.BOOL and v.kind == "bool":
            return v.value
        if kind is PrimKind.TEXT and v.kind == "text":
            return v.value
        if kind is PrimKind.PRINCIPAL and v.kind in ("principal", "service"):
            return v.value
        if kind is PrimKind.EMPTY:
            raise _mismatch(v, named, "no value has type empty")
        raise _mismatch(v, named)
    if isinstance(t, Opt):
        if v.kind == "null":
            return None
        if v.kind == "opt":
            inner = _coerce(v.items[0], t.inner)
        else:
            if unfold >= _MAX_OPT_UNFOLD:
                raise _mismatch(v, named, "write it as 'opt ...'")
            inner = _coerce(v, t.inner, unfold + 1)
        return Some(inner) if is_nullish(t.inner) else inner
    if isinstance(t, Vec):
        elem = _resolve(t.inner, v)
        is_bytes = isinstance(elem, Prim) and elem.kind is PrimKind.NAT8
        if v.kind == "blob":
            if is_bytes:
                return v.value
            out = []
            for byte in v.value:
                out.append(_coerce(_Val("int", v.tok, byte, literal=str(byte)), elem))
            return out
        if v.kind != "vec":
            raise _mismatch(v, named)
        elements = []
        for element in v.items:
            elements.append(_coerce(element, elem))
        return bytes(elements) if is_bytes else elements
    if isinstance(t, Record):
        if v.kind != "record":
            raise _mismatch(v, named)
        given = {fid: item for _, fid, item in v.fields}
        values: list[Any] = []
        for f in t.fields:
            field_val = given.get(f.id)
            if field_val is not None:
                values.append(_coerce(field_val, f.type))
            elif is_nullish(f.type):
                values.append(None)
            else:
                raise _mismatch(v, named, f"field {format_label(f.label)} is missing")
        if t.is_tuple:
            return tuple(values)
        return {f.label: value for f, value in zip(t.fields, values, strict=True)}
    if isinstance(t, Variant):
        if v.kind != "variant":
            raise _mismatch(v, named)
        _, fid, item = v.fields[0]
        for f in t.fields:
            if f.id == fid:
                return {f.label: _coerce(item, f.type)}
        raise _mismatch(v, named, f"the type has no field {format_label(v.value)}")
    if isinstance(t, Service):
        if v.kind != "service":
            hint = "; write service \"...\"" if v.kind == "principal" else ""
            raise _mismatch(v, named, f"a service reference is needed{hint}")
        return v.value
    if isinstance(t, Func):
        if v.kind != "func":
            raise _mismatch(v, named)
        return v.value
    raise _mismatch(v, named, "not a Candid type")


# ========================================================================== inference


def _unify(a: CandidType, b: CandidType) -> CandidType | None:
    if a == b:
        return a
    if {a, b} == {NAT, INT}:
        return INT
    if a == EMPTY:
        return b
    if b == EMPTY:
        return a
    if a == NULL and isinstance(b, Opt):
        return b
    if b == NULL and isinstance(a, Opt):
        return a
    if isinstance(a, Opt) and isinstance(b, Opt):
        inner = _unify(a.inner, b.inner)
        return None if inner is None else Opt(inner)
    if isinstance(a, Vec) and isinstance(b, Vec):
        inner = _unify(a.inner, b.inner)
        return None if inner is None else Vec(inner)
    if isinstance(a, Record) and isinstance(b, Record):
        if [f.id for f in a.fields] != [f.id for f in b.fields]:
            return None
        fields = []
        for fa, fb in zip(a.fields, b.fields, strict=True):
            ft = _unify(fa.type, fb.type)
            if ft is None:
                return None
            fields.append(Field(fa.label, ft))
        return Record(fields)
    if isinstance(a, Variant) and isinstance(b, Variant):
        merged = {f.id: f for f in a.fields}
        for fb in b.fields:
            known = merged.get(fb.id)
            if known is None:
                merged[fb.id] = fb
                continue
            unified = _unify(known.type, fb.type)
            if unified is None:
                return None
            merged[fb.id] = Field(known.label, unified)
        return Variant(merged.values())
    return None


def _infer(v: _Val) -> CandidType:
    kind = v.kind
    if kind == "int":
        return INT if v.value < 0 else NAT
    if kind == "float":
        return FLOAT64
    simple = {
        "bool": BOOL, "null": NULL, "text": TEXT, "blob": BLOB, "principal": PRINCIPAL,
    }.get(kind)
    if simple is not None:
        return simple
    if kind == "service":
        return Service()
    if kind == "func":
        return Func()
    if kind == "annot":
        t: CandidType = v.value
        return t
    if kind == "opt":
        return Opt(_infer(v.items[0]))
    if kind == "vec":
        elem: CandidType = EMPTY
        for item in v.items:
            item_type = _infer(item)
            unified = _unify(elem, item_type)
            if unified is None:
                raise item.tok.error(
                    f"cannot infer one element type for this vec: {_show_type(elem)} and "
                    f"{_show_type(item_type)} differ; annotate it, e.g. (vec {{ ... }} : vec T)"
                )
            elem = unified
        return Vec(elem)
    if kind == "record":
        fields = []
        for label, _, item in v.fields:  # a plain loop: one frame per nesting level
            fields.append(Field(label, _infer(item)))
        return Record(fields)
    if kind == "variant":
        label, _, item = v.fields[0]
        return Variant([Field(label, _infer(item))])
    raise v.tok.error(f"cannot infer the type of {_show_val(v)}")


# ============================================================================== API


def _parse(text: str, env: TypeEnv | None) -> tuple[list[_Val], Token]:
    parser = _ValueParser(tokenize(text), env)
    try:
        return parser.parse_args(), parser.end
    except RecursionError:
        raise CandidParseError(1, 1, "input nests too deeply") from None


def parse_values(
    text: str,
    types: Sequence[CandidType] | None = None,
    *,
    env: TypeEnv | None = None,
) -> tuple[Any, ...]:
    """Parse textual Candid arguments ``(v1, v2, ...)`` into Python values.

    With ``types`` each value is coerced to its type (see the module docstring); without,
    the types are inferred. A single value may also be given without parentheses.
    ``env`` resolves type names used in annotations (``(x : MyType)``). Raises
    `CandidParseError` (line, column, reason) for malformed text and for values that do
    not fit their types.
    """
    if types is None:
        return parse_values_inferred(text, env=env)[1]
    if isinstance(types, CandidType):
        raise TypeError("parse_values() takes a sequence of types, e.g. [NAT], not one type")
    types = tuple(types)
    vals, end = _parse(text, env)
    out: list[Any] = []
    try:
        for i, t in enumerate(types):
            if i < len(vals):
                out.append(_coerce(vals[i], t))
            elif is_nullish(t):
                out.append(None)
            else:
                raise end.error(
                    f"expected {len(types)} values, got {len(vals)}: argument {i + 1} of type "
                    f"{_show_type(t)} is missing"
                )
    except RecursionError:
        raise CandidParseError(1, 1, "value nests too deeply") from None
    except CandidTypeError as exc:
        raise CandidParseError(1, 1, str(exc)) from None
    return tuple(out)


def parse_values_inferred(
    text: str, *, env: TypeEnv | None = None
) -> tuple[tuple[CandidType, ...], tuple[Any, ...]]:
    """Parse textual arguments without expected types: the inferred types and the values."""
    vals, _ = _parse(text, env)
    try:
        types = tuple(_infer(v) for v in vals)
        values = tuple(_coerce(v, t) for v, t in zip(vals, types, strict=True))
    except RecursionError:
        raise CandidParseError(1, 1, "value nests too deeply") from None
    return types, values


# ========================================================================== printing


def _format_int(n: int) -> str:
    return f"{n:_}"


def _format_float(x: float, kind: PrimKind) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if kind is PrimKind.FLOAT32:
        for digits in range(1, 10):
            shown = f"{x:.{digits}g}"
            try:
                if _float32(float(shown)) == x:
                    break
            except OverflowError:  # rounded up past the largest float32
                continue
    else:
        shown = repr(x)
    if not any(c in shown for c in ".en"):
        shown += ".0"
    return shown


def _format_blob(data: bytes) -> str:
    out = ['blob "']
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x22, 0x5C):
            out.append(chr(b))
        else:
            out.append(f"\\{b:02x}")
    out.append('"')
    return "".join(out)


def _as_bytes(value: Any) -> bytes | None:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, list | tuple) and all(
        isinstance(b, int) and not isinstance(b, bool) and 0 <= b < 256 for b in value
    ):
        return bytes(value)
    return None


def _bad(value: Any, t: CandidType, detail: str = "") -> CandidEncodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    msg = f"cannot print {shown} as a value of type {_show_type(t)}"
    return CandidEncodeError(msg + (f": {detail}" if detail else ""))


def _record_items(value: Any, t: Record) -> list[Any]:
    """The values of ``t``'s fields (in field order) taken from a Python record value."""
    if isinstance(value, Mapping):
        labels = {f.label for f in t.fields}
        extra = [k for k in value if k not in labels]
        if extra:
            raise _bad(value, t, f"the type has no field(s) {extra!r}")
        items = []
        for f in t.fields:
            if f.label in value:
                items.append(value[f.label])
            elif is_nullish(f.type):
                items.append(None)
            else:
                raise _bad(value, t, f"field {f.label!r} is missing")
        return items
    if t.is_tuple and isinstance(value, tuple | list):
        if len(value) != len(t.fields):
            raise _bad(value, t, f"expected {len(t.fields)} items, got {len(value)}")
        return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = []
        for f in t.fields:
            if isinstance(f.label, str) and hasattr(value, f.label):
                items.append(getattr(value, f.label))
            elif is_nullish(f.type):
                items.append(None)
            else:
                raise _bad(value, t, f"field {f.label!r} is missing")
        return items
    raise _bad(value, t, "expected a dict (or a tuple for a tuple record)")


def _format_into(value: Any, t: CandidType, out: list[str]) -> None:
    """Append the text of ``value`` at ``t`` to ``out`` (iteratively: any depth works)."""
    # The stack holds text to emit, or (value, type, parenthesise-annotations) to print.
    stack: list[str | tuple[Any, CandidType, bool]] = [(value, t, False)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        v, typ, paren = item
        if isinstance(typ, TypeRef):
            typ = typ.resolve()
        if isinstance(typ, Prim):
            out.append(_format_prim(v, typ, paren))
        elif isinstance(typ, Opt):
            if v is None:
                out.append("null")
                continue
            if isinstance(v, Some):
                v = v.value
            elif is_nullish(typ.inner):
                raise _bad(v, typ, "a present value of this opt type must be wrapped in Some")
            out.append("opt ")
            stack.append((v, typ.inner, True))
        elif isinstance(typ, Vec):
            elem = typ.inner.resolve() if isinstance(typ.inner, TypeRef) else typ.inner
            if isinstance(elem, Prim) and elem.kind is PrimKind.NAT8:
                data = _as_bytes(v)
                if data is None:
                    raise _bad(v, typ, "expected bytes")
                out.append(_format_blob(data))
                continue
            if isinstance(v, str | bytes | Mapping) or not isinstance(v, Sequence):
                raise _bad(v, typ, "expected a list")
            if not v:
                out.append("vec {}")
                continue
            stack.append(" }")
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], typ.inner, False))
                if i:
                    stack.append("; ")
            out.append("vec { ")
        elif isinstance(typ, Record):
            items = _record_items(v, typ)
            if not items:
                out.append("record {}")
                continue
            stack.append(" }")
            for i in range(len(items) - 1, -1, -1):
                stack.append((items[i], typ.fields[i].type, False))
                if not typ.is_tuple:
                    stack.append(f"{format_label(typ.fields[i].label)} = ")
                if i:
                    stack.append("; ")
            out.append("record { ")
        elif isinstance(typ, Variant):
            if not isinstance(v, Mapping) or len(v) != 1:
                raise _bad(v, typ, "expected a dict with exactly one entry")
            ((label, payload),) = v.items()
            for f in typ.fields:
                if f.label == label:
                    break
            else:
                raise _bad(v, typ, f"the type has no field {label!r}")
            ftype = f.type.resolve() if isinstance(f.type, TypeRef) else f.type
            if ftype == NULL and payload is None:
                out.append(f"variant {{ {format_label(label)} }}")
                continue
            stack.append(" }")
            stack.append((payload, f.type, False))
            out.append(f"variant {{ {format_label(label)} = ")
        elif isinstance(typ, Func):
            if isinstance(v, tuple) and len(v) == 2 and not isinstance(v, FuncRef):
                v = FuncRef(*v)
            if not isinstance(v, FuncRef) or not isinstance(v.service, Principal):
                raise _bad(v, typ, "expected a FuncRef")
            out.append(f'func "{v.service.to_text()}".{format_name(v.method)}')
        elif isinstance(typ, Service):
            if not isinstance(v, Principal):
                raise _bad(v, typ, "expected a Principal")
            out.append(f'service "{v.to_text()}"')
        else:
            raise _bad(v, typ, "not a Candid type")


def _format_prim(v: Any, t: Prim, paren: bool) -> str:
    kind = t.kind
    if kind is PrimKind.NULL:
        if v is not None:
            raise _bad(v, t, "expected None")
        return "null"
    if kind is PrimKind.RESERVED:
        return "null"
    if kind is PrimKind.BOOL:
        if not isinstance(v, bool):
            raise _bad(v, t, "expected a bool")
        return "true" if v else "false"
    if kind is PrimKind.TEXT:
        if not isinstance(v, str):
            raise _bad(v, t, "expected a str")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(v, t, "text contains a lone surrogate") from None
        return quote_text(v)
    if kind is PrimKind.PRINCIPAL:
        if not isinstance(v, Principal):
            raise _bad(v, t, "expected a Principal")
        return f'principal "{v.to_text()}"'
    if kind is PrimKind.EMPTY:
        raise _bad(v, t, "no value has type empty")
    if kind in _FLOAT_KINDS:
        if not isinstance(v, float | int) or isinstance(v, bool):
            raise _bad(v, t, "expected a float")
        x = float(v)
        if kind is PrimKind.FLOAT32 and not math.isinf(x) and not math.isnan(x):
            try:
                x = _float32(x)
            except OverflowError:
                raise _bad(v, t, "out of range for float32") from None
        shown = _format_float(x, kind)
    else:
        if not isinstance(v, int) or isinstance(v, bool):
            raise _bad(v, t, "expected an int")
        bounds = _INT_RANGES.get(kind)
        if bounds is not None and not bounds[0] <= v <= bounds[1]:
            raise _bad(v, t, f"out of range {bounds[0]}..{bounds[1]}")
        if kind is PrimKind.NAT and v < 0:
            raise _bad(v, t, "nat is never negative")
        shown = _format_int(v)
    text = f"{shown} : {kind.keyword}"
    return f"({text})" if paren else text


def format_value(value: Any, t: CandidType) -> str:
    """One value in textual form (as an argument is written inside ``(...)``)."""
    out: list[str] = []
    try:
        _format_into(value, t, out)
    except CandidTypeError as exc:
        raise CandidEncodeError(str(exc)) from None
    return "".join(out)


def format_values(values: Sequence[Any], types: Sequence[CandidType]) -> str:
    """Textual Candid arguments ``(v1, v2, ...)`` for ``values`` at ``types``.

    The style is described in the module docstring; `parse_values` reads the result
    back to equal values. Raises `CandidEncodeError` if a value does not fit its type.
    """
    if isinstance(types, CandidType):
        raise TypeError("format_values() takes a sequence of types, e.g. [NAT], not one type")
    if len(values) != len(types):
        raise CandidEncodeError(f"{len(values)} values for {len(types)} types")
    return "(" + ", ".join(format_value(v, t) for v, t in zip(values, types, strict=True)) + ")"
