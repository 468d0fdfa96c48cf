"""The canister's Candid interface (.did), derived from the registered methods' hints.

Deterministic: named types appear in first-use order (init hook first, then methods by
name), methods are printed by name, and the layout is `icframework.candid.format_did`'s
canonical one, so the output can be committed as a golden file.
"""

from __future__ import annotations

import types as pytypes

from icframework.candid import DidFile, Func, Service, format_did
from icframework.sdk.dispatch import Canister, load_canister
from icframework.sdk.methods import COMPOSITE_QUERY, INIT, POST_UPGRADE, QUERY

__all__ = ["did_file", "service_did"]

_MODES = {QUERY: ("query",), COMPOSITE_QUERY: ("composite_query",)}


def did_file(canister: Canister | str | pytypes.ModuleType) -> DidFile:
    """The `DidFile` of a canister (a loaded `Canister`, a module or a module name)."""
    c = canister if isinstance(canister, Canister) else load_canister(canister)
    service = Service(
        (name, Func(m.arg_types, m.result_types, _MODES.get(m.kind, ())))
        for name, m in c.methods.items()
    )
    has_init = INIT in c.hooks or POST_UPGRADE in c.hooks
    return DidFile(c.mapper.env, service, c.init_arg_types() if has_init else None)


def service_did(canister: Canister | str | pytypes.ModuleType) -> str:
    """The .did text of a canister (see `did_file`)."""
    return format_did(did_file(canister))
