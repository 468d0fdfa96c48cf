"""An in-process fake of the IC HTTP interface, built from `icframework.protocol`, for httpx.

It serves ``/api/v2/status``, v2/v3 ``call``, ``query`` (node-signed) and ``read_state``
through an ``httpx.MockTransport``, so agent behaviour (fallbacks, polling, signature
and certificate checks) can be tested without a replica process. Switches on the
instance simulate misbehaving replicas.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from icframework.candid import NAT64, TEXT, decode, encode
from icframework.core import Principal, encode_uleb128
from icframework.identity import Ed25519Identity
from icframework.protocol import (
    BlsKeyPair,
    CallContent,
    QueryContent,
    ReadStateContent,
    build_tree,
    decode_request,
    encode_canister_ranges,
    sign_certificate,
    sign_query_response,
)
from icframework.protocol._cbor import dumps_tagged

COUNTER_ID = Principal.from_canister_index(1)
COUNTER_DID = """
service : {
  inc : () -> (nat64);
  get : () -> (nat64) query;
  add : (nat64, text) -> (nat64, text);
  refuse : () -> ();
  ping : () -> () oneway;
}
"""


class Reject(Exception):
    def __init__(self, code: int, message: str, error_code: str = "IC0406") -> None:
        super().__init__(message)
        self.code, self.message, self.error_code = code, message, error_code


@dataclass
class FakeReplica:
    """State and switches of the fake. ``requests`` records (method, path) of every request."""

    root: BlsKeyPair = field(default_factory=BlsKeyPair.generate)
    node: Ed25519Identity = field(default_factory=Ed25519Identity.generate)
    counter: int = 0
    statuses: dict[bytes, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    v3: bool = True  # False: /api/v3 answers 404
    v3_pending: bool = False  # True: v3 answers 202 and the call finishes after one poll
    sign_queries: bool = True
    tamper_query_signature: bool = False
    time_offset_ns: int = 0  # certified /time = now + offset
    metadata: dict[str, bytes] = field(default_factory=dict)
    polls: int = 0

    @property
    def subnet_id(self) -> Principal:
        return Principal.self_authenticating(self.root.public_key_der)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    # -- canister

    def execute(self, method: str, arg: bytes) -> bytes:
        if method == "inc":
            self.counter += 1
            return encode([NAT64], [self.counter])
        if method == "get":
            return encode([NAT64], [self.counter])
        if method == "add":
            number, text = decode(arg, [NAT64, TEXT])
            return encode([NAT64, TEXT], [number + 1, text + "!"])
        if method == "refuse":
            raise Reject(4, "no thanks")
        if method == "ping":
            self.counter += 100
            return encode([], [])
        raise Reject(3, f"Canister has no method '{method}'", "IC0536")

    # -- HTTP

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.requests.append((request.method, path))
        if path == "/api/v2/status":
            return _cbor({"root_key": self.root.public_key_der, "replica_health_status": "healthy"})
        parts = path.strip("/").split("/")
        if len(parts) != 5 or parts[0] != "api":
            return httpx.Response(404, text="not found")
        _, version, _kind, target, endpoint = parts
        if version == "v3" and not self.v3:
            return httpx.Response(404, text="no v3 here")
        now = time.time_ns()
        try:
            envelope = decode_request(
                request.content, now_ns=now, effective_canister_id=Principal.from_text(target)
            )
        except ValueError as exc:
            return httpx.Response(400, text=str(exc))
        content = envelope.content
        if endpoint == "call" and isinstance(content, CallContent):
            return self._call(content, envelope.request_id, version)
        if endpoint == "query" and isinstance(content, QueryContent):
            return self._query(content, envelope.request_id)
        if endpoint == "read_state" and isinstance(content, ReadStateContent):
            return self._read_state(content, Principal.from_text(target))
        return httpx.Response(400, text=f"bad {endpoint} request")

    def _run(self, content: CallContent | QueryContent) -> dict[str, Any]:
        try:
            return {"status": "replied", "reply": self.execute(content.method_name, content.arg)}
        except Reject as reject:
            return {
                "status": "rejected",
                "reject_code": reject.code,
                "reject_message": reject.message,
                "error_code": reject.error_code,
            }

    def _call(self, content: CallContent, request_id: bytes, version: str) -> httpx.Response:
        if content.method_name == "blocked":
            return _cbor(
                {
                    "status": "non_replicated_rejection",
                    "reject_code": 5,
                    "reject_message": "inspect_message refused",
                    "error_code": "IC0516",
                }
            )
        if version == "v2" or self.v3_pending:
            self.statuses[request_id] = {"status": "processing", "pending": content}
            return httpx.Response(202)
        self.statuses[request_id] = self._run(content)
        tree = build_tree(
            {
                "request_status": {request_id: _status_tree(self.statuses[request_id])},
                "time": encode_uleb128(time.time_ns() + self.time_offset_ns),
            }
        )
        return _cbor({"status": "replied", "certificate": sign_certificate(tree, self.root)})

    def _query(self, content: QueryContent, request_id: bytes) -> httpx.Response:
        outcome = self._run(content)
        if outcome["status"] == "replied":
            response: dict[str, Any] = {"status": "replied", "reply": {"arg": outcome["reply"]}}
        else:
            response = dict(outcome)
        if self.sign_queries:
            signature = sign_query_response(response, request_id, self.node, time.time_ns())
            raw = signature.to_map()
            if self.tamper_query_signature:
                raw["signature"] = bytes(64)
            response["signatures"] = [raw]
        return _cbor(response)

    def _read_state(self, content: ReadStateContent, target: Principal) -> httpx.Response:
        entries: dict[Any, Any] = {"time": encode_uleb128(time.time_ns() + self.time_offset_ns)}
        for path in content.paths:
            head = path[0]
            if head == b"time":
                continue
            if head == b"request_status":
                request_id = path[1]
                self.polls += 1
                status = self.statuses.get(request_id)
                if status is not None and "pending" in status:
                    status = self.statuses[request_id] = self._run(status["pending"])
                if status is not None:
                    entries["request_status"] = {request_id: _status_tree(status)}
            elif head == b"subnet":
                entries["subnet"] = {
                    self.subnet_id.raw: {
                        "canister_ranges": encode_canister_ranges(
                            [(COUNTER_ID, Principal.from_canister_index(100))]
                        ),
                        "node": {self.node.principal.raw: {"public_key": self.node.der_public_key}},
                        "public_key": self.root.public_key_der,
                    }
                }
            elif head == b"canister" and path[2] == b"metadata":
                name = path[3].decode()
                if name in self.metadata:
                    entries["canister"] = {target.raw: {"metadata": {name: self.metadata[name]}}}
            else:
                return httpx.Response(404, text=f"path {path!r} not allowed")
        return _cbor({"certificate": sign_certificate(build_tree(entries), self.root)})


def _status_tree(status: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in status.items() if key != "pending"}


def _cbor(value: object) -> httpx.Response:
    headers = {"content-type": "application/cbor"}
    return httpx.Response(200, content=dumps_tagged(value), headers=headers)
