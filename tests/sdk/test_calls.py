"""``async def`` methods and inter-canister calls on `LocalCanister`, end to end in Candid."""

from __future__ import annotations

import pytest

from icframework.candid import NAT, TEXT, decode, encode
from icframework.core import Principal
from icframework.sdk import (
    CallRejected,
    LocalBackend,
    LocalCanister,
    Reject,
    SdkError,
    Service,
    Trapped,
)
from icframework.sdk.calls import pending_callbacks

BANK = Principal.from_canister_index(1)
SHOP = Principal.from_canister_index(2)
ALICE = Principal.self_authenticating(b"alice")


@pytest.fixture
def world() -> tuple[LocalCanister, LocalCanister]:
    bank = LocalCanister("tests.sdk.bank_canister", backend=LocalBackend(canister_id=BANK))
    shop = LocalCanister("tests.sdk.shop_canister", backend=LocalBackend(canister_id=SHOP))
    shop.install(BANK)
    shop.connect(BANK, bank)
    bank.update("deposit", SHOP, 100)
    return bank, shop


def test_await_a_reply(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    assert shop.update("buy", 30, caller=ALICE) == "paid 30, 70 left"
    assert bank.query("balance", SHOP) == 70
    assert shop.query("state") == (1, ["paid 30"])
    assert pending_callbacks() == 0


def test_a_reject_is_raised_in_the_coroutine(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    assert shop.update("buy", 500) == "payment refused: insufficient funds: 100 < 500"
    assert shop.query("state") == (0, ["refused: 4 insufficient funds: 100 < 500"])
    assert bank.query("balance", SHOP) == 100


def test_sequential_awaits(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    assert shop.update("buy_twice", 10) == 90 + 80
    assert bank.query("balance", SHOP) == 80


def test_state_is_committed_at_the_await(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    with pytest.raises(Trapped, match="crash after the await"):
        shop.update("crash_after_await", 5)
    # the write before the await was committed; the one after it rolled back with the trap
    assert shop.query("state") == (0, ["before"])
    assert bank.query("balance", SHOP) == 95  # the bank's side happened


def test_uncaught_callee_trap_traps_the_caller(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    with pytest.raises(Trapped) as info:
        shop.update("bank_explodes")
    text = info.value.message
    assert "CallRejected" in text and "code 5" in text and "the bank exploded" in text
    assert "shop_canister.py" in text  # the await's file:line


def test_reject_after_await(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    with pytest.raises(Reject, match="changed my mind"):
        shop.update("reject_after_await")


def test_typed_call_by_hints(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    assert shop.update("typed_balance") == 100


def test_callee_sees_the_canister_and_callback_keeps_the_caller(
    world: tuple[LocalCanister, LocalCanister],
) -> None:
    _, shop = world
    assert shop.update("who_am_i_to_the_bank", caller=ALICE) == (SHOP, ALICE)


def test_cycles_are_attached_and_refunded(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    before_shop, before_bank = shop.backend.cycles_balance(), bank.backend.cycles_balance()
    assert shop.update("pay_cycles", 1000) == (500, 500)
    assert shop.backend.cycles_balance() == before_shop - 500
    assert bank.backend.cycles_balance() == before_bank + 500


def test_not_enough_cycles_is_raised_at_once(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    with pytest.raises(Trapped, match="code 2"):
        shop.update("pay_cycles", 10**30)


def test_awaiting_anything_else_traps(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    with pytest.raises(Trapped, match="can only await inter-canister calls"):
        shop.update("await_sleep")


def test_async_method_without_await_replies_at_once(
    world: tuple[LocalCanister, LocalCanister],
) -> None:
    _, shop = world
    assert shop.update("no_await") == 7


def test_unconnected_callee_is_destination_invalid() -> None:
    shop = LocalCanister("tests.sdk.shop_canister", backend=LocalBackend(canister_id=SHOP))
    shop.install(BANK)
    assert shop.update("buy", 1).startswith("payment refused: canister")
    assert shop.query("state")[1][0].startswith("refused: 3 canister")


def test_function_peer() -> None:
    shop = LocalCanister("tests.sdk.shop_canister", backend=LocalBackend(canister_id=SHOP))
    shop.install(BANK)
    seen: list[tuple[str, int, Principal]] = []

    def fake_bank(method: str, arg: bytes, caller: Principal, cycles: int) -> bytes:
        (amount,) = decode(arg, (NAT,))
        seen.append((method, amount, caller))
        if amount > 50:
            raise CallRejected(str(BANK), method, 4, "too much")
        return encode((NAT,), (1000 - amount,))

    shop.connect(BANK, fake_bank)
    assert shop.update("buy", 7) == "paid 7, 993 left"
    assert shop.update("buy", 70) == "payment refused: too much"
    assert seen == [("withdraw", 7, SHOP), ("withdraw", 70, SHOP)]


def test_in_flight_interleaving(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    first = shop.start_update("buy", 60)
    second = shop.start_update("buy", 60)
    assert not first.done and first.call is not None and first.call.method == "withdraw"
    assert shop.query("state") == (2, [])  # both committed their pre-await writes
    assert second.deliver().result() == "paid 60, 40 left"
    assert first.deliver().result() == "payment refused: insufficient funds: 40 < 60"
    assert shop.query("state")[0] == 1
    with pytest.raises(SdkError, match="not waiting"):
        first.deliver()


def test_in_flight_manual_answers(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    flight = shop.start_update("buy", 5)
    assert flight.reply(encode((NAT,), (1,))).result() == "paid 5, 1 left"
    flight = shop.start_update("buy", 5)
    assert flight.reject(2, "queue full").result() == "payment refused: queue full"
    flight = shop.start_update("buy_twice", 5)
    flight.deliver()
    assert not flight.done  # now waiting on the second call
    with pytest.raises(SdkError, match="still waits"):
        flight.result()
    assert flight.deliver().result() == 95 + 90


def test_bad_reply_raises_reply_decode_error(world: tuple[LocalCanister, LocalCanister]) -> None:
    _, shop = world
    flight = shop.start_update("bank_explodes")
    with pytest.raises(Trapped, match="ReplyDecodeError"):
        flight.reply(b"not candid")


def test_async_timer_calls_the_bank(world: tuple[LocalCanister, LocalCanister]) -> None:
    bank, shop = world
    shop.update("schedule_refund", 1)
    assert shop.advance_time(2_000_000_000) == 1
    assert shop.query("state")[1] == ["scheduled 1", "timer withdrew 1, 99 left"]
    assert bank.query("balance", SHOP) == 99


def test_service_from_did() -> None:
    service = Service(BANK, "service : { f : (nat, text) -> (nat); g : () -> () query }")
    assert service.methods == ["f", "g"]
    call = service.f(1, "x")
    assert call.callee == BANK and call.method == "f"
    assert call.arg == encode((NAT, TEXT), (1, "x"))
    with pytest.raises(AttributeError, match="has no method 'h'; it has f, g"):
        service.h  # noqa: B018
    with pytest.raises(SdkError, match="takes 2 argument"):
        service.f(1)
    with pytest.raises(SdkError, match="bad argument"):
        service.f("x", "y")
    with pytest.raises(SdkError, match="declares no service"):
        Service(BANK, "type t = nat;")


def test_clients_of_one_interface_parse_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from icframework.sdk import calls

    parsed: list[str] = []
    real = calls.parse_did

    def counting(text: str) -> object:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(calls, "parse_did", counting)
    did = "service : { ping : () -> (nat) }"
    first, second = Service(BANK, did), Service(SHOP, did)
    assert first.ping().callee == BANK and second.ping().callee == SHOP
    assert parsed == [did]
    with pytest.raises(SdkError, match="declares no service"):
        Service(BANK, "type u = text;")  # a bad text is refused each time, never kept
    with pytest.raises(SdkError, match="declares no service"):
        Service(BANK, "type u = text;")
