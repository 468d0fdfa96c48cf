"""A callee for the inter-canister call tests: balances, rejects, traps, cycles."""

from __future__ import annotations

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat, query, update

balances = StableBTreeMap[Principal, nat]("balances")


@update
def deposit(who: Principal, amount: nat) -> nat:
    balances.insert(who, balances.get(who, 0) + amount)
    return balances[who]


@update
def withdraw(amount: nat) -> nat:
    """Take ``amount`` from the caller's balance; returns what is left."""
    have = balances.get(ic.caller(), 0)
    if amount > have:
        raise Reject(f"insufficient funds: {have} < {amount}")
    balances.insert(ic.caller(), have - amount)
    return have - amount


@query
def balance(who: Principal) -> nat:
    return balances.get(who, 0)


@update
def explode() -> None:
    raise RuntimeError("the bank exploded")


@update
def accept_half() -> nat:
    return ic.msg_cycles_accept(ic.msg_cycles_available() // 2)


@update
def whoami() -> Principal:
    return ic.caller()
