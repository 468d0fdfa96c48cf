"""A canister that asks the management canister for vetKD keys through `icframework.sdk.vetkd`.

Used by the replica, SDK, @dfinity/vetkeys interop and benchmark tests. ``try_*``
methods turn a rejected call into text ("code: message") so tests can read the reject.
"""

from __future__ import annotations

from icframework.sdk import CallRejected, Principal, ic, nat, query, update, vetkd


@update
async def public_key(context: bytes, key_name: str) -> bytes:
    return await vetkd.public_key(context, key_name=key_name)


@update
async def public_key_of(canister: Principal, context: bytes, key_name: str) -> bytes:
    return await vetkd.public_key(context, key_name=key_name, canister_id=canister)


@update
async def derive_key(input: bytes, context: bytes, transport_public_key: bytes,
                     key_name: str) -> bytes:
    return await vetkd.derive_key(input, context, transport_public_key, key_name=key_name)


@update
async def try_derive_key(input: bytes, context: bytes, transport_public_key: bytes,
                         key_name: str) -> str:
    try:
        key = await vetkd.derive_key(input, context, transport_public_key, key_name=key_name)
    except CallRejected as exc:
        return f"{exc.code}: {exc.message}"
    return f"ok: {len(key)} bytes"


@update
async def derive_raw(arg: bytes, cycles: nat) -> str:
    """``vetkd_derive_key`` with a ready Candid argument and ``cycles`` attached."""
    try:
        reply = await ic.call_raw(Principal.management_canister(), "vetkd_derive_key", arg,
                                  cycles=cycles)
    except CallRejected as exc:
        return f"{exc.code}: {exc.message}"
    return f"ok: {len(reply)} bytes"


@update
async def public_key_raw(arg: bytes) -> str:
    """``vetkd_public_key`` with a ready Candid argument."""
    try:
        reply = await ic.call_raw(Principal.management_canister(), "vetkd_public_key", arg)
    except CallRejected as exc:
        return f"{exc.code}: {exc.message}"
    return f"ok: {len(reply)} bytes"


@update
def noop() -> None:
    """A plain update, the reference the benchmark compares vetKD calls against."""


@update
async def raw_rand_call() -> bytes:
    """A plain management call (``raw_rand``), the benchmark's other reference."""
    return await ic.call_raw(Principal.management_canister(), "raw_rand")


@query
def balance() -> nat:
    return ic.canister_balance()
