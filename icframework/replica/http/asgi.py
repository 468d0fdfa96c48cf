"""The IC HTTP interface (``/api/v2``, ``/api/v3``) as a lean ASGI application in front of Django.

How it works: `ApiApplication` wraps the project's ASGI application (``config.asgi``)
and answers every HTTP request whose path starts with ``/api/`` itself, on the
server's event loop: no Django middleware, no URL resolver, no thread hop but the one
to the replica's thread. Anything else goes on to the wrapped application.

Per request: the route is matched (`ROUTES`, the IC's endpoints), ``OPTIONS`` is
answered as a CORS preflight, other methods than the route's get 405 with ``Allow``;
the body is read and checked (`validation.check_content_length`, `check_body`); the
envelope is decoded and its signature verified right here on the event loop (pure
work, ~90 µs); the replica's part goes through `ReplicaService.call` (queries, status,
read_state authorisation: inline on the event loop while the replica's thread idles,
else queued for that thread) or `ReplicaService.submit_and_wait` (calls; v3 waits for the
certified outcome, resolved by the commit that answers it). A query runs on the event
loop only within `INLINE_QUERY_INSTRUCTIONS`; one that needs more is run again in a
worker thread with the full query limit (queries change nothing, so the retry is
safe), so no query can hold up the event loop, and with it every other request and
WebSocket, for longer than that budget. Query
responses are signed and read_state certificates pruned back on the event loop.
Errors become HTTP answers in one place, `errors.error_status`; anything else is logged
and answered with a plain 500 that reveals nothing. Every answer carries the CORS
headers, so browser agents can read it.

`submit_call_body` and `query_body` are the same requests without HTTP: the canister
WebSocket sends its signed calls and queries through them.

**Backends.** Where the replica's part runs is an `ApiBackend`: by default the embedded
one (`EmbeddedBackend`: this process's `ReplicaService` for everything). A scale-out
front end sets another with `set_api_backend`: a `ReplicaReader` per subnet (a
read-only copy) for queries, read_state and status, chosen by the effective canister id
or subnet id, and its own submission (to the subnet's writer) for calls. Its
submission goes through `forward_call`, which runs the same submission checks as the
embedded path on the reader before handing the envelope on, so both answer alike.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from icframework.core import Principal
from icframework.protocol import (
    CallContent,
    Envelope,
    ProtocolError,
    QueryContent,
    ReadStateContent,
)
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.http import endpoints
from icframework.replica.http.endpoints import ACCEPTED, ApiResponse
from icframework.replica.http.errors import (
    INTERNAL_SERVER_ERROR,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
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

__all__ = [
    "API_PREFIX",
    "CALL_WAIT_SECONDS",
    "CORS_HEADERS",
    "ROUTES",
    "ApiApplication",
    "ApiBackend",
    "EmbeddedBackend",
    "ReplicaReader",
    "api_backend",
    "forward_call",
    "query_body",
    "set_api_backend",
    "submit_call_body",
]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Application = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

API_PREFIX = "/api/"
CALL_WAIT_SECONDS = 10.0
"""How long a v3 call waits for its certified outcome before answering 202."""
INLINE_QUERY_INSTRUCTIONS = 20_000_000
"""The instructions a query may use on the event loop (a few milliseconds of wasm);
one that needs more runs again in a worker thread under the full query limit."""
CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, HEAD, OPTIONS"),
    (b"access-control-allow-headers", b"Accept, Authorization, Content-Type"),
)
PREFLIGHT_MAX_AGE_SECONDS = 86400
NOT_FOUND_TEXT = ("Not found: no endpoint of the IC HTTP interface has this path; "
                  "see /api/v2/status.\n")
INTERNAL_ERROR_TEXT = "Internal error of the replica; the server log has the details."
_TEXT = "text/plain; charset=utf-8"


class _Disconnected(Exception):
    """The client went away before its body was read: there is nobody to answer."""


# -- the replica's part ------------------------------------------------------------------------

T = TypeVar("T")


class ReplicaReader(Protocol):
    """A replica to read from: a `ReplicaService`, or a front end's read-only copy."""

    @property
    def replica(self) -> Replica: ...

    def run(self, work: Callable[[Replica], T]) -> T: ...

    async def call(self, work: Callable[[Replica], T]) -> T: ...


