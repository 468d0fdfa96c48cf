"""The exception hierarchy of `icframework.sdk`.

Two families:

* `SdkError` and its subclasses report mistakes in canister *code* (an unsupported type
  hint, a duplicate method, a bad storage key); they are raised at import or
  registration time where possible, so they show up in unit tests, not in production.
* `CanisterError` subclasses end a *message*: `Reject` is raised by canister code to
  reject the call with a message (IC reject code 4, CANISTER_REJECT) and no state
  change; `Trapped` is how `LocalBackend` reports a trap (in a canister a trap ends the
  WebAssembly call and never returns to Python).
"""

from __future__ import annotations


class SdkError(Exception):
    """Base of every error raised by `icframework.sdk` for misuse of the SDK."""


class TypeHintError(SdkError, TypeError):
    """A type hint has no Candid equivalent; the message names the hint and the fix."""


class RegistrationError(SdkError):
    """A decorator was used wrongly (duplicate method name, two ``@init`` hooks...)."""


class StorageError(SdkError):
    """A stable structure was misused (bad key type, index out of range, bad name)."""


class ModelError(SdkError):
    """Base of the model layer's errors."""


class DoesNotExist(ModelError, LookupError):
    """``Model.objects.get(...)`` matched no row."""


class MultipleObjectsReturned(ModelError):
    """``Model.objects.get(...)`` matched more than one row."""


class IntegrityError(ModelError):
    """A save would break a ``unique=True`` field."""


class TimerError(SdkError):
    """A timer callback cannot be stored (it must be a module-level function)."""


class CanisterError(Exception):
    """Base of the exceptions that end a message (`Reject`, `Trapped`)."""


class Reject(CanisterError):
    """Raise to reject the current call with ``message`` (reject code 4, CANISTER_REJECT).

    The message's state changes are rolled back, exactly as for a trap, but the caller
    sees a plain reject with your text instead of a trap report.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Trapped(CanisterError):
    """Raised by `LocalBackend.trap`: the message trapped with ``message``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CallError(Exception):
    """Base of what an awaited inter-canister call raises (`CallRejected`,
    `ReplyDecodeError`). Uncaught, it traps the message like any other exception."""

    def __init__(self, callee: str, method: str, text: str) -> None:
        super().__init__(text)
        self.callee = callee
        self.method = method


class CallRejected(CallError):
    """The callee rejected the call (or it could not be delivered).

    ``code`` is the IC reject code (1 SYS_FATAL, 2 SYS_TRANSIENT, 3 DESTINATION_INVALID,
    4 CANISTER_REJECT, 5 CANISTER_ERROR, 6 SYS_UNKNOWN) and ``message`` its text.
    """

    def __init__(self, callee: str, method: str, code: int, message: str) -> None:
        super().__init__(
            callee, method, f"call to {callee}.{method} was rejected (code {code}): {message}"
        )
        self.code = code
        self.message = message


class ReplyDecodeError(CallError):
    """The callee replied with Candid that does not decode as the expected types."""

    def __init__(self, callee: str, method: str, reason: str) -> None:
        super().__init__(
            callee, method,
            f"the reply of {callee}.{method} does not match its declared result types: "
            f"{reason}",
        )
        self.reason = reason
