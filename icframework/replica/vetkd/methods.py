"""The management canister's ``vetkd_public_key`` and ``vetkd_derive_key``, with the
subnet's vetKD master keys.

Keys ``key_1``, ``test_key_1`` and ``dfx_test_key`` are enabled (`icframework.sdk.vetkd`
holds the names and fees, so canisters and the replica agree). Each master secret is
derived from the subnet's random seed — 32 bytes from the operating system, created with
the subnet and stored with its state — and the key name, through a domain-separated
hash-to-scalar. So the keys need no storage of their own, stay the same across restarts
and restores of the state, differ between subnets (each has its own seed) and cannot be
computed from anything a canister sees (``raw_rand`` hashes the seed with its own
domain). Unlike the IC, where one subnet holds a key for every subnet, a scale-out
cluster therefore gives each subnet its own master keys.

The IC's rejects are kept: calls by ingress are refused by the management canister's
ingress check (canister-only methods); an unknown key name is a routing failure
(DESTINATION_INVALID, naming the enabled keys); too few cycles and a bad transport key
are CANISTER_REJECT. ``vetkd_derive_key`` keeps the key's fee and refunds the rest;
``vetkd_public_key`` is free and refunds all.
"""

from __future__ import annotations

import functools
from typing import Any

from icframework.candid import (
    CandidType,
)
from icframework.candid.binary import encode
from icframework.core import ErrorCode, Principal, RejectCode
from icframework.replica.errors import CanisterError, decode_management_arg
from icframework.replica.messages import Request
from icframework.replica.vetkd.crypto import (
    MasterKey,
    hash_to_scalar,
    is_valid_transport_public_key,
)
from icframework.sdk.vetkd import (
    DERIVE_KEY_ARGS,
    DERIVE_KEY_RESULT,
    KEY_FEES,
    KEY_ID,
    PUBLIC_KEY_ARGS,
    PUBLIC_KEY_RESULT,
)

__all__ = [
    "DERIVE_KEY_ARGS",
    "DERIVE_KEY_RESULT",
    "KEY_ID",
    "PUBLIC_KEY_ARGS",
    "PUBLIC_KEY_RESULT",
    "UnroutableRequest",
    "master_key",
    "vetkd_derive_key",
    "vetkd_public_key",
]

_MASTER_SECRET_DST = b"icframework-vetkd-master-secret-v1"


class UnroutableRequest(CanisterError):
    """The IC could not route the request (an unknown key): reject code DESTINATION_INVALID.

    The IC gives such rejects no ``IC0xxx`` detail; canisters, the only callers, see the
    code and the message alone.
    """

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.CANISTER_REJECTED_MESSAGE, message)

    @property
    def reject_code(self) -> RejectCode:
        return RejectCode.DESTINATION_INVALID


@functools.lru_cache(maxsize=64)
def master_key(subnet_seed: bytes, key_name: str) -> MasterKey:
    """The master key ``key_name`` of the subnet whose random seed is ``subnet_seed``."""
    material = b"".join(len(part).to_bytes(8, "big") + part
                        for part in (subnet_seed, key_name.encode("utf-8")))
    return MasterKey.from_secret(hash_to_scalar(material, _MASTER_SECRET_DST))


def _decode(request: Request, arg_type: CandidType) -> Any:
    return decode_management_arg(request.method, request.arg, arg_type)


def _key_name(request: Request, key_id: dict[str, Any]) -> str:
    name: str = key_id["name"]
    if name not in KEY_FEES:
        enabled = ", ".join(f"vetkd:Bls12_381_G2:{known}" for known in sorted(KEY_FEES))
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        raise UnroutableRequest(
            f"Unable to route management canister request {request.method}: ChainKeyError("
            f'"Requested unknown or disabled threshold key: vetkd:Bls12_381_G2:{quoted}, '
            f'existing enabled keys: [{enabled}]")'
        )
    return name


def vetkd_public_key(request: Request, subnet_seed: bytes) -> tuple[bytes, int]:
    """Answer ``vetkd_public_key``: (Candid reply, cycles refunded — all of them).

    ``canister_id = null`` is the caller. Raises `CanisterError` for a bad payload and
    `UnroutableRequest` for an unknown key.
    """
    args = _decode(request, PUBLIC_KEY_ARGS)
    key = master_key(subnet_seed, _key_name(request, args["key_id"]))
    canister: Principal | None = args["canister_id"]
    canister_id = request.sender if canister is None else canister.raw
    public_key = key.public_key_for(canister_id, bytes(args["context"]))
    return encode([PUBLIC_KEY_RESULT], [{"public_key": public_key}]), request.cycles


def vetkd_derive_key(request: Request, subnet_seed: bytes) -> tuple[bytes, int]:
    """Answer ``vetkd_derive_key``: (Candid reply, cycles refunded beyond the key's fee).

    The key is the caller's: derived for ``(caller, context)``, computed for ``input``
    and encrypted to ``transport_public_key``. Raises `CanisterError` for a bad payload,
    too few cycles or a transport key that is not a G1 point, `UnroutableRequest` for an
    unknown key.
    """
    args = _decode(request, DERIVE_KEY_ARGS)
    name = _key_name(request, args["key_id"])
    fee = KEY_FEES[name]
    if request.cycles < fee:
        raise CanisterError(
            ErrorCode.CANISTER_REJECTED_MESSAGE,
            f"{request.method} request sent with {request.cycles} cycles, but {fee} cycles "
            "are required.",
        )
    transport_key = bytes(args["transport_public_key"])
    if not is_valid_transport_public_key(transport_key):
        raise CanisterError(
            ErrorCode.CANISTER_REJECTED_MESSAGE,
            f"{request.method}: the transport public key is invalid: it must be a compressed "
            f"BLS12-381 G1 point (48 bytes), got {len(transport_key)} bytes that are not one",
        )
    encrypted = master_key(subnet_seed, name).encrypted_vetkey(
        request.sender, bytes(args["context"]), bytes(args["input"]), transport_key)
    return encode([DERIVE_KEY_RESULT], [{"encrypted_key": encrypted}]), request.cycles - fee
