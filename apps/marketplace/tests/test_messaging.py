"""Order conversations: the marketplace opens the order's private room in the real chat
canister by an inter-canister call (both canisters in plain CPython, connected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.marketplace.tests.world import (
    ADMIN,
    ARBITER,
    BUYER,
    BUYER2,
    MARKET_ID,
    SELLER,
    World,
    make_world,
    records,
)
from icframework.compiler.app_build import load_app
from icframework.sdk import CallRejected, LocalCanister, Principal, Reject
from icframework.sdk.backend import LocalBackend

CHAT_APP = load_app(Path(__file__).resolve().parents[2] / "chat", "market_test_chat")
CHAT_ID = Principal.from_text("be2us-64aaa-aaaaa-qaabq-cai")


def with_chat(w: World, marketplace: Principal | None = MARKET_ID) -> LocalCanister:
    """The chat canister (trusting ``marketplace``), connected to the market as its
    ``chat``."""
    chat = LocalCanister(CHAT_APP, backend=LocalBackend(canister_id=CHAT_ID))
    chat.install(CHAT_APP.records.InitArgs(moderators=[], marketplace=marketplace))
    w.market.connect(CHAT_ID, chat)
    w.u(ADMIN, "set_chat", CHAT_ID)
    return chat


@pytest.fixture
def w() -> World:
    return make_world()


def paid_order(w: World, title: str = "Blue bicycle") -> Any:
    w.shop()
    item = w.listing(title=title)
    result = w.buy(BUYER, item.id)
    assert result.tag == "Ok"
    return result.value


def test_a_party_opens_the_order_room_and_both_parties_talk_in_it(w: World) -> None:
    chat = with_chat(w)
    order = paid_order(w)
    assert w.q(BUYER, "order_chat", order.id) is None
    room_id = w.u(BUYER, "open_order_chat", order.id)
    assert w.u(SELLER, "open_order_chat", order.id) == room_id  # the same room
    assert w.q(SELLER, "order_chat", order.id) == room_id
    assert w.q(BUYER, "my_order_chats") == [(order.id, room_id)]
    assert chat.query("order_room", order.id, caller=SELLER) == room_id

    chat.update("register", "buyer_b", "Buyer", caller=BUYER)
    chat.update("register", "seller_s", "Seller", caller=SELLER)
    chat.update("send_message", room_id, "When will it ship?", None, caller=BUYER)
    chat.update("send_message", room_id, "Tomorrow morning.", None, caller=SELLER)
    texts = [m.text for m in chat.query("history", room_id, None, 10, caller=BUYER).messages]
    assert texts == ["When will it ship?", "Tomorrow morning."]
    with pytest.raises(Reject, match="private"):
        chat.query("history", room_id, None, 10, caller=BUYER2)

    told = w.q(SELLER, "my_notifications", None, 10)
    about = [n for n in told if n.kind == "order_message"]
    assert len(about) == 1 and about[0].room_id == room_id and about[0].order_id == order.id
    assert "the buyer of order" in about[0].text


def test_only_the_buyer_and_the_seller_open_it_and_only_once_paid(w: World) -> None:
    with_chat(w)
    order = paid_order(w)
    for outsider in (BUYER2, ARBITER):
        with pytest.raises(Reject, match="only the buyer and the seller"):
            w.u(outsider, "open_order_chat", order.id)
    with pytest.raises(Reject, match="no order 99"):
        w.u(BUYER, "open_order_chat", 99)
    item = w.listing(title="Teapot", price=2_000_000)
    w.approve(BUYER2, 1)  # too little: the checkout fails
    failed = w.u(BUYER2, "checkout", item.id, 1)
    assert failed.tag == "Err"
    (mine,) = w.q(BUYER2, "my_orders", False, None, 10)
    with pytest.raises(Reject, match="is failed; talk about an order once it is paid"):
        w.u(BUYER2, "open_order_chat", mine.id)


def test_without_a_chat_canister_the_answer_says_how_to_configure_one(w: World) -> None:
    order = paid_order(w)
    with pytest.raises(Reject, match="set_chat"):
        w.u(BUYER, "open_order_chat", order.id)
    with pytest.raises(Reject, match="only the marketplace admin"):
        w.u(BUYER, "set_chat", CHAT_ID)
    assert w.q(BUYER, "chat_canister") is None


def test_a_chat_canister_that_does_not_trust_the_market_refuses_and_nothing_is_kept(
        w: World) -> None:
    with_chat(w, marketplace=Principal.from_text("aaaaa-aa"))
    order = paid_order(w)
    with pytest.raises(Reject, match=r"did not open the room of order .*only the marketplace"):
        w.u(BUYER, "open_order_chat", order.id)
    assert w.q(BUYER, "order_chat", order.id) is None


def test_an_unreachable_chat_canister_is_a_clear_error(w: World) -> None:
    def down(method: str, arg: bytes, caller: Any, cycles: int) -> bytes:
        raise CallRejected(CHAT_ID.to_text(), method, 5, "canister stopped")

    with_chat(w)
    w.market.connect(CHAT_ID, down)
    order = paid_order(w)
    with pytest.raises(Reject, match=r"did not open the room .*canister stopped"):
        w.u(SELLER, "open_order_chat", order.id)


def test_the_chat_canister_is_set_at_install_and_kept_or_replaced_at_upgrade(w: World) -> None:
    w.market.upgrade(records.InitArgs(ledger=w.ledger.backend.canister_id, chat=CHAT_ID))
    assert w.q(BUYER, "chat_canister") == CHAT_ID
    w.market.upgrade(records.InitArgs(ledger=w.ledger.backend.canister_id))
    assert w.q(BUYER, "chat_canister") == CHAT_ID
    with pytest.raises(Reject, match="not the anonymous principal"):
        w.market.upgrade(records.InitArgs(ledger=w.ledger.backend.canister_id,
                                          chat=Principal.anonymous()))
