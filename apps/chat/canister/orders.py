"""Order rooms: the private two-member room a marketplace opens for a buyer and a seller.

The marketplace canister named at install (``InitArgs.marketplace``) calls
`open_order_room` when a party of an order wants to talk: the chat canister creates a
private room whose only members are the order's buyer and seller (a ``direct`` room, so
nobody can join, be added or leave; it is not the pair's ordinary direct room) and
sends ``room_added`` to both on their ``user:<principal>`` topics. The call is
idempotent per order: asking again for the same order returns the same room, so a
retried inter-canister call never makes a second one. Only that marketplace may call
it; any other caller is refused. Neither party needs a chat handle for the room to
exist; to write in it they register one, as for any room.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat64, query, update

from .events import ChatEvent
from .feed import publish_user, save_room
from .limits import MAX_ROOM_NAME_CHARS
from .records import Role, RoomKind
from .rooms import _admit, _new_room
from .store import members, rooms
from .text import clean
from .views import Views

settings = StableBTreeMap[str, Principal]("orders.settings")
"""``settings["marketplace"]``: the one canister allowed to open order rooms."""
order_rooms = StableBTreeMap[nat64, nat64]("orders.rooms")
"""``order_rooms[order_id]`` → the room opened for that order."""


def configure(marketplace: Principal | None) -> None:
    """Trust ``marketplace`` to open order rooms (install and upgrade; None keeps the
    current one). Raises `Reject` for the anonymous principal."""
    if marketplace is None:
        return
    if marketplace.is_anonymous:
        raise Reject("the marketplace must be a canister id, not the anonymous principal")
    settings["marketplace"] = marketplace


def _room_name(order_id: int, title: str) -> str:
    prefix = f"Order {order_id}: "
    shown = " ".join(clean(title).split()) or "an order"
    return (prefix + shown)[:MAX_ROOM_NAME_CHARS]


@update
def open_order_room(order_id: nat64, buyer: Principal, seller: Principal, title: str) -> nat64:
    """The private room of order ``order_id`` between ``buyer`` and ``seller`` (created
    on the first call, the same room after); only the configured marketplace may call.
    Raises `Reject` for another caller, an anonymous or identical pair, or when the
    order already has a room with other members."""
    caller = ic.caller()
    trusted = settings.get("marketplace")
    if trusted is None or caller != trusted:
        raise Reject(f"only the marketplace canister opens order rooms ({caller} is not it)")
    if buyer.is_anonymous or seller.is_anonymous or buyer == seller:
        raise Reject("an order room needs two different signed-in users (buyer and seller)")
    existing = order_rooms.get(order_id)
    if existing is not None:
        room = rooms[existing]
        if sorted(p.raw for p in room.direct_members) != sorted((buyer.raw, seller.raw)):
            raise Reject(f"order {order_id} already has room {existing} with other members")
        return existing
    room = _new_room(RoomKind.direct, _room_name(order_id, title),
                     f"Buyer and seller of marketplace order {order_id}", False, None, caller,
                     [buyer, seller])
    joined = [(user, _admit(room, user, Role.member, caller, announce=False))
              for user in (buyer, seller)]
    save_room(room)
    order_rooms[order_id] = room.id
    for user, member in joined:
        publish_user(user, ChatEvent(room_added=Views(user).my_room(room, member)))
    return room.id


@query
def order_room(order_id: nat64) -> nat64 | None:
    """The room of order ``order_id`` if the caller is one of its two members."""
    room_id = order_rooms.get(order_id)
    if room_id is None or (room_id, ic.caller()) not in members:
        return None
    return room_id


@query
def order_marketplace() -> Principal | None:
    """The marketplace canister allowed to open order rooms (null: none yet)."""
    return settings.get("marketplace")
