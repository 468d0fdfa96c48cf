"""Replicated state of a subnet: canister records, settings and the ingress history.

`CanisterState` is everything the subnet knows about one canister except its memories
(heap image and stable memory live in the `Sandbox` and `PageMap`). Each record
serialises to CBOR for the state store (`to_record`/`from_record`). `IngressStatus`
is one request's entry in the ingress history. Amounts are cycles; times nanoseconds;
sizes bytes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import cbor2

from icframework.replica.messages import Callback, CallContext, RejectInfo

DEFAULT_FREEZING_THRESHOLD = 2_592_000
DEFAULT_RESERVED_CYCLES_LIMIT = 5_000_000_000_000
MAX_CONTROLLERS = 10


class CanisterStatus(enum.Enum):
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"

    @property
    def code(self) -> int:
        """The value ``ic0.canister_status`` returns (1 running, 2 stopping, 3 stopped)."""
        return {"running": 1, "stopping": 2, "stopped": 3}[self.value]


@dataclass(slots=True)
class CanisterSettings:
    """The settings ``update_settings`` changes (the IC's ``definite_canister_settings``)."""

    controllers: list[bytes]
    compute_allocation: int = 0
    memory_allocation: int = 0
    freezing_threshold: int = DEFAULT_FREEZING_THRESHOLD
    reserved_cycles_limit: int = DEFAULT_RESERVED_CYCLES_LIMIT
    log_visibility: str = "controllers"
    wasm_memory_limit: int = 0
    wasm_memory_threshold: int = 0

    def to_data(self) -> dict[str, Any]:
        return {
            "controllers": list(self.controllers),
            "compute_allocation": self.compute_allocation,
            "memory_allocation": self.memory_allocation,
            "freezing_threshold": self.freezing_threshold,
            "reserved_cycles_limit": self.reserved_cycles_limit,
            "log_visibility": self.log_visibility,
            "wasm_memory_limit": self.wasm_memory_limit,
            "wasm_memory_threshold": self.wasm_memory_threshold,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CanisterSettings:
        return cls(
            controllers=[bytes(c) for c in data["controllers"]],
            compute_allocation=data["compute_allocation"],
            memory_allocation=data["memory_allocation"],
            freezing_threshold=data["freezing_threshold"],
            reserved_cycles_limit=data["reserved_cycles_limit"],
            log_visibility=data["log_visibility"],
            wasm_memory_limit=data["wasm_memory_limit"],
            wasm_memory_threshold=data["wasm_memory_threshold"],
        )


@dataclass(slots=True)
class CanisterChange:
    """One entry of the history ``canister_info`` reports."""

    timestamp_ns: int
    canister_version: int
    origin: bytes
    kind: str
    details: dict[str, Any]

    def to_data(self) -> list[Any]:
        return [self.timestamp_ns, self.canister_version, self.origin, self.kind, self.details]

    @classmethod
    def from_data(cls, data: Any) -> CanisterChange:
        ts, version, origin, kind, details = data
        return cls(int(ts), int(version), bytes(origin), kind, dict(details))


@dataclass(slots=True)
class CanisterState:
    """A canister's replicated metadata (memories live elsewhere)."""

    canister_id: bytes
    settings: CanisterSettings
    cycles: int
    status: CanisterStatus = CanisterStatus.RUNNING
    module_hash: bytes | None = None
    certified_data: bytes = b""
    global_timer_ns: int = 0
    version: int = 0
    heap_size: int = 0
    stable_size: int = 0
    globals: dict[int, Any] = field(default_factory=dict)
    call_contexts: dict[int, CallContext] = field(default_factory=dict)
    callbacks: dict[int, Callback] = field(default_factory=dict)
    next_id: int = 1
    stop_requests: list[Any] = field(default_factory=list)
    history: list[CanisterChange] = field(default_factory=list)
    total_changes: int = 0
    created_ns: int = 0
    last_install_ns: int = 0
    cycles_consumed: int = 0
    storage_charged_ns: int = 0
    chunk_hashes: list[bytes] = field(default_factory=list)
    """SHA-256 hashes of the chunks in the canister's chunk store, in upload order (the
    chunks themselves are in the state store: `replica.chunk_store`)."""

    def new_id(self) -> int:
        """A fresh id for a call context or callback (unique within this canister)."""
        value = self.next_id
        self.next_id += 1
        return value

    def record_change(self, change: CanisterChange, keep: int = 20) -> None:
        self.total_changes += 1
        self.history.append(change)
        del self.history[:-keep]

    def to_record(self) -> bytes:
        return cbor2.dumps(
            {
                "id": self.canister_id,
                "settings": self.settings.to_data(),
                "cycles": self.cycles,
                "status": self.status.value,
                "module_hash": self.module_hash,
                "certified_data": self.certified_data,
                "timer": self.global_timer_ns,
                "version": self.version,
                "heap_size": self.heap_size,
                "stable_size": self.stable_size,
                "globals": [[k, v] for k, v in sorted(self.globals.items())],
                "contexts": [c.to_data() for c in self.call_contexts.values()],
                "callbacks": [c.to_data() for c in self.callbacks.values()],
                "next_id": self.next_id,
                "stop_requests": self.stop_requests,
                "history": [c.to_data() for c in self.history],
                "total_changes": self.total_changes,
                "created": self.created_ns,
                "last_install": self.last_install_ns,
                "consumed": self.cycles_consumed,
                "storage_charged": self.storage_charged_ns,
                "chunks": self.chunk_hashes,
            }
        )

    @classmethod
    def from_record(cls, record: bytes) -> CanisterState:
        data = cbor2.loads(record)
        contexts = [CallContext.from_data(c) for c in data["contexts"]]
        callbacks = [Callback.from_data(c) for c in data["callbacks"]]
        return cls(
            canister_id=bytes(data["id"]),
            settings=CanisterSettings.from_data(data["settings"]),
            cycles=data["cycles"],
            status=CanisterStatus(data["status"]),
            module_hash=data["module_hash"],
            certified_data=data["certified_data"],
            global_timer_ns=data["timer"],
            version=data["version"],
            heap_size=data["heap_size"],
            stable_size=data["stable_size"],
            globals={int(k): v for k, v in data["globals"]},
            call_contexts={c.id: c for c in contexts},
            callbacks={c.id: c for c in callbacks},
            next_id=data["next_id"],
            stop_requests=list(data["stop_requests"]),
            history=[CanisterChange.from_data(c) for c in data["history"]],
            total_changes=data["total_changes"],
            created_ns=data["created"],
            last_install_ns=data["last_install"],
            cycles_consumed=data["consumed"],
            storage_charged_ns=data["storage_charged"],
            chunk_hashes=[bytes(h) for h in data.get("chunks", ())],
        )


class IngressState(enum.Enum):
    RECEIVED = "received"
    PROCESSING = "processing"
    REPLIED = "replied"
    REJECTED = "rejected"
    DONE = "done"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({IngressState.REPLIED, IngressState.REJECTED, IngressState.DONE})


@dataclass(slots=True)
class CertificationChanges:
    """The ids whose certified entries committed rounds changed, since the certifier last looked.

    ``requests``: request ids whose status changed or that were forgotten;
    ``canisters``: canisters whose record changed, or that were created or deleted.
    """

    requests: set[bytes] = field(default_factory=set)
    canisters: set[bytes] = field(default_factory=set)


@dataclass(slots=True)
class IngressStatus:
    """One request's entry in the ingress history (kept as `replica.ingress` describes)."""

    state: IngressState
    sender: bytes
    canister_id: bytes
    expiry_ns: int
    reply: bytes | None = None
    reject: RejectInfo | None = None
    updated_ns: int = 0

    def to_record(self) -> bytes:
        return cbor2.dumps(
            [self.state.value, self.sender, self.canister_id, self.expiry_ns, self.reply,
             self.reject.to_data() if self.reject else None, self.updated_ns]
        )

    @classmethod
    def from_record(cls, record: bytes) -> IngressStatus:
        state, sender, canister_id, expiry, reply, reject, updated = cbor2.loads(record)
        return cls(IngressState(state), sender, canister_id, expiry, reply,
                   RejectInfo.from_data(reject) if reject else None, updated)
