"""ICRC-37 approvals of the marketplace's items: token and collection approvals, revocation,
``icrc37_transfer_from`` by another market, paging, expiry, limits and every error variant.

The canister runs in CPython against the real Python ledger (tests/world.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import Principal

from .test_icrc7 import acct, err, minted, now, owner, sold_to
from .world import ANON, BUYER, BUYER2, MARKET_APP, SELLER, World, make_world

OTHER_MARKET = Principal.from_text("be2us-64aaa-aaaaa-qaabq-cai")  # another canister
icrc37 = MARKET_APP.icrc37


@pytest.fixture
def w() -> World:
    world = make_world()
    world.shop()
    return world


def info(w: World, spender: Any = OTHER_MARKET, *, sub: bytes | None = None,
         expires_at: int | None = None, at: int | None = None,
         memo: bytes | None = None) -> Any:
    return icrc37.ApprovalInfo(acct(spender), sub, expires_at, memo,
                               now(w) if at is None else at)


def approve(w: World, who: Any, token: int, approval: Any) -> Any:
    (result,) = w.u(who, "icrc37_approve_tokens", [icrc37.ApproveTokenArg(token, approval)])
    return result


def approve_all(w: World, who: Any, approval: Any) -> Any:
    (result,) = w.u(who, "icrc37_approve_collection", [icrc37.ApproveCollectionArg(approval)])
    return result


def transfer_from(w: World, spender: Any, token: int, source: Any, to: Any, *,
                  at: int | None = None, memo: bytes | None = None) -> Any:
    arg = {"spender_subaccount": None, "from": source, "to": to, "token_id": token,
           "memo": memo, "created_at_time": at}
    (result,) = w.u(spender, "icrc37_transfer_from", [arg])
    return result


def is_approved(w: World, spender: Any, token: int, sub: bytes | None = None) -> bool:
    (answer,) = w.q(BUYER, "icrc37_is_approved",
                    [icrc37.IsApprovedArg(acct(spender), sub, token)])
    return bool(answer)


def test_another_market_moves_an_item_it_was_approved_for(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    assert not is_approved(w, OTHER_MARKET, token)
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2))) == \
        "Unauthorized"
    ok = approve(w, BUYER, token, info(w))
    assert ok.tag == "Ok" and is_approved(w, OTHER_MARKET, token)
    assert approve(w, BUYER, token, info(w, BUYER2)).tag == "Ok"
    (first, second) = w.q(BUYER, "icrc37_get_token_approvals", token, None, None)
    assert {first.approval_info.spender.owner, second.approval_info.spender.owner} == {
        OTHER_MARKET, BUYER2}
    assert w.q(BUYER, "icrc37_get_token_approvals", token, first, None) == [second]
    assert w.q(BUYER, "icrc37_get_token_approvals", token, None, 1) == [first]
    moved = transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2), memo=b"sale")
    assert moved.tag == "Ok" and owner(w, token) == acct(BUYER2)
    # the transfer cleared every token approval of the item
    assert w.q(BUYER, "icrc37_get_token_approvals", token, None, None) == []
    assert not is_approved(w, OTHER_MARKET, token)
    log = w.q(BUYER, "collection_log", 0, None)
    last = dict(log[-1].value)
    assert last["btype"].value == "37xfer"
    assert dict(last["tx"].value)["spender"].value[0].value == OTHER_MARKET.raw


def test_the_holder_may_use_transfer_from_itself(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    assert transfer_from(w, BUYER, token, acct(BUYER), acct(BUYER2)).tag == "Ok"


def test_token_approval_errors_are_the_standards(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    listed = minted(w, "In escrow")
    assert err(approve(w, BUYER, token, info(w, BUYER))) == "InvalidSpender"
    assert err(approve(w, BUYER, token, info(w, ANON))) == "InvalidSpender"
    assert err(approve(w, BUYER2, token, info(w))) == "Unauthorized"
    assert err(approve(w, BUYER, token, info(w, sub=bytes([1]) * 32))) == "Unauthorized"
    assert err(approve(w, SELLER, listed, info(w))) == "Unauthorized"  # held in escrow
    assert err(approve(w, BUYER, 999, info(w))) == "NonExistingTokenId"
    t = now(w)
    assert err(approve(w, BUYER, token, info(w, at=t - 25 * 3600 * 10**9))) == "TooOld"
    future = approve(w, BUYER, token, info(w, at=t + 10 * 60 * 10**9))
    assert err(future) == "CreatedInFuture" and future.value.value.ledger_time == t
    past = approve(w, BUYER, token, info(w, expires_at=t - 1))
    assert err(past) == "GenericError" and "is in the past" in past.value.value.message
    assert err(approve(w, BUYER, token, info(w, memo=bytes(40)))) == "GenericError"
    anonymous = approve_all(w, ANON, info(w))
    assert err(anonymous) == "GenericError" and "sign in first" in anonymous.value.value.message


def test_an_approval_expires_and_a_new_one_replaces_the_old(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    approve(w, BUYER, token, info(w, expires_at=now(w) + 60 * 10**9))
    assert is_approved(w, OTHER_MARKET, token)
    w.advance(61 * 10**9)
    assert not is_approved(w, OTHER_MARKET, token)
    assert w.q(BUYER, "icrc37_get_token_approvals", token, None, None) == []
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2))) == \
        "Unauthorized"
    approve(w, BUYER, token, info(w, memo=b"first"))
    approve(w, BUYER, token, info(w, memo=b"second"))
    (only,) = w.q(BUYER, "icrc37_get_token_approvals", token, None, None)
    assert only.approval_info.memo == b"second"


def test_at_most_sixteen_approvals_per_token(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    spenders = [Principal.self_authenticating(bytes([n])) for n in range(17)]
    args = [icrc37.ApproveTokenArg(token, info(w, s)) for s in spenders]
    results = w.u(BUYER, "icrc37_approve_tokens", args[:16])
    assert [r.tag for r in results] == ["Ok"] * 16
    (limit,) = w.u(BUYER, "icrc37_approve_tokens", args[16:])
    assert err(limit) == "GenericError" and "at most 16 approvals" in limit.value.value.message
    assert w.q(BUYER, "icrc37_max_approvals_per_token_or_collection") == 16
    assert len(w.q(BUYER, "icrc37_get_token_approvals", token, None, 100)) == 16
    batch = w.u(BUYER, "icrc37_approve_tokens", args[:1] * 21)
    assert len(batch) == 21 and err(batch[20]) == "GenericBatchError"


def test_a_collection_approval_covers_items_bought_later(w: World) -> None:
    first, _ = sold_to(w, BUYER, "First")
    assert approve_all(w, BUYER, info(w)).tag == "Ok"
    second, _ = sold_to(w, BUYER, "Second")
    assert is_approved(w, OTHER_MARKET, first) and is_approved(w, OTHER_MARKET, second)
    assert transfer_from(w, OTHER_MARKET, second, acct(BUYER), acct(BUYER2)).tag == "Ok"
    # a collection approval is not cleared by a transfer
    assert is_approved(w, OTHER_MARKET, first)
    (listed,) = w.q(BUYER, "icrc37_get_collection_approvals", acct(BUYER), None, None)
    assert listed.spender.owner == OTHER_MARKET
    assert err(approve_all(w, BUYER, info(w, BUYER))) == "InvalidSpender"
    approve_all(w, BUYER, info(w, BUYER2))
    page = w.q(BUYER, "icrc37_get_collection_approvals", acct(BUYER), None, 1)
    rest = w.q(BUYER, "icrc37_get_collection_approvals", acct(BUYER), page[0], None)
    assert len(page) == 1 and len(rest) == 1 and rest != page


def test_revoking_approvals(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    Revoke = icrc37.RevokeTokenApprovalArg
    (missing,) = w.u(BUYER, "icrc37_revoke_token_approvals",
                     [Revoke(acct(OTHER_MARKET), None, token, None, None)])
    assert err(missing) == "ApprovalDoesNotExist"
    approve(w, BUYER, token, info(w))
    approve(w, BUYER, token, info(w, BUYER2))
    (stranger,) = w.u(BUYER2, "icrc37_revoke_token_approvals",
                      [Revoke(None, None, token, None, None)])
    assert err(stranger) == "Unauthorized"
    (nothing,) = w.u(BUYER, "icrc37_revoke_token_approvals", [Revoke(None, None, 999, None,
                                                                       None)])
    assert err(nothing) == "NonExistingTokenId"
    (one,) = w.u(BUYER, "icrc37_revoke_token_approvals",
                 [Revoke(acct(OTHER_MARKET), None, token, None, None)])
    assert one.tag == "Ok" and not is_approved(w, OTHER_MARKET, token)
    assert is_approved(w, BUYER2, token)
    (every,) = w.u(BUYER, "icrc37_revoke_token_approvals", [Revoke(None, None, token, None,
                                                                     None)])
    assert every.tag == "Ok" and not is_approved(w, BUYER2, token)
    RevokeAll = icrc37.RevokeCollectionApprovalArg
    (none,) = w.u(BUYER, "icrc37_revoke_collection_approvals",
                  [RevokeAll(None, None, None, None)])
    assert err(none) == "ApprovalDoesNotExist"
    approve_all(w, BUYER, info(w))
    (late,) = w.u(BUYER, "icrc37_revoke_collection_approvals",
                  [RevokeAll(None, None, None, now(w) - 25 * 3600 * 10**9)])
    assert err(late) == "TooOld"
    (done,) = w.u(BUYER, "icrc37_revoke_collection_approvals",
                  [RevokeAll(acct(OTHER_MARKET), None, None, None)])
    assert done.tag == "Ok" and not is_approved(w, OTHER_MARKET, token)
    assert w.q(BUYER, "icrc37_get_collection_approvals", acct(BUYER), None, None) == []


def test_transfer_from_errors_and_deduplication(w: World) -> None:
    token, _ = sold_to(w, BUYER)
    approve(w, BUYER, token, info(w))
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER2), acct(SELLER))) == \
        "Unauthorized"  # not the holder
    assert err(transfer_from(w, OTHER_MARKET, 999, acct(BUYER), acct(BUYER2))) == \
        "NonExistingTokenId"
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER))) == \
        "InvalidRecipient"
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(ANON))) == \
        "InvalidRecipient"
    t = now(w)
    assert err(transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2),
                             at=t + 3 * 60 * 10**9)) == "CreatedInFuture"
    first = transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2), at=t)
    again = transfer_from(w, OTHER_MARKET, token, acct(BUYER), acct(BUYER2), at=t)
    assert first.tag == "Ok" and err(again) == "Duplicate"
    assert again.value.value.duplicate_of == first.value


def test_metadata_and_limits(w: World) -> None:
    meta = dict(w.q(BUYER, "icrc37_metadata"))
    assert meta["icrc37:max_approvals_per_token_or_collection"].value == 16
    assert meta["icrc37:max_revoke_approvals"].value == w.q(
        BUYER, "icrc37_max_revoke_approvals") == 20
    assert w.q(BUYER, "icrc37_is_approved", []) == []
    assert w.q(BUYER, "icrc37_get_token_approvals", 2**70, None, None) == []
    assert w.q(BUYER, "icrc37_get_collection_approvals", acct(BUYER, b"x"), None, None) == []


def test_a_fresh_world_has_no_items() -> None:
    world = make_world()
    assert world.q(BUYER, "icrc7_tokens", None, None) == []
    assert world.q(BUYER, "collection_log", 0, None) == []
