"""Django async views of the IC HTTP interface: thin adapters around `endpoints`.

Every view is async. Work on the replica runs in a worker thread under the service
lock (`_locked`), request decoding and signature checks in a worker thread without it
(`_unlocked`), so a v3 call waiting up to `CALL_WAIT_SECONDS` for its certificate
never holds the lock or blocks other requests. `api_view` adds CORS headers, answers
preflight ``OPTIONS`` and 405s, and maps exceptions to HTTP through `error_status`,
the one place that does so.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse

from icframework.core import Principal
from icframework.protocol import ProtocolError, QueryContent, ReadStateContent
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.http import endpoints
from icframework.replica.http.endpoints import ACCEPTED, ApiResponse
from icframework.replica.http.errors import (
    METHOD_NOT_ALLOWED,
    SERVICE_UNAVAILABLE,
    HttpError,
    error_status,
)
from icframework.replica.http.validation import (
    check_body,
    check_content_length,
    check_query_target,
    decode_envelope,
    parse_principal_text,
)
from icframework.replica.service import ReplicaService, get_service

T = TypeVar("T")
CALL_WAIT_SECONDS = 10.0
_POLL_FIRST_SECONDS = 0.005
_POLL_MAX_SECONDS = 0.05
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type",
}
_View = Callable[..., Awaitable[ApiResponse]]


def api_view(*methods: str) -> Callable[[_View], Callable[..., Awaitable[HttpResponse]]]:
    """Wrap an endpoint handler: method check, OPTIONS preflight, CORS, error mapping."""

    def decorate(handler: _View) -> Callable[..., Awaitable[HttpResponse]]:
        @functools.wraps(handler)
        async def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Access-Control-Max-Age"] = "86400"
            elif request.method not in methods:
                allowed = ", ".join((*methods, "OPTIONS"))
                response = _text(METHOD_NOT_ALLOWED, f"Method {request.method} not allowed; "
                                 f"this endpoint takes {allowed}.")
                response["Allow"] = allowed
            else:
                try:
                    api = await handler(request, **kwargs)
                except (HttpError, ProtocolError, ReplicaError) as exc:
                    status, message = error_status(exc)
                    response = _text(status, message)
                else:
                    response = HttpResponse(api.body, status=api.status)
                    if api.content_type is None:
                        del response["Content-Type"]
                    else:
                        response["Content-Type"] = api.content_type
            for name, value in CORS_HEADERS.items():
                response[name] = value
            return response

        return view

    return decorate


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _service() -> ReplicaService:
    service = get_service()
    if service is None:
        raise HttpError(
            SERVICE_UNAVAILABLE,
            "This process serves no replica; start one with `python manage.py runreplica`.",
        )
    return service


async def _locked(work: Callable[..., T], *args: Any) -> T:
    """``work(replica, *args)`` in a worker thread, under the replica service's lock."""
    service = _service()

    def run(replica: Replica) -> T:
        return work(replica, *args)

    return await sync_to_async(service.run, thread_sensitive=False)(run)


async def _unlocked(work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``work(*args, **kwargs)`` in a worker thread, without the lock (pure work)."""
    return await sync_to_async(work, thread_sensitive=False)(*args, **kwargs)


def _body(request: HttpRequest) -> bytes:
    check_content_length(request.META.get("CONTENT_LENGTH"))
    body = request.body
    check_body(request.META.get("CONTENT_TYPE"), body)
    return body


# -- endpoints -----------------------------------------------------------------------------


@api_view("GET", "HEAD")
async def status(request: HttpRequest) -> ApiResponse:
    """``GET /api/v2/status``."""
    return await _locked(endpoints.status)


async def _call(request: HttpRequest, effective_canister_id: str, *, v3: bool) -> ApiResponse:
    body = _body(request)
    ecid = parse_principal_text(effective_canister_id, "effective canister id")
    return await submit_call_body(body, ecid, v3=v3)


async def submit_call_body(body: bytes, ecid: Principal, *, v3: bool) -> ApiResponse:
    """A call envelope's response as the v2/v3 call endpoint gives it (also used by the
    canister socket). Raises what `error_status` maps."""
    envelope, _targets = await _unlocked(decode_envelope, body, "call", now_ns=time.time_ns())
    outcome = await _locked(endpoints.submit_call, envelope, ecid)
    if isinstance(outcome, CanisterError):
        return endpoints.non_replicated_rejection(outcome, v3=v3)
    if not v3:
        return ApiResponse(ACCEPTED)
    deadline = time.monotonic() + CALL_WAIT_SECONDS
    delay = _POLL_FIRST_SECONDS
    while True:
        certificate = await _locked(endpoints.call_certificate, outcome.request_id)
        if certificate is not None:
            return endpoints.cbor_response({"status": "replied", "certificate": certificate})
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ApiResponse(ACCEPTED)
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 2, _POLL_MAX_SECONDS)


@api_view("POST")
async def call_v2(request: HttpRequest, effective_canister_id: str) -> ApiResponse:
    """``POST /api/v2/canister/<ecid>/call``: 202 once accepted, or a CBOR reject."""
    return await _call(request, effective_canister_id, v3=False)


@api_view("POST")
async def call_v3(request: HttpRequest, effective_canister_id: str) -> ApiResponse:
    """``POST /api/v3/canister/<ecid>/call``: the certified outcome, or 202 after the wait."""
    return await _call(request, effective_canister_id, v3=True)


@api_view("POST")
async def query(request: HttpRequest, effective_canister_id: str) -> ApiResponse:
    """``POST /api/v2|v3/canister/<ecid>/query``: a reply or reject, signed by the node."""
    body = _body(request)
    ecid = parse_principal_text(effective_canister_id, "effective canister id")
    return await query_body(body, ecid)


async def query_body(body: bytes, ecid: Principal) -> ApiResponse:
    """A query envelope's signed response as the query endpoint gives it (also used by
    the canister socket). Raises what `error_status` maps."""
    envelope, _targets = await _unlocked(decode_envelope, body, "query", now_ns=time.time_ns())
    content = envelope.content
    assert isinstance(content, QueryContent)
    check_query_target(content, ecid)
    response = await _locked(endpoints.query, content)
    replica = _service().replica
    return await _unlocked(endpoints.sign_query, replica, response, envelope.request_id)


@api_view("POST")
async def canister_read_state(request: HttpRequest, effective_canister_id: str) -> ApiResponse:
    """``POST /api/v2|v3/canister/<ecid>/read_state``."""
    body = _body(request)
    ecid = parse_principal_text(effective_canister_id, "effective canister id")
    envelope, targets = await _unlocked(
        decode_envelope, body, "read_state", now_ns=time.time_ns()
    )
    content = envelope.content
    assert isinstance(content, ReadStateContent)
    certified = await _locked(endpoints.authorize_canister_read, content, ecid, targets)
    return await _unlocked(endpoints.read_state_response, certified, content)


@api_view("POST")
async def subnet_read_state(request: HttpRequest, subnet_id: str) -> ApiResponse:
    """``POST /api/v2|v3/subnet/<subnet_id>/read_state``."""
    body = _body(request)
    subnet = parse_principal_text(subnet_id, "subnet id")
    envelope, _targets = await _unlocked(
        decode_envelope, body, "read_state", now_ns=time.time_ns()
    )
    content = envelope.content
    assert isinstance(content, ReadStateContent)
    certified = await _locked(endpoints.authorize_subnet_read, content, subnet)
    return await _unlocked(endpoints.read_state_response, certified, content)
