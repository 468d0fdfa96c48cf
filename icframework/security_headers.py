"""The origin policy of every page the replica serves itself: the security headers middleware.

`SecurityHeadersMiddleware` sits right after `GatewayMiddleware` in ``MIDDLEWARE``, so it
sees every response of the URL router (the reference apps' pages, the dashboard, static
files) and never a canister's: canister content is served by the gateway on
its own ``<canister-id>.localhost`` origin. It adds, where the view did not set its own:

* ``Content-Security-Policy``: scripts, styles and connections from this origin only
  (plus the page's WebSocket at ``ws(s)://<host>``), no inline script, no plugin, no
  ``<base>``, no framing (`icframework.pages.set_page_security` writes it; a view that
  needs more, such as the marketplace's images from its canister's origin, writes its
  own with that function).
* ``Cross-Origin-Opener-Policy: same-origin``: no window of another origin (a canister
  page a user opened from here, say) keeps a handle on ours.
* ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: no-referrer``.

The IC HTTP interface (``/api/``) is answered in front of Django (``config.asgi``); its
answers (CBOR and plain text, never a page) carry `API_HEADERS`: the headers above and
a CSP that allows nothing at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase

from icframework.pages import set_page_security

__all__ = ["API_HEADERS", "SECURITY_HEADERS", "SecurityHeadersMiddleware",
           "add_security_headers"]

SECURITY_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
API_HEADERS: dict[str, str] = {
    **SECURITY_HEADERS,
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def add_security_headers(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    """Set the origin policy on ``response``, keeping any of these headers it already has."""
    if "Content-Security-Policy" not in response:
        set_page_security(request, response)  # type: ignore[arg-type]
    for name, value in SECURITY_HEADERS.items():
        response.setdefault(name, value)
    return response


class SecurityHeadersMiddleware:
    """Add `SECURITY_HEADERS` and a strict CSP to every response of the URL router."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return add_security_headers(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        return add_security_headers(request, await self.get_response(request))
