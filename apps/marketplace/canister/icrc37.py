"""ICRC-37 approvals of the marketplace's items: a market or a wallet moves them for the holder.

Approvals are per token (`icrc37_approve_tokens`, cleared when the item moves) or for
every item an account holds (`icrc37_approve_collection`); at most `MAX_APPROVALS` of
each kind are active per token or per account, an approval with ``expires_at`` in the
past is not active, and a new approval for the same spender replaces the old one. A
listed item is held in the marketplace's escrow, so nobody can approve or move it until
it is sold (to the buyer) or taken back (by the seller). Batches, errors and
deduplication follow `icrc7`. ``icrc37_approve_collection`` answers ``Ok``/``Err``
results (``ApproveCollectionResult``) like the reference implementations, where the
standard's .did says ``opt ApproveCollectionError``: a client reading at the
standard's type gets the errors as written and ``null`` for a success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

from icframework.sdk import Principal, ic, nat, nat64, query, update, variant

from . import collection
from .collection import (
    MAX_APPROVALS,
    MAX_QUERY_BATCH,
    MAX_UPDATE_BATCH,
    SMALLEST,
    ZERO,
    Approval,
    Refusal,
)
from .icrc7 import (
    DuplicateOf,
    ErrorDetail,
    LedgerTime,
    Value,
    batch_error,
    error_payload,
    take_of,
)
from .records import Account


@dataclass
class ApprovalInfo:
    spender: Account
    from_subaccount: bytes | None
    expires_at: nat64 | None
    memo: bytes | None
    created_at_time: nat64


@dataclass
class ApproveTokenArg:
    token_id: nat
    approval_info: ApprovalInfo


@dataclass
class ApproveCollectionArg:
    approval_info: ApprovalInfo


@dataclass
class RevokeTokenApprovalArg:
    spender: Account | None
    from_subaccount: bytes | None
    token_id: nat
    memo: bytes | None
    created_at_time: nat64 | None


@dataclass
class RevokeCollectionApprovalArg:
    spender: Account | None
    from_subaccount: bytes | None
    memo: bytes | None
    created_at_time: nat64 | None


@dataclass
class IsApprovedArg:
    spender: Account
    from_subaccount: bytes | None
    token_id: nat


@dataclass
class TokenApproval:
    token_id: nat
    approval_info: ApprovalInfo


# ``from`` is a Python keyword: the record is a TypedDict in the functional syntax.
TransferFromArg = TypedDict("TransferFromArg", {
    "spender_subaccount": bytes | None,
    "from": Account,
    "to": Account,
    "token_id": nat,
    "memo": bytes | None,
    "created_at_time": nat64 | None,
})


class _Result:
    if TYPE_CHECKING:
        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@variant
class ApproveTokenError(_Result):
    InvalidSpender: None
    Unauthorized: None
    NonExistingTokenId: None
    TooOld: None
    CreatedInFuture: LedgerTime
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail


@variant
class ApproveTokenResult(_Result):
    Ok: nat
    Err: ApproveTokenError


@variant
class ApproveCollectionError(_Result):
    InvalidSpender: None
    TooOld: None
    CreatedInFuture: LedgerTime
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail


@variant
class ApproveCollectionResult(_Result):
    Ok: nat
    Err: ApproveCollectionError


@variant
class RevokeTokenApprovalError(_Result):
    ApprovalDoesNotExist: None
    Unauthorized: None
    NonExistingTokenId: None
    TooOld: None
    CreatedInFuture: LedgerTime
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail


@variant
class RevokeTokenApprovalResponse(_Result):
    Ok: nat
    Err: RevokeTokenApprovalError


@variant
class RevokeCollectionApprovalError(_Result):
    ApprovalDoesNotExist: None
    TooOld: None
    CreatedInFuture: LedgerTime
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail


@variant
class RevokeCollectionApprovalResult(_Result):
    Ok: nat
    Err: RevokeCollectionApprovalError


@variant
class TransferFromError(_Result):
    InvalidRecipient: None
    Unauthorized: None
    NonExistingTokenId: None
    TooOld: None
    CreatedInFuture: LedgerTime
    Duplicate: DuplicateOf
    GenericError: ErrorDetail
    GenericBatchError: ErrorDetail


@variant
class TransferFromResponse(_Result):
    Ok: nat
    Err: TransferFromError


def _batch(args: list[Any], one: Any, result: Any, error: Any) -> list[Any]:
    """Run ``one(arg)`` per item (at most `MAX_UPDATE_BATCH`, then GenericBatchError),
    wrapping its log index or `Refusal` in the standard's result variant."""
    out: list[Any] = []
    for n, arg in enumerate(args):
        try:
            if n == MAX_UPDATE_BATCH:
                raise batch_error(len(args))
            out.append(result(Ok=one(arg)))
        except Refusal as refusal:
            out.append(result(Err=error(**{refusal.tag: error_payload(refusal)})))
            if n == MAX_UPDATE_BATCH:
                break
    return out


