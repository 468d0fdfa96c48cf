"""The HTTP gateway in Django: a middleware in front of the URL router, and its replica backend.

`GatewayMiddleware` (first in ``MIDDLEWARE``) sends requests for ``<canister-id>.localhost``
(``<canister-id>.raw.localhost`` to skip response verification) to
`icframework.replica.gateway.Gateway`; everything else goes on to the URL router (paths
under ``/api/`` never reach Django: `icframework.replica.http.asgi` serves them). A
canister's content is served only on its own origin: a
request on another host that names a canister with a ``canisterId`` query parameter is
redirected (307) to ``<canister-id>.localhost`` on the request's own port, so no
canister's page shares an origin (and so localStorage, IndexedDB and cookies) with the
apps and dashboard the replica serves on its main host. `ServiceBackend` (unless
`set_gateway_backend` named another, as a scale-out front end does) runs the
gateway's calls on the process's `ReplicaService`: queries on the replica's thread (with
the canister's data certificate once a round has committed, so canisters can certify
responses), update calls through the service's one submit-and-wait.

Streamed bodies (`icframework.replica.gateway.StreamedResponse`) become a
``StreamingHttpResponse``: headers and the first chunk go out at once, and each further
chunk is one callback query made when the server asks for it. Under ASGI the body is an
async iterator that runs each query in a worker thread (Django would otherwise read a
sync iterator to the end before sending a byte); when the client disconnects, Django
cancels the response and the stream is closed, so no further query is made (one
already running completes and is dropped). A stream that fails after the status was
sent (`icframework.replica.gateway.StreamAborted`) is logged and re-raised, so the
server closes the connection: the client sees a truncated body, never a complete one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest as DjangoRequest
from django.http import HttpResponse, HttpResponseBase, HttpResponseRedirect, StreamingHttpResponse
from django.utils.encoding import escape_uri_path

from icframework.core import ErrorCode, Principal
from icframework.replica.errors import CanisterError
from icframework.replica.gateway import (
    BodyStream,
    CanisterBackend,
    CanisterRoute,
    Gateway,
    GatewayError,
    GatewayResponse,
    HttpRequest,
    StreamAborted,
    StreamedResponse,
    canister_url,
    resolve_canister,
)
from icframework.replica.http.errors import error_status
from icframework.replica.service import ReplicaService, get_service
from icframework.replica.state import IngressState

__all__ = ["GatewayMiddleware", "ServiceBackend", "canister_origin", "canister_origin_url",
           "set_gateway_backend"]

UPDATE_TIMEOUT_SECONDS = 60.0

logger = logging.getLogger(__name__)

_backend: CanisterBackend | None = None


def set_gateway_backend(backend: CanisterBackend | None) -> None:
    """Serve canister pages in this process through ``backend`` (a scale-out front end's
    copies and writers); None: the process's `ReplicaService` (`ServiceBackend`) again."""
    global _backend
    _backend = backend


def _canister_backend() -> CanisterBackend | None:
    if _backend is not None:
        return _backend
    service = get_service()
    return None if service is None else ServiceBackend(service)


