"""The marketplace page: finds the deployed marketplace and token canisters and serves the page.

Everything happens in the browser with the user's own key (static/marketplace/market.js):
browsing and search are queries to the marketplace canister, images come from its
``http_request`` through the replica's HTTP gateway on the canister's own origin
(``<canister-id>.localhost/images/<id>``, which the page's CSP allows for images only),
and checkout signs ``icrc2_approve`` on the token ledger and then ``checkout`` on the
marketplace. The server only says which canisters to talk to — the ids ``manage.py
deploy`` (or ``runreplica --demo``) recorded as ``marketplace`` and
``marketplace_token`` — serves their Candid interfaces, and runs the demo faucet: a
call the page signs with the user's key, paid within the limits of
`apps.marketplace.faucet`.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.marketplace import seed
from apps.marketplace.faucet import DB_NAME, MAX_CLAIM_BYTES, ClaimBook, FaucetError, verify_claim
from icframework.conf import state_dir
from icframework.pages import (
    candid_response,
    find_app_canister,
    replica_base_url,
    set_page_security,
)
from icframework.replica import CanisterError, canister_origin, get_service

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
        origin = canister_origin(request, market.canister_id)
        config = {
            "canisterId": market.canister_id.to_text(),
            "canisterOrigin": origin,
            "ledgerId": token.canister_id.to_text(),
            "host": base,
            "didUrl": reverse("marketplace:interface"),
            "ledgerDidUrl": reverse("marketplace:token_interface"),
            "faucetUrl": reverse("marketplace:faucet"),
            "chatDidUrl": reverse("chat:interface"),
        }
    response = render(
        request,
        "marketplace/index.html",
        {"config": config, "problem": problem, "deploy_command": DEPLOY_COMMAND},
    )
    images = f"'self' data: blob: {origin}" if config else "'self' data: blob:"
    return set_page_security(request, response, img_src=images)


def interface(request: HttpRequest) -> HttpResponse:
    """``apps/marketplace/marketplace.did``, written by ``manage.py build marketplace``."""
    return candid_response(DID_PATH)


def token_interface(request: HttpRequest) -> HttpResponse:
    """The ICRC-1/ICRC-2 methods the page calls on the token ledger."""
    return candid_response(TOKEN_DID_PATH)


def _text(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def _claim_book() -> ClaimBook:
    return ClaimBook(state_dir() / DB_NAME)


# No CSRF token: the signature over the envelope, made with a key no other site can use,
# is what authorises a claim, and application/cbor cannot be sent cross-site without a
# CORS preflight this server never answers.
@csrf_exempt
@require_POST
def faucet(request: HttpRequest) -> HttpResponse:
    """Demo only: mint 100 MKT to the principal whose key signed the claim (a ``faucet``
    call envelope for the token ledger, `apps.marketplace.faucet`), as the demo minter
    (the key ``runreplica --demo`` keeps in the state directory), within the limits."""
    service = get_service()
    if service is None:
        return _text(503, "this process serves no replica")
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > MAX_CLAIM_BYTES:
        return _text(413, f"a claim is at most {MAX_CLAIM_BYTES} bytes, not {declared}")
    base = replica_base_url(request)
    token = find_app_canister(TOKEN_NAME, base)
    if token.canister_id is None:
        return _text(503, f"the faucet has no token ledger: {token.problem}")
    book = _claim_book()
    try:
        claim = verify_claim(request.body, request.content_type or "", token.canister_id,
                             time.time_ns())
        book.reserve(claim, time.time_ns())
    except FaucetError as exc:
        refused = _text(exc.status, exc.message)
        if exc.retry_after_seconds is not None:
            refused["Retry-After"] = str(exc.retry_after_seconds)
        return refused
    try:
        block = service.run(lambda replica: seed.faucet(replica, base, state_dir(),
                                                        claim.principal, FAUCET_AMOUNT))
    except (ValueError, CanisterError) as exc:
        book.release(claim)
        return _text(409, str(exc))
    return JsonResponse({"block": block, "amount": FAUCET_AMOUNT,
                         "to": claim.principal.to_text()})
