"""The marketplace's side of the payment ledger (ICRC-1 + ICRC-2): escrow accounts, pulls, payouts.

Every escrow is a subaccount of the marketplace canister's own account, one per order
or offer (`escrow_subaccount`). Funds come in with ``icrc2_transfer_from`` (the buyer
approved the marketplace first) and leave with ``icrc1_transfer`` from that
subaccount. Every ledger call carries ``created_at_time`` and a memo fixed when the
pull or payout was recorded, so a retry after an unanswered call is deduplicated by
the ledger (``Duplicate`` means the first attempt went through).

`pull` and `send` return a `LedgerAnswer`: ``ok`` with the block, ``duplicate`` with
the original block, ``refused`` with the ledger's error in words (and the typed
detail: the balance or allowance), or ``unknown`` when the ledger rejected or trapped —
then nothing is known and the caller keeps its state pending for a retry. A retry
later than the ledger's deduplication window (a day) is answered ``TooOld``; then the
escrow subaccount's balance tells what happened, since each escrow belongs to one
payment (`pull` does this itself; `payouts.run` for transfers out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from icframework.sdk import CallRejected, Principal, ReplyDecodeError, Service, ic

from .records import Account

LEDGER_DID = """
type Account = record { owner : principal; subaccount : opt blob };
type TransferArg = record {
  from_subaccount : opt blob; to : Account; amount : nat; fee : opt nat;
  memo : opt blob; created_at_time : opt nat64;
};
type TransferFromArgs = record {
  spender_subaccount : opt blob; from : Account; to : Account; amount : nat;
  fee : opt nat; memo : opt blob; created_at_time : opt nat64;
};
type LedgerError = variant {
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
  icrc1_transfer : (TransferArg) -> (variant { Ok : nat; Err : LedgerError });
  icrc2_transfer_from : (TransferFromArgs) -> (variant { Ok : nat; Err : LedgerError });
  icrc1_balance_of : (Account) -> (nat) query;
  icrc1_fee : () -> (nat) query;
}
"""


@dataclass(frozen=True, slots=True)
class LedgerAnswer:
    kind: str  # "ok", "duplicate", "refused", "unknown"
    block: int | None = None
    error: str = ""
    tag: str = ""  # the ledger's error tag when refused
    detail: int | None = None  # balance, allowance or expected fee for those errors


_services: dict[Principal, Service] = {}


def _ledger(canister: Principal) -> Service:
    """The ledger's typed client; parsing LEDGER_DID is costly, so it is done once per
    instance (a cache: nothing here is state)."""
    service = _services.get(canister)
    if service is None:
        service = _services[canister] = Service(canister, LEDGER_DID)
    return service


def escrow_subaccount(escrow_id: int) -> bytes:
    """The marketplace subaccount of escrow ``escrow_id`` (32 bytes)."""
    return hashlib.sha256(b"icframework-market-escrow" + escrow_id.to_bytes(8, "big")).digest()


def memo(kind: bytes, ident: int) -> bytes:
    """A ≤ 32-byte memo naming what a transfer is for (``kind`` + id)."""
    return kind[:23] + b":" + ident.to_bytes(8, "big")


def account_value(account: Account) -> dict[str, Any]:
    return {"owner": account.owner, "subaccount": account.subaccount}


def _answer(result: dict[str, Any]) -> LedgerAnswer:
    if "Ok" in result:
        return LedgerAnswer("ok", int(result["Ok"]))
    ((tag, value),) = result["Err"].items()
    if tag == "Duplicate":
        return LedgerAnswer("duplicate", int(value["duplicate_of"]))
    detail = None
    if isinstance(value, dict):
        for name in ("balance", "allowance", "expected_fee"):
            if name in value:
                detail = int(value[name])
    words = f"{tag} {value}" if value is not None else tag
    return LedgerAnswer("refused", error=words, tag=tag, detail=detail)


async def pull(ledger: Principal, buyer: Principal, escrow: bytes, amount: int, *,
               memo_bytes: bytes, created_at_time: int) -> LedgerAnswer:
    """Move ``amount`` from ``buyer``'s default account into the marketplace's
    ``escrow`` subaccount under the buyer's allowance (the buyer pays the ledger fee)."""
    service = _ledger(ledger)
    try:
        result = await service.icrc2_transfer_from({
            "spender_subaccount": None,
            "from": {"owner": buyer, "subaccount": None},
            "to": {"owner": ic.id(), "subaccount": escrow},
            "amount": amount, "fee": None, "memo": memo_bytes,
            "created_at_time": created_at_time,
        })
    except (CallRejected, ReplyDecodeError) as exc:
        return LedgerAnswer("unknown", error=f"the ledger did not answer: {exc}")
    answer = _answer(result)
    if answer.tag != "TooOld":
        return answer
    # The ledger no longer remembers the first attempt (its window is a day), so it
    # cannot say Duplicate. The escrow is this payment's alone: its balance says
    # whether the first attempt went through.
    held = await balance_of(ledger, escrow)
    if held is None:
        return LedgerAnswer("unknown", error="TooOld, and the escrow's balance is unknown")
    if held >= amount:
        return LedgerAnswer("duplicate", error=f"TooOld, but the escrow holds {held}")
    return answer


async def balance_of(ledger: Principal, escrow: bytes) -> int | None:
    """The balance of the marketplace's ``escrow`` subaccount, or None if the ledger did
    not answer."""
    try:
        held = await _ledger(ledger).icrc1_balance_of({"owner": ic.id(), "subaccount": escrow})
    except (CallRejected, ReplyDecodeError):
        return None
    return int(held)


async def send(ledger: Principal, escrow: bytes, to: Account, amount: int, fee: int, *,
               memo_bytes: bytes, created_at_time: int) -> LedgerAnswer:
    """Transfer ``amount`` (the ledger takes ``fee`` on top) from the ``escrow``
    subaccount to ``to``."""
    service = _ledger(ledger)
    try:
        result = await service.icrc1_transfer({
            "from_subaccount": escrow, "to": account_value(to), "amount": amount,
            "fee": fee, "memo": memo_bytes, "created_at_time": created_at_time,
        })
    except (CallRejected, ReplyDecodeError) as exc:
        return LedgerAnswer("unknown", error=f"the ledger did not answer: {exc}")
    return _answer(result)
