"""Candid shapes the SDK encodes and decodes without the general codec, inside a canister.

How it works: inside the runtime component every Python operation costs instructions
(about a hundred per bytecode, about a thousand per function call), and most methods
and stored values are single numbers. For a sequence of fixed-width numbers
(``nat8`` ... ``int64``, ``float32``, ``float64``) a Candid message is a constant header
(``DIDL``, an empty type table, the types) followed by the values, little-endian: one
``struct.pack`` writes it and one ``struct.unpack`` reads it. `fixed_width` gives the
``struct`` codes and that header, which callers check before trusting a fast read; any
other message, and any value the fast write would not encode exactly as
`icframework.candid.encode` does, goes to the general codec, which alone reports errors.

`memo_type` names the Python type of values that may be handed out twice: an
immutable scalar that decodes to exactly the type it was stored from (see
`icframework.sdk.stable.StableCell`).
"""

from __future__ import annotations

import struct

from icframework.candid import CandidType, Opt, Prim, TypeRef, encode
from icframework.candid.types import PrimKind

__all__ = ["fixed_width", "memo_type", "optional_fixed_width"]

_FIXED_WIDTH = {
    PrimKind.NAT8: ("B", int), PrimKind.NAT16: ("H", int), PrimKind.NAT32: ("I", int),
    PrimKind.NAT64: ("Q", int), PrimKind.INT8: ("b", int), PrimKind.INT16: ("h", int),
    PrimKind.INT32: ("i", int), PrimKind.INT64: ("q", int), PrimKind.FLOAT32: ("f", float),
    PrimKind.FLOAT64: ("d", float),
}
# Values that decode to exactly the type they are written from (not float32: it rounds).
_MEMO_TYPES = {
    PrimKind.NAT: int, PrimKind.INT: int, PrimKind.NAT8: int, PrimKind.NAT16: int,
    PrimKind.NAT32: int, PrimKind.NAT64: int, PrimKind.INT8: int, PrimKind.INT16: int,
    PrimKind.INT32: int, PrimKind.INT64: int, PrimKind.FLOAT64: float,
    PrimKind.TEXT: str, PrimKind.BOOL: bool,
}


def _prim(t: CandidType) -> PrimKind | None:
    if isinstance(t, TypeRef):
        t = t.resolve()
    return t.kind if isinstance(t, Prim) else None


def fixed_width(types: tuple[CandidType, ...]) -> tuple[str, bytes, type] | None:
    """``(struct codes, Candid header, Python type of the first value)`` if ``types`` is
    a non-empty sequence of fixed-width numbers, else None. The header is what
    `icframework.candid.encode` writes before the values."""
    codes = []
    kinds: list[type] = []
    for t in types:
        found = _FIXED_WIDTH.get(_prim(t))  # type: ignore[arg-type]
        if found is None:
            return None
        codes.append(found[0])
        kinds.append(found[1])
    if not codes:
        return None
    message = encode(types, [kind() for kind in kinds])
    header = message[: len(message) - struct.calcsize("<" + "".join(codes))]
    return "".join(codes), header, kinds[0]


def optional_fixed_width(t: CandidType) -> tuple[str, bytes, type, bytes] | None:
    """For ``opt`` of one fixed-width number: ``(struct code, Candid header up to the
    value, Python type, the whole message of null)``, else None. The header ends with
    the option's ``01`` (present) byte."""
    if isinstance(t, TypeRef):
        t = t.resolve()
    if not isinstance(t, Opt):
        return None
    inner = fixed_width((t.inner,))
    if inner is None:
        return None
    code, _header, kind = inner
    message = encode((t,), [kind()])
    header = message[: len(message) - struct.calcsize("<" + code)]
    return code, header, kind, encode((t,), [None])


def memo_type(t: CandidType) -> type | None:
    """The Python type whose values of Candid type ``t`` round-trip to themselves
    (equal and of that exact type) and are immutable, or None."""
    return _MEMO_TYPES.get(_prim(t))  # type: ignore[arg-type]
