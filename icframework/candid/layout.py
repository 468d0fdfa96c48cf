"""Documents that lay themselves out to a line width (Wadler's prettier printer).

The reference Candid printer lays its output out this way (with the Rust ``pretty``
crate); `icframework.candid.printer` builds the same documents to print the same text.

How it works: a document is text, a concatenation, a nested block (more indentation
after each line break inside it), a group, an alternative (``Alt``: one document when
its group is broken over lines, another when it is flat) or a hard line break.
`render` walks the document with a stack of (indentation, flat?, document) commands.
A group is printed flat when its flat form, followed by the rest of the output up to
the next place a line may break, fits in the width; otherwise its line breaks are
taken. A hard line break never fits in a flat group, and it indents the next line as
much as the document that follows it is indented. Text is measured in terminal
columns (wide East Asian characters count two, combining marks none).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "HARDLINE",
    "LINE",
    "NIL",
    "SOFT",
    "Alt",
    "Cat",
    "Doc",
    "Group",
    "Nest",
    "Text",
    "cat",
    "render",
]


class Doc:
    """Base class of the document nodes."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Text(Doc):
    """Text without line breaks; ``width`` is how many columns it takes."""

    text: str
    width: int

    @classmethod
    def of(cls, text: str) -> Text:
        return cls(text, len(text) if text.isascii() else display_width(text))


@dataclass(frozen=True, slots=True)
class Cat(Doc):
    """The parts one after the other."""

    parts: tuple[Doc, ...]


@dataclass(frozen=True, slots=True)
class Nest(Doc):
    """``doc`` with line breaks inside it indented ``indent`` more columns."""

    indent: int
    doc: Doc


@dataclass(frozen=True, slots=True)
class Group(Doc):
    """``doc`` on one line if it fits, else with its line breaks taken."""

    doc: Doc


@dataclass(frozen=True, slots=True)
class Alt(Doc):
    """``broken`` where the enclosing group is broken over lines, ``flat`` where not."""

    broken: Doc
    flat: Doc


@dataclass(frozen=True, slots=True)
class _HardLine(Doc):
    pass


NIL = Cat(())
HARDLINE: Doc = _HardLine()
#: A line break, or a space when flat.
LINE: Doc = Alt(HARDLINE, Text(" ", 1))
#: A line break, or nothing when flat.
SOFT: Doc = Alt(HARDLINE, NIL)


def cat(*parts: Doc | str) -> Doc:
    """The parts in a row; a ``str`` part is `Text`."""
    return Cat(tuple(Text.of(p) if isinstance(p, str) else p for p in parts))


def display_width(text: str) -> int:
    """Terminal columns of ``text``: 2 for wide characters, 0 for marks and controls."""
    width = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me", "Cf", "Cc") or "\u1160" <= ch <= "\u11ff":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


_Command = tuple[int, bool, Doc]


def _fits(doc: Doc, rest: list[_Command], column: int, width: int) -> bool:
    """Whether ``doc`` flat, then ``rest`` up to its first line break, fits."""
    pending: list[Doc] = [doc]
    flat = True
    below = len(rest)
    while True:
        if pending:
            d = pending.pop()
        elif below == 0:
            return True
        else:
            below -= 1
            flat = False
            d = rest[below][2]
        while True:
            if isinstance(d, Text):
                column += d.width
                if column > width:
                    return False
            elif isinstance(d, Cat):
                if d.parts:
                    pending.extend(reversed(d.parts[1:]))
                    d = d.parts[0]
                    continue
            elif isinstance(d, Nest | Group):
                d = d.doc
                continue
            elif isinstance(d, Alt):
                d = d.flat if flat else d.broken
                continue
            else:
                return not flat
            break


def render(doc: Doc, width: int) -> str:
    """``doc`` laid out in ``width`` columns."""
    out: list[str] = []
    column = 0
    stack: list[_Command] = [(0, False, doc)]
    while stack:
        indent, flat, d = stack.pop()
        while True:
            if isinstance(d, Text):
                out.append(d.text)
                column += d.width
            elif isinstance(d, Cat):
                if d.parts:
                    stack.extend((indent, flat, p) for p in reversed(d.parts[1:]))
                    d = d.parts[0]
                    continue
            elif isinstance(d, Nest):
                indent += d.indent
                d = d.doc
                continue
            elif isinstance(d, Group):
                if not flat and _fits(d.doc, stack, column, width):
                    flat = True
                d = d.doc
                continue
            elif isinstance(d, Alt):
                d = d.flat if flat else d.broken
                continue
            else:
                # The next line is indented as much as what comes next.
                if stack:
                    indent, flat, d = stack.pop()
                    out.append("\n" + " " * indent)
                    column = indent
                    continue
                out.append("\n" + " " * indent)
                column = indent
            break
    return "".join(out)
