"""Principal text/bytes encoding, classes and error messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.core import Principal, PrincipalError

# (bytes hex, text) pairs from the interface spec and the research notes.
KNOWN = [
    ("", "aaaaa-aa"),
    ("04", "2vxsx-fae"),
    ("abcd01", "em77e-bvlzu-aq"),
    ("00000000000000010101", "rrkah-fqaaa-aaaaa-aaaaq-cai"),
    ("00000000000000020101", "ryjl3-tyaaa-aaaaa-aaaba-cai"),
    ("80000000001000010101", "bkyz2-fmaaa-aaaaa-qaaaq-cai"),
    ("ffffffffffe000000101", "lxzze-o7777-77777-aaaaa-cai"),
]


@pytest.mark.parametrize(("raw", "text"), KNOWN)
def test_known_answers(raw: str, text: str) -> None:
    principal = Principal.from_hex(raw)
    assert principal.to_text() == text
    assert Principal.from_text(text) == principal
    assert Principal.from_text(text.upper()) == principal


def test_classes() -> None:
    assert Principal.anonymous().is_anonymous
    assert Principal.management_canister().is_management_canister
    assert Principal.from_canister_index(1).to_text() == "rrkah-fqaaa-aaaaa-aaaaq-cai"
    assert Principal.from_canister_index(2).canister_index() == 2
    der = bytes.fromhex("302a300506032b6570032100") + bytes(32)
    user = Principal.self_authenticating(der)
    assert user.is_self_authenticating and len(user.raw) == 29
    with pytest.raises(PrincipalError, match="not a canister id"):
        user.canister_index()


def test_mainnet_nns_subnet_is_self_authenticating_over_the_root_key() -> None:
    root_key = bytes.fromhex(
        "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"
        "814c0e6ec71fab583b08bd81373c255c3c371b2e84863c98a4f1e08b74235d14fb5d9c0cd546d9685"
        "f913a0c0b2cc5341583bf4b4392e467db96d65b9bb4cb717112f8472e0d5a4d14505ffd7484b0129"
        "1091c5f87b98883463f98091a0baaae"
    )
    assert Principal.self_authenticating(root_key).to_text() == (
        "tdb26-jop6k-aogll-7ltgs-eruif-6kk7m-qpktf-gdiqx-mxtrf-vb5e6-eqe"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("aaaaa--aa", "empty group"),
        ("aaaa-aa", "exactly 5"),
        ("aaaaa-a1", "not in the base32 alphabet"),
        ("aaaab-aa", "wrong checksum"),
        ("2vxsx-fae-aaaaa", "group .fae. has 3 characters"),
        ("aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaaaa-aaa", "decodes to"),
    ],
)
def test_invalid_text_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(PrincipalError, match=message) as info:
        Principal.from_text(text)
    assert repr(text) in str(info.value) or text == ""


def test_too_long() -> None:
    with pytest.raises(PrincipalError, match="30 bytes long"):
        Principal(bytes(30))


@given(st.binary(max_size=29))
def test_round_trip(raw: bytes) -> None:
    principal = Principal(raw)
    assert Principal.from_text(principal.to_text()) == principal


def test_ordering_is_bytewise_with_shorter_prefix_first() -> None:
    assert Principal(b"\x01") < Principal(b"\x01\x00") < Principal(b"\x02")
