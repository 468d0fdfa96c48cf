"""Printing Candid types and .did files in a canonical, stable layout.

`format_type` prints one type on one line; `format_did` prints a whole `DidFile`.
Parsing the output gives back an equal value (``parse_did(format_did(d)) == d``).

``format_did(did, style="reference")`` prints what the reference implementation's
printer (``didc``, the Rust ``candid_parser`` crate) writes for the same file, byte for
byte: doc comments (``// ...`` above definitions, fields and methods), argument names
(``(to : Account)``), the file's own definitions before the imported ones, Rust's
escapes in quoted names (``"\'"``), ``_`` every three digits in field ids, and lines
laid out to 80 columns by `icframework.candid.layout`: a record, variant, service or
argument list stays on one line if it fits, else it puts one item per line, each ending
in its separator. A file without a service ends in a blank line, as the reference's
output does. The default style is described below.

Layout of `format_did` (the canonical form; golden files in ``tests/candid/golden``):

* type definitions first, in their order, one ``type Name = <type>;`` each; then, after
  a blank line, the service (``service : { ... }``, ``service : (args) -> { ... }`` for
  a class or ``service : Name``), with no trailing ``;``; the file ends in a newline;
* a record or variant with named (or numbered) fields and at least two fields, and a
  service type with at least two methods, is written over several lines: one field
  per line, indented by two spaces per nesting level, each ending in ``;``; the main
  service lists its methods that way whatever their number;
* a record or variant with one field is written inline (``record { a : nat }``), and
  so is a tuple record (fields 0..n-1), with the positional shorthand
  (``record { nat; text }``), unless a field's type itself spans lines; an empty one
  is ``record {}``; a variant field of type null as its bare
  label (``variant { a; b }``); ``vec nat8`` as ``blob``;
* fields are printed in field-id order and methods in name order (the order the type
  model keeps them in); labels and method names that are not identifiers, or are
  keywords or primitive type names, are quoted (``"first name" : text``).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Literal

from icframework.candid.errors import CandidError
from icframework.candid.layout import HARDLINE as _HARD
from icframework.candid.layout import LINE, NIL, SOFT, Alt, Doc, Group, Nest, cat, render
from icframework.candid.lexer import RESERVED_NAMES, is_identifier
from icframework.candid.types import (
    CandidType,
    DidFile,
    Field,
    Func,
    Opt,
    Prim,
    PrimKind,
    Record,
    Service,
    TypeRef,
    Variant,
    Vec,
)

Style = Literal["canonical", "reference"]

__all__ = ["format_did", "format_label", "format_name", "format_type", "quote_text"]

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote_text(s: str) -> str:
    """``s`` as a Candid text literal: printable characters as they are, escapes otherwise."""
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    out.append('"')
    return "".join(out)


def format_name(name: str) -> str:
    """A method or field name: bare if it is an identifier (and no keyword), else quoted."""
    return name if is_identifier(name) else quote_text(name)


def format_label(label: str | int) -> str:
    """A field label: a number as digits, a name via `format_name`."""
    return str(label) if isinstance(label, int) else format_name(label)


def _type_name(name: str) -> str:
    if not is_identifier(name):
        raise CandidError(f"type name {name!r} is not an identifier; it cannot be printed")
    return name


class _Printer:
    def __init__(self, multiline: bool) -> None:
        self.multiline = multiline

    def block(self, items: list[str], indent: int, force: bool = False, many: int = 2) -> str:
        """``{ a; b }`` inline, or one item per line when laying out over lines.

        Over lines when there are at least ``many`` items, when ``force`` is set, or
        when an item itself spans lines.
        """
        if not items:
            return "{}"
        if self.multiline and (len(items) >= many or force or any("\n" in i for i in items)):
            pad = "  " * (indent + 1)
            body = "".join(f"{pad}{item};\n" for item in items)
            return "{\n" + body + "  " * indent + "}"
        return "{ " + "; ".join(items) + " }"

    def type(self, t: CandidType, indent: int) -> str:
        if isinstance(t, TypeRef):
            return _type_name(t.name)
        if isinstance(t, Prim):
            return t.kind.keyword
        if isinstance(t, Opt):
            return "opt " + self.type(t.inner, indent)
        if isinstance(t, Vec):
            if isinstance(t.inner, Prim) and t.inner.kind is PrimKind.NAT8:
                return "blob"
            return "vec " + self.type(t.inner, indent)
        if isinstance(t, Record):
            if t.is_tuple:
                tuple_items = [self.type(f.type, indent + 1) for f in t.fields]
                return "record " + self.block(tuple_items, indent, many=1 << 32)
            items = [f"{format_label(f.label)} : {self.type(f.type, indent + 1)}" for f in t.fields]
            return "record " + self.block(items, indent)
        if isinstance(t, Variant):
            items = [
                format_label(f.label)
                if isinstance(f.type, Prim) and f.type.kind is PrimKind.NULL
                else f"{format_label(f.label)} : {self.type(f.type, indent + 1)}"
                for f in t.fields
            ]
            return "variant " + self.block(items, indent)
        if isinstance(t, Func):
            return "func " + self.functype(t, indent)
        if isinstance(t, Service):
            return "service " + self.actortype(t, indent)
        raise CandidError(f"cannot print {t!r}: not a Candid type")

    def tuple(self, types: tuple[CandidType, ...], indent: int) -> str:
        return "(" + ", ".join(self.type(t, indent) for t in types) + ")"

    def functype(self, t: Func, indent: int) -> str:
        text = self.tuple(t.args, indent) + " -> " + self.tuple(t.results, indent)
        for mode in t.modes:
            text += " " + mode
        return text

    def actortype(self, t: Service, indent: int, force: bool = False) -> str:
        items = []
        for name, mtype in t.methods:
            if isinstance(mtype, Func):
                shown = self.functype(mtype, indent + 1)
            else:
                shown = self.type(mtype, indent + 1)
            items.append(f"{format_name(name)} : {shown}")
        return self.block(items, indent, force)


def format_type(t: CandidType) -> str:
    """``t`` in .did syntax on one line (named types print as their names)."""
    try:
        return _Printer(multiline=False).type(t, 0)
    except RecursionError:
        raise CandidError("type nests too deeply to print") from None


def format_did(did: DidFile, *, style: Style = "canonical") -> str:
    """The .did text of ``did``: the canonical layout, or ``style="reference"`` for the
    reference printer's (see the module docstring for both)."""
    if style == "reference":
        try:
            return render(_reference_did(did), _WIDTH) + "\n"
        except RecursionError:
            raise CandidError("type nests too deeply to print") from None
    if style != "canonical":
        raise CandidError(f"unknown .did style {style!r}; use 'canonical' or 'reference'")
    printer = _Printer(multiline=True)
    lines: list[str] = []
    try:
        for name, definition in did.env.items():
            lines.append(f"type {_type_name(name)} = {printer.type(definition, 0)};\n")
        if did.service is not None:
            if lines:
                lines.append("\n")
            head = "service : "
            if did.service_args is not None:
                head += printer.tuple(did.service_args, 0) + " -> "
            if isinstance(did.service, Service):
                body = printer.actortype(did.service, 0, force=True)
            else:
                body = printer.type(did.service, 0)
            lines.append(head + body + "\n")
    except RecursionError:
        raise CandidError("type nests too deeply to print") from None
    return "".join(lines)


