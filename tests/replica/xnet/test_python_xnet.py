"""Python SDK canisters awaiting each other across subnets: the shop on ``root``, its
bank on ``app1`` (the sources of tests/sdk, as tests/replica/test_python_async.py runs
them on one subnet)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from icframework.candid import NAT, PRINCIPAL, TEXT
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import ErrorCode, Principal
from icframework.replica.cluster import Cluster
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.sdk import load_canister
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.replica.test_python_async import CONTROLLER
from tests.replica.test_python_async import _install as install

__all__ = ["runtime"]

NANOS = 1_000_000_000


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


@pytest.fixture
def world() -> Iterator[tuple[Cluster, Principal, Principal]]:
    clock = 1_750_000_000 * NANOS
    with Cluster(("root", "app1"), clock=lambda: clock) as cluster:
        bank = install(cluster.replica("app1"), "bank_canister", encode((), ()))
        shop = install(cluster.replica("root"), "shop_canister", encode((PRINCIPAL,), (bank,)))
        cluster.replica_of(bank).update(bank, "deposit", encode((PRINCIPAL, NAT), (shop, 100)))
        yield cluster, bank, shop


def _text(reply: bytes) -> str:
    (value,) = decode(reply, (TEXT,))
    return str(value)


def test_await_reply_reject_and_trap_across_subnets(
    world: tuple[Cluster, Principal, Principal],
) -> None:
    cluster, bank, shop = world
    root: Replica = cluster.replica("root")
    assert cluster.replica_of(bank).subnet.config.subnet_name == "app1"
    assert _text(root.update(shop, "buy", encode((NAT,), (30,)))) == "paid 30, 70 left"
    assert _text(root.update(shop, "buy", encode((NAT,), (500,)))) == (
        "payment refused: insufficient funds: 70 < 500")
    (balance,) = decode(cluster.replica("app1").query(bank, "balance",
                                                      encode((PRINCIPAL,), (shop,))), (NAT,))
    assert balance == 70
    with pytest.raises(CanisterError) as info:
        root.update(shop, "bank_explodes", encode((), ()))
    assert "CallRejected" in str(info.value) and "the bank exploded" in str(info.value)
    with pytest.raises(CanisterError) as crash:
        root.update(shop, "crash_after_await", encode((NAT,), (5,)))
    assert crash.value.error_code == ErrorCode.CANISTER_CALLED_TRAP


def test_caller_and_cycles_across_subnets(world: tuple[Cluster, Principal, Principal]) -> None:
    cluster, _, shop = world
    methods = load_canister("tests.sdk.shop_canister").methods
    root = cluster.replica("root")
    (pair,) = decode(root.update(shop, "who_am_i_to_the_bank", encode((), ()),
                                 sender=CONTROLLER),
                     methods["who_am_i_to_the_bank"].result_types)
    assert pair == (shop, CONTROLLER)
    (cycles,) = decode(root.update(shop, "pay_cycles", encode((NAT,), (1000,))),
                       methods["pay_cycles"].result_types)
    assert cycles == (500, 500)
