"""Type hints → Candid types, plus the value converters between the two worlds.

How it works: `TypeMapper.info(hint)` returns a `TypeInfo`: the Candid type of the hint
and two converters, ``to_wire`` (Python value → the value `icframework.candid.encode`
takes) and ``from_wire`` (decoded value → the Python value the code expects). A
converter is ``None`` when no conversion is needed — the common case for ints, text,
blobs, lists of those and dataclasses of those — so the hot path of a call does no
Python-level work besides the codec itself. Results are memoised per hint; named types
(dataclasses, TypedDicts, Enums, ``@variant`` classes) become ``type Name = ...``
definitions in the mapper's `TypeEnv`, which is also how recursive dataclasses work.

The mapping (see docs/sdk.md for the table with examples):

* ``int`` → ``int``; ``bool`` → ``bool``; ``float`` → ``float64``; ``str`` → ``text``;
  ``bytes`` → ``blob``; ``None`` → ``null``; `Principal` → ``principal``;
* width-specific numbers through ``Annotated``: ``nat``, ``nat8``..``nat64``,
  ``int8``..``int64``, ``float32`` (aliases exported here); any `CandidType` in the
  ``Annotated`` metadata overrides the type;
* ``list[T]``, ``tuple[T, ...]``, ``set[T]``, ``frozenset[T]``, ``Sequence[T]`` →
  ``vec T``; ``tuple[A, B]`` → ``record { A; B }``; ``dict[K, V]`` / ``Mapping[K, V]``
  → ``vec record { K; V }``; ``Optional[T]`` / ``T | None`` → ``opt T``;
* dataclasses and TypedDicts → records (TypedDict keys that are not required → ``opt``);
  a dataclass field typed with a one-value ``Literal`` is a constant *tag*: it is left
  out of the record and restored from its default;
* ``Enum`` → ``variant { A; B }`` of its member names; ``Literal["a", "b"]`` →
  ``variant { a; b }`` whose values are the strings;
* tagged unions: a ``Union`` of dataclasses → a variant with one arm per class, labelled
  by the class's tag (its one-value ``Literal`` field) or else its name; the payload is
  the class's record, or ``null`` if it has no other field;
* ``@variant`` classes → a variant whose arms are the class annotations (any types);
* ``Annotated[FuncRef, func_type([A], [R], "query")]`` → ``func (A) -> (R) query``: a
  reference to a canister method (principal + method name), as `FuncRef` values; the
  argument and result hints are mapped like any other (named types join the .did).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import types as pytypes
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from icframework.candid import (
    BLOB,
    BOOL,
    FLOAT32,
    FLOAT64,
    INT,
    INT8,
    INT16,
    INT32,
    INT64,
    NAT,
    NAT8,
    NAT16,
    NAT32,
    NAT64,
    NULL,
    PRINCIPAL,
    TEXT,
    CandidType,
    Field,
    Func,
    FuncRef,
    Opt,
    Record,
    TypeEnv,
    Variant,
    Vec,
)
from icframework.core import Principal
from icframework.sdk.errors import TypeHintError

__all__ = [
    "Converter",
    "FuncRef",
    "FuncType",
    "TypeInfo",
    "TypeMapper",
    "candid_type_of",
    "float32",
    "float64",
    "func_type",
    "int8",
    "int16",
    "int32",
    "int64",
    "nat",
    "nat8",
    "nat16",
    "nat32",
    "nat64",
    "variant",
]

nat = Annotated[int, NAT]
nat8 = Annotated[int, NAT8]
nat16 = Annotated[int, NAT16]
nat32 = Annotated[int, NAT32]
nat64 = Annotated[int, NAT64]
int8 = Annotated[int, INT8]
int16 = Annotated[int, INT16]
int32 = Annotated[int, INT32]
int64 = Annotated[int, INT64]
float32 = Annotated[float, FLOAT32]
float64 = Annotated[float, FLOAT64]

Converter = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A hint's Candid type and converters (``None`` converter = value passes unchanged)."""

    candid: CandidType
    to_wire: Converter | None = None
    from_wire: Converter | None = None


# ============================================================================ func types