class ApiBackend(Protocol):
    """Where the endpoints' replica work runs (see the module docstring).

    The ``reader*`` methods raise `HttpError` (404, 503) when no replica serves the id.
    """

    def reader(self, ecid: Principal) -> ReplicaReader:
        """The replica of the subnet hosting effective canister id ``ecid``."""
        ...

    def subnet_reader(self, subnet_id: Principal) -> ReplicaReader:
        """The replica of subnet ``subnet_id``."""
        ...

    def root_reader(self) -> ReplicaReader:
        """The root subnet's replica (``/api/v2/status``)."""
        ...

    async def submit(self, body: bytes, envelope: Envelope, ecid: Principal, *,
                     v3: bool) -> ApiResponse:
        """A decoded, signature-checked call envelope's response (see `submit_call_body`)."""
        ...


class EmbeddedBackend:
    """The embedded replica: this process's `ReplicaService` serves everything."""

    def reader(self, ecid: Principal) -> ReplicaReader:
        return _service()

    def subnet_reader(self, subnet_id: Principal) -> ReplicaReader:
        return _service()

    def root_reader(self) -> ReplicaReader:
        return _service()

    async def submit(self, body: bytes, envelope: Envelope, ecid: Principal, *,
                     v3: bool) -> ApiResponse:
        service = _service()

        def submit(replica: Any) -> bytes:
            submitted = endpoints.submit_call(replica, envelope, ecid)
            if isinstance(submitted, CanisterError):
                raise submitted
            return submitted.request_id

        try:
            if not v3:
                await service.call(submit)
                return ApiResponse(ACCEPTED)
            outcome = await service.submit_and_wait(submit, timeout=CALL_WAIT_SECONDS,
                                                    certify=True)
        except CanisterError as error:
            return endpoints.non_replicated_rejection(error, v3=v3)
        if outcome.certificate is None:
            return ApiResponse(ACCEPTED)
        return endpoints.cbor_response({"status": "replied",
                                        "certificate": outcome.certificate})


_EMBEDDED = EmbeddedBackend()
_backend: ApiBackend = _EMBEDDED


def set_api_backend(backend: ApiBackend | None) -> None:
    """Serve the IC HTTP interface (and the canister socket's calls and queries) from
    ``backend`` in this process; None: the embedded replica again."""
    global _backend
    _backend = _EMBEDDED if backend is None else backend


def api_backend() -> ApiBackend:
    """The backend this process serves the IC HTTP interface from (for other readers of
    canisters, such as the canister socket's ``can_subscribe`` check)."""
    return _backend


def _service() -> ReplicaService:
    service = get_service()
    if service is None:
        raise HttpError(
            SERVICE_UNAVAILABLE,
            "This process serves no replica; start one with `python manage.py runreplica`.",
        )
    return service


async def forward_call(
    reader: ReplicaReader, envelope: Envelope, ecid: Principal, *, v3: bool,
    forward: Callable[[], Awaitable[ApiResponse | None]],
    catch_up: Callable[[], Awaitable[None]] | None = None,
) -> ApiResponse:
    """A call handed to another process's writer, answered as the embedded path answers:
    the submission checks (effective canister id, ``canister_inspect_message``, stopped
    or missing canister) run on ``reader`` first and give the same non-replicated
    rejection; a call ``reader`` already saw answered gets its certificate at once (v3);
    else ``forward()`` hands the envelope on and gives the writer's answer, or None for
    202 (v2, or a v3 call not answered in time).

    ``reader`` may lag the writer (a copy): before refusing, ``catch_up()`` brings it to
    the writer's latest round and the checks run again, so a call is never refused for
    a state its sender already saw change (say, a module just installed)."""
    content = envelope.content
    assert isinstance(content, CallContent)

    def check(replica: Replica) -> CanisterError | bytes | None:
        known = endpoints.known_call(replica, envelope, ecid)
        if known:
            return endpoints.call_certificate(replica, envelope.request_id) if v3 else None
        return endpoints.check_call(replica, envelope, ecid)

    checked = await reader.call(check)
    if isinstance(checked, CanisterError) and catch_up is not None:
        await catch_up()
        checked = await reader.call(check)
    if isinstance(checked, CanisterError):
        return endpoints.non_replicated_rejection(checked, v3=v3)
    if isinstance(checked, bytes):
        return endpoints.cbor_response({"status": "replied", "certificate": checked})
    answer = await forward()
    return ApiResponse(ACCEPTED) if answer is None else answer


