"""raw_rand-seeded randomness on the IC target, on our replica (`icframework.sdk.randomness`).

After install and after every upgrade the runtime arms the global timer, sends
``raw_rand`` from that timer message and keys the canister's DRBG (``os.urandom``,
``secrets``, ``uuid.uuid4``) and ``random`` with the reply. Before that, ``os.urandom``
fails with `NOT_SEEDED` and ``random`` has its per-canister install seed. One app,
built once per module (shared cache ``<repo>/.build/ic``); three canisters of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from icframework.candid import BOOL, NAT, TEXT, CandidType
from icframework.candid.binary import decode, encode
from icframework.compiler.ic_target import IcBuild
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.sdk.randomness import NOT_SEEDED
from tests.compiler.ic_target_support import CONTROLLER, build_app, install, open_replica
from tests.node import requires_node

pytestmark = requires_node  # wasm-merge (binaryen) runs on node

APP = '''"""Draws from every random source, for the IC-target randomness tests."""

import os
import random
import secrets
import uuid

from icframework.sdk import StableCell, ic, init, nat, query, randomness, update

ticks = StableCell[nat]("ticks", default=0)


def _tick() -> None:
    ticks.set(ticks.get() + 1)


@init
def setup() -> None:
    ic.set_timer(0, _tick)  # a user timer set in init still runs


def _draws() -> str:
    return "|".join((os.urandom(16).hex(), secrets.token_hex(16),
                     str(random.getrandbits(64)), str(uuid.uuid4()),
                     str(random.Random().getrandbits(64))))


@update
def draw() -> str:
    return _draws()


@query
def peek() -> str:
    return _draws()


@query
def dice() -> nat:
    return random.getrandbits(64)


@query
def ready() -> bool:
    return ic.randomness_ready()


@query
def timer_ticks() -> nat:
    return ticks.get()


@update
async def seed_now() -> bool:
    await randomness.seed()
    return ic.randomness_ready()
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> IcBuild:
    return build_app(tmp_path_factory, APP, "randomapp")


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    yield from open_replica(tmp_path_factory)


def call(replica: Replica, canister: Principal, method: str, result: CandidType, *,
         query: bool = False) -> Any:
    run = replica.query if query else replica.update
    return decode(run(canister, method, encode([], []), sender=CONTROLLER), [result])[0]


@pytest.fixture(scope="module")
def pair(replica: Replica, built: IcBuild) -> tuple[Principal, Principal]:
    """Two canisters of the same module, seeded (the rounds after install ran)."""
    first, second = install(replica, built), install(replica, built)
    replica.subnet.run_until_idle()
    return first, second


def test_before_raw_rand_urandom_fails_clearly_and_random_works(
    replica: Replica, built: IcBuild
) -> None:
    canister = install(replica, built)  # no round has run since: raw_rand not sent yet
    assert call(replica, canister, "ready", BOOL, query=True) is False
    with pytest.raises(CanisterError) as caught:
        call(replica, canister, "peek", TEXT, query=True)
    assert NOT_SEEDED in caught.value.message
    assert call(replica, canister, "dice", NAT, query=True) >= 0  # `random`: install seed
    replica.subnet.run_until_idle()  # the global timer sends raw_rand; its reply seeds
    assert call(replica, canister, "ready", BOOL, query=True) is True
    assert call(replica, canister, "timer_ticks", NAT, query=True) == 1


def test_two_canisters_of_one_module_draw_different_values(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, second = pair
    a = call(replica, first, "draw", TEXT).split("|")
    b = call(replica, second, "draw", TEXT).split("|")
    assert len(a) == len(b) == 5
    for mine, theirs in zip(a, b, strict=True):  # urandom, secrets, random, uuid4, Random()
        assert mine != theirs
    assert call(replica, first, "draw", TEXT).split("|")[0] != a[0]  # the key moved on


def test_a_query_draws_apart_from_the_next_update(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    peeked = call(replica, first, "peek", TEXT, query=True)
    assert call(replica, first, "peek", TEXT, query=True) == peeked  # changes discarded
    drawn = call(replica, first, "draw", TEXT)
    # Without the message context mixed in, the update would draw what the query showed.
    assert drawn.split("|")[0] != peeked.split("|")[0]
    assert drawn.split("|")[1] != peeked.split("|")[1]


def test_an_upgrade_unseeds_then_reseeds_with_new_values(
    replica: Replica, built: IcBuild, pair: tuple[Principal, Principal]
) -> None:
    first, _ = pair
    before = call(replica, first, "peek", TEXT, query=True)
    dice_before = call(replica, first, "dice", NAT, query=True)
    replica.install_code(first, built.gzipped, mode="upgrade", sender=CONTROLLER)
    with pytest.raises(CanisterError) as caught:
        call(replica, first, "peek", TEXT, query=True)
    assert NOT_SEEDED in caught.value.message
    assert call(replica, first, "dice", NAT, query=True) != dice_before
    replica.subnet.run_until_idle()
    after = call(replica, first, "peek", TEXT, query=True)
    for old, new in zip(before.split("|"), after.split("|"), strict=True):
        assert old != new
    assert call(replica, first, "timer_ticks", NAT, query=True) == 1  # init's timer ran once


def test_an_update_can_await_raw_rand_itself(
    replica: Replica, pair: tuple[Principal, Principal]
) -> None:
    _, second = pair
    before = call(replica, second, "peek", TEXT, query=True)
    assert call(replica, second, "seed_now", BOOL) is True
    assert call(replica, second, "peek", TEXT, query=True) != before

