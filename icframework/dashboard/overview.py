"""What the dashboard shows of a replica: canisters with names and links, live figures, details.

Functions here run while holding the replica (`ReplicaService.run`, or a front end's
read-only copy) and return plain values: the views render them, the dashboard socket
sends them as JSON. `subnets` and `live` cover every subnet the process shows
(`icframework.dashboard.subnets`: the embedded replica, or each subnet's copy on a
scale-out front end), each row naming its subnet. Names come
from the project's deploy records (`icframework.deployments`: ``manage.py deploy`` and
the demo's seeders write them); a canister's gateway URL is offered only when its module
exports ``http_request``, since the gateway answers anything else with an error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.urls import NoReverseMatch, reverse

from icframework.core import Principal
from icframework.dashboard.subnets import SubnetSource, subnet_summary
from icframework.deployments import (
    DeploymentRecordError,
    format_module_hash,
    load_canister_ids,
)
from icframework.replica import CanisterChange, CanisterModule, CanisterState, Replica

__all__ = [
    "CANDID_SERVICE",
    "app_page",
    "candid_text",
    "canister_detail",
    "canister_names",
    "canisters",
    "label",
    "live",
    "recent",
    "subnets",
]

CANDID_SERVICE = "candid:service"


def canister_names() -> dict[str, str]:
    """Canister id text → the name it is recorded under for a local replica (empty when
    the record is missing or unreadable: the dashboard then shows ids)."""
    try:
        recorded = load_canister_ids()
    except DeploymentRecordError:
        return {}
    names: dict[str, str] = {}
    for name, entry in sorted(recorded.items()):
        value = entry.get("local") if isinstance(entry, dict) else entry
        if isinstance(value, str):
            names.setdefault(value, name)
    return names


def label(canister_id: str, names: dict[str, str]) -> str:
    """What a table calls a canister: its recorded name, else its id cut to 11
    characters (dashboard.js labels the live rows the same way)."""
    name = names.get(canister_id)
    if name:
        return name
    return f"{canister_id[:11]}…" if len(canister_id) > 12 else canister_id


def app_page(name: str | None) -> str | None:
    """The path of the app page registered for ``name`` (``<name>:index``), if any."""
    if not name:
        return None
    try:
        return reverse(f"{name}:index")
    except NoReverseMatch:
        return None


def _module(replica: Replica, state: CanisterState) -> CanisterModule | None:
    return replica.canister_module(Principal(state.canister_id))


def candid_text(replica: Replica, canister_id: Principal) -> str | None:
    """The canister's ``candid:service`` metadata (its .did), or None if it has none."""
    state = replica.canister_record(canister_id)
    module = _module(replica, state) if state is not None else None
    if module is None or CANDID_SERVICE not in module.metadata:
        return None
    return module.metadata[CANDID_SERVICE].content.decode("utf-8", "replace")


def _exports_http(module: CanisterModule | None) -> bool:
    return module is not None and (
        "http_request" in module.queries or "http_request" in module.updates)


def _row(replica: Replica, canister_id: bytes, state: CanisterState,
         names: dict[str, str]) -> dict[str, Any]:
    """A canister's row of the `canisters` table."""
    text = Principal(canister_id).to_text()
    module = _module(replica, state)
    name = names.get(text)
    return {
        "id": text,
        "name": name,
        "status": state.status.value,
        "cycles": state.cycles,
        "memory": replica.memory_usage(Principal(canister_id)),
        "kv": replica.key_value_bytes(Principal(canister_id)),
        "module_hash": format_module_hash(state.module_hash) if state.module_hash else None,
        "http": _exports_http(module),
        "candid": module is not None and CANDID_SERVICE in module.metadata,
        "app": app_page(name),
    }


def canisters(replica: Replica, names: dict[str, str]) -> list[dict[str, Any]]:
    """One row per canister, ordered by name then id: id, name, status, cycles, memory
    and key-value bytes, module hash (as every command shows it), whether it serves
    HTTP, app page."""
    rows = [_row(replica, canister_id, state, names)
            for canister_id, state in replica.canister_records().items()]
    rows.sort(key=lambda row: (row["name"] is None, row["name"] or "", row["id"]))
    return rows


