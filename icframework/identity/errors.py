"""The exception hierarchy of `icframework.identity`."""

from __future__ import annotations


class IdentityError(ValueError):
    """Base of every error raised by `icframework.identity`.

    Raised for malformed keys, seeds, PEM files and DER public keys; the message names
    the bad input and, where there is one, the fix.
    """
