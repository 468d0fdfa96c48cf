"""The marketplace under load on the real replica: costs per call, checkout throughput, search.

An in-process replica (memory store, the wasm Python runtime) runs the marketplace
(``apps/marketplace``) and its payment ledger (the ``ledger`` template, as the demo
deploys it); calls enter through the replica's ingress path, as the HTTP interface's
do, minus envelope signatures. All in this run:

1. Cost per call: instructions (summed over every round until the call completes, so
   a checkout counts the marketplace's two messages *and* the ledger's
   ``icrc2_transfer_from``) and the cycles both canisters spent, for
   ``create_listing``, ``checkout``, ``ship``, ``confirm_delivery`` (two payouts), a
   search query, and ``icrc1_transfer`` on the ledger alone (the reference of the ratio
   column).
2. Checkout throughput: `CHECKOUTS` buyers' checkouts submitted at once and executed
   round by round (orders per second, wall clock) and one at a time (latency p50/p99).
3. Search latency: `search` queries (two words, a category filter, a price sort) with
   `SIZES` listings in the canister. Up to `REPLICA_FILL` listings are made by
   ``create_listing`` ingress messages on the replica, in batches; past it (a call costs
   about 3.5 M instructions, so 100,000 would take most of an hour in wasm) the
   canister's own ``create_listing`` runs natively in this process (`LocalCanister`)
   straight on the canister's key-value store, one transaction per listing, then the
   last `FILL_BATCH` go through the replica again (they refresh the certified data and
   show that the wasm canister carries on from the natively written state).

No timed assertions. Usage: ``.venv/bin/python bench/bench_marketplace.py [--sizes
1000,10000]`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.test import override_settings  # noqa: E402

from apps.marketplace.canister.records import ListingInput, SearchQuery  # noqa: E402
from apps.marketplace.seed import _init_arg  # noqa: E402
from apps.marketplace.token import build_token, token_init_arg  # noqa: E402
from bench.support import StoreView, percentile, table  # noqa: E402
from icframework.candid import encode, parse_did, parse_values  # noqa: E402
from icframework.compiler.app_build import build_app  # noqa: E402
from icframework.compiler.runtime_build import load_runtime  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.execution.component import ComponentSandbox  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from icframework.sdk import LocalBackend, LocalCanister  # noqa: E402
from icframework.sdk.dispatch import Reply, decode_result, encode_args, method_table  # noqa: E402

CHECKOUTS = 100
COST_CALLS = 10
SIZES = (1_000, 10_000, 100_000)
REPLICA_FILL = 10_000
FILL_BATCH = 200
E8S = 10**8
WORDS = ["blue", "red", "green", "bicycle", "teapot", "lamp", "chair", "vintage", "oak",
         "steel", "small", "large", "handmade", "classic", "modern", "travel"]
CATEGORIES = ["bikes", "kitchen", "home", "garden", "books", "toys", "music", "sports"]


class Bench:
    def __init__(self, work: Path) -> None:
        self.clock = time.time_ns()
        self.replica = Replica.open(None, clock=lambda: self.clock)
        self.people = [Principal.self_authenticating(f"bench {n}".encode())
                       for n in range(CHECKOUTS + 2)]
        self.seller, self.buyers = self.people[0], self.people[1:]
        with override_settings(BASE_DIR=ROOT):
            token = build_token(work, progress=None)
            market = build_app(ROOT / "apps" / "marketplace", pack_python_module,
                               cache_dir=ROOT / ".build" / "apps", progress=None)
        self.token_did = parse_did(token.did)
        minter = Principal.self_authenticating(b"bench minter")
        self.ledger = self.replica.create_canister()
        self.replica.install_code(self.ledger, token.wasm, token_init_arg(
            token.did, minter, {p: 1_000_000 * E8S for p in self.buyers}))
        self.market = self.replica.create_canister()
        self.replica.install_code(self.market, market.wasm,
                                  _init_arg(market.did, self.ledger, self.seller))
        self.methods = method_table("apps.marketplace.canister")

    # -- calls --------------------------------------------------------------------------
    def encode(self, method: str, *args: Any) -> bytes:
        return encode_args(self.methods[method], args)

    def decode(self, method: str, reply: bytes) -> Any:
        return decode_result(self.methods[method], reply)

    def run(self, requests: list[bytes]) -> int:
        """Execute rounds until every request completed; the instructions spent."""
        spent = 0
        while any(not self._done(r) for r in requests):
            self.clock += 1_000_000_000
            spent += self.replica.subnet.execute_round().instructions
        return spent

    def _done(self, request: bytes) -> bool:
        status = self.replica.subnet.ingress_status(request)
        return status is not None and status.state.name in ("REPLIED", "REJECTED", "DONE")

    def call(self, sender: Principal, method: str, *args: Any,
             canister: Principal | None = None, arg: bytes | None = None) -> tuple[int, Any]:
        target = canister or self.market
        request = self.replica.submit(target, method, arg if arg is not None else
                                      self.encode(method, *args), sender=sender)
        spent = self.run([request])
        status = self.replica.subnet.ingress_status(request)
        assert status is not None and status.reply is not None, (method, status)
        return spent, self.decode(method, status.reply) if target == self.market else None

    def cycles(self) -> int:
        return sum(self.replica.canister_status(c)["cycles"] for c in (self.market, self.ledger))

    def approve(self, buyer: Principal, amount: int) -> None:
        args = self.token_did.env["ApproveArgs"]
        text = (f'(record {{ spender = record {{ owner = principal "{self.market.to_text()}"; '
                f"subaccount = null }}; amount = {amount}; fee = null; memo = null; "
                "from_subaccount = null; created_at_time = null; expected_allowance = null; "
                "expires_at = null })")
        arg = encode([args], parse_values(text, [args], env=self.token_did.env))
        self.call(buyer, "icrc2_approve", canister=self.ledger, arg=arg)

    def listing(self, n: int, quantity: int = 1) -> ListingInput:
        words = " ".join(WORDS[(n * k + k) % len(WORDS)] for k in (1, 3, 5))
        return ListingInput(f"{words} {n}", f"item number {n}: {words}",
                            (n % 500 + 1) * 100_000, quantity, CATEGORIES[n % len(CATEGORIES)])


def costs(b: Bench) -> list[list[str]]:
    b.call(b.seller, "open_shop", "Bench shop", "", None, 0)
    rows: list[tuple[str, list[int], int]] = []

    def measure(name: str, make: Any) -> None:
        before, used = b.cycles(), []
        for i in range(COST_CALLS):
            used.append(make(i))
        rows.append((name, used, before - b.cycles()))

    item_ids: list[int] = []

    def create(i: int) -> int:
        spent, view = b.call(b.seller, "create_listing", b.listing(i, 1), [])
        item_ids.append(int(view.id))
        return spent

    transfer = b.token_did.env["TransferArg"]

    def ledger_transfer(i: int) -> int:
        text = (f'(record {{ to = record {{ owner = principal "{b.seller.to_text()}"; '
                "subaccount = null }; amount = 1000; fee = null; memo = null; "
                "from_subaccount = null; created_at_time = null })")
        arg = encode([transfer], parse_values(text, [transfer], env=b.token_did.env))
        return b.call(b.buyers[i], "icrc1_transfer", canister=b.ledger, arg=arg)[0]

    measure("icrc1_transfer on the ledger (reference)", ledger_transfer)
    measure("create_listing", create)
    for i in range(COST_CALLS):
        b.approve(b.buyers[i], 10**12)
    orders: list[int] = []

    def checkout(i: int) -> int:
        spent, result = b.call(b.buyers[i], "checkout", item_ids[i], 1)
        assert result.tag == "Ok", result
        orders.append(int(result.value.id))
        return spent

    measure("checkout (incl. icrc2_transfer_from)", checkout)
    measure("ship", lambda i: b.call(b.seller, "ship", orders[i], "parcel")[0])
    measure("confirm_delivery (2 payouts)",
            lambda i: b.call(b.buyers[i], "confirm_delivery", orders[i])[0])
    q = SearchQuery(text="bicycle steel", sort="price_asc")

    def search(i: int) -> int:
        result = b.replica.run_query(b.market, "search", b.encode("search", q),
                                     sender=b.buyers[0])
        return result.instructions

    measure("search query (2 words)", search)
    reference = statistics.median(rows[0][1])
    return [[name, f"{statistics.median(used):,.0f}", f"{spent / COST_CALLS:,.0f}",
             f"{statistics.median(used) / reference:.2f}"] for name, used, spent in rows]


def throughput(b: Bench) -> list[list[str]]:
    items = []
    requests = [b.replica.submit(b.market, "create_listing",
                                 b.encode("create_listing", b.listing(10_000 + n), []),
                                 sender=b.seller) for n in range(CHECKOUTS)]
    b.run(requests)
    for r in requests:
        status = b.replica.subnet.ingress_status(r)
        assert status is not None and status.reply is not None
        items.append(int(b.decode("create_listing", status.reply).id))
    for buyer in b.buyers[:CHECKOUTS]:
        b.approve(buyer, 10**12)
    started = time.perf_counter()
    batch = [b.replica.submit(b.market, "checkout", b.encode("checkout", items[n], 1),
                              sender=b.buyers[n]) for n in range(CHECKOUTS // 2)]
    b.run(batch)
    batch_seconds = time.perf_counter() - started
    latencies = []
    for n in range(CHECKOUTS // 2, CHECKOUTS):
        t0 = time.perf_counter()
        b.call(b.buyers[n], "checkout", items[n], 1)
        latencies.append(time.perf_counter() - t0)
    half = CHECKOUTS // 2
    return [
        [f"{half} checkouts submitted at once", f"{half / batch_seconds:,.1f} orders/s",
         f"{batch_seconds * 1000 / half:,.1f} ms/order"],
        [f"{half} checkouts one at a time",
         f"p50 {statistics.median(latencies) * 1000:,.1f} ms",
         f"p99 {percentile(latencies, 0.99) * 1000:,.1f} ms"],
    ]


def fill_natively(b: Bench, numbers: range) -> None:
    """Make listings ``numbers`` with the canister's own ``create_listing`` run in this
    process on the canister's store (see the module doc), one transaction each."""
    sandbox = b.replica.subnet.canister_state.sandboxes[b.market.raw]
    assert isinstance(sandbox, ComponentSandbox)
    backend = LocalBackend(canister_id=b.market, caller=b.seller, time_ns=b.clock)
    backend.store = StoreView(sandbox.kv)  # type: ignore[assignment]
    local = LocalCanister("apps.marketplace.canister", backend=backend)
    for n in numbers:
        b.clock += 1_000_000
        backend.set_time(b.clock)
        outcome = local.run("update", "create_listing",
                            b.encode("create_listing", b.listing(n), []), caller=b.seller)
        assert isinstance(outcome, Reply), outcome
        sandbox.kv.commit()
    sandbox.reset_instance()  # its cache of committed values missed these writes