def _active(approval: Approval) -> bool:
    return approval.expires_at is None or approval.expires_at > ic.time()


def _info(spender: tuple[Principal, bytes], approval: Approval) -> ApprovalInfo:
    from_sub = None if approval.from_subaccount == ZERO else approval.from_subaccount
    return ApprovalInfo(collection.shown(*spender), from_sub, approval.expires_at,
                        approval.memo, approval.created_at_time)


def _spender(info: ApprovalInfo, caller: Principal) -> tuple[Principal, bytes, bytes]:
    """(spender, spender subaccount, from subaccount) of an approval the caller gives."""
    if caller.is_anonymous:
        raise Refusal("GenericError", (6, "sign in first: the anonymous principal holds "
                                          "no items"))
    collection.check_memo(info.memo)
    collection.check_time(info.created_at_time)
    spender_sub = collection.subaccount(info.spender.subaccount)
    if spender_sub is None or info.spender.owner == caller or info.spender.owner.is_anonymous:
        raise Refusal("InvalidSpender")
    from_sub = collection.subaccount(info.from_subaccount)
    if from_sub is None:
        raise Refusal("GenericError", (3, "from_subaccount is 32 bytes"))
    if info.expires_at is not None and info.expires_at <= ic.time():
        raise Refusal("GenericError", (4, f"expires_at {info.expires_at} is in the past "
                                          f"(now {ic.time()})"))
    return info.spender.owner, spender_sub, from_sub


def _approve_token(caller: Principal, arg: ApproveTokenArg) -> int:
    info = arg.approval_info
    spender, spender_sub, from_sub = _spender(info, caller)
    item = collection.holder(arg.token_id)
    if (item.owner, item.subaccount) != (caller, from_sub):
        raise Refusal("Unauthorized")
    key = (arg.token_id, spender, spender_sub)
    _prune_token(arg.token_id)
    if key not in collection.token_approvals and \
            collection.approvals_count(arg.token_id) >= MAX_APPROVALS:
        raise Refusal("GenericError", (5, f"a token has at most {MAX_APPROVALS} approvals"))
    collection.token_approvals[key] = Approval(from_sub, info.expires_at, info.memo,
                                               info.created_at_time)
    return collection.append("37approve", arg.token_id, collection.shown(caller, from_sub),
                             None, spender=info.spender, memo=info.memo,
                             created_at_time=info.created_at_time)


def _prune_token(token_id: int) -> None:
    for key, approval in list(collection.token_approvals.range(
            (token_id, SMALLEST, b""), (token_id + 1, SMALLEST, b""))):
        if not _active(approval):
            collection.token_approvals.remove(key)


def _owner_approvals(owner: Principal, sub: bytes) -> list[tuple[tuple[Principal, bytes],
                                                               Approval]]:
    found = []
    for (o, s, spender, spender_sub), approval in collection.collection_approvals.range(
            (owner, sub, SMALLEST, b""), None):
        if (o, s) != (owner, sub):
            break
        found.append(((spender, spender_sub), approval))
    return found


def _approve_collection(caller: Principal, arg: ApproveCollectionArg) -> int:
    info = arg.approval_info
    spender, spender_sub, from_sub = _spender(info, caller)
    key = (caller, from_sub, spender, spender_sub)
    current = _owner_approvals(caller, from_sub)
    for (s, ss), approval in current:
        if not _active(approval):
            collection.collection_approvals.remove((caller, from_sub, s, ss))
    active = sum(1 for _k, a in current if _active(a))
    if key not in collection.collection_approvals and active >= MAX_APPROVALS:
        raise Refusal("GenericError", (5, f"an account gives at most {MAX_APPROVALS} "
                                          "collection approvals"))
    collection.collection_approvals[key] = Approval(from_sub, info.expires_at, info.memo,
                                                    info.created_at_time)
    return collection.append("37approve_coll", None, collection.shown(caller, from_sub), None,
                             spender=info.spender, memo=info.memo,
                             created_at_time=info.created_at_time)


