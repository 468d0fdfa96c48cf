"""The chat page: finds the deployed chat canister and serves the page that talks to it.

The page does everything in the browser with the user's own key (static/chat/chat.js):
the server only says which canister to talk to — the id ``manage.py deploy chat``
recorded, and its own origin, where attachments are served (the page's CSP allows that
origin for images and media only) — and serves the canister's Candid interface,
``apps/chat/chat.did``. When the
record is missing, or names a canister this replica does not run, the page says how to
deploy the app instead (`icframework.pages`).
"""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from icframework.pages import (
    AppCanister,
    candid_response,
    find_app_canister,
    replica_base_url,
    set_page_security,
)
from icframework.replica import canister_origin

APP_NAME = "chat"
DID_PATH = Path(__file__).resolve().parent / "chat.did"
DEPLOY_COMMAND = "python manage.py deploy chat"


def find_chat_canister(replica_url: str) -> AppCanister:
    """The chat canister recorded for the network at ``replica_url`` and checked against
    the running replica."""
    return find_app_canister(APP_NAME, replica_url)


def index(request: HttpRequest) -> HttpResponse:
    """The chat page, or how to deploy the chat canister when there is none."""
    base = replica_base_url(request)
    found = find_chat_canister(base)
    config = None
    origin = ""
    if found.canister_id is not None:
        origin = canister_origin(request, found.canister_id)
        config = {
            "canisterId": found.canister_id.to_text(),
            "canisterOrigin": origin,
            "host": base,
            "didUrl": reverse("chat:interface"),
        }
    response = render(
        request,
        "chat/index.html",
        {"config": config, "problem": found.problem, "deploy_command": DEPLOY_COMMAND},
    )
    # Attachments are served by the canister on its own origin: images and media, and the
    # sealed ones the page fetches to decrypt (shown from blob: URLs).
    images = f"'self' data: blob: {origin}" if origin else "'self' data: blob:"
    media = f"'self' blob: {origin}" if origin else "'self' blob:"
    return set_page_security(request, response, img_src=images, media_src=media,
                             connect_src=origin)


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/chat/chat.did``, the interface ``manage.py build chat`` writes."""
    return candid_response(DID_PATH)
