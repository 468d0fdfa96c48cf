"""ICRC-7 and ICRC-10 for the marketplace's unique items, plus minting and relisting them.

The methods are the standard's, with its types and error variants (``ICRC-7.did`` in
``apps/marketplace/standards/``; a test checks the canister's interface is a Candid
subtype of it). Batches: queries answer a prefix of at most `MAX_QUERY_BATCH` items;
updates process at most `MAX_UPDATE_BATCH` items, the next one gets
``GenericBatchError`` and the rest no answer. ``icrc7_transfer`` is not atomic across a
batch (each item succeeds or fails alone) and deduplicates items that carry
``created_at_time`` within a 24-hour window. The marketplace's own methods
(`mint_item`, `list_item`, `collection_log`) reject with a message, like the rest of
the marketplace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from icframework.sdk import Principal, Reject, ic, nat, nat64, query, update, variant

from . import access, collection, market
from .collection import (
    DEFAULT_TAKE,
    MAX_APPROVALS,
    MAX_MEMO_BYTES,
    MAX_QUERY_BATCH,
    MAX_TAKE,
    MAX_UPDATE_BATCH,
    PERMITTED_DRIFT_NS,
    TX_WINDOW_NS,
    Refusal,
)
from .records import Account, ListingInput, ListingStatus, ListingView

NAME = "Marketplace items"
SYMBOL = "ITEM"
DESCRIPTION = ("Unique items sold on this marketplace: each token is one listed item, "
               "held in the marketplace's escrow while it is for sale")
STANDARDS = [
    ("ICRC-7", "https://github.com/dfinity/ICRC/ICRCs/ICRC-7"),
    ("ICRC-10", "https://github.com/dfinity/ICRC/ICRCs/ICRC-10"),
    ("ICRC-37", "https://github.com/dfinity/ICRC/ICRCs/ICRC-37"),
]


@variant
class Value:
    """ICRC-3's generic value."""

    Blob: bytes
    Text: str
    Nat: nat
    Int: int
    Array: list[Value]
    Map: list[tuple[str, Value]]

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class TransferArg:
    from_subaccount: bytes | None
    to: Account
    token_id: nat
    memo: bytes | None
    created_at_time: nat64 | None


@dataclass
class LedgerTime:
    ledger_time: nat64


@dataclass
class DuplicateOf:
    duplicate_of: nat


@dataclass
class ErrorDetail:
    error_code: nat
    message: str


@variant
class TransferError:
    NonExistingTokenId: None
    InvalidRecipient: None
    Unauthorized: None
    TooOld: None
    CreatedInFuture: LedgerTime
    Duplicate: DuplicateOf
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@variant
class TransferResult:
    Ok: nat
    Err: TransferError

    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class SupportedStandard:
    name: str
    url: str


def error_payload(refusal: Refusal) -> object:
    """The standard payload record of a refusal's tag."""
    if refusal.tag == "CreatedInFuture":
        return LedgerTime(cast(int, refusal.value))
    if refusal.tag == "Duplicate":
        return DuplicateOf(cast(int, refusal.value))
    if refusal.tag in ("GenericError", "GenericBatchError"):
        code, message = cast(tuple[int, str], refusal.value)
        return ErrorDetail(code, message)
    return None


def batch_error(size: int) -> Refusal:
    return Refusal("GenericBatchError", (
        2, f"a batch holds at most {MAX_UPDATE_BATCH} items, got {size}: "
           f"items from index {MAX_UPDATE_BATCH} on were not processed"))


def take_of(take: int | None) -> int:
    return DEFAULT_TAKE if take is None else min(take, MAX_TAKE)


# -- collection metadata --------------------------------------------------------------------

