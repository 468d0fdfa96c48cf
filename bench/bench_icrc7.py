"""The marketplace's unique items on the real replica: what ICRC-7 and ICRC-37 calls cost.

The in-process replica of `bench_marketplace` (memory store, the wasm Python runtime)
runs the marketplace and its payment ledger. Measured, each the median of `CALLS`
calls, in instructions summed over every round until the call completes (so a
settlement counts its payouts' ledger calls too) and the cycles both canisters spent:
``mint_item``; ``checkout`` and ``confirm_delivery`` (its pull and two payouts) of a
unique item against those of a plain one (the difference is the token's move to the
buyer in the settlement's message);
``icrc7_transfer``, ``icrc37_approve_tokens`` and ``icrc37_transfer_from`` of one item;
and the queries ``icrc7_owner_of`` (100 ids), ``icrc7_tokens_of`` and
``icrc7_balance_of``. The ratio column compares with ``icrc1_transfer`` on the ledger,
measured in the same run.

No timed assertions. Usage: ``.venv/bin/python bench/bench_icrc7.py`` or ``main()``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_marketplace import Bench  # noqa: I001 - sets up Django before the app
from bench.support import table

from apps.marketplace.canister.icrc7 import TransferArg
from apps.marketplace.canister.icrc37 import ApprovalInfo, ApproveTokenArg
from apps.marketplace.canister.records import Account
from icframework.candid import encode, parse_values
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.execution.runtime import set_runtime_loader

CALLS = 10


def _ledger_transfer(b: Bench, i: int) -> int:
    transfer = b.token_did.env["TransferArg"]
    text = (f'(record {{ to = record {{ owner = principal "{b.seller.to_text()}"; '
            "subaccount = null }; amount = 1000; fee = null; memo = null; "
            "from_subaccount = null; created_at_time = null })")
    arg = encode([transfer], parse_values(text, [transfer], env=b.token_did.env))
    return b.call(b.buyers[i], "icrc1_transfer", canister=b.ledger, arg=arg)[0]


def costs(b: Bench) -> list[list[str]]:
    """One row per call: median instructions, cycles per call, ratio."""
    rows: list[tuple[str, list[int], int]] = []

    def measure(name: str, make: Callable[[int], int]) -> None:
        before = b.cycles()
        used = [make(i) for i in range(CALLS)]
        rows.append((name, used, before - b.cycles()))

    b.call(b.seller, "open_shop", "Bench shop", "", None, 0)
    unique = [int(b.call(b.seller, "create_listing", b.listing(i), [])[1].id)
              for i in range(CALLS)]
    plain = [int(b.call(b.seller, "create_listing", b.listing(CALLS + i), [])[1].id)
             for i in range(CALLS)]
    for i in range(CALLS):
        b.approve(b.buyers[i], 10**12)
    measure("icrc1_transfer on the ledger (reference)", lambda i: _ledger_transfer(b, i))
    measure("mint_item", lambda i: b.call(b.seller, "mint_item", unique[i])[0])

    def settle(listings: list[int]) -> Callable[[int], int]:
        def run(i: int) -> int:
            spent, result = b.call(b.buyers[i], "checkout", listings[i], 1)
            assert result.tag == "Ok", result
            return spent + b.call(b.buyers[i], "confirm_delivery", result.value.id)[0]
        return run

    measure("checkout + confirm_delivery, plain item", settle(plain))
    measure("checkout + confirm_delivery, unique item", settle(unique))
    spender = Principal.self_authenticating(b"bench: another market")
    receiver = b.buyers[-1]

    def transfer(i: int) -> int:
        arg = TransferArg(None, Account(b.buyers[CALLS + i]), unique[i], None, None)
        spent, (result,) = b.call(b.buyers[i], "icrc7_transfer", [arg])
        assert result.tag == "Ok", result
        return spent

    measure("icrc7_transfer (1 item)", transfer)

    def approve(i: int) -> int:
        info = ApprovalInfo(Account(spender), None, None, None, b.clock)
        spent, (result,) = b.call(b.buyers[CALLS + i], "icrc37_approve_tokens",
                                  [ApproveTokenArg(unique[i], info)])
        assert result.tag == "Ok", result
        return spent

    measure("icrc37_approve_tokens (1 item)", approve)

    def transfer_from(i: int) -> int:
        arg = {"spender_subaccount": None, "from": Account(b.buyers[CALLS + i]),
               "to": Account(receiver), "token_id": unique[i], "memo": None,
               "created_at_time": None}
        spent, (result,) = b.call(spender, "icrc37_transfer_from", [arg])
        assert result.tag == "Ok", result
        return spent

    measure("icrc37_transfer_from (1 item)", transfer_from)

    def query(method: str, *args: object) -> Callable[[int], int]:
        def run(_i: int) -> int:
            answer = b.replica.run_query(b.market, method, b.encode(method, *args),
                                         sender=b.buyers[0])
            return int(answer.instructions)
        return run

    measure("icrc7_owner_of (100 ids) query", query("icrc7_owner_of", list(range(100))))
    measure("icrc7_tokens_of query", query("icrc7_tokens_of", Account(receiver), None, None))
    measure("icrc7_balance_of (1 account) query",
            query("icrc7_balance_of", [Account(receiver)]))
    reference = statistics.median(rows[0][1])
    return [[name, f"{statistics.median(used):,.0f}", f"{spent / CALLS:,.0f}",
             f"{statistics.median(used) / reference:.2f}"] for name, used, spent in rows]


def main() -> None:
    previous = set_runtime_loader(load_runtime)
    try:
        with tempfile.TemporaryDirectory() as work:
            b = Bench(Path(work))
            print("Marketplace unique items (in-process replica, wasm Python runtime)")
            print(f"Cost per call (median instructions of {CALLS}, all rounds until done; "
                  "cycles both canisters spent per call); ratio = / icrc1_transfer")
            table(["call", "instructions", "cycles", "ratio"], costs(b))
    finally:
        set_runtime_loader(previous)


if __name__ == "__main__":
    main()
