"""Delegation chains as values, and the identity that signs through one.

A delegation lets key A authorise key B to sign for A's principal until an expiry,
optionally only towards some canisters. A chain starts at the root key (whose
principal the requests are sent as) and ends at the key that signs requests.

This module holds only data and the `DelegationIdentity` container. Creating and
verifying the delegation signatures needs the representation-independent hash, which
belongs to the wire protocol, so `icframework.protocol.delegation` does that
(`create_delegation_chain`, `verify_delegation_chain`); the identity layer never
imports the protocol layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from icframework.core import Principal, PrincipalError
from icframework.identity.base import Identity
from icframework.identity.errors import IdentityError


@dataclass(frozen=True, slots=True)
class Delegation:
    """Key ``pubkey`` (DER) may sign until ``expiration`` (ns since the epoch), for ``targets``.

    ``targets`` None means any canister; a tuple restricts requests to those canisters.
    """

    pubkey: bytes
    expiration: int
    targets: tuple[Principal, ...] | None = None

    def to_map(self) -> dict[str, object]:
        """The CBOR/hashing form: ``{pubkey, expiration, targets?}``, targets as raw bytes."""
        out: dict[str, object] = {"pubkey": self.pubkey, "expiration": self.expiration}
        if self.targets is not None:
            out["targets"] = [target.raw for target in self.targets]
        return out


@dataclass(frozen=True, slots=True)
class SignedDelegation:
    """A `Delegation` and the signature of its issuer over it (see protocol.delegation)."""

    delegation: Delegation
    signature: bytes

    def to_map(self) -> dict[str, object]:
        """The CBOR form sent in ``sender_delegation``."""
        return {"delegation": self.delegation.to_map(), "signature": self.signature}


@dataclass(frozen=True, slots=True)
class DelegationChain:
    """``public_key`` (DER) is the root; each delegation is signed by the previous key."""

    public_key: bytes
    delegations: tuple[SignedDelegation, ...]

    def to_json(self) -> str:
        """The JSON form of agent-js ``DelegationChain.toJSON`` (hex strings, hex expiration)."""
        return json.dumps(
            {
                "delegations": [
                    {
                        "delegation": {
                            "expiration": format(signed.delegation.expiration, "x"),
                            "pubkey": signed.delegation.pubkey.hex(),
                            **(
                                {"targets": [t.raw.hex() for t in signed.delegation.targets]}
                                if signed.delegation.targets is not None
                                else {}
                            ),
                        },
                        "signature": signed.signature.hex(),
                    }
                    for signed in self.delegations
                ],
                "publicKey": self.public_key.hex(),
            }
        )

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> DelegationChain:
        """Parse agent-js ``DelegationChain.toJSON`` output; raise `IdentityError` if malformed."""
        try:
            data = json.loads(text) if isinstance(text, str) else text
            delegations = []
            for entry in data["delegations"]:
                raw = entry["delegation"]
                targets = raw.get("targets")
                delegations.append(
                    SignedDelegation(
                        Delegation(
                            bytes.fromhex(raw["pubkey"]),
                            int(raw["expiration"], 16),
                            None
                            if targets is None
                            else tuple(Principal.from_hex(t) for t in targets),
                        ),
                        bytes.fromhex(entry["signature"]),
                    )
                )
            return cls(bytes.fromhex(data["publicKey"]), tuple(delegations))
        except (KeyError, TypeError, ValueError, AttributeError, PrincipalError) as exc:
            raise IdentityError(f"malformed delegation chain JSON: {exc!r}") from exc


class DelegationIdentity(Identity):
    """Signs with ``inner`` but sends as the principal of the chain's root key.

    Raises `IdentityError` if ``inner``'s public key is not the chain's last delegatee.
    """

    __slots__ = ("_chain", "_inner")

    def __init__(self, inner: Identity, chain: DelegationChain) -> None:
        if not chain.delegations:
            raise IdentityError("a delegation chain needs at least one delegation")
        last = chain.delegations[-1].delegation.pubkey
        if inner.der_public_key != last:
            raise IdentityError(
                "the inner identity's public key is not the key the chain delegates to "
                f"(chain ends at {last[:16].hex()}…)"
            )
        self._inner = inner
        self._chain = chain

    @property
    def inner(self) -> Identity:
        """The identity whose key signs requests."""
        return self._inner

    @property
    def chain(self) -> DelegationChain:
        return self._chain

    @property
    def der_public_key(self) -> bytes:
        """The chain's root key, sent as ``sender_pubkey``."""
        return self._chain.public_key

    @property
    def sender_delegation(self) -> tuple[SignedDelegation, ...]:
        return self._chain.delegations

    def sign(self, message: bytes) -> bytes:
        return self._inner.sign(message)
