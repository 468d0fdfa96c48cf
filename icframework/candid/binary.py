"""The Candid binary format: `encode` values at types, `decode` them with subtyping.

A message is ``"DIDL"``, a type table (composite types, which may refer to each other),
the argument types, then the values (see the spec's "Binary Format" section).

How it works:

* Encoding compiles each argument type once into the header bytes (type table and
  argument list) plus one encoder closure per type; closures append to a ``bytearray``.
  Compiled programs are cached per tuple of type objects (by identity).
* Decoding parses and validates the header, then compiles one reader closure per
  (wire type, expected type) pair; each reader does decoding and coercion (the spec's
  subtyping rules) in one pass. Readers have the signature
  ``reader(data, pos, meter) -> (value, new_pos)``. Recursive pairs go through a
  trampoline that counts nesting depth. Programs are cached per (header bytes, expected
  type objects), so a repeated call shape skips parsing and compiling.
* Coercion failures raise a private `CandidDecodeError` subclass; an ``opt`` reader
  catches it, skips the rest of its content with a validating skipper and yields
  ``None`` (the spec's special opt rule). Malformed input raises plain
  `CandidDecodeError` and is never turned into ``None``.
* Hostile input is bounded by a work meter (`DecodeLimits`): every vector element,
  record (and record field) and compiled type pair costs one unit, and the budget is
  proportional to the message length, so zero-byte values (``null``, ``reserved``,
  empty records) cannot blow up time or memory. Lengths are checked against the bytes
  that remain before anything is allocated.

Compiled programs assume types are immutable once used: redefining a name in a
`TypeEnv` after encoding or decoding with it is not seen by the cached programs
(call `clear_caches` after such a change).
"""

from __future__ import annotations

import dataclasses
import re
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from icframework.candid.errors import (
    CandidDecodeError,
    CandidEncodeError,
    CandidTypeError,
)
from icframework.candid.subtype import SubtypeChecker, SubtypeCheckTooDeep
from icframework.candid.types import (
    RESERVED,
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
    is_nullish,
)
from icframework.core import Principal, encode_sleb128, encode_uleb128

__all__ = [
    "DEFAULT_LIMITS",
    "MAGIC",
    "DecodeLimits",
    "FutureType",
    "clear_caches",
    "decode",
    "decode_wire_types",
    "decoder",
    "encode",
    "encoder",
]

MAGIC = b"DIDL"

# opcodes
_NULL = -1
_BOOL = -2
_NAT = -3
_INT = -4
_NAT8 = -5
_NAT16 = -6
_NAT32 = -7
_NAT64 = -8
_INT8 = -9
_INT16 = -10
_INT32 = -11
_INT64 = -12
_FLOAT32 = -13
_FLOAT64 = -14
_TEXT = -15
_RESERVED = -16
_EMPTY = -17
_OPT = -18
_VEC = -19
_RECORD = -20
_VARIANT = -21
_FUNC = -22
_SERVICE = -23
_PRINCIPAL = -24
_FUTURE = -25  # marks a future-type table entry (its real opcode is stored with it)

_PRIM_OPCODES = frozenset({*range(-17, 0), _PRINCIPAL})
_COMPOSITE_NAMES = {
    _OPT: "opt", _VEC: "vec", _RECORD: "record", _VARIANT: "variant", _FUNC: "func",
    _SERVICE: "service", _FUTURE: "future type",
}
_PRIM_BY_OPCODE: dict[int, Prim] = {k.value: Prim(k) for k in PrimKind}

# fixed-width numbers: opcode -> (struct code, size, low, high)
_FIXED: dict[int, tuple[str, int]] = {
    _NAT8: ("B", 1), _NAT16: ("H", 2), _NAT32: ("I", 4), _NAT64: ("Q", 8),
    _INT8: ("b", 1), _INT16: ("h", 2), _INT32: ("i", 4), _INT64: ("q", 8),
    _FLOAT32: ("f", 4), _FLOAT64: ("d", 8),
}
_INT_RANGES: dict[int, tuple[int, int]] = {
    _NAT8: (0, 1 << 8), _NAT16: (0, 1 << 16), _NAT32: (0, 1 << 32), _NAT64: (0, 1 << 64),
    _INT8: (-(1 << 7), 1 << 7), _INT16: (-(1 << 15), 1 << 15),
    _INT32: (-(1 << 31), 1 << 31), _INT64: (-(1 << 63), 1 << 63),
}
_MODE_BYTES = {"query": 1, "oneway": 2, "composite_query": 3}
_MODE_NAMES = {v: k for k, v in _MODE_BYTES.items()}
_MAX_PRINCIPAL = 29
_LEB_END = re.compile(rb"[\x00-\x7f]")


def _name(op: int) -> str:
    if op in _PRIM_BY_OPCODE:
        return PrimKind(op).keyword
    return _COMPOSITE_NAMES.get(op, f"opcode {op}")


@dataclass(frozen=True, slots=True)
class FutureType(CandidType):
    """A wire type from a later Candid version (opcode below -24), kept as raw bytes.

    Only `decode_wire_types` returns it; its values can only be read as ``reserved`` or
    as an ``opt`` (which gives ``None``).
    """

    opcode: int
    data: bytes

    def __repr__(self) -> str:
        return f"<future type {self.opcode}>"


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Resource bounds for decoding untrusted messages.

    ``base_work + work_per_byte * len(data)`` is the work budget of one `decode` call.
    One unit is charged per vector element (all at once, when the length is read, so
    ``vec null`` bombs fail before any element is made), per record value plus one per
    field it has on the wire, per (wire type, expected type) pair compiled and per step
    of a reference subtype check. Values that occupy input bytes are bounded by the
    input anyway; the budget exists for the zero-byte ones (``null``, ``reserved``,
    records of those) and for skipped data.

    ``max_depth`` bounds nesting: re-entering a recursive type counts one level, and a
    non-recursive type (e.g. a hostile chain of nested opts in the type table) may not
    nest deeper than ``max_depth`` levels either. Deeper messages fail with a
    `CandidDecodeError`.

    The defaults accept any message whose values are not dominated by zero-byte
    elements (e.g. a million-element blob, or a 10,000-element list of records), decode
    linked lists up to 256 elements deep, and reject the spec's space bombs in
    milliseconds. Memory stays within a constant multiple of ``budget`` (about 8 bytes
    per unit for the list slots of zero-byte vector elements) plus the Python objects
    of the values, each of which occupies at least one input byte.
    """

    base_work: int = 100_000
    work_per_byte: int = 16
    max_depth: int = 256

    def budget(self, length: int) -> int:
        """The work budget for a message of ``length`` bytes."""
        return self.base_work + self.work_per_byte * length


DEFAULT_LIMITS = DecodeLimits()


# --------------------------------------------------------------------------- errors


class _Mismatch(CandidDecodeError):
    """A value does not coerce to the expected type (an ``opt`` turns this into null)."""


class _EncodeFailure(Exception):
    """Raised inside encoders; the path (innermost first) is filled in while unwinding."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []


def _truncated(pos: int, what: str) -> CandidDecodeError:
    return CandidDecodeError(pos, f"input ends inside a {what} value")


class _Meter:
    """Per-call decoding state: remaining work units and current recursion depth."""

    __slots__ = ("depth", "max_depth", "work")

    def __init__(self, work: int, max_depth: int) -> None:
        self.work = work
        self.max_depth = max_depth
        self.depth = 0


def _budget_error(pos: int) -> CandidDecodeError:
    return CandidDecodeError(
        pos,
        "decoding work budget exceeded (the message expands to far more values than its "
        "size justifies, e.g. a huge vector of null; raise DecodeLimits if it is genuine)",
    )


# ---------------------------------------------------------------------- LEB128 (decode)


def _uleb_small(d: bytes, p: int, what: str) -> tuple[int, int]:
    """Unsigned LEB128 known to be a count, length, id or index (fits 64 bits)."""
    result = 0
    shift = 0
    start = p
    try:
        while True:
            b = d[p]
            p += 1
            if shift < 64:
                result |= (b & 0x7F) << shift
            elif b & 0x7F:
                raise CandidDecodeError(start, f"{what} does not fit in 64 bits")
            if b < 0x80:
                if result >> 64:
                    raise CandidDecodeError(start, f"{what} does not fit in 64 bits")
                return result, p
            shift += 7
    except IndexError:
        raise CandidDecodeError(start, f"input ends inside the LEB128 {what}") from None


def _sleb_small(d: bytes, p: int, what: str) -> tuple[int, int]:
    """Signed LEB128 known to be small (a type opcode or table index); overlong is fine."""
    result = 0
    shift = 0
    start = p
    ext = 0  # bit 1: a zero group beyond 70 bits, bit 2: an all-ones group, bit 4: other
    try:
        while True:
            b = d[p]
            p += 1
            g = b & 0x7F
            if shift < 70:
                result |= g << shift
            else:
                ext |= 1 if g == 0 else 2 if g == 0x7F else 4
            shift += 7
            if b < 0x80:
                break
    except IndexError:
        raise CandidDecodeError(start, f"input ends inside the SLEB128 {what}") from None
    negative = bool(b & 0x40)
    if negative:
        result -= 1 << min(shift, 70)
    if ext & 4 or (negative and ext & 1) or (not negative and ext & 2) or not (
        -(1 << 63) <= result < 1 << 63
    ):
        raise CandidDecodeError(start, f"{what} does not fit in 64 bits")
    return result, p


