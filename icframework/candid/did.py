"""Parsing Candid interface descriptions (.did files) and type expressions.

`parse_did` reads a whole .did file into a `DidFile`; `parse_type` and `parse_types`
read one type or a parenthesised type list against an existing `TypeEnv`.

How it works: `tokenize` (from `icframework.candid.lexer`) produces the tokens and
`Parser` is a recursive-descent parser over them that builds the type model of
`icframework.candid.types` directly. Names are not resolved while parsing (type
definitions are mutually recursive): every named reference becomes a `TypeRef` and is
remembered with its token, and once the input is read `Parser.finish` checks that each
name is defined, that no alias cycle lacks a constructor (``type a = b; type b = a;``)
and that names used as method types or as the service are func and service types.
Every problem is raised as `CandidParseError` with the line and column of the token at
fault. Nesting is capped (`MAX_NESTING`), so hostile input cannot exhaust the stack.

Accepted syntax (the spec's grammar with its shorthands): ``type`` definitions,
``import "f.did";`` and ``import service "f.did";`` (relative to the importing file,
read through the ``load`` callback), ``service [name] : [(args) ->] ({ methods } |
Name)`` with or without a ``;`` before and after it, ``blob``, named
arguments ``(x : nat)``, tuple fields ``record { nat; text }``, variant fields without
a type (``variant { a; b }``), numeric and quoted labels (``0 : nat``, ``"a b" : nat``)
and the func modes ``query``, ``composite_query`` and ``oneway`` (at most one; a
oneway function has no results).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from icframework.candid.errors import CandidParseError, CandidTypeError
from icframework.candid.lexer import KEYWORDS, MAX_NESTING, Token, describe, tokenize
from icframework.candid.types import (
    BLOB,
    FUNC_MODES,
    NULL,
    PRIMITIVES,
    CandidType,
    DidFile,
    Field,
    Func,
    Opt,
    Prim,
    Record,
    Service,
    TypeEnv,
    TypeRef,
    Variant,
    Vec,
)

__all__ = [
    "Parser",
    "load_did",
    "parse_did",
    "parse_type",
    "parse_types",
    "resolve_import",
    "same_did",
    "same_type",
]

_T = TypeVar("_T")
Loader = Callable[[str], str]


@dataclass(slots=True)
class _Ref:
    """A name used in the input, to be checked once all definitions are known."""

    name: str
    token: Token
    want: str  # "type", "func" (a method type) or "service" (the main service)


_Program = tuple[CandidType | None, tuple[CandidType, ...] | None]


@dataclass(slots=True)
class _Shared:
    """State shared between a file's parser and the parsers of the files it imports."""

    env: TypeEnv
    defined: dict[str, str]  # name -> where it was defined, for duplicate errors
    # Resolved path -> the file's service and init args; None while it is being read.
    files: dict[str, _Program | None]
    load: Loader | None
    # Doc comments of every file's type definitions, by type name.
    docs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # The imported files in the order their reading finished (a file's imports before
    # it), each with the type names it defines.
    finished: list[tuple[str, list[str]]] = field(default_factory=list)


def resolve_import(importer: str, name: str) -> str:
    """The path an ``import "name"`` in the file ``importer`` refers to.

    Relative names are relative to the directory of the importing file, as the reference
    implementation reads them (``import "b/b.did"`` in ``import/a.did`` is
    ``import/b/b.did``); the result is normalised (``a/../b.did`` is ``b.did``) so each
    file is read once whatever path leads to it.
    """
    if not posixpath.isabs(name):
        name = posixpath.join(posixpath.dirname(importer), name)
    return posixpath.normpath(name)