# -- the reference printer's layout ------------------------------------------------

_WIDTH = 80
_INDENT = 2
#: Names the reference printer quotes although they have identifier syntax.
_REFERENCE_KEYWORDS = RESERVED_NAMES - {"true", "false"}
_RUST_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "'": "\\'"}
#: Grapheme_Extend characters outside the Mn and Me categories.
_OTHER_EXTEND = frozenset(
    "\u09be\u09d7\u0b3e\u0b57\u0bbe\u0bd7\u0cc2\u0cd5\u0cd6\u0d3e\u0d57\u0dcf\u0ddf"
    "\u1b35\u200c\u302e\u302f\uff9e\uff9f"
)


def _rust_quote(name: str) -> str:
    """``name`` quoted with the escapes of Rust's ``escape_debug`` (``\\'``, ``\\u{e000}``)."""
    out = ['"']
    for i, ch in enumerate(name):
        esc = _RUST_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif i == 0 and (unicodedata.category(ch) in ("Mn", "Me") or ch in _OTHER_EXTEND):
            out.append(f"\\u{{{ord(ch):x}}}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{{{ord(ch):x}}}")
    out.append('"')
    return "".join(out)


def _ref_name(name: str) -> str:
    if name.isascii() and name.isidentifier() and name not in _REFERENCE_KEYWORDS:
        return name
    return _rust_quote(name)