@dataclass(frozen=True, slots=True)
class FuncType:
    """The signature of a ``func`` reference hint: argument and result hints, modes.

    Used as ``Annotated`` metadata on `FuncRef` (see `func_type`); the mapper turns it
    into a Candid `Func`, mapping ``args`` and ``results`` like any other hints.
    """

    args: tuple[Any, ...]
    results: tuple[Any, ...]
    modes: tuple[str, ...]


def func_type(args: Sequence[Any], results: Sequence[Any], *modes: str) -> FuncType:
    """The metadata of a ``func`` hint: ``Annotated[FuncRef, func_type([Token],
    [Chunk], "query")]`` is ``func (Token) -> (Chunk) query`` in the .did; its values
    are ``FuncRef(principal, "method")``. ``modes`` are ``query``,
    ``composite_query`` or ``oneway``."""
    unknown = [m for m in modes if m not in ("query", "composite_query", "oneway")]
    if unknown:
        raise TypeHintError(
            f"func_type mode(s) {unknown} are unknown; use 'query', 'composite_query' or "
            "'oneway' (or none for an update method)"
        )
    return FuncType(tuple(args), tuple(results), tuple(modes))


# ============================================================================ @variant


class VariantValue:
    """Base of ``@variant`` classes: one arm (``tag``) and its payload (``value``)."""

    __slots__ = ("tag", "value")
    __match_args__ = ("tag", "value")
    __variant_arms__: typing.ClassVar[tuple[str, ...]] = ()

    tag: str
    value: Any

    def __init__(self, **arm: Any) -> None:
        if len(arm) != 1:
            example = self.__variant_arms__[0] if self.__variant_arms__ else "tag"
            raise TypeError(
                f"{type(self).__name__}() takes exactly one arm as a keyword, e.g. "
                f"{type(self).__name__}({example}=...); got {sorted(arm)}"
            )
        ((tag, value),) = arm.items()
        if tag not in self.__variant_arms__:
            raise TypeError(
                f"{type(self).__name__} has no arm {tag!r}; its arms are "
                f"{', '.join(self.__variant_arms__)}"
            )
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "value", value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} values are immutable")

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.tag == other.tag
            and self.value == other.value
        )

    def __hash__(self) -> int:
        return hash((type(self), self.tag, self.value))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.tag}={self.value!r})"


_V = typing.TypeVar("_V", bound=type)


def variant(cls: _V) -> _V:
    """Turn a class whose annotations are the arms into a Candid variant type.

    ``@variant class Result: ok: nat64; err: str`` gives ``variant { ok : nat64;
    err : text }``; values are ``Result(ok=5)`` with ``.tag == "ok"`` and
    ``.value == 5`` (match with ``case Result("ok", v)``). An arm typed ``None``
    carries no payload: ``Status(idle=None)``.
    """
    arms = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 - no inspect in wasm
    if not arms:
        raise TypeHintError(f"@variant class {cls.__name__} declares no arms (annotations)")
    namespace = {
        k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")
    }
    namespace["__variant_arms__"] = arms
    namespace["__slots__"] = ()
    return typing.cast(_V, type(cls.__name__, (VariantValue,), namespace))


# ============================================================================ the mapper

_PRIMITIVES: dict[Any, CandidType] = {
    bool: BOOL,
    int: INT,
    float: FLOAT64,
    str: TEXT,
    bytes: BLOB,
    type(None): NULL,
    None: NULL,
    Principal: PRINCIPAL,
}


