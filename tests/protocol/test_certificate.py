"""Certificates: BLS min-sig signing and verification, subnet delegations, freshness."""

from __future__ import annotations

import hashlib

import pytest

from icframework.core import Principal, encode_uleb128
from icframework.protocol import (
    STATE_ROOT_DOMAIN,
    BlsKeyPair,
    CertificateError,
    Labeled,
    Leaf,
    bls_verify,
    build_tree,
    decode_canister_ranges,
    encode_canister_ranges,
    make_subnet_delegation,
    parse_certificate,
    reconstruct,
    sign_certificate,
    verify_certificate,
)
from icframework.protocol.certificate import Certificate

NOW = 1_700_000_000 * 10**9
MINUTE = 60 * 10**9
ROOT = BlsKeyPair.from_secret(0x1234_5678_9ABC_DEF0)
SUBNET_KEY = BlsKeyPair.from_secret(0x0FED_CBA9_8765_4321)
SUBNET_ID = Principal.self_authenticating(SUBNET_KEY.public_key_der)
CANISTER = Principal.from_canister_index(5)
RANGES = [(Principal.from_canister_index(0), Principal.from_canister_index(9))]


def state(time_ns: int = NOW) -> dict[str, object]:
    return {"canister": {CANISTER.raw: {"certified_data": b"\x11" * 32}}, "time": time_ns}


def test_keys_and_der() -> None:
    assert len(ROOT.public_key) == 96
    assert len(ROOT.public_key_der) == 133
    assert ROOT.public_key_der.hex().startswith(
        "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"
    )
    assert BlsKeyPair.from_secret(ROOT.secret.to_bytes(32, "big")).public_key == ROOT.public_key
    assert len(BlsKeyPair.generate().sign(b"m")) == 48
    with pytest.raises(ValueError, match=r"a BLS secret key is an integer in 1..r-1"):
        BlsKeyPair(0)