@update
def icrc37_approve_tokens(args: list[ApproveTokenArg]) -> list[ApproveTokenResult | None]:
    """Let ``spender`` move these items of the caller's (``from_subaccount``) until
    they move or ``expires_at``."""
    caller = ic.caller()
    return _batch(args, lambda a: _approve_token(caller, a), ApproveTokenResult,
                  ApproveTokenError)


@update
def icrc37_approve_collection(
        args: list[ApproveCollectionArg]) -> list[ApproveCollectionResult | None]:
    """Let ``spender`` move any item the caller's account (``from_subaccount``) holds,
    now or later, until revoked or ``expires_at``."""
    caller = ic.caller()
    return _batch(args, lambda a: _approve_collection(caller, a), ApproveCollectionResult,
                  ApproveCollectionError)


def _revoke_token(caller: Principal, arg: RevokeTokenApprovalArg) -> int:
    collection.check_memo(arg.memo)
    collection.check_time(arg.created_at_time)
    item = collection.holder(arg.token_id)
    from_sub = collection.subaccount(arg.from_subaccount)
    if (item.owner, item.subaccount) != (caller, from_sub):
        raise Refusal("Unauthorized")
    spender_sub = None if arg.spender is None else collection.subaccount(arg.spender.subaccount)
    gone = []
    for key, approval in collection.token_approvals.range(
            (arg.token_id, SMALLEST, b""), (arg.token_id + 1, SMALLEST, b"")):
        mine = arg.spender is None or key[1:] == (arg.spender.owner, spender_sub)
        if mine and _active(approval):
            gone.append(key)
    if not gone:
        raise Refusal("ApprovalDoesNotExist")
    for key in gone:
        collection.token_approvals.remove(key)
    return collection.append("37revoke", arg.token_id, collection.shown(caller, item.subaccount),
                             None, spender=arg.spender, memo=arg.memo,
                             created_at_time=arg.created_at_time)


def _revoke_collection(caller: Principal, arg: RevokeCollectionApprovalArg) -> int:
    collection.check_memo(arg.memo)
    collection.check_time(arg.created_at_time)
    from_sub = collection.subaccount(arg.from_subaccount)
    if from_sub is None:
        raise Refusal("ApprovalDoesNotExist")
    spender_sub = None if arg.spender is None else collection.subaccount(arg.spender.subaccount)
    gone = [(caller, from_sub, s, ss) for (s, ss), approval in _owner_approvals(caller, from_sub)
            if _active(approval) and (arg.spender is None or
                                      (s, ss) == (arg.spender.owner, spender_sub))]
    if not gone:
        raise Refusal("ApprovalDoesNotExist")
    for key in gone:
        collection.collection_approvals.remove(key)
    return collection.append("37revoke_coll", None, collection.shown(caller, from_sub), None,
                             spender=arg.spender, memo=arg.memo,
                             created_at_time=arg.created_at_time)


@update
def icrc37_revoke_token_approvals(
        args: list[RevokeTokenApprovalArg]) -> list[RevokeTokenApprovalResponse | None]:
    """Withdraw the caller's approvals of these items (for ``spender``, or every
    spender when null)."""
    caller = ic.caller()
    return _batch(args, lambda a: _revoke_token(caller, a), RevokeTokenApprovalResponse,
                  RevokeTokenApprovalError)


@update
def icrc37_revoke_collection_approvals(
        args: list[RevokeCollectionApprovalArg]) -> list[RevokeCollectionApprovalResult | None]:
    """Withdraw the caller's collection approvals (for ``spender``, or every spender
    when null)."""
    caller = ic.caller()
    return _batch(args, lambda a: _revoke_collection(caller, a),
                  RevokeCollectionApprovalResult, RevokeCollectionApprovalError)


def approved(spender: Principal, spender_sub: bytes, token_id: int, from_sub: bytes) -> bool:
    """True if ``(spender, spender_sub)`` may move item ``token_id`` out of its holder's
    ``from_sub`` now."""
    item = collection.items.get(token_id) if 0 <= token_id <= collection.MAX_TOKEN_ID else None
    if item is None or item.subaccount != from_sub:
        return False
    token = collection.token_approvals.get((token_id, spender, spender_sub))
    if token is not None and token.from_subaccount == from_sub and _active(token):
        return True
    whole = collection.collection_approvals.get((item.owner, from_sub, spender, spender_sub))
    return whole is not None and _active(whole)


