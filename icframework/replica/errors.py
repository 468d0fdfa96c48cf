"""The exception hierarchy of `icframework.replica`.

`ReplicaError` is the base. Errors that reach a canister's caller carry the IC reject
code and error code (`CanisterError`); the HTTP layer turns them into reject responses.
"""

from __future__ import annotations

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
