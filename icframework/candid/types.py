"""The Candid type model: frozen values describing every type of the Candid spec.

How it works: primitive types are `Prim` singletons (``NAT``, ``TEXT``...); composite
types are frozen dataclasses (`Opt`, `Vec`, `Record`, `Variant`, `Func`, `Service`).
Named and recursive types are `TypeRef` nodes that look their definition up in a
`TypeEnv` when asked (`TypeEnv.resolve`), so a cycle such as
``type list = opt record { head : int; tail : list }`` is just a `TypeRef` inside the
definition it names. Record and variant fields are kept sorted by field id, the order
the binary format needs; a field label is a name (``str``, id = `idl_hash`) or a
number (``int``, id = the number).

What a .did file says only for its readers is kept beside the types but is no part of
them: doc comments (`Field.docs`, `Service.docs`, `DidFile.docs`), argument names
(`Func.arg_names`) and the order a file lists things in (`Service.order`,
`DidFile.order`). These fields take no part in equality, hashing, subtyping or the
binary format; only the printer reads them.

Python values for each type (the mapping the codecs implement):

=====================  =============================================================
Candid                 Python
=====================  =============================================================
nat, int, natN, intN   ``int`` (range-checked for the fixed widths)
float32, float64       ``float``
bool                   ``bool``
text                   ``str``
null, reserved         ``None``
empty                  no value exists
principal, service     `icframework.core.Principal`
func                   `FuncRef` (service principal, method name)
opt T                  ``None`` or the value; when T is itself null, reserved or opt
                       (so ``None`` would be ambiguous) a present value is `Some(v)`
vec nat8 (blob)        ``bytes`` (``bytearray``/``memoryview`` and int lists accepted)
vec T                  ``list`` (any sequence accepted when encoding)
record                 ``dict`` keyed by field name (``str``) or number (``int``);
                       a tuple record (fields 0..n-1, n >= 1) is a ``tuple``; dataclass
                       instances and mappings are accepted when encoding
variant                a one-entry ``dict`` ``{label: value}``
=====================  =============================================================
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from icframework.candid.errors import CandidTypeError
from icframework.core import Principal


def idl_hash(name: str) -> int:
    """The 32-bit field id of a label name: fold ``h*223 + byte`` over its UTF-8 bytes."""
    h = 0
    for byte in name.encode("utf-8"):
        h = (h * 223 + byte) & 0xFFFFFFFF
    return h


class PrimKind(enum.Enum):
    """Primitive types, valued by their binary opcode (a negative SLEB128)."""

    NULL = -1
    BOOL = -2
    NAT = -3
    INT = -4
    NAT8 = -5
    NAT16 = -6
    NAT32 = -7
    NAT64 = -8
    INT8 = -9
    INT16 = -10
    INT32 = -11
    INT64 = -12
    FLOAT32 = -13
    FLOAT64 = -14
    TEXT = -15
    RESERVED = -16
    EMPTY = -17
    PRINCIPAL = -24

    @property
    def keyword(self) -> str:
        """The type's name in .did syntax, e.g. ``nat64``."""
        return self.name.lower()