def test_bls_signatures_match_py_ecc() -> None:
    """py_ecc (independent pure-Python BLS) computes byte-identical keys and signatures."""
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.bls.point_compression import compress_G1, compress_G2
    from py_ecc.optimized_bls12_381 import G2, multiply

    message = STATE_ROOT_DOMAIN + hashlib.sha256(b"root").digest()
    z1, z2 = compress_G2(multiply(G2, ROOT.secret))
    assert ROOT.public_key == z1.to_bytes(48, "big") + z2.to_bytes(48, "big")
    point = multiply(
        hash_to_G1(message, b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_", hashlib.sha256),
        ROOT.secret,
    )
    assert ROOT.sign(message) == compress_G1(point).to_bytes(48, "big")


def test_py_ecc_verifies_our_signature() -> None:
    """One pairing check in py_ecc (about 0.4 s): the G2Basic-style min-sig verify."""
    from py_ecc.bls.hash_to_curve import hash_to_G1
    from py_ecc.bls.point_compression import decompress_G1, decompress_G2
    from py_ecc.optimized_bls12_381 import FQ12, G2, final_exponentiate, neg, pairing

    message = b"\x0dic-state-root" + b"\x00" * 32
    signature = ROOT.sign(message)
    sig_point = decompress_G1(int.from_bytes(signature, "big"))
    pk = ROOT.public_key
    key_point = decompress_G2((int.from_bytes(pk[:48], "big"), int.from_bytes(pk[48:], "big")))
    hashed = hash_to_G1(message, b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_", hashlib.sha256)
    product = pairing(G2, sig_point, final_exponentiate=False) * pairing(
        key_point, neg(hashed), final_exponentiate=False
    )
    assert final_exponentiate(product) == FQ12.one()


def test_bls_verify_rejects() -> None:
    message = b"msg"
    signature = ROOT.sign(message)
    assert bls_verify(ROOT.public_key, signature, message)
    assert not bls_verify(ROOT.public_key, signature, b"other")
    assert not bls_verify(SUBNET_KEY.public_key, signature, message)
    assert not bls_verify(ROOT.public_key, signature[:47], message)
    assert not bls_verify(ROOT.public_key, b"\xc0" + b"\x00" * 47, message)  # identity point
    assert not bls_verify(ROOT.public_key, b"\x00" * 48, message)  # not an encoding


def test_sign_and_verify_root_certificate() -> None:
    data = sign_certificate(build_tree(state()), ROOT)
    cert = verify_certificate(data, ROOT.public_key_der, now_ns=NOW)
    assert cert.time_ns == NOW
    assert cert.lookup(["canister", CANISTER.raw, "certified_data"]).value == b"\x11" * 32
    assert parse_certificate(data) == cert
    assert cert.delegation is None
    assert verify_certificate(data, ROOT.public_key_der).time_ns == NOW


def test_verification_failures_are_named() -> None:
    data = sign_certificate(build_tree(state()), ROOT)
    with pytest.raises(CertificateError, match="certificate signature is invalid"):
        verify_certificate(data, SUBNET_KEY.public_key_der)
    cert = parse_certificate(data)
    tampered = Certificate(build_tree({**state(), "extra": b"x"}), cert.signature).to_cbor()
    with pytest.raises(CertificateError, match=r"signature is invalid.*the tree was altered"):
        verify_certificate(tampered, ROOT.public_key_der)
    with pytest.raises(
        CertificateError, match=r"certificate is stale: /time is 2023-11-14 22:13:20"
    ):
        verify_certificate(data, ROOT.public_key_der, now_ns=NOW + 6 * MINUTE)
    with pytest.raises(CertificateError, match="certificate is from the future"):
        verify_certificate(data, ROOT.public_key_der, now_ns=NOW - 6 * MINUTE)
    no_time = sign_certificate(Labeled(b"x", Leaf(b"")), ROOT)
    with pytest.raises(CertificateError, match="certificate does not contain /time"):
        verify_certificate(no_time, ROOT.public_key_der)
    with pytest.raises(CertificateError, match="certificate key is not a BLS key"):
        verify_certificate(data, bytes.fromhex("302a300506032b6570032100") + bytes(32))
    with pytest.raises(CertificateError, match="certificate is not valid CBOR"):
        parse_certificate(b"\xff")
    with pytest.raises(CertificateError, match="certificate needs both 'tree' and 'signature'"):
        parse_certificate(b"\xa0")


def test_subnet_delegation() -> None:
    delegation = make_subnet_delegation(ROOT, SUBNET_ID, SUBNET_KEY.public_key_der, RANGES, NOW)
    data = sign_certificate(build_tree(state()), SUBNET_KEY, delegation)
    cert = verify_certificate(data, ROOT.public_key_der, canister_id=CANISTER, now_ns=NOW)
    assert cert.delegation == delegation
    outside = Principal.from_canister_index(10)
    with pytest.raises(CertificateError) as info:
        verify_certificate(data, ROOT.public_key_der, canister_id=outside, now_ns=NOW)
    assert str(info.value) == (
        f"subnet {SUBNET_ID} is not authorised to certify canister {outside}: "
        "it lies outside the subnet's canister ranges"
    )
    with pytest.raises(
        CertificateError, match=r"^certificate delegation is invalid: certificate signature"
    ):
        verify_certificate(data, SUBNET_KEY.public_key_der, canister_id=CANISTER)
    # The delegation may be up to 30 days old; the certificate itself only 5 minutes.
    verify_certificate(
        sign_certificate(build_tree(state(NOW + 29 * 24 * 60 * MINUTE)), SUBNET_KEY, delegation),
        ROOT.public_key_der,
        now_ns=NOW + 29 * 24 * 60 * MINUTE,
    )
    nested = make_subnet_delegation(ROOT, SUBNET_ID, SUBNET_KEY.public_key_der, RANGES, NOW)
    inner = sign_certificate(build_tree(state()), SUBNET_KEY, nested)
    from icframework.protocol import CertificateDelegation

    double = sign_certificate(
        build_tree(state()), SUBNET_KEY, CertificateDelegation(SUBNET_ID, inner)
    )
    with pytest.raises(CertificateError, match="must not itself contain a delegation"):
        verify_certificate(double, ROOT.public_key_der)


def test_canister_ranges_codec() -> None:
    encoded = encode_canister_ranges(RANGES)
    assert encoded.startswith(b"\xd9\xd9\xf7")
    assert decode_canister_ranges(encoded) == tuple(RANGES)
    with pytest.raises(CertificateError, match="canister_ranges is not a CBOR array"):
        decode_canister_ranges(b"\x81\x01")


def test_leb128_time_leaf() -> None:
    tree = build_tree(state())
    data = sign_certificate(tree, ROOT)
    assert parse_certificate(data).lookup(["time"]).value == encode_uleb128(NOW)
    assert len(reconstruct(tree)) == 32
