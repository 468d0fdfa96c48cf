"""The `Identity` interface: a principal, an optional DER public key and a signer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from icframework.core import Principal

if TYPE_CHECKING:
    from icframework.identity.delegation import SignedDelegation


class Identity(ABC):
    """Who sends a request, and how its request ids get signed.

    Subclasses provide `der_public_key` and `sign`; the principal defaults to the
    self-authenticating id of the public key (or anonymous when there is none).
    """

    __slots__ = ()

    @property
    @abstractmethod
    def der_public_key(self) -> bytes | None:
        """The DER SubjectPublicKeyInfo sent as ``sender_pubkey``; None when anonymous."""

    @abstractmethod
    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (already domain-separated by the caller); return the signature."""

    @property
    def principal(self) -> Principal:
        """The sender principal: SHA-224(der_public_key) ‖ 0x02, or anonymous."""
        der = self.der_public_key
        return Principal.anonymous() if der is None else Principal.self_authenticating(der)

    @property
    def sender_delegation(self) -> tuple[SignedDelegation, ...] | None:
        """The delegations sent as ``sender_delegation``; None for plain key identities."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.principal.to_text()!r})"
