"""Order conversations: a private chat room per order, opened in the chat canister by a call.

The marketplace knows one chat canister (``InitArgs.chat`` at install or upgrade, or
`set_chat` by the admin); the chat canister in turn trusts this marketplace (its own
``InitArgs.marketplace``) to open order rooms. When the buyer or the seller of an order
asks for its conversation (`open_order_chat`), the marketplace calls the chat
canister's ``open_order_room(order_id, buyer, seller, title)``, which creates a room
whose only members are those two (or returns the one it made before: the call is
idempotent per order, so an answer lost on the way costs nothing), remembers the room
and tells the other party (`notifications`, ``order_message``). The messages
themselves live in the chat canister: the order page reads and writes them there with
the user's own key, and follows the room over the chat canister's WebSocket.
"""

from __future__ import annotations

from icframework.sdk import (
    CallRejected,
    Principal,
    Reject,
    ReplyDecodeError,
    StableBTreeMap,
    ic,
    nat64,
    query,
    update,
)

from . import access, limits
from .notifications import notify
from .records import Listing, MarketConfig, Order

settings = StableBTreeMap[str, Principal]("messaging.settings")
"""``settings["chat"]``: the chat canister that holds order conversations."""
rooms = StableBTreeMap[nat64, nat64]("messaging.rooms")
"""``rooms[order_id]`` → the chat room of the order."""

NO_CHAT_STATUSES = ("pending_payment", "failed")


def configure(chat: Principal | None) -> None:
    """Use ``chat`` for order conversations (None keeps the current one)."""
    if chat is None:
        return
    if chat.is_anonymous:
        raise Reject("the chat canister must be a canister id, not the anonymous principal")
    settings["chat"] = chat


@update
def set_chat(chat: Principal) -> MarketConfig:
    """The admin names the chat canister that holds order conversations."""
    from .social import market_config

    access.require_admin()
    configure(chat)
    return market_config()


@query
def chat_canister() -> Principal | None:
    """The chat canister of order conversations (null: none configured)."""
    return settings.get("chat")


def _party_order(order_id: int) -> tuple[Principal, Order]:
    who = access.me()
    order = access.get_order(order_id)
    if who not in (order.buyer, order.seller):
        raise Reject(f"only the buyer and the seller of order {order_id} talk about it "
                     f"({who} is neither)")
    return who, order


@update
async def open_order_chat(order_id: nat64) -> nat64:
    """The chat room where the buyer and the seller of order ``order_id`` talk, opened
    in the chat canister on first use. Raises `Reject` for anyone else, an order whose
    payment did not happen, no configured chat canister, or a chat canister that
    refuses (its reason is in the message)."""
    who, order = _party_order(order_id)
    if order.status in NO_CHAT_STATUSES:
        raise Reject(f"order {order_id} is {order.status}; talk about an order once it "
                     "is paid")
    known = rooms.get(order_id)
    if known is not None:
        return known
    chat = settings.get("chat")
    if chat is None:
        raise Reject("the marketplace has no chat canister: the admin names one with "
                     "set_chat (or install with chat = opt principal \"...\")")
    listing = Listing.objects.filter(id=order.listing_id).first()
    title = (listing.title if listing else "")[: limits.MAX_TITLE_IN_CHAT]
    buyer, seller = order.buyer, order.seller
    try:
        room_id: int = await ic.call(chat, "open_order_room", order_id, buyer, seller, title,
                                  arg_types=(nat64, Principal, Principal, str), result=nat64)
    except CallRejected as exc:
        raise Reject(f"the chat canister {chat} did not open the room of order "
                     f"{order_id}: {exc}") from None
    except ReplyDecodeError as exc:
        raise Reject(f"the chat canister {chat} answered open_order_room with something "
                     f"that is not a room id: {exc}") from None
    if order_id not in rooms:  # another call may have stored it while this one waited
        rooms[order_id] = room_id
        other = seller if who == buyer else buyer
        role = "buyer" if who == buyer else "seller"
        notify(other, "order_message", f"the {role} of order {order_id} wants to talk about "
               f"{title or 'it'}", listing_id=order.listing_id,
               order_id=order_id, room_id=room_id)
    return rooms[order_id]


@query
def order_chat(order_id: nat64) -> nat64 | None:
    """The chat room of order ``order_id`` (null until a party opened it), for its buyer
    and seller."""
    _who, _order = _party_order(order_id)
    return rooms.get(order_id)


@query
def my_order_chats() -> list[tuple[nat64, nat64]]:
    """``(order_id, room_id)`` of the caller's order conversations, newest order first
    (at most `limits.MAX_PAGE`)."""
    me = ic.caller()
    ids = {o.id for o in Order.objects.filter(buyer=me)} | \
        {o.id for o in Order.objects.filter(seller=me)}
    found = [(order_id, rooms[order_id]) for order_id in sorted(ids, reverse=True)
             if order_id in rooms]
    return found[: limits.MAX_PAGE]
