"""The exception hierarchy of `icframework.protocol`.

Every failure is a `ProtocolError`; the HTTP boundary turns it into a 400 (or 403 for
`AuthenticationError` where the IC does so) with ``str(err)`` as the body. Messages
name the offending field or value so the client author can fix the request.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every error raised by `icframework.protocol`."""


class MalformedRequestError(ProtocolError):
    """A request body is not CBOR, or its envelope or content has the wrong shape or types."""


class AuthenticationError(ProtocolError):
    """The sender, public key, signature or delegation chain of a request does not check out."""


class IngressExpiryError(ProtocolError):
    """``ingress_expiry`` is outside the accepted window.

    The text starts ``Invalid request expiry: `` as the IC's does; agents match on it.
    """


class HashTreeError(ProtocolError):
    """A hash tree is not valid CBOR of the tree grammar, or is not well formed."""


class CertificateError(ProtocolError):
    """A certificate is malformed, wrongly signed, stale, or not authorised for a canister."""
