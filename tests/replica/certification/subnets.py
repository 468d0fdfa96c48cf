"""Subnet identities for the delegation tests: a root key and application subnets vouched
for by it, with the canister ranges of the scale-out design (subnet k gets the root's
range shifted by k * 0x100000)."""

from __future__ import annotations

import time

from icframework.core import Principal
from icframework.protocol import BlsKeyPair, make_subnet_delegation
from icframework.replica.certification import SubnetIdentity

ROOT_FIRST_INDEX = 0x8000000000100000
ROOT_LAST_INDEX = 0x80000000001FFFFF
RANGE_STEP = 0x100000


def app_range(number: int) -> tuple[int, int]:
    """The canister-index range of subnet ``number`` (1, 2, …; 0 is the root's)."""
    return ROOT_FIRST_INDEX + number * RANGE_STEP, ROOT_LAST_INDEX + number * RANGE_STEP


def app_subnet(root: BlsKeyPair, number: int = 1, *, time_ns: int | None = None,
               key: BlsKeyPair | None = None) -> SubnetIdentity:
    """Application subnet ``number`` with a fresh key (or ``key``), delegated by ``root``."""
    first, last = app_range(number)
    return SubnetIdentity.delegated(
        root, key or BlsKeyPair.generate(), first_canister_index=first,
        last_canister_index=last, time_ns=time.time_ns() if time_ns is None else time_ns,
    )


def outside(identity: SubnetIdentity) -> Principal:
    """A canister id just past the end of ``identity``'s range (the next subnet's first)."""
    return Principal.from_canister_index(identity.last_canister_index + 1)


def narrow_subnet(root: BlsKeyPair, number: int = 1) -> SubnetIdentity:
    """Subnet ``number`` whose delegation vouches for the first canister of its range only:
    its second canister lies outside the delegated range (a misconfigured delegation)."""
    key = BlsKeyPair.generate()
    first, last = app_range(number)
    only = Principal.from_canister_index(first)
    delegation = make_subnet_delegation(root, Principal.self_authenticating(key.public_key_der),
                                        key.public_key_der, [(only, only)], time.time_ns())
    return SubnetIdentity(key, root.public_key_der, first, last, delegation)
