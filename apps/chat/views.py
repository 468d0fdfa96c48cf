"""The chat page: finds the deployed chat canister and serves the page that talks to it.

The page does everything in the browser with the user's own key (static/chat/chat.js):
the server only says which canister to talk to — the id ``manage.py deploy chat``
recorded — and serves the canister's Candid interface, ``apps/chat/chat.did``. When the
record is missing, or names a canister this replica does not run, the page says how to
deploy the app instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from icframework.core import Principal
from icframework.deployments import canister_ids_path, recorded_id
from icframework.replica.embedded import Replica
from icframework.replica.service import get_service

APP_NAME = "chat"
DID_PATH = Path(__file__).resolve().parent / "chat.did"
DEPLOY_COMMAND = "python manage.py deploy chat"


@dataclass(frozen=True, slots=True)
class ChatCanister:
    """Where the chat canister is: its id, or ``None`` and why (for the page to show)."""

    canister_id: Principal | None
    problem: str


def _installed(canister_id: Principal) -> bool:
    """Whether the replica this process serves runs a module in ``canister_id``; True
    when this process serves no replica (the record is all there is to go on)."""
    service = get_service()
    if service is None:
        return True

    def check(replica: Replica) -> bool:
        state = replica.subnet.canisters.get(canister_id.raw)
        return state is not None and state.module_hash is not None

    return service.run(check)


def find_chat_canister(replica_url: str) -> ChatCanister:
    """The chat canister recorded for the network at ``replica_url`` and checked against
    the running replica."""
    canister_id = recorded_id(APP_NAME, replica_url)
    if canister_id is None:
        return ChatCanister(None, f"{canister_ids_path()} records no canister named {APP_NAME!r}")
    if not _installed(canister_id):
        return ChatCanister(
            None,
            f"the recorded chat canister {canister_id.to_text()} is not installed on this "
            "replica (a fresh replica state?)",
        )
    return ChatCanister(canister_id, "")


def index(request: HttpRequest) -> HttpResponse:
    """The chat page, or how to deploy the chat canister when there is none."""
    found = find_chat_canister(request.build_absolute_uri("/").rstrip("/"))
    config = None
    if found.canister_id is not None:
        config = {
            "canisterId": found.canister_id.to_text(),
            "host": request.build_absolute_uri("/").rstrip("/"),
            "didUrl": reverse("chat:interface"),
        }
    response = render(
        request,
        "chat/index.html",
        {"config": config, "problem": found.problem, "deploy_command": DEPLOY_COMMAND},
    )
    # Defence in depth behind the page's own safe rendering: no inline script, no
    # script, frame or plugin from anywhere else, connections to this replica only.
    host = request.get_host()
    response["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self' ws://{host} wss://{host}; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    return response


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/chat/chat.did``, the interface ``manage.py build chat`` writes."""
    response = FileResponse(DID_PATH.open("rb"), content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