class Parser:
    """A recursive-descent parser over a token list, for types and .did files.

    The token cursor (``tokens``/``pos``) is public so that other Candid parsers (the
    textual value parser, test-suite readers) can parse types in the middle of their
    own input: call `parse_datatype` or `parse_tuptype`, then `check_refs`.
    """

    def __init__(
        self,
        tokens: list[Token],
        env: TypeEnv | None = None,
        *,
        _shared: _Shared | None = None,
        _path: str = "",
    ) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.shared = _shared or _Shared(env if env is not None else TypeEnv(), {}, {}, None)
        self.path = _path
        self.env = self.shared.env
        self.refs: list[_Ref] = []
        self.definitions: list[tuple[str, Token]] = []
        self.imported_methods: list[tuple[str, CandidType, Token, str]] = []
        self.imported_docs: dict[str, tuple[str, ...]] = {}
        self.service_docs: tuple[str, ...] = ()
        self.service_arg_names: tuple[str | None, ...] = ()

    # -- token cursor -------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        """The token ``ahead`` positions after the cursor (the eof token at the end)."""
        i = min(self.pos + ahead, len(self.tokens) - 1)
        return self.tokens[i]

    def next(self) -> Token:
        """Consume and return the current token."""
        tok = self.peek()
        if self.pos < len(self.tokens) - 1:
            self.pos += 1
        return tok

    def expect_sym(self, sym: str, context: str) -> Token:
        """Consume the punctuation ``sym`` or raise "expected 'sym' <context>, got ..."."""
        tok = self.peek()
        if not tok.is_sym(sym):
            raise tok.error(f"expected '{sym}' {context}, got {describe(tok)}")
        return self.next()

    def expect_eof(self, context: str) -> None:
        """Raise unless all input is consumed."""
        tok = self.peek()
        if tok.kind != "eof":
            raise tok.error(f"expected end of input {context}, got {describe(tok)}")

    def enter(self, tok: Token) -> None:
        """Count one nesting level; raise when the input nests too deeply."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise tok.error(f"input nests deeper than {MAX_NESTING} levels")

    def leave(self) -> None:
        self.depth -= 1

    @staticmethod
    def build(tok: Token, make: Callable[[], _T]) -> _T:
        """Run a type-model constructor, turning `CandidTypeError` into a parse error."""
        try:
            return make()
        except CandidTypeError as exc:
            raise tok.error(str(exc)) from None

    @staticmethod
    def text_value(tok: Token, what: str) -> str:
        """The UTF-8 text of a ``text`` token (raise if its escapes make invalid UTF-8)."""
        assert isinstance(tok.value, bytes)
        try:
            return tok.value.decode("utf-8")
        except UnicodeDecodeError:
            raise tok.error(f"{what} {tok.text} is not valid UTF-8") from None

    def name_of(self, tok: Token, what: str) -> str:
        """A ``<name>``: an identifier or a text literal."""
        if tok.kind == "id":
            return tok.text
        if tok.kind == "text":
            return self.text_value(tok, what)
        raise tok.error(f"expected {what}, got {describe(tok)}")

    # -- types --------------------------------------------------------------------

    def parse_datatype(self) -> CandidType:
        """``<datatype>``: a primitive, a name, or a constructed or reference type."""
        tok = self.next()
        if tok.kind != "id":
            raise tok.error(f"expected a type, got {describe(tok)}")
        word = tok.text
        prim = PRIMITIVES.get(word)
        if prim is not None:
            return prim
        if word == "blob":
            return BLOB
        if word in ("opt", "vec", "record", "variant", "func", "service"):
            self.enter(tok)
            try:
                if word == "opt":
                    return Opt(self.parse_datatype())
                if word == "vec":
                    return Vec(self.parse_datatype())
                if word == "record":
                    return self.parse_fields(tok, is_record=True)
                if word == "variant":
                    return self.parse_fields(tok, is_record=False)
                if word == "func":
                    return self.parse_functype(tok)
                return self.parse_actortype(tok)
            finally:
                self.leave()
        if word in KEYWORDS:
            raise tok.error(f"expected a type, got keyword '{word}'")
        self.refs.append(_Ref(word, tok, "type"))
        return self.env.ref(word)

    def parse_label(self, tok: Token) -> str | int:
        """A field label token: a name (identifier or text) or a number."""
        if tok.kind == "nat":
            assert isinstance(tok.value, int)
            if tok.value >= 1 << 32:
                raise tok.error(f"field id {tok.text} is too large; ids are below 2**32")
            return tok.value
        return self.name_of(tok, "a field label")

    def parse_fields(self, kw: Token, *, is_record: bool) -> CandidType:
        """The ``{ <fieldtype>;* }`` part of a record or variant type."""
        kind = "record" if is_record else "variant"
        self.expect_sym("{", f"after '{kind}'")
        fields: list[Field] = []
        seen: dict[int, tuple[str | int, Token]] = {}
        next_id = 0
        while not self.peek().is_sym("}"):
            tok = self.peek()
            label: str | int
            if tok.kind in ("id", "text", "nat") and self.peek(1).is_sym(":"):
                label = self.parse_label(tok)
                self.pos += 2
                ftype = self.parse_datatype()
            elif not is_record and tok.kind in ("id", "text", "nat"):
                label = self.parse_label(tok)
                self.next()
                ftype = NULL
            elif is_record and tok.kind in ("text", "nat"):
                raise self.peek(1).error(
                    f"expected ':' after field label {tok.text}, got {describe(self.peek(1))}"
                )
            elif (
                is_record
                and tok.kind == "id"
                and tok.text not in KEYWORDS
                and tok.text not in PRIMITIVES
                and not self.peek(1).is_sym(";")
                and not self.peek(1).is_sym("}")
            ):
                raise self.peek(1).error(
                    f"expected ':' after field name '{tok.text}', got {describe(self.peek(1))}"
                )
            elif is_record:
                label = next_id
                ftype = self.parse_datatype()
            else:
                raise tok.error(
                    f"expected a variant field (a name or number, optionally followed by ':' "
                    f"and a type), got {describe(tok)}"
                )
            f = Field(label, ftype, tok.docs)
            fid = f.id
            if fid >= 1 << 32:
                raise tok.error(f"field id {fid} is too large; ids are below 2**32")
            if fid in seen:
                other, other_tok = seen[fid]
                same = "is declared twice" if other == label else (
                    f"has the same id {fid} as field {other!r}"
                )
                raise tok.error(
                    f"{kind} field {label!r} {same} (line {other_tok.line}, "
                    f"column {other_tok.column})"
                )
            seen[fid] = (label, tok)
            fields.append(f)
            next_id = fid + 1
            sep = self.peek()
            if sep.is_sym(";"):
                self.next()
            elif not sep.is_sym("}"):
                raise sep.error(
                    f"expected ';' or '}}' after {kind} field {label!r}, got {describe(sep)}"
                )
        self.next()
        if is_record:
            return self.build(kw, lambda: Record(fields))
        return self.build(kw, lambda: Variant(fields))

    def parse_tuptype(self, context: str = "type list") -> tuple[CandidType, ...]:
        """``( <argtype>,* )``; argument names (``x : nat``) are checked and dropped."""
        return self.parse_named_tuptype(context)[0]

    def parse_named_tuptype(
        self, context: str = "type list"
    ) -> tuple[tuple[CandidType, ...], tuple[str | None, ...]]:
        """``( <argtype>,* )`` and the argument names (see `Func.arg_names`).

        As in the reference parser, a name that reads as a 32-bit number (``"2" : nat``)
        is no name; the names are ``()`` when no argument has one.
        """
        open_tok = self.expect_sym("(", f"to start the {context}")
        self.enter(open_tok)
        types: list[CandidType] = []
        shown: list[str | None] = []
        names: dict[str, Token] = {}
        while not self.peek().is_sym(")"):
            tok = self.peek()
            arg_name: str | None = None
            if tok.kind in ("id", "text") and self.peek(1).is_sym(":"):
                name = self.name_of(tok, "an argument name")
                if name in names:
                    first = names[name]
                    raise tok.error(
                        f"argument name {name!r} is used twice in the {context} (first at "
                        f"line {first.line}, column {first.column})"
                    )
                names[name] = tok
                self.pos += 2
                if not _is_u32(name):
                    arg_name = name
            types.append(self.parse_datatype())
            shown.append(arg_name)
            sep = self.peek()
            if sep.is_sym(","):
                self.next()
            elif not sep.is_sym(")"):
                raise sep.error(f"expected ',' or ')' in the {context}, got {describe(sep)}")
        self.next()
        self.leave()
        return tuple(types), tuple(shown) if any(n is not None for n in shown) else ()

    def parse_functype(self, start: Token) -> Func:
        """``<tuptype> -> <tuptype> <funcann>*``."""
        args, arg_names = self.parse_named_tuptype("function arguments")
        self.expect_sym("->", "between a function's arguments and results")
        results, result_names = self.parse_named_tuptype("function results")
        modes: list[str] = []
        while self.peek().kind == "id" and self.peek().text in FUNC_MODES:
            tok = self.next()
            if tok.text in modes:
                raise tok.error(f"func mode '{tok.text}' is given twice")
            if modes:
                raise tok.error(
                    f"func modes '{modes[0]}' and '{tok.text}' cannot be combined; a function "
                    "is at most one of query, composite_query and oneway"
                )
            if tok.text == "oneway" and results:
                raise tok.error(
                    f"a oneway function has no results, but this one returns {len(results)}"
                )
            modes.append(tok.text)
        return self.build(
            start, lambda: Func(args, results, tuple(modes), arg_names, result_names)
        )

    def parse_actortype(self, start: Token) -> Service:
        """``{ <methtype>;* }`` where ``<methtype> ::= <name> : (<functype> | <id>)``."""
        self.expect_sym("{", "to start the service's methods")
        methods: list[tuple[str, CandidType]] = []
        docs: dict[str, tuple[str, ...]] = {}
        seen: dict[str, Token] = {}
        while not self.peek().is_sym("}"):
            tok = self.next()
            name = self.name_of(tok, "a method name")
            if tok.docs:
                docs[name] = tok.docs
            if name in seen:
                first = seen[name]
                raise tok.error(
                    f"method {name!r} is declared twice (first at line {first.line}, "
                    f"column {first.column})"
                )
            seen[name] = tok
            self.expect_sym(":", f"after method name {tok.text}")
            mtok = self.peek()
            mtype: CandidType
            if mtok.is_sym("("):
                mtype = self.parse_functype(mtok)
            elif mtok.kind == "id" and mtok.text not in KEYWORDS and mtok.text not in PRIMITIVES:
                self.next()
                self.refs.append(_Ref(mtok.text, mtok, "func"))
                mtype = self.env.ref(mtok.text)
            else:
                raise mtok.error(
                    f"expected a function type '(...) -> (...)' or the name of one for method "
                    f"{name!r}, got {describe(mtok)}"
                )
            methods.append((name, mtype))
            sep = self.peek()
            if sep.is_sym(";"):
                self.next()
            elif not sep.is_sym("}"):
                raise sep.error(f"expected ';' or '}}' after method {name!r}, got {describe(sep)}")
        self.next()
        return self.build(start, lambda: Service(methods, docs=docs))

    # -- checking names -----------------------------------------------------------

    def check_refs(self) -> None:
        """Check every name used so far: defined, not a bare alias cycle, right kind."""
        for ref in self.refs:
            if ref.name not in self.env:
                raise ref.token.error(
                    f"unknown type '{ref.name}'; expected a primitive type or a name defined "
                    "with 'type'"
                )
            try:
                target = self.env.resolve(self.env.ref(ref.name))
            except CandidTypeError as exc:
                raise ref.token.error(str(exc)) from None
            if ref.want == "func" and not isinstance(target, Func):
                raise ref.token.error(
                    f"method type '{ref.name}' must name a func type, but it is "
                    f"{_kind_name(target)}"
                )
            if ref.want == "service" and not isinstance(target, Service):
                raise ref.token.error(
                    f"service type '{ref.name}' must name a service type, but it is "
                    f"{_kind_name(target)}"
                )
        self.refs.clear()

    # -- .did files ---------------------------------------------------------------

    def parse_definition(self) -> None:
        """``type <id> = <datatype>`` (the ';' after it is left to the caller)."""
        kw = self.next()  # 'type'
        tok = self.next()
        if tok.kind != "id":
            raise tok.error(f"expected a type name after 'type', got {describe(tok)}")
        if tok.text in KEYWORDS or tok.text in PRIMITIVES:
            raise tok.error(f"'{tok.text}' is a reserved word and cannot be defined as a type")
        first = self.shared.defined.get(tok.text)
        if first is not None:
            raise tok.error(f"type '{tok.text}' is defined twice (first {first})")
        self.expect_sym("=", f"after type name '{tok.text}'")
        definition = self.parse_datatype()
        self.shared.defined[tok.text] = f"at line {tok.line}, column {tok.column}"
        self.env.define(tok.text, definition)
        self.definitions.append((tok.text, tok))
        if kw.docs:
            self.shared.docs[tok.text] = kw.docs

    def check_definitions(self) -> None:
        """Raise for a definition that is only an alias cycle (``type a = b; type b = a``)."""
        for name, tok in self.definitions:
            try:
                self.env.resolve(self.env.ref(name))
            except CandidTypeError as exc:
                raise tok.error(str(exc)) from None

    def parse_import(self) -> None:
        """``import service? <text>``: parse the file via the loader, merging definitions.

        The path is resolved against the importing file (`resolve_import`) and each file
        is read once; ``import service`` of a file already read still takes its methods.
        """
        kw = self.next()
        with_service = self.peek().is_word("service")
        if with_service:
            self.next()
        tok = self.next()
        if tok.kind != "text":
            raise tok.error(f"expected the file to import as a text literal, got {describe(tok)}")
        written = self.text_value(tok, "import path")
        path = resolve_import(self.path, written)
        shown = repr(written) if path == written else f"{written!r} (at {path!r})"
        files = self.shared.files
        if path in files:
            program = files[path]
            if program is None:
                if with_service:
                    raise tok.error(
                        f"'import service' of {shown} is circular: that file is still being "
                        "read; import its service from the file that declares it only"
                    )
                return
        else:
            program = self.read_import(tok, kw, written, path, shown)
        if with_service:
            self.import_service(tok, shown, path, program)

    def read_import(
        self, tok: Token, kw: Token, written: str, path: str, shown: str
    ) -> _Program:
        """Load and parse the imported file ``path`` into the shared environment."""
        load = self.shared.load
        if load is None:
            raise kw.error(
                f"cannot import {written!r}: no loader given (call parse_did(text, load=...) "
                "or load_did(path))"
            )
        files = self.shared.files
        files[path] = None
        try:
            source = load(path)
        except Exception as exc:
            raise tok.error(f"cannot import {shown}: {exc}") from None
        sub = Parser([], _shared=self.shared, _path=path)
        try:
            sub.tokens = tokenize(source)
            program = sub.parse_program()
        except CandidParseError as exc:
            raise tok.error(
                f"in imported file {path!r}, line {exc.line}, column {exc.column}: {exc.reason}"
            ) from None
        files[path] = program
        self.shared.finished.append((path, [name for name, _ in sub.definitions]))
        return program

    def import_service(self, tok: Token, shown: str, path: str, program: _Program) -> None:
        """Take the methods of an imported file's main service into this file's service."""
        service, args = program
        if service is None:
            raise tok.error(f"'import service' of {shown}, which declares no service")
        if args is not None:
            raise tok.error(
                f"'import service' of {shown}, whose service is a class (has init arguments); "
                "import it with 'import' for its types only"
            )
        resolved = self.env.resolve(service)
        assert isinstance(resolved, Service)
        for name, mtype in resolved.listed():
            self.imported_methods.append((name, mtype, tok, path))
        self.imported_docs.update(resolved.docs)

    def parse_service(self) -> tuple[CandidType, tuple[CandidType, ...] | None]:
        """``service <id>? : (<tuptype> ->)? (<actortype> | <id>)``."""
        kw = self.next()
        self.service_docs = kw.docs
        if self.peek().kind == "id":
            self.next()  # the service's name is documentation only
        self.expect_sym(":", "after 'service' (and its optional name)")
        args: tuple[CandidType, ...] | None = None
        if self.peek().is_sym("("):
            args, self.service_arg_names = self.parse_named_tuptype(
                "service initialisation arguments"
            )
            self.expect_sym("->", "after the service's initialisation arguments")
        tok = self.peek()
        service: CandidType
        if tok.is_sym("{"):
            service = self.parse_actortype(kw)
        elif tok.kind == "id" and tok.text not in KEYWORDS and tok.text not in PRIMITIVES:
            self.next()
            self.refs.append(_Ref(tok.text, tok, "service"))
            service = self.env.ref(tok.text)
        else:
            raise tok.error(
                f"expected the service's methods '{{ ... }}' or the name of a service type, "
                f"got {describe(tok)}"
            )
        if self.peek().is_sym(";"):
            self.next()
        return service, args

    def parse_program(self) -> tuple[CandidType | None, tuple[CandidType, ...] | None]:
        """``<def>;* <actor>?`` to the end of input; returns the service and its args."""
        service: CandidType | None = None
        args: tuple[CandidType, ...] | None = None
        while True:
            tok = self.peek()
            if tok.is_word("type"):
                self.parse_definition()
            elif tok.is_word("import"):
                self.parse_import()
            elif tok.is_word("service"):
                service, args = self.parse_service()
                self.expect_eof("after the service declaration (it must come last)")
                break
            elif tok.kind == "eof":
                break
            else:
                raise tok.error(f"expected 'type', 'import' or 'service', got {describe(tok)}")
            end = self.peek()
            if end.is_sym(";"):
                self.next()
            elif not (end.is_word("service") or end.kind == "eof"):
                raise end.error(f"expected ';' after the declaration, got {describe(end)}")
        self.check_refs()
        self.check_definitions()
        if self.imported_methods:
            service = self.merge_imported(service)
        return service, args

    def merge_imported(self, service: CandidType | None) -> CandidType:
        """This file's service with the imported services' methods after its own.

        The merged service lists the imported methods file by file, in the order the
        files were read to the end (as the reference parser does).
        """
        methods: list[tuple[str, CandidType]] = []
        docs: dict[str, tuple[str, ...]] = {}
        if service is not None:
            resolved = self.env.resolve(service)
            assert isinstance(resolved, Service)
            methods.extend(resolved.listed())
            docs.update(resolved.docs)
        names = {name for name, _ in methods}
        for name, _, tok, _ in self.imported_methods:
            if name in names:
                raise tok.error(
                    f"method {name!r} of the imported service is already declared"
                )
            names.add(name)
        finished = [path for path, _ in self.shared.finished]
        imported = sorted(
            self.imported_methods,
            key=lambda m: finished.index(m[3]) if m[3] in finished else len(finished),
        )
        methods.extend((name, mtype) for name, mtype, _, _ in imported)
        docs.update(self.imported_docs)
        return Service(methods, docs=docs, order=[name for name, _ in methods])


def _is_u32(name: str) -> bool:
    """True for a name the reference parser reads as a number (``"2"``, ``"+7"``)."""
    digits = name[1:] if name.startswith("+") else name
    return digits.isascii() and digits.isdigit() and int(digits) < 1 << 32


def _kind_name(t: CandidType) -> str:
    return {
        Func: "a func type", Service: "a service type", Record: "a record type",
        Variant: "a variant type", Opt: "an opt type", Vec: "a vec type",
    }.get(type(t), f"'{t!r}'")


def parse_did(text: str, *, load: Loader | None = None, path: str = "") -> DidFile:
    """Parse a .did file: its type definitions and its main service, if any.

    ``path`` names the file ``text`` was read from (``/``-separated); imports are resolved
    against its directory (`resolve_import`), and ``load(resolved_path)`` returns the
    text of an imported file (imports raise `CandidParseError` if no loader is given).
    Each file is read at most once, however many files import it. Definitions are kept
    in order in ``DidFile.env``. The service is a `Service`, or a `TypeRef` when
    declared by name (``service : S``); ``service_args`` holds the initialisation
    argument types of a service class (``service : (nat) -> {...}``).
    """
    files: dict[str, _Program | None] = {posixpath.normpath(path): None} if path else {}
    parser = Parser(tokenize(text), _shared=_Shared(TypeEnv(), {}, files, load), _path=path)
    service, args = parser.parse_program()
    own = [name for name, _ in parser.definitions]
    order = own + [name for _, names in parser.shared.finished for name in names]
    return DidFile(
        parser.env,
        service,
        args,
        docs=dict(parser.shared.docs),
        service_docs=parser.service_docs,
        service_arg_names=parser.service_arg_names,
        order=tuple(order) if order != list(parser.env) and len(order) == len(parser.env) else (),
    )


def load_did(path: str | os.PathLike[str]) -> DidFile:
    """Read and parse the .did file at ``path``, with its imports read from disk.

    An import is relative to the file that names it. Raises `OSError` if ``path``
    itself cannot be read and `CandidParseError` for everything else (an import that
    cannot be read included).
    """
    name = os.fspath(path)
    return parse_did(_read_file(name), load=_read_file, path=name)


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        return file.read()


def parse_type(text: str, env: TypeEnv | None = None) -> CandidType:
    """Parse one type expression, e.g. ``opt record { a : nat }``; names refer to ``env``."""
    parser = Parser(tokenize(text), env)
    t = parser.parse_datatype()
    parser.expect_eof("after the type")
    parser.check_refs()
    return t


def parse_types(text: str, env: TypeEnv | None = None) -> tuple[CandidType, ...]:
    """Parse a parenthesised type list such as ``(nat, opt text)``; names refer to ``env``."""
    parser = Parser(tokenize(text), env)
    types = parser.parse_tuptype()
    parser.expect_eof("after the type list")
    parser.check_refs()
    return types


def same_type(a: CandidType, b: CandidType) -> bool:
    """Structural equality of two types, where named types match when their names do.

    ``==`` on `TypeRef` also requires the same `TypeEnv` object, so types parsed from
    two texts never compare equal when they use names; this compares them as written
    (use `same_did` to compare the definitions too).
    """
    pending = [(a, b)]
    while pending:
        x, y = pending.pop()
        if isinstance(x, TypeRef) or isinstance(y, TypeRef):
            if not (isinstance(x, TypeRef) and isinstance(y, TypeRef) and x.name == y.name):
                return False
        elif type(x) is not type(y):
            return False
        elif isinstance(x, Opt | Vec):
            assert isinstance(y, Opt | Vec)
            pending.append((x.inner, y.inner))
        elif isinstance(x, Record | Variant):
            assert isinstance(y, Record | Variant)
            if [f.label for f in x.fields] != [f.label for f in y.fields]:
                return False
            pending.extend((f.type, g.type) for f, g in zip(x.fields, y.fields, strict=True))
        elif isinstance(x, Func):
            assert isinstance(y, Func)
            if (len(x.args), len(x.results), x.modes) != (len(y.args), len(y.results), y.modes):
                return False
            pending.extend(zip((*x.args, *x.results), (*y.args, *y.results), strict=True))
        elif isinstance(x, Service):
            assert isinstance(y, Service)
            if [n for n, _ in x.methods] != [n for n, _ in y.methods]:
                return False
            pending.extend((m, n) for (_, m), (_, n) in zip(x.methods, y.methods, strict=True))
        elif isinstance(x, Prim) and x != y:
            return False
    return True


def same_did(a: DidFile, b: DidFile) -> bool:
    """True if two .did files define the same names (in order) the same way, with the
    same service; the round-trip property is ``same_did(parse_did(format_did(d)), d)``."""
    if list(a.env) != list(b.env):
        return False
    if not all(same_type(a.env[name], b.env[name]) for name in a.env):
        return False
    if (a.service is None) != (b.service is None):
        return False
    if a.service is not None and b.service is not None and not same_type(a.service, b.service):
        return False
    if a.service_args is None or b.service_args is None:
        return a.service_args is None and b.service_args is None
    return len(a.service_args) == len(b.service_args) and all(
        same_type(x, y) for x, y in zip(a.service_args, b.service_args, strict=True)
    )
