"""Layer 0: principals, LEB128, hashing and reject codes (standard library only).

Everything here also runs inside Python canisters, so it imports nothing but the
standard library.
"""

from icframework.core.errors import CoreError, LEB128Error, PrincipalError
from icframework.core.leb128 import (
    decode_sleb128,
    decode_uleb128,
    encode_sleb128,
    encode_uleb128,
)
from icframework.core.principal import Principal
from icframework.core.reject import ErrorCode, RejectCode

__all__ = [
    "CoreError",
    "ErrorCode",
    "LEB128Error",
    "Principal",
    "PrincipalError",
    "RejectCode",
    "decode_sleb128",
    "decode_uleb128",
    "encode_sleb128",
    "encode_uleb128",
]
