"""The embedded replica: one subnet in this process, driven from Python.

`Replica` is the Python API the management commands, the HTTP interface and the tests
use: it opens (or creates) the state under a directory, builds the subnet and offers
blocking helpers that submit a call and run rounds until it is answered. Calls are
identified by real IC request ids (the representation-independent hash of the call's
content), so an update submitted here and one arriving over HTTP are the same thing.

The subnet is not thread-safe. A replica driven by a `ReplicaService` (``service.py``)
is serialized by it (`Replica.serialize_with`): its calls (submit, wait, update, query,
the management helpers, the certified state) then run as the service's work, inline or
on its thread, so code holding the replica may call it from any thread while the
service runs rounds. A replica without a service belongs to the thread that uses it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

import cbor2

from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal
from icframework.identity import Ed25519Identity
from icframework.protocol import BlsKeyPair, CertificateDelegation
from icframework.protocol.request_id import request_id as compute_request_id
from icframework.replica.certification import CertifiedState, StateCertifier, SubnetIdentity
from icframework.replica.errors import CanisterError, ReplicaError
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.runtime import shared_runtime
from icframework.replica.execution.wasm_module import CanisterModule
from icframework.replica.management import (
    CANISTER_ID,
    CANISTER_SETTINGS,
    CANISTER_STATUS_RESULT,
    CREATE_RESULT,
    INSTALL_CODE_ARGS,
    PROVISIONAL_CREATE_ARGS,
    TOP_UP_ARGS,
    UPDATE_SETTINGS_ARGS,
    ManagementCanister,
)
from icframework.replica.queries import QueryResult
from icframework.replica.state import CanisterState, IngressState, IngressStatus
from icframework.replica.store import (
    MemoryStateStore,
    RoundChanges,
    SQLiteStateStore,
    StateStore,
)
from icframework.replica.subnet import EventListener, Subnet, SubnetConfig

ANONYMOUS = Principal.anonymous()
INGRESS_TTL_NS = 4 * 60 * 1_000_000_000
EMPTY_ARGS = b"DIDL\x00\x00"

T = TypeVar("T")
P = ParamSpec("P")


class Serializer(Protocol):
    """Runs ``work(replica)`` alone on the replica and returns its result
    (`ReplicaService.run`); runs it at once when called from work it runs."""

    def __call__(self, work: Callable[[Replica], T], /) -> T: ...


def _serialized(
    method: Callable[Concatenate[Replica, P], T],
) -> Callable[Concatenate[Replica, P], T]:
    """Run ``method`` through the replica's serializer when one is set."""

    @functools.wraps(method)
    def serialized(self: Replica, /, *args: P.args, **kwargs: P.kwargs) -> T:
        serializer = self.serializer
        if serializer is None:
            return method(self, *args, **kwargs)
        return serializer(lambda _replica: method(self, *args, **kwargs))

    return serialized


