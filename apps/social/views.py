"""The professional network page: finds the deployed social canister and serves the page.

Everything happens in the browser with the user's own key (static/social/social.js):
profiles, the feed, the network, jobs, organisations, groups and search are queries and
signed calls to the social canister through @dfinity/agent, with the actor built from
``apps/social/social.did`` served next to the page. Pictures (avatars, banners, post
images) come from the canister's ``http_request`` on its own origin
(``<canister-id>.localhost``), which the page's CSP allows for images only; attested
roles are verified in the browser against the replica's certificate
(``icframework/static/icframework/certified.js``). The "Message" button opens the chat
page (``/chat/?dm=<principal>``) with the same browser key.
"""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from icframework.pages import (
    candid_response,
    find_app_canister,
    replica_base_url,
    set_page_security,
)
from icframework.replica import canister_origin

APP_NAME = "social"
DID_PATH = Path(__file__).resolve().parent / "social.did"
DEPLOY_COMMAND = "python manage.py deploy social"


def chat_url() -> str | None:
    """Where the chat page is, for "Message" (``None`` when the chat app is not routed)."""
    try:
        return reverse("chat:index")
    except NoReverseMatch:
        return None


def index(request: HttpRequest) -> HttpResponse:
    """The social page, or how to deploy the social canister when there is none."""
    base = replica_base_url(request)
    found = find_app_canister(APP_NAME, base)
    config = None
    origin = ""
    if found.canister_id is not None:
        origin = canister_origin(request, found.canister_id)
        config = {
            "canisterId": found.canister_id.to_text(),
            "canisterOrigin": origin,
            "host": base,
            "didUrl": reverse("social:interface"),
            "chatUrl": chat_url(),
        }
    response = render(
        request,
        "social/index.html",
        {"config": config, "problem": found.problem, "deploy_command": DEPLOY_COMMAND},
    )
    images = f"'self' data: blob: {origin}" if origin else "'self' data: blob:"
    return set_page_security(request, response, img_src=images)


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/social/social.did``, written by ``manage.py build social``; a plain 404
    saying how to build it while it does not exist."""
    if not DID_PATH.is_file():
        return HttpResponse(
            f"the social canister's interface is not built yet: run "
            f"`python manage.py build social` to write {DID_PATH.name}\n",
            status=404, content_type="text/plain; charset=utf-8")
    return candid_response(DID_PATH)
