"""A caller for the inter-canister call tests: ``async def`` methods awaiting the bank."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from icframework.sdk import (
    CallRejected,
    Principal,
    Reject,
    Service,
    StableCell,
    StableVec,
    ic,
    init,
    nat,
    query,
    set_timer,
    update,
)

BANK_DID = """
service : {
  withdraw : (nat) -> (nat);
  balance : (principal) -> (nat) query;
  explode : () -> ();
  accept_half : () -> (nat);
  whoami : () -> (principal);
}
"""

bank_id = StableCell[Principal]("bank", default=Principal.anonymous())
sales = StableCell[nat]("sales", default=0)
log = StableVec[str]("log")


def bank() -> Service:
    return Service(bank_id.get(), BANK_DID)


@init
def setup(bank_canister: Principal) -> None:
    bank_id.set(bank_canister)


@update
async def buy(price: nat) -> str:
    sales.set(sales.get() + 1)  # committed at the await below
    try:
        left = await bank().withdraw(price)
    except CallRejected as exc:
        sales.set(sales.get() - 1)
        log.push(f"refused: {exc.code} {exc.message}")
        return f"payment refused: {exc.message}"
    log.push(f"paid {price}")
    return f"paid {price}, {left} left"


@update
async def buy_twice(price: nat) -> nat:
    first = await bank().withdraw(price)
    second = await bank().withdraw(price)
    return int(first) + int(second)


@update
async def crash_after_await(price: nat) -> None:
    log.push("before")
    await bank().withdraw(price)
    log.push("after")  # rolled back by the trap below, "before" stays
    raise ValueError("crash after the await")


@update
async def bank_explodes() -> None:
    await bank().explode()


@update
async def typed_balance() -> nat:
    result: nat = await ic.call(
        bank_id.get(), "balance", ic.id(), arg_types=(Principal,), result=nat
    )
    return result


@update
async def reject_after_await() -> None:
    await bank().whoami()
    raise Reject("changed my mind")


@update
async def who_am_i_to_the_bank() -> tuple[Principal, Principal]:
    seen = await bank().whoami()
    return seen, ic.caller()


@update
async def pay_cycles(amount: nat) -> tuple[nat, nat]:
    accepted = await bank().accept_half(cycles=amount)
    return accepted, ic.msg_cycles_refunded()


class NotACall:
    """An awaitable that is no inter-canister call (as ``asyncio.sleep`` would be)."""

    def __await__(self) -> Generator[str, Any, None]:
        yield "tick"


@update
async def await_sleep() -> None:
    await NotACall()


@update
async def no_await() -> nat:
    return 7


@update
def schedule_refund(price: nat) -> None:
    log.push(f"scheduled {price}")
    set_timer(1_000_000_000, refund_timer)


async def refund_timer() -> None:
    left = await bank().withdraw(1)
    log.push(f"timer withdrew 1, {left} left")


@query
def state() -> tuple[nat, list[str]]:
    return sales.get(), list(log)


@query(composite=True)
async def bank_balance() -> nat:
    """A composite query: reads the bank's balance of this canister."""
    result: nat = await bank().balance(ic.id())
    return result


@query(composite=True)
async def bank_balance_twice() -> nat:
    first = await bank().balance(ic.id())
    second = await bank().balance(ic.id())
    return int(first) + int(second)


@query(composite=True)
async def call_update_from_query() -> nat:
    result: nat = await bank().withdraw(1)
    return result


@query(composite=True)
async def ask_myself() -> nat:
    """Calls this canister's own composite query: a loop in the call graph."""
    me = Service(ic.id(), "service : { bank_balance : () -> (nat) composite_query }")
    result: nat = await me.bank_balance()
    return result