class Replica:
    """One subnet with its state store and wasm engine (see the module docstring)."""

    def __init__(self, subnet: Subnet, store: StateStore, key: BlsKeyPair,
                 node: Ed25519Identity, identity: SubnetIdentity | None = None) -> None:
        self.subnet = subnet
        self.store = store
        self.key = key
        self.node_key = node
        config = subnet.config
        self.identity = identity or SubnetIdentity.root(
            key, first_canister_index=config.first_canister_index,
            last_canister_index=config.last_canister_index)
        if identity is not None and (identity.key.public_key_der != key.public_key_der
                                     or identity.subnet_id.raw != config.subnet_id
                                     or identity.root_key_der != config.root_key):
            raise ReplicaError(
                f"the identity of subnet {identity.subnet_id} does not match the subnet's key "
                "or config (subnet_id, root_key); build the config from the identity"
            )
        self.certifier = StateCertifier(key, node, self.identity.delegation)
        self.serializer: Serializer | None = None

    def serialize_with(self, serializer: Serializer | None) -> None:
        """Run this replica's calls through ``serializer`` from now on (None: directly)."""
        self.serializer = serializer

    @classmethod
    def open(
        cls,
        state_dir: Path | None = None,
        *,
        config: SubnetConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        identity: SubnetIdentity | None = None,
        store: StateStore | None = None,
    ) -> Replica:
        """Open the replica whose state lives in ``state_dir`` (in memory if None).

        ``store``: run on this state store instead (a scale-out writer's
        `PostgresStateStore`); ``state_dir`` then only holds the compiled-module cache.

        ``identity`` runs it as that subnet (key, root key, canister range, delegation;
        see `SubnetIdentity`) and is stored with the state, so a later open without one
        is the same subnet. Without either, it is the root subnet with a key of its own.
        The subnet id, root key and canister range of ``config`` come from the identity.
        """
        if store is not None:
            engine = ExecutionEngine(
                cache_dir=None if state_dir is None else state_dir / "wasm-cache")
        elif state_dir is None:
            store = MemoryStateStore()
            engine = ExecutionEngine()
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            store = SQLiteStateStore(state_dir / "state.sqlite3")
            engine = ExecutionEngine(cache_dir=state_dir / "wasm-cache")
        identity = subnet_identity(store, identity, config or SubnetConfig())
        config = dataclasses.replace(
            config or SubnetConfig(),
            root_key=identity.root_key_der,
            subnet_id=identity.subnet_id.raw,
            first_canister_index=identity.first_canister_index,
            last_canister_index=identity.last_canister_index,
        )
        subnet = Subnet(store, engine, config, clock, management=ManagementCanister)
        return cls(subnet, store, identity.key, node_key(store), identity)

    @_serialized
    def set_delegation(self, delegation: CertificateDelegation) -> None:
        """Use (and store) a refreshed delegation for this subnet's key, from now on.

        Refresh once `SubnetIdentity.needs_refresh` (a day old; agents accept 30 days).
        Raises `ReplicaError` if it does not fit this subnet (see `SubnetIdentity`).
        """
        identity = self.identity.with_delegation(delegation)
        _store_identity(self.store, identity)
        self.identity = identity
        self.certifier.set_delegation(delegation)

    def close(self) -> None:
        self.store.close()

    @_serialized
    def reload(self) -> None:
        """Drop the in-memory subnet and load the last committed round again."""
        old = self.subnet
        self.subnet = Subnet(
            self.store, old.engine, old.config, old.clock, old.ingress.queue,
            management=old.management_factory, python_runtime=old.python_runtime,
            event_listeners=old.event_listeners, metrics=old.metrics, routing=old.routing,
        )

    @_serialized
    def apply_changes(self, changes: RoundChanges) -> None:
        """Catch up with ``changes``, rounds another process committed to this replica's
        store (its subnet's writer; already applied to the store), without loading the
        whole subnet again: only the canisters, request statuses and subnet-level state
        the changes name are read (`Subnet.refresh`), and the next certified state
        rehashes only those.

        A read-only copy calls it after each sync; a copy that had to start again from a
        full state (`PostgresStateStore.changes_since` said ``full``) opens a new replica
        instead. Raises `ReplicaError` if a canister cannot be restored; the subnet is
        then partly refreshed: `reload` it.
        """
        self.subnet.refresh(changes)

    def __enter__(self) -> Replica:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- calls -------------------------------------------------------------------------------

    @_serialized
    def submit(
        self,
        canister_id: Principal,
        method: str,
        arg: bytes = EMPTY_ARGS,
        *,
        sender: Principal = ANONYMOUS,
        nonce: bytes | None = None,
        effective_canister_id: Principal | None = None,
    ) -> bytes:
        """Check and queue an update call; return its request id.

        Raises `CanisterError` if the call is refused before execution.
        """
        subnet = self.subnet
        expiry = subnet.clock() + INGRESS_TTL_NS
        content: dict[str, Any] = {
            "request_type": "call",
            "canister_id": canister_id.raw,
            "method_name": method,
            "arg": arg,
            "sender": sender.raw,
            "ingress_expiry": expiry,
            "nonce": nonce if nonce is not None else os.urandom(16),
        }
        request_id = compute_request_id(content)
        subnet.check_ingress(sender.raw, canister_id.raw, method, arg)
        ecid = effective_canister_id.raw if effective_canister_id is not None else None
        subnet.submit_ingress(request_id, sender.raw, canister_id.raw, method, arg, expiry,
                              effective_canister_id=ecid)
        return request_id

    @_serialized
    def wait(self, request_id: bytes, max_rounds: int = 1000) -> IngressStatus:
        """Run rounds until ``request_id`` is replied or rejected; return its status."""
        for _ in range(max_rounds):
            status = self.subnet.ingress_status(request_id)
            if status is None:
                raise ReplicaError(f"unknown request id {request_id.hex()}")
            if status.state.terminal:
                return status
            if self.subnet.between_messages is not None:
                # Work let in between this round's messages (a service serving its
                # queue) reads the certified state of the last committed round.
                self.certified_state()
            self.subnet.execute_round()
        raise ReplicaError(f"request {request_id.hex()} not answered after {max_rounds} rounds")

    @_serialized
    def update(
        self,
        canister_id: Principal,
        method: str,
        arg: bytes = EMPTY_ARGS,
        *,
        sender: Principal = ANONYMOUS,
        effective_canister_id: Principal | None = None,
    ) -> bytes:
        """Make an update call and return the reply bytes; a reject raises `CanisterError`."""
        status = self.wait(self.submit(canister_id, method, arg, sender=sender,
                                       effective_canister_id=effective_canister_id))
        if status.state is IngressState.REPLIED:
            assert status.reply is not None
            return status.reply
        if status.reject is None:
            raise ReplicaError(
                f"request {status.state.value}: its answer was pruned from the ingress history; "
                "wait for it without running the clock past the retention window"
            )
        raise CanisterError(
            status.reject.error_code or ErrorCode.CANISTER_REJECTED_MESSAGE, status.reject.message
        )

    def query(
        self,
        canister_id: Principal,
        method: str,
        arg: bytes = EMPTY_ARGS,
        *,
        sender: Principal = ANONYMOUS,
    ) -> bytes:
        """Make a query call and return the reply bytes; a reject raises `CanisterError`."""
        result = self.run_query(canister_id, method, arg, sender=sender)
        if result.reply is not None:
            return result.reply
        assert result.reject is not None
        raise CanisterError(
            result.reject.error_code or ErrorCode.CANISTER_REJECTED_MESSAGE, result.reject.message
        )

    @_serialized
    def certified_state(self) -> CertifiedState:
        """The signed state tree of the last committed round.

        Between two messages of a round (a caller the replica service let in) that is
        the tree built before the round started; raises `ReplicaError` if none was.
        """
        return self.certifier.certified_state(self.subnet)

    @_serialized
    def run_query(
        self, canister_id: Principal, method: str, arg: bytes, *, sender: Principal = ANONYMOUS,
        instruction_limit: int | None = None,
    ) -> QueryResult:
        """Run a query call as the IC does: with a data certificate of the committed state.

        The certificate (``/canister/<id>/certified_data`` and ``/time``) is there once a
        round has committed and the canister exists, so ``ic0.data_certificate_*`` work.
        ``instruction_limit``: a budget below the query limit (see `Subnet.query`).
        """
        subnet = self.subnet
        certificate = None
        if subnet.committed_height > 0 and canister_id.raw in subnet.canister_state.states:
            certificate = self.certified_state().data_certificate(canister_id.raw)
        return subnet.query(sender.raw, canister_id.raw, method, arg,
                            data_certificate=certificate, instruction_limit=instruction_limit)

    # -- what the subnet holds, read-only (pages, dashboard, commands) ---------------------------

    @property
    def height(self) -> int:
        """The last committed round's height (0 before the first round)."""
        return self.subnet.height

    @property
    def time_ns(self) -> int:
        """The subnet's time: that of the last round, in nanoseconds since the epoch."""
        return self.subnet.time_ns

    @property
    def subnet_id(self) -> Principal:
        return Principal(self.subnet.config.subnet_id)

    def canister_records(self) -> Mapping[bytes, CanisterState]:
        """Every canister's record, by raw id (a read-only view of the live records)."""
        return MappingProxyType(self.subnet.canister_state.states)

    def canister_record(self, canister_id: Principal) -> CanisterState | None:
        """The canister's record, or None if the subnet has no such canister."""
        return self.subnet.canister_state.states.get(canister_id.raw)

    def canister_module(self, canister_id: Principal) -> CanisterModule | None:
        """The module the canister runs, or None (no such canister, or no code)."""
        sandbox = self.subnet.canister_state.sandboxes.get(canister_id.raw)
        return sandbox.module if sandbox is not None else None

    @_serialized
    def memory_usage(self, canister_id: Principal) -> int:
        """Bytes the canister is charged for: memories, module and key-value data."""
        return self.subnet.canister_state.memory_usage(canister_id.raw)

    @_serialized
    def key_value_bytes(self, canister_id: Principal) -> int | None:
        """Bytes of a Python canister's key-value data; None for a wasm canister."""
        sandbox = self.subnet.canister_state.sandboxes.get(canister_id.raw)
        kv = sandbox.kv if sandbox is not None else None
        return None if kv is None else int(kv.size_bytes)

    def metrics(self) -> dict[str, Any]:
        """What the subnet did lately (`SubnetMetrics.snapshot`): totals, per-canister
        counters, recent calls and traps."""
        return self.subnet.metrics.snapshot()

    def add_event_listener(self, listener: EventListener) -> None:
        """Hand ``listener`` each round's committed canister events (docs/events.md)."""
        self.subnet.event_listeners.append(listener)

    def warm_python_runtime(self) -> None:
        """Load the shared Python runtime now rather than at the first Python install."""
        shared_runtime(self.subnet.engine.engine)

    # -- management shortcuts ------------------------------------------------------------------

    def _management(self, method: str, arg: bytes, sender: Principal,
                    effective: Principal | None = None) -> bytes:
        return self.update(Principal.management_canister(), method, arg, sender=sender,
                           effective_canister_id=effective)

    def create_canister(
        self,
        *,
        sender: Principal = ANONYMOUS,
        cycles: int | None = None,
        controllers: list[Principal] | None = None,
        specified_id: Principal | None = None,
    ) -> Principal:
        """Create an empty canister with ``cycles`` (default: the provisional amount)."""
        settings = None
        if controllers is not None:
            settings = {"controllers": controllers}
        arg = encode([PROVISIONAL_CREATE_ARGS], [{
            "amount": cycles, "settings": settings, "specified_id": specified_id,
            "sender_canister_version": None,
        }])
        reply = self._management("provisional_create_canister_with_cycles", arg, sender)
        (result,) = decode(reply, [CREATE_RESULT])
        canister: Principal = result["canister_id"]
        return canister

    def install_code(
        self,
        canister_id: Principal,
        wasm: bytes,
        arg: bytes = EMPTY_ARGS,
        *,
        mode: str = "install",
        sender: Principal = ANONYMOUS,
        keep_memory: bool | None = None,
        skip_pre_upgrade: bool | None = None,
    ) -> None:
        """Install, reinstall or upgrade code (``mode``); raises `CanisterError` on failure."""
        mode_value: dict[str, Any]
        if mode == "upgrade":
            persistence = None if keep_memory is None else (
                {"keep": None} if keep_memory else {"replace": None})
            mode_value = {"upgrade": {"skip_pre_upgrade": skip_pre_upgrade,
                                      "wasm_memory_persistence": persistence}}
        elif mode in ("install", "reinstall"):
            mode_value = {mode: None}
        else:
            raise ReplicaError(f"install mode {mode!r} is not install, reinstall or upgrade")
        payload = encode([INSTALL_CODE_ARGS], [{
            "mode": mode_value, "canister_id": canister_id, "wasm_module": wasm, "arg": arg,
            "sender_canister_version": None,
        }])
        self._management("install_code", payload, sender, canister_id)

    def _canister_call(self, method: str, canister_id: Principal, sender: Principal) -> bytes:
        arg = encode([CANISTER_ID], [{"canister_id": canister_id}])
        return self._management(method, arg, sender, canister_id)

    def canister_status(self, canister_id: Principal, *,
                        sender: Principal = ANONYMOUS) -> dict[str, Any]:
        (result,) = decode(self._canister_call("canister_status", canister_id, sender),
                           [CANISTER_STATUS_RESULT])
        status: dict[str, Any] = result
        return status

    def start_canister(self, canister_id: Principal, *, sender: Principal = ANONYMOUS) -> None:
        self._canister_call("start_canister", canister_id, sender)

    def stop_canister(self, canister_id: Principal, *, sender: Principal = ANONYMOUS) -> None:
        self._canister_call("stop_canister", canister_id, sender)

    def delete_canister(self, canister_id: Principal, *, sender: Principal = ANONYMOUS) -> None:
        self._canister_call("delete_canister", canister_id, sender)

    def uninstall_code(self, canister_id: Principal, *, sender: Principal = ANONYMOUS) -> None:
        self._canister_call("uninstall_code", canister_id, sender)

    def top_up(self, canister_id: Principal, amount: int, *,
               sender: Principal = ANONYMOUS) -> None:
        arg = encode([TOP_UP_ARGS], [{"canister_id": canister_id, "amount": amount}])
        self._management("provisional_top_up_canister", arg, sender, canister_id)

    def update_settings(self, canister_id: Principal, settings: dict[str, Any], *,
                        sender: Principal = ANONYMOUS) -> None:
        full = {name.label: None for name in CANISTER_SETTINGS.fields}
        full.update(settings)
        arg = encode([UPDATE_SETTINGS_ARGS], [{
            "canister_id": canister_id, "settings": full, "sender_canister_version": None}])
        self._management("update_settings", arg, sender, canister_id)


