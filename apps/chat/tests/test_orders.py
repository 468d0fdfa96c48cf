"""Order rooms (`orders.open_order_room`): only the configured marketplace opens them,
one per order, with exactly the buyer and the seller as members."""

from __future__ import annotations

import pytest

from icframework.sdk import LocalCanister, Principal, Reject

from . import test_canister as base

# The canister test module's load, as the other chat tests use: a second load under the
# same name would drop its registrations, whose records those tests compare against.
APP = base.APP
records = APP.records

MARKET = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
OTHER_CANISTER = Principal.from_text("bd3sg-teaaa-aaaaa-qaaba-cai")
BUYER = Principal.self_authenticating(b"order room: buyer")
SELLER = Principal.self_authenticating(b"order room: seller")
STRANGER = Principal.self_authenticating(b"order room: stranger")


def chat(marketplace: Principal | None = MARKET) -> LocalCanister:
    canister = LocalCanister(APP)
    canister.install(records.InitArgs(moderators=[], marketplace=marketplace))
    return canister


def test_the_marketplace_opens_one_private_room_per_order_for_its_two_parties() -> None:
    c = chat()
    room_id = c.update("open_order_room", 7, BUYER, SELLER, "Blue <b>bicycle</b>", caller=MARKET)
    assert c.update("open_order_room", 7, BUYER, SELLER, "Blue bicycle", caller=MARKET) == room_id
    other = c.update("open_order_room", 8, BUYER, SELLER, "Teapot", caller=MARKET)
    assert other != room_id  # a room per order, not the pair's direct room
    assert c.query("order_room", 7, caller=BUYER) == room_id
    assert c.query("order_room", 7, caller=SELLER) == room_id
    assert c.query("order_room", 7, caller=STRANGER) is None

    c.update("register", "buyer_one", "Buyer", caller=BUYER)
    c.update("register", "seller_one", "Seller", caller=SELLER)
    c.update("register", "stranger", "Stranger", caller=STRANGER)
    sent = c.update("send_message", room_id, "Is it still blue?", None, caller=BUYER)
    page = c.query("history", room_id, None, 10, caller=SELLER)
    assert [m.text for m in page.messages] == ["Is it still blue?"]
    assert sent.author == BUYER
    with pytest.raises(Reject, match="private"):
        c.query("history", room_id, None, 10, caller=STRANGER)
    with pytest.raises(Reject, match="not a member"):
        c.update("send_message", room_id, "hi", None, caller=STRANGER)
    mine = {int(r.room.id): r.room for r in c.query("my_rooms", caller=SELLER)}
    assert mine[room_id].name == "Order 7: Blue <b>bicycle</b>"
    assert sorted(p.raw for p in mine[room_id].direct_members) == sorted(
        (BUYER.raw, SELLER.raw))


def test_room_added_reaches_both_parties_live() -> None:
    c = chat()
    c.backend.events.clear()
    room_id = c.update("open_order_room", 1, BUYER, SELLER, "Lamp", caller=MARKET)
    topics = [topic for topic, _data in c.backend.events]
    assert topics == [f"user:{BUYER.to_text()}", f"user:{SELLER.to_text()}"]
    assert room_id >= 1


def test_only_the_configured_marketplace_may_open_order_rooms() -> None:
    c = chat()
    for caller in (BUYER, OTHER_CANISTER, Principal.anonymous()):
        with pytest.raises(Reject, match="only the marketplace canister opens order rooms"):
            c.update("open_order_room", 1, BUYER, SELLER, "Lamp", caller=caller)
    unconfigured = chat(None)
    assert unconfigured.query("order_marketplace") is None
    with pytest.raises(Reject, match="only the marketplace canister"):
        unconfigured.update("open_order_room", 1, BUYER, SELLER, "Lamp", caller=MARKET)
    assert c.query("order_marketplace") == MARKET


def test_bad_parties_and_a_different_pair_for_an_existing_order_are_refused() -> None:
    c = chat()
    with pytest.raises(Reject, match="two different signed-in users"):
        c.update("open_order_room", 1, BUYER, BUYER, "Lamp", caller=MARKET)
    with pytest.raises(Reject, match="two different signed-in users"):
        c.update("open_order_room", 1, Principal.anonymous(), SELLER, "Lamp", caller=MARKET)
    c.update("open_order_room", 1, BUYER, SELLER, "Lamp", caller=MARKET)
    with pytest.raises(Reject, match="already has room"):
        c.update("open_order_room", 1, STRANGER, SELLER, "Lamp", caller=MARKET)


def test_an_upgrade_keeps_the_marketplace_unless_a_new_one_is_given() -> None:
    c = chat()
    c.upgrade(None)
    assert c.query("order_marketplace") == MARKET
    c.upgrade(records.InitArgs(moderators=[], marketplace=OTHER_CANISTER))
    assert c.query("order_marketplace") == OTHER_CANISTER
    with pytest.raises(Reject, match="not the anonymous principal"):
        c.upgrade(records.InitArgs(moderators=[], marketplace=Principal.anonymous()))
