"""Pure request checks of the HTTP interface: sizes, content type, ecid rules, read_state paths."""

from __future__ import annotations

import time

import cbor2
import pytest

from icframework.candid.binary import encode
from icframework.core import ErrorCode, Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import (
    AuthenticationError,
    CallContent,
    IngressExpiryError,
    MalformedRequestError,
    QueryContent,
    ReadStateContent,
    sign_envelope,
)
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.http import HttpError, error_status
from icframework.replica.http.validation import (
    MAX_REQUEST_BYTES,
    authorize_canister_paths,
    authorize_subnet_paths,
    check_body,
    check_call_target,
    check_content_length,
    check_query_target,
    decode_envelope,
    management_target,
    parse_principal_text,
)
from icframework.replica.management import CANISTER_ID, INSTALL_CODE_ARGS

CANISTER = Principal.from_canister_index(0x8000000000100000)
OTHER = Principal.from_canister_index(0x8000000000100001)
MANAGEMENT = Principal.management_canister()
USER = Principal.self_authenticating(b"validation user")


def raises(status: int, exc_info: pytest.ExceptionInfo[HttpError]) -> str:
    assert exc_info.value.status == status
    return exc_info.value.message


def test_body_size_limits() -> None:
    check_content_length(str(MAX_REQUEST_BYTES))
    check_content_length(None)
    check_content_length("garbage")
    with pytest.raises(HttpError) as info:
        check_content_length(str(MAX_REQUEST_BYTES + 1))
    assert raises(413, info).startswith("Request body is 2097153 bytes")
    with pytest.raises(HttpError) as info:
        check_body("application/cbor", b"\0" * (MAX_REQUEST_BYTES + 1))
    assert raises(413, info)


@pytest.mark.parametrize("content_type", ["application/cbor", "Application/CBOR",
                                          "application/cbor; charset=binary"])
def test_cbor_content_types(content_type: str) -> None:
    check_body(content_type, b"")


@pytest.mark.parametrize("content_type", [None, "", "application/json", "text/plain"])
def test_other_content_types(content_type: str | None) -> None:
    with pytest.raises(HttpError) as info:
        check_body(content_type, b"")
    assert raises(400, info).endswith("expected application/cbor.")


def test_parse_principal_text() -> None:
    assert parse_principal_text("aaaaa-aa", "x") == MANAGEMENT
    with pytest.raises(HttpError) as info:
        parse_principal_text("zzz", "effective canister id")
    assert raises(400, info).startswith("Invalid effective canister id 'zzz' in the URL:")


def test_decode_envelope() -> None:
    user = Ed25519Identity.generate()
    now = time.time_ns()
    content = CallContent(CANISTER, "m", b"", user.principal, now + 60 * 10**9)
    body = sign_envelope(content, user).to_cbor()
    envelope, targets = decode_envelope(body, "call", now_ns=now)
    assert envelope.content == content and targets is None
    with pytest.raises(MalformedRequestError, match="takes 'query' requests"):
        decode_envelope(body, "query", now_ns=now)
    with pytest.raises(IngressExpiryError, match=r"^Invalid request expiry: "):
        decode_envelope(body, "call", now_ns=now + 120 * 10**9)
    forged = sign_envelope(content, user).to_map()
    forged["sender_sig"] = bytes(64)
    with pytest.raises(AuthenticationError, match=r"^Invalid signature"):
        decode_envelope(cbor2.dumps(forged), "call", now_ns=now)


def test_error_status_mapping() -> None:
    assert error_status(HttpError(403, "no")) == (403, "no")
    assert error_status(IngressExpiryError("Invalid request expiry: x")) == (
        400, "Invalid request expiry: x")
    assert error_status(AuthenticationError("bad"))[0] == 400
    assert error_status(CanisterError(ErrorCode.CANISTER_NOT_FOUND, "x"))[0] == 500


def test_management_target() -> None:
    arg = encode([CANISTER_ID], [{"canister_id": CANISTER}])
    assert management_target("canister_status", arg) == CANISTER
    install = encode([INSTALL_CODE_ARGS], [{
        "mode": {"install": None}, "canister_id": OTHER, "wasm_module": b"", "arg": b"",
        "sender_canister_version": None}])
    assert management_target("install_code", install) == OTHER
    assert management_target("provisional_create_canister_with_cycles", b"junk") is None
    assert management_target("raw_rand", b"junk") is None  # refused as ingress anyway
    with pytest.raises(CanisterError) as info:
        management_target("stop_canister", b"DIDL\x00\x00")
    assert info.value.error_code is ErrorCode.INVALID_MANAGEMENT_PAYLOAD


