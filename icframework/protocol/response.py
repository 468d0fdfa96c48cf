"""Node signatures on query responses (``signatures`` in a v2/v3 query reply).

A node signs ``\\x0Bic-response ‖ hash_of_map(M)`` with its Ed25519 key, where M is the
response's ``status`` with ``reply`` (replied) or ``reject_code``, ``reject_message``
and optional ``error_code`` (rejected), plus ``timestamp`` (ns) and ``request_id``.
agent-js checks these by default, so the replica must send them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from icframework.core import Principal
from icframework.identity import Identity, IdentityError, verify_signature
from icframework.protocol.errors import ProtocolError
from icframework.protocol.request_id import RESPONSE_DOMAIN, hash_of_map

_SIGNED_FIELDS = ("status", "reply", "reject_code", "reject_message", "error_code")


@dataclass(frozen=True, slots=True)
class NodeSignature:
    """One entry of a query response's ``signatures`` array."""

    timestamp: int
    signature: bytes
    identity: Principal

    def to_map(self) -> dict[str, object]:
        """The CBOR form ``{timestamp, signature, identity}``."""
        return {
            "timestamp": self.timestamp,
            "signature": self.signature,
            "identity": self.identity.raw,
        }


def query_response_signing_payload(
    response: Mapping[str, object], request_id: bytes, timestamp_ns: int
) -> bytes:
    """The bytes a node signs for ``response`` (a replied or rejected query reply map).

    Raises `ProtocolError` if ``response`` has no ``status``.
    """
    if "status" not in response:
        raise ProtocolError("a query response needs a 'status' field to be signed")
    signed: dict[str, object] = {
        key: response[key] for key in _SIGNED_FIELDS if response.get(key) is not None
    }
    signed["timestamp"] = timestamp_ns
    signed["request_id"] = request_id
    return RESPONSE_DOMAIN + hash_of_map(signed)


def sign_query_response(
    response: Mapping[str, object], request_id: bytes, node: Identity, timestamp_ns: int
) -> NodeSignature:
    """Sign a query response as ``node`` (an Ed25519 node identity) at ``timestamp_ns``."""
    payload = query_response_signing_payload(response, request_id, timestamp_ns)
    return NodeSignature(timestamp_ns, node.sign(payload), node.principal)


def verify_query_response(
    response: Mapping[str, object],
    request_id: bytes,
    signature: NodeSignature,
    node_public_key_der: bytes,
) -> bool:
    """Whether ``signature`` is the node's valid signature of ``response``."""
    payload = query_response_signing_payload(response, request_id, signature.timestamp)
    try:
        return verify_signature(node_public_key_der, payload, signature.signature)
    except IdentityError:
        return False
