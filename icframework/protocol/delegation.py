"""Signing and verifying request delegation chains (the data types live in identity).

Each delegation is signed by the key before it in the chain over
``\\x1Aic-request-auth-delegation ‖ hash_of_map(delegation)``; the first by the root
key sent as ``sender_pubkey``. A valid chain has at most 20 delegations, none expired
at the check time, no key twice, and leaves the request signable by the last key for
the intersection of all target lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from icframework.core import Principal
from icframework.identity import (
    Delegation,
    DelegationChain,
    Identity,
    IdentityError,
    SignedDelegation,
    verify_signature,
)
from icframework.protocol._time import format_ns
from icframework.protocol.errors import AuthenticationError, ProtocolError
from icframework.protocol.request_id import DELEGATION_DOMAIN, hash_of_map

MAX_DELEGATIONS = 20
MAX_TARGETS = 1000


def delegation_signing_payload(delegation: Delegation) -> bytes:
    """The bytes a delegation's issuer signs: domain separator ‖ hash_of_map(delegation)."""
    return DELEGATION_DOMAIN + hash_of_map(delegation.to_map())


def create_delegation_chain(
    from_identity: Identity,
    to_public_key_der: bytes,
    expiration: int,
    targets: Iterable[Principal] | None = None,
    previous: DelegationChain | None = None,
) -> DelegationChain:
    """Let ``to_public_key_der`` sign for ``from_identity`` until ``expiration`` (ns).

    With ``previous``, the new delegation is appended to that chain, whose last
    delegatee must be ``from_identity``. Raises `ProtocolError` if ``from_identity`` has
    no key (anonymous) or does not continue ``previous``.
    """
    issuer_key = from_identity.der_public_key
    if issuer_key is None:
        raise ProtocolError("the anonymous identity cannot issue delegations")
    if previous is not None and previous.delegations[-1].delegation.pubkey != issuer_key:
        raise ProtocolError(
            "from_identity is not the last delegatee of the previous chain, so it cannot extend it"
        )
    delegation = Delegation(
        to_public_key_der, expiration, None if targets is None else tuple(targets)
    )
    signed = SignedDelegation(
        delegation, from_identity.sign(delegation_signing_payload(delegation))
    )
    if previous is None:
        return DelegationChain(issuer_key, (signed,))
    return DelegationChain(previous.public_key, (*previous.delegations, signed))


def verify_delegation_chain(
    public_key_der: bytes, delegations: Sequence[SignedDelegation], *, now_ns: int
) -> tuple[bytes, frozenset[Principal] | None]:
    """Check every signature, expiry and limit of a chain rooted at ``public_key_der``.

    Returns ``(signing_key_der, targets)``: the key that must sign the request and the
    canisters the request may address (None for unrestricted). Raises
    `AuthenticationError` with ``Invalid delegation: …`` naming the failing entry.
    """
    if len(delegations) > MAX_DELEGATIONS:
        raise AuthenticationError(
            f"Invalid delegation: chain has {len(delegations)} delegations; "
            f"the maximum is {MAX_DELEGATIONS}"
        )
    current = public_key_der
    seen = {current}
    targets: frozenset[Principal] | None = None
    for index, signed in enumerate(delegations, start=1):
        delegation = signed.delegation
        try:
            valid = verify_signature(
                current, delegation_signing_payload(delegation), signed.signature
            )
        except IdentityError as exc:
            raise AuthenticationError(
                f"Invalid delegation: delegation {index} is issued by an unusable key: {exc}"
            ) from exc
        if not valid:
            raise AuthenticationError(
                f"Invalid delegation: the signature of delegation {index} does not verify "
                f"under its issuer {Principal.self_authenticating(current)}"
            )
        if delegation.expiration < now_ns:
            raise AuthenticationError(
                f"Invalid delegation: delegation {index} expired at "
                f"{format_ns(delegation.expiration)}; it is now {format_ns(now_ns)}"
            )
        if delegation.pubkey in seen:
            raise AuthenticationError(
                f"Invalid delegation: delegation {index} delegates to a key that already "
                "appears in the chain (cycle or self-delegation)"
            )
        seen.add(delegation.pubkey)
        if delegation.targets is not None:
            if len(delegation.targets) > MAX_TARGETS:
                raise AuthenticationError(
                    f"Invalid delegation: delegation {index} has {len(delegation.targets)} "
                    f"targets; the maximum is {MAX_TARGETS}"
                )
            scope = frozenset(delegation.targets)
            targets = scope if targets is None else targets & scope
        current = delegation.pubkey
    return current, targets