class CandidType:
    """Base class of every Candid type node."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Prim(CandidType):
    """A primitive type; use the module constants (``NAT``, ``TEXT``...)."""

    kind: PrimKind

    def __repr__(self) -> str:
        return self.kind.keyword


NULL = Prim(PrimKind.NULL)
BOOL = Prim(PrimKind.BOOL)
NAT = Prim(PrimKind.NAT)
INT = Prim(PrimKind.INT)
NAT8 = Prim(PrimKind.NAT8)
NAT16 = Prim(PrimKind.NAT16)
NAT32 = Prim(PrimKind.NAT32)
NAT64 = Prim(PrimKind.NAT64)
INT8 = Prim(PrimKind.INT8)
INT16 = Prim(PrimKind.INT16)
INT32 = Prim(PrimKind.INT32)
INT64 = Prim(PrimKind.INT64)
FLOAT32 = Prim(PrimKind.FLOAT32)
FLOAT64 = Prim(PrimKind.FLOAT64)
TEXT = Prim(PrimKind.TEXT)
RESERVED = Prim(PrimKind.RESERVED)
EMPTY = Prim(PrimKind.EMPTY)
PRINCIPAL = Prim(PrimKind.PRINCIPAL)

PRIMITIVES: Mapping[str, Prim] = {p.kind.keyword: p for p in (
    NULL, BOOL, NAT, INT, NAT8, NAT16, NAT32, NAT64, INT8, INT16, INT32, INT64,
    FLOAT32, FLOAT64, TEXT, RESERVED, EMPTY, PRINCIPAL,
)}


@dataclass(frozen=True, slots=True)
class Opt(CandidType):
    """``opt T``."""

    inner: CandidType


@dataclass(frozen=True, slots=True)
class Vec(CandidType):
    """``vec T``; ``Vec(NAT8)`` is ``blob``."""

    inner: CandidType


BLOB = Vec(NAT8)


@dataclass(frozen=True, slots=True)
class Field:
    """A record or variant field: a label (name or number) and its type.

    ``docs`` are the doc comment lines written above it (not part of the type).
    """

    label: str | int
    type: CandidType
    docs: tuple[str, ...] = field(default=(), compare=False, repr=False)

    @property
    def id(self) -> int:
        """The field id: `idl_hash` of a name, or the number itself."""
        return idl_hash(self.label) if isinstance(self.label, str) else self.label


def _sorted_fields(kind: str, fields: Iterable[Field]) -> tuple[Field, ...]:
    ordered = tuple(sorted(fields, key=lambda f: f.id))
    for before, after in pairwise(ordered):
        if before.id == after.id:
            raise CandidTypeError(
                f"{kind} has two fields with id {before.id} ({before.label!r} and "
                f"{after.label!r}); rename one of them"
            )
    for f in ordered:
        if not 0 <= f.id < 1 << 32:
            raise CandidTypeError(f"{kind} field id {f.id} is outside 0..2**32-1")
    return ordered


@dataclass(frozen=True, slots=True, init=False)
class Record(CandidType):
    """``record { ... }``; fields are kept sorted by id (duplicate ids raise)."""

    fields: tuple[Field, ...]

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        object.__setattr__(self, "fields", _sorted_fields("record", fields))

    @classmethod
    def tuple_of(cls, *types: CandidType) -> Record:
        """The tuple record ``record { T0; T1; ... }`` (fields numbered from 0)."""
        return cls(Field(i, t) for i, t in enumerate(types))

    @property
    def is_tuple(self) -> bool:
        """True for a non-empty record whose labels are exactly the numbers 0..n-1."""
        return bool(self.fields) and all(f.label == i for i, f in enumerate(self.fields))


@dataclass(frozen=True, slots=True, init=False)
class Variant(CandidType):
    """``variant { ... }``; fields are kept sorted by id (duplicate ids raise)."""

    fields: tuple[Field, ...]

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        object.__setattr__(self, "fields", _sorted_fields("variant", fields))


FUNC_MODES = frozenset({"query", "oneway", "composite_query"})


@dataclass(frozen=True, slots=True)
class Func(CandidType):
    """``func (args) -> (results) modes``; modes are drawn from `FUNC_MODES`.

    ``arg_names`` and ``result_names`` are the names the .did gives the arguments and
    results (``(to : Account)``), None where it gives none; empty when none is named.
    They are documentation: two functions that differ only in them are equal.
    """

    args: tuple[CandidType, ...] = ()
    results: tuple[CandidType, ...] = ()
    modes: tuple[str, ...] = ()
    arg_names: tuple[str | None, ...] = field(default=(), compare=False, repr=False)
    result_names: tuple[str | None, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in FUNC_MODES]
        if unknown:
            raise CandidTypeError(
                f"unknown func mode(s) {unknown}; expected query, oneway or composite_query"
            )


@dataclass(frozen=True, slots=True, init=False)
class Service(CandidType):
    """``service { name : func ...; }``; methods kept sorted by name (duplicates raise).

    A method type is a `Func` or a `TypeRef` naming one. ``docs`` maps a method name
    to the doc comment lines written above it; ``order`` lists the method names in the
    order a .did file shows them when that is not name order (a file's own methods,
    then those of each service it imports). Neither is part of the type.
    """

    methods: tuple[tuple[str, CandidType], ...]
    docs: Mapping[str, tuple[str, ...]] = field(compare=False, repr=False)
    order: tuple[str, ...] = field(compare=False, repr=False)

    def __init__(
        self,
        methods: Iterable[tuple[str, CandidType]] = (),
        *,
        docs: Mapping[str, tuple[str, ...]] | None = None,
        order: Iterable[str] = (),
    ) -> None:
        ordered = tuple(sorted(methods, key=lambda m: m[0].encode("utf-8")))
        for (a, _), (b, _) in pairwise(ordered):
            if a == b:
                raise CandidTypeError(f"service declares method {a!r} twice")
        shown = tuple(order)
        if shown and sorted(shown) != sorted(name for name, _ in ordered):
            raise CandidTypeError(
                f"service method order {list(shown)} does not list its methods "
                f"{[name for name, _ in ordered]} once each"
            )
        object.__setattr__(self, "methods", ordered)
        object.__setattr__(self, "docs", dict(docs or {}))
        object.__setattr__(self, "order", shown)

    def listed(self) -> tuple[tuple[str, CandidType], ...]:
        """The methods in the order the .did shows them (`order`, else name order)."""
        if not self.order:
            return self.methods
        by_name = dict(self.methods)
        return tuple((name, by_name[name]) for name in self.order)

    def method(self, name: str) -> CandidType | None:
        """The type of method ``name``, or None if the service has no such method."""
        for method_name, method_type in self.methods:
            if method_name == name:
                return method_type
        return None


@dataclass(frozen=True, slots=True, eq=False)
class TypeRef(CandidType):
    """A reference to a named type in ``env``; this is how recursion is expressed.

    Two references are equal when they name the same definition in the *same*
    environment (compared by identity, so differing definitions never compare equal).
    """

    name: str
    env: TypeEnv = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TypeRef) and self.name == other.name and self.env is other.env

    def __hash__(self) -> int:
        return hash((self.name, id(self.env)))

    def resolve(self) -> CandidType:
        """The non-reference type this name stands for (follows alias chains)."""
        return self.env.resolve(self)


class TypeEnv(Mapping[str, CandidType]):
    """Named type definitions (``type name = ...;``) that `TypeRef` nodes point into."""

    def __init__(self, definitions: Mapping[str, CandidType] | None = None) -> None:
        self._definitions: dict[str, CandidType] = dict(definitions or {})

    def __getitem__(self, name: str) -> CandidType:
        return self._definitions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._definitions)

    def __len__(self) -> int:
        return len(self._definitions)

    def define(self, name: str, definition: CandidType) -> None:
        """Add or replace a definition."""
        self._definitions[name] = definition

    def ref(self, name: str) -> TypeRef:
        """A `TypeRef` to ``name`` in this environment."""
        return TypeRef(name, self)

    def resolve(self, t: CandidType) -> CandidType:
        """Follow `TypeRef` chains to a non-reference type.

        Raises `CandidTypeError` for an undefined name or an alias cycle with no
        constructor in it (``type a = b; type b = a``).
        """
        seen: list[str] = []
        while isinstance(t, TypeRef):
            name = t.name
            if name in seen:
                raise CandidTypeError(
                    f"type alias cycle without a constructor: {' -> '.join([*seen, name])}"
                )
            seen.append(name)
            try:
                t = t.env._definitions[name]
            except KeyError:
                raise CandidTypeError(f"type {name!r} is not defined") from None
        return t


@dataclass(frozen=True, slots=True)
class FuncRef:
    """A Candid ``func`` value: a method of a service (canister)."""

    service: Principal
    method: str


@dataclass(frozen=True, slots=True)
class Some:
    """A present ``opt`` value whose inner type is null, reserved or opt.

    Only needed where ``None`` would be ambiguous (``opt null``, ``opt opt T``);
    everywhere else a present opt value is the bare value.
    """

    value: Any


def is_nullish(t: CandidType) -> bool:
    """True for null, reserved and opt: the types under which `Some` wraps values."""
    if isinstance(t, TypeRef):
        t = t.resolve()
    return isinstance(t, Opt) or t in (NULL, RESERVED)


@dataclass(frozen=True, slots=True)
class DidFile:
    """A parsed .did file: its type definitions and its main service, if any.

    ``service_args`` holds the init arguments of a service class
    (``service : (nat) -> { ... }``); it is None when the service is not a class.

    For readers only (not part of the interface, and not compared): ``docs`` maps a
    type name to the doc comment lines above its definition, ``service_docs`` are those
    above the service, ``service_arg_names`` the names of the init arguments (as
    `Func.arg_names`), and ``order`` lists the type names in the order the reference
    printer shows them (the file's own definitions, then each imported file's) when
    that differs from the order of ``env``.
    """

    env: TypeEnv
    service: CandidType | None = None
    service_args: tuple[CandidType, ...] | None = None
    docs: Mapping[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)
    service_docs: tuple[str, ...] = field(default=(), compare=False, repr=False)
    service_arg_names: tuple[str | None, ...] = field(default=(), compare=False, repr=False)
    order: tuple[str, ...] = field(default=(), compare=False, repr=False)
