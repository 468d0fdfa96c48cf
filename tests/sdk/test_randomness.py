"""`icframework.sdk.randomness` in plain CPython: the DRBG, the ``os.urandom`` guard the IC
target installs (failing clearly before ``raw_rand``, then drawing per message) and the
runtime's ``raw_rand`` request with its retry. The replica runs are in
tests/compiler/test_ic_target_random.py."""

from __future__ import annotations

import os
import random
import secrets
import uuid
from collections.abc import Iterator

import pytest

from icframework.candid import BLOB
from icframework.candid.binary import encode
from icframework.core import Principal
from icframework.sdk import LocalBackend, SdkError, calls, ic, randomness
from icframework.sdk.backend import set_backend
from icframework.sdk.calls import REJECT_CALLBACK, REPLY_CALLBACK, Pending

SEED = bytes(range(32))


def test_the_drbg_is_deterministic_moves_on_and_mixes_what_it_is_given() -> None:
    first, again = randomness.Drbg(SEED), randomness.Drbg(SEED)
    drawn = first.generate(100)
    assert len(drawn) == 100 and drawn == again.generate(100)
    assert first.generate(100) != drawn  # the key moved on
    sizes = (0, 1, 32, 33, 64, 65, 200)
    assert [len(randomness.Drbg(SEED).generate(n)) for n in sizes] == list(sizes)
    assert randomness.Drbg(SEED).generate(33)[:32] == randomness.Drbg(SEED).generate(32)
    assert randomness.Drbg(SEED).generate(200)[:64] == randomness.Drbg(SEED).generate(64)
    assert randomness.Drbg(b"other").generate(32) != randomness.Drbg(SEED).generate(32)
    reseeded, entered = randomness.Drbg(SEED), randomness.Drbg(SEED)
    reseeded.reseed(b"more")
    entered.enter(b"more")
    assert len({reseeded.generate(32), entered.generate(32),
                randomness.Drbg(SEED).generate(32)}) == 3
    with pytest.raises(ValueError, match="negative number of bytes"):
        randomness.Drbg(SEED).generate(-1)


@pytest.fixture
def guard() -> Iterator[list[bytes]]:
    """The guard installed with a context the test sets (``context[0]``)."""
    context = [b"update"]
    originals = (os.urandom, random.seed)
    randomness.install(lambda: context[0])
    try:
        yield context
    finally:
        randomness.uninstall()
        assert (os.urandom, random.seed) == originals


def test_before_raw_rand_urandom_fails_clearly(guard: list[bytes]) -> None:
    assert not randomness.ready() and not ic.randomness_ready()
    for draw in (lambda: os.urandom(8), lambda: secrets.token_bytes(8), uuid.uuid4,
                 lambda: random.SystemRandom().random()):
        with pytest.raises(SdkError) as caught:
            draw()
        assert str(caught.value) == randomness.NOT_SEEDED
    assert "raw_rand" in randomness.NOT_SEEDED and "ic.randomness_ready()" in randomness.NOT_SEEDED
    # `random` works meanwhile; an unseeded Random() takes its seed from it (predictable)
    random.seed(7)
    made = random.Random().random()
    random.seed(7)
    assert random.Random().random() == made


def test_after_reseed_each_message_draws_its_own_bytes(guard: list[bytes]) -> None:
    randomness.reseed(SEED)
    assert randomness.ready()
    ic.message.current = ("draw", b"")
    first = os.urandom(16)
    assert len(first) == 16 and os.urandom(16) != first
    assert len(secrets.token_bytes(5)) == 5 and uuid.uuid4().version == 4
    ic.message.current = ic.NO_MESSAGE


def test_a_query_context_draws_apart_from_the_update_after_it(guard: list[bytes]) -> None:
    def draw(context: bytes) -> bytes:
        guard[0] = context
        ic.message.current = ("m", context)  # a fresh message
        return os.urandom(16)

    randomness.reseed(SEED)
    state = randomness._state.drbg
    assert state is not None
    key = state.key
    queried = draw(b"query")
    state.key = key  # a query's changes are discarded
    updated = draw(b"update")
    assert queried != updated
    ic.message.current = ic.NO_MESSAGE


def test_the_same_seed_and_context_give_the_same_bytes(guard: list[bytes]) -> None:
    randomness.reseed(SEED)
    ic.message.current = ("m", b"1")
    first = os.urandom(32)
    randomness.uninstall()
    randomness.install(lambda: guard[0])
    randomness.reseed(SEED)
    ic.message.current = ("m", b"1")
    assert os.urandom(32) == first
    randomness.uninstall()
    randomness.install(lambda: guard[0])
    randomness.reseed(b"another raw_rand")
    ic.message.current = ("m", b"1")
    assert os.urandom(32) != first
    ic.message.current = ic.NO_MESSAGE


def test_install_twice_is_refused(guard: list[bytes]) -> None:
    with pytest.raises(SdkError, match="ran twice"):
        randomness.install(lambda: b"")


def test_without_the_guard_reseed_only_reseeds_random() -> None:
    assert randomness.ready()
    randomness.reseed(SEED)
    first = random.random()
    randomness.reseed(SEED)
    assert random.random() == first
    assert len(os.urandom(4)) == 4


@pytest.fixture
def local(guard: list[bytes]) -> Iterator[LocalBackend]:
    backend = LocalBackend()
    previous = set_backend(backend)
    calls._ids[:] = [1 << 24]  # the IC backend sets the epoch at install (os.urandom is guarded)
    try:
        yield backend
    finally:
        set_backend(previous)


def _start_request(backend: LocalBackend) -> int:
    assert randomness.needs_seed()
    pending = calls.start(randomness.request(), lambda _: None, "raw_rand seeding")
    assert isinstance(pending, Pending)
    (sent,) = backend.outbox
    assert (sent.callee, sent.method) == (Principal.management_canister(), "raw_rand")
    backend.outbox.clear()
    assert not randomness.needs_seed() and randomness.retry_deadline() == 0  # in flight
    return pending.callback


def test_the_runtime_request_seeds_from_the_reply(local: LocalBackend) -> None:
    callback = _start_request(local)
    assert calls.resume(REPLY_CALLBACK, str(callback), encode([BLOB], [SEED])) is None
    assert randomness.ready() and not randomness.needs_seed()


def test_a_failed_request_is_logged_and_retried_later(local: LocalBackend) -> None:
    callback = _start_request(local)
    local.reject = (2, "out of cycles")
    calls.resume(REJECT_CALLBACK, str(callback), b"")
    assert not randomness.ready()
    assert "randomness: raw_rand failed" in local.logs[-1] and "out of cycles" in local.logs[-1]
    deadline = randomness.retry_deadline()
    assert deadline == local.time() + randomness.RETRY_NS
    assert local.global_timer == deadline  # the global timer brings the retry
    assert not randomness.needs_seed()
    local.set_time(deadline)
    _start_request(local)


def test_a_retry_keeps_an_earlier_timer(local: LocalBackend) -> None:
    callback = _start_request(local)
    earlier = local.time() + 5
    local.global_timer_set(earlier)
    local.reject = (2, "out of cycles")
    calls.resume(REJECT_CALLBACK, str(callback), b"")
    assert local.global_timer == earlier < randomness.retry_deadline()
