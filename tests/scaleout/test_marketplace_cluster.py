"""The marketplace across subnets, as real processes: the marketplace canister on
``app1``, its ICRC ledger (the marketplace token, `apps.marketplace.token`) on ``app2``,
every call through the Python agent over the cluster's front ends (certificates
verified under the root key alone). A checkout that settles, a cancelled order that is
refunded and a disputed one the arbiter refunds end with exactly the balances, supply
and market statistics of the same flows on one in-process subnet (the flows of
apps/marketplace/tests/test_canister.py, whose world is `LocalCanister`s, ported to
calls by principal). The chat's events reach a WebSocket on the other front end.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from websockets.sync.client import connect

from apps.marketplace.canister.records import ListingInput
from apps.marketplace.token import build_token, token_init_arg
from icframework.agent import Agent, ManagementCanister
from icframework.agent.socket import socket_url
from icframework.candid import NAT, decode, encode, parse_did, parse_values
from icframework.candid.did import DidFile
from icframework.compiler.app_build import BuildResult, build_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica import pack_python_module, subnet_range
from icframework.replica.embedded import Replica
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.scaleout import ClusterConfig
from icframework.sdk.dispatch import CompiledMethod, decode_result, encode_args, method_table
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.scaleout.cluster_support import (
    WAIT_S,
    ClusterProcesses,
    agreed_reply,
    free_port,
    unique_names,
)

__all__ = ["runtime"]

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
E8S = 10**8
FEE = 10_000
PEOPLE = ("admin", "arbiter", "seller", "buyer", "minter")


@functools.cache
def _market_methods() -> dict[str, CompiledMethod]:
    return method_table("apps.marketplace.canister")


@functools.cache
def _chat_methods() -> dict[str, CompiledMethod]:
    return method_table("apps.chat.canister")


class Side:
    """Where the scenario's canisters go and how a person calls them."""

    def create(self, subnet: int) -> Principal:
        raise NotImplementedError

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        raise NotImplementedError

    def update(self, who: Ed25519Identity, canister: Principal, method: str,
               arg: bytes) -> bytes:
        raise NotImplementedError

    def query(self, who: Ed25519Identity, canister: Principal, method: str,
              arg: bytes) -> bytes:
        raise NotImplementedError


class ClusterSide(Side):
    """Updates through front end A; queries through front end B once B's copy answers
    as A does (A reads its own writes; B may lag by its staleness bound)."""

    def __init__(self, url_a: str, url_b: str) -> None:
        self.a = Agent(url_a, Ed25519Identity.generate(), fetch_root_key=True)
        self.b = Agent(url_b, self.a.identity, fetch_root_key=True)

    def close(self) -> None:
        self.a.close()
        self.b.close()

    def create(self, subnet: int) -> Principal:
        return ManagementCanister(self.a).provisional_create_canister_with_cycles(
            effective_canister_id=Principal.from_canister_index(subnet_range(subnet).first))

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        ManagementCanister(self.a).install_code(canister, wasm, arg)

    def update(self, who: Ed25519Identity, canister: Principal, method: str,
               arg: bytes) -> bytes:
        self.a.identity = who
        return self.a.update(canister, method, arg)

    def query(self, who: Ed25519Identity, canister: Principal, method: str,
              arg: bytes) -> bytes:
        self.a.identity = self.b.identity = who
        return agreed_reply(lambda: self.a.query(canister, method, arg),
                            lambda: self.b.query(canister, method, arg), method)