def subnets(sources: list[SubnetSource], names: dict[str, str]) -> list[dict[str, Any]]:
    """Each subnet's facts (`subnet_summary`) with its canisters' rows (``rows``, each
    naming its ``subnet``) and its metrics snapshot (``metrics``)."""
    out = []
    for source in sources:
        summary = subnet_summary(source)

        def read(replica: Replica) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return canisters(replica, names), replica.metrics()

        rows, metrics = source.reader.run(read)
        for row in rows:
            row["subnet"] = source.name
        out.append({**summary, "rows": rows, "metrics": metrics})
    return out


def recent(shown: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The ``key`` entries (``calls`` or ``traps``) of every subnet's metrics, newest
    first (one subnet's are already)."""
    if len(shown) == 1:
        return list(shown[0]["metrics"][key])
    merged = [entry for subnet in shown for entry in subnet["metrics"][key]]
    merged.sort(key=lambda entry: entry.get("at", 0), reverse=True)
    return merged


def live(sources: list[SubnetSource], names: dict[str, str]) -> dict[str, Any]:
    """What the dashboard socket sends each second: the first subnet's metrics (totals
    and per canister counters; the root subnet on a front end), the recent calls and
    traps of all subnets, every canister's row and each subnet's facts (``subnets``)."""
    shown = subnets(sources, names)
    snapshot = dict(shown[0]["metrics"])
    snapshot["calls"] = recent(shown, "calls")
    snapshot["traps"] = recent(shown, "traps")
    snapshot["subnet_height"] = shown[0]["height"]
    snapshot["rows"] = [row for subnet in shown for row in subnet["rows"]]
    snapshot["names"] = names
    snapshot["subnets"] = [{k: v for k, v in subnet.items() if k not in ("rows", "metrics")}
                           for subnet in shown]
    return snapshot


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _change(change: CanisterChange) -> dict[str, Any]:
    """A history entry as the page shows it: when, version, by whom, what."""
    (kind, details), = change.details.items() if change.details else (("change", {}),)
    what = kind.replace("_", " ")
    if isinstance(details, dict):
        if "mode" in details:
            mode = details["mode"]
            mode_name = next(iter(mode)) if isinstance(mode, dict) else str(mode)
            what = f"code {mode_name}"
        module_hash = details.get("module_hash")
        if isinstance(module_hash, bytes | bytearray):
            what += f" · module {format_module_hash(bytes(module_hash))}"
        controllers = details.get("controllers")
        if isinstance(controllers, list):
            what += " · controllers " + ", ".join(
                Principal(bytes(c)).to_text() if isinstance(c, bytes | bytearray) else str(c)
                for c in controllers)
    return {
        "when": _when(change.timestamp_ns), "version": change.canister_version,
        "by": Principal(change.origin).to_text(), "origin": change.kind, "what": what,
    }


def canister_detail(replica: Replica, canister_id: Principal,
                    names: dict[str, str]) -> dict[str, Any] | None:
    """Everything the canister page shows, or None if the replica has no such canister."""
    state = replica.canister_record(canister_id)
    if state is None:
        return None
    row = _row(replica, canister_id.raw, state, names)
    module = _module(replica, state)
    methods = []
    if module is not None:
        methods = sorted(
            [(m, "update") for m in module.updates] + [(m, "query") for m in module.queries]
            + [(m, "composite query") for m in module.composite_queries])
    return {
        **row,
        "controllers": [Principal(c).to_text() for c in state.settings.controllers],
        "version": state.version,
        "did": candid_text(replica, canister_id),
        "methods": [{"name": m, "kind": k} for m, k in methods],
        "history": [_change(c) for c in reversed(state.history)],
        "metrics": replica.metrics()["canisters"].get(row["id"]),
    }
