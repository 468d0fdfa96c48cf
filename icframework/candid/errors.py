"""The exception hierarchy of `icframework.candid`.

Every failure is a `CandidError`. Decoding failures carry the byte offset where the
input went wrong; parse failures carry the line and column.
"""

from __future__ import annotations


class CandidError(ValueError):
    """Base of every error raised by `icframework.candid`."""


class CandidTypeError(CandidError):
    """A type is ill-formed (unknown name, cyclic alias, duplicate field id...)."""


class CandidEncodeError(CandidError):
    """A Python value does not fit the Candid type it is encoded at."""


class CandidDecodeError(CandidError):
    """Binary Candid is malformed or does not coerce to the expected type.

    ``offset`` is the byte offset in the message where decoding failed and ``reason``
    the bare explanation; ``str(err)`` combines both.
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"at byte offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason


class CandidParseError(CandidError):
    """Candid text (a .did file or a textual value) is malformed.

    ``line`` and ``column`` are 1-based; ``str(err)`` names both and the reason.
    """

    def __init__(self, line: int, column: int, reason: str) -> None:
        super().__init__(f"line {line}, column {column}: {reason}")
        self.line = line
        self.column = column
        self.reason = reason