@query
def icrc7_collection_metadata() -> list[tuple[str, Value]]:
    return [
        ("icrc7:symbol", Value(Text=SYMBOL)),
        ("icrc7:name", Value(Text=NAME)),
        ("icrc7:description", Value(Text=DESCRIPTION)),
        ("icrc7:total_supply", Value(Nat=len(collection.items))),
        ("icrc7:max_query_batch_size", Value(Nat=MAX_QUERY_BATCH)),
        ("icrc7:max_update_batch_size", Value(Nat=MAX_UPDATE_BATCH)),
        ("icrc7:default_take_value", Value(Nat=DEFAULT_TAKE)),
        ("icrc7:max_take_value", Value(Nat=MAX_TAKE)),
        ("icrc7:max_memo_size", Value(Nat=MAX_MEMO_BYTES)),
        ("icrc7:tx_window", Value(Nat=TX_WINDOW_NS // 10**9)),
        ("icrc7:permitted_drift", Value(Nat=PERMITTED_DRIFT_NS // 10**9)),
        ("icrc37:max_approvals_per_token_or_collection", Value(Nat=MAX_APPROVALS)),
        ("icrc37:max_revoke_approvals", Value(Nat=MAX_UPDATE_BATCH)),
    ]


@query
def icrc7_symbol() -> str:
    return SYMBOL


@query
def icrc7_name() -> str:
    return NAME


@query
def icrc7_description() -> str | None:
    return DESCRIPTION


@query
def icrc7_logo() -> str | None:
    return None


@query
def icrc7_total_supply() -> nat:
    """Items in existence (every minted item: none is burnt)."""
    return len(collection.items)


@query
def icrc7_supply_cap() -> nat | None:
    """None: any one-unit listing can become an item."""
    return None


@query
def icrc7_max_query_batch_size() -> nat | None:
    return MAX_QUERY_BATCH


@query
def icrc7_max_update_batch_size() -> nat | None:
    return MAX_UPDATE_BATCH


@query
def icrc7_default_take_value() -> nat | None:
    return DEFAULT_TAKE


@query
def icrc7_max_take_value() -> nat | None:
    return MAX_TAKE


@query
def icrc7_max_memo_size() -> nat | None:
    return MAX_MEMO_BYTES


@query
def icrc7_atomic_batch_transfers() -> bool | None:
    return False


@query
def icrc7_tx_window() -> nat | None:
    """Seconds."""
    return TX_WINDOW_NS // 10**9


@query
def icrc7_permitted_drift() -> nat | None:
    """Seconds."""
    return PERMITTED_DRIFT_NS // 10**9


@query
def icrc10_supported_standards() -> list[SupportedStandard]:
    return [SupportedStandard(name, url) for name, url in STANDARDS]


# -- tokens ---------------------------------------------------------------------------------

def _metadata(token_id: int) -> list[tuple[str, Value]] | None:
    item = collection.items.get(token_id) if token_id <= collection.MAX_TOKEN_ID else None
    if item is None:
        return None
    meta = [("market:name", Value(Text=item.name)),
            ("market:description", Value(Text=item.description)),
            ("market:listing", Value(Nat=item.listing_id)),
            ("market:minted_at", Value(Nat=item.minted_at)),
            ("market:minted_by", Value(Blob=item.minted_by.raw))]
    if item.image:
        meta.append(("market:image", Value(Text=item.image)))
    return meta


@query
def icrc7_token_metadata(token_ids: list[nat]) -> list[list[tuple[str, Value]] | None]:
    """Each item's name, description, listing, mint time and minter, and picture path
    (``market:`` keys); null for an id that is no item."""
    return [_metadata(t) for t in token_ids[:MAX_QUERY_BATCH]]


@query
def icrc7_owner_of(token_ids: list[nat]) -> list[Account | None]:
    """Each item's holder (a listed item: the marketplace's escrow for it); null for an
    id that is no item."""
    found: list[Account | None] = []
    for token_id in token_ids[:MAX_QUERY_BATCH]:
        item = collection.items.get(token_id) if token_id <= collection.MAX_TOKEN_ID else None
        found.append(collection.shown(item.owner, item.subaccount) if item else None)
    return found


@query
def icrc7_balance_of(accounts: list[Account]) -> list[nat]:
    counts = []
    for account in accounts[:MAX_QUERY_BATCH]:
        sub = collection.subaccount(account.subaccount)
        counts.append(0 if sub is None else collection.balances.get((account.owner, sub), 0))
    return counts


@query
def icrc7_tokens(prev: nat | None, take: nat | None) -> list[nat]:
    """Item ids in ascending order after ``prev``."""
    if prev is not None and prev >= collection.MAX_TOKEN_ID:
        return []
    start = 0 if prev is None else prev + 1
    return [tid for tid, _ in collection.items.range(start, None, limit=take_of(take))] \
        if take_of(take) else []


@query
def icrc7_tokens_of(account: Account, prev: nat | None, take: nat | None) -> list[nat]:
    """The ids ``account`` holds, ascending, after ``prev``."""
    sub = collection.subaccount(account.subaccount)
    if sub is None or not take_of(take):
        return []
    return collection.tokens_held(account.owner, sub, prev, take_of(take))


def _transfer_one(caller: Principal, arg: TransferArg) -> int:
    collection.check_memo(arg.memo)
    collection.check_time(arg.created_at_time)
    from_sub = collection.subaccount(arg.from_subaccount)
    to_sub = collection.subaccount(arg.to.subaccount)
    key = None if arg.created_at_time is None else collection.digest(
        "icrc7_transfer", caller, arg.from_subaccount, arg.to.owner, arg.to.subaccount,
        arg.token_id, arg.memo, arg.created_at_time)
    collection.check_duplicate(key)
    item = collection.holder(arg.token_id)
    if from_sub is None or (item.owner, item.subaccount) != (caller, from_sub):
        raise Refusal("Unauthorized")
    if to_sub is None or (arg.to.owner, to_sub) == (caller, from_sub):
        raise Refusal("InvalidRecipient")
    if arg.to.owner.is_anonymous or arg.to.owner == ic.id():
        raise Refusal("InvalidRecipient")  # nobody could move it again
    index = collection.move(arg.token_id, arg.to.owner, to_sub, memo=arg.memo,
                            created_at_time=arg.created_at_time)
    collection.remember(key, arg.created_at_time, index)
    return index


@update
def icrc7_transfer(args: list[TransferArg]) -> list[TransferResult | None]:
    """Move items the caller holds (``from_subaccount``) to ``to``; one result per item,
    in order. ``to`` may not be the sender, the anonymous principal or the
    marketplace itself."""
    caller = ic.caller()
    results: list[TransferResult | None] = []
    for n, arg in enumerate(args):
        if n == MAX_UPDATE_BATCH:
            refusal = batch_error(len(args))
            results.append(TransferResult(Err=TransferError(
                GenericBatchError=error_payload(refusal))))
            break
        try:
            results.append(TransferResult(Ok=_transfer_one(caller, arg)))
        except Refusal as refusal:
            results.append(TransferResult(Err=TransferError(
                **{refusal.tag: error_payload(refusal)})))
    return results


# -- the marketplace's own methods ----------------------------------------------------------

@update
def mint_item(listing_id: nat64) -> nat:
    """Make the caller's one-unit listing a unique item: mint its token (id = the
    listing id) into the listing's escrow. Only an active listing with one unit, never
    sold nor in checkout, can be minted; it can be minted once."""
    listing = access.own_listing(listing_id)
    if collection.listing_token.get(listing_id) is not None:
        raise Reject(f"listing {listing_id} is unique item "
                     f"{collection.listing_token.get(listing_id)} already")
    if listing.status is not ListingStatus.active:
        raise Reject(f"listing {listing_id} is {listing.status.value}; "
                     "mint an active listing")
    if listing.quantity != 1 or listing.locked or listing.sold:
        raise Reject(f"a unique item is one unit never sold: listing {listing_id} has "
                     f"{listing.quantity} for sale, {listing.locked} in checkout and "
                     f"{listing.sold} sold")
    image = f"/images/{listing.images[0]}" if listing.images else ""
    collection.mint(listing_id, listing, image, listing.seller)
    market.record_activity(listing_id, "minted", listing.seller)
    return listing_id


@update
def list_item(token_id: nat, from_subaccount: bytes | None, data: ListingInput,
              image_ids: list[nat64]) -> ListingView:
    """Sell an item the caller holds on this marketplace: a new one-unit listing in the
    caller's shop, the item moved into its escrow (its approvals cleared)."""
    who = access.me()
    try:
        item = collection.holder(token_id)
    except Refusal:
        raise Reject(f"no item {token_id}") from None
    if (item.owner, item.subaccount) != (who, collection.subaccount(from_subaccount)):
        raise Reject(f"item {token_id} is not held by {who} in that subaccount")
    if data.quantity != 1:
        raise Reject(f"a unique item is listed as one unit, not {data.quantity}")
    view = market.create_listing(data, image_ids)
    listing = access.get_listing(view.id)
    collection.relist(token_id, listing)
    market.record_activity(listing.id, "item", who, None)
    return view


@query
def collection_log(start: nat, take: nat | None) -> list[Value]:
    """The collection's log from index ``start``: ICRC-3-shaped blocks (``btype``,
    ``ts``, ``tx`` with ``tid``, ``from``, ``to``, ``spender``, ``memo``, ``ts``) — not
    ICRC-3 itself: no parent hashes, no certificate."""
    if start > collection.MAX_TOKEN_ID:
        return []
    return [_block(b) for _i, b in collection.log.range(start, None, limit=take_of(take))] \
        if take_of(take) else []


def _account(account: Account) -> Value:
    parts = [Value(Blob=account.owner.raw)]
    if account.subaccount is not None:
        parts.append(Value(Blob=account.subaccount))
    return Value(Array=parts)


def _block(block: collection.Block) -> Value:
    tx: list[tuple[str, Value]] = []
    if block.tid is not None:
        tx.append(("tid", Value(Nat=block.tid)))
    for name, account in (("from", block.source), ("to", block.to),
                          ("spender", block.spender)):
        if account is not None:
            tx.append((name, _account(account)))
    if block.memo is not None:
        tx.append(("memo", Value(Blob=block.memo)))
    if block.created_at_time is not None:
        tx.append(("ts", Value(Nat=block.created_at_time)))
    return Value(Map=[("btype", Value(Text=block.btype)), ("ts", Value(Nat=block.ts)),
                      ("tx", Value(Map=tx))])

