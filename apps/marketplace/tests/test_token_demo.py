"""The demo token: the ``ledger`` template rendered, built and installed on a real replica
with demo balances, recorded as ``marketplace_token``, kept across a second install; and
``apps/marketplace/icrc.did`` is exactly the interface it builds to."""

from __future__ import annotations

from pathlib import Path

from django.test import override_settings

from apps.marketplace.token import TOKEN_NAME, TRANSFER_FEE, build_token, deploy_token
from icframework.candid import NAT, decode, encode, parse_did
from icframework.core import Principal
from icframework.deployments import recorded_id
from icframework.replica.embedded import Replica

ROOT = Path(__file__).resolve().parents[3]
URL = "http://127.0.0.1:4943"
ALICE = Principal.self_authenticating(b"token demo: alice")
MINTER = Principal.self_authenticating(b"token demo: minter")


def test_icrc_did_is_the_ledger_templates_interface(tmp_path: Path) -> None:
    with override_settings(BASE_DIR=ROOT):
        built = build_token(tmp_path, progress=None)
    assert (ROOT / "apps" / "marketplace" / "icrc.did").read_text(encoding="utf-8") == built.did


def test_deploy_token_mints_demo_balances_once(tmp_path: Path) -> None:
    replica = Replica.open(None)
    with override_settings(BASE_DIR=tmp_path):
        first = deploy_token(replica, URL, tmp_path / "state", MINTER, {ALICE: 5 * 10**8})
        again = deploy_token(replica, URL, tmp_path / "state", MINTER, {ALICE: 5 * 10**8})
        assert recorded_id(TOKEN_NAME, URL) == first.canister_id
    assert first.done == "created" and again.done == "unchanged"
    service = parse_did((tmp_path / "state" / "demo" / "apps" / TOKEN_NAME /
                         f"{TOKEN_NAME}.did").read_text(encoding="utf-8"))
    account = service.env["Account"]
    reply = replica.query(first.canister_id, "icrc1_balance_of",
                          encode([account], [{"owner": ALICE, "subaccount": None}]))
    assert decode(reply, [NAT]) == (5 * 10**8,)
    fee = replica.query(first.canister_id, "icrc1_fee", encode([], []))
    assert decode(fee, [NAT]) == (TRANSFER_FEE,)
