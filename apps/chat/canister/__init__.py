"""The chat canister: users, direct and group rooms, messages and real-time events.

Identity is ``ic.caller()``. Every method lives in a submodule (users, rooms,
messages, search, reports); `events` defines `ChatEvent`, the Candid variant published
to ``room:<id>`` and ``user:<principal>`` topics, and `records` the public records.
State is only in stable maps (`store`), so it survives upgrades. docs/chat.md is the
API reference; `limits` holds every limit and rate limit.
"""

from __future__ import annotations

from icframework.sdk import Reject, init, post_upgrade

from . import (
    attachments,
    compose,
    e2e,
    ephemeral,
    folders,
    gateway,
    messages,
    orders,
    receipts,
    reports,
    rooms,
    schedule,
    search,
    threads,
    users,
)
from .records import InitArgs
from .store import moderators

__all__ = [
    "attachments", "compose", "e2e", "ephemeral", "folders", "gateway", "messages",
    "orders", "receipts", "reports", "rooms", "schedule", "search",
    "threads", "users",
]


def _set_moderators(args: InitArgs | None) -> None:
    if args is None:
        return
    moderators.clear()
    for user in args.moderators:
        if user.is_anonymous:
            raise Reject("the anonymous principal cannot be a moderator")
        moderators[user] = True
    orders.configure(args.marketplace)


@init
def setup(args: InitArgs | None) -> None:
    """Install: optional ``record { moderators : vec principal; marketplace : opt
    principal }`` (the marketplace that may open order rooms, `orders`)."""
    _set_moderators(args)


@post_upgrade
def upgraded(args: InitArgs | None) -> None:
    """Upgrade: state is kept; moderators are replaced only when the argument is given."""
    _set_moderators(args)
