"""What each IC HTTP endpoint does with the replica, as functions from requests to responses.

Functions taking a `Replica` run on the replica service's thread (`http.asgi` calls
them through ``service.call``); the others are pure and run on the event loop. Each
returns an `ApiResponse` (status, body, content type) or a value the adapter turns into
one; none of them knows about HTTP servers. Canister rejects that happen before
execution (``canister_inspect_message`` refusals, unknown or stopped canisters, missing
methods) are not errors: they are CBOR reject bodies with HTTP 200, as on the IC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cbor2

import icframework
from icframework.core import Principal
from icframework.protocol import (
    CallContent,
    Envelope,
    QueryContent,
    ReadStateContent,
    sign_query_response,
)
from icframework.replica.certification import CertifiedState
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.http.errors import SERVICE_UNAVAILABLE, HttpError
from icframework.replica.http.validation import (
    authorize_canister_paths,
    authorize_subnet_paths,
    check_call_target,
)
from icframework.replica.messages import RejectInfo

OK = 200
ACCEPTED = 202
CBOR = "application/cbor"
SELF_DESCRIBE_TAG = 55799
IC_API_VERSION = "0.18.0"

__all__ = [
    "ApiResponse",
    "CallSubmitted",
    "authorize_canister_read",
    "authorize_subnet_read",
    "call_certificate",
    "cbor_response",
    "check_call",
    "known_call",
    "non_replicated_rejection",
    "query",
    "read_state_response",
    "sign_query",
    "status",
    "submit_call",
]


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """An HTTP response without the framework: status, body bytes and content type."""

    status: int
    body: bytes = b""
    content_type: str | None = None


def cbor_response(value: object, status: int = OK) -> ApiResponse:
    """A self-describe-tagged CBOR body."""
    return ApiResponse(status, cbor2.dumps(cbor2.CBORTag(SELF_DESCRIBE_TAG, value)), CBOR)


def _reject_fields(reject: RejectInfo) -> dict[str, object]:
    fields: dict[str, object] = {"reject_code": int(reject.code), "reject_message": reject.message}
    if reject.error_code is not None:
        fields["error_code"] = str(reject.error_code)
    return fields


def non_replicated_rejection(error: CanisterError, *, v3: bool) -> ApiResponse:
    """The 200 CBOR reject body of a call refused before execution (v3 adds ``status``)."""
    body = _reject_fields(RejectInfo(error.reject_code, error.message, error.error_code))
    if v3:
        body = {"status": "non_replicated_rejection", **body}
    return cbor_response(body)


# -- status --------------------------------------------------------------------------------


def status(replica: Replica) -> ApiResponse:
    """``GET /api/v2/status``: the root key and health (healthy once a round committed).

    Safe without holding the replica: the root key never changes and the height is one
    attribute read (at worst a round behind).
    """
    subnet = replica.subnet
    height = subnet.height
    return cbor_response({
        "ic_api_version": IC_API_VERSION,
        "impl_version": f"icframework {icframework.__version__}",
        "root_key": subnet.config.root_key,
        "replica_health_status": "healthy" if height > 0 else "waiting_for_certified_state",
        "certified_height": height,
    })


# -- calls ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallSubmitted:
    """A call is in the ingress history (now, or from an earlier identical submission)."""

    request_id: bytes


def submit_call(
    replica: Replica, envelope: Envelope, ecid: Principal
) -> CallSubmitted | CanisterError:
    """Check and queue an update call, or return the non-replicated rejection.

    A request id the replica already knows is not checked or queued again: the call
    keeps its existing outcome. Raises `HttpError` 400 if the effective canister id
    does not fit the call.
    """
    content = envelope.content
    assert isinstance(content, CallContent)
    request_id = envelope.request_id
    subnet = replica.subnet
    if known_call(replica, envelope, ecid):
        return CallSubmitted(request_id)
    refused = check_call(replica, envelope, ecid)
    if refused is not None:
        return refused
    subnet.submit_ingress(
        request_id,
        content.sender.raw,
        content.canister_id.raw,
        content.method_name,
        content.arg,
        content.ingress_expiry,
        effective_canister_id=ecid.raw,
    )
    return CallSubmitted(request_id)


def known_call(replica: Replica, envelope: Envelope, ecid: Principal) -> bool:
    """Whether the replica already has this call in its ingress history (then it is not
    checked or queued again). Raises `HttpError` 400 if ``ecid`` does not fit the call."""
    content = envelope.content
    assert isinstance(content, CallContent)
    check_call_target(content, ecid)
    return replica.subnet.ingress_status(envelope.request_id) is not None


def check_call(replica: Replica, envelope: Envelope, ecid: Principal) -> CanisterError | None:
    """The non-replicated rejection of an update call (``canister_inspect_message``,
    missing or stopped canister, missing method), or None if it may be queued."""
    content = envelope.content
    assert isinstance(content, CallContent)
    try:
        replica.subnet.check_ingress(
            content.sender.raw, content.canister_id.raw, content.method_name, content.arg
        )
    except CanisterError as error:
        return error
    return None


def call_certificate(replica: Replica, request_id: bytes) -> bytes | None:
    """The certificate of a call's terminal status (with ``/time``), or None while pending."""
    status = replica.subnet.ingress_status(request_id)
    if status is None or not status.state.terminal:
        return None
    certified = replica.certified_state()
    return certified.certificate([("request_status", request_id)])


