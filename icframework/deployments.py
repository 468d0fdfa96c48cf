"""What the commands share about deploying: the network, the record of canister ids,
module hashes and the upgrade check of a canister's interface.

The record, ``.icframework/canister_ids.json``, maps a canister name (an app's name) to
its id, either directly (``"chat": "bkyz2-..."``) or per network, dfx-style (``"chat":
{"local": "...", "ic": "..."}``, where the mainnet URL is ``ic`` and every other
replica ``local``). ``manage.py deploy`` and ``canister create`` write it, ``canister
delete`` drops the deleted canister's names, ``canister id``, ``call`` and ``replica``
read it, and the reference apps' pages and demo seeders use it to find their
canisters. It lives in the project directory (``settings.BASE_DIR``), so a test can
point it elsewhere with ``override_settings(BASE_DIR=...)``.

The network every command talks to is `network_url`'s answer: the ``--network``
option, else the ``ICFRAMEWORK_NETWORK`` environment variable, else the project's
``ICFRAMEWORK["NETWORK"]`` setting (default ``local``); each is a URL or a name
(`NETWORKS`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from icframework.agent import DEFAULT_URL, MAINNET_URL, AgentError
from icframework.agent.actor import service_methods
from icframework.candid import CandidError, DidFile, Func, format_type
from icframework.candid import is_subtype as candid_is_subtype
from icframework.conf import get_setting
from icframework.core import Principal, PrincipalError

__all__ = [
    "NETWORKS",
    "NETWORK_VARIABLE",
    "DeploymentError",
    "DeploymentRecordError",
    "NetworkError",
    "breaking_changes",
    "canister_ids_path",
    "forget_canister",
    "format_module_hash",
    "load_canister_ids",
    "module_hash",
    "network_name",
    "network_url",
    "recorded_id",
    "save_canister_id",
]

NETWORKS = {"local": DEFAULT_URL, "ic": MAINNET_URL}
"""The network names ``--network`` accepts besides URLs."""
NETWORK_VARIABLE = "ICFRAMEWORK_NETWORK"
"""The environment variable naming the network when ``--network`` is not given."""


class DeploymentError(Exception):
    """Base of this module's errors; messages name the bad value and the fix."""


class DeploymentRecordError(DeploymentError):
    """The record file cannot be read as a JSON object; the message names the file."""


class NetworkError(DeploymentError):
    """A network is neither a known name nor an http(s) URL; the message names its source."""


def network_url(option: str | None = None) -> str:
    """The replica URL (no trailing slash) for ``--network`` ``option``, or, when it is
    None, for ``$ICFRAMEWORK_NETWORK``, or for ``ICFRAMEWORK["NETWORK"]``.

    Raises `NetworkError` naming where the bad value came from.
    """
    if option is not None:
        value, source = option, "--network"
    elif os.environ.get(NETWORK_VARIABLE):
        value, source = os.environ[NETWORK_VARIABLE], NETWORK_VARIABLE
    else:
        value, source = str(get_setting("NETWORK")), "ICFRAMEWORK['NETWORK']"
    url = NETWORKS.get(value, value)
    if not url.startswith(("http://", "https://")):
        raise NetworkError(
            f"{source} {value!r} is neither 'local', 'ic' nor an http(s):// URL "
            "(e.g. --network http://127.0.0.1:8000 for a replica on port 8000)"
        )
    return url.rstrip("/")


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


def _write_canister_ids(ids: dict[str, Any]) -> None:
    path = canister_ids_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ids, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _per_network(entry: Any) -> dict[str, Any]:
    """An entry as a ``{network: id}`` map: a plain id is the local network's (a record
    written before any mainnet deploy), never mainnet's."""
    if isinstance(entry, dict):
        return entry
    return {"local": entry} if isinstance(entry, str) else {}


def save_canister_id(name: str, canister_id: Principal, url: str) -> None:
    """Record ``name`` → ``canister_id``: a plain id for a local network, a dfx-style
    ``{network: id}`` entry once the name has a mainnet id."""
    ids = load_canister_ids()
    entry = ids.get(name)
    network = network_name(url)
    if isinstance(entry, dict) or network == "ic":
        ids[name] = {**_per_network(entry), network: canister_id.to_text()}
    else:
        ids[name] = canister_id.to_text()
    _write_canister_ids(ids)


def forget_canister(canister_id: Principal, url: str) -> list[str]:
    """Drop every name recorded for ``canister_id`` on the network at ``url`` (a deleted
    canister); returns the names dropped, sorted."""
    ids = load_canister_ids()
    text, network = canister_id.to_text(), network_name(url)
    dropped = []
    for name, entry in list(ids.items()):
        if isinstance(entry, dict) and entry.get(network) == text:
            del entry[network]
            if not entry:
                del ids[name]
            dropped.append(name)
        elif entry == text and network == "local":
            del ids[name]
            dropped.append(name)
    if dropped:
        _write_canister_ids(ids)
    return sorted(dropped)


def recorded_id(name: str, url: str) -> Principal | None:
    """The id recorded for ``name`` on the network at ``url``, if any (None also when
    the entry is not a valid principal)."""
    entry = _per_network(load_canister_ids().get(name)).get(network_name(url))
    if not isinstance(entry, str):
        return None
    try:
        return Principal.from_text(entry)
    except PrincipalError:
        return None


def module_hash(wasm: bytes) -> bytes:
    """The module hash of ``wasm`` as the IC defines it: the SHA-256 of the bytes as
    installed (gzipped if they are), what ``canister_status`` reports."""
    return hashlib.sha256(wasm).digest()


def format_module_hash(digest: bytes | None) -> str:
    """How every command shows a module hash: ``0x`` and 64 lowercase hex digits, or
    ``none (empty canister)``."""
    return "0x" + digest.hex() if digest else "none (empty canister)"


def _methods(did: DidFile) -> dict[str, Func] | None:
    """``did``'s service methods, or None when it declares no service."""
    try:
        return service_methods(did)
    except AgentError:
        return None


def breaking_changes(old: DidFile, new: DidFile) -> list[str]:
    """What makes the service of ``new`` no Candid subtype of the service of ``old``,
    one entry a method (``"name: removed"``, ``"name: <old type> becomes <new type>"``),
    sorted by name: the calls a client written against ``old`` may make that ``new``
    would refuse or answer unreadably. Empty when ``new`` is a safe upgrade, or when
    either file declares no service (nothing to compare).

    Raises `CandidError` for a type the files leave undefined.
    """
    before, after = _methods(old), _methods(new)
    if before is None or after is None:
        return []
    changes = []
    for name, func in sorted(before.items()):
        replacement = after.get(name)
        if replacement is None:
            changes.append(f"{name}: removed")
        elif not candid_is_subtype(replacement, func):
            before_text, after_text = _signature(func), _signature(replacement)
            if before_text == after_text:
                changes.append(f"{name}: {before_text}, a type it uses changed incompatibly")
            else:
                changes.append(f"{name}: {before_text} becomes {after_text}")
    return changes


def _signature(func: Func) -> str:
    """``(nat) -> (nat) query``: a method type as the .did writes it."""
    try:
        text = format_type(func)
    except CandidError:
        return "?"
    return text.removeprefix("func ")
