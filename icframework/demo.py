"""Demo seeding on the embedded replica: install an app's canister once, then call it typed.

What ``manage.py runreplica --demo`` seeders (``ICFRAMEWORK["DEMO_SEEDERS"]``) share.
They run in the server process before the HTTP interface opens and use the replica's
own ingress path (`icframework.replica.embedded.Replica`), minus envelope signatures:
the sender is the demo user's principal.

* `admin_identity` (`icframework.replica.admin`) is the local admin that deploys the
  demo's canisters and is their only controller, as dfx's default identity is for
  ``dfx deploy``: an Ed25519 key in ``<state dir>/admin.pem`` (dfx-compatible PEM,
  mode 0600), created on first use.
  Never the anonymous principal, which anyone can send as: a canister it controls can
  be stopped, upgraded, reinstalled or deleted by anyone.
* `install_recorded` reuses the canister recorded under the app's name in
  `icframework.deployments` when this replica runs it (upgrading it when the module
  changed), else creates, installs and records one — the record ``manage.py deploy``
  keeps, so pages and commands find the demo's canisters. It hands a recorded canister
  that older versions left to the anonymous principal over to the admin.
* `demo_keys` keeps the demo users' Ed25519 seeds in a file of the state directory.
* `TypedCaller` encodes Python arguments and decodes replies with a canister module's
  own hints (its SDK method table), as the apps' Python clients do.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from icframework.core import Principal
from icframework.deployments import module_hash, recorded_id, save_canister_id
from icframework.identity import Ed25519Identity
from icframework.replica import (
    CanisterError,
    Replica,
    admin_identity,
    admin_pem_path,
    write_private,
)
from icframework.sdk.dispatch import CompiledMethod, decode_result, encode_args, method_table

__all__ = ["REPAIRED", "TypedCaller", "admin_identity", "admin_pem_path", "demo_keys",
           "install_recorded", "method_table"]

#: What `install_recorded` adds to its report after taking a canister from anonymous.
REPAIRED = ("repaired: the anonymous principal (anyone) controlled it, now the admin "
            "identity does")


def install_recorded(replica: Replica, url: str, name: str, wasm: bytes, *,
                     admin: Principal, init_arg: bytes = b"DIDL\x00\x00",
                     upgrade_arg: bytes = b"DIDL\x00\x00") -> tuple[Principal, str]:
    """The canister recorded as ``name`` (upgraded with ``upgrade_arg`` if its module
    differs from ``wasm``) or a new one installed with ``init_arg``; and what was done:
    ``created``, ``installed``, ``upgraded``, ``unchanged`` or ``kept (...)`` (a
    canister ``admin`` does not control), followed by ``; `` and `REPAIRED` when the
    canister was taken from the anonymous principal.

    Every management call is made as ``admin`` (`admin_identity`), the only controller
    of a canister created here. Raises `CanisterError` if one is rejected.
    """
    canister = recorded_id(name, url)
    if canister is None or replica.canister_record(canister) is None:
        canister = replica.create_canister(sender=admin, controllers=[admin])
        replica.install_code(canister, wasm, init_arg, sender=admin)
        save_canister_id(name, canister, url)
        return canister, "created"
    repaired = ""
    try:
        status = replica.canister_status(canister, sender=admin)
    except CanisterError:
        if not _take_from_anonymous(replica, canister, admin):
            return canister, "kept (deployed by a developer identity)"
        repaired = f"; {REPAIRED}"
        status = replica.canister_status(canister, sender=admin)
    installed = status.get("module_hash")
    if installed == module_hash(wasm):
        return canister, "unchanged" + repaired
    if installed is None:
        replica.install_code(canister, wasm, init_arg, mode="install", sender=admin)
        return canister, "installed" + repaired
    replica.install_code(canister, wasm, upgrade_arg, mode="upgrade", sender=admin)
    return canister, "upgraded" + repaired


def _take_from_anonymous(replica: Replica, canister: Principal, admin: Principal) -> bool:
    """If the anonymous principal controls ``canister`` (as older demos left it), make
    ``admin`` a controller in its place, as anonymous; whether it did."""
    anonymous = Principal.anonymous()
    try:
        status = replica.canister_status(canister, sender=anonymous)
    except CanisterError:
        return False
    others = [c for c in status["settings"]["controllers"] if c not in (anonymous, admin)]
    replica.update_settings(canister, {"controllers": [admin, *others]}, sender=anonymous)
    return True


class TypedCaller:
    """In-process calls to one canister with Python values, typed by ``methods``.

    ``caller(sender, "method", *args)`` makes an update or a query (by the method's
    kind) as ``sender`` and returns the reply as the canister's Python types (None for
    ``()``); a reject raises `CanisterError`.
    """

    def __init__(self, replica: Replica, canister_id: Principal,
                 methods: dict[str, CompiledMethod]) -> None:
        self.replica, self.canister_id, self.methods = replica, canister_id, methods

    def __call__(self, sender: Principal, method: str, *args: Any) -> Any:
        compiled = self.methods.get(method)
        if compiled is None:
            raise ValueError(f"the canister has no method {method!r} "
                             f"(methods: {', '.join(sorted(self.methods))})")
        arg = encode_args(compiled, args)
        if compiled.kind == "update":
            reply = self.replica.update(self.canister_id, method, arg, sender=sender)
        else:
            reply = self.replica.query(self.canister_id, method, arg, sender=sender)
        return decode_result(compiled, reply)


def demo_keys(path: Path, names: Iterable[str], *,
              create: bool = False) -> dict[str, Ed25519Identity]:
    """The demo users' identities kept in ``path`` (a JSON object of name → 32-byte hex
    seed), by name; with ``create``, seeds for ``names`` missing from it are generated
    and the file is written (mode 0600). Demo data the server holds, never real users'.

    Raises `ValueError` naming the file if it is not such an object.
    """
    seeds: dict[str, str] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            seeds = {str(k): str(v) for k, v in loaded.items()}
            for seed in seeds.values():
                bytes.fromhex(seed)
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"{path} is not a JSON object of handle → 32-byte hex seed ({exc}); "
                             "delete it to generate new demo keys") from None
    missing = [name for name in names if name not in seeds]
    if missing and create:
        for name in missing:
            seeds[name] = os.urandom(32).hex()
        write_private(path, json.dumps(seeds, indent=2, sort_keys=True) + "\n")
    return {name: Ed25519Identity.from_seed(bytes.fromhex(seed))
            for name, seed in seeds.items()}
