"""The marketplace page: finds the deployed marketplace and token canisters and serves the page.

Everything happens in the browser with the user's own key (static/marketplace/market.js):
browsing and search are queries to the marketplace canister, images come from its
``http_request`` through the replica's HTTP gateway (``/images/<id>?canisterId=...``,
same origin), and checkout signs ``icrc2_approve`` on the token ledger and then
``checkout`` on the marketplace. The server only says which canisters to talk to — the
ids ``manage.py deploy`` (or ``runreplica --demo``) recorded as ``marketplace`` and
``marketplace_token`` — and serves their Candid interfaces.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.marketplace import seed
from icframework.conf import state_dir
from icframework.core import Principal
from icframework.pages import (
    candid_response,
    find_app_canister,
    replica_base_url,
    set_page_security,
)
from icframework.replica.errors import CanisterError
from icframework.replica.service import get_service

APP_NAME = "marketplace"
TOKEN_NAME = "marketplace_token"
APP_DIR = Path(__file__).resolve().parent
DID_PATH = APP_DIR / "marketplace.did"
TOKEN_DID_PATH = APP_DIR / "icrc.did"
DEPLOY_COMMAND = "python manage.py runreplica --demo"
FAUCET_AMOUNT = 100 * 10**8


def index(request: HttpRequest) -> HttpResponse:
    """The marketplace page, or how to deploy the canisters when they are missing."""
    base = replica_base_url(request)
    market = find_app_canister(APP_NAME, base)
    token = find_app_canister(TOKEN_NAME, base)
    config = None
    problem = market.problem or token.problem
    if market.canister_id is not None and token.canister_id is not None:
        config = {
            "canisterId": market.canister_id.to_text(),
            "ledgerId": token.canister_id.to_text(),
            "host": base,
            "didUrl": reverse("marketplace:interface"),
            "ledgerDidUrl": reverse("marketplace:token_interface"),
            "faucetUrl": reverse("marketplace:faucet"),
        }
    response = render(
        request,
        "marketplace/index.html",
        {"config": config, "problem": problem, "deploy_command": DEPLOY_COMMAND},
    )
    return set_page_security(request, response, img_src="'self' data: blob:")


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/marketplace/marketplace.did``, written by ``manage.py build marketplace``."""
    return candid_response(DID_PATH)


def token_interface(request: HttpRequest) -> HttpResponse:
    """The ICRC-1/ICRC-2 methods the page calls on the token ledger."""
    return candid_response(TOKEN_DID_PATH)


@csrf_exempt  # JSON from the page; it mints demo tokens only, to any principal
@require_POST
def faucet(request: HttpRequest) -> HttpResponse:
    """Demo only: mint 100 MKT to ``{"principal": "..."}`` as the demo minter (the key
    ``runreplica --demo`` keeps in the state directory), so a new browser user can buy."""
    service = get_service()
    if service is None:
        return HttpResponse("this process serves no replica", status=503,
                            content_type="text/plain")
    try:
        to = Principal.from_text(json.loads(request.body)["principal"])
    except (ValueError, KeyError, TypeError) as exc:
        return HttpResponse(f"send {{\"principal\": \"<text>\"}}: {exc}", status=400,
                            content_type="text/plain")
    if to.is_anonymous:
        return HttpResponse("the anonymous principal gets no tokens", status=400,
                            content_type="text/plain")
    base = replica_base_url(request)
    try:
        block = service.run(lambda replica: seed.faucet(replica, base, state_dir(), to,
                                                        FAUCET_AMOUNT))
    except (ValueError, CanisterError) as exc:
        return HttpResponse(str(exc), status=409, content_type="text/plain")
    return JsonResponse({"block": block, "amount": FAUCET_AMOUNT})
