"""Who may do what, and the shared checks every method starts with."""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic

from . import limits
from .records import Config, Listing, Order, Shop
from .store import config


def me() -> Principal:
    """The caller, who must be signed in (not anonymous)."""
    who = ic.caller()
    if who.is_anonymous:
        raise Reject("sign in first: the anonymous principal cannot buy, sell or review")
    return who


def settings() -> Config:
    if not config.is_set():
        raise Reject("the marketplace is not configured: install it with its ledger id")
    return config.get()


def require_admin() -> Principal:
    who = me()
    if who != settings().admin:
        raise Reject(f"only the marketplace admin may do this ({who} is not)")
    return who


def text(value: str, what: str, max_chars: int, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise Reject(f"{what} must not be empty")
    if len(value) > max_chars:
        raise Reject(f"{what} is at most {max_chars} characters, got {len(value)}")
    return value


def price(value: int) -> int:
    if value <= 0:
        raise Reject(f"a price must be positive, got {value}")
    if value > limits.MAX_PRICE:
        raise Reject(f"a price is at most {limits.MAX_PRICE} token units, got {value}")
    return value


def get_listing(listing_id: int) -> Listing:
    found = Listing.objects.filter(id=listing_id).first()
    if found is None:
        raise Reject(f"no listing {listing_id}")
    return found


def get_order(order_id: int) -> Order:
    found = Order.objects.filter(id=order_id).first()
    if found is None:
        raise Reject(f"no order {order_id}")
    return found


def shop_of(owner: Principal) -> Shop | None:
    return Shop.objects.filter(owner=owner).first()


def own_listing(listing_id: int) -> Listing:
    who = me()
    listing = get_listing(listing_id)
    if listing.seller != who:
        raise Reject(f"listing {listing_id} belongs to {listing.seller}, not {who}")
    return listing
