"""The tokenizer shared by the .did parser (`icframework.candid.did`) and the textual
value parser (`icframework.candid.textvalue`).

How it works: `tokenize` turns the whole input into a list of `Token` objects ending in
an ``eof`` token. Every token records the 1-based line and column (counted in code
points) where it starts, so parsers can report errors as `CandidParseError` with a
position. Whitespace and comments (``// ...`` to the end of the line, and ``/* ... */``
which nests) are skipped, but line comments are kept as doc comments the way the
reference parser keeps them: the ``//`` lines just before a token (none of them at the
end of a line holding an earlier token, and no blank line between them and the token)
become that token's ``docs``, each without its leading ``//`` pairs and surrounding
whitespace. A blank line between two comment lines drops the lines above it; text
literals take no doc comments and leave the pending ones to the next token.

Token kinds:

* ``id``: an identifier or keyword (``[A-Za-z_][A-Za-z0-9_]*``); parsers decide which
  keywords they expect, so ``value`` is simply the text.
* ``text``: a string literal; ``value`` is the ``bytes`` it denotes after escapes
  (``\\n \\r \\t \\\\ \\" \\'``, ``\\u{hex}`` code points, ``\\XX`` raw bytes). Whether the
  bytes must be UTF-8 is up to the parser (``blob "..."`` may hold any bytes).
* ``nat``: an unsigned integer literal (decimal or ``0x`` hex); after its first digit
  ``_`` may appear anywhere (``1_000``, ``2_``, ``1__0``), as the reference parser
  allows; ``value`` is the ``int``.
* ``float``: a float literal (decimal with ``.`` and/or exponent, or hex with ``.``
  and/or ``p`` exponent); ``value`` is the ``float``.
* ``sym``: punctuation: ``= ( ) { } ; , . : -> == != !: + -``; ``value`` is the text.
* ``eof``: the end of the input.

Signs are separate ``sym`` tokens; the value parser combines them with the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from icframework.candid.errors import CandidParseError

__all__ = [
    "KEYWORDS",
    "MAX_NESTING",
    "RESERVED_NAMES",
    "Token",
    "TokenKind",
    "describe",
    "is_identifier",
    "tokenize",
]

TokenKind = Literal["id", "text", "nat", "float", "sym", "eof"]

#: The keywords of the Candid grammars (types, values and the test-suite extension).
KEYWORDS = frozenset({
    "type", "import", "service", "func", "query", "oneway", "composite_query",
    "opt", "vec", "record", "variant", "blob", "principal", "null", "true", "false",
})

_PRIMITIVE_NAMES = frozenset({
    "nat", "nat8", "nat16", "nat32", "nat64", "int", "int8", "int16", "int32", "int64",
    "float32", "float64", "bool", "text", "null", "reserved", "empty", "principal",
})

#: Words a printer must quote when used as a label or method name: keywords and the
#: names of primitive types (other tools reject these as bare identifiers).
RESERVED_NAMES = KEYWORDS | _PRIMITIVE_NAMES

#: How deeply parsers let constructs nest before raising `CandidParseError`; keeps
#: recursive-descent parsing and the code that walks its result far from Python's
#: recursion limit.
MAX_NESTING = 200

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEC_RE = re.compile(r"[0-9][0-9_]*")
_HEX_RE = re.compile(r"[0-9A-Fa-f][0-9A-Fa-f_]*")
_WORD_TAIL_RE = re.compile(r"[A-Za-z0-9_.]*")

_SIMPLE_ESCAPES = {
    "n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\", '"': b'"', "'": b"'",
}
_TWO_CHAR_SYMBOLS = ("->", "==", "!=", "!:")
_ONE_CHAR_SYMBOLS = frozenset("=(){};,.:+-")
#: What the reference parser trims around a doc comment line (Unicode White_Space).
_WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_identifier(name: str) -> bool:
    """True if ``name`` can be written bare: identifier syntax and not a reserved word."""
    return _IDENT_RE.fullmatch(name) is not None and name not in RESERVED_NAMES


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, source text, decoded value and 1-based start position."""

    kind: TokenKind
    text: str
    value: object
    line: int
    column: int
    docs: tuple[str, ...] = ()

    def is_sym(self, sym: str) -> bool:
        """True if this is the punctuation token ``sym``."""
        return self.kind == "sym" and self.text == sym

    def is_word(self, word: str) -> bool:
        """True if this is the identifier or keyword ``word``."""
        return self.kind == "id" and self.text == word

    def error(self, reason: str) -> CandidParseError:
        """A `CandidParseError` at this token's position."""
        return CandidParseError(self.line, self.column, reason)


