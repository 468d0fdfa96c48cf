"""The short-video page: finds the deployed video canister and serves the page.

Everything happens in the browser with the user's own key (static/video/video.js): the
feeds, uploads, likes, comments, follows, tips and moderation are queries and signed
calls to the video canister through @dfinity/agent, with the actor built from
``apps/video/video.did`` served next to the page. Videos and posters are the canister's
own files, streamed by its ``http_request`` on its own origin (``<canister-id>.localhost``)
with Range answers; the page's CSP allows that origin for images and media only. Tips
are paid in the marketplace's token (the ledger recorded as ``marketplace_token``): the
page signs ``icrc2_approve`` on it, then ``tip`` on the video canister.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from apps.video.canister import limits as canister_limits
from icframework.pages import (
    candid_response,
    find_app_canister,
    replica_base_url,
    set_page_security,
)
from icframework.replica import canister_origin

APP_NAME = "video"
LEDGER_NAME = "marketplace_token"
DID_PATH = Path(__file__).resolve().parent / "video.did"
DEPLOY_COMMAND = "python manage.py deploy video"
CAPTION_CHARS = 300
"""The longest caption (the shared contract's; the canister refuses longer ones)."""

# What the upload form shows: the page config's name → the canister limit it reads.
UPLOAD_LIMITS = {
    "maxBytes": "MAX_VIDEO_BYTES",
    "maxDurationMs": "MAX_DURATION_MS",
    "captionChars": "MAX_CAPTION_CHARS",
}


def upload_limits() -> dict[str, int]:
    """The upload limits the canister's ``limits`` module defines (those it names)."""
    found = {"captionChars": CAPTION_CHARS}
    for key, name in UPLOAD_LIMITS.items():
        value = getattr(canister_limits, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            found[key] = value
    return found


def route(name: str) -> str | None:
    """The URL of route ``name``, or ``None`` when that app is not routed."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def index(request: HttpRequest) -> HttpResponse:
    """The video page, or how to deploy the video canister when there is none."""
    base = replica_base_url(request)
    found = find_app_canister(APP_NAME, base)
    config: dict[str, Any] | None = None
    origin = ""
    if found.canister_id is not None:
        origin = canister_origin(request, found.canister_id)
        ledger = find_app_canister(LEDGER_NAME, base).canister_id
        ledger_did = route("marketplace:token_interface")
        config = {
            "canisterId": found.canister_id.to_text(),
            "canisterOrigin": origin,
            "host": base,
            "didUrl": reverse("video:interface"),
            "ledgerId": ledger.to_text() if ledger is not None and ledger_did else None,
            "ledgerDidUrl": ledger_did if ledger is not None else None,
            "marketplaceUrl": route("marketplace:index"),
            "limits": upload_limits(),
        }
    response = render(
        request,
        "video/index.html",
        {"config": config, "problem": found.problem, "deploy_command": DEPLOY_COMMAND},
    )
    images = f"'self' data: blob: {origin}" if origin else "'self' data: blob:"
    media = f"'self' blob: {origin}" if origin else "'self' blob:"
    return set_page_security(request, response, img_src=images, media_src=media)


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/video/video.did``, written by ``manage.py build video``; a plain 404
    saying how to build it while it does not exist."""
    if not DID_PATH.is_file():
        return HttpResponse(
            f"the video canister's interface is not built yet: run "
            f"`python manage.py build video` to write {DID_PATH.name}\n",
            status=404, content_type="text/plain; charset=utf-8")
    return candid_response(DID_PATH)
