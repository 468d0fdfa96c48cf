"""The anonymous identity: principal ``2vxsx-fae``, no key, no signature."""

from __future__ import annotations

from icframework.identity.base import Identity
from icframework.identity.errors import IdentityError


class AnonymousIdentity(Identity):
    """Sends requests as the anonymous principal; envelopes carry no pubkey or signature."""

    __slots__ = ()

    @property
    def der_public_key(self) -> None:
        return None

    def sign(self, message: bytes) -> bytes:
        """Always raises `IdentityError`: anonymous requests are unsigned."""
        raise IdentityError(
            "the anonymous identity cannot sign; anonymous requests carry no signature"
        )
