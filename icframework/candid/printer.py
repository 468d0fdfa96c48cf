"""Printing Candid types and .did files in a canonical, stable layout.

`format_type` prints one type on one line; `format_did` prints a whole `DidFile`.
Parsing the output gives back an equal value (``parse_did(format_did(d)) == d``).

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

from icframework.candid.errors import CandidError
from icframework.candid.lexer import is_identifier
from icframework.candid.types import (
    CandidType,
    DidFile,
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


def format_did(did: DidFile) -> str:
    """The canonical .did text of ``did`` (see the module docstring for the layout)."""
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
