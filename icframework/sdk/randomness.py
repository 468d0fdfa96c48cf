"""Randomness inside a canister: ``raw_rand`` seeding and the ``os.urandom`` guard.

What it owns: the canister's cryptographic byte source on the IC target (a hash DRBG
keyed by the management canister's ``raw_rand``), the guard that makes ``os.urandom``,
``secrets`` and ``uuid.uuid4`` use it (or fail clearly before it is seeded), the
reseeding of Python's ``random``, and `ready`/`seed` for app code on every target.

How it works on the IC target (`install` is called by
`icframework.sdk.ic0_backend.Ic0Backend`): ``canister_init`` and
``canister_post_upgrade`` cannot make calls on the IC, so the runtime arms the global
timer for "now" there; the next global-timer message (a round later) sends
``raw_rand`` (`request`), and its reply (`reseed`) keys the DRBG and reseeds ``random``.
Until then `urandom` raises `SdkError` (`NOT_SEEDED`) instead of returning predictable
bytes, and ``random`` keeps the seed the runtime gave it at install (the canister id
and the time: different per canister and per upgrade, but predictable, so not for
secrets); ``random.Random()`` made without a seed takes one from ``random`` until then,
from the DRBG after. A failed ``raw_rand`` (e.g. too few cycles) is logged and tried
again after `RETRY_NS` (the global timer is armed for it). After an upgrade the heap
starts from the module's image again, unseeded, and a new ``raw_rand`` is fetched, so
every value changes.

Why the global timer and not the first update that can ``await``: it needs no app
code, the canister is seeded a round after install whether anyone calls it or not, and
it takes no SDK timer (the app's timer ids and durable queue stay its own; the SDK's
``run_due_timers`` simply finds nothing due). A heartbeat sends the request too, if the
app has one. An update that cannot wait calls `seed` itself.

The DRBG: a 32-byte key; ``n`` bytes are SHA-512(key ‖ 0x00 ‖ block counter) blocks,
after which the key moves on to SHA-256(key ‖ 0x01) (backtracking resistance: bytes
already drawn cannot be recomputed from a later key); reseeding hashes the material
into the key. Each message first mixes its own context into the key (kind, replicated
or not, time, method, argument digest, caller where the IC has one): a query's state
changes are discarded, so without that a query would draw exactly the bytes the next
update will draw and reveal them; with it, a query's bytes tell nothing about an
update's. A query draws the same bytes each time it runs with the same context, until
an update moves the key on: make secrets in updates.

On the component target (and in plain CPython) nothing is installed: ``os.urandom`` is
the replica's per-message WASI random source (or the host's), `ready` is always True and
`seed` only reseeds ``random``.
"""

from __future__ import annotations

import hashlib
import os
import random
import secrets  # noqa: F401 - imported for the snapshot: apps may use it (no files at run time)
from collections.abc import Callable
from typing import Any

from icframework.candid import BLOB
from icframework.candid.binary import decode
from icframework.core import Principal
from icframework.sdk import backend as _backend
from icframework.sdk import ic as _ic
from icframework.sdk.calls import call_raw
from icframework.sdk.errors import SdkError

__all__ = [
    "NOT_SEEDED",
    "RETRY_NS",
    "Drbg",
    "install",
    "needs_seed",
    "ready",
    "request",
    "reseed",
    "reset",
    "retry_deadline",
    "seed",
    "uninstall",
    "urandom",
]

NOT_SEEDED = (
    "os.urandom (and secrets, uuid.uuid4, random.SystemRandom) is not seeded yet on this "
    "canister: on the Internet Computer target the runtime seeds it from the management "
    "canister's raw_rand in a global-timer message just after install and after every "
    "upgrade (a round or two later; the log says why if raw_rand failed). Check "
    "ic.randomness_ready() before drawing secrets, or `await randomness.seed()` "
    "(icframework.sdk.randomness) in an async update first; the `random` module works "
    "meanwhile but is predictable (docs/ic-target.md, Randomness)"
)