class ReplicaSide(Side):
    """Everything on the one subnet of an in-process replica."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica

    def create(self, subnet: int) -> Principal:
        return self.replica.create_canister()

    def install(self, canister: Principal, wasm: bytes, arg: bytes) -> None:
        self.replica.install_code(canister, wasm, arg)

    def update(self, who: Ed25519Identity, canister: Principal, method: str,
               arg: bytes) -> bytes:
        return self.replica.update(canister, method, arg, sender=who.principal)

    def query(self, who: Ed25519Identity, canister: Principal, method: str,
              arg: bytes) -> bytes:
        return self.replica.query(canister, method, arg, sender=who.principal)


class Market:
    """The scenario's calls: the marketplace typed by its module, the ledger by its .did."""

    def __init__(self, side: Side, token: BuildResult, market: BuildResult,
                 people: dict[str, Ed25519Identity]) -> None:
        self.side, self.people = side, people
        self.token_did: DidFile = parse_did(token.did)
        balances = {people[name].principal: 1_000 * E8S for name in ("buyer",)}
        self.ledger = side.create(2)
        side.install(self.ledger, token.wasm, token_init_arg(
            token.did, people["minter"].principal, balances))
        self.market = side.create(1)
        side.install(self.market, market.wasm, self._init_arg(market.did))

    def _init_arg(self, did: str) -> bytes:
        service = parse_did(did)
        assert service.service_args is not None
        text = (f'(record {{ ledger = principal "{self.ledger.to_text()}"; '
                f'admin = opt principal "{self.people["admin"].principal.to_text()}"; '
                f'arbiter = opt principal "{self.people["arbiter"].principal.to_text()}"; '
                "platform_fee_bps = opt 250; ledger_fee = opt 10_000 })")
        return encode(service.service_args, parse_values(text, service.service_args,
                                                         env=service.env))

    def u(self, who: str, method: str, *args: Any) -> Any:
        compiled = _market_methods()[method]
        reply = self.side.update(self.people[who], self.market, method,
                                 encode_args(compiled, args))
        return decode_result(compiled, reply)

    def q(self, who: str, method: str, *args: Any) -> Any:
        compiled = _market_methods()[method]
        reply = self.side.query(self.people[who], self.market, method,
                                encode_args(compiled, args))
        return decode_result(compiled, reply)

    def _ledger_arg(self, type_name: str, text: str) -> bytes:
        kind = self.token_did.env[type_name]
        return encode([kind], parse_values(text, [kind], env=self.token_did.env))

    def approve(self, who: str, amount: int) -> None:
        self.side.update(self.people[who], self.ledger, "icrc2_approve", self._ledger_arg(
            "ApproveArgs",
            f'(record {{ spender = record {{ owner = principal "{self.market.to_text()}"; '
            f"subaccount = null }}; amount = {amount}; fee = null; memo = null; "
            "from_subaccount = null; created_at_time = null; expected_allowance = null; "
            "expires_at = null })"))

    def balance(self, owner: Principal) -> int:
        raw = self.side.query(self.people["buyer"], self.ledger, "icrc1_balance_of",
                              self._ledger_arg("Account", f'(record {{ owner = principal '
                                                          f'"{owner.to_text()}"; '
                                                          "subaccount = null })"))
        return _nat(raw)

    def supply(self) -> int:
        return _nat(self.side.query(self.people["buyer"], self.ledger, "icrc1_total_supply",
                                    b"DIDL\x00\x00"))


def _nat(raw: bytes) -> int:
    (value,) = decode(raw, [NAT])
    return int(value)


def scenario(side: Side, token: BuildResult, market: BuildResult,
             people: dict[str, Ed25519Identity]) -> dict[str, Any]:
    """Checkout → ship → confirm; checkout → cancel (refund); checkout → ship → dispute →
    the arbiter refunds. What each step answered, and every balance at the end."""
    m = Market(side, token, market, people)
    m.u("seller", "open_shop", "Cluster shop", "", None, 0)
    items = [m.u("seller", "create_listing", ListingInput(title, f"A fine {title}", price, 1,
                                                          "bikes"), [])
             for title, price in (("Bicycle", 10_000_000), ("Teapot", 1_000_000),
                                  ("Lamp", 2_000_000))]
    m.approve("buyer", 100 * E8S)
    out: dict[str, Any] = {}
    paid = m.u("buyer", "checkout", items[0].id, 1)
    assert paid.tag == "Ok", paid
    m.u("seller", "ship", paid.value.id, "parcel 1")
    settled = m.u("buyer", "confirm_delivery", paid.value.id)
    out["checkout"] = (paid.value.status.value, settled.status.value,
                       sorted((p.purpose, p.gross) for p in settled.payouts))
    second = m.u("buyer", "checkout", items[1].id, 1)
    cancelled = m.u("seller", "cancel_order", second.value.id, "out of stock")
    out["refund"] = (second.value.status.value, cancelled.status.value)
    third = m.u("buyer", "checkout", items[2].id, 1)
    m.u("seller", "ship", third.value.id, "parcel 3")
    opened = m.u("buyer", "open_dispute", third.value.id, "arrived broken")
    decided = m.u("arbiter", "resolve_dispute", third.value.id, True, "photos show damage")
    out["dispute"] = (opened.status.value, decided.status.value,
                      decided.note.startswith("the buyer was refunded"))
    stats = m.q("admin", "stats")
    out["stats"] = (stats.volume, stats.sales, stats.escrow_held)
    out["balances"] = {name: m.balance(people[name].principal) for name in PEOPLE}
    out["balances"]["market"] = m.balance(m.market)
    out["supply"] = m.supply()
    return out