def _leb_groups(d: bytes, p: int, what: str) -> tuple[int, int, int]:
    """The raw 7-bit groups of a LEB128 number at ``p`` as (value, bit count, end)."""
    m = _LEB_END.search(d, p)
    if m is None:
        raise CandidDecodeError(p, f"input ends inside the LEB128 {what}")
    end = m.end()
    n = end - p
    if n <= 10:
        result = 0
        shift = 0
        for i in range(p, end):
            result |= (d[i] & 0x7F) << shift
            shift += 7
        return result, shift, end
    # long numbers: pack 8 groups (56 bits) at a time into 7 bytes, then one from_bytes
    raw = d[p:end] + b"\x00" * (-n % 8)
    parts = []
    for i in range(0, len(raw), 8):
        g = int.from_bytes(raw[i : i + 8], "little")
        chunk = 0
        for j in range(8):
            chunk |= ((g >> (8 * j)) & 0x7F) << (7 * j)
        parts.append(chunk.to_bytes(7, "little"))
    return int.from_bytes(b"".join(parts), "little"), 7 * n, end


def _read_nat(d: bytes, p: int, m: _Meter) -> tuple[int, int]:
    try:
        b = d[p]
        if b < 0x80:
            return b, p + 1
        result = b & 0x7F
        shift = 7
        q = p + 1
        while shift < 63:
            b = d[q]
            q += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, q
            shift += 7
    except IndexError:
        raise _truncated(p, "nat") from None
    value, _, end = _leb_groups(d, p, "nat")
    return value, end


def _read_int(d: bytes, p: int, m: _Meter) -> tuple[int, int]:
    try:
        b = d[p]
    except IndexError:
        raise _truncated(p, "int") from None
    if b < 0x40:
        return b, p + 1
    if b < 0x80:
        return b - 0x80, p + 1
    value, bits, end = _leb_groups(d, p, "int")
    if d[end - 1] & 0x40:
        value -= 1 << bits
    return value, end


def _skip_leb(d: bytes, p: int, m: _Meter) -> tuple[None, int]:
    try:
        if d[p] < 0x80:
            return None, p + 1
    except IndexError:
        raise _truncated(p, "LEB128 number") from None
    found = _LEB_END.search(d, p)
    if found is None:
        raise CandidDecodeError(p, "input ends inside a LEB128 number")
    return None, found.end()


# ---------------------------------------------------------------------- LEB128 (encode)


# Encoders shared with the rest of the framework (linear time for huge numbers too).
_uleb = encode_uleb128
_sleb = encode_sleb128


_DEFAULT_RECURSION_LIMIT = 1000  # CPython's default


def _ensure_stack_room(extra: int) -> None:
    """Make sure the recursion limit leaves ``extra`` frames above CPython's default.

    The codecs recurse once per nesting level of a value (a few frames per level). On
    CPython 3.11+ Python-to-Python calls do not use the C stack, so a higher limit only
    costs heap memory. The limit is raised once and left raised: setting it on every
    call was a large share of a small message's cost inside a canister.
    """
    wanted = _DEFAULT_RECURSION_LIMIT + extra
    if sys.getrecursionlimit() < wanted:
        sys.setrecursionlimit(wanted)


_ENCODE_STACK_FRAMES = 20_000
# Raise it for the default limits now, once, rather than in the middle of a call.
_ensure_stack_room(_ENCODE_STACK_FRAMES)


# ======================================================================= header parsing

# A wire table entry is a tuple headed by its opcode:
#   (_OPT, ref) (_VEC, ref) (_RECORD, ((id, ref), ...)) (_VARIANT, ((id, ref), ...))
#   (_FUNC, (arg refs), (result refs), (modes)) (_SERVICE, ((name, ref), ...))
#   (_FUTURE, opcode, raw bytes)
# A ref is a table index (>= 0) or a primitive opcode (< 0).
_Entry = tuple[Any, ...]


def _parse_header(d: bytes) -> tuple[list[_Entry], list[int], int]:
    """Parse and validate magic, type table and argument types; return them and the offset."""
    if len(d) < 4 or d[:4] != MAGIC:
        raise CandidDecodeError(0, f"message does not start with the magic bytes 'DIDL': {d[:4]!r}")
    end = len(d)
    count, p = _uleb_small(d, 4, "type table length")
    if count > end - p:
        raise CandidDecodeError(
            4, f"type table declares {count} entries but only {end - p} bytes follow"
        )

    def ref(p: int) -> tuple[int, int]:
        r, q = _sleb_small(d, p, "type reference")
        if r >= 0:
            if r >= count:
                raise CandidDecodeError(
                    p, f"type index {r} is out of range (the table has {count} entries)"
                )
        elif r not in _PRIM_OPCODES:
            what = "a composite type opcode" if r in _COMPOSITE_NAMES else "not a type"
            raise CandidDecodeError(
                p, f"type reference {r} is {what}; expected a primitive opcode or a table index"
            )
        return r, q

    def fields(p: int, kind: str) -> tuple[tuple[tuple[int, int], ...], int]:
        n, q = _uleb_small(d, p, f"{kind} field count")
        if n > (end - q) // 2:
            raise CandidDecodeError(p, f"{kind} declares {n} fields; the input is too short")
        out = []
        last = -1
        for _ in range(n):
            at = q
            fid, q = _uleb_small(d, q, f"{kind} field id")
            if fid >= 1 << 32:
                raise CandidDecodeError(at, f"{kind} field id {fid} is larger than 2**32-1")
            if fid <= last:
                raise CandidDecodeError(
                    at, f"{kind} field ids must be strictly increasing: {fid} after {last}"
                )
            last = fid
            r, q = ref(q)
            out.append((fid, r))
        return tuple(out), q

    def refs(p: int, what: str) -> tuple[tuple[int, ...], int]:
        n, q = _uleb_small(d, p, f"{what} count")
        if n > end - q:
            raise CandidDecodeError(p, f"{n} {what} declared; the input is too short")
        out = []
        for _ in range(n):
            r, q = ref(q)
            out.append(r)
        return tuple(out), q

    table: list[_Entry] = []
    service_refs: list[tuple[int, int]] = []  # (offset, ref) of method types, checked later
    for i in range(count):
        at = p
        op, p = _sleb_small(d, p, "type opcode")
        if op in (_OPT, _VEC):
            r, p = ref(p)
            table.append((op, r))
        elif op in (_RECORD, _VARIANT):
            fs, p = fields(p, "record" if op == _RECORD else "variant")
            table.append((op, fs))
        elif op == _FUNC:
            args, p = refs(p, "func argument")
            results, p = refs(p, "func result")
            n, q = _uleb_small(d, p, "func annotation count")
            if n > end - q:
                raise CandidDecodeError(p, f"{n} func annotations declared; the input is too short")
            modes: list[str] = []
            for j in range(n):
                b = d[q + j]
                if b not in _MODE_NAMES:
                    raise CandidDecodeError(
                        q + j, f"unknown func annotation byte 0x{b:02x} (1 query, 2 oneway, "
                        "3 composite_query)"
                    )
                if _MODE_NAMES[b] in modes:
                    raise CandidDecodeError(q + j, f"func annotation {_MODE_NAMES[b]} repeated")
                modes.append(_MODE_NAMES[b])
            p = q + n
            table.append((_FUNC, args, results, tuple(modes)))
        elif op == _SERVICE:
            n, q = _uleb_small(d, p, "service method count")
            if n > (end - q) // 2:
                raise CandidDecodeError(p, f"service declares {n} methods; the input is too short")
            methods = []
            last_name: bytes | None = None
            for _ in range(n):
                at_name = q
                ln, q = _uleb_small(d, q, "method name length")
                if ln > end - q:
                    raise CandidDecodeError(
                        at_name, f"method name of {ln} bytes overruns the input"
                    )
                raw = d[q : q + ln]
                try:
                    name = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise CandidDecodeError(
                        q + exc.start, f"method name is not valid UTF-8: {raw!r}"
                    ) from None
                if last_name is not None and raw <= last_name:
                    problem = "repeated" if raw == last_name else "not sorted"
                    raise CandidDecodeError(at_name, f"service method {name!r} is {problem}")
                last_name = raw
                q += ln
                at_ref = q
                r, q = ref(q)
                service_refs.append((at_ref, r))
                methods.append((name, r))
            p = q
            table.append((_SERVICE, tuple(methods)))
        elif op < _PRINCIPAL:
            ln, q = _uleb_small(d, p, "future type length")
            if ln > end - q:
                raise CandidDecodeError(p, f"future type of {ln} bytes overruns the input")
            table.append((_FUTURE, op, d[q : q + ln]))
            p = q + ln
        else:
            what = f"primitive type {_name(op)}" if op in _PRIM_OPCODES else f"{op}"
            raise CandidDecodeError(
                at, f"type table entry {i} is {what}; the table may only hold opt, vec, "
                "record, variant, func, service or future types"
            )
    for at_ref, r in service_refs:
        if r < 0 or table[r][0] != _FUNC:
            raise CandidDecodeError(at_ref, "a service method type must be a func type")
    nargs, q = _uleb_small(d, p, "argument count")
    if nargs > end - q:
        raise CandidDecodeError(p, f"{nargs} arguments declared; the input is too short")
    arg_refs: list[int] = []
    for _ in range(nargs):
        r, q = ref(q)
        arg_refs.append(r)
    return table, arg_refs, q