def subnet_key(store: StateStore) -> BlsKeyPair:
    """The subnet's BLS key pair, created and stored on first use.

    The subnet id is the self-authenticating principal of its public key, as agents
    expect of a replica without delegations.
    """
    secret = store.kv_get("meta", b"bls_secret")
    if secret is None:
        key = BlsKeyPair.generate()
        store.commit_round(RoundChanges(
            height=store.height(), time_ns=store.time_ns(),
            kv_puts={("meta", b"bls_secret"): key.secret.to_bytes(32, "big")},
        ))
        return key
    return BlsKeyPair.from_secret(secret)


_IDENTITY_KEY = ("meta", b"subnet_identity")


def subnet_identity(store: StateStore, identity: SubnetIdentity | None,
                    config: SubnetConfig) -> SubnetIdentity:
    """The identity the replica on ``store`` runs as: ``identity`` (then stored), else the
    stored one, else the root subnet with `subnet_key` and ``config``'s canister range.

    Raises `ReplicaError` if ``identity``'s key is not the key the state was made with.
    """
    stored_secret = store.kv_get("meta", b"bls_secret")
    if identity is not None:
        secret = identity.key.secret.to_bytes(32, "big")
        if stored_secret is not None and stored_secret != secret:
            raise ReplicaError(
                "this state belongs to a subnet with another key; open it without an "
                "identity, or give the identity a fresh state directory"
            )
        _store_identity(store, identity, {("meta", b"bls_secret"): secret})
        return identity
    key = subnet_key(store)
    record = store.kv_get(*_IDENTITY_KEY)
    if record is None:
        return SubnetIdentity.root(key, first_canister_index=config.first_canister_index,
                                   last_canister_index=config.last_canister_index)
    fields = cbor2.loads(record)
    delegation = fields.get("delegation")
    return SubnetIdentity(
        key, fields["root_key"], fields["first_canister_index"], fields["last_canister_index"],
        None if delegation is None else CertificateDelegation(
            Principal(delegation["subnet_id"]), delegation["certificate"]),
    )


