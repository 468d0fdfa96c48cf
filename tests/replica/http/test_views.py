"""The IC HTTP interface through the project's ASGI application: status codes, bodies,
certificates."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import cbor2
import pytest

from icframework.candid.binary import encode
from icframework.core import Principal, decode_uleb128
from icframework.identity import Ed25519Identity, Identity
from icframework.protocol import (
    HashTree,
    Labeled,
    LookupStatus,
    NodeSignature,
    Pruned,
    QueryContent,
    decode_canister_ranges,
    lookup_path,
    lookup_value,
    sign_envelope,
    verify_certificate,
    verify_query_response,
)
from icframework.protocol.hashtree import flatten_forks, lookup_subtree
from icframework.replica import service as service_module
from icframework.replica.embedded import Replica
from icframework.replica.http import asgi
from icframework.replica.management import CANISTER_ID, PROVISIONAL_CREATE_ARGS
from icframework.replica.service import ReplicaService
from tests.replica.corpus import wat_wasm
from tests.replica.http.conftest import (
    EMPTY,
    MINUTE_NS,
    ApiClient,
    call_content,
    cbor_body,
    post,
    post_signed,
    query_content,
    read_state_content,
)

MANAGEMENT = Principal.management_canister()


def root_key(client: ApiClient) -> bytes:
    key: bytes = cbor_body(client.get("/api/v2/status"))["root_key"]
    return key


def wait_terminal(service: ReplicaService, request_id: bytes) -> None:
    deadline = time.monotonic() + 10
    while True:
        status = service.run(lambda r: r.subnet.ingress_status(request_id))
        if status is not None and status.state.terminal:
            return
        assert time.monotonic() < deadline
        time.sleep(0.01)


# -- status, CORS, methods --------------------------------------------------------------------


def test_status(service: ReplicaService, client: ApiClient) -> None:
    response = client.get("/api/v2/status")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    body = cbor_body(response)
    assert response.content[:3] == b"\xd9\xd9\xf7"
    assert body["root_key"] == service.replica.subnet.config.root_key
    assert len(body["root_key"]) == 133
    assert body["replica_health_status"] == "healthy"
    assert body["certified_height"] >= 1
    assert set(body) == {
        "root_key", "impl_version", "replica_health_status", "certified_height", "ic_api_version"
    }


def test_options_preflight_and_cors(service: ReplicaService, client: ApiClient) -> None:
    for url in ("/api/v2/status", "/api/v3/canister/aaaaa-aa/call",
                "/api/v2/canister/aaaaa-aa/read_state", "/api/v2/subnet/aaaaa-aa/read_state"):
        response = client.options(url)
        assert response.status_code == 204
        assert response["Access-Control-Allow-Origin"] == "*"
        assert "POST" in response["Access-Control-Allow-Methods"]
        assert "Content-Type" in response["Access-Control-Allow-Headers"]


def test_wrong_method(service: ReplicaService, client: ApiClient) -> None:
    response = client.get("/api/v2/canister/aaaaa-aa/call")
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert client.post("/api/v2/status").status_code == 405


def test_without_a_replica(client: ApiClient) -> None:
    response = client.get("/api/v2/status")
    assert response.status_code == 503
    assert "serves no replica" in response.content.decode()


def test_head_unknown_paths_and_what_django_never_sees(service: ReplicaService,
                                                       client: ApiClient) -> None:
    head = client.request("HEAD", "/api/v2/status")
    assert head.status_code == 200 and head.content == b""
    assert int(head["Content-Length"]) > 100 and head["Content-Type"] == "application/cbor"
    for path in ("/api/v9/nothing", "/api/v2/subnet/aaaaa-aa/call", "/api/v2/status/",
                 "/api/v2/canister/aaaaa-aa/query/extra"):
        missing = client.get(path)
        assert missing.status_code == 404, path
        assert missing.content == asgi.NOT_FOUND_TEXT.encode()
        assert missing["Access-Control-Allow-Origin"] == "*"
    # No Django middleware on the way: the gateway's canister hosts do not apply to /api/.
    hosted = client.get("/api/v2/status", HTTP_HOST=f"{MANAGEMENT}.localhost")
    assert hosted.status_code == 200 and hosted["Content-Type"] == "application/cbor"


def test_a_client_gone_mid_body_gets_no_answer(service: ReplicaService) -> None:
    sent: list[dict[str, Any]] = []

    async def scenario() -> None:
        messages = iter([{"type": "http.request", "body": b"\xd9", "more_body": True},
                         {"type": "http.disconnect"}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        async def never(*_args: Any) -> None:
            raise AssertionError("an /api/ request reached the wrapped application")

        scope = {"type": "http", "method": "POST", "path": "/api/v2/canister/aaaaa-aa/query",
                 "headers": [(b"content-type", b"application/cbor")]}
        await asgi.ApiApplication(never)(scope, receive, send)

    asyncio.run(scenario())
    assert sent == []


# -- body checks --------------------------------------------------------------------------------


def test_too_large_by_content_length(service: ReplicaService, client: ApiClient) -> None:
    response = post(client, "/api/v2/canister/aaaaa-aa/call", b"x",
                    CONTENT_LENGTH=str(3 * 1024 * 1024))
    assert response.status_code == 413
    assert response.content.decode().startswith("Request body is 3145728 bytes, larger than")


def test_too_large_body(service: ReplicaService, client: ApiClient) -> None:
    response = post(client, "/api/v3/canister/aaaaa-aa/call", b"\0" * (2 * 1024 * 1024 + 1))
    assert response.status_code == 413
    assert "2097153 bytes" in response.content.decode()


def test_content_type_must_be_cbor(service: ReplicaService, client: ApiClient) -> None:
    response = post(client, "/api/v2/canister/aaaaa-aa/query", b"{}",
                    content_type="application/json")
    assert response.status_code == 400
    assert response.content.decode() == (
        "Unexpected content-type 'application/json', expected application/cbor."
    )
    assert response["Content-Type"].startswith("text/plain")


def test_malformed_cbor(service: ReplicaService, client: ApiClient) -> None:
    response = post(client, "/api/v2/canister/aaaaa-aa/call", b"\xff\xfe")
    assert response.status_code == 400
    assert response.content.decode().startswith("request body is not valid CBOR")


def test_wrong_shape(service: ReplicaService, client: ApiClient) -> None:
    body = cbor2.dumps(cbor2.CBORTag(55799, {"content": {"request_type": "call"}}))
    response = post(client, "/api/v2/canister/aaaaa-aa/call", body)
    assert response.status_code == 400
    assert "missing required field" in response.content.decode()


def test_wrong_request_type_for_endpoint(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    response = post_signed(client, f"/api/v2/canister/{canister}/call",
                           query_content(owner, canister, "certificate"), owner)
    assert response.status_code == 400
    assert response.content.decode() == (
        "this endpoint takes 'call' requests, but request_type is 'query'"
    )


def test_invalid_effective_canister_id_in_url(service: ReplicaService, client: ApiClient,
                                              owner: Ed25519Identity) -> None:
    response = post_signed(client, "/api/v2/canister/not-a-principal/call",
                           call_content(owner, MANAGEMENT, "raw_rand"), owner)
    assert response.status_code == 400
    assert response.content.decode().startswith(
        "Invalid effective canister id 'not-a-principal' in the URL:"
    )


@pytest.mark.parametrize("offset", [-MINUTE_NS, 10 * MINUTE_NS])
def test_expiry_outside_window(service: ReplicaService, client: ApiClient, owner: Ed25519Identity,
                               canister: Principal, offset: int) -> None:
    content = call_content(owner, canister, "certify", ingress_expiry=time.time_ns() + offset)
    response = post_signed(client, f"/api/v2/canister/{canister}/call", content, owner)
    assert response.status_code == 400
    assert response.content.decode().startswith(
        "Invalid request expiry: Specified ingress_expiry not within expected range: "
    )


def test_bad_signature(service: ReplicaService, client: ApiClient, owner: Ed25519Identity,
                       canister: Principal) -> None:
    envelope = sign_envelope(call_content(owner, canister, "certify"), owner)
    forged = envelope.to_map()
    forged["sender_sig"] = bytes(64)
    response = post(client, f"/api/v2/canister/{canister}/call",
                    cbor2.dumps(cbor2.CBORTag(55799, forged)))
    assert response.status_code == 400
    assert response.content.decode().startswith("Invalid signature: sender_sig does not verify")


def test_sender_does_not_match_public_key(service: ReplicaService, client: ApiClient,
                                          owner: Ed25519Identity, canister: Principal) -> None:
    other = Ed25519Identity.generate()
    envelope = sign_envelope(call_content(owner, canister, "certify"), owner)
    forged = envelope.to_map()
    forged["sender_pubkey"] = other.der_public_key
    response = post(client, f"/api/v2/canister/{canister}/call",
                    cbor2.dumps(cbor2.CBORTag(55799, forged)))
    assert response.status_code == 400
    assert f"sender {owner.principal} does not match sender_pubkey" in response.content.decode()


# -- effective canister ids ---------------------------------------------------------------------


def test_call_canister_id_must_match_ecid(service: ReplicaService, client: ApiClient,
                                          owner: Ed25519Identity, canister: Principal) -> None:
    response = post_signed(client, "/api/v2/canister/aaaaa-aa/call",
                           call_content(owner, canister, "certify"), owner)
    assert response.status_code == 400
    assert response.content.decode() == (
        f"Specified CanisterId {canister} does not match effective canister id in URL aaaaa-aa"
    )


def test_query_canister_id_must_match_ecid(service: ReplicaService, client: ApiClient,
                                           owner: Ed25519Identity, canister: Principal) -> None:
    response = post_signed(client, "/api/v2/canister/aaaaa-aa/query",
                           query_content(owner, canister, "certificate"), owner)
    assert response.status_code == 400
    assert response.content.decode() == (
        f"Specified CanisterId {canister} does not match effective canister id in URL aaaaa-aa"
    )


def test_management_call_ecid_is_the_argument_canister(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    arg = encode([CANISTER_ID], [{"canister_id": canister}])
    response = post_signed(client, "/api/v2/canister/aaaaa-aa/call",
                           call_content(owner, MANAGEMENT, "canister_status", arg), owner)
    assert response.status_code == 400
    assert response.content.decode() == (
        f"Specified CanisterId {canister} (the canister_id argument of management method "
        "canister_status) does not match effective canister id in URL aaaaa-aa"
    )
    response = post_signed(client, f"/api/v3/canister/{canister}/call",
                           call_content(owner, MANAGEMENT, "canister_status", arg), owner)
    assert response.status_code == 200
    assert cbor_body(response)["status"] == "replied"


def test_management_call_without_canister_id_is_rejected(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    response = post_signed(client, f"/api/v2/canister/{canister}/call",
                           call_content(owner, MANAGEMENT, "start_canister", EMPTY), owner)
    assert response.status_code == 200
    body = cbor_body(response)
    assert (body["reject_code"], body["error_code"]) == (4, "IC0408")
    assert body["reject_message"].startswith("Error decoding candid for ic00 method start_canister")


@pytest.mark.parametrize("ecid", ["aaaaa-aa", "ryjl3-tyaaa-aaaaa-aaaba-cai", "2vxsx-fae"])
def test_create_canister_accepts_any_ecid(service: ReplicaService, client: ApiClient,
                                          owner: Ed25519Identity, ecid: str) -> None:
    arg = encode([PROVISIONAL_CREATE_ARGS], [{
        "amount": None, "settings": None, "specified_id": None, "sender_canister_version": None,
    }])
    content = call_content(owner, MANAGEMENT, "provisional_create_canister_with_cycles", arg)
    response = post_signed(client, f"/api/v3/canister/{ecid}/call", content, owner)
    assert response.status_code == 200
    body = cbor_body(response)
    cert = verify_certificate(body["certificate"], root_key(client), now_ns=time.time_ns())
    rid = sign_envelope(content, owner).request_id
    assert lookup_value(["request_status", rid, "status"], cert.tree) == b"replied"


# -- calls ----------------------------------------------------------------------------------------


def test_v2_call_then_read_state(service: ReplicaService, client: ApiClient,
                                 owner: Ed25519Identity, canister: Principal) -> None:
    content = call_content(owner, canister, "certify", b"data!")
    rid = sign_envelope(content, owner).request_id
    response = post_signed(client, f"/api/v2/canister/{canister}/call", content, owner)
    assert response.status_code == 202
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == "*"
    wait_terminal(service, rid)
    response = post_signed(client, f"/api/v2/canister/{canister}/read_state",
                           read_state_content(owner, (b"request_status", rid)), owner)
    assert response.status_code == 200
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client),
                              now_ns=time.time_ns())
    assert lookup_value(["request_status", rid, "status"], cert.tree) == b"replied"
    assert lookup_value(["request_status", rid, "reply"], cert.tree) == b""


def test_v3_call_certificate_reveals_exactly_the_request(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    # Another request in the history must stay hidden.
    service.run(lambda r: r.update(canister, "certify", b"earlier", sender=owner.principal))
    content = call_content(owner, canister, "certify", b"x")
    rid = sign_envelope(content, owner).request_id
    response = post_signed(client, f"/api/v3/canister/{canister}/call", content, owner)
    assert response.status_code == 200
    body = cbor_body(response)
    assert body["status"] == "replied"
    cert = verify_certificate(body["certificate"], root_key(client), now_ns=time.time_ns())
    top = {node.label for node in flatten_forks(cert.tree) if isinstance(node, Labeled)}
    assert top == {b"request_status", b"time"}
    statuses = lookup_subtree_labels(cert.tree, [b"request_status"])
    assert statuses == {rid}
    time_ns = decode_uleb128(lookup_value(["time"], cert.tree) or b"")[0]
    assert abs(time_ns - time.time_ns()) < 60 * 1_000_000_000


def lookup_subtree_labels(tree: HashTree, path: list[bytes]) -> set[bytes]:
    subtree = lookup_subtree(path, tree)
    assert subtree is not None
    return {node.label for node in flatten_forks(subtree) if isinstance(node, Labeled)}


def test_v3_call_rejected_by_the_canister_is_certified(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    content = call_content(owner, canister, "refuse")
    response = post_signed(client, f"/api/v3/canister/{canister}/call", content, owner)
    assert response.status_code == 200
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client))
    rid = sign_envelope(content, owner).request_id
    assert lookup_value(["request_status", rid, "status"], cert.tree) == b"rejected"
    assert lookup_value(["request_status", rid, "reject_code"], cert.tree) == b"\x04"
    assert lookup_value(["request_status", rid, "reject_message"], cert.tree) == b"no certificate"
    assert lookup_value(["request_status", rid, "error_code"], cert.tree) == b"IC0406"


def test_unknown_canister_is_a_non_replicated_rejection(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity
) -> None:
    ghost = Principal.from_canister_index(0x80000000001FFFF0)
    content = call_content(owner, ghost, "inc")
    response = post_signed(client, f"/api/v2/canister/{ghost}/call", content, owner)
    assert response.status_code == 200
    assert cbor_body(response) == {
        "reject_code": 3, "reject_message": f"Canister {ghost} not found", "error_code": "IC0301",
    }
    response = post_signed(client, f"/api/v3/canister/{ghost}/call", content, owner)
    assert response.status_code == 200
    assert cbor_body(response) == {
        "status": "non_replicated_rejection", "reject_code": 3,
        "reject_message": f"Canister {ghost} not found", "error_code": "IC0301",
    }


def test_inspect_message_refusal(service: ReplicaService, client: ApiClient,
                                 owner: Ed25519Identity) -> None:
    inspected = service.run(lambda r: r.create_canister(sender=owner.principal))
    service.run(lambda r: r.install_code(inspected, wat_wasm("inspect"), sender=owner.principal))
    response = post_signed(client, f"/api/v3/canister/{inspected}/call",
                           call_content(owner, inspected, "denied"), owner)
    assert response.status_code == 200
    body = cbor_body(response)
    assert body["status"] == "non_replicated_rejection"
    assert (body["reject_code"], body["error_code"]) == (4, "IC0406")
    assert "Canister rejected the message" in body["reject_message"]


def test_stopped_canister_and_missing_method(service: ReplicaService, client: ApiClient,
                                             owner: Ed25519Identity, canister: Principal) -> None:
    response = post_signed(client, f"/api/v2/canister/{canister}/call",
                           call_content(owner, canister, "no_such_method"), owner)
    assert cbor_body(response)["error_code"] == "IC0536"
    service.run(lambda r: r.stop_canister(canister, sender=owner.principal))
    response = post_signed(client, f"/api/v2/canister/{canister}/call",
                           call_content(owner, canister, "certify"), owner)
    body = cbor_body(response)
    assert (body["reject_code"], body["error_code"]) == (5, "IC0508")
    assert body["reject_message"] == f"Canister {canister} is stopped"


def test_resubmitted_request_keeps_its_outcome(service: ReplicaService, client: ApiClient,
                                               owner: Ed25519Identity, canister: Principal) -> None:
    content = call_content(owner, canister, "certify", b"once")
    body = sign_envelope(content, owner).to_cbor()
    first = post(client, f"/api/v3/canister/{canister}/call", body)
    assert first.status_code == 200
    # Even after the canister stops, the known request id answers with its outcome.
    service.run(lambda r: r.stop_canister(canister, sender=owner.principal))
    again = post(client, f"/api/v3/canister/{canister}/call", body)
    assert again.status_code == 200
    rid = sign_envelope(content, owner).request_id
    cert = verify_certificate(cbor_body(again)["certificate"], root_key(client))
    assert lookup_value(["request_status", rid, "status"], cert.tree) == b"replied"
    assert post(client, f"/api/v2/canister/{canister}/call", body).status_code == 202
    status = service.run(lambda r: r.subnet.ingress_status(rid))
    assert status is not None and status.state.value == "replied" and status.reply == b""


def test_v3_call_times_out_with_202_without_blocking_others(
    tmp_path: Path, owner: Ed25519Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A service whose round loop never runs: the call can never finish.
    replica = Replica.open(tmp_path)
    idle = ReplicaService(replica)
    canister = idle.run(lambda r: r.create_canister(sender=owner.principal))
    idle.run(lambda r: r.install_code(canister, wat_wasm("inspect"), sender=owner.principal))
    monkeypatch.setattr(service_module, "_service", idle)
    monkeypatch.setattr(asgi, "CALL_WAIT_SECONDS", 1.0)
    body = sign_envelope(call_content(owner, canister, "allowed"), owner).to_cbor()

    async def scenario() -> tuple[int, float, int, float]:
        client = ApiClient()
        assert (await client.arequest("GET", "/api/v2/status")).status_code == 200  # warm up
        start = time.monotonic()

        async def timed(coro: object) -> tuple[int, float]:
            response = await coro  # type: ignore[misc]
            return response.status_code, time.monotonic() - start

        (call_status, call_done), (status_status, status_done) = await asyncio.gather(
            timed(client.arequest("POST", f"/api/v3/canister/{canister}/call", body,
                                  content_type="application/cbor")),
            timed(_later(client.arequest("GET", "/api/v2/status"))),
        )
        return call_status, call_done, status_status, status_done

    try:
        call_status, call_done, status_status, status_done = asyncio.run(scenario())
    finally:
        replica.close()
    assert call_status == 202 and call_done >= 1.0
    assert status_status == 200 and status_done < call_done


async def _later(coro: object) -> object:
    await asyncio.sleep(0.2)
    return await coro  # type: ignore[misc]


# -- queries --------------------------------------------------------------------------------------


def node_keys(client: ApiClient, identity: Ed25519Identity, ecid: Principal) -> dict[bytes, bytes]:
    """Node id → DER key, read the way agent-js does: read_state ``["subnet"]``."""
    response = post_signed(client, f"/api/v2/canister/{ecid}/read_state",
                           read_state_content(identity, (b"subnet",)), identity)
    assert response.status_code == 200
    status = cbor_body(client.get("/api/v2/status"))
    cert = verify_certificate(cbor_body(response)["certificate"], status["root_key"])
    subnet_id = Principal.self_authenticating(status["root_key"]).raw
    ranges = decode_canister_ranges(
        lookup_value(["subnet", subnet_id, "canister_ranges"], cert.tree) or b""
    )
    assert any(low <= ecid <= high for low, high in ranges)
    keys = {}
    for node_id in lookup_subtree_labels(cert.tree, [b"subnet", subnet_id, b"node"]):
        key = lookup_value(["subnet", subnet_id, "node", node_id, "public_key"], cert.tree)
        assert key is not None and len(key) == 44
        keys[node_id] = key
    return keys


def check_signed(response_body: dict[str, object], content: QueryContent,
                 owner: Ed25519Identity, keys: dict[bytes, bytes]) -> None:
    signatures = response_body["signatures"]
    assert isinstance(signatures, tuple) and len(signatures) == 1
    entry = signatures[0]
    signature = NodeSignature(entry["timestamp"], entry["signature"],
                              Principal(entry["identity"]))
    unsigned = {k: v for k, v in response_body.items() if k != "signatures"}
    rid = sign_envelope(content, owner).request_id
    assert verify_query_response(unsigned, rid, signature, keys[signature.identity.raw])
    assert not verify_query_response(unsigned, bytes(32), signature,
                                     keys[signature.identity.raw])
    assert abs(signature.timestamp - time.time_ns()) < 60 * 1_000_000_000


def test_query_reply_is_signed_by_the_node(service: ReplicaService, client: ApiClient,
                                           owner: Ed25519Identity, canister: Principal) -> None:
    service.run(lambda r: r.update(canister, "certify", b"certified!", sender=owner.principal))
    content = query_content(owner, canister, "certificate")
    for version in ("v2", "v3"):
        response = post_signed(client, f"/api/{version}/canister/{canister}/query", content, owner)
        assert response.status_code == 200
        body = cbor_body(response)
        assert body["status"] == "replied"
        check_signed(body, content, owner, node_keys(client, owner, canister))
        # The reply is the data certificate the canister saw: certified_data and /time.
        data_cert = verify_certificate(body["reply"]["arg"], root_key(client),
                                       now_ns=time.time_ns())
        assert lookup_value(["canister", canister.raw, "certified_data"],
                            data_cert.tree) == b"certified!"
        top = {n.label for n in flatten_forks(data_cert.tree) if isinstance(n, Labeled)}
        assert top == {b"canister", b"time"}


def test_query_reject_is_signed(service: ReplicaService, client: ApiClient,
                                owner: Ed25519Identity, canister: Principal) -> None:
    content = query_content(owner, canister, "refuse")
    body = cbor_body(post_signed(client, f"/api/v2/canister/{canister}/query", content, owner))
    assert {k: body[k] for k in ("status", "reject_code", "reject_message", "error_code")} == {
        "status": "rejected", "reject_code": 4, "reject_message": "no certificate",
        "error_code": "IC0406",
    }
    check_signed(body, content, owner, node_keys(client, owner, canister))


def test_query_of_unknown_canister(service: ReplicaService, client: ApiClient,
                                   owner: Ed25519Identity) -> None:
    ghost = Principal.from_canister_index(0x80000000001FFFF0)
    body = cbor_body(post_signed(client, f"/api/v2/canister/{ghost}/query",
                                 query_content(owner, ghost, "get"), owner))
    assert (body["status"], body["reject_code"], body["error_code"]) == ("rejected", 3, "IC0301")


# -- read_state -----------------------------------------------------------------------------------


def read_state(client: ApiClient, owner: Identity, ecid: Principal,
               *paths: tuple[bytes, ...]) -> Any:
    return post_signed(client, f"/api/v2/canister/{ecid}/read_state",
                       read_state_content(owner, *paths), owner)


def test_read_state_reveals_exactly_the_requested_paths(
    service: ReplicaService, client: ApiClient, owner: Ed25519Identity, canister: Principal
) -> None:
    response = read_state(client, owner, canister, (b"canister", canister.raw, b"module_hash"),
                          (b"canister", canister.raw, b"controllers"))
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client),
                              now_ns=time.time_ns())
    module_hash = service.run(lambda r: r.subnet.canister_state.states[canister.raw].module_hash)
    assert lookup_value(["canister", canister.raw, "module_hash"], cert.tree) == module_hash
    raw_controllers = lookup_value(["canister", canister.raw, "controllers"], cert.tree)
    assert raw_controllers is not None and raw_controllers[:3] == b"\xd9\xd9\xf7"
    controllers = cbor2.loads(raw_controllers)
    assert list(controllers) == [owner.principal.raw]
    assert lookup_path(["canister", canister.raw, "certified_data"],
                       cert.tree).status is LookupStatus.UNKNOWN
    assert lookup_path(["subnet"], cert.tree).status is LookupStatus.UNKNOWN
    assert lookup_value(["time"], cert.tree) is not None
    revealed = {n.label for n in flatten_forks(cert.tree) if isinstance(n, Labeled)}
    assert revealed == {b"canister", b"time"}
    assert any(isinstance(n, Pruned) for n in flatten_forks(cert.tree))


def test_read_state_metadata(service: ReplicaService, client: ApiClient, owner: Ed25519Identity,
                             canister: Principal) -> None:
    response = read_state(client, owner, canister, (b"canister", canister.raw, b"metadata",
                                                    b"greeting"))
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client))
    assert lookup_value(["canister", canister.raw, "metadata", "greeting"], cert.tree) == b"hello"
    response = read_state(client, owner, canister, (b"canister", canister.raw, b"metadata",
                                                    b"secret"))
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client))
    assert lookup_value(["canister", canister.raw, "metadata", "secret"], cert.tree) == b"s3cret"
    stranger = Ed25519Identity.generate()
    response = read_state(client, stranger, canister, (b"canister", canister.raw, b"metadata",
                                                       b"secret"))
    assert response.status_code == 403
    assert response.content.decode() == (
        "Custom section secret can only be requested by the controllers of the canister."
    )
    response = read_state(client, stranger, canister, (b"canister", canister.raw, b"metadata",
                                                       b"\xff"))
    assert response.status_code == 400
    assert response.content.decode().startswith(
        "Could not parse the custom section name:"
    )


@pytest.mark.parametrize("path", [
    (b"canister", bytes.fromhex("80000000001000000101"), b"certified_data"),
    (b"canister",),
    (b"request_status",),
    (b"unknown",),
    (b"time", b"extra"),
    (b"subnet", b"x", b"metrics"),
])
def test_read_state_disallowed_paths(service: ReplicaService, client: ApiClient,
                                     owner: Ed25519Identity, path: tuple[bytes, ...]) -> None:
    ecid = Principal(bytes.fromhex("80000000001000000101"))
    response = read_state(client, owner, ecid, path)
    assert response.status_code == 404
    assert response.content.decode() == "Invalid path requested."


def test_read_state_canister_must_be_ecid(service: ReplicaService, client: ApiClient,
                                          owner: Ed25519Identity, canister: Principal) -> None:
    response = read_state(client, owner, MANAGEMENT, (b"canister", canister.raw, b"module_hash"))
    assert response.status_code == 400
    assert response.content.decode() == (
        f"Effective canister id in URL aaaaa-aa does not match requested canister id: {canister}."
    )


def test_read_state_request_status_rules(service: ReplicaService, client: ApiClient,
                                         owner: Ed25519Identity, canister: Principal) -> None:
    content = call_content(owner, canister, "certify")
    rid = sign_envelope(content, owner).request_id
    assert post_signed(client, f"/api/v3/canister/{canister}/call", content,
                       owner).status_code == 200
    stranger = Ed25519Identity.generate()
    response = read_state(client, stranger, canister, (b"request_status", rid))
    assert response.status_code == 403
    assert response.content.decode() == (
        "The user tries to access Request ID not signed by the caller."
    )
    response = read_state(client, owner, MANAGEMENT, (b"request_status", rid))
    assert response.status_code == 403
    assert f"sent to effective canister id {canister}" in response.content.decode()
    response = read_state(client, owner, canister, (b"request_status", rid, b"status"),
                          (b"request_status", bytes(32)))
    assert response.status_code == 400
    assert response.content.decode().startswith(
        "More than one non-unique request ID exists in request_status paths:"
    )
    response = read_state(client, owner, canister, (b"request_status", b"short"))
    assert response.status_code == 400
    assert response.content.decode().startswith(
        "Invalid request id in paths. Maybe the request ID is not of 32 bytes"
    )
    # An unknown request id is allowed, and shown absent.
    response = read_state(client, stranger, canister, (b"request_status", bytes(32)))
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client))
    assert lookup_path(["request_status", bytes(32), "status"],
                       cert.tree).status is LookupStatus.ABSENT


def test_read_state_time_for_any_ecid_anonymously(service: ReplicaService,
                                                  client: ApiClient) -> None:
    from icframework.identity import AnonymousIdentity

    anonymous = AnonymousIdentity()
    response = post_signed(client, "/api/v2/canister/ryjl3-tyaaa-aaaaa-aaaba-cai/read_state",
                           read_state_content(anonymous, (b"time",)), anonymous)
    cert = verify_certificate(cbor_body(response)["certificate"], root_key(client),
                              now_ns=time.time_ns())
    assert cert.time_ns is not None
    assert abs(cert.time_ns - time.time_ns()) < 60 * 1_000_000_000


def test_subnet_read_state(service: ReplicaService, client: ApiClient,
                           owner: Ed25519Identity) -> None:
    subnet_id = Principal(service.replica.subnet.config.subnet_id)
    for version in ("v2", "v3"):
        response = post_signed(client, f"/api/{version}/subnet/{subnet_id}/read_state",
                               read_state_content(owner, (b"subnet", subnet_id.raw,
                                                          b"public_key")), owner)
        cert = verify_certificate(cbor_body(response)["certificate"], root_key(client))
        assert lookup_value(["subnet", subnet_id.raw, "public_key"], cert.tree) == root_key(client)
        assert lookup_value(["subnet", subnet_id.raw, "type"], cert.tree) is None
    response = post_signed(client, f"/api/v2/subnet/{subnet_id}/read_state",
                           read_state_content(owner, (b"request_status", bytes(32))), owner)
    assert response.status_code == 404
    other = Principal.self_authenticating(b"another subnet")
    response = post_signed(client, f"/api/v2/subnet/{subnet_id}/read_state",
                           read_state_content(owner, (b"subnet", other.raw, b"metrics")), owner)
    assert response.status_code == 400


def test_read_state_with_delegation_targets(service: ReplicaService, client: ApiClient,
                                            canister: Principal) -> None:
    from icframework.identity import DelegationIdentity
    from icframework.protocol import create_delegation_chain

    root = Ed25519Identity.generate()
    session = Ed25519Identity.generate()
    chain = create_delegation_chain(root, session.der_public_key,
                                    expiration=time.time_ns() + 10 * MINUTE_NS,
                                    targets=[canister])
    delegated = DelegationIdentity(session, chain)
    content = call_content(delegated, canister, "certify")
    rid = sign_envelope(content, delegated).request_id
    response = post_signed(client, f"/api/v3/canister/{canister}/call", content, delegated)
    assert response.status_code == 200
    response = read_state(client, delegated, canister, (b"request_status", rid))
    assert response.status_code == 200
    other = Principal.from_canister_index(0x80000000001FFFF0)
    response = post_signed(client, f"/api/v2/canister/{other}/call",
                           call_content(delegated, other, "certify"), delegated)
    assert response.status_code == 400
    assert response.content.decode().startswith("Invalid delegation: canister")
