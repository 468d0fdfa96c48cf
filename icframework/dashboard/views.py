"""Dashboard views: thin adapters that render what the framework reports.

Each canister is linked at its own origin (``<canister-id>.localhost``), never on the
dashboard's: a canister's page must not share an origin with the replica's own pages.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

import icframework
from icframework.conf import state_dir
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.gateway_middleware import canister_origin
from icframework.replica.service import get_service


def _replica_summary(replica: Replica, request: HttpRequest) -> dict[str, Any]:
    subnet = replica.subnet
    canisters = [
        {
            "id": Principal(canister_id).to_text(),
            "origin": canister_origin(request, Principal(canister_id)),
            "status": state.status.value,
            "cycles": f"{state.cycles:,}",
            "module": state.module_hash.hex()[:16] if state.module_hash else "empty",
            "memory": f"{subnet.memory_usage(canister_id):,}",
            "version": state.version,
        }
        for canister_id, state in sorted(subnet.canisters.items())
    ]
    return {
        "subnet_id": Principal(subnet.config.subnet_id).to_text(),
        "height": subnet.height,
        "canisters": canisters,
    }


def index(request: HttpRequest) -> HttpResponse:
    """The landing page: version, state directory, the subnet and its canisters."""
    service = get_service()
    context: dict[str, Any] = {
        "version": icframework.__version__,
        "state_dir": state_dir(),
        "replica": service.run(lambda replica: _replica_summary(replica, request))
        if service else None,
    }
    return render(request, "icframework/dashboard.html", context)
