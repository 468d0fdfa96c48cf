"""The vetKD arithmetic against published vectors and the spec's pairing equations.

Sources: RFC 9380 Appendix K.1 (expand_message_xmd, SHA-256); DFINITY's
``dfinity/vetkeys`` repository, ``backend/rs/ic_vetkeys/tests/utils.rs`` (derivations made
on mainnet with ``key_1`` and ``test_key_1`` for canister ``urq22-tyaaa-aaaag-audia-cai``,
PocketIC's master keys for canister ``uzt4z-lp777-77774-qaabq-cai``, an encrypted key with
its transport secret and vetKey) and ``backend/rs/ic_vetkeys/src/utils/mod.rs`` (the
master public keys).
"""

from __future__ import annotations

import pytest
from pyblst import BlstP1Element, BlstP2Element

from icframework.core import Principal
from icframework.replica.vetkd import (
    CURVE_ORDER,
    MasterKey,
    decrypt_vetkey,
    derive_canister_public_key,
    derive_context_public_key,
    derive_public_key,
    encrypted_key_is_well_formed,
    expand_message_xmd,
    hash_to_scalar,
    is_valid_transport_public_key,
    master_key,
    verify_vetkey,
)

QUUX = b"QUUX-V01-CS02-with-expander-SHA256-128"
LONG_DST = b"QUUX-V01-CS02-with-expander-SHA256-128-long-DST-" + b"1" * 208
G1_GENERATOR = bytes.fromhex(
    "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb")
G1_IDENTITY = bytes.fromhex("c0" + "00" * 47)

