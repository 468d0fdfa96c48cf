"""Representation-independent hashing: spec vectors, LEB128 examples, agent-js agreement."""

from __future__ import annotations

import hashlib

import pytest

from icframework.core import Principal, encode_sleb128, encode_uleb128
from icframework.protocol import (
    DELEGATION_DOMAIN,
    REQUEST_DOMAIN,
    RESPONSE_DOMAIN,
    STATE_ROOT_DOMAIN,
    ProtocolError,
    hash_of_map,
    hash_value,
    request_id,
)
from tests.node import requires_node, run_node

SPEC_CONTENT = {
    "request_type": "call",
    "sender": b"\x04",
    "ingress_expiry": 1685570400000000000,
    "canister_id": bytes.fromhex("00000000000004D2"),
    "method_name": "hello",
    "arg": b"DIDL\x00\xfd*",
}


def test_spec_request_id_example() -> None:
    assert (
        request_id(SPEC_CONTENT).hex()
        == "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"
    )


def test_spec_leb128_examples() -> None:
    assert encode_uleb128(0) == b"\x00"
    assert encode_uleb128(624485) == bytes.fromhex("e58e26")
    assert encode_sleb128(-123456) == bytes.fromhex("c0bb78")
    assert hash_value(624485) == hashlib.sha256(bytes.fromhex("e58e26")).digest()
    assert hash_value(-123456) == hashlib.sha256(bytes.fromhex("c0bb78")).digest()


def test_domain_separators() -> None:
    assert REQUEST_DOMAIN == b"\x0aic-request"
    assert RESPONSE_DOMAIN == b"\x0bic-response"
    assert DELEGATION_DOMAIN == b"\x1aic-request-auth-delegation"
    assert STATE_ROOT_DOMAIN == b"\x0dic-state-root"


def test_value_kinds() -> None:
    sha = lambda b: hashlib.sha256(b).digest()  # noqa: E731
    assert hash_value("abc") == sha(b"abc")
    assert hash_value(b"abc") == hash_value(bytearray(b"abc")) == hash_value(memoryview(b"abc"))
    assert hash_value(Principal.anonymous()) == sha(b"\x04")
    assert hash_value([b"a", "b"]) == sha(sha(b"a") + sha(b"b"))
    assert hash_value((b"a", "b")) == hash_value([b"a", "b"])
    assert hash_value({"x": 1}) == hash_of_map({"x": 1})
    # None-valued fields count as absent, like agent-js's undefined.
    assert hash_of_map({"x": 1, "y": None}) == hash_of_map({"x": 1})


def test_unhashable_values_are_named() -> None:
    with pytest.raises(ProtocolError, match="booleans have no representation-independent hash"):
        hash_value(True)
    with pytest.raises(ProtocolError, match=r"cannot hash a value of type float: 1.5"):
        hash_value(1.5)
    with pytest.raises(ProtocolError, match="map keys must be text"):
        hash_of_map({1: b"x"})  # type: ignore[dict-item]


def to_typed(value: object) -> object:
    """Python value -> the typed JSON that tests/js/protocol_common.mjs decodes."""
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, int):
        return {"n": str(value)}
    if isinstance(value, list):
        return [to_typed(v) for v in value]
    if isinstance(value, dict):
        return {"m": {k: to_typed(v) for k, v in value.items()}}
    assert isinstance(value, str)
    return value


CONTENTS: list[dict[str, object]] = [
    SPEC_CONTENT,
    {
        "request_type": "query",
        "sender": bytes(range(29)),
        "ingress_expiry": 2**64 - 1,
        "canister_id": b"",
        "method_name": "µ-unicode ✓",
        "arg": b"",
        "nonce": b"\x00" * 32,
    },
    {
        "request_type": "read_state",
        "sender": b"\x04",
        "ingress_expiry": 0,
        "paths": [[b"request_status", b"\x07" * 32], [b"time"], [], [b"canister", b"\x01", b""]],
    },
    {
        "big": 2**200 + 17,
        "zero": 0,
        "nested": {"reply": {"arg": b"DIDL"}, "list": [1, [2, [b"3"]]]},
    },
    {"empty_map": {}, "empty_list": [], "": "empty key", "text": ""},
]


@requires_node
def test_request_ids_agree_with_agent_js() -> None:
    out = run_node("protocol_request_id.mjs", {"contents": [to_typed(c) for c in CONTENTS]})
    assert out["ids"] == [request_id(c).hex() for c in CONTENTS]
