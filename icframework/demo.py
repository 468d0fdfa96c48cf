"""Demo seeding on the embedded replica: install an app's canister once, then call it typed.

What ``manage.py runreplica --demo`` seeders (``ICFRAMEWORK["DEMO_SEEDERS"]``) share.
They run in the server process before the HTTP interface opens and use the replica's
own ingress path (`icframework.replica.embedded.Replica`), minus envelope signatures:
the sender is the demo user's principal.

* `install_recorded` reuses the canister recorded under the app's name in
  `icframework.deployments` when this replica runs it (upgrading it when the module
  changed), else creates, installs and records one — the record ``manage.py deploy``
  keeps, so pages and commands find the demo's canisters.
* `demo_keys` keeps the demo users' Ed25519 seeds in a file of the state directory.
* `TypedCaller` encodes Python arguments and decodes replies with a canister module's
  own hints (its SDK method table), as the apps' Python clients do.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from icframework.core import Principal
from icframework.deployments import recorded_id, save_canister_id
from icframework.identity import Ed25519Identity
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.sdk.dispatch import CompiledMethod, decode_result, encode_args, method_table

__all__ = ["TypedCaller", "demo_keys", "install_recorded", "method_table"]


def install_recorded(replica: Replica, url: str, name: str, wasm: bytes, *,
                     init_arg: bytes = b"DIDL\x00\x00",
                     upgrade_arg: bytes = b"DIDL\x00\x00") -> tuple[Principal, str]:
    """The canister recorded as ``name`` (upgraded with ``upgrade_arg`` if its module
    differs from ``wasm``) or a new one installed with ``init_arg``; and what was done:
    ``created``, ``installed``, ``upgraded``, ``unchanged`` or ``kept (...)`` (a
    canister the replica's anonymous demo sender does not control)."""
    canister = recorded_id(name, url)
    if canister is not None and canister.raw in replica.subnet.canisters:
        try:
            module_hash = replica.canister_status(canister).get("module_hash")
        except CanisterError:
            return canister, "kept (deployed by a developer identity)"
        if module_hash == hashlib.sha256(wasm).digest():
            return canister, "unchanged"
        if module_hash is None:
            replica.install_code(canister, wasm, init_arg, mode="install")
            return canister, "installed"
        replica.install_code(canister, wasm, upgrade_arg, mode="upgrade")
        return canister, "upgraded"
    canister = replica.create_canister()
    replica.install_code(canister, wasm, init_arg)
    save_canister_id(name, canister, url)
    return canister, "created"


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
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(seeds, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        path.chmod(0o600)
    return {name: Ed25519Identity.from_seed(bytes.fromhex(seed))
            for name, seed in seeds.items()}