def describe(tok: Token) -> str:
    """How error messages name a token: ``'='``, ``'owner'``, ``"a" (text)``, end of input."""
    if tok.kind == "eof":
        return "end of input"
    if tok.kind == "text":
        shown = tok.text if len(tok.text) <= 40 else tok.text[:37] + '..."'
        return f"text {shown}"
    shown = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
    return f"'{shown}'"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.src = text
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []
        # Doc comment state (see the module docstring): the pending comment lines, where
        # the last comment ended, and where the line of the last token ends.
        self.pending: list[str] = []
        self.comment_end: int | None = None
        self.token_line_end: int | None = None

    def column(self, pos: int) -> int:
        return pos - self.line_start + 1

    def fail(self, pos: int, reason: str) -> CandidParseError:
        # `pos` is on the current line or on an earlier one already counted.
        line = self.src.count("\n", 0, pos) + 1
        start = self.src.rfind("\n", 0, pos) + 1
        return CandidParseError(line, pos - start + 1, reason)

    def advance_to(self, end: int) -> None:
        """Move to ``end``, keeping the line count right across newlines."""
        newlines = self.src.count("\n", self.pos, end)
        if newlines:
            self.line += newlines
            self.line_start = self.src.rfind("\n", self.pos, end) + 1
        self.pos = end

    def blank_line_before(self, pos: int) -> bool:
        """True if a blank line lies between the last comment and ``pos``."""
        end = self.comment_end
        return end is not None and self.src.count("\n", end, pos) >= 2

    def add(self, kind: TokenKind, start: int, end: int, value: object) -> None:
        docs: tuple[str, ...] = ()
        if kind != "text":
            if self.pending and not self.blank_line_before(start):
                docs = tuple(self.pending)
            self.pending.clear()
            self.comment_end = None
            line_end = self.src.find("\n", end)
            self.token_line_end = len(self.src) if line_end < 0 else line_end
        self.tokens.append(
            Token(kind, self.src[start:end], value, self.line, self.column(start), docs)
        )

    def line_comment(self, start: int, end: int) -> None:
        """Keep the comment ``src[start:end]`` as a pending doc comment line."""
        if self.token_line_end is not None and start <= self.token_line_end:
            return  # at the end of a line that holds a token
        if self.blank_line_before(start):
            self.pending.clear()
        text = self.src[start:end]
        while text.startswith("//"):
            text = text[2:]
        self.pending.append(text.strip(_WHITE_SPACE))
        self.comment_end = end

    def run(self) -> list[Token]:
        src = self.src
        n = len(src)
        while True:
            self.skip_space_and_comments()
            start = self.pos
            if start >= n:
                self.add("eof", start, start, None)
                return self.tokens
            ch = src[start]
            if ch == '"':
                value, end = self.scan_text(start)
                self.add("text", start, end, value)
                self.advance_to(end)
            elif ch.isdigit():
                self.scan_number(start)
            elif ch.isalpha() or ch == "_":
                m = _IDENT_RE.match(src, start)
                if m is None or not ch.isascii():
                    raise self.fail(start, f"unexpected character {ch!r}")
                self.add("id", start, m.end(), m.group())
                self.pos = m.end()
            elif src.startswith(_TWO_CHAR_SYMBOLS, start):
                self.add("sym", start, start + 2, src[start : start + 2])
                self.pos = start + 2
            elif ch in _ONE_CHAR_SYMBOLS:
                self.add("sym", start, start + 1, ch)
                self.pos = start + 1
            else:
                raise self.fail(
                    start, f"unexpected character {ch!r}; expected a name, number, text or "
                    "one of = ( ) { } ; , . : ->"
                )

    def skip_space_and_comments(self) -> None:
        src = self.src
        n = len(src)
        while self.pos < n:
            ch = src[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = self.pos
            elif ch in " \t\r\f\v":
                self.pos += 1
            elif src.startswith("//", self.pos):
                end = src.find("\n", self.pos)
                end = n if end < 0 else end
                self.line_comment(self.pos, end)
                self.pos = end
            elif src.startswith("/*", self.pos):
                self.skip_block_comment()
            else:
                return

    def skip_block_comment(self) -> None:
        src = self.src
        opened = [self.pos]
        p = self.pos + 2
        while opened:
            nxt_open = src.find("/*", p)
            nxt_close = src.find("*/", p)
            if nxt_close < 0:
                raise self.fail(opened[-1], "block comment '/*' is never closed with '*/'")
            if 0 <= nxt_open < nxt_close:
                opened.append(nxt_open)
                p = nxt_open + 2
            else:
                opened.pop()
                p = nxt_close + 2
        self.comment_end = p - 2
        self.advance_to(p)

    def scan_text(self, start: int) -> tuple[bytes, int]:
        src = self.src
        n = len(src)
        out = bytearray()
        p = start + 1
        while True:
            if p >= n:
                raise self.fail(start, 'text literal is never closed with \'"\'')
            ch = src[p]
            if ch == '"':
                return bytes(out), p + 1
            if ch != "\\":
                q = p + 1
                while q < n and src[q] not in '"\\':
                    q += 1
                try:
                    out += src[p:q].encode("utf-8")
                except UnicodeEncodeError:
                    raise self.fail(p, "text literal contains a lone surrogate") from None
                p = q
                continue
            if p + 1 >= n:
                raise self.fail(start, 'text literal is never closed with \'"\'')
            esc = src[p + 1]
            if esc in _SIMPLE_ESCAPES:
                out += _SIMPLE_ESCAPES[esc]
                p += 2
            elif esc == "u":
                p = self.scan_unicode_escape(p, out)
            elif (
                p + 2 < n
                and esc in "0123456789abcdefABCDEF"
                and src[p + 2] in "0123456789abcdefABCDEF"
            ):
                out.append(int(src[p + 1 : p + 3], 16))
                p += 3
            else:
                shown = src[p : p + 3] if p + 2 < n else src[p : p + 2]
                raise self.fail(
                    p,
                    f"bad escape '{shown}' in text; expected \\n, \\r, \\t, \\\\, \\\", \\', "
                    "\\u{HEX} or two hex digits",
                )

    def scan_unicode_escape(self, p: int, out: bytearray) -> int:
        src = self.src
        if not src.startswith("{", p + 2):
            raise self.fail(p, "bad escape '\\u' in text; expected '\\u{' and hex digits")
        m = _HEX_RE.match(src, p + 3)
        if m is None:
            raise self.fail(p, "bad escape '\\u{' in text; expected hex digits after '{'")
        if not src.startswith("}", m.end()):
            raise self.fail(
                p, f"unclosed escape '\\u{{{m.group()}' in text; expected '}}' after the digits"
            )
        code = int(m.group().replace("_", ""), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise self.fail(
                p, f"escape '\\u{{{m.group()}}}' is not a Unicode scalar value "
                "(surrogates and values above 10FFFF are not allowed)"
            )
        out += chr(code).encode("utf-8")
        return m.end() + 1

    def scan_number(self, start: int) -> None:
        src = self.src
        # The whole "word" the number occupies, for error messages.
        word_end = _WORD_TAIL_RE.match(src, start).end()  # type: ignore[union-attr]
        if src.startswith(("0x", "0X"), start):
            end, value, kind = self.scan_hex(start)
        else:
            end, value, kind = self.scan_decimal(start)
        if end < len(src) and (src[end].isalnum() or src[end] == "_"):
            raise self.fail(start, f"malformed number {src[start:word_end]!r}")
        self.add(kind, start, end, value)
        self.pos = end

    def scan_decimal(self, start: int) -> tuple[int, object, TokenKind]:
        src = self.src
        m = _DEC_RE.match(src, start)
        assert m is not None
        end = m.end()
        is_float = False
        if end < len(src) and src[end] == "." and not src.startswith("..", end):
            is_float = True
            end += 1
            frac = _DEC_RE.match(src, end)
            if frac is not None:
                end = frac.end()
        if end < len(src) and src[end] in "eE":
            q = end + 1
            if q < len(src) and src[q] in "+-":
                q += 1
            exp = _DEC_RE.match(src, q)
            if exp is None:
                word_end = _WORD_TAIL_RE.match(src, start).end()  # type: ignore[union-attr]
                raise self.fail(
                    start, f"malformed number {src[start:word_end]!r}: exponent has no digits"
                )
            is_float = True
            end = exp.end()
        literal = src[start:end].replace("_", "")
        if is_float:
            return end, float(literal), "float"
        return end, int(literal), "nat"

    def scan_hex(self, start: int) -> tuple[int, object, TokenKind]:
        src = self.src
        m = _HEX_RE.match(src, start + 2)
        if m is None:
            raise self.fail(start, f"malformed number {src[start:start + 2]!r}: no hex digits")
        end = m.end()
        is_float = False
        if end < len(src) and src[end] == ".":
            is_float = True
            end += 1
            frac = _HEX_RE.match(src, end)
            if frac is not None:
                end = frac.end()
        if end < len(src) and src[end] in "pP":
            q = end + 1
            if q < len(src) and src[q] in "+-":
                q += 1
            exp = _DEC_RE.match(src, q)
            if exp is None:
                raise self.fail(start, "malformed hex float: exponent 'p' has no digits")
            is_float = True
            end = exp.end()
        literal = src[start:end].replace("_", "")
        if is_float:
            try:
                return end, float.fromhex(literal), "float"
            except OverflowError:
                raise self.fail(start, f"hex float {literal!r} is too large") from None
        return end, int(literal, 16), "nat"


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens (the last one has kind ``eof``).

    Raises `CandidParseError` for a character that starts no token, a malformed number,
    an unclosed text literal or block comment, and a bad escape in a text literal.
    """
    return _Scanner(text).run()
