"""`ReplicaCanister`: an app built for a replica target, driven like a `LocalCanister`.

The app is built for ``component`` (the local replica's Python canister) or ``ic`` (the
standard IC module) and installed on a `ControlledReplica`. Arguments are encoded, and
replies decoded, with the app's own Candid types exactly as `LocalCanister` does (the
app's code is loaded in this interpreter for its types only; it runs in the replica), and
the replica's rejects become the same exceptions: a canister's reject `Reject`, a trap
`Trapped`. So a test written against `LocalCanister` runs unchanged on both targets, as
far as it uses what the two share (see `ReplicaCanister`).
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from icframework.core import ErrorCode, Principal
from icframework.replica import CanisterError
from icframework.sdk import Reject, SdkError, Trapped, load_canister
from icframework.sdk.dispatch import EMPTY_MESSAGE
from icframework.sdk.local import _decode_result, _encode_args
from icframework.sdk.methods import INIT, POST_UPGRADE
from icframework.testing._apps import app_module
from icframework.testing._builds import build_dir, replica_module, runtime_loader
from icframework.testing._replica import ControlledReplica, shared_replica

__all__ = ["REPLICA_TARGETS", "ReplicaBackend", "ReplicaCanister"]

REPLICA_TARGETS = ("component", "ic")

_TRAPS = frozenset({
    ErrorCode.CANISTER_TRAPPED,
    ErrorCode.CANISTER_CALLED_TRAP,
    ErrorCode.CANISTER_CONTRACT_VIOLATION,
    ErrorCode.CANISTER_DID_NOT_REPLY,
    ErrorCode.CANISTER_OUT_OF_MEMORY,
    ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED,
    ErrorCode.CANISTER_MEMORY_ACCESS_LIMIT_EXCEEDED,
    ErrorCode.CANISTER_WASM_MEMORY_LIMIT_EXCEEDED,
})
"""Error codes of a message that ended in a trap (raised as `Trapped`)."""


def as_canister_exception(error: CanisterError) -> Exception:
    """The exception `LocalCanister` raises for the same outcome: `Reject` for a
    canister's reject, `Trapped` for a trap; any other refusal (a stopped canister, a
    missing method) stays the replica's `CanisterError`."""
    if error.error_code is ErrorCode.CANISTER_REJECTED_MESSAGE:
        return Reject(error.message)
    if error.error_code in _TRAPS:
        return Trapped(error.message)
    return error


class ReplicaBackend:
    """What tests reach through ``canister.backend`` on both drivers: the clock
    (`now_ns`, `advance_time`) and the events the canister published."""

    def __init__(self, canister: ReplicaCanister) -> None:
        self._canister = canister
        self.events: list[tuple[str, bytes]] = []

    @property
    def now_ns(self) -> int:
        """The replica's time: that of its last round, which queries see (nanoseconds)."""
        return self._canister.replica.time_ns

    def advance_time(self, delta_ns: int) -> None:
        """Move the replica's clock (see `ReplicaCanister.advance_time`)."""
        self._canister.advance_time(delta_ns)