def _wire_model(table: list[_Entry]) -> tuple[TypeEnv, Callable[[int], CandidType]]:
    """The wire type table as type-model types (entry i is ``TypeRef('table<i>')``)."""
    env = TypeEnv()

    def t(r: int) -> CandidType:
        return _PRIM_BY_OPCODE[r] if r < 0 else env.ref(f"table{r}")

    for i, e in enumerate(table):
        op = e[0]
        model: CandidType
        if op == _OPT:
            model = Opt(t(e[1]))
        elif op == _VEC:
            model = Vec(t(e[1]))
        elif op == _RECORD:
            model = Record(Field(fid, t(r)) for fid, r in e[1])
        elif op == _VARIANT:
            model = Variant(Field(fid, t(r)) for fid, r in e[1])
        elif op == _FUNC:
            model = Func(tuple(map(t, e[1])), tuple(map(t, e[2])), e[3])
        elif op == _SERVICE:
            model = Service((name, t(r)) for name, r in e[1])
        else:
            model = FutureType(e[1], e[2])
        env.define(f"table{i}", model)
    return env, t


def decode_wire_types(data: bytes | bytearray | memoryview) -> tuple[CandidType, ...]:
    """The argument types a message declares, as type-model types.

    Table entries become `TypeRef` nodes named ``table0``, ``table1``... in a fresh
    `TypeEnv` (reachable as ``ref.env``); unknown future types become `FutureType`.
    Raises `CandidDecodeError` for a malformed header (values are not looked at).
    """
    d = _as_bytes(data)
    table, args, _ = _parse_header(d)
    _, model = _wire_model(table)
    return tuple(model(r) for r in args)


def _as_bytes(data: object) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"Candid data must be bytes, got {type(data).__name__}")


# ======================================================================= decoding

Reader = Callable[[bytes, int, _Meter], tuple[Any, int]]


