"""Key identities: known answers, DER layouts, signing and verify_signature dispatch."""

from __future__ import annotations

import hashlib

import pytest

from icframework.core import Principal
from icframework.identity import (
    AnonymousIdentity,
    Ed25519Identity,
    IdentityError,
    KeyKind,
    P256Identity,
    Secp256k1Identity,
    unwrap_der,
    verify_signature,
    wrap_der,
)

# RFC 8032 section 7.1, TEST 1 (empty message).
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_ed25519_rfc8032_vector() -> None:
    identity = Ed25519Identity.from_seed(RFC8032_SEED)
    assert identity.raw_public_key == RFC8032_PUBLIC
    assert identity.sign(b"") == RFC8032_SIGNATURE
    assert identity.der_public_key == bytes.fromhex("302a300506032b6570032100") + RFC8032_PUBLIC
    assert len(identity.der_public_key) == 44
    assert identity.principal == Principal.self_authenticating(identity.der_public_key)
    assert identity.principal.is_self_authenticating
    assert verify_signature(identity.der_public_key, b"", RFC8032_SIGNATURE)
    assert identity.verify(b"", RFC8032_SIGNATURE)
    assert not identity.verify(b"x", RFC8032_SIGNATURE)


def test_ed25519_seed_must_be_32_bytes() -> None:
    with pytest.raises(IdentityError, match="an Ed25519 seed is 32 bytes"):
        Ed25519Identity.from_seed(b"short")


@pytest.mark.parametrize(("cls", "der_len"), [(Secp256k1Identity, 88), (P256Identity, 91)])
def test_ecdsa_identities(cls: type[Secp256k1Identity], der_len: int) -> None:
    identity = cls.generate()
    assert len(identity.der_public_key) == der_len
    signature = identity.sign(b"message")
    assert len(signature) == 64
    assert verify_signature(identity.der_public_key, b"message", signature)
    assert not verify_signature(identity.der_public_key, b"other", signature)
    again = cls.from_private_key_bytes(identity.private_key_bytes)
    assert again.der_public_key == identity.der_public_key


def test_secp256k1_signatures_are_low_s_and_high_s_still_verifies() -> None:
    identity = Secp256k1Identity.generate()
    for index in range(20):
        signature = identity.sign(bytes([index]))
        s = int.from_bytes(signature[32:], "big")
        assert s <= SECP256K1_ORDER // 2
        high = signature[:32] + (SECP256K1_ORDER - s).to_bytes(32, "big")
        assert verify_signature(identity.der_public_key, bytes([index]), high)


def test_secp256k1_known_key() -> None:
    identity = Secp256k1Identity.from_private_key_bytes((1).to_bytes(32, "big"))
    # 1·G: the generator's uncompressed encoding.
    assert identity.der_public_key.hex().endswith(
        "0479be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8"
    )


def test_ecdsa_signature_is_over_sha256() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    identity = Secp256k1Identity.generate()
    signature = identity.sign(b"abc")
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256K1(), identity.der_public_key[23:]
    )
    public.verify(
        utils.encode_dss_signature(r, s),
        hashlib.sha256(b"abc").digest(),
        ec.ECDSA(utils.Prehashed(hashes.SHA256())),
    )


def test_verify_signature_rejects_wrong_lengths_and_keys() -> None:
    identity = Ed25519Identity.generate()
    assert not verify_signature(identity.der_public_key, b"m", b"\x00" * 63)
    assert not verify_signature(Secp256k1Identity.generate().der_public_key, b"m", b"\x00" * 64)
    with pytest.raises(IdentityError, match="unsupported DER public key"):
        verify_signature(b"\x30\x00", b"m", b"")
    with pytest.raises(IdentityError, match="DER ed25519 public key is 45 bytes; expected 44"):
        verify_signature(identity.der_public_key + b"\x00", b"m", b"")
    bad_point = wrap_der(KeyKind.SECP256K1, b"\x04" + b"\x01" * 64)
    with pytest.raises(IdentityError, match="is not a curve point"):
        verify_signature(bad_point, b"m", b"\x01" * 64)


def test_der_wrap_unwrap() -> None:
    raw = bytes(range(32))
    assert unwrap_der(wrap_der(KeyKind.ED25519, raw)) == (KeyKind.ED25519, raw)
    with pytest.raises(IdentityError, match="a raw ed25519 public key is 32 bytes, got 3"):
        wrap_der(KeyKind.ED25519, b"abc")


def test_anonymous_identity() -> None:
    identity = AnonymousIdentity()
    assert identity.principal == Principal.anonymous()
    assert identity.der_public_key is None
    assert identity.sender_delegation is None
    with pytest.raises(IdentityError, match="the anonymous identity cannot sign"):
        identity.sign(b"x")


def test_repr_shows_principal_not_secrets() -> None:
    identity = Ed25519Identity.from_seed(RFC8032_SEED)
    assert repr(identity) == f"Ed25519Identity({identity.principal.to_text()!r})"
    assert RFC8032_SEED.hex() not in repr(identity)