@query
def icrc37_is_approved(args: list[IsApprovedArg]) -> list[bool]:
    found = []
    for arg in args[:MAX_QUERY_BATCH]:
        spender_sub = collection.subaccount(arg.spender.subaccount)
        from_sub = collection.subaccount(arg.from_subaccount)
        found.append(spender_sub is not None and from_sub is not None and
                     approved(arg.spender.owner, spender_sub, arg.token_id, from_sub))
    return found


@query
def icrc37_get_token_approvals(token_id: nat, prev: TokenApproval | None,
                               take: nat | None) -> list[TokenApproval]:
    """The item's active approvals, by spender, after ``prev``'s spender."""
    if token_id > collection.MAX_TOKEN_ID or not take_of(take):
        return []
    start: tuple[int, Principal, bytes] = (token_id, SMALLEST, b"")
    after = None
    if prev is not None:
        after = (prev.approval_info.spender.owner,
                 collection.subaccount(prev.approval_info.spender.subaccount) or b"")
        start = (token_id, *after)
    found = []
    for (_t, spender, spender_sub), approval in collection.token_approvals.range(
            start, (token_id + 1, SMALLEST, b"")):
        if (spender, spender_sub) == after or not _active(approval):
            continue
        found.append(TokenApproval(token_id, _info((spender, spender_sub), approval)))
        if len(found) == take_of(take):
            break
    return found


@query
def icrc37_get_collection_approvals(owner: Account, prev: ApprovalInfo | None,
                                    take: nat | None) -> list[ApprovalInfo]:
    """The account's active collection approvals, by spender, after ``prev``'s."""
    sub = collection.subaccount(owner.subaccount)
    if sub is None or not take_of(take):
        return []
    after = None if prev is None else (
        prev.spender.owner, collection.subaccount(prev.spender.subaccount) or b"")
    found = []
    for spender, approval in _owner_approvals(owner.owner, sub):
        if after is not None and (spender[0].raw, spender[1]) <= (after[0].raw, after[1]):
            continue
        if _active(approval):
            found.append(_info(spender, approval))
        if len(found) == take_of(take):
            break
    return found


def _transfer_from(caller: Principal, arg: TransferFromArg) -> int:
    source, to = arg["from"], arg["to"]
    collection.check_memo(arg["memo"])
    collection.check_time(arg["created_at_time"])
    spender_sub = collection.subaccount(arg["spender_subaccount"])
    from_sub = collection.subaccount(source.subaccount)
    to_sub = collection.subaccount(to.subaccount)
    key = None if arg["created_at_time"] is None else collection.digest(
        "icrc37_transfer_from", caller, arg["spender_subaccount"], source.owner,
        source.subaccount, to.owner, to.subaccount, arg["token_id"], arg["memo"],
        arg["created_at_time"])
    collection.check_duplicate(key)
    item = collection.holder(arg["token_id"])
    if from_sub is None or spender_sub is None or \
            (item.owner, item.subaccount) != (source.owner, from_sub):
        raise Refusal("Unauthorized")
    if caller != source.owner and not approved(caller, spender_sub, arg["token_id"], from_sub):
        raise Refusal("Unauthorized")
    if to_sub is None or (to.owner, to_sub) == (source.owner, from_sub) or \
            to.owner.is_anonymous or to.owner == ic.id():
        raise Refusal("InvalidRecipient")
    index = collection.move(arg["token_id"], to.owner, to_sub, btype="37xfer",
                            spender=collection.shown(caller, spender_sub), memo=arg["memo"],
                            created_at_time=arg["created_at_time"])
    collection.remember(key, arg["created_at_time"], index)
    return index


@update
def icrc37_transfer_from(args: list[TransferFromArg]) -> list[TransferFromResponse | None]:
    """Move items from ``from`` to ``to`` under an active approval of the caller
    (``spender_subaccount``); the item's token-level approvals are cleared."""
    caller = ic.caller()
    return _batch(args, lambda a: _transfer_from(caller, a), TransferFromResponse,
                  TransferFromError)


@query
def icrc37_metadata() -> list[tuple[str, Value]]:
    return [("icrc37:max_approvals_per_token_or_collection", Value(Nat=MAX_APPROVALS)),
            ("icrc37:max_revoke_approvals", Value(Nat=MAX_UPDATE_BATCH))]


@query
def icrc37_max_approvals_per_token_or_collection() -> nat | None:
    return MAX_APPROVALS


@query
def icrc37_max_revoke_approvals() -> nat | None:
    return MAX_UPDATE_BATCH