def _ref_label(label: str | int) -> str:
    return f"{label:_}" if isinstance(label, int) else _ref_name(label)


def _kwd(word: str) -> Doc:
    return cat(word, " ")


def _enclose(left: str, doc: Doc, right: str, line: Doc) -> Doc:
    if doc is NIL:
        return cat(left, right)
    return Group(cat(Nest(_INDENT, cat(left, line, doc)), line, right))


def _separated(docs: Sequence[Doc], sep: str) -> Doc:
    """The items with ``sep`` between them, and after the last when broken over lines."""
    if not docs:
        return NIL
    parts: list[Doc] = [docs[0]]
    for d in docs[1:]:
        parts += [cat(sep, LINE), d]
    one_line = cat(*parts)
    return Alt(cat(one_line, sep), one_line)


def _lines(docs: Sequence[Doc]) -> Doc:
    return cat(*(cat(d, _HARD) for d in docs))


def _docs(lines: Sequence[str]) -> Doc:
    return _lines([cat("// ", line) for line in lines])


def _ref_type(t: CandidType) -> Doc:
    if isinstance(t, TypeRef):
        return cat(t.name)
    if isinstance(t, Prim):
        return cat(t.kind.keyword)
    if isinstance(t, Opt):
        return cat(_kwd("opt"), _ref_type(t.inner))
    if isinstance(t, Vec):
        if isinstance(t.inner, Prim) and t.inner.kind is PrimKind.NAT8:
            return cat("blob")
        return cat(_kwd("vec"), _ref_type(t.inner))
    if isinstance(t, Record):
        if not t.fields or t.is_tuple:
            items = [_ref_type(f.type) for f in t.fields]
            return cat(_kwd("record"), _enclose("{", _separated(items, ";"), "}", LINE))
        return cat(_kwd("record"), _ref_fields(t.fields, variant=False))
    if isinstance(t, Variant):
        return cat(_kwd("variant"), _ref_fields(t.fields, variant=True))
    if isinstance(t, Func):
        return cat(_kwd("func"), _ref_function(t))
    if isinstance(t, Service):
        return cat(_kwd("service"), _ref_methods(t))
    raise CandidError(f"cannot print {t!r}: not a Candid type")


def _ref_fields(fields: Sequence[Field], *, variant: bool) -> Doc:
    items = []
    for f in fields:
        label = cat(_docs(f.docs), _ref_label(f.label))
        if variant and isinstance(f.type, Prim) and f.type.kind is PrimKind.NULL:
            items.append(label)
        else:
            items.append(cat(label, _kwd(" :"), _ref_type(f.type)))
    return _enclose("{", _separated(items, ";"), "}", LINE)


def _ref_args(types: Sequence[CandidType], names: Sequence[str | None]) -> Doc:
    items = []
    for i, t in enumerate(types):
        name = names[i] if i < len(names) else None
        if name is None:
            items.append(_ref_type(t))
        else:
            items.append(cat(_ref_name(name), _kwd(" :"), _ref_type(t)))
    return _enclose("(", _separated(items, ","), ")", SOFT)


def _ref_function(f: Func) -> Doc:
    modes = [cat(" ", mode) for mode in f.modes]
    return Nest(_INDENT, cat(
        _ref_args(f.args, f.arg_names), " ->", " ", _ref_args(f.results, f.result_names), *modes
    ))


def _ref_methods(s: Service) -> Doc:
    items = []
    for name, mtype in s.listed():
        shown = _ref_function(mtype) if isinstance(mtype, Func) else _ref_type(mtype)
        items.append(cat(_docs(s.docs.get(name, ())), _ref_name(name), _kwd(" :"), shown))
    return _enclose("{", _separated(items, ";"), "}", LINE)


def _reference_did(did: DidFile) -> Doc:
    names = did.order or tuple(did.env)
    defs = _lines([
        cat(_docs(did.docs.get(name, ())), _kwd("type"), _kwd(_type_name(name)), _kwd("="),
            _ref_type(did.env[name]), ";")
        for name in names
    ])
    if did.service is None:
        return defs
    body = _ref_methods(did.service) if isinstance(did.service, Service) else (
        _ref_type(did.service)
    )
    if did.service_args is not None:
        body = cat(_ref_args(did.service_args, did.service_arg_names), " ->", " ", body)
    return cat(defs, _docs(did.service_docs), _kwd("service :"), body)