def search_latency(b: Bench, sizes: tuple[int, ...]) -> list[list[str]]:
    rows = []
    have = 10_000 + CHECKOUTS + COST_CALLS  # listing numbers in use so far
    n = 0
    queries = [
        # each word is in 3 of 16 listings, both in 1 of 16 (see `Bench.listing`)
        ("2 words", SearchQuery(text="bicycle steel", limit=24)),
        ("2 words + price sort", SearchQuery(text="bicycle steel", sort="price_asc", limit=24)),
        ("category + price sort", SearchQuery(category="bikes", sort="price_asc", limit=24)),
        ("newest, no filter", SearchQuery(limit=24)),
    ]
    filled = 0
    for size in sizes:
        fill_started = time.perf_counter()
        native = max(0, size - max(filled, REPLICA_FILL) - FILL_BATCH)
        if native:
            fill_natively(b, range(have + n, have + n + native))
            n += native
            filled += native
        while filled < size:
            chunk = min(FILL_BATCH, size - filled)
            requests = [b.replica.submit(b.market, "create_listing",
                                         b.encode("create_listing",
                                                  b.listing(have + n + k), []),
                                         sender=b.seller) for k in range(chunk)]
            b.run(requests)
            n += chunk
            filled += chunk
        fill = time.perf_counter() - fill_started
        for name, q in queries:
            arg = b.encode("search", q)
            times, instructions = [], []
            for _ in range(5):
                t0 = time.perf_counter()
                result = b.replica.run_query(b.market, "search", arg, sender=b.buyers[0])
                times.append(time.perf_counter() - t0)
                instructions.append(result.instructions)
                assert result.reply is not None, result.reject
            matches = b.decode("search", result.reply).total
            rows.append([f"{size:,}", name, f"{matches:,}",
                         f"{statistics.median(times) * 1000:,.1f} ms",
                         f"{statistics.median(instructions):,.0f}"])
        how = f", {native:,} natively" if native else ""
        rows.append([f"{size:,}", f"(filled in {fill:,.0f} s{how})", "", "", ""])
    return rows


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    sizes = SIZES
    if args[:1] == ["--sizes"] and len(args) > 1:
        sizes = tuple(int(s) for s in args[1].split(","))
    previous = set_runtime_loader(load_runtime)
    try:
        with tempfile.TemporaryDirectory() as work:
            b = Bench(Path(work))
            print("Marketplace benchmark (in-process replica, wasm Python runtime)")
            print(f"1. Cost per call (median instructions of {COST_CALLS}, all rounds until "
                  "done; cycles both canisters spent per call); ratio = / icrc1_transfer")
            table(["call", "instructions", "cycles", "ratio"], costs(b))
            print(f"2. Checkout throughput ({CHECKOUTS} buyers, the ledger pull included)")
            table(["run", "rate / p50", "per order / p99"], throughput(b))
            print("3. Search latency (median of 5 queries; the query's instructions)")
            table(["listings", "query", "matches", "latency", "instructions"],
                  search_latency(b, sizes))
    finally:
        set_runtime_loader(previous)


if __name__ == "__main__":
    main()
