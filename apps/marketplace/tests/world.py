"""A test world: the marketplace canister and the real Python ledger (the ``ledger``
template) as two connected `LocalCanister`s, sharing one clock, plus helpers to call
them as a given user and to check the money invariant."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from icframework.compiler.app_build import load_app, scaffold_app
from icframework.sdk import LocalCanister, Principal
from icframework.sdk.backend import LocalBackend

APP_DIR = Path(__file__).resolve().parents[1]
MARKET_APP = load_app(APP_DIR)
records = MARKET_APP.records
limits = MARKET_APP.limits
ledger_mod = MARKET_APP.ledger
certify = MARKET_APP.certify

_LEDGER_DIR = Path(tempfile.mkdtemp(prefix="market-ledger-"))
LEDGER_APP = load_app(scaffold_app("mtoken", "ledger", _LEDGER_DIR), "market_test_ledger")

MARKET_ID = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
LEDGER_ID = Principal.from_text("bd3sg-teaaa-aaaaa-qaaba-cai")
FEE = 10_000
MINTER = Principal.self_authenticating(b"market test: minter")
ADMIN = Principal.self_authenticating(b"market test: admin")
ARBITER = Principal.self_authenticating(b"market test: arbiter")
SELLER = Principal.self_authenticating(b"market test: seller")
MAKER = Principal.self_authenticating(b"market test: maker")
BUYER = Principal.self_authenticating(b"market test: buyer")
BUYER2 = Principal.self_authenticating(b"market test: buyer 2")
ANON = Principal.anonymous()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def account(owner: Principal, subaccount: bytes | None = None) -> Any:
    return LEDGER_APP.Account(owner=owner, subaccount=subaccount)


@dataclass
class World:
    market: LocalCanister
    ledger: LocalCanister
    people: list[Principal] = field(default_factory=list)

    # -- calls ------------------------------------------------------------------------------
    def q(self, who: Principal, method: str, *args: Any) -> Any:
        return self.market.query(method, *args, caller=who)

    def u(self, who: Principal, method: str, *args: Any) -> Any:
        return self.market.update(method, *args, caller=who)

    def advance(self, ns: int) -> int:
        self.ledger.backend.advance_time(ns)
        return self.market.advance_time(ns)

    def balance(self, owner: Principal, subaccount: bytes | None = None) -> int:
        result: int = self.ledger.query("icrc1_balance_of", account(owner, subaccount))
        return result

    def approve(self, who: Principal, amount: int) -> Any:
        return self.ledger.update("icrc2_approve", LEDGER_APP.ApproveArgs(
            spender=account(MARKET_ID), amount=amount, fee=None, memo=None,
            from_subaccount=None, created_at_time=None, expected_allowance=None,
            expires_at=None), caller=who)

    # -- fixtures of a sale -----------------------------------------------------------------
    def shop(self, who: Principal = SELLER, royalty_bps: int = 0) -> Any:
        return self.u(who, "open_shop", "Shop of " + who.to_text()[:5], "",
                      MAKER if royalty_bps else None, royalty_bps)

    def listing(self, who: Principal = SELLER, price: int = 1_000_000, quantity: int = 1,
                title: str = "Blue bicycle", category: str = "bikes",
                images: list[int] | None = None) -> Any:
        data = records.ListingInput(title, "A fine " + title.lower(), price, quantity, category)
        return self.u(who, "create_listing", data, images or [])

    def buy(self, who: Principal, listing_id: int, quantity: int = 1,
            approve: int | None = None) -> Any:
        listing = self.q(who, "listing", listing_id)
        self.approve(who, approve if approve is not None else listing.price * quantity + FEE)
        return self.u(who, "checkout", listing_id, quantity)

    # -- the invariant ----------------------------------------------------------------------
    def escrows(self) -> list[bytes]:
        """Every escrow subaccount the marketplace opened (orders, offers and bids)."""
        opened = self.market.query("stats", caller=ADMIN).escrows
        return [ledger_mod.escrow_subaccount(n) for n in range(1, opened + 1)]

    def money_in_accounts(self) -> int:
        people = sum(self.balance(p) for p in self.people)
        held = sum(self.balance(MARKET_ID, s) for s in self.escrows())
        return people + held + self.balance(MARKET_ID)

    def supply(self) -> int:
        result: int = self.ledger.query("icrc1_total_supply")
        return result


def make_world(balances: dict[Principal, int] | None = None,
               fee_collector: Principal | None = None) -> World:
    """A fresh ledger (with ``balances``; fees burnt, or credited to ``fee_collector``)
    and marketplace, connected."""
    balances = balances or {BUYER: 50_000_000, BUYER2: 50_000_000}
    ledger = LocalCanister(LEDGER_APP, backend=LocalBackend(canister_id=LEDGER_ID))
    ledger.install(LEDGER_APP.LedgerArg(Init=LEDGER_APP.InitArgs(
        token_name="Market Token", token_symbol="MKT", minting_account=account(MINTER),
        transfer_fee=FEE, initial_balances=[(account(p), n) for p, n in balances.items()],
        metadata=[], decimals=None, max_memo_length=None,
        fee_collector_account=account(fee_collector) if fee_collector else None)))
    market = LocalCanister(MARKET_APP, backend=LocalBackend(canister_id=MARKET_ID))
    market.connect(LEDGER_ID, ledger)
    market.install(records.InitArgs(ledger=LEDGER_ID, admin=ADMIN, arbiter=ARBITER,
                                    platform_fee_bps=250, ledger_fee=FEE))
    people = [ADMIN, ARBITER, SELLER, MAKER, BUYER, BUYER2, *balances]
    if fee_collector is not None:
        people.append(fee_collector)
    return World(market, ledger, list(dict.fromkeys(people)))