XMD_VECTORS = [
    (b"", QUUX, "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
    (b"abc", QUUX, "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
    (b"abcdef0123456789", QUUX,
     "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"),
    (b"q128_" + b"q" * 128, QUUX,
     "b23a1d2b4d97b2ef7785562a7e8bac7eed54ed6e97e29aa51bfe3f12ddad1ff9"),
    (b"", QUUX,
     "af84c27ccfd45d41914fdff5df25293e221afc53d8ad2ac06d5e3e29485dadbee0d121587713a3e0dd4d5e69"
     "e93eb7cd4f5df4cd103e188cf60cb02edc3edf18eda8576c412b18ffb658e3dd6ec849469b979d444cf7b269"
     "11a08e63cf31f9dcc541708d3491184472c2c29bb749d4286b004ceb5ee6b9a7fa5b646c993f0ced"),
    (b"", LONG_DST, "e8dc0c8b686b7ef2074086fbdd2f30e3f8bfbd3bdf177f73f04b97ce618a3ed3"),
    (b"abc", LONG_DST, "52dbf4f36cf560fca57dedec2ad924ee9c266341d8f3d6afe5171733b16bbb12"),
]


@pytest.mark.parametrize(("message", "dst", "expected"), XMD_VECTORS)
def test_expand_message_xmd_rfc9380_vectors(message: bytes, dst: bytes, expected: str) -> None:
    assert expand_message_xmd(message, dst, len(expected) // 2).hex() == expected


def test_expand_message_xmd_refuses_impossible_lengths() -> None:
    with pytest.raises(ValueError, match=r"1\.\.8160 bytes, not 0"):
        expand_message_xmd(b"", QUUX, 0)
    with pytest.raises(ValueError, match="not 8161"):
        expand_message_xmd(b"", QUUX, 255 * 32 + 1)


def test_hash_to_scalar_is_the_48_byte_expansion_reduced() -> None:
    wide = int.from_bytes(expand_message_xmd(b"abc", QUUX, 48), "big")
    assert hash_to_scalar(b"abc", QUUX) == wide % CURVE_ORDER


MAINNET_KEYS = {
    "key_1": (
        "a9caf9ae8af0c7c7272f8a122133e2e0c7c0899b75e502bda9e109ca8193ded3ef042ed96db1125e1bdaad"
        "77d8cc60d917e122fe2501c45b96274f43705edf0cfd455bc66c3c060faa2fcd15486e76351edf91fecb99"
        "3797273bbc8beaa47404"),
    "test_key_1": (
        "ad86e8ff845912f022a0838a502d763fdea547c9948f8cb20ea7738dd52c1c38dcb4c6ca9ac29f9ac6"
        "90fc5ad7681cb41922b8dffbd65d94bff141f5fb5b6624eccc03bf850f222052df888cf9b1e472035"
        "56d7522271cbb879b2ef4b8c2bfb1"),
}
MAINNET_DERIVED = {  # (canister key, key for context b"context-string")
    "key_1": (
        "a4df5fb733dc53ba0b3f8dab3f7538b2f345052072f69a5749d630d9c2b2b1c4b00af09fa1d993e1ce5339"
        "96961575ad027e058e2a279ab05271c115ef27d750b6b233f12bc9f1973b203e338d43b6a7617be58d5c71"
        "95dfb809d756413bc006",
        "aa45fccb82432315e39fedb1b1f150d2e895fb1f7399cc593b826ac151b519f0966b92aef49a89efe60570"
        "ef325f0f7e1974ac3519d2e127a52c013e246aedbff2158bdd0bb9f26c763c88c0b8ec796f401d057eab27"
        "6d0a34384a8a97b1937f"),
    "test_key_1": (
        "8b961f06d392367e84136088971c4808b434e5d6b928b60fa6177f811db9930e4f2a911ef517db40f7e789"
        "7588ae0e2316500dbef3abf08ad7f63940af0cf816c2c1c234943c9bb6f4d53da121dceed093d118d0bd55"
        "52740da315eac3b59b0f",
        "958a2700438db39cf848f99c80d4d1c0f42b5e6783c35abffe5acda4fdb09548a025fdf85aad8980fcf6e2"
        "0c1082596310c2612a3f3034c56445ddfc32a0c3cd34a7d0fea8df06a2996c54e21e3f8361a6e633d706ff"
        "58e979858fe436c7edf3"),
}


@pytest.mark.parametrize("key_name", sorted(MAINNET_KEYS))
def test_mainnet_public_derivation(key_name: str) -> None:
    canister = Principal.from_text("urq22-tyaaa-aaaag-audia-cai").raw
    canister_key, context_key = MAINNET_DERIVED[key_name]
    mpk = bytes.fromhex(MAINNET_KEYS[key_name])
    assert derive_canister_public_key(mpk, canister).hex() == canister_key
    assert derive_context_public_key(bytes.fromhex(canister_key), b"context-string").hex() == (
        context_key)
    assert derive_public_key(mpk, canister, b"context-string").hex() == context_key


# name: (master public key, key for the canister and "Test Derivation For PocketIC VetKD <name>")
POCKETIC_KEYS = {
    "key_1": (
        "8c800b5cff00463d26e8167369168827f1e48f4d8d60f71dd6a295580f65275b5f5f8e6a792c876b2c7249"
        "2136530d0710a27522ee63977a76216c3cef9e70bfcb45b88736fc62142e7e0737848ce06cbb1f45a4a6a3"
        "49b142ae5cf7853561e0",
        "899a951f6ec2f9a96759c554a6cb01fb1cb20b2f2f96a2d2c869221c04d3349c3be8d49c3257312aed031f"
        "430f15f7ef0f4d43adf11251015d70dd91ac07df50fb70818ece721a1d6a314204acddde55542902f5d0d9"
        "5e2406a5ab1fad18349d"),
    "test_key_1": (
        "9069b82c7aae418cef27678291e7f2cb1a008a500eceba7199bffca12421b07c158987c6a22618af3d1958"
        "738b2835691028801f7663d311799733286c557c8979184bb62cb559a4d582fca7d2e48b860f08ed6641ae"
        "f66a059ec891889a6218",
        "a60993fc46593728bd9b0a4ffb1fb9a662dd89b29c99fde36e403c311c8992e6eeb097b31174dd43f74e73"
        "fe10c190271193a4345490f64a41ce778a2f6e7c16804919e843ac72ff65bab959c53fa839c9fb3cb263e4"
        "1498d17fb82704fe18bc"),
    "dfx_test_key": (
        "b181c14cf9d04ba45d782c0067a44b0aaa9fc2acf94f1a875f0dae801af4f80339a7e6bf8b09fcf993824c"
        "8df3080b3f1409b688ca08cbd44d2cb28db9899f4aa3b5f06b9174240448e10be2f01f9f80079ea5431ce2"
        "d11d1c8d1c775333315f",
        "800424bea66b95b715f86a9bed06b1f60df98206a57235c3e0f2da4d485dc1c93c56eef54155d559ef45c7"
        "57fb0444920620b932652f1d683fdbc57db98b5aeb8ba664a5e040cbdf4d685e4e236a7193d1bd5b092720"
        "4fab05fff4f61f26b358"),
}


@pytest.mark.parametrize("key_name", sorted(POCKETIC_KEYS))
def test_pocketic_public_derivation(key_name: str) -> None:
    canister = Principal.from_text("uzt4z-lp777-77774-qaabq-cai").raw
    mpk, expected = POCKETIC_KEYS[key_name]
    context = f"Test Derivation For PocketIC VetKD {key_name}".encode()
    assert derive_public_key(bytes.fromhex(mpk), canister, context).hex() == expected


def test_second_level_derivation_and_empty_context() -> None:
    canister_key = bytes.fromhex(
        "8bf165ea580742abf5fd5123eb848aa116dcf75c3ddb3cd3540c852cf99f0c5394e72dfc2f25dbcb5f9220"
        "f251cd04040a508a0bcb8b2543908d6626b46f09d614c924c5deb63a9949338ae4f4ac436bd77f8d0a392f"
        "d29de0f392a009fa61f3")
    assert derive_context_public_key(canister_key, b"") == canister_key
    assert derive_context_public_key(canister_key, b"test-context").hex() == (
        "80b4f1e11766d32bed0ea4e8b05e82bf84519de4a63eca0213d9e3603a946ea2968150882d1e9508701f34"
        "048fcec80919b4f493a2a254fc13dc956f1d82c6b8e641f962e1c0342c95eb58e168327d5e51e9337627ac"
        "9f1aa93d2e3058a1ff09")


def test_published_encrypted_key_decrypts_to_the_published_vetkey() -> None:
    """``protocol_flow_with_fixed_rng_has_expected_outputs``: the transport secret from seed
    0x42…, the derived key, the encrypted key for input "message" and its vetKey. The secret
    is serialized little-endian there (the Rust crate's scalar encoding)."""
    tsk = int.from_bytes(bytes.fromhex(
        "763e63464c55014a26ac6825616867185cc7204283ca46bd34c1a1446e737b16"), "little")
    tpk = bytes(BlstP1Element.uncompress(G1_GENERATOR).scalar_mul(tsk).compress())
    assert tpk.hex() == ("911969d56f42875d37a92d7eaa5d43293eff9f9a20ba4c60523e70a695eaeadeb721659b"
                         "52a49d74e67841ad19033a12")
    dpk = bytes.fromhex(
        "972c4c6cc184b56121a1d27ef1ca3a2334d1a51be93573bd18e168f78f8fe15ce44fb029ffe8e9c3ee6bea"
        "2660f4f35e0774a35a80d6236c050fd8f831475b5e145116d3e83d26c533545f64b08464e4bcc755f990a3"
        "81efa89804212d4eef5f")
    encrypted = bytes.fromhex(
        "b1a13757eaae15a3c8884fc1a3453f8a29b88984418e65f1bd21042ce1d6809b2f8a49f7326c1327f2a392"
        "1e8ff1d6c3adde2a801f1f88de98ccb40c62e366a279e7aec5875a0ce2f2a9f3e109d9cb193f0197eadb2c"
        "5f5568ee4d6a87e115910662e01e604087246be8b081fc6b8a06b4b0100ed1935d8c8d18d9f70d61718c5d"
        "ba23a641487e72b3b25884eeede8feb3c71599bfbcebe60d29408795c85b4bdf19588c034d898e7fc513be"
        "8dbd04cac702a1672f5625f5833d063b05df7503")
    assert encrypted_key_is_well_formed(encrypted, tpk, dpk, b"message")
    assert not encrypted_key_is_well_formed(encrypted, tpk, dpk, b"wrong message")
    vetkey = decrypt_vetkey(encrypted, tsk)
    assert vetkey.hex() == ("987db5406ce297e729c8564a106dc896943b00216a095fe9c5d32a16a330c02eb80e6f"
                            "468ede83cde5462b5145b58f65")
    assert verify_vetkey(vetkey, dpk, b"message")
    assert not verify_vetkey(vetkey, dpk, b"wrong message")


def test_our_keys_satisfy_the_pairing_equations() -> None:
    key = MasterKey.from_secret(0x1234567890ABCDEF)
    tsk = 0xFEEDFACE
    tpk = bytes(BlstP1Element.uncompress(G1_GENERATOR).scalar_mul(tsk).compress())
    canister, context, input_ = b"\x00\x00\x00\x00\x00\x00\x00\x01\x01\x01", b"notes", b"alice"
    dpk = key.public_key_for(canister, context)
    assert dpk == derive_public_key(key.public_key, canister, context)
    encrypted = key.encrypted_vetkey(canister, context, input_, tpk)
    assert len(encrypted) == 192
    assert encrypted_key_is_well_formed(encrypted, tpk, dpk, input_)
    vetkey = decrypt_vetkey(encrypted, tsk)
    assert vetkey == key.vetkey(canister, context, input_)
    assert verify_vetkey(vetkey, dpk, input_)
    assert not verify_vetkey(vetkey, key.public_key_for(canister, b"other"), input_)
    # Fresh randomness per call: the ciphertexts differ, the vetKey inside does not.
    again = key.encrypted_vetkey(canister, context, input_, tpk)
    assert again != encrypted and decrypt_vetkey(again, tsk) == vetkey
    # A chosen r reproduces E1 = g1·r and E2 = g2·r exactly.
    fixed = key.encrypted_vetkey(canister, context, input_, tpk, randomness=5)
    assert fixed[:48] == bytes(BlstP1Element.uncompress(G1_GENERATOR).scalar_mul(5).compress())
    assert BlstP2Element.uncompress(fixed[48:144]) == BlstP2Element.uncompress(
        MasterKey.from_secret(5).public_key)


def test_identity_transport_key_yields_the_vetkey_in_the_clear() -> None:
    key = MasterKey.from_secret(77)
    encrypted = key.encrypted_vetkey(b"c", b"", b"msg", G1_IDENTITY)
    assert encrypted[144:] == key.vetkey(b"c", b"", b"msg")


def test_transport_key_validation() -> None:
    assert is_valid_transport_public_key(G1_GENERATOR)
    assert is_valid_transport_public_key(G1_IDENTITY)
    assert not is_valid_transport_public_key(bytes.fromhex("F00F00F00F00"))
    assert not is_valid_transport_public_key(G1_GENERATOR[:47])
    assert not is_valid_transport_public_key(b"\x00" * 48)  # no compression flag
    off_curve = bytearray(G1_GENERATOR)
    off_curve[-1] ^= 1
    assert not is_valid_transport_public_key(bytes(off_curve))
    with pytest.raises(ValueError, match="not a compressed BLS12-381 G1 point"):
        MasterKey.from_secret(3).encrypted_vetkey(b"c", b"", b"", b"\x00" * 48)


def test_master_keys_follow_the_subnet_seed_and_name() -> None:
    seed = bytes(range(32))
    assert master_key(seed, "key_1") == master_key(bytes(seed), "key_1")
    assert master_key(seed, "key_1").public_key != master_key(seed, "test_key_1").public_key
    assert master_key(seed, "key_1").public_key != master_key(b"\x01" * 32, "key_1").public_key
    with pytest.raises(ValueError, match=r"1\.\.r-1"):
        MasterKey.from_secret(CURVE_ORDER)
    assert "public_key=" in repr(master_key(seed, "key_1"))
    assert str(master_key(seed, "key_1").secret) not in repr(master_key(seed, "key_1"))