def test_call_and_query_targets() -> None:
    call = CallContent(CANISTER, "m", b"", USER, 0)
    check_call_target(call, CANISTER)
    with pytest.raises(HttpError) as info:
        check_call_target(call, OTHER)
    assert raises(400, info) == (
        f"Specified CanisterId {CANISTER} does not match effective canister id in URL {OTHER}")
    status_call = CallContent(MANAGEMENT, "canister_status",
                              encode([CANISTER_ID], [{"canister_id": CANISTER}]), USER, 0)
    check_call_target(status_call, CANISTER)
    with pytest.raises(HttpError):
        check_call_target(status_call, MANAGEMENT)
    check_query_target(QueryContent(MANAGEMENT, "m", b"", USER, 0), OTHER)
    with pytest.raises(HttpError):
        check_query_target(QueryContent(CANISTER, "m", b"", USER, 0), OTHER)


@pytest.mark.parametrize("path", [
    (b"time",), (b"subnet",), (b"subnet", b"s"), (b"subnet", b"s", b"public_key"),
    (b"subnet", b"s", b"canister_ranges"), (b"subnet", b"s", b"node"),
    (b"subnet", b"s", b"type"), (b"subnet", b"s", b"node", b"n"),
    (b"subnet", b"s", b"node", b"n", b"public_key"), (b"api_boundary_nodes",),
    (b"api_boundary_nodes", b"n", b"domain"),
    (b"request_status", bytes(32)), (b"request_status", bytes(32), b"reject_message"),
    (b"canister", CANISTER.raw, b"module_hash"), (b"canister", CANISTER.raw, b"controllers"),
    (b"canister", CANISTER.raw, b"metadata", b"candid:service"),
])
def test_allowed_canister_paths(path: tuple[bytes, ...]) -> None:
    subnet = Replica.open().subnet
    authorize_canister_paths(subnet, [path], sender=USER, ecid=CANISTER, targets=None)


@pytest.mark.parametrize("path", [
    (), (b"time", b"x"), (b"canister", CANISTER.raw, b"certified_data"),
    (b"canister", CANISTER.raw), (b"request_status", bytes(32), b"other"),
    (b"subnet", b"s", b"metrics"), (b"canister_ranges", b"s"), (b"subnet", b"s", b"secret"),
])
def test_refused_canister_paths(path: tuple[bytes, ...]) -> None:
    subnet = Replica.open().subnet
    with pytest.raises(HttpError) as info:
        authorize_canister_paths(subnet, [path], sender=USER, ecid=CANISTER, targets=None)
    assert raises(404, info) == "Invalid path requested."


def test_request_status_of_a_delegation_outside_its_targets() -> None:
    replica = Replica.open()
    owner = Principal.self_authenticating(b"owner")
    canister = replica.create_canister(sender=owner)
    arg = encode([CANISTER_ID], [{"canister_id": canister}])
    request_id = replica.submit(MANAGEMENT, "canister_status", arg, sender=owner,
                                effective_canister_id=canister)
    with pytest.raises(HttpError) as info:
        authorize_canister_paths(replica.subnet, [(b"request_status", request_id)],
                                 sender=owner, ecid=canister, targets=frozenset({OTHER}))
    assert raises(403, info).endswith("not belonging to sender delegation targets.")
    authorize_canister_paths(replica.subnet, [(b"request_status", request_id)],
                             sender=owner, ecid=canister, targets=frozenset({canister}))


def test_subnet_paths() -> None:
    subnet_id = Principal.self_authenticating(b"subnet")
    authorize_subnet_paths([(b"time",), (b"subnet", subnet_id.raw, b"metrics"),
                            (b"canister_ranges", subnet_id.raw)], subnet_id=subnet_id)
    with pytest.raises(HttpError) as info:
        authorize_subnet_paths([(b"canister", CANISTER.raw, b"module_hash")],
                               subnet_id=subnet_id)
    assert raises(404, info) == "Invalid path requested."
    with pytest.raises(HttpError) as info:
        authorize_subnet_paths([(b"subnet", OTHER.raw, b"metrics")], subnet_id=subnet_id)
    assert raises(400, info).startswith("Effective principal id in URL")
    with pytest.raises(HttpError) as info:
        authorize_subnet_paths([(b"subnet", b"\xff" * 40, b"metrics")], subnet_id=subnet_id)
    assert raises(400, info).startswith("Could not parse Subnet ID")


def test_read_state_content_paths_are_bytes() -> None:
    content = ReadStateContent(USER, 0, ((b"time",),))
    assert content.paths == ((b"time",),)