class ServiceBackend:
    """A `CanisterBackend` on a running `ReplicaService` (calls are made as anonymous)."""

    def __init__(self, service: ReplicaService, *,
                 update_timeout_seconds: float = UPDATE_TIMEOUT_SECONDS) -> None:
        self.service = service
        self.update_timeout_seconds = update_timeout_seconds

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        """Run a query with the canister's data certificate; raise `CanisterError` on reject."""
        return self.service.run(lambda replica: replica.query(canister_id, method, arg))

    def update(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        """Submit an update call and wait (at most ``update_timeout_seconds``) for its reply,
        with the service's one submit-and-wait.

        Raises `CanisterError` on a reject and `GatewayError` (504) on the timeout.
        """
        outcome = self.service.submit_and_wait_blocking(
            lambda replica: replica.submit(canister_id, method, arg),
            timeout=self.update_timeout_seconds)
        status = outcome.status
        if status is None:
            raise GatewayError(
                504, f"{method} on canister {canister_id} was not answered within "
                f"{self.update_timeout_seconds:g} s")
        if status.state is IngressState.REPLIED and status.reply is not None:
            return status.reply
        if status.reject is None:
            raise GatewayError(
                502, f"{method} on canister {canister_id} ended as {status.state.value} "
                "without a reply")
        raise CanisterError(
            status.reject.error_code or ErrorCode.CANISTER_REJECTED_MESSAGE, status.reject.message)

    def root_key(self) -> bytes:
        # Fixed when the replica was opened: read without a trip to the replica's thread.
        return self.service.replica.subnet.config.root_key

    def now_ns(self) -> int:
        # The subnet's injected clock (wall time), safe to read from any thread.
        return self.service.replica.subnet.clock()


def _django_response(answer: GatewayResponse | StreamedResponse, *,
                     asynchronous: bool = False) -> HttpResponseBase:
    """The Django response for ``answer``; a streamed body as a sync iterator, or (for
    ASGI, ``asynchronous``) an async one whose queries run in worker threads."""
    response: HttpResponseBase
    if isinstance(answer, StreamedResponse):
        content = (_async_body(answer.body) if asynchronous else _sync_body(answer.body))
        response = StreamingHttpResponse(content, status=answer.status)
    else:
        response = HttpResponse(answer.body, status=answer.status)
    del response["Content-Type"]
    merged: dict[str, tuple[str, str]] = {}
    for name, value in answer.headers:
        key = name.lower()
        # Django keeps one value per header; repeated headers are joined as RFC 9110 allows.
        merged[key] = (name, f"{merged[key][1]}, {value}") if key in merged else (name, value)
    for name, value in merged.values():
        response[name] = value
    return response


def _log_abort(exc: StreamAborted) -> None:
    logger.warning("closing the connection, the response is incomplete: %s", exc.message)


def _sync_body(stream: BodyStream) -> Iterator[bytes]:
    """``stream`` for a WSGI server (or the test client): closed when the response is."""
    try:
        yield from stream
    except StreamAborted as exc:
        _log_abort(exc)
        raise
    finally:
        stream.close()


def _next_piece(stream: BodyStream) -> bytes | None:
    return next(stream, None)


async def _async_body(stream: BodyStream) -> AsyncIterator[bytes]:
    """``stream`` for an ASGI server: each chunk's query in a worker thread; closed when
    the client goes away (Django cancels the response) or the body ends."""
    read = sync_to_async(_next_piece, thread_sensitive=False)
    try:
        while (piece := await read(stream)) is not None:
            yield piece
    except StreamAborted as exc:
        _log_abort(exc)
        raise
    finally:
        stream.close()


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def canister_origin(request: DjangoRequest, canister_id: Principal) -> str:
    """The origin serving ``canister_id``: ``<scheme>://<canister-id>.localhost[:port]``,
    with this server's own port (``SERVER_PORT``, never the ``Host`` header)."""
    port = str(request.get_port())
    default = "443" if request.scheme == "https" else "80"
    authority = f"{canister_id.to_text()}.localhost"
    if port.isdigit() and port != default:
        authority += f":{int(port)}"
    return f"{request.scheme}://{authority}"


def canister_origin_url(request: DjangoRequest, canister_id: Principal) -> str:
    """Where a ``?canisterId=`` request belongs: the same path and query (minus
    ``canisterId``) on the canister's own origin (`canister_origin`).

    Built from the parsed principal, the server's port, the percent-encoded path and the
    re-encoded query, so no text of the request can choose the origin or break out of
    the ``Location`` header.
    """
    kept = [(name, value) for name, value in parse_qsl(request.META.get("QUERY_STRING", ""),
                                                        keep_blank_values=True)
            if name != "canisterId"]
    query = f"?{urlencode(kept)}" if kept else ""
    return f"{canister_origin(request, canister_id)}{escape_uri_path(request.path)}{query}"


def _redirect_to_canister_origin(request: DjangoRequest, canister_id: Principal) -> HttpResponse:
    location = canister_origin_url(request, canister_id)
    # 307 keeps the method and body, so a POST reaches the canister as a POST.
    response = HttpResponseRedirect(
        location, status=307, content_type="text/plain; charset=utf-8",
        content=f"canister {canister_id.to_text()} is served on its own origin: {location}\n")
    response["Cache-Control"] = "no-store"
    return response


class GatewayMiddleware:
    """Serve canister HTTP requests before Django's URL router sees them (module docstring).

    Works in sync and async stacks; under ASGI, gateway requests run in worker threads
    (not Django's one thread for sync code), so a slow canister does not hold up
    other requests.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[DjangoRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: DjangoRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        route = self._route(request)
        if route is None:
            return self.get_response(request)
        if isinstance(route, HttpResponse):
            return route
        return self._serve(request, route)

    async def _acall(self, request: DjangoRequest) -> HttpResponseBase:
        route = self._route(request)
        if route is None:
            response: HttpResponseBase = await self.get_response(request)
            return response
        if isinstance(route, HttpResponse):
            return route
        return await sync_to_async(self._serve, thread_sensitive=False)(
            request, route, asynchronous=True)

    @staticmethod
    def _route(request: DjangoRequest) -> CanisterRoute | HttpResponse | None:
        """The target canister on its own origin; a redirect there for a ``canisterId``
        request on another host; a 400 response for a bad canister id; or None (not ours)."""
        host, path = request.get_host(), request.path
        try:
            on_own_origin = resolve_canister(host, path, "")
            if on_own_origin is not None:
                return on_own_origin
            named = resolve_canister(host, path, request.META.get("QUERY_STRING", ""))
        except GatewayError as exc:
            return _text(*error_status(exc))
        if named is None:
            return None
        return _redirect_to_canister_origin(request, named.canister_id)

    @staticmethod
    def _serve(request: DjangoRequest, route: CanisterRoute, *,
               asynchronous: bool = False) -> HttpResponseBase:
        backend = _canister_backend()
        if backend is None:
            return _text(503, "this process serves no replica: start it with "
                              "`python manage.py runreplica`")
        gateway_request = HttpRequest(
            method=(request.method or "GET").upper(),
            url=canister_url(escape_uri_path(request.path), request.META.get("QUERY_STRING", "")),
            headers=tuple(request.headers.items()),
            body=request.body,
        )
        answer = Gateway(backend).open(
            route.canister_id, gateway_request, verify=not route.raw)
        return _django_response(answer, asynchronous=asynchronous)
