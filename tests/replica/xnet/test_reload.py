"""A subnet reloaded from its store (after a failed round, or on demand) keeps its routing,
so canisters on other subnets do not turn into missing ones."""

from __future__ import annotations

from icframework.replica import Replica


class OneRoute:
    def subnet_of(self, canister_id: bytes) -> str | None:
        return "app1"


def test_reload_keeps_the_routing() -> None:
    replica = Replica.open()
    routing = OneRoute()
    replica.subnet.routing = routing
    replica.reload()
    assert replica.subnet.routing is routing
