"""Node signatures on query responses."""

from __future__ import annotations

import hashlib

from icframework.core import encode_uleb128
from icframework.identity import Ed25519Identity
from icframework.protocol import (
    NodeSignature,
    query_response_signing_payload,
    sign_query_response,
    verify_query_response,
)

NODE = Ed25519Identity.from_seed(b"\x05" * 32)
REQUEST_ID = b"\x09" * 32


def test_payload_is_the_hash_of_the_signed_fields() -> None:
    sha = lambda b: hashlib.sha256(b).digest()  # noqa: E731
    response = {"status": "replied", "reply": {"arg": b"DIDL\x00\x00"}, "signatures": []}
    payload = query_response_signing_payload(response, REQUEST_ID, 7)
    reply_hash = sha(sha(b"arg") + sha(b"DIDL\x00\x00"))
    fields = sorted(
        [
            sha(b"status") + sha(b"replied"),
            sha(b"reply") + reply_hash,
            sha(b"timestamp") + sha(encode_uleb128(7)),
            sha(b"request_id") + sha(REQUEST_ID),
        ]
    )
    assert payload == b"\x0bic-response" + sha(b"".join(fields))


def test_sign_and_verify_replied_and_rejected() -> None:
    replied = {"status": "replied", "reply": {"arg": b"DIDL\x00\x00"}}
    rejected = {
        "status": "rejected",
        "reject_code": 4,
        "reject_message": "no",
        "error_code": "IC0406",
    }
    for response in (replied, rejected):
        signature = sign_query_response(response, REQUEST_ID, NODE, 1_700_000_000 * 10**9)
        assert signature.identity == NODE.principal
        assert set(signature.to_map()) == {"timestamp", "signature", "identity"}
        assert verify_query_response(response, REQUEST_ID, signature, NODE.der_public_key)
        assert not verify_query_response(response, b"\x00" * 32, signature, NODE.der_public_key)
        later = NodeSignature(signature.timestamp + 1, signature.signature, signature.identity)
        assert not verify_query_response(response, REQUEST_ID, later, NODE.der_public_key)
    assert not verify_query_response(replied, REQUEST_ID, signature, b"junk")
