"""`icframework.sdk.vetkd` in plain CPython: the calls it makes, what it returns, its rejects.

The management canister is played by the replica's own vetKD handlers
(`icframework.replica.vetkd.methods`) behind a `LocalCanister` peer, so the Candid the
helper sends is decoded, and its answers made, by the code the replica runs.
"""

from __future__ import annotations

import pytest
from pyblst import BlstP1Element

from icframework.candid import decode, encode
from icframework.core import Principal
from icframework.replica.errors import CanisterError
from icframework.replica.messages import CallOrigin, OriginKind, Request
from icframework.replica.vetkd import decrypt_vetkey, master_key, verify_vetkey
from icframework.replica.vetkd.methods import (
    DERIVE_KEY_ARGS,
    PUBLIC_KEY_ARGS,
    PUBLIC_KEY_RESULT,
    vetkd_derive_key,
    vetkd_public_key,
)
from icframework.sdk import CallRejected, LocalBackend, LocalCanister, SdkError, vetkd

CANISTER = Principal.from_canister_index(7)
MANAGEMENT = Principal.management_canister()
SEED = bytes(range(32))
TSK = 0xC0FFEE
TPK = bytes(BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
)).scalar_mul(TSK).compress())


@pytest.fixture
def calls() -> list[tuple[str, Principal, int]]:
    return []


@pytest.fixture
def canister(calls: list[tuple[str, Principal, int]]) -> LocalCanister:
    local = LocalCanister("tests.sdk.vetkd_canister", backend=LocalBackend(canister_id=CANISTER))
    local.install()

    def management(method: str, arg: bytes, caller: Principal, cycles: int) -> bytes:
        calls.append((method, caller, cycles))
        request = Request(caller.raw, MANAGEMENT.raw, method, arg,
                          CallOrigin(OriginKind.CANISTER, canister_id=caller.raw), cycles)
        handler = {"vetkd_public_key": vetkd_public_key, "vetkd_derive_key": vetkd_derive_key}
        try:
            reply, _refund = handler[method](request, SEED)
        except CanisterError as exc:
            raise CallRejected(str(MANAGEMENT), method, int(exc.reject_code), exc.message) from None
        return reply

    local.connect(MANAGEMENT, management)
    return local


def test_public_key(canister: LocalCanister, calls: list[tuple[str, Principal, int]]) -> None:
    key = canister.update("public_key", b"notes", "key_1")
    assert key == master_key(SEED, "key_1").public_key_for(CANISTER.raw, b"notes")
    other = Principal.from_canister_index(8)
    assert canister.update("public_key_of", other, b"notes", "key_1") == (
        master_key(SEED, "key_1").public_key_for(other.raw, b"notes"))
    assert calls == [("vetkd_public_key", CANISTER, 0)] * 2


def test_derive_key_attaches_the_fee(canister: LocalCanister,
                                     calls: list[tuple[str, Principal, int]]) -> None:
    encrypted = canister.update("derive_key", b"alice", b"notes", TPK, "test_key_1")
    assert len(encrypted) == 192
    dpk = master_key(SEED, "test_key_1").public_key_for(CANISTER.raw, b"notes")
    assert verify_vetkey(decrypt_vetkey(encrypted, TSK), dpk, b"alice")
    assert calls == [("vetkd_derive_key", CANISTER, 10_000_000_000)]
    canister.update("derive_key", b"alice", b"notes", TPK, "key_1")
    assert calls[-1] == ("vetkd_derive_key", CANISTER, 26_153_846_153)


def test_a_reject_is_call_rejected(canister: LocalCanister,
                                   calls: list[tuple[str, Principal, int]]) -> None:
    assert canister.update("try_derive_key", b"x", b"", b"\x01" * 48, "test_key_1").startswith(
        "4: vetkd_derive_key: the transport public key is invalid")
    # An unknown key goes to the management canister (with no cycles) for the IC's answer.
    assert canister.update("try_derive_key", b"x", b"", TPK, "key_9").startswith(
        "3: Unable to route management canister request vetkd_derive_key")
    assert calls[-1] == ("vetkd_derive_key", CANISTER, 0)


def test_fee_table() -> None:
    assert vetkd.fee() == vetkd.fee("test_key_1") == 10_000_000_000
    assert vetkd.fee("key_1") == 26_153_846_153
    assert vetkd.fee("dfx_test_key") == 10_000_000_000
    with pytest.raises(SdkError, match="unknown vetKD key 'key_2'; enabled keys: dfx_test_key, "
                                       "key_1, test_key_1"):
        vetkd.fee("key_2")


def test_arguments_are_the_ic_candid() -> None:
    call = vetkd.derive_key(b"in", b"ctx", TPK, key_name="key_1").send(None)
    assert (call.callee, call.method, call.cycles) == (MANAGEMENT, "vetkd_derive_key",
                                                      26_153_846_153)
    assert decode(call.arg, (DERIVE_KEY_ARGS,)) == ({
        "input": b"in", "context": b"ctx", "transport_public_key": TPK,
        "key_id": {"curve": {"bls12_381_g2": None}, "name": "key_1"}},)
    pending = vetkd.public_key(b"ctx", canister_id=CANISTER)
    call = pending.send(None)
    assert (call.method, call.cycles) == ("vetkd_public_key", 0)
    assert decode(call.arg, (PUBLIC_KEY_ARGS,)) == ({
        "canister_id": CANISTER, "context": b"ctx",
        "key_id": {"curve": {"bls12_381_g2": None}, "name": "test_key_1"}},)
    with pytest.raises(StopIteration) as done:
        pending.send(encode((PUBLIC_KEY_RESULT,), ({"public_key": b"k" * 96},)))
    assert done.value.value == b"k" * 96
