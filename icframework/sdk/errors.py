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