def _tag_of(cls: type, hints: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (field name, tag) of a dataclass's one-value ``Literal`` field, if any."""
    for f in dataclasses.fields(cls):
        hint = hints.get(f.name)
        if typing.get_origin(hint) is Literal and len(typing.get_args(hint)) == 1:
            (tag,) = typing.get_args(hint)
            if f.default is dataclasses.MISSING:
                raise TypeHintError(
                    f"{cls.__name__}.{f.name} is a tag field (Literal[{tag!r}]); give it the "
                    f"default {tag!r} so values can be built without it"
                )
            return f.name, str(tag)
    return None


class TypeMapper:
    """Maps hints to `TypeInfo`, collecting named definitions in ``env``.

    One mapper per canister interface (so the .did lists exactly the types it uses);
    its results are memoised, so mapping at registration time makes calls cheap.
    """

    def __init__(self) -> None:
        self.env = TypeEnv()
        self._memo: dict[Any, TypeInfo] = {}
        self._names: dict[str, Any] = {}

    def candid(self, hint: Any) -> CandidType:
        return self.info(hint).candid

    def info(self, hint: Any) -> TypeInfo:
        """The `TypeInfo` of ``hint``; raises `TypeHintError` naming the hint and the fix."""
        try:
            found = self._memo.get(hint)
        except TypeError:  # unhashable metadata in Annotated
            found = None
        if found is not None:
            return found
        result = self._map(hint)
        with contextlib.suppress(TypeError):
            self._memo[hint] = result
        return result

    # ---- dispatch on the hint's shape --------------------------------------------------
    def _map(self, hint: Any) -> TypeInfo:
        if isinstance(hint, str):
            raise TypeHintError(
                f"the hint {hint!r} is a string that could not be resolved; define the type "
                "at module level (forward references are looked up in the module's globals)"
            )
        prim = _PRIMITIVES.get(hint) if isinstance(hint, type) or hint is None else None
        if prim is not None:
            return TypeInfo(prim)
        origin = typing.get_origin(hint)
        if origin is Annotated:
            return self._annotated(hint)
        if origin is Union or origin is pytypes.UnionType:
            return self._union(hint)
        if origin is Literal:
            return self._literal(hint)
        if origin is not None:
            return self._generic(hint, origin, typing.get_args(hint))
        if isinstance(hint, type):
            if issubclass(hint, VariantValue):
                return self._named(hint, self._variant_class)
            if issubclass(hint, enum.Enum):
                return self._named(hint, self._enum)
            if dataclasses.is_dataclass(hint):
                return self._named(hint, self._dataclass)
            if typing.is_typeddict(hint):
                return self._named(hint, self._typeddict)
            if issubclass(hint, Principal):
                return TypeInfo(PRINCIPAL)
            if hint in (list, tuple, dict, set, frozenset):
                raise TypeHintError(
                    f"bare {hint.__name__} has no element type; write e.g. {hint.__name__}[int]"
                    if hint is not dict
                    else "bare dict has no key/value types; write e.g. dict[str, int]"
                )
        raise TypeHintError(
            f"{hint!r} has no Candid equivalent; use int, str, bytes, bool, float, None, "
            "Principal, list/tuple/dict/Optional of those, a dataclass, TypedDict, Enum, "
            "@variant class or a Union of dataclasses"
        )

    def _annotated(self, hint: Any) -> TypeInfo:
        base, *meta = typing.get_args(hint)
        for m in meta:
            if isinstance(m, FuncType):
                return self._func(hint, base, m)
            if isinstance(m, CandidType):
                inner = self.info(base)
                return TypeInfo(m, inner.to_wire, inner.from_wire)
        return self.info(base)

    def _generic(self, hint: Any, origin: Any, args: tuple[Any, ...]) -> TypeInfo:
        if origin is list or origin is Sequence or origin in (set, frozenset):
            if len(args) != 1:
                raise TypeHintError(f"{hint!r} needs exactly one element type")
            return self._vec(self.info(args[0]), origin)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return self._vec(self.info(args[0]), tuple)
            if args == ((),):
                args = ()
            return self._tuple([self.info(a) for a in args])
        if origin is dict or origin is Mapping:
            if len(args) != 2:
                raise TypeHintError(f"{hint!r} needs a key and a value type")
            return self._dict(self.info(args[0]), self.info(args[1]))
        if origin is typing.ClassVar:
            raise TypeHintError("ClassVar fields are not part of a record")
        raise TypeHintError(
            f"{hint!r}: generic {getattr(origin, '__name__', origin)!r} has no Candid "
            "equivalent; use list, tuple, dict, set or Optional"
        )

    def _func(self, hint: Any, base: Any, signature: FuncType) -> TypeInfo:
        if base is not FuncRef:
            raise TypeHintError(
                f"{hint!r}: func_type(...) describes a method reference, whose values are "
                f"FuncRef; write Annotated[FuncRef, func_type(...)], not {base!r}"
            )
        args = tuple(self.candid(a) for a in signature.args)
        results = tuple(self.candid(r) for r in signature.results)
        return TypeInfo(Func(args, results, signature.modes))

    # ---- containers --------------------------------------------------------------------
    @staticmethod
    def _vec(inner: TypeInfo, origin: Any) -> TypeInfo:
        to_w = inner.to_wire
        from_w = inner.from_wire
        to_wire: Converter | None = None
        if to_w is not None:
            def to_wire(v: Any) -> Any:
                return [to_w(x) for x in v]
        elif origin in (set, frozenset):
            to_wire = list
        from_wire: Converter | None = None
        build: Any = None if origin in (list, Sequence) else origin
        if inner.candid == NAT8 and from_w is None:
            from_wire = build or list  # vec nat8 decodes as bytes
        elif from_w is not None:
            if build is None:
                def from_wire(v: Any) -> Any:
                    return [from_w(x) for x in v]
            else:
                def from_wire(v: Any) -> Any:
                    return build(from_w(x) for x in v)
        elif build is not None:
            from_wire = build
        return TypeInfo(Vec(inner.candid), to_wire, from_wire)

    @staticmethod
    def _tuple(items: list[TypeInfo]) -> TypeInfo:
        candid = Record.tuple_of(*(i.candid for i in items)) if items else Record()
        tos = tuple(i.to_wire for i in items)
        froms = tuple(i.from_wire for i in items)
        to_wire: Converter | None = None
        from_wire: Converter | None = None
        if any(tos):
            def to_wire(v: Any) -> Any:
                return tuple(v[i] if f is None else f(v[i]) for i, f in enumerate(tos))
        if not items:
            def from_wire(v: Any) -> Any:
                return ()
        elif any(froms):
            def from_wire(v: Any) -> Any:
                return tuple(x if f is None else f(x) for x, f in zip(v, froms, strict=True))
        return TypeInfo(candid, to_wire, from_wire)

    @staticmethod
    def _dict(key: TypeInfo, value: TypeInfo) -> TypeInfo:
        kt, vt = key.to_wire, value.to_wire
        kf, vf = key.from_wire, value.from_wire
        candid = Vec(Record.tuple_of(key.candid, value.candid))
        to_wire: Converter
        from_wire: Converter
        if kt is None and vt is None:
            def to_wire(v: Any) -> Any:
                return list(v.items())
        else:
            def to_wire(v: Any) -> Any:
                return [
                    (k if kt is None else kt(k), x if vt is None else vt(x)) for k, x in v.items()
                ]
        if kf is None and vf is None:
            from_wire = dict
        else:
            def from_wire(v: Any) -> Any:
                return {
                    (k if kf is None else kf(k)): (x if vf is None else vf(x)) for k, x in v
                }
        return TypeInfo(candid, to_wire, from_wire)

    @staticmethod
    def _opt(inner: TypeInfo) -> TypeInfo:
        to_w, from_w = inner.to_wire, inner.from_wire
        to_wire: Converter | None = None
        from_wire: Converter | None = None
        if to_w is not None:
            def to_wire(v: Any) -> Any:
                return None if v is None else to_w(v)
        if from_w is not None:
            def from_wire(v: Any) -> Any:
                return None if v is None else from_w(v)
        return TypeInfo(Opt(inner.candid), to_wire, from_wire)

    def _union(self, hint: Any) -> TypeInfo:
        args = typing.get_args(hint)
        rest = tuple(a for a in args if a is not type(None))
        if len(rest) < len(args):
            if len(rest) == 1:
                return self._opt(self.info(rest[0]))
            return self._opt(self._tagged_union(hint, rest))
        return self._tagged_union(hint, rest)

    def _tagged_union(self, hint: Any, arms: tuple[Any, ...]) -> TypeInfo:
        bad = [a for a in arms if not (isinstance(a, type) and dataclasses.is_dataclass(a))]
        if bad:
            raise TypeHintError(
                f"{hint!r}: a Union becomes a Candid variant only when every member is a "
                f"dataclass (one arm each); {', '.join(map(repr, bad))} is not. Use a "
                "@variant class for arms of other types"
            )
        fields: list[Field] = []
        encoders: dict[type, tuple[str, Converter | None, bool]] = {}
        decoders: dict[str, tuple[type, Converter | None, bool]] = {}
        for cls in arms:
            hints = self._hints(cls)
            found = _tag_of(cls, hints)
            label = found[1] if found else cls.__name__
            if label in decoders:
                raise TypeHintError(f"{hint!r}: two arms are labelled {label!r}")
            payload_fields = [
                f for f in dataclasses.fields(cls) if not (found and f.name == found[0])
            ]
            empty = not payload_fields
            info = TypeInfo(NULL) if empty else self.info(cls)
            fields.append(Field(label, info.candid))
            encoders[cls] = (label, info.to_wire, empty)
            decoders[label] = (cls, info.from_wire, empty)

        def to_wire(v: Any) -> Any:
            try:
                label, conv, empty = encoders[type(v)]
            except KeyError:
                raise TypeHintError(
                    f"{type(v).__name__} is not one of the union's classes "
                    f"({', '.join(c.__name__ for c in encoders)})"
                ) from None
            return {label: None if empty else (v if conv is None else conv(v))}

        def from_wire(v: Any) -> Any:
            ((label, payload),) = v.items()
            cls, conv, empty = decoders[label]
            if empty:
                return cls()
            return payload if conv is None else conv(payload)

        return TypeInfo(Variant(fields), to_wire, from_wire)

    def _literal(self, hint: Any) -> TypeInfo:
        values = typing.get_args(hint)
        if not all(isinstance(v, str) for v in values):
            raise TypeHintError(f"{hint!r}: only Literal of strings maps to a variant")
        candid = Variant(Field(v, NULL) for v in values)
        wires = {v: {v: None} for v in values}

        def to_wire(v: Any) -> Any:
            try:
                return wires[v]
            except KeyError:
                raise TypeHintError(f"{v!r} is not one of {values}") from None

        def from_wire(v: Any) -> Any:
            return next(iter(v))

        return TypeInfo(candid, to_wire, from_wire)

    # ---- named types -------------------------------------------------------------------
    def _hints(self, cls: type) -> dict[str, Any]:
        try:
            return typing.get_type_hints(cls, include_extras=True)
        except NameError as exc:
            raise TypeHintError(
                f"cannot resolve the annotations of {cls.__qualname__}: {exc}; define "
                "referenced types at module level"
            ) from None

    def _name_for(self, cls: type) -> str:
        base = cls.__name__
        name, n = base, 1
        while name in self._names and self._names[name] is not cls:
            n += 1
            name = f"{base}_{n}"
        self._names[name] = cls
        return name

    def _named(self, cls: type, build: Callable[[type], TypeInfo]) -> TypeInfo:
        """Define ``cls`` as a named type; a placeholder entry makes recursion work."""
        name = self._name_for(cls)
        ref = self.env.ref(name)
        cell: list[TypeInfo] = []

        def to_wire(v: Any) -> Any:
            conv = cell[0].to_wire
            return v if conv is None else conv(v)

        def from_wire(v: Any) -> Any:
            conv = cell[0].from_wire
            return v if conv is None else conv(v)

        self._memo[cls] = TypeInfo(ref, to_wire, from_wire)
        self.env.define(name, NULL)  # keeps definition order = first use
        try:
            built = build(cls)
        except BaseException:
            del self._memo[cls]
            del self.env._definitions[name]
            del self._names[name]
            raise
        self.env.define(name, built.candid)
        cell.append(built)
        final = TypeInfo(ref, built.to_wire, built.from_wire)
        self._memo[cls] = final
        return final

    def _field_info(self, cls: type, name: str, hint: Any) -> TypeInfo:
        try:
            return self.info(hint)
        except TypeHintError as exc:
            raise TypeHintError(f"{cls.__qualname__}.{name}: {exc}") from None

    def _dataclass(self, cls: type) -> TypeInfo:
        hints = self._hints(cls)
        tag = _tag_of(cls, hints)
        specs = []
        for f in dataclasses.fields(cls):
            if tag and f.name == tag[0]:
                continue
            if not f.init:
                raise TypeHintError(
                    f"{cls.__qualname__}.{f.name} has init=False; every record field must be "
                    "settable from the constructor"
                )
            specs.append((f.name, self._field_info(cls, f.name, hints[f.name])))
        candid = Record(Field(n, i.candid) for n, i in specs)
        tos = tuple((n, i.to_wire) for n, i in specs)
        froms = tuple((n, i.from_wire) for n, i in specs)
        to_wire: Converter | None = None
        if any(t for _, t in tos):
            def to_wire(v: Any) -> Any:
                if isinstance(v, Mapping):
                    return {n: (v[n] if t is None else t(v[n])) for n, t in tos if n in v}
                return {
                    n: (getattr(v, n) if t is None else t(getattr(v, n))) for n, t in tos
                }
        if any(f for _, f in froms):
            def from_wire(v: Any) -> Any:
                return cls(**{n: (v[n] if f is None else f(v[n])) for n, f in froms})
        else:
            def from_wire(v: Any) -> Any:
                return cls(**v)
        return TypeInfo(candid, to_wire, from_wire)

    def _typeddict(self, cls: type) -> TypeInfo:
        hints = self._hints(cls)
        required: frozenset[str] = getattr(cls, "__required_keys__", frozenset(hints))
        specs = []
        for name, hint in hints.items():
            info = self._field_info(cls, name, hint)
            if name not in required:
                info = self._opt(info)
            specs.append((name, info, name in required))
        candid = Record(Field(n, i.candid) for n, i, _ in specs)
        tos = tuple((n, i.to_wire) for n, i, _ in specs)
        froms = tuple((n, i.from_wire, req) for n, i, req in specs)
        to_wire: Converter | None = None
        from_wire: Converter | None = None
        if any(t for _, t in tos):
            def to_wire(v: Any) -> Any:
                return {n: (v[n] if t is None else t(v[n])) for n, t in tos if n in v}
        if any(f or not req for _, f, req in froms):
            def from_wire(v: Any) -> Any:
                out: dict[str, Any] = {}
                for n, f, req in froms:
                    x = v[n]
                    if x is None and not req:
                        continue
                    out[n] = x if f is None else f(x)
                return out
        return TypeInfo(candid, to_wire, from_wire)

    def _enum(self, cls: type) -> TypeInfo:
        members: list[enum.Enum] = list(cls)  # type: ignore[call-overload]
        if not members:
            raise TypeHintError(f"Enum {cls.__name__} has no members")
        candid = Variant(Field(m.name, NULL) for m in members)
        wires = {m: {m.name: None} for m in members}
        by_name = {m.name: m for m in members}

        def to_wire(v: Any) -> Any:
            return wires[v]

        def from_wire(v: Any) -> Any:
            return by_name[next(iter(v))]

        return TypeInfo(candid, to_wire, from_wire)

    def _variant_class(self, cls: type) -> TypeInfo:
        hints = self._hints(cls)
        arms = cls.__variant_arms__  # type: ignore[attr-defined]
        infos = {a: self._field_info(cls, a, hints[a]) for a in arms}
        candid = Variant(Field(a, i.candid) for a, i in infos.items())
        tos = {a: i.to_wire for a, i in infos.items()}
        froms = {a: i.from_wire for a, i in infos.items()}
        new = object.__new__
        setter = object.__setattr__

        def to_wire(v: Any) -> Any:
            t = tos[v.tag]
            return {v.tag: v.value if t is None else t(v.value)}

        def from_wire(v: Any) -> Any:
            ((tag, payload),) = v.items()
            f = froms[tag]
            out: Any = new(cls)
            setter(out, "tag", tag)
            setter(out, "value", payload if f is None else f(payload))
            return out

        return TypeInfo(candid, to_wire, from_wire)


_STORAGE_MAPPER = TypeMapper()


def storage_mapper() -> TypeMapper:
    """The mapper shared by stable structures (their type names never reach a .did)."""
    return _STORAGE_MAPPER


def candid_type_of(hint: Any, env: TypeEnv | None = None) -> CandidType:
    """The Candid type of ``hint`` (named types are `TypeRef` into the returned env).

    With ``env`` None a fresh mapper is used; the definitions of named types are then
    reachable through the returned `TypeRef` nodes' ``env``.
    """
    mapper = TypeMapper()
    if env is not None:
        mapper.env = env
    return mapper.candid(hint)


def resolve_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints`` with extras, turning NameError into `TypeHintError`."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except NameError as exc:
        where = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', fn)!s}"
        raise TypeHintError(
            f"cannot resolve the annotations of {where}: {exc}; define referenced types at "
            "module level"
        ) from None
