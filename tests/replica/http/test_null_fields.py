"""Anonymous requests as the Python agent ic-py builds them, over the HTTP interface.

ic-py's ``sign_request`` writes an untagged CBOR map with ``sender_pubkey: null`` and
``sender_sig: null`` for the anonymous identity; the IC reads a null optional field as
absent, and so must we: query, v2 call, read_state polling and v3 call all answer.
A null where a value is required stays a 400 that names the field.
"""

from __future__ import annotations

import time
from typing import Any

import cbor2

from icframework.core import Principal
from icframework.protocol import lookup_value, request_id, verify_certificate
from icframework.replica import ReplicaService
from tests.replica.http.conftest import EMPTY, Answer, ApiClient, cbor_body, post

ANONYMOUS = Principal.anonymous().raw


def ic_py_expiry() -> int:
    """ic-py's ``get_expiry_date``: whole seconds, 300 s ahead, in nanoseconds."""
    return int(time.time() + 300) * 10**9


def ic_py_post(client: ApiClient, url: str, content: dict[str, Any]) -> Answer:
    envelope = {"content": content, "sender_pubkey": None, "sender_sig": None}
    return post(client, url, cbor2.dumps(envelope))


def method_content(request_type: str, canister: Principal, method: str,
                   arg: bytes = EMPTY) -> dict[str, Any]:
    return {
        "request_type": request_type,
        "sender": ANONYMOUS,
        "canister_id": canister.raw,
        "method_name": method,
        "arg": arg,
        "ingress_expiry": ic_py_expiry(),
    }


def root_key(client: ApiClient) -> bytes:
    key: bytes = cbor_body(client.get("/api/v2/status"))["root_key"]
    return key


def test_anonymous_query(service: ReplicaService, client: ApiClient, canister: Principal) -> None:
    response = ic_py_post(client, f"/api/v2/canister/{canister}/query",
                          method_content("query", canister, "certificate"))
    assert response.status_code == 200, response.content[:300]
    body = cbor_body(response)
    assert body["status"] == "replied"
    # The reply is the canister's data certificate: a certificate of this replica.
    verify_certificate(body["reply"]["arg"], root_key(client), now_ns=time.time_ns())


def test_anonymous_v2_call_then_read_state_polling(
    service: ReplicaService, client: ApiClient, canister: Principal
) -> None:
    content = method_content("call", canister, "certify", b"from ic-py")
    rid = request_id(content)
    response = ic_py_post(client, f"/api/v2/canister/{canister}/call", content)
    assert response.status_code == 202, response.content[:300]
    status = b""
    deadline = time.monotonic() + 10
    while status != b"replied":
        assert time.monotonic() < deadline, f"still {status!r} after 10 s"
        read = {
            "request_type": "read_state",
            "sender": ANONYMOUS,
            "paths": [[b"request_status", rid]],
            "ingress_expiry": ic_py_expiry(),
        }
        answer = ic_py_post(client, f"/api/v2/canister/{canister}/read_state", read)
        assert answer.status_code == 200, answer.content[:300]
        cert = verify_certificate(cbor_body(answer)["certificate"], root_key(client),
                                  now_ns=time.time_ns())
        status = lookup_value(["request_status", rid, "status"], cert.tree) or b""
        time.sleep(0.01)
    assert lookup_value(["request_status", rid, "reply"], cert.tree) == b""


def test_anonymous_v3_call(service: ReplicaService, client: ApiClient,
                           canister: Principal) -> None:
    content = method_content("call", canister, "certify", b"v3")
    response = ic_py_post(client, f"/api/v3/canister/{canister}/call", content)
    assert response.status_code == 200, response.content[:300]
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client),
                              now_ns=time.time_ns())
    assert lookup_value(["request_status", request_id(content), "status"], cert.tree) == (
        b"replied"
    )


def test_null_in_a_required_field_is_a_400(service: ReplicaService, client: ApiClient,
                                           canister: Principal) -> None:
    content = {**method_content("query", canister, "certificate"), "ingress_expiry": None}
    response = ic_py_post(client, f"/api/v2/canister/{canister}/query", content)
    assert response.status_code == 400
    assert response.content.decode() == (
        "request content field 'ingress_expiry' must be a nat (CBOR unsigned integer), got null"
    )