def _const_none(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
    return None, p


def _read_bool(d: bytes, p: int, m: _Meter) -> tuple[bool, int]:
    try:
        b = d[p]
    except IndexError:
        raise _truncated(p, "bool") from None
    if b == 1:
        return True, p + 1
    if b == 0:
        return False, p + 1
    raise CandidDecodeError(p, f"expected bool byte 0 or 1, got 0x{b:02x}")


def _read_text(d: bytes, p: int, m: _Meter) -> tuple[str, int]:
    try:
        n = d[p]
    except IndexError:
        raise _truncated(p, "text") from None
    q = p + 1
    if n >= 0x80:
        n, q = _uleb_small(d, p, "text length")
    e = q + n
    if e > len(d):
        raise CandidDecodeError(p, f"text of {n} bytes overruns the input ({len(d) - q} left)")
    try:
        return d[q:e].decode("utf-8"), e
    except UnicodeDecodeError as exc:
        raise CandidDecodeError(q + exc.start, f"text is not valid UTF-8: {exc.reason}") from None


def _read_principal(d: bytes, p: int, m: _Meter) -> tuple[Principal, int]:
    try:
        flag = d[p]
        if flag != 1:
            if flag == 0:
                raise CandidDecodeError(p, "opaque references (flag 0x00) are not supported")
            raise CandidDecodeError(p, f"expected reference flag 0x01, got 0x{flag:02x}")
        n = d[p + 1]
    except IndexError:
        raise _truncated(p, "principal") from None
    q = p + 2
    if n >= 0x80:
        n, q = _uleb_small(d, p + 1, "principal length")
    if n > _MAX_PRINCIPAL:
        raise CandidDecodeError(p + 1, f"principal of {n} bytes; the maximum is {_MAX_PRINCIPAL}")
    e = q + n
    if e > len(d):
        raise CandidDecodeError(p + 1, f"principal of {n} bytes overruns the input")
    return Principal(d[q:e]), e


def _read_func(d: bytes, p: int, m: _Meter) -> tuple[FuncRef, int]:
    try:
        flag = d[p]
    except IndexError:
        raise _truncated(p, "func") from None
    if flag != 1:
        if flag == 0:
            raise CandidDecodeError(p, "opaque func references (flag 0x00) are not supported")
        raise CandidDecodeError(p, f"expected func reference flag 0x01, got 0x{flag:02x}")
    service, q = _read_principal(d, p + 1, m)
    method, q = _read_text(d, q, m)
    return FuncRef(service, method), q


def _fixed_reader(op: int) -> Reader:
    code, size = _FIXED[op]
    unpack = struct.Struct("<" + code).unpack_from
    what = _name(op)

    def read(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        try:
            return unpack(d, p)[0], p + size
        except struct.error:
            raise CandidDecodeError(
                p, f"input ends inside a {what} value ({size} bytes needed, {len(d) - p} left)"
            ) from None

    return read


def _skip_fixed(size: int, what: str) -> Reader:
    def skip(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        q = p + size
        if q > len(d):
            raise CandidDecodeError(p, f"input ends inside a {what} value")
        return None, q

    return skip


def _skip_value(reader: Reader) -> Reader:
    def skip(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        return None, reader(d, p, m)[1]

    return skip


def _skip_future(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
    nbytes, q = _uleb_small(d, p, "future value byte count")
    nrefs, q = _uleb_small(d, q, "future value reference count")
    if nbytes > len(d) - q:
        raise CandidDecodeError(p, f"future value of {nbytes} bytes overruns the input")
    m.work -= nrefs
    if m.work < 0:
        raise _budget_error(p)
    return None, q + nbytes


_PRIM_READERS: dict[int, Reader] = {
    _BOOL: _read_bool, _NAT: _read_nat, _INT: _read_int, _TEXT: _read_text,
    _PRINCIPAL: _read_principal, _NULL: _const_none,
    **{op: _fixed_reader(op) for op in _FIXED},
}
_PRIM_SKIPPERS: dict[int, Reader] = {
    _NULL: _const_none, _RESERVED: _const_none, _BOOL: _skip_value(_read_bool),
    _NAT: _skip_leb, _INT: _skip_leb, _TEXT: _skip_value(_read_text),
    _PRINCIPAL: _skip_value(_read_principal),
    **{op: _skip_fixed(size, _name(op)) for op, (_, size) in _FIXED.items()},
}


def _mismatch(reason: str) -> Reader:
    def fail(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        raise _Mismatch(p, reason)

    return fail


def _hard_fail(reason: str) -> Reader:
    def fail(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        raise CandidDecodeError(p, reason)

    return fail


def _show(t: CandidType) -> str:
    if isinstance(t, TypeRef):
        return t.name
    if isinstance(t, Prim):
        return t.kind.keyword
    text = repr(t)
    return text if len(text) <= 80 else text[:77] + "..."


class _Compiler:
    """Builds reader closures for (wire type, expected type) pairs of one type table."""

    def __init__(self, table: list[_Entry], max_depth: int, meter: _Meter) -> None:
        self.table = table
        self.max_depth = max_depth
        self.meter = meter
        self.memo: dict[tuple[int, int], Reader] = {}
        self.cells: dict[tuple[int, int], list[Reader]] = {}
        self.in_progress: set[tuple[int, int]] = set()
        self.static_fail: set[int] = set()  # ids of readers that always raise _Mismatch
        self.keep: list[object] = []  # expected types whose ids are memo keys
        self._model: Callable[[int], CandidType] | None = None
        self._checker: SubtypeChecker | None = None

    # -- helpers ---------------------------------------------------------------

    def op(self, w: int) -> int:
        return w if w < 0 else int(self.table[w][0])

    def wire_name(self, w: int) -> str:
        return _name(self.op(w)) if w < 0 else f"{_name(self.op(w))} (table{w})"

    def model(self, w: int) -> CandidType:
        if self._model is None:
            _, self._model = _wire_model(self.table)
        return self._model(w)

    def subtype(self, w: int, e: CandidType, pos: int) -> bool:
        if self._checker is None:
            self._checker = SubtypeChecker(
                max_depth=self.max_depth, max_steps=max(self.meter.work, 0)
            )
        before = self._checker.steps
        try:
            ok = self._checker.check(self.model(w), e)
        except SubtypeCheckTooDeep as exc:
            raise CandidDecodeError(pos, f"reference type check: {exc}") from None
        self.meter.work -= self._checker.steps - before
        if self.meter.work < 0:
            raise _budget_error(pos)
        return ok

    def fail(self, reason: str) -> Reader:
        r = _mismatch(reason)
        self.static_fail.add(id(r))
        self.keep.append(r)
        return r

    def mismatch(self, w: int, e: CandidType) -> Reader:
        return self.fail(f"cannot read a wire {self.wire_name(w)} value at type {_show(e)}")

    # -- entry point -------------------------------------------------------------

    def make(self, w: int, e: CandidType, depth: int) -> Reader:
        """The reader for wire type ``w`` at expected type ``e``."""
        if isinstance(e, TypeRef):
            e = e.resolve()
        key = (w, id(e))
        r = self.memo.get(key)
        if r is not None:
            return r
        if key in self.in_progress:
            cell = self.cells.get(key)
            if cell is None:
                cell = self.cells[key] = []
            return self._trampoline(cell)
        if depth > self.max_depth:
            return _hard_fail(f"types nest deeper than {self.max_depth} levels")
        self.meter.work -= 1
        if self.meter.work < 0:
            raise _budget_error(0)
        self.in_progress.add(key)
        self.keep.append(e)
        r = self._build(w, e, depth + 1)
        self.in_progress.discard(key)
        self.memo[key] = r
        cell = self.cells.get(key)
        if cell is not None:
            cell.append(r)
        return r

    @staticmethod
    def _trampoline(cell: list[Reader]) -> Reader:
        def tramp(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
            depth = m.depth + 1
            if depth > m.max_depth:
                raise CandidDecodeError(
                    p, f"recursive value nests deeper than {m.max_depth} levels"
                )
            m.depth = depth
            r = cell[0](d, p, m)
            m.depth = depth - 1
            return r

        return tramp

    def _build(self, w: int, e: CandidType, depth: int) -> Reader:
        op = self.op(w)
        if isinstance(e, Prim) and e.kind is PrimKind.RESERVED:
            return self._skipper(w, op, depth)
        if op == _EMPTY:
            return _hard_fail("a value of wire type empty cannot exist")
        if isinstance(e, Opt):
            return self._opt(w, op, e, depth)
        if isinstance(e, Prim):
            k = e.kind.value
            if k in _PRIM_READERS and (
                op == k or (k == _INT and op == _NAT) or (k == _PRINCIPAL and op == _SERVICE)
            ):
                return _PRIM_READERS[op if k == _INT else k]
            return self.mismatch(w, e)
        if isinstance(e, Vec):
            return self._vec(w, op, e, depth)
        if isinstance(e, Record):
            return self._record(w, op, e, depth)
        if isinstance(e, Variant):
            return self._variant(w, op, e, depth)
        if isinstance(e, (Func, Service)):
            if op != (_FUNC if isinstance(e, Func) else _SERVICE):
                return self.mismatch(w, e)
            if not self.subtype(w, e, 0):
                return self.fail(
                    f"the wire reference type {self.wire_name(w)} is not a subtype of the "
                    f"expected {_show(e)}"
                )
            return _read_func if isinstance(e, Func) else _read_principal
        if isinstance(e, FutureType):
            return self._skipper(w, op, depth) if op == _FUTURE else self.mismatch(w, e)
        raise CandidTypeError(f"cannot decode at {e!r}: not a Candid type the decoder knows")

    # -- skipping (reading at reserved) ------------------------------------------

    def _skipper(self, w: int, op: int, depth: int) -> Reader:
        if w < 0:
            if op == _EMPTY:
                return _hard_fail("a value of wire type empty cannot exist")
            return _PRIM_SKIPPERS[op]
        entry = self.table[w]
        if op == _OPT:
            inner = self.make(entry[1], RESERVED, depth)

            def skip_opt(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
                try:
                    flag = d[p]
                except IndexError:
                    raise _truncated(p, "opt") from None
                if flag == 0:
                    return None, p + 1
                if flag == 1:
                    return None, inner(d, p + 1, m)[1]
                raise CandidDecodeError(p, f"expected opt flag 0 or 1, got 0x{flag:02x}")

            return skip_opt
        if op == _VEC:
            return self._vec_loop(entry[1], self.make(entry[1], RESERVED, depth), None)
        if op == _RECORD:
            steps = [self.make(r, RESERVED, depth) for _, r in entry[1]]
            cost = 1 + len(steps)

            def skip_record(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
                m.work -= cost
                if m.work < 0:
                    raise _budget_error(p)
                for s in steps:
                    p = s(d, p, m)[1]
                return None, p

            return skip_record
        if op == _VARIANT:
            arms = [self.make(r, RESERVED, depth) for _, r in entry[1]]
            return self._variant_reader([(None, a) for a in arms], skip=True)
        if op == _FUNC:
            return _skip_value(_read_func)
        if op == _SERVICE:
            return _skip_value(_read_principal)
        return _skip_future

    # -- opt ----------------------------------------------------------------------

    def _opt(self, w: int, op: int, e: Opt, depth: int) -> Reader:
        some = is_nullish(e.inner)
        if op in (_NULL, _RESERVED):
            return _const_none
        if op == _FUTURE:
            return self.make(w, RESERVED, depth)
        if op == _OPT:
            wi = int(self.table[w][1])
            inner = self.make(wi, e.inner, depth)
            skip = self.make(wi, RESERVED, depth)
            if id(inner) in self.static_fail:
                inner = skip  # the content never coerces: skip it and give null
                some = False
                always_null = True
            else:
                always_null = False

            def read_opt(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
                try:
                    flag = d[p]
                except IndexError:
                    raise _truncated(p, "opt") from None
                if flag == 0:
                    return None, p + 1
                if flag != 1:
                    raise CandidDecodeError(p, f"expected opt flag 0 or 1, got 0x{flag:02x}")
                saved = m.depth
                try:
                    v, q = inner(d, p + 1, m)
                except _Mismatch:
                    m.depth = saved
                    return None, skip(d, p + 1, m)[1]
                if always_null:
                    return None, q
                return (Some(v) if some else v), q

            return read_opt
        # a non-optional wire value read at opt T: "opt v" if it coerces, else null
        seen = {id(e)}
        t: CandidType = e.inner
        while True:
            if isinstance(t, TypeRef):
                t = t.resolve()
            if not isinstance(t, Opt):
                break
            if id(t) in seen:
                return _hard_fail(
                    f"a wire {self.wire_name(w)} value cannot be read at an infinitely nested opt "
                    "type"
                )
            seen.add(id(t))
            t = t.inner
        inner = self.make(w, e.inner, depth)
        skip = self.make(w, RESERVED, depth)
        if id(inner) in self.static_fail:
            return _skip_value(skip)

        def read_as_opt(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
            saved = m.depth
            try:
                v, q = inner(d, p, m)
            except _Mismatch:
                m.depth = saved
                return None, skip(d, p, m)[1]
            return (Some(v) if some else v), q

        return read_as_opt

    # -- vec ----------------------------------------------------------------------

    def _vec(self, w: int, op: int, e: Vec, depth: int) -> Reader:
        if op != _VEC:
            return self.mismatch(w, e)
        wi = int(self.table[w][1])
        ei = e.inner.resolve() if isinstance(e.inner, TypeRef) else e.inner
        if isinstance(ei, Prim) and wi == ei.kind.value and wi in _FIXED:
            return _fixed_vec_reader(wi)
        # (an element type that never coerces still reads the empty vector)
        return self._vec_loop(wi, self.make(wi, ei, depth), [])

    def _vec_loop(self, wi: int, inner: Reader, result: list[Any] | None) -> Reader:
        """A vector reader (``result`` is None for a skipper, else values are collected)."""
        wop = self.op(wi)
        size = _FIXED[wop][1] if wop in _FIXED else 0 if wop in (_NULL, _RESERVED) else 1
        if wop == _RECORD:
            size = 0
        collect = result is not None
        zero_skip = not collect and wop in (_NULL, _RESERVED)
        fixed_skip = not collect and wop in _FIXED

        def read_vec(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
            try:
                n = d[p]
            except IndexError:
                raise _truncated(p, "vec") from None
            q = p + 1
            if n >= 0x80:
                n, q = _uleb_small(d, p, "vector length")
            if n * size > len(d) - q:
                raise CandidDecodeError(
                    p, f"vector of {n} elements needs at least {n * size} bytes; "
                    f"only {len(d) - q} remain"
                )
            m.work -= n
            if m.work < 0:
                raise _budget_error(p)
            if zero_skip:
                return None, q
            if fixed_skip:
                return None, q + n * size
            if not collect:
                for _ in range(n):
                    q = inner(d, q, m)[1]
                return None, q
            out: list[Any] = []
            append = out.append
            for _ in range(n):
                v, q = inner(d, q, m)
                append(v)
            return out, q

        return read_vec

    # -- record -------------------------------------------------------------------

    def _record(self, w: int, op: int, e: Record, depth: int) -> Reader:
        if op != _RECORD:
            return self.mismatch(w, e)
        wire = self.table[w][1]
        expected = {f.id: f for f in e.fields}
        wire_ids = {fid for fid, _ in wire}
        for f in e.fields:
            if f.id not in wire_ids and not is_nullish(f.type):
                return self.fail(
                    f"record field {f.label!r} (type {_show(f.type)}) is missing from the wire "
                    "value and is not optional"
                )
        # walk both id-sorted field lists; missing optional fields read as null
        steps: list[tuple[Reader, bool]] = []
        missing = sorted(f.id for f in e.fields if f.id not in wire_ids)
        mi = 0
        for fid, r in wire:
            while mi < len(missing) and missing[mi] < fid:
                steps.append((_const_none, True))
                mi += 1
            ef = expected.get(fid)
            if ef is None:
                steps.append((self.make(r, RESERVED, depth), False))
            else:
                rd = self.make(r, ef.type, depth)
                if id(rd) in self.static_fail:
                    return self.fail(
                        f"record field {ef.label!r}: cannot read a wire {self.wire_name(r)} value "
                        f"at type {_show(ef.type)}"
                    )
                steps.append((rd, True))
        steps.extend((_const_none, True) for _ in missing[mi:])
        keys = tuple(f.label for f in e.fields)
        return _record_reader(tuple(steps), keys, 1 + len(wire), e.is_tuple)

    # -- variant ------------------------------------------------------------------

    def _variant(self, w: int, op: int, e: Variant, depth: int) -> Reader:
        if op != _VARIANT:
            return self.mismatch(w, e)
        expected = {f.id: f for f in e.fields}
        arms: list[tuple[str | int | None, Reader]] = []
        for fid, r in self.table[w][1]:
            f = expected.get(fid)
            if f is None:
                arms.append((None, _mismatch(f"variant tag {fid} is not in the expected type")))
            else:
                arms.append((f.label, self.make(r, f.type, depth)))
        return self._variant_reader(arms, skip=False)

    @staticmethod
    def _variant_reader(arms: list[tuple[str | int | None, Reader]], *, skip: bool) -> Reader:
        n = len(arms)
        table = tuple(arms)

        def read_variant(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
            try:
                i = d[p]
            except IndexError:
                raise _truncated(p, "variant") from None
            q = p + 1
            if i >= 0x80:
                i, q = _uleb_small(d, p, "variant index")
            if i >= n:
                raise CandidDecodeError(
                    p, f"variant index {i} is out of range (the wire type has {n} tags)"
                )
            label, rd = table[i]
            v, q = rd(d, q, m)
            if skip:
                return None, q
            return {label: v}, q

        return read_variant


_CODEGEN_MAX_FIELDS = 64


def _record_reader(
    steps: tuple[tuple[Reader, bool], ...], keys: tuple[str | int, ...], cost: int, as_tuple: bool
) -> Reader:
    """A record reader: straight-line generated code for the usual sizes, a loop beyond."""
    if len(steps) <= _CODEGEN_MAX_FIELDS:
        ns: dict[str, Any] = {"_budget_error": _budget_error, "cost": cost}
        lines = [
            "def read_record(d, p, m):",
            "    m.work -= cost",
            "    if m.work < 0:",
            "        raise _budget_error(p)",
        ]
        kept = []
        for i, (rd, keep) in enumerate(steps):
            ns[f"r{i}"] = rd
            if keep:
                lines.append(f"    v{i}, p = r{i}(d, p, m)")
                kept.append(i)
            else:
                lines.append(f"    p = r{i}(d, p, m)[1]")
        if as_tuple:
            lines.append(f"    return ({''.join(f'v{i}, ' for i in kept)}), p")
        else:
            for j, _ in enumerate(keys):
                ns[f"k{j}"] = keys[j]
            items = ", ".join(f"k{j}: v{i}" for j, i in enumerate(kept))
            lines.append(f"    return {{{items}}}, p")
        exec("\n".join(lines), ns)  # generated from field positions only
        reader: Reader = ns["read_record"]
        return reader

    def read_record(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        m.work -= cost
        if m.work < 0:
            raise _budget_error(p)
        vals = []
        for rd, keep in steps:
            v, p = rd(d, p, m)
            if keep:
                vals.append(v)
        if as_tuple:
            return tuple(vals), p
        return dict(zip(keys, vals, strict=True)), p

    return read_record


def _fixed_vec_reader(op: int) -> Reader:
    code, size = _FIXED[op]
    what = _name(op)

    def read(d: bytes, p: int, m: _Meter) -> tuple[Any, int]:
        try:
            n = d[p]
        except IndexError:
            raise _truncated(p, "vec") from None
        q = p + 1
        if n >= 0x80:
            n, q = _uleb_small(d, p, "vector length")
        e = q + n * size
        if e > len(d):
            raise CandidDecodeError(
                p, f"vec {what} of {n} elements needs {n * size} bytes; only {len(d) - q} remain"
            )
        m.work -= n
        if m.work < 0:
            raise _budget_error(p)
        if op == _NAT8:
            return d[q:e], e
        return list(struct.unpack_from(f"<{n}{code}", d, q)), e

    return read


@dataclass(frozen=True, slots=True)
class _Program:
    header: bytes
    readers: tuple[Reader, ...]
    skips: tuple[Reader, ...]
    keep: object  # the expected types (so the ids in the cache key stay valid)


_DECODE_CACHE: dict[tuple[Any, ...], list[_Program]] = {}
_ENCODE_CACHE: dict[tuple[int, ...], tuple[bytes, tuple[Callable[[Any, bytearray], None], ...],
                                           object]] = {}
_CACHE_LIMIT = 256
_HEADERS_PER_KEY = 4


def clear_caches() -> None:
    """Forget compiled encoders and decoders (needed only after redefining a type name)."""
    _DECODE_CACHE.clear()
    _ENCODE_CACHE.clear()
    for cache in _FAST_CACHES:
        cache.clear()


def _compile_decoder(
    d: bytes, types: tuple[CandidType, ...] | None, limits: DecodeLimits, meter: _Meter
) -> tuple[_Program, int]:
    table, args, p = _parse_header(d)
    compiler = _Compiler(table, limits.max_depth, meter)
    expected = tuple(compiler.model(r) for r in args) if types is None else types
    readers: list[Reader] = []
    for i, e in enumerate(expected):
        if i < len(args):
            readers.append(compiler.make(args[i], e, 0))
        elif is_nullish(e):
            readers.append(_const_none)
        else:
            raise _Mismatch(
                p, f"argument {i} (type {_show(e)}) is missing; the message has {len(args)} "
                "argument(s)"
            )
    skips = tuple(compiler.make(r, RESERVED, 0) for r in args[len(expected) :])
    return _Program(d[:p], tuple(readers), skips, expected), p


def decode(
    data: bytes | bytearray | memoryview,
    types: Sequence[CandidType] | None = None,
    *,
    limits: DecodeLimits | None = None,
) -> tuple[Any, ...]:
    """Decode a Candid message, coercing it to ``types`` (the spec's subtyping rules).

    With ``types=None`` the values are decoded at the message's own wire types (record
    and variant labels are then the numeric field ids). Extra arguments are checked and
    ignored; missing trailing arguments of opt, null or reserved type read as ``None``.
    Raises `CandidDecodeError` (with the byte offset) for any malformed message, any
    value that does not coerce, and any message exceeding ``limits``.
    """
    fast = _FAST_DECODE.get(id(types))
    if fast is not None:
        if fast[0] is types and limits is None:
            values = fast[1](data)
            if values is not None:
                return values
    elif type(types) is list and len(types) == 1:
        fast = _FAST_DECODE_ONE.get(id(types[0]))
        if fast is not None and fast[0] is types[0] and limits is None:
            values = fast[1](data)
            if values is not None:
                return values
    given = types
    d = _as_bytes(data)
    lim = limits or DEFAULT_LIMITS
    if types is not None:
        if isinstance(types, CandidType):
            raise TypeError("decode() takes a sequence of types, e.g. [NAT], not a single type")
        types = tuple(types)
    meter = _Meter(lim.budget(len(d)), lim.max_depth)
    key = (None if types is None else tuple(map(id, types)), lim.max_depth)
    _ensure_stack_room(8 * lim.max_depth + 200)
    # Learn a fast path at the second call with these types (a one-off call, e.g. with
    # types built for it, is not worth one).
    known = fast is None and limits is None and key in _DECODE_CACHE
    result, prog = _decode(d, types, lim, meter, key)
    if known and types is not None:
        _learn_decoder(given, prog)
    return result


def _decode(
    d: bytes,
    types: tuple[CandidType, ...] | None,
    lim: DecodeLimits,
    meter: _Meter,
    key: tuple[Any, ...],
) -> tuple[tuple[Any, ...], _Program]:
    try:
        prog = None
        cached = _DECODE_CACHE.get(key)
        if cached is not None:
            for candidate in cached:
                if d.startswith(candidate.header):
                    prog = candidate
                    break
        if prog is None:
            prog, _ = _compile_decoder(d, types, lim, meter)
            entry = _DECODE_CACHE.setdefault(key, [])
            if len(entry) >= _HEADERS_PER_KEY:
                del entry[0]
            entry.append(prog)
            if len(_DECODE_CACHE) > _CACHE_LIMIT:
                del _DECODE_CACHE[next(iter(_DECODE_CACHE))]
        p = len(prog.header)
        values = []
        for rd in prog.readers:
            v, p = rd(d, p, meter)
            values.append(v)
        for sk in prog.skips:
            p = sk(d, p, meter)[1]
    except _Mismatch as exc:
        raise CandidDecodeError(exc.offset, exc.reason) from None
    except RecursionError:
        raise CandidDecodeError(
            0, "message nests too deeply for the Python stack (lower DecodeLimits.max_depth)"
        ) from None
    if p != len(d):
        raise CandidDecodeError(p, f"{len(d) - p} unexpected trailing byte(s) after the values")
    return tuple(values), prog


# ======================================================================= encoding

Encoder = Callable[[Any, bytearray], None]


def _int_value(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _EncodeFailure(f"expected an int for {what}, got {type(v).__name__}: {v!r}")
    return int(v)


def _enc_nat(v: Any, out: bytearray) -> None:
    if type(v) is not int:
        v = _int_value(v, "nat")
    if v < 0x80:
        if v < 0:
            raise _EncodeFailure(f"nat value {v} is negative")
        out.append(v)
    else:
        out += _uleb(v)


def _enc_int(v: Any, out: bytearray) -> None:
    if type(v) is not int:
        v = _int_value(v, "int")
    out += _sleb(v)


def _fixed_encoder(op: int) -> Encoder:
    code, _ = _FIXED[op]
    pack = struct.Struct("<" + code).pack
    what = _name(op)
    if op in _INT_RANGES:
        lo, hi = _INT_RANGES[op]

        def enc_int(v: Any, out: bytearray) -> None:
            if type(v) is not int:
                v = _int_value(v, what)
            try:
                out += pack(v)
            except struct.error:
                raise _EncodeFailure(f"{what} value {v} is outside {lo}..{hi - 1}") from None

        return enc_int

    def enc_float(v: Any, out: bytearray) -> None:
        if type(v) is not float and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise _EncodeFailure(f"expected a float for {what}, got {type(v).__name__}: {v!r}")
        try:
            out += pack(v)
        except (OverflowError, struct.error):
            raise _EncodeFailure(f"{what} value {v!r} is out of range") from None

    return enc_float


def _enc_bool(v: Any, out: bytearray) -> None:
    if v is True:
        out.append(1)
    elif v is False:
        out.append(0)
    else:
        raise _EncodeFailure(f"expected a bool, got {type(v).__name__}: {v!r}")


def _enc_text(v: Any, out: bytearray) -> None:
    if type(v) is not str and not isinstance(v, str):
        raise _EncodeFailure(f"expected a str for text, got {type(v).__name__}: {v!r}")
    try:
        b = v.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _EncodeFailure(f"text is not encodable as UTF-8: {exc.reason}") from None
    n = len(b)
    if n < 0x80:
        out.append(n)
    else:
        out += _uleb(n)
    out += b


def _enc_null(v: Any, out: bytearray) -> None:
    if v is not None:
        raise _EncodeFailure(f"expected None for null, got {type(v).__name__}: {v!r}")


def _enc_reserved(v: Any, out: bytearray) -> None:
    return None


def _enc_empty(v: Any, out: bytearray) -> None:
    raise _EncodeFailure("type empty has no values")


def _enc_principal(v: Any, out: bytearray) -> None:
    if not isinstance(v, Principal):
        raise _EncodeFailure(
            f"expected a Principal, got {type(v).__name__}: {v!r} (use Principal.from_text)"
        )
    raw = v.raw
    out.append(1)
    out.append(len(raw))
    out += raw


def _enc_func(v: Any, out: bytearray) -> None:
    if not isinstance(v, FuncRef):
        raise _EncodeFailure(f"expected a FuncRef, got {type(v).__name__}: {v!r}")
    out.append(1)
    _enc_principal(v.service, out)
    _enc_text(v.method, out)


_PRIM_ENCODERS: dict[int, Encoder] = {
    _NULL: _enc_null, _BOOL: _enc_bool, _NAT: _enc_nat, _INT: _enc_int, _TEXT: _enc_text,
    _RESERVED: _enc_reserved, _EMPTY: _enc_empty, _PRINCIPAL: _enc_principal,
    **{op: _fixed_encoder(op) for op in _FIXED},
}


def _is_sequence(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, (str, bytes, bytearray, memoryview))


class _EncCompiler:
    """Builds the type table and the encoder closures for a tuple of argument types."""

    def __init__(self) -> None:
        self.table: list[bytes | None] = []
        self.by_bytes: dict[bytes, int] = {}
        self.by_id: dict[int, int] = {}
        self.encoders: dict[int, Encoder] = {}
        self.cells: dict[int, list[Encoder]] = {}
        self.keep: list[object] = []

    # -- type table ---------------------------------------------------------------

    def ref(self, t: CandidType) -> int:
        """The table index (or primitive opcode) of ``t``, adding entries as needed."""
        via_ref = isinstance(t, TypeRef)
        if isinstance(t, TypeRef):
            t = t.resolve()
        if isinstance(t, Prim):
            return t.kind.value
        idx = self.by_id.get(id(t))
        if idx is not None:
            return idx
        self.keep.append(t)
        if via_ref:  # may be recursive: reserve the index before looking inside
            idx = len(self.table)
            self.table.append(None)
            self.by_id[id(t)] = idx
            self.table[idx] = self.entry(t)
            return idx
        body = self.entry(t)
        idx = self.by_bytes.get(body)
        if idx is None:
            idx = len(self.table)
            self.table.append(body)
            self.by_bytes[body] = idx
        self.by_id[id(t)] = idx
        return idx

    def entry(self, t: CandidType) -> bytes:
        if isinstance(t, Opt):
            return b"\x6e" + _sleb(self.ref(t.inner))
        if isinstance(t, Vec):
            return b"\x6d" + _sleb(self.ref(t.inner))
        if isinstance(t, (Record, Variant)):
            out = bytearray(b"\x6c" if isinstance(t, Record) else b"\x6b")
            out += _uleb(len(t.fields))
            for f in t.fields:
                out += _uleb(f.id)
                out += _sleb(self.ref(f.type))
            return bytes(out)
        if isinstance(t, Func):
            out = bytearray(b"\x6a")
            for group in (t.args, t.results):
                out += _uleb(len(group))
                for a in group:
                    out += _sleb(self.ref(a))
            out += _uleb(len(t.modes))
            out += bytes(_MODE_BYTES[mode] for mode in t.modes)
            return bytes(out)
        if isinstance(t, Service):
            out = bytearray(b"\x69")
            out += _uleb(len(t.methods))
            for name, mt in t.methods:
                resolved = mt.resolve() if isinstance(mt, TypeRef) else mt
                if not isinstance(resolved, Func):
                    raise CandidTypeError(f"service method {name!r} has non-func type {mt!r}")
                raw = name.encode("utf-8")
                out += _uleb(len(raw)) + raw + _sleb(self.ref(mt))
            return bytes(out)
        raise CandidTypeError(f"cannot encode at {t!r}: not a Candid type")

    # -- encoders -----------------------------------------------------------------

    def encoder(self, t: CandidType) -> Encoder:
        if isinstance(t, TypeRef):
            t = t.resolve()
        if isinstance(t, Prim):
            return _PRIM_ENCODERS[t.kind.value]
        key = id(t)
        enc = self.encoders.get(key)
        if enc is not None:
            return enc
        pending = self.cells.get(key)
        if pending is not None:  # recursion: defer to the encoder being built
            target = pending

            def deferred(v: Any, out: bytearray) -> None:
                target[0](v, out)

            return deferred
        cell: list[Encoder] = []
        self.cells[key] = cell
        self.keep.append(t)
        enc = self._build(t)
        cell.append(enc)
        self.encoders[key] = enc
        return enc

    def _build(self, t: CandidType) -> Encoder:
        if isinstance(t, Opt):
            return self._opt(t)
        if isinstance(t, Vec):
            return self._vec(t)
        if isinstance(t, Record):
            return self._record(t)
        if isinstance(t, Variant):
            return self._variant(t)
        if isinstance(t, Func):
            return _enc_func
        if isinstance(t, Service):
            return _enc_principal
        raise CandidTypeError(f"cannot encode at {t!r}: not a Candid type")

    def _opt(self, t: Opt) -> Encoder:
        inner = self.encoder(t.inner)
        nullish = is_nullish(t.inner)

        def enc_opt(v: Any, out: bytearray) -> None:
            if v is None:
                out.append(0)
            elif type(v) is Some:
                out.append(1)
                inner(v.value, out)
            elif nullish:
                raise _EncodeFailure(
                    f"opt over a null/reserved/opt type: write a present value as Some(...), "
                    f"got {v!r}"
                )
            else:
                out.append(1)
                inner(v, out)

        return enc_opt

    def _vec(self, t: Vec) -> Encoder:
        et = t.inner.resolve() if isinstance(t.inner, TypeRef) else t.inner
        inner = self.encoder(et)
        if isinstance(et, Prim) and et.kind.value in _FIXED:
            return _fixed_vec_encoder(et.kind.value, inner)

        def enc_vec(v: Any, out: bytearray) -> None:
            if type(v) is not list and type(v) is not tuple and not _is_sequence(v):
                raise _EncodeFailure(f"expected a list for vec, got {type(v).__name__}")
            n = len(v)
            if n < 0x80:
                out.append(n)
            else:
                out += _uleb(n)
            try:
                for x in v:
                    inner(x, out)
            except _EncodeFailure as exc:
                exc.path.append(f"[{_first_failure(inner, v)}]")
                raise

        return enc_vec

    def _record(self, t: Record) -> Encoder:
        specs = tuple(
            (f.label, f.id if isinstance(f.label, str) else None, self.encoder(f.type),
             is_nullish(f.type))
            for f in t.fields
        )
        labels = {f.label for f in t.fields} | {f.id for f in t.fields}
        is_tuple = t.is_tuple
        count = len(specs)
        names = ", ".join(repr(f.label) for f in t.fields)

        def from_mapping(v: Mapping[Any, Any], out: bytearray) -> None:
            found = 0
            label: str | int = ""
            try:
                for label, alt, enc, nullish in specs:
                    try:
                        fv = v[label]
                    except KeyError:
                        if alt is not None and alt in v:
                            fv = v[alt]
                        elif nullish:
                            enc(None, out)
                            continue
                        else:
                            raise _EncodeFailure(
                                f"missing record field (the record has {names})"
                            ) from None
                    found += 1
                    enc(fv, out)
            except _EncodeFailure as exc:
                exc.path.append(f".{label}")
                raise
            if found != len(v):
                extra = [k for k in v if k not in labels]
                if extra:
                    raise _EncodeFailure(
                        f"unknown record field(s) {', '.join(map(repr, extra))} (the record "
                        f"has {names})"
                    )
                raise _EncodeFailure("a record field is given twice (by name and by id)")

        def from_sequence(v: Sequence[Any], out: bytearray) -> None:
            if len(v) != count:
                raise _EncodeFailure(f"expected a tuple of {count} values, got {len(v)}")
            i = 0
            try:
                for i, (_, _, enc, _) in enumerate(specs):
                    enc(v[i], out)
            except _EncodeFailure as exc:
                exc.path.append(f".{i}")
                raise

        def from_object(v: Any, out: bytearray) -> None:
            label: str | int = ""
            try:
                for label, _, enc, nullish in specs:
                    if not isinstance(label, str):
                        raise _EncodeFailure("numeric record fields need a dict or tuple value")
                    try:
                        fv = getattr(v, label)
                    except AttributeError:
                        if not nullish:
                            raise _EncodeFailure(
                                f"missing record field ({type(v).__name__} has no attribute "
                                f"{label!r})"
                            ) from None
                        fv = None
                    enc(fv, out)
            except _EncodeFailure as exc:
                exc.path.append(f".{label}")
                raise

        def enc_record(v: Any, out: bytearray) -> None:
            if type(v) is dict:
                from_mapping(v, out)
            elif type(v) is tuple or type(v) is list:
                if is_tuple or (not v and not count):
                    from_sequence(v, out)
                else:
                    raise _EncodeFailure(
                        f"expected a dict for this record (fields {names}), got a "
                        f"{type(v).__name__}"
                    )
            elif isinstance(v, Mapping):
                from_mapping(v, out)
            elif dataclasses.is_dataclass(v) and not isinstance(v, type):
                from_object(v, out)
            else:
                raise _EncodeFailure(
                    f"expected a dict{', tuple' if is_tuple else ''} or dataclass for a record, "
                    f"got {type(v).__name__}: {v!r}"
                )

        return enc_record

    def _variant(self, t: Variant) -> Encoder:
        by_key: dict[str | int, tuple[bytes, Encoder, str | int]] = {}
        for i, f in enumerate(t.fields):
            entry = (_uleb(i), self.encoder(f.type), f.label)
            by_key[f.label] = entry
            by_key.setdefault(f.id, entry)
        names = ", ".join(repr(f.label) for f in t.fields)

        def enc_variant(v: Any, out: bytearray) -> None:
            if not isinstance(v, Mapping) or len(v) != 1:
                raise _EncodeFailure(
                    f"expected a one-entry dict {{tag: value}} for a variant (tags {names}), "
                    f"got {v!r}"
                )
            ((tag, value),) = v.items()
            entry = by_key.get(tag) if isinstance(tag, (str, int)) else None
            if entry is None:
                raise _EncodeFailure(f"unknown variant tag {tag!r} (the variant has {names})")
            index, enc, label = entry
            out += index
            try:
                enc(value, out)
            except _EncodeFailure as exc:
                exc.path.append(f".{label}")
                raise

        return enc_variant


def _first_failure(enc: Encoder, values: Any) -> int:
    """The index of the first element ``enc`` rejects (only called on the error path)."""
    for i, x in enumerate(values):
        try:
            enc(x, bytearray())
        except _EncodeFailure:
            return i
    return -1


def _fixed_vec_encoder(op: int, element: Encoder) -> Encoder:
    code, _ = _FIXED[op]
    what = _name(op)

    def enc_fixed_vec(v: Any, out: bytearray) -> None:
        n = len(v) if isinstance(v, (bytes, bytearray, memoryview, list, tuple)) else -1
        if op == _NAT8 and isinstance(v, (bytes, bytearray, memoryview)):
            out += _uleb(n)
            out += v
            return
        if n < 0:
            if not _is_sequence(v):
                raise _EncodeFailure(
                    f"expected {'bytes or ' if op == _NAT8 else ''}a list for vec {what}, "
                    f"got {type(v).__name__}"
                )
            n = len(v)
        out += _uleb(n)
        try:
            if op == _NAT8:
                out += bytes(v)
            else:
                out += struct.pack(f"<{n}{code}", *v)
            return
        except (struct.error, ValueError, TypeError, OverflowError):
            pass
        for i, x in enumerate(v):  # find and report the offending element
            try:
                element(x, bytearray())
            except _EncodeFailure as exc:
                exc.path.append(f"[{i}]")
                raise
        raise _EncodeFailure(f"invalid element in vec {what}")

    return enc_fixed_vec


def _compile_encoder(
    types: tuple[CandidType, ...],
) -> tuple[bytes, tuple[Encoder, ...], object]:
    c = _EncCompiler()
    arg_refs = [c.ref(t) for t in types]
    encoders = tuple(c.encoder(t) for t in types)
    header = bytearray(MAGIC)
    header += _uleb(len(c.table))
    for body in c.table:
        assert body is not None
        header += body
    header += _uleb(len(arg_refs))
    for r in arg_refs:
        header += _sleb(r)
    return bytes(header), encoders, (types, c.keep)


def encode(types: Sequence[CandidType], values: Sequence[Any]) -> bytes:
    """Encode ``values`` at ``types`` as one Candid message (an argument or result list).

    Values follow the mapping documented in `icframework.candid.types`. Raises
    `CandidEncodeError` naming the argument and field path (``arg 0 .owner``) when a
    value does not fit its type, and `CandidTypeError` for an ill-formed type.
    """
    fast = _FAST_ENCODE.get(id(types))
    if fast is not None:
        if fast[0] is types:
            data = fast[1](values)
            if data is not None:
                return data
    elif type(types) is list and len(types) == 1:
        fast = _FAST_ENCODE_ONE.get(id(types[0]))
        if fast is not None and fast[0] is types[0]:
            data = fast[1](values)
            if data is not None:
                return data
    if isinstance(types, CandidType):
        raise TypeError("encode() takes a sequence of types, e.g. [NAT], not a single type")
    given = types
    types = tuple(types)
    values = tuple(values)
    if len(types) != len(values):
        raise CandidEncodeError(f"{len(types)} type(s) but {len(values)} value(s) given")
    key = tuple(map(id, types))
    prog = _ENCODE_CACHE.get(key)
    known = fast is None and prog is not None  # learn a fast path at the second call
    if prog is None:
        try:
            prog = _compile_encoder(types)
        except RecursionError:
            raise CandidTypeError("type nests too deeply to compile") from None
        if len(_ENCODE_CACHE) >= _CACHE_LIMIT:
            del _ENCODE_CACHE[next(iter(_ENCODE_CACHE))]
        _ENCODE_CACHE[key] = prog
    header, encoders, _ = prog
    out = bytearray(header)
    _ensure_stack_room(_ENCODE_STACK_FRAMES)
    for i, enc in enumerate(encoders):
        try:
            enc(values[i], out)
        except _EncodeFailure as exc:
            where = f"arg {i}" + (" " + "".join(reversed(exc.path)) if exc.path else "")
            raise CandidEncodeError(f"{where}: {exc.reason}") from None
        except RecursionError:
            raise CandidEncodeError(f"arg {i}: value nests too deeply to encode") from None
    if known:
        _learn_encoder(given, types, prog)
    return bytes(out)


# ======================================================================= fast paths
#
# A canister decodes its arguments and encodes its results at the same types on every
# message, and most messages are small; inside a canister every Python operation is
# paid for in instructions. So `decode` and `encode` remember, per argument type
# sequence they are called with again (a tuple, by identity, or a one-element list, by
# its element), a closure specialised to the compiled program the general path used:
# the decoder checks that the message starts with that program's header (``DIDL``, the
# type table and the argument types, as the sender wrote them) and runs its readers,
# without the general path's bookkeeping; a sequence of fixed-width numbers is one
# ``struct.unpack_from``. The encoder writes the cached header and the values (one
# ``struct.pack`` for a fixed-width number). Anything unusual (another header, a value
# of an unexpected Python type, any error) makes the closure hand the message to its
# ``miss`` function: for `decode` and `encode` that returns None and the general path
# runs, which alone reports errors, so the fast paths never change a result or an error.
#
# `decoder` and `encoder` give such closures to callers that keep them (one call per
# message instead of a lookup by the types' identity); their miss is the general path.

_FastDecoder = Callable[[Any], "tuple[Any, ...] | None"]
_FastEncoder = Callable[[Any], "bytes | None"]
# (key object, closure), by id of the key object: a tuple of types, or the one type of
# a one-element list. The key object is kept (and checked by identity): the id of a
# dead object can be reused.
_FAST_DECODE: dict[int, tuple[object, _FastDecoder]] = {}
_FAST_DECODE_ONE: dict[int, tuple[object, _FastDecoder]] = {}
_FAST_ENCODE: dict[int, tuple[object, _FastEncoder]] = {}
_FAST_ENCODE_ONE: dict[int, tuple[object, _FastEncoder]] = {}
_FAST_CACHES = (_FAST_DECODE, _FAST_DECODE_ONE, _FAST_ENCODE, _FAST_ENCODE_ONE)
# Readers that never touch the meter: primitives, which allocate no more than the
# input's size (no vectors, records, options or recursion).
_METERLESS_READERS = frozenset(
    id(r) for op, r in _PRIM_READERS.items() if op in {_NULL, _BOOL, _NAT, _INT, _TEXT,
                                                        _PRINCIPAL, *_FIXED}
) | {id(_skip_leb), *(id(_PRIM_SKIPPERS[op]) for op in _FIXED)}
_FIXED_READERS = {id(_PRIM_READERS[op]): op for op in _FIXED}
_INT_FIXED = frozenset(_INT_RANGES)
_BYTE = tuple(bytes((i,)) for i in range(256))


def _miss(_data: Any) -> None:
    return None


def _fast_slot(
    given: object, by_tuple: dict[int, Any], by_element: dict[int, Any]
) -> tuple[dict[int, Any], object] | None:
    """Where the fast path of ``given`` types lives: (cache, key object), or None."""
    if type(given) is tuple:
        return by_tuple, given
    if type(given) is list and len(given) == 1:
        element: object = given[0]
        return by_element, element
    return None


def _remember(cache: dict[int, Any], key: object, fn: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[id(key)] = (key, fn)


def _learn_decoder(given: object, prog: _Program) -> None:
    """Remember a fast decoder running ``prog`` for callers passing ``given`` types."""
    slot = _fast_slot(given, _FAST_DECODE, _FAST_DECODE_ONE)
    if slot is not None:
        _remember(slot[0], slot[1], _fast_decoder(prog, _miss))


def _fast_decoder(prog: _Program, miss: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A decoder of bytes messages with ``prog``'s header; other data goes to ``miss``."""
    header, readers, skips = prog.header, prog.readers, prog.skips
    start = len(header)
    fixed = [_FIXED_READERS.get(id(r)) for r in readers]
    if not skips and None not in fixed:
        layout = struct.Struct("<" + "".join(_FIXED[op][0] for op in fixed if op is not None))
        size = start + layout.size
        unpack = layout.unpack_from

        def decode_fixed(d: Any) -> Any:
            if type(d) is bytes and len(d) == size and d.startswith(header):
                return unpack(d, start)
            return miss(d)

        return decode_fixed

    steps = readers + skips
    metered = not all(id(r) in _METERLESS_READERS for r in steps)
    count = len(readers)
    lim = DEFAULT_LIMITS

    def decode_values(d: Any) -> Any:
        if type(d) is not bytes or not d.startswith(header):
            return miss(d)
        meter = _Meter(lim.budget(len(d)), lim.max_depth) if metered else None
        p = start
        values = []
        try:
            for rd in steps:
                v, p = rd(d, p, meter)  # type: ignore[arg-type]  # meterless readers
                values.append(v)
        except (CandidDecodeError, RecursionError):
            return miss(d)  # the general path reports it
        if p != len(d):
            return miss(d)
        return tuple(values[:count]) if skips else tuple(values)

    if len(readers) == 1 and not skips and readers[0] is _read_nat:
        nat_size = start + 1

        def decode_nat(d: Any) -> Any:
            if type(d) is bytes and len(d) == nat_size and d.startswith(header):
                b = d[start]
                if b < 0x80:
                    return (b,)
            return decode_values(d)

        return decode_nat
    return decode_values


def _learn_encoder(
    given: object,
    types: tuple[CandidType, ...],
    prog: tuple[bytes, tuple[Encoder, ...], object],
) -> None:
    """Remember a fast encoder for ``types`` (after a general encode with them)."""
    slot = _fast_slot(given, _FAST_ENCODE, _FAST_ENCODE_ONE)
    if slot is not None:
        _remember(slot[0], slot[1], _fast_encoder(types, prog[0], prog[1], _miss))


def _prim_op(t: CandidType) -> int | None:
    """The opcode of a primitive type (through type names), else None."""
    if isinstance(t, TypeRef):
        try:
            t = t.resolve()
        except CandidTypeError:
            return None
    return t.kind.value if isinstance(t, Prim) else None


def _fast_encoder(
    types: tuple[CandidType, ...],
    header: bytes,
    encoders: tuple[Encoder, ...],
    miss: Callable[[Any], Any],
) -> Callable[[Any], Any]:
    """An encoder of ``types`` (header and encoders compiled) taking a tuple or list of
    values; other values, and values it would not encode, go to ``miss``."""
    n = len(types)
    op = _prim_op(types[0]) if n == 1 else None
    if op in _INT_FIXED:
        assert op is not None
        pack_one = struct.Struct(f"<{len(header)}s{_FIXED[op][0]}").pack

        def encode_fixed(values: Any) -> Any:
            if type(values) is tuple or type(values) is list:
                try:
                    (v,) = values
                    if type(v) is int:
                        return pack_one(header, v)
                except (ValueError, struct.error):
                    pass
            return miss(values)

        return encode_fixed

    if op == _NAT:

        def encode_nat(values: Any) -> Any:
            if (type(values) is tuple or type(values) is list) and len(values) == 1:
                v = values[0]
                if type(v) is int and v >= 0:
                    return header + (_BYTE[v] if v < 0x80 else _uleb(v))
            return miss(values)

        return encode_nat

    if op == _TEXT:

        def encode_text(values: Any) -> Any:
            if (type(values) is tuple or type(values) is list) and len(values) == 1:
                v = values[0]
                if type(v) is str:
                    try:
                        b = v.encode("utf-8")
                    except UnicodeEncodeError:
                        return miss(values)
                    size = len(b)
                    return header + (_BYTE[size] if size < 0x80 else _uleb(size)) + b
            return miss(values)

        return encode_text

    def encode_values(values: Any) -> Any:
        if (type(values) is not tuple and type(values) is not list) or len(values) != n:
            return miss(values)
        out = bytearray(header)
        try:
            for enc, v in zip(encoders, values, strict=True):
                enc(v, out)
        except (_EncodeFailure, RecursionError):
            return miss(values)  # the general path reports it
        return bytes(out)

    return encode_values


def decoder(
    types: Sequence[CandidType],
) -> Callable[[bytes | bytearray | memoryview], tuple[Any, ...]]:
    """A reusable decoder at ``types``: ``decoder(types)(data) == decode(data, types)``.

    The same results and errors, with less work per call for callers that decode many
    messages at the same types (a service's arguments): messages whose header is the
    one `encode` writes for ``types`` are read by a closure compiled once, the others
    take `decode`'s general path.
    """
    if isinstance(types, CandidType):
        raise TypeError("decoder() takes a sequence of types, e.g. [NAT], not a single type")
    key = tuple(types)

    def general(data: Any) -> tuple[Any, ...]:
        return decode(data, key)

    try:
        header = _compile_encoder(key)[0]
        prog, _ = _compile_decoder(header, key, DEFAULT_LIMITS, _Meter(1 << 62, 1 << 30))
    except (CandidTypeError, CandidDecodeError, RecursionError):
        return general  # e.g. a type without values: every message fails the general way
    return _fast_decoder(prog, general)


def encoder(types: Sequence[CandidType]) -> Callable[[Sequence[Any]], bytes]:
    """A reusable encoder at ``types``: ``encoder(types)(values) == encode(types, values)``.

    The same results and errors, with less work per call (the header and the encoders
    compiled once, fixed-width numbers packed in one step). Raises `CandidTypeError`
    at once for an ill-formed type.
    """
    if isinstance(types, CandidType):
        raise TypeError("encoder() takes a sequence of types, e.g. [NAT], not a single type")
    key = tuple(types)
    try:
        header, encoders, _ = _compile_encoder(key)
    except RecursionError:
        raise CandidTypeError("type nests too deeply to compile") from None

    def general(values: Any) -> bytes:
        return encode(key, values)

    return _fast_encoder(key, header, encoders, general)
