"""The marketplace's unique items (ICRC-7 tokens): who holds each, the log, deduplication.

How it works: the collection lives inside the marketplace canister (docs/marketplace.md,
"Unique items", says why). A seller makes a one-unit listing a unique item
(`icrc7.mint_item`): the token, whose id is the listing's id, is minted into an escrow
account of the marketplace, ``(marketplace, item_escrow(token_id))``, and stays there
while it is for sale, in checkout, paid, shipped or disputed. The order's settlement
moves it to the buyer in the same message that records the payouts (`order_settled`),
so the payment and the item change hands together or not at all. A refund leaves it in
escrow while its listing is for sale again, and gives it back to the seller once
nothing holds it there (`reconcile`: the listing delisted, or the goods had shipped).
Outside escrow its holder moves it with ``icrc7_transfer`` or lets others move it
(`icrc37`), and can put it up for sale again (`icrc7.list_item`).

State (all stable):

* ``items[token_id]`` → `Item`: the holder (owner, 32-byte subaccount) and metadata;
* ``held[(owner, subaccount, token_id)]``: the holder index ``icrc7_tokens_of`` pages;
* ``balances[(owner, subaccount)]`` → number of tokens held;
* ``listing_token[listing_id]`` → the token a listing sells;
* ``token_approvals[(token_id, spender, spender_subaccount)]``,
  ``collection_approvals[(owner, subaccount, spender, spender_subaccount)]`` →
  `Approval` (ICRC-37; kept here because a transfer clears the token's approvals);
* ``log[index]`` → `Block`, in the ICRC-3 block schema's names (no hash chain);
* ``seen[digest]`` → the log index of a call with ``created_at_time`` within the
  deduplication window, ``seen_at[(created_at_time, digest)]`` to forget it after.

A default subaccount (``null``) and 32 zero bytes are the same account: subaccounts are
stored as 32 bytes and shown as ``null`` when zero.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from icframework.sdk import Principal, StableBTreeMap, ic, nat64

from .records import Account, Listing, ListingStatus, Order

TX_WINDOW_NS = 24 * 3600 * 10**9  # deduplication window (ICRC-7's TX_WINDOW)
PERMITTED_DRIFT_NS = 2 * 60 * 10**9  # clock drift allowed for created_at_time
MAX_QUERY_BATCH = 100
MAX_UPDATE_BATCH = 20
DEFAULT_TAKE = 20
MAX_TAKE = 100
MAX_MEMO_BYTES = 32
MAX_APPROVALS = 16  # active approvals per token, and per owner account for the collection
MAX_TOKEN_ID = 2**64 - 1
ZERO = bytes(32)
OPEN_ORDER = ("pending_payment", "paid", "shipped", "disputed")
PRUNE_STEP = 20  # expired deduplication entries dropped per call


class Refusal(Exception):
    """A standard error variant for one batch item: ``tag`` and its payload."""

    def __init__(self, tag: str, value: object = None) -> None:
        super().__init__(tag)
        self.tag = tag
        self.value = value


@dataclass
class Item:
    owner: Principal
    subaccount: bytes  # 32 bytes
    listing_id: nat64  # the listing that sells it now, or sold it last
    name: str
    description: str
    image: str  # URL path of the listing's first picture, "" for none
    minted_at: nat64
    minted_by: Principal


@dataclass
class Approval:
    from_subaccount: bytes  # 32 bytes
    expires_at: nat64 | None
    memo: bytes | None
    created_at_time: nat64


@dataclass
class Block:
    """One log entry; ``btype`` is the ICRC-3 block type (``7mint``, ``7xfer``,
    ``37approve``, ``37approve_coll``, ``37revoke``, ``37revoke_coll``, ``37xfer``)."""

    btype: str
    ts: nat64
    tid: nat64 | None
    source: Account | None  # the ``from`` account
    to: Account | None
    spender: Account | None
    memo: bytes | None
    created_at_time: nat64 | None


items = StableBTreeMap[nat64, Item]("icrc7.items")
held = StableBTreeMap[tuple[Principal, bytes, nat64], bool]("icrc7.held")
balances = StableBTreeMap[tuple[Principal, bytes], nat64]("icrc7.balances")
listing_token = StableBTreeMap[nat64, nat64]("icrc7.listing_token")
token_approvals = StableBTreeMap[tuple[nat64, Principal, bytes], Approval]("icrc37.token")
collection_approvals = StableBTreeMap[tuple[Principal, bytes, Principal, bytes], Approval](
    "icrc37.collection")
log = StableBTreeMap[nat64, Block]("icrc7.log")
seen = StableBTreeMap[bytes, nat64]("icrc7.seen")
seen_at = StableBTreeMap[tuple[nat64, bytes], bool]("icrc7.seen_at")
SMALLEST = Principal.management_canister()  # the empty principal: the first key of a range


# -- accounts -------------------------------------------------------------------------------

def subaccount(raw: bytes | None) -> bytes | None:
    """The stored form of a subaccount (32 bytes), or None if ``raw`` is not one."""
    if raw is None:
        return ZERO
    return raw if len(raw) == 32 else None


def shown(owner: Principal, sub: bytes) -> Account:
    return Account(owner, None if sub == ZERO else sub)


def item_escrow(token_id: int) -> bytes:
    """The marketplace subaccount that holds item ``token_id`` while it is listed."""
    return hashlib.sha256(b"icframework-market-item" + token_id.to_bytes(8, "big")).digest()


def in_escrow(item: Item, token_id: int) -> bool:
    return item.owner == ic.id() and item.subaccount == item_escrow(token_id)


def holder(token_id: int) -> Item:
    """The item ``token_id``; `Refusal` ``NonExistingTokenId`` if there is none."""
    found = items.get(token_id) if 0 <= token_id <= MAX_TOKEN_ID else None
    if found is None:
        raise Refusal("NonExistingTokenId")
    return found


def tokens_held(owner: Principal, sub: bytes, after: int | None, take: int) -> list[int]:
    """Up to ``take`` ids held by ``(owner, sub)`` greater than ``after``, ascending."""
    if after is not None and after >= MAX_TOKEN_ID:
        return []
    start = 0 if after is None else after + 1
    return [tid for (_o, _s, tid), _ in held.range((owner, sub, start),
                                                    (owner, sub, MAX_TOKEN_ID), limit=take)]


# -- the log and deduplication --------------------------------------------------------------

def append(btype: str, tid: int | None, source: Account | None, to: Account | None, *,
           spender: Account | None = None, memo: bytes | None = None,
           created_at_time: int | None = None) -> int:
    """Add a block; its index (the ``Ok`` of the call that made it)."""
    index = len(log)
    log[index] = Block(btype, ic.time(), tid, source, to, spender, memo, created_at_time)
    return index


def check_memo(memo: bytes | None) -> None:
    if memo is not None and len(memo) > MAX_MEMO_BYTES:
        raise Refusal("GenericError", (1, f"a memo is at most {MAX_MEMO_BYTES} bytes, "
                                          f"got {len(memo)}"))


def check_time(created_at_time: int | None) -> None:
    """`Refusal` ``TooOld`` or ``CreatedInFuture`` for a time outside the window."""
    if created_at_time is None:
        return
    now = ic.time()
    if created_at_time < now - TX_WINDOW_NS - PERMITTED_DRIFT_NS:
        raise Refusal("TooOld")
    if created_at_time > now + PERMITTED_DRIFT_NS:
        raise Refusal("CreatedInFuture", now)


def digest(kind: str, caller: Principal, *fields: object) -> bytes:
    """What identifies a call for deduplication: the method, the caller, every field."""
    text = repr((kind, caller.raw, *(f.hex() if isinstance(f, bytes) else f for f in fields)))
    return hashlib.sha256(text.encode()).digest()


def check_duplicate(key: bytes | None) -> None:
    """`Refusal` ``Duplicate`` if the same call was made within the window."""
    if key is None:
        return
    _prune()
    index = seen.get(key)
    if index is not None:
        raise Refusal("Duplicate", index)


def remember(key: bytes | None, created_at_time: int | None, index: int) -> None:
    if key is not None and created_at_time is not None:
        seen[key] = index
        seen_at[(created_at_time, key)] = True


def _prune() -> None:
    """Forget a few calls too old to be repeated (older than the window and the drift)."""
    cutoff = ic.time() - TX_WINDOW_NS - PERMITTED_DRIFT_NS
    if cutoff <= 0:
        return
    for (at, key), _ in list(seen_at.range(None, (cutoff, b""), limit=PRUNE_STEP)):
        seen_at.remove((at, key))
        seen.remove(key)


# -- moving tokens --------------------------------------------------------------------------

def mint(token_id: int, listing: Listing, image: str, by: Principal) -> int:
    """Create item ``token_id`` for ``listing``, held in its escrow; the log index."""
    escrow = item_escrow(token_id)
    items[token_id] = Item(ic.id(), escrow, listing.id, listing.title, listing.description,
                           image, ic.time(), by)
    _hold(ic.id(), escrow, token_id, 1)
    listing_token[listing.id] = token_id
    return append("7mint", token_id, None, shown(ic.id(), escrow))


def move(token_id: int, owner: Principal, sub: bytes, *, btype: str = "7xfer",
         spender: Account | None = None, memo: bytes | None = None,
         created_at_time: int | None = None) -> int:
    """Give item ``token_id`` to ``(owner, sub)``, clearing its token-level approvals;
    the log index."""
    item = items[token_id]
    source = shown(item.owner, item.subaccount)
    _hold(item.owner, item.subaccount, token_id, -1)
    item.owner, item.subaccount = owner, sub
    items[token_id] = item
    _hold(owner, sub, token_id, 1)
    for key, _ in list(token_approvals.range((token_id, SMALLEST, b""),
                                             (token_id + 1, SMALLEST, b""))):
        token_approvals.remove(key)
    return append(btype, token_id, source, shown(owner, sub), spender=spender, memo=memo,
                  created_at_time=created_at_time)


def _hold(owner: Principal, sub: bytes, token_id: int, delta: int) -> None:
    count = balances.get((owner, sub), 0) + delta
    if delta > 0:
        held[(owner, sub, token_id)] = True
    else:
        held.remove((owner, sub, token_id))
    if count:
        balances[(owner, sub)] = count
    else:
        balances.remove((owner, sub))


def relist(token_id: int, listing: Listing) -> None:
    """Put an item its holder listed again (`icrc7.list_item`) into escrow for
    ``listing``."""
    move(token_id, ic.id(), item_escrow(token_id))
    item = items[token_id]
    item.listing_id = listing.id
    items[token_id] = item
    listing_token[listing.id] = token_id


# -- the marketplace's hooks ----------------------------------------------------------------

def _escrowed(listing_id: int) -> int | None:
    """The token listing ``listing_id`` sells, if it is still in the listing's escrow."""
    token_id = listing_token.get(listing_id)
    if token_id is None:
        return None
    item = items.get(token_id)
    if item is None or item.listing_id != listing_id or not in_escrow(item, token_id):
        return None
    return token_id