async def submit_call_body(body: bytes, ecid: Principal, *, v3: bool) -> ApiResponse:
    """A call envelope's response as the v2/v3 call endpoint gives it (also used by the
    canister socket): 202 once accepted (v2, or v3 unanswered after `CALL_WAIT_SECONDS`),
    the certified outcome (v3), or a CBOR non-replicated rejection. Raises what
    `error_status` maps."""
    envelope, _targets = decode_envelope(body, "call", now_ns=time.time_ns())
    return await _backend.submit(body, envelope, ecid, v3=v3)


async def query_body(body: bytes, ecid: Principal) -> ApiResponse:
    """A query envelope's signed response as the query endpoint gives it (also used by
    the canister socket). Raises what `error_status` maps."""
    envelope, _targets = decode_envelope(body, "query", now_ns=time.time_ns())
    content = envelope.content
    assert isinstance(content, QueryContent)
    check_query_target(content, ecid)
    reader = _backend.reader(ecid)
    response = await reader.call(lambda replica: endpoints.query(
        replica, content, instruction_limit=INLINE_QUERY_INSTRUCTIONS))
    if response is None:  # a heavy query: off the event loop, with the full limit
        response = await asyncio.to_thread(
            reader.run, lambda replica: endpoints.query(replica, content))
        assert response is not None
    return endpoints.sign_query(reader.replica, response, envelope.request_id)


async def _status(_body: bytes, _label: str) -> ApiResponse:
    # Two reads (the root key, the committed height) that need not wait for the replica:
    # status answers at once even while a heavy query or a long message runs.
    return endpoints.status(_backend.root_reader().replica)


async def _call_v2(body: bytes, label: str) -> ApiResponse:
    return await submit_call_body(body, parse_principal_text(label, "effective canister id"),
                                  v3=False)


async def _call_v3(body: bytes, label: str) -> ApiResponse:
    return await submit_call_body(body, parse_principal_text(label, "effective canister id"),
                                  v3=True)


async def _query(body: bytes, label: str) -> ApiResponse:
    return await query_body(body, parse_principal_text(label, "effective canister id"))


async def _canister_read_state(body: bytes, label: str) -> ApiResponse:
    ecid = parse_principal_text(label, "effective canister id")
    envelope, targets = decode_envelope(body, "read_state", now_ns=time.time_ns())
    content = envelope.content
    assert isinstance(content, ReadStateContent)
    certified = await _backend.reader(ecid).call(
        lambda replica: endpoints.authorize_canister_read(replica, content, ecid, targets))
    return endpoints.read_state_response(certified, content)


async def _subnet_read_state(body: bytes, label: str) -> ApiResponse:
    subnet = parse_principal_text(label, "subnet id")
    envelope, _targets = decode_envelope(body, "read_state", now_ns=time.time_ns())
    content = envelope.content
    assert isinstance(content, ReadStateContent)
    certified = await _backend.subnet_reader(subnet).call(
        lambda replica: endpoints.authorize_subnet_read(replica, content, subnet))
    return endpoints.read_state_response(certified, content)


# -- routes ------------------------------------------------------------------------------------


