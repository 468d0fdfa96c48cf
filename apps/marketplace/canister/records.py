"""The marketplace's stored models and public records (their Candid types come from these hints).

Amounts are token units of the payment ledger (``nat``; e8s for an 8-decimal token).
Basis points (``bps``) are hundredths of a percent: 250 bps = 2.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from icframework.sdk import Field, Model, Principal, nat, nat8, nat16, nat32, nat64, variant


class ListingStatus(Enum):
    active = "active"
    sold_out = "sold_out"
    delisted = "delisted"
    auction = "auction"


class OrderStatus(Enum):
    """``pending_payment`` (the item is locked while the ledger pulls the funds) →
    ``paid`` → ``shipped`` → ``settling`` → ``settled``; or → ``refunding`` →
    ``refunded``; ``disputed`` waits for the arbiter; ``failed`` means the payment
    never happened (the lock was released)."""

    pending_payment = "pending_payment"
    paid = "paid"
    shipped = "shipped"
    disputed = "disputed"
    settling = "settling"
    settled = "settled"
    refunding = "refunding"
    refunded = "refunded"
    failed = "failed"


class PayoutStatus(Enum):
    pending = "pending"
    in_flight = "in_flight"
    done = "done"


@dataclass
class Account:
    """An ICRC-1 account."""

    owner: Principal
    subaccount: bytes | None = None


class Shop(Model):
    owner: Principal = Field(unique=True)
    name: str
    description: str
    royalty_to: Principal | None  # who receives the shop's royalty share (e.g. a maker)
    royalty_bps: nat16
    created_at: nat64
    sales: nat64 = 0
    volume: nat = 0
    rating_sum: nat64 = 0
    rating_count: nat64 = 0


class Listing(Model):
    shop_id: nat64 = Field(index=True)
    seller: Principal = Field(index=True)
    title: str
    description: str
    price: nat
    quantity: nat32  # units still for sale (not counting locked ones)
    locked: nat32  # units held by checkouts whose payment is not settled yet
    sold: nat32
    category: str = Field(index=True)
    images: list[nat64] = Field(default_factory=list)
    status: ListingStatus = ListingStatus.active
    created_at: nat64 = 0
    updated_at: nat64 = 0
    favourites: nat32 = 0
    rating_sum: nat64 = 0
    rating_count: nat64 = 0


class Order(Model):
    listing_id: nat64 = Field(index=True)
    buyer: Principal = Field(index=True)
    seller: Principal = Field(index=True)
    quantity: nat32
    unit_price: nat
    amount: nat  # what the escrow holds once paid
    status: str = Field(index=True)  # an OrderStatus value
    created_at: nat64
    updated_at: nat64
    escrow: bytes  # the marketplace's subaccount holding this order's funds
    pull_attempts: nat16 = 0
    ship_by: nat64 = 0
    confirm_by: nat64 = 0
    shipped_at: nat64 = 0
    shipping_note: str = ""
    dispute_reason: str = ""
    note: str = ""  # the last thing that happened, in words (payment errors too)
    reviewed: bool = False
    source: str = "checkout"  # "checkout", "offer" or "auction"
    dispute_by: nat64 | None = None  # a dispute not decided by then closes by the rule


class Payout(Model):
    """One transfer out of an escrow subaccount; retried until the ledger confirms it,
    with the same ``created_at_time`` and memo so a retry can never pay twice."""

    order_id: nat64 | None = Field(index=True)
    offer_id: nat64 | None = Field(index=True)
    bid_id: nat64 | None = Field(default=None, index=True)
    escrow: bytes
    to: Account
    gross: nat  # taken from the escrow: the transfer plus the ledger fee
    purpose: str  # "seller", "royalty", "platform", "refund"
    status: str = Field(index=True)  # a PayoutStatus value
    created_at_time: nat64
    attempts: nat16 = 0
    sent_at: nat64 = 0
    last_error: str = ""
    block: nat | None = None


class Review(Model):
    order_id: nat64 = Field(unique=True)
    listing_id: nat64 = Field(index=True)
    author: Principal
    rating: nat8
    text: str
    created_at: nat64


class Offer(Model):
    listing_id: nat64 = Field(index=True)
    buyer: Principal = Field(index=True)
    quantity: nat32
    amount: nat  # the whole offer (all units), held in ``escrow``
    escrow: bytes
    status: str = Field(index=True)  # pending_payment, open, accepted, cancelled, refunded, failed
    created_at: nat64 = 0
    expires_at: nat64 = 0
    order_id: nat64 | None = None
    created_at_time: nat64 = 0


class Auction(Model):
    """A timed auction of all the units of one listing, sold as one lot."""

    listing_id: nat64 = Field(index=True)
    seller: Principal = Field(index=True)
    quantity: nat32  # the lot
    start_price: nat  # the lowest first bid
    reserve_price: nat  # below it the lot is not sold (hidden: views say reserve_met)
    min_increment: nat  # a new bid beats the leading one by at least this
    starts_at: nat64
    ends_at: nat64
    status: str = Field(index=True)  # running, sold, unsold, cancelled
    leading_bid: nat64 | None = None
    leading_bidder: Principal | None = None
    leading_amount: nat = 0
    bids: nat32 = 0  # bids that were paid into escrow
    order_id: nat64 | None = None
    buy_now_price: nat | None = None  # a paid bid of at least this wins at once
    extensions: nat32 | None = None  # times a late bid moved ``ends_at``


class Bid(Model):
    """A bid, held in its own escrow subaccount from payment until it wins or is
    refunded."""

    auction_id: nat64 = Field(index=True)
    bidder: Principal = Field(index=True)
    amount: nat
    escrow: bytes
    status: str = Field(index=True)  # pending_payment, leading, won, refunding, refunded, failed
    created_at_time: nat64
    note: str = ""


@dataclass
class Config:
    ledger: Principal
    admin: Principal
    arbiter: Principal
    platform_fee_bps: nat16
    ledger_fee: nat  # the ledger's transfer fee, refreshed from BadFee answers
    checkout_timeout_ns: nat64
    ship_within_ns: nat64
    confirm_within_ns: nat64
    offer_ttl_ns: nat64


@dataclass
class InitArgs:
    """Install argument: the payment ledger and who runs the market. Unset options take
    the defaults in `limits`."""

    ledger: Principal
    admin: Principal | None = None
    arbiter: Principal | None = None
    platform_fee_bps: nat16 | None = None
    ledger_fee: nat | None = None
    chat: Principal | None = None  # the chat canister of order conversations (`messaging`)


@dataclass
class ListingInput:
    title: str
    description: str
    price: nat
    quantity: nat32
    category: str


@dataclass
class ListingView:
    id: nat64
    shop_id: nat64
    shop_name: str
    seller: Principal
    title: str
    description: str
    price: nat
    available: nat32
    sold: nat32
    category: str
    images: list[str]  # URL paths of the images, served by http_request
    status: ListingStatus
    created_at: nat64
    favourites: nat32
    rating: float
    rating_count: nat64


@dataclass
class ListingPage:
    """A page of `search`; ``total`` counts every match."""

    listings: list[ListingView]
    next_cursor: str | None
    total: nat64


@dataclass
class SearchQuery:
    text: str = ""
    category: str | None = None
    shop_id: nat64 | None = None
    min_price: nat | None = None
    max_price: nat | None = None
    include_sold_out: bool = False
    sort: str = "newest"  # newest, price_asc, price_desc, popular
    status: str | None = None  # for_sale, active, auction, sold_out or any (`catalogue`)
    cursor: str | None = None
    limit: nat16 = 24


@dataclass
class OrderView:
    id: nat64
    listing_id: nat64
    title: str
    buyer: Principal
    seller: Principal
    quantity: nat32
    unit_price: nat
    amount: nat
    status: OrderStatus
    created_at: nat64
    updated_at: nat64
    ship_by: nat64
    confirm_by: nat64
    shipped_at: nat64  # 0 until the seller ships
    shipping_note: str
    dispute_reason: str
    note: str
    reviewed: bool
    source: str
    escrow: Account
    payouts: list[PayoutView]
    dispute_by: nat64 | None = None  # when an undecided dispute closes (`orders`)


@dataclass
class PayoutView:
    to: Account
    gross: nat
    purpose: str
    status: PayoutStatus
    block: nat | None
    last_error: str


@variant
class PaymentError:
    """Why a payment did not happen; the order is ``failed`` and nothing was taken."""

    InsufficientFunds: nat  # the buyer's balance
    InsufficientAllowance: nat  # what the marketplace may spend now
    LedgerError: str  # another ledger error, in words
    Pending: nat64  # the ledger did not answer: order id, reconciled by the timer

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@variant
class CheckoutResult:
    Ok: OrderView
    Err: PaymentError

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class OfferView:
    id: nat64
    listing_id: nat64
    buyer: Principal
    quantity: nat32
    amount: nat
    status: str
    created_at: nat64
    expires_at: nat64
    order_id: nat64 | None


@variant
class OfferResult:
    Ok: OfferView
    Err: PaymentError

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class AuctionView:
    id: nat64
    listing_id: nat64
    title: str
    seller: Principal
    quantity: nat32
    start_price: nat
    min_increment: nat
    next_min_bid: nat  # the least a new bid may be now
    reserve_met: bool
    starts_at: nat64
    ends_at: nat64
    status: str
    leading_bidder: Principal | None
    leading_amount: nat
    bids: nat32
    order_id: nat64 | None
    buy_now_price: nat | None = None
    extensions: nat32 = 0


@dataclass
class BidView:
    id: nat64
    auction_id: nat64
    bidder: Principal
    amount: nat
    status: str
    note: str
    escrow: Account


@variant
class BidResult:
    Ok: BidView
    Err: PaymentError

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class Notification:
    """A notification of `notifications`: ``kind`` names what happened (offer_received,
    item_sold, outbid, auction_ending, auction_won, order_shipped, dispute,
    order_message), ``text`` says it in words; the ids say what it is about."""

    id: nat64
    kind: str
    text: str
    at: nat64
    listing_id: nat64 | None
    order_id: nat64 | None
    auction_id: nat64 | None
    room_id: nat64 | None
    amount: nat | None  # token units (an offer, a bid, a sale)


@dataclass
class Activity:
    at: nat64
    kind: str  # listed, updated, price, sold, offer, offer_cancelled, reviewed, delisted...
    who: Principal
    amount: nat | None
    order_id: nat64 | None


@dataclass
class ReviewView:
    order_id: nat64
    author: Principal
    rating: nat8
    text: str
    created_at: nat64


@dataclass
class Stats:
    volume: nat
    sales: nat64
    orders: nat64
    listed: nat64  # listings open for sale
    shops: nat64
    escrow_held: nat  # funds in escrow right now (paid, not yet settled or refunded)
    platform_fees: nat
    auctions_running: nat64
    escrows: nat64  # escrow subaccounts opened so far (ids 1 to escrows)


@dataclass
class MarketConfig:
    ledger: Principal
    admin: Principal
    arbiter: Principal
    platform_fee_bps: nat16
    ledger_fee: nat
    checkout_timeout_ns: nat64
    ship_within_ns: nat64
    confirm_within_ns: nat64
    offer_ttl_ns: nat64
    max_price: nat
    max_image_bytes: nat32
    chunk_bytes: nat32


@dataclass
class CertifiedListing:
    """A listing's price, seller and status as certified data: ``leaf`` is the hash
    `certify.leaf_hash` gives; ``bucket`` the leaves of its bucket (sorted); ``buckets``
    the 256 bucket hashes whose hash is the ``listings`` leaf of ``witness``, a hash
    tree whose root is the canister's certified data, which ``certificate`` (the
    replica's signed state) reveals."""

    listing_id: nat64
    price: nat
    seller: Principal
    status: ListingStatus
    available: nat32
    leaf: bytes
    bucket: list[bytes]
    buckets: list[bytes]
    certificate: bytes | None
    witness: bytes = b""  # the hash tree revealing the listings' root (`certified_http`)