def order_settled(order: Order) -> None:
    """Settlement (the payouts are recorded in this message): the item goes to the
    buyer."""
    token_id = _escrowed(order.listing_id)
    if token_id is not None:
        move(token_id, order.buyer, ZERO, memo=b"order:" + order.id.to_bytes(8, "big"))


def reconcile(listing: Listing, *, refunded: bool = False) -> None:
    """After a listing changed, or one of its orders was ``refunded``: an escrowed item
    goes back to the seller once its listing is delisted, or a refund left it unsold
    (the goods had shipped), and no checkout or open order holds it."""
    token_id = _escrowed(listing.id)
    if token_id is None or listing.locked:
        return
    for_sale = listing.status in (ListingStatus.active, ListingStatus.auction) and \
        listing.quantity > 0
    if listing.status is not ListingStatus.delisted and (not refunded or for_sale):
        return
    if any(o.status in OPEN_ORDER for o in Order.objects.filter(listing_id=listing.id)):
        return
    move(token_id, listing.seller, ZERO)


def order_refunded(order: Order) -> None:
    """After a refund was recorded: see `reconcile`."""
    listing = Listing.objects.filter(id=order.listing_id).first()
    if listing is not None:
        reconcile(listing, refunded=True)


def check_edit(listing: Listing, quantity: int) -> str | None:
    """Why ``update_listing`` may not set ``quantity`` on a unique item's listing, or
    None (any listing that sells no item may)."""
    token_id = listing_token.get(listing.id)
    if token_id is None:
        return None
    if _escrowed(listing.id) is None:
        return (f"listing {listing.id} sold its unique item {token_id}; "
                "a unique item is not restocked")
    if quantity != 1:
        return f"listing {listing.id} sells unique item {token_id}: its quantity is 1"
    if listing.quantity != 1:
        return (f"unique item {token_id} of listing {listing.id} is in checkout or sold; "
                "edit the listing if it comes back")
    return None


def approvals_count(token_id: int) -> int:
    return sum(1 for _ in token_approvals.range((token_id, SMALLEST, b""),
                                                (token_id + 1, SMALLEST, b"")))
