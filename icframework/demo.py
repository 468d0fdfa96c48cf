"""Demo seeding on the embedded replica: install an app's canister once, then call it typed.

What ``manage.py runreplica --demo`` seeders (``ICFRAMEWORK["DEMO_SEEDERS"]``) share.
They run in the server process before the HTTP interface opens and use the replica's
own ingress path (`icframework.replica.embedded.Replica`), minus envelope signatures:
the sender is the demo user's principal.

* `install_recorded` reuses the canister recorded under the app's name in
  `icframework.deployments` when this replica runs it (upgrading it when the module
  changed), else creates, installs and records one — the record ``manage.py deploy``
  keeps, so pages and commands find the demo's canisters.
* `TypedCaller` encodes Python arguments and decodes replies with a canister module's
  own hints (its SDK method table), as the apps' Python clients do.
"""

from __future__ import annotations

import hashlib
from typing import Any

from icframework.core import Principal
from icframework.deployments import recorded_id, save_canister_id
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.sdk.dispatch import CompiledMethod, decode_result, encode_args, method_table

__all__ = ["TypedCaller", "install_recorded", "method_table"]


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
