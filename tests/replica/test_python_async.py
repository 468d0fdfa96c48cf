"""``async def`` SDK methods on the replica: awaits are real inter-canister calls.

The bank and shop canisters are the same sources the plain-CPython tests in
tests/sdk/test_calls.py run, so both paths pin the same behaviour.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.candid import NAT, PRINCIPAL, TEXT
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.sdk import load_canister, service_did
from tests.compiler.runtime_support import CACHE_DIR, runtime

__all__ = ["runtime"]

CONTROLLER = Principal.self_authenticating(b"python async test controller")
SDK_TESTS = Path(__file__).parents[1] / "sdk"
NANOS = 1_000_000_000


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


def _install(replica: Replica, name: str, arg: bytes) -> Principal:
    source = (SDK_TESTS / f"{name}.py").read_text()
    did = service_did(load_canister(f"tests.sdk.{name}"))
    module = pack_python_module({f"{name}.py": source}, f"{name}.py", did=did)
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, module, arg, sender=CONTROLLER)
    return canister


@pytest.fixture
def clock() -> list[int]:
    return [1_750_000_000 * NANOS]


@pytest.fixture
def world(clock: list[int]) -> Iterator[tuple[Replica, Principal, Principal]]:
    with Replica.open(clock=lambda: clock[0]) as replica:
        bank = _install(replica, "bank_canister", encode((), ()))
        shop = _install(replica, "shop_canister", encode((PRINCIPAL,), (bank,)))
        replica.update(bank, "deposit", encode((PRINCIPAL, NAT), (shop, 100)))
        yield replica, bank, shop


def _text(reply: bytes) -> str:
    (value,) = decode(reply, (TEXT,))
    return str(value)


def _nat(reply: bytes) -> int:
    (value,) = decode(reply, (NAT,))
    return int(value)


def test_await_reply_and_reject(world: tuple[Replica, Principal, Principal]) -> None:
    replica, bank, shop = world
    assert _text(replica.update(shop, "buy", encode((NAT,), (30,)))) == "paid 30, 70 left"
    assert _text(replica.update(shop, "buy", encode((NAT,), (500,)))) == (
        "payment refused: insufficient funds: 70 < 500"
    )
    assert _nat(replica.query(bank, "balance", encode((PRINCIPAL,), (shop,)))) == 70
    assert _nat(replica.update(shop, "buy_twice", encode((NAT,), (10,)))) == 60 + 50
    assert _nat(replica.update(shop, "typed_balance", encode((), ()))) == 50


def test_trap_after_await_keeps_the_state_before_it(
    world: tuple[Replica, Principal, Principal],
) -> None:
    replica, bank, shop = world
    with pytest.raises(CanisterError) as info:
        replica.update(shop, "crash_after_await", encode((NAT,), (5,)))
    assert info.value.error_code == ErrorCode.CANISTER_CALLED_TRAP
    assert "crash after the await" in str(info.value)
    assert "shop_canister.py" in str(info.value)
    state = replica.query(shop, "state", encode((), ()))
    assert b"before" in state and b"after" not in state
    assert _nat(replica.query(bank, "balance", encode((PRINCIPAL,), (shop,)))) == 95


def test_callee_trap_is_a_call_rejected(world: tuple[Replica, Principal, Principal]) -> None:
    replica, _, shop = world
    with pytest.raises(CanisterError) as info:
        replica.update(shop, "bank_explodes", encode((), ()))
    text = str(info.value)
    assert "CallRejected" in text and "the bank exploded" in text


def test_caller_and_cycles_across_the_await(world: tuple[Replica, Principal, Principal]) -> None:
    replica, _, shop = world
    methods = load_canister("tests.sdk.shop_canister").methods
    (pair,) = decode(
        replica.update(shop, "who_am_i_to_the_bank", encode((), ()), sender=CONTROLLER),
        methods["who_am_i_to_the_bank"].result_types,
    )
    assert pair == (shop, CONTROLLER)
    (cycles,) = decode(
        replica.update(shop, "pay_cycles", encode((NAT,), (1000,))),
        methods["pay_cycles"].result_types,
    )
    assert cycles == (500, 500)


def test_async_timer_calls_the_bank(
    world: tuple[Replica, Principal, Principal], clock: list[int]
) -> None:
    replica, bank, shop = world
    replica.update(shop, "schedule_refund", encode((NAT,), (1,)))
    clock[0] += 2 * NANOS
    for _ in range(4):
        replica.subnet.execute_round()
    assert _nat(replica.query(bank, "balance", encode((PRINCIPAL,), (shop,)))) == 99
    assert b"timer withdrew 1, 99 left" in replica.query(shop, "state", encode((), ()))


def test_composite_query_awaits_queries(world: tuple[Replica, Principal, Principal]) -> None:
    replica, _, shop = world
    assert _nat(replica.query(shop, "bank_balance", encode((), ()))) == 100
    assert _nat(replica.query(shop, "bank_balance_twice", encode((), ()))) == 200
    result = replica.subnet.query(CONTROLLER.raw, shop.raw, "bank_balance", encode((), ()))
    assert result.reply is not None and result.instructions > 0


def test_composite_query_rules(world: tuple[Replica, Principal, Principal]) -> None:
    replica, _, shop = world
    result = replica.subnet.query(CONTROLLER.raw, shop.raw, "call_update_from_query",
                                  encode((), ()))
    assert result.reject is not None  # the bank's withdraw is no query method
    assert "CallRejected" in result.reject.message and "no query method" in result.reject.message
    loop = replica.subnet.query(CONTROLLER.raw, shop.raw, "ask_myself", encode((), ()))
    assert loop.reject is not None and "Loop detected" in loop.reject.message
    with pytest.raises(CanisterError) as info:
        replica.update(shop, "bank_balance", encode((), ()))
    assert info.value.error_code == ErrorCode.COMPOSITE_QUERY_CALLED_IN_REPLICATED_MODE