Handler = Callable[[bytes, str], Awaitable[ApiResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: the methods it takes and its handler of (body, principal label)."""

    methods: tuple[str, ...]
    handler: Handler
    reads_body: bool = True

    @property
    def allow(self) -> str:
        return ", ".join((*self.methods, "OPTIONS"))


_STATUS = Route(("GET", "HEAD"), _status, reads_body=False)
ROUTES: dict[tuple[str, str, str], Route] = {
    ("2", "canister", "call"): Route(("POST",), _call_v2),
    ("3", "canister", "call"): Route(("POST",), _call_v3),
    **{(version, "canister", "query"): Route(("POST",), _query) for version in "23"},
    **{(version, "canister", "read_state"): Route(("POST",), _canister_read_state)
       for version in "23"},
    **{(version, "subnet", "read_state"): Route(("POST",), _subnet_read_state)
       for version in "23"},
}
"""``(version, "canister" | "subnet", action)`` → route. agent-js 3.x uses v2 status, v3
call (falling back to v2), v2 query and v2 read_state; newer agents use the v3 query and
read_state routes, served identically."""
_PATH = re.compile(r"/api/v([23])/(canister|subnet)/([^/]+)/(call|query|read_state)")


def match_route(path: str) -> tuple[Route, str] | None:
    """The route of an ``/api/`` path and the principal label in it, or None (404)."""
    if path == "/api/v2/status":
        return _STATUS, ""
    found = _PATH.fullmatch(path)
    if found is None:
        return None
    version, kind, label, action = found.groups()
    route = ROUTES.get((version, kind, action))
    return None if route is None else (route, label)


# -- the ASGI adapter --------------------------------------------------------------------------


class ApiApplication:
    """Serve ``/api/`` (see the module docstring); pass everything else to ``app``.

    ``extra_headers`` go on every ``/api/`` answer (the project's origin policy).
    """

    def __init__(self, app: Application,
                 extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.app = app
        self.headers: tuple[tuple[bytes, bytes], ...] = (*CORS_HEADERS, *extra_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        extra: Headers = []
        matched = match_route(scope["path"])
        try:
            if matched is None:
                answer = _text(NOT_FOUND, NOT_FOUND_TEXT)
            elif method == "OPTIONS":
                answer = ApiResponse(204)
                extra.append((b"access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS).encode()))
            elif method not in matched[0].methods:
                route = matched[0]
                answer = _text(METHOD_NOT_ALLOWED, f"Method {method} not allowed; this endpoint "
                               f"takes {route.allow}.")
                extra.append((b"allow", route.allow.encode()))
            else:
                answer = await _answer(*matched, scope, receive)
        except _Disconnected:
            return
        await self._send(send, answer, extra, head=method == "HEAD")

    async def _send(self, send: Send, answer: ApiResponse, extra: Headers, *, head: bool) -> None:
        headers: Headers = [(b"content-length", str(len(answer.body)).encode())]
        if answer.content_type is not None:
            headers.append((b"content-type", answer.content_type.encode()))
        headers.extend(self.headers)
        headers.extend(extra)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else answer.body})


async def _answer(route: Route, label: str, scope: Scope, receive: Receive) -> ApiResponse:
    """The route's answer, with every error mapped by `error_status` (never a traceback).

    Raises `_Disconnected` only.
    """
    try:
        body = await _read_body(scope, receive) if route.reads_body else b""
        return await route.handler(body, label)
    except _Disconnected:
        raise
    except (ProtocolError, ReplicaError) as exc:
        status, message = error_status(exc)
        return _text(status, message)
    except Exception:
        logger.exception("the IC HTTP interface failed on a request")
        return _text(INTERNAL_SERVER_ERROR, INTERNAL_ERROR_TEXT)


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    """The request body, checked: declared size first (413), then size and content type.

    Raises `HttpError` or `_Disconnected`.
    """
    content_type: str | None = None
    content_length: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-length":
            content_length = value.decode("latin-1")
    check_content_length(content_length)
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    check_body(content_type, body)
    return body


def _text(status: int, message: str) -> ApiResponse:
    return ApiResponse(status, message.encode("utf-8"), _TEXT)
