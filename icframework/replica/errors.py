"""The exception hierarchy of `icframework.replica`.

`ReplicaError` is the base. Errors that reach a canister's caller carry the IC reject
code and error code (`CanisterError`); the HTTP layer turns them into reject responses.
`decode_management_arg` decodes a management canister method's argument, failing with
``INVALID_MANAGEMENT_PAYLOAD``.
"""

from __future__ import annotations

from typing import Any

from icframework.candid import CandidError, CandidType
from icframework.candid.binary import decode
from icframework.core import ErrorCode, RejectCode


class ReplicaError(Exception):
    """Base of every error raised by `icframework.replica`."""


class StateStoreError(ReplicaError):
    """The state store cannot be opened, read or committed; the message names the store."""


class MemoryAccessError(ReplicaError):
    """A read or write outside a memory's current size; names offset, size and bound."""


class InvalidModuleError(ReplicaError):
    """A wasm module is not a valid IC canister module; the message says which rule failed."""


class CanisterError(ReplicaError):
    """A message failed with an IC reject: what the caller of the canister sees.

    ``reject_code`` is the protocol's class (1-6), ``error_code`` the ``IC0xxx`` detail,
    ``str(err)`` the reject message.
    """

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    @property
    def reject_code(self) -> RejectCode:
        return self.error_code.reject_code


def decode_management_arg(method: str, arg: bytes, arg_type: CandidType) -> Any:
    """The value of ``arg``, the argument of management canister method ``method``, as
    ``arg_type``; raises `CanisterError` ``INVALID_MANAGEMENT_PAYLOAD`` with the IC's
    message when it does not decode."""
    try:
        (value,) = decode(arg, [arg_type])
    except CandidError as exc:
        raise CanisterError(
            ErrorCode.INVALID_MANAGEMENT_PAYLOAD,
            f"Error decoding candid for ic00 method {method}: {exc}",
        ) from None
    return value
