"""A canister that answers who controls it (``ic.is_controller``), for the SDK and
component-target tests."""

from __future__ import annotations

from icframework.core import Principal
from icframework.sdk import ic, query


@query
def controls(who: Principal) -> bool:
    return ic.is_controller(who)


@query
def caller_controls() -> bool:
    return ic.is_controller(ic.caller())
