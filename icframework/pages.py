"""What an app's browser page needs from the server: which canister to talk to, and safe headers.

A reference app's page does everything in the browser with the user's own key; the
server only says which canister to talk to (the id ``manage.py deploy <app>`` recorded
in `icframework.deployments`, checked against the replica this process serves), serves
the app's Candid interface, and sets a strict Content-Security-Policy. The views of
``apps.chat`` and ``apps.marketplace`` are thin adapters around these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse

from icframework.core import Principal
from icframework.deployments import canister_ids_path, recorded_id
from icframework.replica import Replica, get_service

__all__ = ["AppCanister", "candid_response", "find_app_canister", "replica_base_url",
           "set_page_security"]


@dataclass(frozen=True, slots=True)
class AppCanister:
    """Where an app's canister is: its id, or ``None`` and why (for the page to show)."""

    canister_id: Principal | None
    problem: str


def _installed(canister_id: Principal) -> bool:
    """Whether the replica this process serves runs a module in ``canister_id``; True
    when this process serves no replica (the record is all there is to go on)."""
    service = get_service()
    if service is None:
        return True

    def check(replica: Replica) -> bool:
        state = replica.canister_record(canister_id)
        return state is not None and state.module_hash is not None

    return service.run(check)


def find_app_canister(name: str, replica_url: str) -> AppCanister:
    """The canister recorded as ``name`` for the network at ``replica_url``, checked
    against the running replica."""
    canister_id = recorded_id(name, replica_url)
    if canister_id is None:
        return AppCanister(None, f"{canister_ids_path()} records no canister named {name!r}")
    if not _installed(canister_id):
        return AppCanister(
            None,
            f"the recorded {name} canister {canister_id.to_text()} is not installed on this "
            "replica (a fresh replica state?)",
        )
    return AppCanister(canister_id, "")


def replica_base_url(request: HttpRequest) -> str:
    """The URL of the replica serving ``request`` (no trailing slash)."""
    return request.build_absolute_uri("/").rstrip("/")


def set_page_security(request: HttpRequest, response: HttpResponse, *,
                      img_src: str = "'self' data:",
                      media_src: str | None = None, connect_src: str = "") -> HttpResponse:
    """Defence in depth behind the page's own safe rendering: no inline script, no
    script, frame or plugin from anywhere else, connections to this replica only.
    ``img_src`` widens where images may come from (e.g. canister gateway hosts);
    ``media_src``, when given, where audio and video may come from (without it, media
    follow ``default-src 'self'``); ``connect_src``, origins beyond this replica that
    ``fetch`` may read (e.g. a canister's origin, for bytes the page decrypts itself)."""
    host = request.get_host()
    media = f"media-src {media_src}; " if media_src is not None else ""
    connect = f"'self' ws://{host} wss://{host}" + (f" {connect_src}" if connect_src else "")
    response["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self'; style-src 'self'; img-src {img_src}; "
        f"{media}connect-src {connect}; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def candid_response(path: Path) -> HttpResponse:
    """An app's ``.did`` file as text, never cached (it changes with each build)."""
    response = FileResponse(path.open("rb"), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