class ReplicaCanister:
    """The app in ``app_dir`` built for ``target`` (``component`` or ``ic``) in a fresh
    canister on ``replica`` (default: the process's `shared_replica`).

    The surface of `LocalCanister` that tests use, with the same values in and out and
    the same exceptions: `install`, `upgrade`, `query`, `update`, `advance_time`,
    `heartbeat`, `canister_id`, `canister` (the compiled methods), `events` and
    ``backend`` (`ReplicaBackend`). As with `LocalCanister`, a ``caller`` given to a call
    stays the caller of the following ones (anonymous at first); install and upgrade are
    sent by the canister's controller, the anonymous principal.

    What differs, as on the IC: every message runs in a round of its own, and each round
    moves the time by at least a nanosecond; ingress messages carry no cycles; a call the
    canister makes is answered in later rounds of the same `update`; the IC target has no
    events (`events` stays empty). Not offered: ``inspect`` (the embedded `Replica` has
    no check-only path for an ingress message) and `LocalCanister`'s hand-driven
    inter-canister calls (``connect``, ``start_update``).

    ``module``: the app's code already loaded in this interpreter (default:
    `app_module` of ``app_dir``), whose types encode and decode.
    """

    def __init__(
        self,
        app_dir: Path | str,
        target: str = "component",
        *,
        replica: ControlledReplica | None = None,
        module: types.ModuleType | None = None,
    ) -> None:
        if target not in REPLICA_TARGETS:
            raise ValueError(
                f"ReplicaCanister runs on {' or '.join(REPLICA_TARGETS)}, not {target!r}; "
                "use icframework.sdk.LocalCanister for plain CPython"
            )
        app_dir = Path(app_dir).resolve()
        if module is None:
            module = app_module(app_dir)
        self.target = target
        self.canister = load_canister(module)
        self.replica = replica or shared_replica(
            build_dir(app_dir) / "replica", runtime_loader(app_dir))
        self._module = replica_module(app_dir, target)
        self.backend = ReplicaBackend(self)
        self.events = self.backend.events
        self.caller = Principal.anonymous()
        self._id = self.replica.create_canister(self, self.events)

    @property
    def canister_id(self) -> Principal:
        return self._id

    # ---- lifecycle -------------------------------------------------------------------------
    def install(self, *args: Any) -> None:
        """Install the module with ``args`` for ``@init`` (Python values).

        Raises `Trapped` if ``@init`` traps (nothing is installed then).
        """
        self._install("install", _encode_args(self.canister.hooks.get(INIT), args))

    def upgrade(self, *args: Any) -> None:
        """Upgrade to the same module: ``@pre_upgrade``, then ``@post_upgrade`` with ``args``.

        Raises `Trapped` if either hook traps (the canister keeps its state then).
        """
        hook = self.canister.hooks.get(POST_UPGRADE)
        self._install("upgrade", _encode_args(hook, args) if hook else EMPTY_MESSAGE)

    def _install(self, mode: str, arg: bytes) -> None:
        try:
            self.replica.replica.install_code(
                self._id, self._module, arg, mode=mode, sender=self.replica.controller
            )
        except CanisterError as error:
            raise as_canister_exception(error) from None

    # ---- calls -----------------------------------------------------------------------------
    def query(self, method: str, *args: Any, caller: Principal | None = None) -> Any:
        """Call a query method; raises `Reject`/`Trapped`."""
        return self._call(method, args, caller, query=True)

    def update(
        self, method: str, *args: Any, caller: Principal | None = None, cycles: int = 0
    ) -> Any:
        """Call an update method in a round of its own; raises `Reject`/`Trapped`.

        ``cycles`` must be 0: a call from outside the replica (ingress) carries none.
        """
        if cycles:
            raise SdkError(
                f"update({method!r}, cycles={cycles}): calls from outside a replica carry "
                "no cycles; test cycle transfers with LocalCanister, or from another canister"
            )
        return self._call(method, args, caller, query=False)

    def _call(
        self, name: str, args: tuple[Any, ...], caller: Principal | None, *, query: bool
    ) -> Any:
        try:
            method = self.canister.methods[name]
        except KeyError:
            raise SdkError(f"{self.canister.module} has no method {name!r}") from None
        if caller is not None:
            self.caller = caller
        arg = _encode_args(method, args)
        replica = self.replica.replica
        run = replica.query if query else replica.update
        try:
            reply = run(self._id, name, arg, sender=self.caller)
        except CanisterError as error:
            raise as_canister_exception(error) from None
        return _decode_result(method, reply)

    # ---- time and system tasks -----------------------------------------------------------
    def advance_time(self, delta_ns: int) -> int:
        """Move the replica's clock ``delta_ns`` nanoseconds on and run a round there (then
        more while this canister's timer is still due); returns how many times its global
        timer ran."""
        return self.replica.advance_time(delta_ns, self._id)

    def heartbeat(self) -> None:
        """Run one round, in which the replica runs ``@heartbeat`` if the canister has one."""
        self.replica.run_round(self._id)
