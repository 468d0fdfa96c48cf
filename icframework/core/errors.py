"""The exception hierarchy of `icframework.core`."""


class CoreError(ValueError):
    """Base of every error raised by `icframework.core`."""


class PrincipalError(CoreError):
    """A principal's text or bytes are malformed; the message names the input."""


class LEB128Error(CoreError):
    """A LEB128 number is truncated or a value cannot be encoded."""
