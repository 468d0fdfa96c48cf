"""vetKD through the management canister, called by a Python canister with `sdk.vetkd`.

The canister (tests/sdk/vetkd_canister.py) asks for public keys and encrypted keys; the
test decrypts with its transport secret and checks the vetKey against the public key the
canister got, checks the IC's rejects (ingress, unknown key, bad transport key, missing
cycles, bad payload), the fee and its refund, and that a replica reopened on the same
state directory derives the same keys.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyblst import BlstP1Element

from icframework.candid import BLOB, NAT, PRINCIPAL, TEXT
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.vetkd import (
    decrypt_vetkey,
    derive_public_key,
    encrypted_key_is_well_formed,
    master_key,
    verify_vetkey,
)
from icframework.replica.vetkd.methods import DERIVE_KEY_ARGS, PUBLIC_KEY_ARGS
from icframework.sdk import load_canister, service_did, vetkd
from tests.compiler.runtime_support import CACHE_DIR, runtime

__all__ = ["runtime"]

CONTROLLER = Principal.self_authenticating(b"vetkd test controller")
SOURCE = Path(__file__).parents[1] / "sdk" / "vetkd_canister.py"
G1_GENERATOR = BlstP1Element.uncompress(bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"))
TSK = 0x5EC2E7
TPK = bytes(G1_GENERATOR.scalar_mul(TSK).compress())
ENABLED = ("[vetkd:Bls12_381_G2:dfx_test_key, vetkd:Bls12_381_G2:key_1, "
           "vetkd:Bls12_381_G2:test_key_1]")


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    yield
    set_runtime_loader(previous)


def install(replica: Replica) -> Principal:
    did = service_did(load_canister("tests.sdk.vetkd_canister"))
    module = pack_python_module({"vetkd_canister.py": SOURCE.read_text()}, "vetkd_canister.py",
                                did=did)
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, module, encode((), ()), sender=CONTROLLER)
    return canister


def public_key(replica: Replica, canister: Principal, context: bytes,
               key_name: str = "test_key_1") -> bytes:
    (key,) = decode(replica.update(canister, "public_key", encode((BLOB, TEXT),
                                                                  (context, key_name))), (BLOB,))
    return bytes(key)


def derive_key(replica: Replica, canister: Principal, input_: bytes, context: bytes,
               transport_key: bytes = TPK, key_name: str = "test_key_1") -> bytes:
    arg = encode((BLOB, BLOB, BLOB, TEXT), (input_, context, transport_key, key_name))
    (key,) = decode(replica.update(canister, "derive_key", arg), (BLOB,))
    return bytes(key)


def text(replica: Replica, canister: Principal, method: str, arg: bytes) -> str:
    (value,) = decode(replica.update(canister, method, arg), (TEXT,))
    return str(value)


def balance(replica: Replica, canister: Principal) -> int:
    return replica.subnet.canister_state.canister(canister.raw).cycles


def derive_arg(key_name: str = "test_key_1", transport_key: bytes = TPK) -> bytes:
    return encode([DERIVE_KEY_ARGS], [{
        "input": b"in", "context": b"ctx", "transport_public_key": transport_key,
        "key_id": {"curve": {"bls12_381_g2": None}, "name": key_name}}])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replica, Principal]]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    with Replica.open(tmp_path_factory.mktemp("vetkd-state")) as replica:
        yield replica, install(replica)
    set_runtime_loader(previous)


@pytest.mark.parametrize("key_name", ["key_1", "test_key_1", "dfx_test_key"])
def test_public_key_is_the_subnet_key_derived_for_the_caller(
    world: tuple[Replica, Principal], key_name: str,
) -> None:
    replica, canister = world
    key = public_key(replica, canister, b"notes", key_name)
    mpk = master_key(replica.subnet.canister_state.seed, key_name).public_key
    assert key == derive_public_key(mpk, canister.raw, b"notes")
    assert key != public_key(replica, canister, b"other notes", key_name)
    other = Principal.from_text("urq22-tyaaa-aaaag-audia-cai")
    arg = encode((PRINCIPAL, BLOB, TEXT), (other, b"notes", key_name))
    (of_other,) = decode(replica.update(canister, "public_key_of", arg), (BLOB,))
    assert bytes(of_other) == derive_public_key(mpk, other.raw, b"notes")


def test_derived_key_decrypts_and_verifies(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    dpk = public_key(replica, canister, b"notes")
    encrypted = derive_key(replica, canister, b"alice", b"notes")
    assert len(encrypted) == 192
    assert encrypted_key_is_well_formed(encrypted, TPK, dpk, b"alice")
    vetkey = decrypt_vetkey(encrypted, TSK)
    assert verify_vetkey(vetkey, dpk, b"alice")
    assert not verify_vetkey(vetkey, dpk, b"bob")
    again = derive_key(replica, canister, b"alice", b"notes")
    assert again != encrypted and decrypt_vetkey(again, TSK) == vetkey


def test_identity_transport_key_is_accepted(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    identity = bytes.fromhex("c0" + "00" * 47)
    encrypted = derive_key(replica, canister, b"doc", b"sig", identity)
    assert verify_vetkey(encrypted[144:], public_key(replica, canister, b"sig"), b"doc")


def test_unknown_key_is_unroutable_and_names_the_enabled_keys(
    world: tuple[Replica, Principal],
) -> None:
    replica, canister = world
    arg = encode((BLOB, BLOB, BLOB, TEXT), (b"in", b"ctx", TPK, "nope"))
    assert text(replica, canister, "try_derive_key", arg) == (
        '3: Unable to route management canister request vetkd_derive_key: ChainKeyError('
        '"Requested unknown or disabled threshold key: vetkd:Bls12_381_G2:nope, existing '
        f'enabled keys: {ENABLED}")')
    public_arg = encode([PUBLIC_KEY_ARGS], [{
        "canister_id": None, "context": b"",
        "key_id": {"curve": {"bls12_381_g2": None}, "name": "key_2"}}])
    assert text(replica, canister, "public_key_raw", encode((BLOB,), (public_arg,))).startswith(
        "3: Unable to route management canister request vetkd_public_key: ChainKeyError("
        '"Requested unknown or disabled threshold key: vetkd:Bls12_381_G2:key_2,')


def test_bad_transport_key_is_a_canister_reject(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    for bad in (b"\xf0\x0f" * 3, b"\x00" * 48, TPK[:47]):
        arg = encode((BLOB, BLOB, BLOB, TEXT), (b"in", b"ctx", bad, "test_key_1"))
        assert text(replica, canister, "try_derive_key", arg) == (
            "4: vetkd_derive_key: the transport public key is invalid: it must be a compressed "
            f"BLS12-381 G1 point (48 bytes), got {len(bad)} bytes that are not one")


def test_too_few_cycles_are_refused_and_all_refunded(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    fee = vetkd.fee("key_1")
    before = balance(replica, canister)
    assert text(replica, canister, "derive_raw", encode((BLOB, NAT), (derive_arg("key_1"),
                                                                      fee - 1))) == (
        f"4: vetkd_derive_key request sent with {fee - 1} cycles, but {fee} cycles are required.")
    assert before - balance(replica, canister) < 10**9  # execution only, no fee


def test_fee_is_charged_and_the_surplus_refunded(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    fee = vetkd.fee("test_key_1")
    before = balance(replica, canister)
    assert text(replica, canister, "derive_raw", encode((BLOB, NAT), (derive_arg(), fee))) == (
        "ok: 210 bytes")
    exact = before - balance(replica, canister)
    before = balance(replica, canister)
    assert text(replica, canister, "derive_raw",
                encode((BLOB, NAT), (derive_arg(), fee + 10**12))) == "ok: 210 bytes"
    surplus = before - balance(replica, canister)
    assert fee <= exact < fee + 10**9
    assert abs(surplus - exact) < 10**9
    before = balance(replica, canister)
    public_key(replica, canister, b"free")
    assert before - balance(replica, canister) < 10**9


def test_bad_payload_is_refused(world: tuple[Replica, Principal]) -> None:
    replica, canister = world
    reply = text(replica, canister, "derive_raw", encode((BLOB, NAT), (encode((), ()), 0)))
    assert reply.startswith("4: Error decoding candid for ic00 method vetkd_derive_key:")


@pytest.mark.parametrize("method", ["vetkd_public_key", "vetkd_derive_key"])
def test_ingress_is_refused(world: tuple[Replica, Principal], method: str) -> None:
    replica, _ = world
    with pytest.raises(CanisterError) as info:
        replica.update(Principal.management_canister(), method, derive_arg())
    assert info.value.error_code == ErrorCode.CANISTER_REJECTED_MESSAGE
    assert str(info.value) == f"Only canisters can call ic00 method {method}"


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        canister = install(replica)
        key = public_key(replica, canister, b"diary")
        vetkey = decrypt_vetkey(derive_key(replica, canister, b"me", b"diary"), TSK)
    with Replica.open(tmp_path) as reopened:
        assert public_key(reopened, canister, b"diary") == key
        assert decrypt_vetkey(derive_key(reopened, canister, b"me", b"diary"), TSK) == vetkey
    with Replica.open(tmp_path / "elsewhere") as other_subnet:
        assert public_key(other_subnet, install(other_subnet), b"diary") != key