@pytest.fixture
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    yield
    set_runtime_loader(previous)


def _builds(tmp_path: Path) -> tuple[BuildResult, BuildResult, BuildResult]:
    cache = ROOT / ".build" / "apps"
    with override_settings(BASE_DIR=ROOT):
        token = build_token(tmp_path / "token", progress=None)
    market = build_app(ROOT / "apps" / "marketplace", pack_python_module, cache_dir=cache,
                       progress=None)
    chat = build_app(ROOT / "apps" / "chat", pack_python_module, cache_dir=cache,
                     progress=None)
    return token, market, chat


def _chat_event_on_b(side: ClusterSide, chat_wasm: bytes, url_b: str,
                     people: dict[str, Ed25519Identity]) -> dict[str, Any]:
    """The chat on ``app2``: a public room's message, sent through A, as a socket on B
    subscribed to the room receives it."""
    chat = side.create(2)
    side.install(chat, chat_wasm, b"DIDL\x00\x00")
    methods = _chat_methods()
    seller = people["seller"]

    def call(method: str, *args: Any) -> Any:
        compiled = methods[method]
        return decode_result(compiled, side.update(seller, chat, method,
                                                   encode_args(compiled, args)))

    call("register", "seller", "The Seller")
    room = int(call("create_room", "market-talk", "", True).room.id)
    topic = f"room:{room}"
    # B's copy knows the room (the socket's access check reads it there).
    side.query(seller, chat, "can_subscribe",
               encode_args(methods["can_subscribe"], (topic,)))
    with connect(socket_url(url_b, chat)) as socket_b:
        assert json.loads(socket_b.recv(timeout=WAIT_S))["op"] == "hello"
        socket_b.send(json.dumps({"op": "subscribe", "topics": [topic]}))
        assert json.loads(socket_b.recv(timeout=WAIT_S)) == \
            {"op": "subscribed", "topics": [topic]}
        call("send_message", room, "is the bicycle still for sale?", None)
        frame = json.loads(socket_b.recv(timeout=WAIT_S))
    assert frame["op"] == "event" and frame["topic"] == topic, frame
    assert b"is the bicycle still for sale?" in base64.b64decode(frame["value"])
    return dict(frame)


def test_marketplace_and_ledger_on_two_subnets_end_as_on_one(
        python_runtime: None, postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    token, market, chat = _builds(tmp_path)
    people = {name: Ed25519Identity.generate() for name in PEOPLE}
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    with ClusterProcesses(tmp_path, config) as procs:
        procs.init(names)
        for name in names:
            procs.start_writer(name, f"{name}-w1")
        urls = []
        for tag in "ab":
            port = free_port()
            procs.spawn(["runfrontend", "--port", str(port)], f"frontend-{tag}").wait_for(
                "icframework front end running")
            urls.append(f"http://127.0.0.1:{port}")
        side = ClusterSide(*urls)
        try:
            across = scenario(side, token, market, people)
            frame = _chat_event_on_b(side, chat.wasm, urls[1], people)
        finally:
            side.close()
    with Replica.open(None) as replica:
        local = scenario(ReplicaSide(replica), token, market, people)
    print(f"\nacross subnets: {across}\none subnet:     {local}\nchat frame on B: {frame}")
    assert across["checkout"][:2] == ("paid", "settled")
    assert across["refund"] == ("paid", "refunded")
    assert across["dispute"] == ("disputed", "refunded", True)
    assert across["stats"] == (10_000_000, 3, 0)  # one sale's volume; no escrow left
    # Every token is in an account: the escrows are empty, the fees were burnt.
    assert sum(across["balances"].values()) == across["supply"]
    assert across == local
