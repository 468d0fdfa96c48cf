"""Tips: a viewer pays a video's creator in the ledger's token (ICRC-2); the canister counts.

``tip(video_id, amount)`` is an ``icrc2_transfer_from`` on the ledger named at install
(`InitArgs.ledger`, ``store.config``): from the caller's default account straight to the
creator's default account, under the allowance the caller gave this canister first
(the page calls ``icrc2_approve`` for ``amount`` + the ledger's fee; the caller pays the
fee). The canister never holds the tokens. The transfer carries a memo naming the video
and ``created_at_time``, so the ledger deduplicates an identical retry.

Checks happen before the call (and are committed with it: a refused transfer still
counts against the rate limit). A tip is recorded only when the ledger answers with a
block: `Tip` under ``tips[id]``, the video's total, the creator's total and count, and
the creator's newest tips (``tips_by_creator``); the creator is notified. A ledger error
is a reject in words (insufficient allowance or funds give the numbers); when the ledger
does not answer nothing is recorded, and the reject says the transfer may or may not
have happened (the caller's balance tells).
"""

from __future__ import annotations

from typing import Any

from icframework.sdk import (
    CallRejected,
    Principal,
    Reject,
    ReplyDecodeError,
    Service,
    ic,
    nat,
    nat64,
    query,
    update,
)

from . import follows, limits, notifications, profiles, ratelimit, safety, store
from .social_records import Tip, TipsReceived, TipView
from .social_store import MAX_ID, next_id, tip_totals, tips, tips_by_creator, tips_received

LEDGER_DID = """
type Account = record { owner : principal; subaccount : opt blob };
type TransferFromArgs = record {
  spender_subaccount : opt blob; from : Account; to : Account; amount : nat;
  fee : opt nat; memo : opt blob; created_at_time : opt nat64;
};
type TransferFromError = variant {
  BadFee : record { expected_fee : nat };
  BadBurn : record { min_burn_amount : nat };
  InsufficientFunds : record { balance : nat };
  InsufficientAllowance : record { allowance : nat };
  TooOld;
  CreatedInFuture : record { ledger_time : nat64 };
  Duplicate : record { duplicate_of : nat };
  TemporarilyUnavailable;
  GenericError : record { error_code : nat; message : text };
};
service : {
  icrc2_transfer_from : (TransferFromArgs) -> (variant { Ok : nat; Err : TransferFromError });
}
"""

_services: dict[Principal, Service] = {}


def _ledger(canister: Principal) -> Service:
    """The ledger's typed client (parsed once per instance: a cache, not state)."""
    service = _services.get(canister)
    if service is None:
        service = _services[canister] = Service(canister, LEDGER_DID)
    return service


def ledger_id() -> Principal | None:
    """The ledger tips are paid on, or None if the canister was installed without one."""
    return store.config.get().ledger


def memo(video_id: int) -> bytes:
    """The transfer's memo: ``tip:`` and the video id (12 bytes)."""
    return b"tip:" + video_id.to_bytes(8, "big")


def refusal(error: dict[str, Any], amount: int) -> str:
    """The words of a ledger ``Err`` for the tipper."""
    ((tag, value),) = error.items()
    if tag == "InsufficientAllowance":
        return (f"this canister may spend only {value['allowance']} of your tokens: approve "
                f"at least {amount} plus the ledger's fee (icrc2_approve), then tip again")
    if tag == "InsufficientFunds":
        return (f"your balance is {value['balance']}, less than the tip of {amount} plus the "
                "ledger's fee: tip less or top up")
    if tag == "BadFee":
        return f"the ledger expects a fee of {value['expected_fee']}: try again"
    if tag == "Duplicate":
        return (f"this tip was already paid in block {value['duplicate_of']}: it is "
                "recorded once")
    if tag == "GenericError":
        return f"the ledger refused the tip: {value['message']} (code {value['error_code']})"
    detail = "" if value is None else f" {value}"
    return f"the ledger refused the tip: {tag}{detail}"


def _record(video_id: int, sender: Principal, creator: Principal, amount: int,
            block: int) -> Tip:
    now = ic.time()
    tip = Tip(id=next_id("next_tip"), video_id=video_id, sender=sender, creator=creator,
              amount=amount, block=block, at=now)
    tips[tip.id] = tip
    tips_by_creator[(creator, tip.id)] = True
    tip_totals[video_id] = tip_totals.get(video_id, 0) + amount
    total, count = tips_received.get(creator, (0, 0))
    tips_received[creator] = (total + amount, count + 1)
    return tip


@update
async def tip(video_id: nat64, amount: nat) -> nat:
    """Tip a video's creator ``amount`` tokens from the caller's account (approve this
    canister for ``amount`` + the fee first); returns the ledger's block index."""
    me = ic.caller()
    profiles.require_user(me)
    ledger = ledger_id()
    if ledger is None:
        raise Reject("tips are off: this canister was installed without a ledger "
                     "(InitArgs.ledger); reinstall or upgrade with one")
    video = safety.require_visible(video_id, me)
    if video.creator == me:
        raise Reject("you cannot tip your own video")
    follows.refuse_if_blocked(me, video.creator, f"tip video {video_id}")
    if not limits.MIN_TIP <= amount <= limits.MAX_TIP:
        raise Reject(f"a tip is {limits.MIN_TIP} to {limits.MAX_TIP} token units, got {amount}")
    ratelimit.check(me, "tip")
    creator = video.creator
    try:
        result = await _ledger(ledger).icrc2_transfer_from({
            "spender_subaccount": None,
            "from": {"owner": me, "subaccount": None},
            "to": {"owner": creator, "subaccount": None},
            "amount": amount, "fee": None, "memo": memo(video_id),
            "created_at_time": ic.time(),
        })
    except (CallRejected, ReplyDecodeError) as exc:
        raise Reject(f"the ledger did not answer ({exc}): the tip may or may not have gone "
                     "through; check your balance before tipping again") from None
    if "Err" in result:
        raise Reject(refusal(result["Err"], amount))
    block = int(result["Ok"])
    _record(video_id, me, creator, amount, block)
    notifications.notify(creator, "tip", me, video_id, f"tipped you {amount}")
    return block


@query(name="tips_received")
def tips_received_summary() -> TipsReceived:
    """The caller's tips as a creator: total, count and the newest `limits.RECENT_TIPS`."""
    me = ic.caller()
    total, count = tips_received.get(me, (0, 0))
    rows = tips_by_creator.range((me, 0), (me, MAX_ID), reverse=True, limit=limits.RECENT_TIPS)
    recent = []
    for (_creator, tip_id), _ in rows:
        found = tips.get(tip_id)
        if found is not None:
            recent.append(TipView(found.id, found.video_id, profiles.card_of(found.sender),
                                  found.amount, found.block, found.at))
    return TipsReceived(total, count, recent)


@query
def video_tips(video_id: nat64) -> nat:
    """The tokens a video has received in tips."""
    return tip_totals.get(video_id, 0)
