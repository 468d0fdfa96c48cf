"""Every limit and default of the marketplace, in one place (docs/marketplace.md lists them)."""

from __future__ import annotations

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY = 24 * 60 * MINUTE

MAX_PRICE = 10**18  # token units (10 billion tokens at 8 decimals)
MAX_QUANTITY = 1_000_000
MAX_TITLE_CHARS = 120
MAX_DESCRIPTION_CHARS = 5_000
MAX_CATEGORY_CHARS = 40
MAX_SHOP_NAME_CHARS = 80
MAX_REVIEW_CHARS = 2_000
MAX_NOTE_CHARS = 500
MAX_ROYALTY_BPS = 2_000  # 20 %
MAX_PLATFORM_FEE_BPS = 2_000
MAX_IMAGES_PER_LISTING = 8
MAX_IMAGE_BYTES = 2 * 1024 * 1024  # one http_request answer (no streaming yet)
CHUNK_BYTES = 512 * 1024  # upload and storage chunk
MAX_PAGE = 100
MAX_SEARCH_TOKENS = 8
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")

DEFAULT_PLATFORM_FEE_BPS = 250  # 2.5 %
DEFAULT_LEDGER_FEE = 10_000
CHECKOUT_TIMEOUT_NS = 10 * MINUTE  # an unanswered payment is retried for this long, then again
SHIP_WITHIN_NS = 7 * DAY  # unshipped paid orders are refunded after this
CONFIRM_WITHIN_NS = 14 * DAY  # shipped orders are confirmed (seller paid) after this
OFFER_TTL_NS = 3 * DAY  # open offers are refunded after this
MIN_AUCTION_NS = MINUTE
MAX_AUCTION_NS = 30 * DAY
SWEEP_EVERY_NS = 10 * SECOND
SWEEP_BUDGET = 25  # ledger calls per sweep
STALE_IN_FLIGHT_NS = 2 * MINUTE  # an in-flight payout older than this is retried (deduplicated)
DISPUTE_WITHIN_NS = 14 * DAY  # an undecided dispute closes by the rule in `orders` after this
AUCTION_EXTEND_NS = 5 * MINUTE  # a bid in the last 5 minutes moves the end 5 minutes later
AUCTION_ENDING_NOTICE_NS = 15 * MINUTE  # bidders and the seller hear this long before the end
MAX_TITLE_IN_CHAT = 60  # characters of the listing title in an order room name