RETRY_NS = 60 * 1_000_000_000
"""Nanoseconds after a failed ``raw_rand`` before the runtime asks again."""

_MANAGEMENT = Principal.management_canister()
_BLOCK = hashlib.sha256  # the key's steps
_WIDE = hashlib.sha512  # output blocks: 64 bytes a call (a call costs ~14,000 instructions)
_FIRST = (0).to_bytes(4, "big")
_OUT = b"\x00"
_NEXT = b"\x01"
_RESEED = b"\x02"
_CONTEXT = b"\x03"


class Drbg:
    """A hash DRBG over SHA-256 and SHA-512 (see the module docstring); ``key`` is 32 bytes."""

    __slots__ = ("key",)

    def __init__(self, seed: bytes) -> None:
        self.key = _BLOCK(b"icframework randomness" + _RESEED + bytes(seed)).digest()

    def reseed(self, material: bytes) -> None:
        """Mix ``material`` into the key (the old key stays part of it)."""
        self.key = _BLOCK(self.key + _RESEED + bytes(material)).digest()

    def enter(self, context: bytes) -> None:
        """Mix a message's context into the key (see the module docstring)."""
        self.key = _BLOCK(self.key + _CONTEXT + bytes(context)).digest()

    def generate(self, n: int) -> bytes:
        """``n`` bytes; then the key moves on, so the same bytes never come again."""
        if n < 0:
            raise ValueError(f"cannot draw a negative number of bytes ({n})")
        key = self.key
        self.key = _BLOCK(key + _NEXT).digest()
        if n <= 64:  # the common draw (a token, a key, a uuid): one block
            return _WIDE(key + _OUT + _FIRST).digest()[:n]
        blocks = [_WIDE(key + _OUT + i.to_bytes(4, "big")).digest() for i in range(-(-n // 64))]
        return b"".join(blocks)[:n]


class _State:
    """The guard's state (one per interpreter): see `install`."""

    __slots__ = ("context", "drbg", "installed", "message", "pending", "restore",
                 "retry_after")

    def __init__(self) -> None:
        self.installed = False
        self.drbg: Drbg | None = None
        self.context: Callable[[], bytes] | None = None
        self.message: object = None  # the `ic.message.current` the key last entered
        self.pending = False  # a raw_rand call is in flight
        self.retry_after = 0  # ns: no new request before then (after a failure)
        self.restore: list[tuple[Any, str, Any]] = []


_state = _State()


def ready() -> bool:
    """Whether ``os.urandom``/``secrets`` give unpredictable bytes now.

    True on the component target and in plain CPython (the replica's or the host's
    source); on the IC target once ``raw_rand`` has seeded the canister (see the module
    docstring).
    """
    return not _state.installed or _state.drbg is not None


def urandom(n: int) -> bytes:
    """``n`` bytes of the canister's DRBG (what ``os.urandom`` is once `install` ran).

    Raises `SdkError` (`NOT_SEEDED`) before ``raw_rand`` has seeded it.
    """
    state = _state
    drbg = state.drbg
    if drbg is None:
        raise SdkError(NOT_SEEDED)
    current = _ic.message.current
    # Outside a dispatched message every draw enters the context again (there is no
    # message identity to remember).
    if (state.message is not current or current is _ic.NO_MESSAGE) and (
            state.context is not None):
        drbg.enter(state.context())
        state.message = current
    return drbg.generate(n)


def _seed_random(self: random.Random, a: Any = None, version: int = 2) -> None:
    """``random.Random.seed`` with a guard: no argument takes the seed from the DRBG once
    seeded, else from the module-level ``random`` (per canister, predictable), never
    from the interpreter's fixed WASI source."""
    if a is None:
        a = int.from_bytes(urandom(32) if _state.drbg is not None
                           else random.getrandbits(256).to_bytes(32, "big"), "big")
    _ORIGINAL_SEED(self, a, version)


_ORIGINAL_SEED = random.Random.seed


def install(context: Callable[[], bytes]) -> None:
    """Make ``os.urandom`` (and ``random``'s system source, which ``secrets`` and
    ``random.SystemRandom`` use) draw from the DRBG, unseeded until `reseed`.

    ``context()`` answers the current message's context bytes (`Drbg.enter`). For the IC
    target's runtime only: it replaces process-wide functions (`uninstall` undoes it).
    """
    state = _state
    if state.installed:
        raise SdkError("randomness.install ran twice; call randomness.uninstall() first")
    state.restore = [(os, "urandom", os.urandom),
                     (random, "_urandom", random._urandom),  # type: ignore[attr-defined]
                     (random.Random, "seed", random.Random.seed), (random, "seed", random.seed)]
    os.urandom = urandom
    random._urandom = urandom  # type: ignore[attr-defined]
    random.Random.seed = _seed_random  # type: ignore[method-assign]
    random.seed = random._inst.seed  # re-bound: the module function is a bound method
    state.installed = True
    state.context = context
    state.drbg = None
    state.message = None


def uninstall() -> None:
    """Undo `install` (tests); forgets the seed."""
    state = _state
    for owner, name, value in reversed(state.restore):
        setattr(owner, name, value)
    state.restore = []
    state.installed = False
    state.context = None
    reset()


def reseed(material: bytes) -> None:
    """Seed the DRBG (a first seed keys it, a later one is mixed in) and reseed
    ``random`` from it; with the guard not installed, only ``random`` (from
    ``material``)."""
    state = _state
    material = bytes(material)
    if not state.installed:
        random.seed(hashlib.sha256(b"random" + material).digest())
        return
    if state.drbg is None:
        state.drbg = Drbg(material)
    else:
        state.drbg.reseed(material)
    state.message = None
    random.seed(state.drbg.generate(32))
    state.retry_after = 0


def reset() -> None:
    """Forget the seed (install and upgrade: the heap is the module's image again)."""
    _state.drbg = None
    _state.message = None
    _state.pending = False
    _state.retry_after = 0


def needs_seed() -> bool:
    """Whether the runtime should ask for ``raw_rand`` now (guard installed, not seeded,
    no request in flight, past any retry delay)."""
    state = _state
    if not state.installed or state.drbg is not None or state.pending:
        return False
    return _backend.current_backend().time() >= state.retry_after


def retry_deadline() -> int:
    """When the runtime should try ``raw_rand`` again (ns), 0 if it need not."""
    state = _state
    if not state.installed or state.drbg is not None or state.pending:
        return 0
    return state.retry_after


async def _raw_rand() -> bytes:
    reply = await call_raw(_MANAGEMENT, "raw_rand")
    (value,) = decode(reply, [BLOB])
    if len(value) != 32:
        raise SdkError(f"raw_rand answered {len(value)} bytes, expected 32")
    return bytes(value)


async def seed() -> None:
    """Fetch 32 bytes from the management canister's ``raw_rand`` and reseed with them
    (`reseed`): ``await randomness.seed()`` in an ``async`` update. Raises `CallRejected`
    if ``raw_rand`` is rejected."""
    reseed(await _raw_rand())


async def request() -> None:
    """The runtime's seeding: `seed`, a failure logged and retried after `RETRY_NS`."""
    state = _state
    state.pending = True
    try:
        material = await _raw_rand()
    except Exception as exc:  # logged, and tried again (a trap would lose the retry)
        backend = _backend.current_backend()
        state.pending = False
        state.retry_after = deadline = backend.time() + RETRY_NS
        backend.debug_print(
            f"randomness: raw_rand failed ({exc}); os.urandom stays unseeded, next try in "
            f"{RETRY_NS // 1_000_000_000} s")
        # The global timer brings the retry (unless it is armed earlier: then the runtime
        # arms it again after that timer message, see `retry_deadline`).
        previous = backend.global_timer_set(deadline)
        if previous and previous < deadline:
            backend.global_timer_set(previous)
        return
    state.pending = False
    reseed(material)
