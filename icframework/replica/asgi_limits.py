"""Request limits at the ASGI boundary: body sizes, requests in flight and open WebSockets.

How it works: `RequestLimits` wraps the whole ASGI application (``config.asgi``), in
front of Django and Channels, so nothing behind it reads a byte it should not:

* **Body size.** Each request gets the limit of what it addresses (`body_limit`): the
  IC HTTP interface under ``/api/`` 2 MiB (the IC's ingress limit), the HTTP gateway
  ``ICFRAMEWORK["GATEWAY_MAX_REQUEST_BYTES"]``, pages and everything else
  ``ICFRAMEWORK["PAGE_MAX_REQUEST_BYTES"]``. A declared ``Content-Length`` over it is
  answered 413 before the application runs, so no body byte reaches it; a streamed
  (chunked) body is counted as the server hands it over and, once past the limit,
  answered 413 at once while the application is told the client went away. A WebSocket
  upgrade has no body: one that declares any is refused with 413.
* **Lingering close.** A 413 (and a 503 to a chunked body) closes the connection, but
  not at once: a client still sending its body (httpx writes the whole request before
  reading the answer; undici reads meanwhile, but fails the request when its write
  fails) would have its unread bytes make the kernel reset the connection, and the reset
  loses the 413 (undici's "fetch failed"). So the answer is written whole, then the rest
  of the body is read and discarded (`linger`), for at most `LINGER_MAX_BYTES` and at
  most `LINGER_SECONDS`, and then the connection is closed: a client that finished
  sending in that budget reads the 413 and its message from a cleanly closed connection,
  one still sending past it is cut off (reset), one sending nothing waits no longer than
  the time. Discarded bytes are counted, never kept (the server holds at most its own
  read buffer, 64 KiB plus one socket read with uvicorn), no application runs, and the
  request's place (below) is given back before lingering, so lingering clients never
  keep others waiting.
* **Back-pressure.** At most ``ICFRAMEWORK["MAX_CONCURRENT_REQUESTS"]`` HTTP requests
  run at once; a request past that waits (first come, first served, costing no CPU) up
  to ``ICFRAMEWORK["REQUEST_QUEUE_SECONDS"]`` for a place and is then answered 503 with
  ``Retry-After``, so a client is told to come back rather than being reset, and
  clients that retry at once cannot keep the server busy answering refusals. At most
  ``ICFRAMEWORK["MAX_WEBSOCKETS"]`` WebSockets are open; past that an upgrade gets the
  503 at once.

Why the lingering lives here, not in the HTTP server: ``manage.py runreplica`` serves
with uvicorn, which closes a ``Connection: close`` response's socket the moment the
application completes it, with no lingering of its own; changing that would mean
subclassing its private protocol class. The ASGI contract already gives what lingering
needs: the 413 is sent whole with ``more_body`` still open (its ``Content-Length`` is
met, so the client has the complete answer), the application keeps calling ``receive``
to read and drop the body (uvicorn goes on handing it over until the response is
complete, under its flow control), and the final empty body message makes uvicorn close.
It is the same on any server that hands the body over as it arrives and writes a body
message when it is sent.

The server must hand the body over as it arrives (uvicorn does, with flow control;
daphne buffers the whole body before calling the application, which is why
``manage.py runreplica`` serves with uvicorn). Settings are read on each request
through `icframework.conf.get_setting`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from icframework.conf import ConfigurationError, get_setting
from icframework.replica.gateway import GatewayError, resolve_canister
from icframework.replica.http.validation import (
    MAX_REQUEST_BYTES,
    digits_exceed,
    length_digits,
    shown_digits,
)

__all__ = [
    "API_MAX_REQUEST_BYTES",
    "LINGER_MAX_BYTES",
    "LINGER_SECONDS",
    "RETRY_AFTER_SECONDS",
    "Message",
    "RequestLimits",
    "body_limit",
    "linger",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Application = Callable[[Scope, Receive, Send], Awaitable[None]]

API_MAX_REQUEST_BYTES = MAX_REQUEST_BYTES
RETRY_AFTER_SECONDS = 1
LINGER_MAX_BYTES = 8 * 1024 * 1024
"""The most body bytes read and discarded after a refusal that closes the connection,
before it is closed: four times the ``/api/`` limit, so an agent that installs a module
of up to 8 MiB directly (instead of in chunks), writing it whole before reading, reads
the 413 telling it to use chunks; past it the client is cut off (one that reads while it
writes, like undici, has the 413 by then: a 20 MB body got it 10 times in 10). Reading
is cheap (the whole cap: 12-18 ms measured over loopback, the client's sending
included) and nothing is kept."""
LINGER_SECONDS = 2.0
"""The longest a refused request's connection stays open to discard its body: enough
for the cap over a fast link (8 MiB at 40 Mbit/s), short enough that a client sending
slowly or nothing holds only a connection, never a place, for no longer."""
# CORS headers on the refusals under /api/, so browser agents can read the status.
_API_CORS = ((b"access-control-allow-origin", b"*"),)
_DISCONNECT: Message = {"type": "http.disconnect"}
_END: Message = {"type": "http.response.body", "body": b"", "more_body": False}
_API_LIMIT = "the IC's ingress limit for /api/"


def body_limit(scope: Scope) -> tuple[int, str]:
    """The largest request body (bytes) for the request ``scope`` and what sets it.

    The second value names the limit (a setting, or the IC's ingress limit for ``/api/``).
    """
    path: str = scope.get("path", "")
    if path.startswith("/api/"):
        return API_MAX_REQUEST_BYTES, _API_LIMIT
    host = _header(scope, b"host") or ""
    query = scope.get("query_string", b"").decode("latin-1")
    try:
        route = resolve_canister(host, path, query)
    except GatewayError:
        route = None  # the gateway answers the bad canister id itself (400)
    if route is not None:
        return (_positive_setting("GATEWAY_MAX_REQUEST_BYTES"),
                "ICFRAMEWORK['GATEWAY_MAX_REQUEST_BYTES']")
    return _positive_setting("PAGE_MAX_REQUEST_BYTES"), "ICFRAMEWORK['PAGE_MAX_REQUEST_BYTES']"


class RequestLimits:
    """ASGI middleware enforcing body sizes and concurrency (see the module docstring).

    ``sockets`` counts the WebSockets open now (one instance serves one event loop, so
    a plain counter suffices); HTTP requests take places of a semaphore.
    """

    def __init__(self, app: Application) -> None:
        self.app = app
        self.sockets = 0
        self._places: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        """Places for requests, sized by the setting on first use (read lazily)."""
        if self._places is None:
            self._places = asyncio.Semaphore(_positive_setting("MAX_CONCURRENT_REQUESTS"))
        return self._places

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- HTTP ---------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, name = body_limit(scope)
        cors = _API_CORS if scope.get("path", "").startswith("/api/") else ()
        declared = _content_length(scope)
        if declared is not None and digits_exceed(declared, limit):
            await _refuse(send, receive, 413,
                          _too_large(f"{shown_digits(declared)} bytes", limit, name), cors)
            return
        places = self._semaphore()
        if not await _place(places, _queue_seconds()):
            maximum = _positive_setting("MAX_CONCURRENT_REQUESTS")
            busy = _busy(f"{maximum} requests are in progress",
                         "ICFRAMEWORK['MAX_CONCURRENT_REQUESTS']")
            retry = (*cors, (b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            if declared is None and _header(scope, b"transfer-encoding") is not None:
                # A chunked body of unknown length is not worth reading past the answer.
                await _refuse(send, receive, 503, busy, retry)
            else:  # uvicorn reads a declared body (at most the limit) past the answer
                await _answer(send, 503, busy, retry)
            return
        received = 0
        refused = False  # the body went past the limit
        lingering = False  # ...and its 413 is sent, all but the closing of the response
        started = False

        async def counted_receive() -> Message:
            nonlocal received, refused, lingering
            if refused:
                return _DISCONNECT
            message = await receive()
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            if received <= limit:
                return message
            refused = True
            if not started:
                await _answer(send, 413, _too_large(f"over {limit} bytes (reading stopped at "
                                                    f"{received})", limit, name),
                              cors, close=True, more_body=True)
                lingering = message.get("more_body", False)
                if not lingering:  # the whole body is in: nothing to linger for
                    await send(_END)
            return _DISCONNECT

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; the application's answer is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        finally:
            places.release()
        if lingering:
            await linger(receive)
            await send(_END)

    # -- WebSockets --------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _content_length(scope)
        if declared == "0":  # an empty body is no body
            declared = None
        if declared or _header(scope, b"transfer-encoding") is not None:
            await _deny_upgrade(scope, receive, send, 413,
                                "a WebSocket upgrade carries no body, but this one declares "
                                + (f"{shown_digits(declared)} bytes" if declared
                                   else "a chunked body")
                                + "; send the upgrade request without one", ())
            return
        maximum = _positive_setting("MAX_WEBSOCKETS")
        if self.sockets >= maximum:
            await _deny_upgrade(scope, receive, send, 503,
                                _busy(f"{maximum} WebSockets are open",
                                      "ICFRAMEWORK['MAX_WEBSOCKETS']"),
                                ((b"retry-after", str(RETRY_AFTER_SECONDS).encode()),))
            return
        self.sockets += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.sockets -= 1


async def _place(places: asyncio.Semaphore, seconds: float) -> bool:
    """Take a place, waiting at most ``seconds``; False if none came free in time."""
    if not places.locked():
        await places.acquire()
        return True
    try:
        await asyncio.wait_for(places.acquire(), seconds)
    except TimeoutError:
        return False
    return True


def _queue_seconds() -> float:
    value = get_setting("REQUEST_QUEUE_SECONDS")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(
            f"ICFRAMEWORK['REQUEST_QUEUE_SECONDS'] must be a number of seconds >= 0, "
            f"not {value!r}")
    return float(value)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            text: str = value.decode("latin-1")
            return text
    return None


def _content_length(scope: Scope) -> str | None:
    """The declared body length's digits (`length_digits`: compared by their digits,
    never converted whole), or None if there is none or it is not a number."""
    value = _header(scope, b"content-length")
    return None if value is None else length_digits(value)


def _positive_setting(name: str) -> int:
    value = get_setting(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigurationError(
            f"ICFRAMEWORK[{name!r}] must be a positive whole number, not {value!r}")
    return value


def _too_large(size: str, limit: int, name: str) -> str:
    fix = (" (large Wasm modules go through upload_chunk and install_chunked_code)"
           if name == _API_LIMIT else f", or raise {name}")
    return (f"Request body is {size}, larger than the maximum of {limit} bytes ({name}); "
            f"send less{fix}.")


def _busy(what: str, name: str) -> str:
    return (f"The replica is busy: {what}, the maximum set by {name}; retry after "
            f"{RETRY_AFTER_SECONDS} s.")


async def _answer(send: Send, status: int, message: str,
                  headers: tuple[tuple[bytes, bytes], ...], *, close: bool = False,
                  more_body: bool = False) -> None:
    """Send a plain-text answer; with ``more_body`` its whole text is sent but the
    response is left open, to be completed by `_END`."""
    body = (message + "\n").encode("utf-8")
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            *headers,
            *([(b"connection", b"close")] if close else []),
        ],
    })
    await send({"type": "http.response.body", "body": body, "more_body": more_body})


async def _refuse(send: Send, receive: Receive, status: int, message: str,
                  headers: tuple[tuple[bytes, bytes], ...]) -> None:
    """Answer ``status`` before reading the body, then linger and close the connection."""
    await _answer(send, status, message, headers, close=True, more_body=True)
    await linger(receive)
    await send(_END)


async def linger(receive: Receive) -> int:
    """Read and discard what is left of a refused request's body: until it ends or the
    client goes away, but at most `LINGER_MAX_BYTES` (the server hands the body over
    in pieces, so the count may pass the cap by one piece) and at most `LINGER_SECONDS`.
    Returns the bytes discarded. Nothing is kept; the caller then closes the connection.
    """
    discarded = 0
    try:
        async with asyncio.timeout(LINGER_SECONDS):
            while discarded < LINGER_MAX_BYTES:
                message = await receive()
                if message["type"] != "http.request":
                    break
                discarded += len(message.get("body", b""))
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        pass
    return discarded


async def _deny_upgrade(scope: Scope, receive: Receive, send: Send, status: int, message: str,
                        headers: tuple[tuple[bytes, bytes], ...]) -> None:
    """Refuse a WebSocket upgrade with an HTTP answer (the ASGI denial-response extension,
    which uvicorn offers); servers without it can only close, which clients see as 403."""
    connect = await receive()
    if connect["type"] != "websocket.connect":
        return
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = (message + "\n").encode("utf-8")
    await send({
        "type": "websocket.http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "websocket.http.response.body", "body": body})
