"""vetKD from a canister: typed ``await``-able calls of the management canister's
``vetkd_public_key`` and ``vetkd_derive_key``, the keys' fees, and those methods'
Candid types (``KEY_ID``, ``PUBLIC_KEY_ARGS`` and the rest), which the replica's
handlers decode too.

Use them inside an ``async def`` entry point::

    from icframework.sdk import vetkd

    pk = await vetkd.public_key(b"notes")                      # 96-byte G2 public key
    ek = await vetkd.derive_key(user.raw, b"notes", transport)  # 192-byte encrypted key

A reject (an unknown key name, a bad transport key, too few cycles) raises
`icframework.sdk.CallRejected` with the IC's reject code and message, like any other
awaited call. Keys: ``key_1`` (mainnet's production key), ``test_key_1`` (mainnet's test
key) and ``dfx_test_key`` (local tools); on this framework's replica all three are the
subnet's own master keys, so derived keys differ from mainnet's and PocketIC's.
"""

from __future__ import annotations

from icframework.candid import BLOB, NULL, PRINCIPAL, TEXT, Field, Opt, Record, Variant
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.sdk.calls import call_raw
from icframework.sdk.errors import SdkError

__all__ = [
    "DEFAULT_KEY",
    "DERIVE_KEY_ARGS",
    "DERIVE_KEY_RESULT",
    "KEY_FEES",
    "KEY_ID",
    "PUBLIC_KEY_ARGS",
    "PUBLIC_KEY_RESULT",
    "derive_key",
    "fee",
    "public_key",
]

DEFAULT_KEY = "test_key_1"
KEY_FEES: dict[str, int] = {
    "key_1": 26_153_846_153,
    "test_key_1": 10_000_000_000,
    "dfx_test_key": 10_000_000_000,
}
"""Cycles ``vetkd_derive_key`` charges per key: the IC's 10 B cycles at 13 nodes, scaled
to the size of the subnet holding the key (``key_1``: 34 nodes; ``test_key_1``: 13).
``dfx_test_key`` costs what ``test_key_1`` does."""

_MANAGEMENT = Principal.management_canister()
# The management canister's vetKD types (ic.did): what this module sends and what the
# replica's handlers (icframework.replica.vetkd) decode.
KEY_ID = Record([Field("curve", Variant([Field("bls12_381_g2", NULL)])), Field("name", TEXT)])
PUBLIC_KEY_ARGS = Record([
    Field("canister_id", Opt(PRINCIPAL)), Field("context", BLOB), Field("key_id", KEY_ID)])
PUBLIC_KEY_RESULT = Record([Field("public_key", BLOB)])
DERIVE_KEY_ARGS = Record([
    Field("input", BLOB), Field("context", BLOB), Field("transport_public_key", BLOB),
    Field("key_id", KEY_ID)])
DERIVE_KEY_RESULT = Record([Field("encrypted_key", BLOB)])


def fee(key_name: str = DEFAULT_KEY) -> int:
    """The cycles ``vetkd_derive_key`` takes for ``key_name``; raises `SdkError` for a
    name that is not an enabled key."""
    try:
        return KEY_FEES[key_name]
    except KeyError:
        raise SdkError(
            f"unknown vetKD key {key_name!r}; enabled keys: {', '.join(sorted(KEY_FEES))}"
        ) from None


def _key_id(key_name: str) -> dict[str, object]:
    return {"curve": {"bls12_381_g2": None}, "name": key_name}


async def public_key(context: bytes, *, key_name: str = DEFAULT_KEY,
                     canister_id: Principal | None = None) -> bytes:
    """The derived public key (96 bytes, compressed G2) of ``canister_id`` (default: this
    canister) for ``context``. Free. Raises `CallRejected` if the call is rejected."""
    arg = encode([PUBLIC_KEY_ARGS], [{
        "canister_id": canister_id, "context": bytes(context), "key_id": _key_id(key_name)}])
    reply: bytes = await call_raw(_MANAGEMENT, "vetkd_public_key", arg)
    (result,) = decode(reply, [PUBLIC_KEY_RESULT])
    return bytes(result["public_key"])


async def derive_key(input: bytes, context: bytes, transport_public_key: bytes, *,
                     key_name: str = DEFAULT_KEY) -> bytes:
    """This canister's vetKey of ``input`` for ``context``, encrypted to
    ``transport_public_key`` (48-byte G1): 192 bytes for the client to decrypt and verify.

    Attaches `fee` (``key_name``) cycles; the replica refunds any surplus. Raises
    `CallRejected` if the call is rejected (an unknown key name, a bad transport key,
    or the canister cannot pay).
    """
    arg = encode([DERIVE_KEY_ARGS], [{
        "input": bytes(input), "context": bytes(context),
        "transport_public_key": bytes(transport_public_key), "key_id": _key_id(key_name)}])
    cycles = KEY_FEES.get(key_name, 0)  # an unknown key: the replica's reject says which exist
    reply: bytes = await call_raw(_MANAGEMENT, "vetkd_derive_key", arg, cycles=cycles)
    (result,) = decode(reply, [DERIVE_KEY_RESULT])
    return bytes(result["encrypted_key"])
