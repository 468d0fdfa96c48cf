"""dfx identity.pem files: Ed25519 PKCS#8 v1 and v2, secp256k1 SEC1, and the failures."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.identity import (
    Ed25519Identity,
    IdentityError,
    P256Identity,
    Secp256k1Identity,
    load_pem,
)
from tests.identity.test_keys import RFC8032_PUBLIC, RFC8032_SEED


def _pem(label: str, der: bytes) -> str:
    return f"-----BEGIN {label}-----\n{base64.b64encode(der).decode()}\n-----END {label}-----\n"


def test_ed25519_pkcs8_v1_known_bytes() -> None:
    identity = Ed25519Identity.from_seed(RFC8032_SEED)
    der = bytes.fromhex("302e020100300506032b657004220420") + RFC8032_SEED
    assert identity.to_pem() == _pem("PRIVATE KEY", der)
    loaded = load_pem(identity.to_pem())
    assert isinstance(loaded, Ed25519Identity)
    assert loaded.seed == RFC8032_SEED


def test_ed25519_pkcs8_v2_as_old_dfx_wrote_it() -> None:
    der = (
        bytes.fromhex("3053020101300506032b657004220420")
        + RFC8032_SEED
        + bytes.fromhex("a123032100")
        + RFC8032_PUBLIC
    )
    loaded = load_pem(_pem("PRIVATE KEY", der).encode())
    assert isinstance(loaded, Ed25519Identity)
    assert loaded.raw_public_key == RFC8032_PUBLIC


def test_ed25519_pkcs8_v2_with_foreign_public_key_is_refused() -> None:
    der = (
        bytes.fromhex("3053020101300506032b657004220420")
        + RFC8032_SEED
        + bytes.fromhex("a123032100")
        + bytes(32)
    )
    with pytest.raises(IdentityError, match="embedded public key does not belong"):
        load_pem(_pem("PRIVATE KEY", der))


def test_secp256k1_sec1_as_dfx_writes_it() -> None:
    identity = Secp256k1Identity.generate()
    text = identity.to_pem()
    assert text.startswith("-----BEGIN EC PRIVATE KEY-----\n")
    loaded = load_pem(text)
    assert isinstance(loaded, Secp256k1Identity)
    assert loaded.principal == identity.principal
    # openssl ecparam -genkey style: a parameters block first.
    with_params = (
        "-----BEGIN EC PARAMETERS-----\nBgUrgQQACg==\n-----END EC PARAMETERS-----\n" + text
    )
    assert load_pem(with_params).principal == identity.principal


def test_pkcs8_ec_keys_and_p256() -> None:
    from cryptography.hazmat.primitives import serialization

    for cls in (Secp256k1Identity, P256Identity):
        identity = cls.generate()
        pkcs8 = identity._private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        loaded = load_pem(pkcs8)
        assert type(loaded) is cls
        assert loaded.principal == identity.principal


def test_pem_errors_name_the_problem() -> None:
    with pytest.raises(IdentityError, match=r"no 'BEGIN PRIVATE KEY'.*\(found: PUBLIC KEY\)"):
        load_pem(_pem("PUBLIC KEY", b"\x30\x00"))
    with pytest.raises(IdentityError, match="the PEM file is encrypted"):
        load_pem(_pem("ENCRYPTED PRIVATE KEY", b"\x30\x00"))
    with pytest.raises(IdentityError, match="not valid base64"):
        load_pem("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n")
    with pytest.raises(IdentityError, match="cannot parse the 'EC PRIVATE KEY' PEM block"):
        load_pem(_pem("EC PRIVATE KEY", b"\x30\x03\x02\x01\x01"))


def test_unsupported_curve_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    with pytest.raises(IdentityError, match="curve secp384r1 is not supported"):
        load_pem(text)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_ed25519_pem_round_trip(seed: bytes) -> None:
    identity = Ed25519Identity.from_seed(seed)
    loaded = load_pem(identity.to_pem())
    assert isinstance(loaded, Ed25519Identity)
    assert loaded.seed == seed