def _store_identity(store: StateStore, identity: SubnetIdentity,
                    extra: Mapping[tuple[str, bytes], bytes] | None = None) -> None:
    """Store ``identity`` (all but its key, which `subnet_key` keeps) in ``store``."""
    delegation = identity.delegation
    record = cbor2.dumps({
        "root_key": identity.root_key_der,
        "first_canister_index": identity.first_canister_index,
        "last_canister_index": identity.last_canister_index,
        "delegation": None if delegation is None else {
            "subnet_id": delegation.subnet_id.raw, "certificate": delegation.certificate},
    })
    store.commit_round(RoundChanges(
        height=store.height(), time_ns=store.time_ns(),
        kv_puts={_IDENTITY_KEY: record, **(extra or {})},
    ))


def node_key(store: StateStore) -> Ed25519Identity:
    """The replica node's Ed25519 key, created and stored on first use.

    It signs query responses; the node id is the self-authenticating principal of its
    DER public key, listed under ``/subnet/<id>/node`` in the certified state.
    """
    seed = store.kv_get("meta", b"node_ed25519_seed")
    if seed is None:
        key = Ed25519Identity.generate()
        store.commit_round(RoundChanges(
            height=store.height(), time_ns=store.time_ns(),
            kv_puts={("meta", b"node_ed25519_seed"): key.seed},
        ))
        return key
    return Ed25519Identity.from_seed(bytes(seed))
