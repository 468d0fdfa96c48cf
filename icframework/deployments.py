"""The project's record of deployed canisters: ``.icframework/canister_ids.json``.

It maps a canister name (an app's name) to its id, either directly (``"chat":
"bkyz2-..."``) or per network, dfx-style (``"chat": {"local": "...", "ic": "..."}``,
where the mainnet URL is ``ic`` and every other replica ``local``). ``manage.py
deploy`` writes it, ``manage.py canister id`` and ``call`` read it, and the reference
apps' pages and demo seeders use it to find their canisters. It lives in the project
directory (``settings.BASE_DIR``), so a test can point it elsewhere with
``override_settings(BASE_DIR=...)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from icframework.agent import MAINNET_URL
from icframework.core import Principal, PrincipalError

__all__ = [
    "DeploymentRecordError",
    "canister_ids_path",
    "load_canister_ids",
    "network_name",
    "recorded_id",
    "save_canister_id",
]


class DeploymentRecordError(Exception):
    """The record file cannot be read as a JSON object; the message names the file."""


def network_name(url: str) -> str:
    """``ic`` for the mainnet URL, ``local`` for anything else (keys of dfx-style entries)."""
    return "ic" if url == MAINNET_URL else "local"


def canister_ids_path() -> Path:
    """``<project>/.icframework/canister_ids.json``: canister name → id."""
    from django.conf import settings

    return Path(settings.BASE_DIR) / ".icframework" / "canister_ids.json"


def load_canister_ids() -> dict[str, Any]:
    """The name → id map (values are ids, or dfx-style ``{network: id}`` maps); empty
    when nothing was deployed yet."""
    path = canister_ids_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DeploymentRecordError(f"{path} is not a readable JSON object: {exc} "
                                    "(fix or delete it, then deploy again)") from None
    if not isinstance(data, dict):
        raise DeploymentRecordError(f"{path} must hold a JSON object mapping canister names "
                                    "to ids (fix or delete it, then deploy again)")
    return data


def save_canister_id(name: str, canister_id: Principal, url: str) -> None:
    """Record ``name`` → ``canister_id`` (per network if the entry is dfx-style)."""
    ids = load_canister_ids()
    entry = ids.get(name)
    if isinstance(entry, dict):
        entry[network_name(url)] = canister_id.to_text()
    else:
        ids[name] = canister_id.to_text()
    path = canister_ids_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ids, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def recorded_id(name: str, url: str) -> Principal | None:
    """The id recorded for ``name`` on the network at ``url``, if any (None also when
    the entry is not a valid principal)."""
    entry = load_canister_ids().get(name)
    if isinstance(entry, dict):
        entry = entry.get(network_name(url))
    if not isinstance(entry, str):
        return None
    try:
        return Principal.from_text(entry)
    except PrincipalError:
        return None