# -- queries -------------------------------------------------------------------------------


def query(replica: Replica, content: QueryContent, *,
          instruction_limit: int | None = None) -> dict[str, object] | None:
    """Run a query against the committed state; return the unsigned response map.

    A query to a canister gets a data certificate (``/canister/<id>/certified_data``
    and ``/time``) once a round has committed, so ``ic0.data_certificate_*`` work.
    With ``instruction_limit`` (a budget below the query limit) it returns None if the
    query used the budget up: run it again without one.
    """
    result = replica.run_query(
        content.canister_id, content.method_name, content.arg, sender=content.sender,
        instruction_limit=instruction_limit,
    )
    if result.out_of_budget:
        return None
    if result.reply is not None:
        return {"status": "replied", "reply": {"arg": result.reply}}
    assert result.reject is not None
    return {"status": "rejected", **_reject_fields(result.reject)}


def sign_query(
    replica: Replica, response: dict[str, object], request_id: bytes, now_ns: int | None = None
) -> ApiResponse:
    """The query response body with the node's signature over it (pure: reads only the
    replica's node key, so it runs off the replica's thread)."""
    node = replica.node_key
    if node is None:
        raise HttpError(SERVICE_UNAVAILABLE, "The replica has no node key to sign queries with.")
    timestamp = time.time_ns() if now_ns is None else now_ns
    signature = sign_query_response(response, request_id, node, timestamp)
    return cbor_response({**response, "signatures": [signature.to_map()]})


# -- read_state ----------------------------------------------------------------------------


def _require_certified_state(replica: Replica) -> None:
    if replica.subnet.height == 0:
        raise HttpError(
            SERVICE_UNAVAILABLE, "Certified state is not available yet. Please try again..."
        )


def authorize_canister_read(
    replica: Replica,
    content: ReadStateContent,
    ecid: Principal,
    targets: frozenset[Principal] | None,
) -> CertifiedState:
    """Check a ``/api/v2/canister/<ecid>/read_state`` request; return the state to read.

    Raises `HttpError` (400, 403, 404 for paths; 503 before the first round).
    """
    _require_certified_state(replica)
    subnet = replica.subnet
    authorize_canister_paths(
        subnet, content.paths, sender=content.sender, ecid=ecid, targets=targets
    )
    return replica.certified_state()


def authorize_subnet_read(
    replica: Replica, content: ReadStateContent, subnet_id: Principal
) -> CertifiedState:
    """Check a ``/api/v2/subnet/<subnet_id>/read_state`` request; return the state to read."""
    _require_certified_state(replica)
    authorize_subnet_paths(content.paths, subnet_id=subnet_id)
    return replica.certified_state()


def read_state_response(certified: CertifiedState, content: ReadStateContent) -> ApiResponse:
    """The read_state body: a certificate revealing the requested paths and ``/time``.

    Pure (the certified state of a height never changes), so it runs off the replica's
    thread.
    """
    return cbor_response({"certificate": certified.certificate(content.paths)})
