"""Dashboard views: thin adapters that render what `icframework.dashboard.overview` reports.

Each canister is linked at its own origin (``<canister-id>.localhost``), never on the
dashboard's: a canister's page must not share an origin with the replica's own pages.
The live figures arrive over the dashboard socket (`icframework.channels.dashboard`);
the pages render the same rows first, so they read well before the socket opens.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

import icframework
from icframework.conf import state_dir
from icframework.core import Principal, PrincipalError
from icframework.dashboard import overview
from icframework.replica import Replica, canister_origin, get_service

RECENT_CALLS_SHOWN = 20
"""Rows of the recent-calls table (dashboard.js shows as many of each frame's calls)."""


def _with_origins(request: HttpRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["origin"] = canister_origin(request, Principal.from_text(row["id"]))
    return rows


def index(request: HttpRequest) -> HttpResponse:
    """The landing page: version, state directory, the subnet and its canisters."""
    service = get_service()
    names = overview.canister_names()

    def summary(replica: Replica) -> dict[str, Any]:
        metrics = replica.metrics()
        return {
            "subnet_id": replica.subnet_id.to_text(),
            "height": replica.height,
            "canisters": _with_origins(request, overview.canisters(replica, names)),
            # copies: the snapshot's entries are the metrics' own ring entries
            "calls": [{**call, "label": overview.label(call["canister"], names)}
                      for call in metrics["calls"][:RECENT_CALLS_SHOWN]],
            "traps": [{**trap, "label": overview.label(trap["canister"], names)}
                      for trap in metrics["traps"]],
        }

    context: dict[str, Any] = {
        "version": icframework.__version__,
        "state_dir": state_dir(),
        "replica": service.run(summary) if service else None,
    }
    return render(request, "icframework/dashboard.html", context)


def _canister_id(text: str) -> Principal:
    try:
        return Principal.from_text(text)
    except PrincipalError:
        raise Http404(f"{text!r} is not a canister id") from None


def canister(request: HttpRequest, canister_id: str) -> HttpResponse:
    """A canister's page: interface, controllers, module hash, history, method form."""
    service = get_service()
    if service is None:
        raise Http404("this process serves no replica")
    principal = _canister_id(canister_id)
    names = overview.canister_names()
    detail = service.run(lambda replica: overview.canister_detail(replica, principal, names))
    if detail is None:
        raise Http404(f"no canister {canister_id} on this replica")
    _with_origins(request, [detail])
    return render(request, "icframework/dashboard_canister.html", {"canister": detail})


def candid(request: HttpRequest, canister_id: str) -> HttpResponse:
    """The canister's ``candid:service`` metadata as a .did file (the method form reads it)."""
    service = get_service()
    if service is None:
        raise Http404("this process serves no replica")
    principal = _canister_id(canister_id)
    text = service.run(lambda replica: overview.candid_text(replica, principal))
    if text is None:
        raise Http404(f"canister {canister_id} publishes no candid:service metadata")
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
