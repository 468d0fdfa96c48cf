"""The marketplace demo seeder on a real replica (in memory): the token, the marketplace
and the demo shops installed once, items searchable with their pictures, the faucet."""

from __future__ import annotations

from pathlib import Path

from django.test import override_settings

from apps.marketplace.seed import DEMO_ITEMS, faucet, seed_demo
from icframework.candid import NAT, decode, encode, parse_did
from icframework.core import Principal
from icframework.demo import TypedCaller, method_table
from icframework.deployments import recorded_id
from icframework.replica.embedded import Replica

URL = "http://127.0.0.1:4943"
ROOT = Path(__file__).resolve().parents[3]


def test_seeding_is_idempotent_and_the_faucet_pays(tmp_path: Path) -> None:
    replica = Replica.open(None)
    state = tmp_path / "state"
    with override_settings(BASE_DIR=tmp_path):
        first = seed_demo(replica, URL, state)
        again = seed_demo(replica, URL, state)
        market = recorded_id("marketplace", URL)
        token = recorded_id("marketplace_token", URL)
        assert market is not None and token is not None
        visitor = Principal.self_authenticating(b"a browser user")
        faucet(replica, URL, state, visitor, 5 * 10**8)
    assert "added shop" in first[2] and "nothing new to seed" in again[2]
    call = TypedCaller(replica, market, method_table("apps.marketplace.canister"))
    from apps.marketplace.canister.records import SearchQuery

    page = call(Principal.anonymous(), "search", SearchQuery(text="bicycle"))
    assert {x.title for x in page.listings} == {"Blue city bicycle", "Red road bicycle",
                                                "Bicycle lights"}
    assert page.total == 3 and sum(len(items) for _n, items in DEMO_ITEMS.values()) == 5
    did = parse_did((ROOT / "apps" / "marketplace" / "icrc.did").read_text("utf-8"))
    account = did.env["Account"]
    reply = replica.query(token, "icrc1_balance_of",
                          encode([account], [{"owner": visitor, "subaccount": None}]))
    assert decode(reply, [NAT]) == (5 * 10**8,)
