"""The marketplace canister: shops, listings, ICRC-2 checkout into escrow, orders, offers, auctions.

Money moves only through the payment ledger named at install (any ICRC-1/ICRC-2
ledger; the demo uses the framework's own, docs/ledger.md): buyers approve the
marketplace, the marketplace pulls each payment into an escrow subaccount of its own
(one per order, offer or bid) and pays out from there. docs/marketplace.md is the API
reference and explains why no path loses or duplicates money. Modules: `market`
(shops, listings, images, search, the HTTP gateway), `orders` (checkout, lifecycle,
the sweeper), `offers`, `auctions`, `payouts`, `social` (favourites, reviews, stats),
`catalogue` (the search indexes), `certify` (certified prices and ownership), `ledger`
(the ICRC calls), `notifications` (kept and pushed live), `messaging` (order
conversations in the chat canister), `limits`.
"""

from __future__ import annotations

from icframework.sdk import (
    Principal,
    Reject,
    ic,
    init,
    nat16,
    nat64,
    post_upgrade,
    query,
    set_timer,
    set_timer_interval,
    update,
)

from . import (  # noqa: F401 - collection, icrc7, icrc37: the ICRC-7/ICRC-37 methods
    access,
    auctions,
    catalogue,
    certified_http,
    certify,
    collection,
    icrc7,
    icrc37,
    limits,
    market,
    messaging,
    notifications,
    offers,
    orders,
    social,
)
from .records import CertifiedListing, Config, InitArgs, MarketConfig
from .store import config, images

__all__ = ["auctions", "catalogue", "certify", "market", "messaging", "notifications", "offers",
           "orders", "social"]


async def sweep_timer() -> None:
    await orders.sweep()


@init
def setup(args: InitArgs) -> None:
    """Install with ``record { ledger = principal "..."; admin = opt ...; arbiter = opt
    ...; platform_fee_bps = opt 250; ledger_fee = opt 10_000; chat = opt principal
    "..." }``."""
    if args.ledger.is_anonymous:
        raise Reject("the ledger must be a canister id, not the anonymous principal")
    admin = args.admin or ic.caller()
    fee_bps = limits.DEFAULT_PLATFORM_FEE_BPS if args.platform_fee_bps is None \
        else args.platform_fee_bps
    if fee_bps > limits.MAX_PLATFORM_FEE_BPS:
        raise Reject(f"platform_fee_bps is at most {limits.MAX_PLATFORM_FEE_BPS}")
    config.set(Config(
        ledger=args.ledger, admin=admin, arbiter=args.arbiter or admin,
        platform_fee_bps=fee_bps,
        ledger_fee=limits.DEFAULT_LEDGER_FEE if args.ledger_fee is None else args.ledger_fee,
        checkout_timeout_ns=limits.CHECKOUT_TIMEOUT_NS, ship_within_ns=limits.SHIP_WITHIN_NS,
        confirm_within_ns=limits.CONFIRM_WITHIN_NS, offer_ttl_ns=limits.OFFER_TTL_NS,
    ))
    ic.set_certified_data(certified_http.root(certify.root_hash(certify.all_buckets())))
    catalogue.version.set(catalogue.VERSION)
    messaging.configure(args.chat)
    set_timer_interval(limits.SWEEP_EVERY_NS, sweep_timer)


@post_upgrade
def upgraded(args: InitArgs) -> None:
    """Keep everything (a ``chat`` in the argument replaces the chat canister); bring
    the catalogue of an older version to the current layout (before version 1, search
    read the ``words`` postings and scanned listings; before version 2 auctions shared
    the for-sale family): one step now, the rest by a timer, a step per message. Images
    stored before they were certified are certified now (`certified_http`)."""
    messaging.configure(args.chat)
    certified_http.certify_all([(image_id, meta.sha256) for image_id, meta in images.range()])
    if catalogue.version.get() < catalogue.VERSION and not catalogue.rebuilding():
        catalogue.start_rebuild()
        rebuild_timer()
    # (a rebuild under way when this upgrade came goes on: its timer was kept)


def rebuild_timer() -> None:
    """One step of the catalogue's rebuild; the next one in a later message."""
    if not catalogue.rebuild_step():
        set_timer(1, rebuild_timer)


@update
def set_platform_fee(bps: nat16) -> MarketConfig:
    """The admin sets the platform fee for later settlements (at most 2000 bps)."""
    access.require_admin()
    if bps > limits.MAX_PLATFORM_FEE_BPS:
        raise Reject(f"the platform fee is at most {limits.MAX_PLATFORM_FEE_BPS} bps, got {bps}")
    cfg = config.get()
    cfg.platform_fee_bps = bps
    config.set(cfg)
    return social.market_config()


@update
def set_periods(ship_within_ns: nat64, confirm_within_ns: nat64,
                offer_ttl_ns: nat64) -> MarketConfig:
    """The admin sets how long sellers have to ship, buyers to confirm, offers to live."""
    access.require_admin()
    if min(ship_within_ns, confirm_within_ns, offer_ttl_ns) < limits.MINUTE:
        raise Reject("each period is at least one minute")
    cfg = config.get()
    cfg.ship_within_ns, cfg.confirm_within_ns, cfg.offer_ttl_ns = (
        ship_within_ns, confirm_within_ns, offer_ttl_ns)
    config.set(cfg)
    return social.market_config()


@update
def set_arbiter(arbiter: Principal) -> MarketConfig:
    """The admin names the principal that decides disputes."""
    access.require_admin()
    cfg = config.get()
    cfg.arbiter = arbiter
    config.set(cfg)
    return social.market_config()


@query
def certified_listing(listing_id: nat64) -> CertifiedListing:
    """A listing's price, seller, availability and status with the proof that they are
    the canister's certified data (check with `certify.verify` before paying)."""
    listing = access.get_listing(listing_id)
    return CertifiedListing(
        listing.id, listing.price, listing.seller, listing.status, listing.quantity,
        certify.leaf_hash(listing.id, listing.seller, listing.price, listing.quantity,
                          listing.status.value),
        certify.bucket_leaves(listing.id), certify.all_buckets(), ic.data_certificate(),
        certified_http.listings_witness(certify.listings_root()),
    )
