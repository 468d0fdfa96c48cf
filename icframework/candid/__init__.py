"""Candid: types, binary codec, .did files and textual values (standard library only).

This package also runs inside Python canisters, so it imports only the standard
library and `icframework.core`.
"""

from icframework.candid.errors import (
    CandidDecodeError,
    CandidEncodeError,
    CandidError,
    CandidParseError,
    CandidTypeError,
)
from icframework.candid.types import (
    BLOB,
    BOOL,
    EMPTY,
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
    RESERVED,
    TEXT,
    CandidType,
    DidFile,
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
)

__all__ = [
    "BLOB", "BOOL", "EMPTY", "FLOAT32", "FLOAT64", "INT", "INT8", "INT16", "INT32",
    "INT64", "NAT", "NAT8", "NAT16", "NAT32", "NAT64", "NULL", "PRINCIPAL", "RESERVED",
    "TEXT",
    "CandidDecodeError", "CandidEncodeError", "CandidError", "CandidParseError",
    "CandidType", "CandidTypeError", "DidFile", "Field", "Func", "FuncRef", "Opt", "Prim",
    "PrimKind", "Record", "Service", "Some", "TypeEnv", "TypeRef", "Variant", "Vec",
    "idl_hash",
]
