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
from icframework.dashboard.subnets import (
    SubnetSource,
    find_canister,
    subnet_sources,
    subnet_summary,
)
from icframework.replica import canister_origin

RECENT_CALLS_SHOWN = 20
"""Rows of the recent-calls table (dashboard.js shows as many of each frame's calls)."""


def _with_origins(request: HttpRequest, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["origin"] = canister_origin(request, Principal.from_text(row["id"]))
    return rows


def index(request: HttpRequest) -> HttpResponse:
    """The landing page: version, state directory, each subnet and its canisters (the
    embedded replica's one subnet, or every subnet of the cluster on a front end)."""
    names = overview.canister_names()
    shown = overview.subnets(subnet_sources(), names)
    for subnet in shown:
        _with_origins(request, subnet["rows"])
    replica: dict[str, Any] | None = None
    if shown:
        label = overview.label
        replica = {
            "subnet_id": shown[0]["subnet_id"],
            "height": shown[0]["height"],
            "name": shown[0]["name"],
            "canisters": [row for subnet in shown for row in subnet["rows"]],
            "calls": [{**call, "label": label(call["canister"], names)}
                      for call in overview.recent(shown, "calls")[:RECENT_CALLS_SHOWN]],
            "traps": [{**trap, "label": label(trap["canister"], names)}
                      for trap in overview.recent(shown, "traps")],
        }
    context: dict[str, Any] = {
        "version": icframework.__version__,
        "state_dir": state_dir(),
        "replica": replica,
        "subnets": shown,
        "cluster": any(subnet["lease_epoch"] is not None or subnet["committed_height"] !=
                       subnet["height"] for subnet in shown) or len(shown) > 1,
    }
    return render(request, "icframework/dashboard.html", context)


def _canister_id(text: str) -> Principal:
    try:
        return Principal.from_text(text)
    except PrincipalError:
        raise Http404(f"{text!r} is not a canister id") from None


def _source(canister_id: str) -> tuple[Principal, SubnetSource]:
    principal = _canister_id(canister_id)
    sources = subnet_sources()
    if not sources:
        raise Http404("this process serves no replica")
    source = find_canister(principal, sources)
    if source is None:
        raise Http404(f"no canister {canister_id} on this replica")
    return principal, source


def canister(request: HttpRequest, canister_id: str) -> HttpResponse:
    """A canister's page, on whichever subnet holds it: interface, controllers, module
    hash, history, method form."""
    principal, source = _source(canister_id)
    names = overview.canister_names()
    detail = source.reader.run(
        lambda replica: overview.canister_detail(replica, principal, names))
    if detail is None:  # deleted between the two reads
        raise Http404(f"no canister {canister_id} on this replica")
    detail["subnet"] = subnet_summary(source)
    _with_origins(request, [detail])
    return render(request, "icframework/dashboard_canister.html", {"canister": detail})


def candid(request: HttpRequest, canister_id: str) -> HttpResponse:
    """The canister's ``candid:service`` metadata as a .did file (the method form reads it)."""
    principal, source = _source(canister_id)
    text = source.reader.run(lambda replica: overview.candid_text(replica, principal))
    if text is None:
        raise Http404(f"canister {canister_id} publishes no candid:service metadata")
    return HttpResponse(text, content_type="text/plain; charset=utf-8")
