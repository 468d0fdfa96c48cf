"""The management canister ``aaaaa-aa``: canister lifecycle, settings, cycles, randomness.

Requests arrive as Candid, exactly as on the IC (the types below follow the IC's
``ic.did``), from ingress or from canisters. Each method checks its caller (only
controllers manage a canister; ``provisional_*`` are open, as on a local replica),
performs the change on the subnet's canisters (through the narrow `SubnetServices`,
not the whole `Subnet`), and answers through ``subnet.respond``;
``stop_canister`` answers later, once the canister has no open call contexts.
Installing code is atomic: if ``canister_init``, ``canister_pre_upgrade`` or
``canister_post_upgrade`` trap, the canister is left exactly as it was.

Open methods are checked as the IC checks them, since anyone may call them: a
``specified_id`` must be a canister id inside the subnet's range (never a user's,
the anonymous or the management canister's principal, which would let its creator
act as that principal), and no balance ever exceeds `MAX_CYCLES` (a u128 on the IC).
Every setting is bounded as on the IC (`SETTING_BOUNDS`, `MAX_CONTROLLERS`,
`MAX_LOG_VIEWERS`), so no caller can store a number the state cannot hold or the fee
arithmetic should not meet. A refused creation or ``update_settings`` leaves the
subnet exactly as it was.
"""

from __future__ import annotations

from typing import Any, Protocol

from icframework.candid import (
    BLOB,
    BOOL,
    NAT,
    NAT64,
    NULL,
    PRINCIPAL,
    TEXT,
    CandidError,
    CandidType,
    Field,
    Opt,
    Record,
    Variant,
    Vec,
)
from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal, PrincipalError, RejectCode
from icframework.core.ic0 import Context
from icframework.replica.canisters import Canisters, canister_text
from icframework.replica.chunk_store import CHUNK_SIZE, ChunkStoreMethods
from icframework.replica.errors import CanisterError, decode_management_arg
from icframework.replica.execution.page_map import PageMap
from icframework.replica.execution.sandbox import CanisterSandbox
from icframework.replica.messages import CallOrigin, OriginKind, RejectInfo, Request
from icframework.replica.queries import QueryResult
from icframework.replica.state import (
    MAX_CONTROLLERS,
    CanisterChange,
    CanisterSettings,
    CanisterState,
    CanisterStatus,
)
from icframework.replica.subnet import SubnetConfig
from icframework.replica.vetkd import vetkd_derive_key, vetkd_public_key
from icframework.replica.xnet import Routing

CANISTER_ID = Record([Field("canister_id", PRINCIPAL)])
LOG_VISIBILITY = Variant(
    [Field("controllers", NULL), Field("public", NULL), Field("allowed_viewers", Vec(PRINCIPAL))]
)
CANISTER_SETTINGS = Record(
    [
        Field("controllers", Opt(Vec(PRINCIPAL))),
        Field("compute_allocation", Opt(NAT)),
        Field("memory_allocation", Opt(NAT)),
        Field("freezing_threshold", Opt(NAT)),
        Field("reserved_cycles_limit", Opt(NAT)),
        Field("log_visibility", Opt(LOG_VISIBILITY)),
        Field("wasm_memory_limit", Opt(NAT)),
        Field("wasm_memory_threshold", Opt(NAT)),
    ]
)
DEFINITE_SETTINGS = Record(
    [
        Field("controllers", Vec(PRINCIPAL)),
        Field("compute_allocation", NAT),
        Field("memory_allocation", NAT),
        Field("freezing_threshold", NAT),
        Field("reserved_cycles_limit", NAT),
        Field("log_visibility", LOG_VISIBILITY),
        Field("wasm_memory_limit", NAT),
        Field("wasm_memory_threshold", NAT),
    ]
)
CREATE_CANISTER_ARGS = Record(
    [Field("settings", Opt(CANISTER_SETTINGS)), Field("sender_canister_version", Opt(NAT64))]
)
PROVISIONAL_CREATE_ARGS = Record(
    [
        Field("amount", Opt(NAT)),
        Field("settings", Opt(CANISTER_SETTINGS)),
        Field("specified_id", Opt(PRINCIPAL)),
        Field("sender_canister_version", Opt(NAT64)),
    ]
)
CREATE_RESULT = Record([Field("canister_id", PRINCIPAL)])
INSTALL_MODE = Variant(
    [
        Field("install", NULL),
        Field("reinstall", NULL),
        Field(
            "upgrade",
            Opt(
                Record(
                    [
                        Field("skip_pre_upgrade", Opt(BOOL)),
                        Field(
                            "wasm_memory_persistence",
                            Opt(Variant([Field("keep", NULL), Field("replace", NULL)])),
                        ),
                    ]
                )
            ),
        ),
    ]
)
INSTALL_CODE_ARGS = Record(
    [
        Field("mode", INSTALL_MODE),
        Field("canister_id", PRINCIPAL),
        Field("wasm_module", BLOB),
        Field("arg", BLOB),
        Field("sender_canister_version", Opt(NAT64)),
    ]
)
UPDATE_SETTINGS_ARGS = Record(
    [
        Field("canister_id", PRINCIPAL),
        Field("settings", CANISTER_SETTINGS),
        Field("sender_canister_version", Opt(NAT64)),
    ]
)
TOP_UP_ARGS = Record([Field("canister_id", PRINCIPAL), Field("amount", NAT)])
CANISTER_INFO_ARGS = Record(
    [Field("canister_id", PRINCIPAL), Field("num_requested_changes", Opt(NAT64))]
)
STATUS = Variant([Field("running", NULL), Field("stopping", NULL), Field("stopped", NULL)])
MEMORY_METRICS = Record(
    [
        Field(name, NAT)
        for name in (
            "wasm_memory_size", "stable_memory_size", "global_memory_size", "wasm_binary_size",
            "custom_sections_size", "canister_history_size", "wasm_chunk_store_size",
            "snapshots_size",
        )
    ]
)
QUERY_STATS = Record(
    [
        Field(name, NAT)
        for name in (
            "num_calls_total", "num_instructions_total", "request_payload_bytes_total",
            "response_payload_bytes_total",
        )
    ]
)
CANISTER_STATUS_RESULT = Record(
    [
        Field("status", STATUS),
        Field("ready_for_migration", BOOL),
        Field("version", NAT64),
        Field("settings", DEFINITE_SETTINGS),
        Field("module_hash", Opt(BLOB)),
        Field("memory_size", NAT),
        Field("memory_metrics", MEMORY_METRICS),
        Field("cycles", NAT),
        Field("reserved_cycles", NAT),
        Field("idle_cycles_burned_per_day", NAT),
        Field("query_stats", QUERY_STATS),
    ]
)
CHANGE_ORIGIN = Variant(
    [
        Field("from_user", Record([Field("user_id", PRINCIPAL)])),
        Field(
            "from_canister",
            Record([Field("canister_id", PRINCIPAL), Field("canister_version", Opt(NAT64))]),
        ),
    ]
)
CHANGE_DETAILS = Variant(
    [
        Field("creation", Record([Field("controllers", Vec(PRINCIPAL))])),
        Field("code_uninstall", NULL),
        Field(
            "code_deployment",
            Record(
                [
                    Field("mode", Variant([Field("install", NULL), Field("reinstall", NULL),
                                           Field("upgrade", NULL)])),
                    Field("module_hash", BLOB),
                ]
            ),
        ),
        Field("controllers_change", Record([Field("controllers", Vec(PRINCIPAL))])),
    ]
)
CHANGE = Record(
    [
        Field("timestamp_nanos", NAT64),
        Field("canister_version", NAT64),
        Field("origin", CHANGE_ORIGIN),
        Field("details", CHANGE_DETAILS),
    ]
)
CANISTER_INFO_RESULT = Record(
    [
        Field("total_num_changes", NAT64),
        Field("recent_changes", Vec(CHANGE)),
        Field("module_hash", Opt(BLOB)),
        Field("controllers", Vec(PRINCIPAL)),
    ]
)
SUBNET_INFO_RESULT = Record([Field("replica_version", TEXT), Field("registry_version", NAT64)])

EMPTY_REPLY = encode([], [])

#: The largest cycles balance a canister can hold (the IC keeps balances as a u128).
MAX_CYCLES = 2**128 - 1

#: Each numeric setting's largest value, that value as the refusal shows it, and its unit;
#: the smallest is 0 (a Candid ``nat``). The bounds are the IC interface specification's:
#: a percentage, 2**48 bytes (256 TiB) for memory, a u64 of seconds, a u128 of cycles.
SETTING_BOUNDS: dict[str, tuple[int, str, str]] = {
    "compute_allocation": (100, "100", "percent"),
    "memory_allocation": (2**48, "2^48", "bytes"),
    "freezing_threshold": (2**64 - 1, "2^64-1", "seconds"),
    "reserved_cycles_limit": (MAX_CYCLES, "2^128-1", "cycles"),
    "wasm_memory_limit": (2**48, "2^48", "bytes"),
    "wasm_memory_threshold": (2**64 - 1, "2^64-1", "bytes"),
}

#: The most principals ``log_visibility = allowed_viewers`` may list (as on the IC).
MAX_LOG_VIEWERS = 10

# Methods a user may call by ingress (the rest are for canisters only).
INGRESS_METHODS = frozenset(
    {
        "install_code", "uninstall_code", "update_settings", "canister_status", "start_canister",
        "stop_canister", "delete_canister", "provisional_create_canister_with_cycles",
        "provisional_top_up_canister", "upload_chunk", "clear_chunk_store", "stored_chunks",
        "install_chunked_code",
    }
)
_OPEN_METHODS = frozenset({"provisional_create_canister_with_cycles", "provisional_top_up_canister",
                           "deposit_cycles", "raw_rand", "create_canister", "canister_info",
                           "subnet_info"})


class SubnetServices(Protocol):
    """What the management canister needs of its subnet (`replica.subnet.Subnet` has it).

    The canisters it creates, changes and installs code in; the subnet's limits and
    fees; the round's time; a way to answer requests, randomness, and deleting a
    canister together with its input queue.
    """

    @property
    def config(self) -> SubnetConfig:
        """The subnet's limits and fees."""

    @property
    def time_ns(self) -> int:
        """The current round's time, nanoseconds since the epoch."""

    @property
    def canister_state(self) -> Canisters:
        """Every canister of the subnet with its sandbox and memories."""

    @property
    def routing(self) -> Routing | None:
        """Which subnet hosts a canister, when the subnet is one of several (else None)."""

    def respond(self, origin: CallOrigin, *, reply: bytes | None = None,
                reject: RejectInfo | None = None, refund: int = 0) -> None:
        """Answer the request made from ``origin`` (``refund`` in cycles)."""

    def raw_rand(self) -> bytes:
        """32 pseudo-random bytes, deterministic given the subnet's seed and round."""

    def delete_canister(self, canister_id: bytes) -> None:
        """Forget the canister with its memories and its input queue."""


class ManagementCanister(ChunkStoreMethods):
    """Handles requests to ``aaaaa-aa`` against the services of its subnet (the chunk store
    methods come from `replica.chunk_store`)."""

    def __init__(self, subnet: SubnetServices) -> None:
        self.subnet = subnet
        self.canisters = subnet.canister_state

    # -- dispatch ------------------------------------------------------------------------------

    def check_ingress(self, sender: bytes, method: str, arg: bytes) -> None:
        """Refuse, before execution, ingress that the IC would not accept."""
        if method not in INGRESS_METHODS:
            if hasattr(self, f"_m_{method}"):
                raise CanisterError(
                    ErrorCode.CANISTER_REJECTED_MESSAGE,
                    f"Only canisters can call ic00 method {method}",
                )
            raise CanisterError(
                ErrorCode.UNKNOWN_MANAGEMENT_MESSAGE,
                f"Management canister has no method '{method}'",
            )

    def handle(self, request: Request) -> None:
        """Execute one request and respond (now, or later for ``stop_canister``)."""
        handler = getattr(self, f"_m_{request.method}", None)
        try:
            if handler is None:
                raise CanisterError(
                    ErrorCode.UNKNOWN_MANAGEMENT_MESSAGE,
                    f"Management canister has no method '{request.method}'",
                )
            if request.origin.kind is OriginKind.INGRESS and request.method not in INGRESS_METHODS:
                raise CanisterError(
                    ErrorCode.CANISTER_REJECTED_MESSAGE,
                    f"Only canisters can call ic00 method {request.method}",
                )
            reply = handler(request)
        except CanisterError as exc:
            refund = request.cycles
            self.subnet.respond(request.origin, reject=RejectInfo(
                exc.reject_code, exc.message, exc.error_code), refund=refund)
            return
        if reply is not None:
            data, refund = reply
            self.subnet.respond(request.origin, reply=data, refund=refund)

    def query(self, sender: bytes, method: str, arg: bytes) -> QueryResult:
        """Non-replicated calls to ``aaaaa-aa`` (none are supported as queries yet)."""
        code = ErrorCode.UNKNOWN_MANAGEMENT_MESSAGE
        return QueryResult(reject=RejectInfo(
            code.reject_code, f"Management canister has no query method '{method}'", code))

    # -- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _decode(request: Request, arg_type: CandidType) -> Any:
        return decode_management_arg(request.method, request.arg, arg_type)

    def _controlled(self, request: Request, canister: Principal) -> CanisterState:
        state = self.canisters.canister(canister.raw)
        if request.sender not in state.settings.controllers:
            controllers = " ".join(Principal(c).to_text() for c in state.settings.controllers)
            raise CanisterError(
                ErrorCode.CANISTER_INVALID_CONTROLLER,
                f"Only controllers of canister {canister.to_text()} can call ic00 method "
                f"{request.method}. Controllers: {controllers}; sender: "
                f"{Principal(request.sender).to_text()}",
            )
        return state

    @staticmethod
    def _origin_of(request: Request) -> dict[str, Any]:
        if request.origin.kind is OriginKind.CANISTER:
            return {"from_canister": {"canister_id": Principal(request.sender),
                                      "canister_version": None}}
        return {"from_user": {"user_id": Principal(request.sender)}}

    def _record(self, state: CanisterState, request: Request, kind: str,
                details: dict[str, Any]) -> None:
        state.record_change(CanisterChange(
            self.subnet.time_ns, state.version, request.sender,
            "canister" if request.origin.kind is OriginKind.CANISTER else "user",
            {kind: details},
        ))

    @staticmethod
    def _checked_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
        """The settings ``settings`` gives, each checked against its bound.

        Raises `CanisterError` naming the first setting out of range, its value and the
        range, before anything is changed: IC0408 for too many controllers or log
        viewers (the IC refuses those while decoding), IC0504 for a number out of range.
        """
        if not settings:
            return {}
        checked: dict[str, Any] = {}
        controllers = settings.get("controllers")
        if controllers is not None:
            if len(controllers) > MAX_CONTROLLERS:
                raise CanisterError(
                    ErrorCode.INVALID_MANAGEMENT_PAYLOAD,
                    f"Invalid settings: {len(controllers)} controllers given; at most "
                    f"{MAX_CONTROLLERS} are allowed",
                )
            checked["controllers"] = [p.raw for p in controllers]
        for name, (bound, bound_text, unit) in SETTING_BOUNDS.items():
            value = settings.get(name)
            if value is None:
                continue
            if value > bound:
                raise CanisterError(
                    ErrorCode.CANISTER_CONTRACT_VIOLATION,
                    f"Invalid settings: {name} expected to be in the range [0..{bound_text}] "
                    f"({unit}), got {cycles_text(value)}",
                )
            checked[name] = value
        visibility = settings.get("log_visibility")
        if visibility is not None:
            kind = next(iter(visibility))
            viewers = visibility[kind]
            if kind == "allowed_viewers" and len(viewers) > MAX_LOG_VIEWERS:
                raise CanisterError(
                    ErrorCode.INVALID_MANAGEMENT_PAYLOAD,
                    f"Invalid settings: log_visibility allowed_viewers lists {len(viewers)} "
                    f"principals; at most {MAX_LOG_VIEWERS} are allowed",
                )
            checked["log_visibility"] = kind
        return checked

    @staticmethod
    def _apply_settings(state: CanisterState, checked: dict[str, Any]) -> None:
        """Set the settings `_checked_settings` returned on ``state``."""
        for name, value in checked.items():
            setattr(state.settings, name, value)

    # -- creation and cycles ------------------------------------------------------------------

    def _check_specified_id(self, specified: Principal) -> bytes:
        """The raw id of ``specified`` if it is a canister id of the subnet's range and,
        on a subnet of several, the routing table routes it here (a range or a canister
        migrated away is no longer this subnet's to create: the canister would be
        unreachable).

        Raises `CanisterError` IC0405 as the IC words it ("Unsuccessful validation of
        specified ID"), naming the id, what it is instead (with the subnet the routing
        table places it on, or none) and the valid range.
        """
        config = self.subnet.config
        routing = self.subnet.routing
        try:
            index: int | None = specified.canister_index()
        except PrincipalError:
            index = None
        host = None if routing is None or index is None else routing.subnet_of(specified.raw)
        in_range = (index is not None
                    and config.first_canister_index <= index <= config.last_canister_index)
        if in_range and (routing is None or host == config.subnet_name):
            return specified.raw
        if specified.is_anonymous:
            kind = "the anonymous principal"
        elif specified.is_management_canister:
            kind = "the management canister"
        elif specified.is_self_authenticating:
            kind = "a user's self-authenticating principal"
        elif index is None:
            kind = "not a canister id"
        elif host is not None and host != config.subnet_name:
            kind = (f"a canister id the routing table places on subnet {host!r} (index "
                    f"{index:#x}); create it there, with an effective canister id of that "
                    "subnet")
        elif routing is not None and host is None:
            kind = f"a canister id in no subnet's range (index {index:#x})"
        else:
            kind = f"a canister id outside this subnet's range (index {index:#x})"
        low = Principal.from_canister_index(config.first_canister_index).to_text()
        high = Principal.from_canister_index(config.last_canister_index).to_text()
        raise CanisterError(
            ErrorCode.CANISTER_NOT_HOSTED_BY_SUBNET,
            f"Unsuccessful validation of specified ID: Specified CanisterId "
            f"{specified.to_text()} is not hosted by subnet {Principal(config.subnet_id)} "
            f"({kind}). Specify a canister id from {low} to {high} (indexes "
            f"{config.first_canister_index:#x} to {config.last_canister_index:#x})"
            f"{'' if routing is None else ' that the routing table routes here'}, or none.",
        )

    @staticmethod
    def _credited(method: str, canister: str, balance: int, amount: int) -> int:
        """``balance + amount``, the balance after a credit of ``amount`` cycles.

        Raises `CanisterError` IC0408 naming the amount and the most that fits if the
        result would exceed `MAX_CYCLES`.
        """
        total = balance + amount
        if total > MAX_CYCLES:
            raise CanisterError(
                ErrorCode.INVALID_MANAGEMENT_PAYLOAD,
                f"ic00 method {method}: {cycles_text(amount)} cycles would give {canister} a "
                f"balance above the largest a canister can hold, 2**128-1 cycles (a u128); "
                f"its balance is {balance:,}, so add at most {MAX_CYCLES - balance:,} cycles.",
            )
        return total

    def _new_canister(self, request: Request, settings: dict[str, Any] | None, cycles: int,
                      specified: Principal | None = None) -> bytes:
        """Create a canister controlled by the sender (or ``settings``' controllers).

        Everything is checked before the id is allocated, so a refusal changes nothing.
        """
        wanted = self._check_specified_id(specified) if specified is not None else None
        self._credited(request.method, "the new canister", 0, cycles)
        checked = self._checked_settings(settings)
        state = CanisterState(b"", CanisterSettings(controllers=[request.sender]), cycles=cycles)
        self._apply_settings(state, checked)
        state.canister_id = self.canisters.allocate_canister_id(wanted,
                                                                routing=self.subnet.routing)
        self.canisters.add_canister(state)
        self._record(state, request, "creation",
                     {"controllers": list(state.settings.controllers)})
        return state.canister_id

    def _m_create_canister(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CREATE_CANISTER_ARGS)
        fee = self.subnet.config.fees.create_canister()
        if request.cycles < fee:
            raise CanisterError(
                ErrorCode.INSUFFICIENT_CYCLES_FOR_CREATE_CANISTER,
                f"Insufficient cycles attached to create_canister: {request.cycles} given, the "
                f"creation fee is {fee}",
            )
        canister_id = self._new_canister(request, args["settings"], request.cycles - fee)
        return encode([CREATE_RESULT], [{"canister_id": Principal(canister_id)}]), 0

    def _m_provisional_create_canister_with_cycles(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, PROVISIONAL_CREATE_ARGS)
        amount = args["amount"]
        if amount is None:
            amount = self.subnet.config.default_provisional_cycles
        canister_id = self._new_canister(request, args["settings"], amount, args["specified_id"])
        return encode([CREATE_RESULT], [{"canister_id": Principal(canister_id)}]), request.cycles

    def _m_provisional_top_up_canister(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, TOP_UP_ARGS)
        state = self.canisters.canister(args["canister_id"].raw)
        state.cycles = self._credited(request.method, canister_text(state.canister_id),
                                      state.cycles, args["amount"])
        self.canisters.mark_dirty(state.canister_id)
        return EMPTY_REPLY, request.cycles

    def _m_deposit_cycles(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_ID)
        state = self.canisters.canister(args["canister_id"].raw)
        state.cycles = self._credited(request.method, canister_text(state.canister_id),
                                      state.cycles, request.cycles)
        self.canisters.mark_dirty(state.canister_id)
        return EMPTY_REPLY, 0

    def _m_raw_rand(self, request: Request) -> tuple[bytes, int]:
        self._decode_empty(request)
        return encode([BLOB], [self.subnet.raw_rand()]), request.cycles

    def _m_vetkd_public_key(self, request: Request) -> tuple[bytes, int]:
        return vetkd_public_key(request, self.canisters.seed)

    def _m_vetkd_derive_key(self, request: Request) -> tuple[bytes, int]:
        return vetkd_derive_key(request, self.canisters.seed)

    def _m_subnet_info(self, request: Request) -> tuple[bytes, int]:
        import icframework

        return encode([SUBNET_INFO_RESULT], [{
            "replica_version": f"icframework-{icframework.__version__}",
            "registry_version": 1}]), request.cycles

    def _decode_empty(self, request: Request) -> None:
        try:
            decode(request.arg, [])
        except CandidError as exc:
            raise CanisterError(
                ErrorCode.INVALID_MANAGEMENT_PAYLOAD,
                f"Error decoding candid for ic00 method {request.method}: {exc}",
            ) from None

    # -- settings and status ------------------------------------------------------------------

    def _m_update_settings(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, UPDATE_SETTINGS_ARGS)
        state = self._controlled(request, args["canister_id"])
        checked = self._checked_settings(args["settings"])
        before = list(state.settings.controllers)
        self._apply_settings(state, checked)
        state.version += 1
        if state.settings.controllers != before:
            self._record(state, request, "controllers_change",
                         {"controllers": list(state.settings.controllers)})
        self.canisters.mark_dirty(state.canister_id)
        return EMPTY_REPLY, request.cycles

    def _m_canister_status(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_ID)
        canister_id = args["canister_id"].raw
        state = self.canisters.canister(canister_id)
        if request.sender != canister_id:
            self._controlled(request, args["canister_id"])
        subnet = self.subnet
        fees = subnet.config.fees
        module = self.canisters.modules.get(state.module_hash) if state.module_hash else None
        binary = module.installed_size if module else 0
        custom = sum(len(m.content) for m in module.metadata.values()) if module else 0
        memory = self.canisters.memory_usage(canister_id)
        settings = state.settings
        visibility: dict[str, Any] = (
            {"allowed_viewers": []} if settings.log_visibility == "allowed_viewers"
            else {settings.log_visibility: None}
        )
        result = {
            "status": {state.status.value: None},
            "ready_for_migration": False,
            "version": state.version,
            "settings": {
                "controllers": [Principal(c) for c in settings.controllers],
                "compute_allocation": settings.compute_allocation,
                "memory_allocation": settings.memory_allocation,
                "freezing_threshold": settings.freezing_threshold,
                "reserved_cycles_limit": settings.reserved_cycles_limit,
                "log_visibility": visibility,
                "wasm_memory_limit": settings.wasm_memory_limit,
                "wasm_memory_threshold": settings.wasm_memory_threshold,
            },
            "module_hash": state.module_hash,
            "memory_size": memory,
            "memory_metrics": {
                "wasm_memory_size": state.heap_size,
                "stable_memory_size": state.stable_size,
                "global_memory_size": 8 * len(state.globals),
                "wasm_binary_size": binary,
                "custom_sections_size": custom,
                "canister_history_size": 0,
                "wasm_chunk_store_size": len(state.chunk_hashes) * CHUNK_SIZE,
                "snapshots_size": 0,
            },
            "cycles": state.cycles,
            "reserved_cycles": 0,
            "idle_cycles_burned_per_day": fees.idle_cycles_burned_per_day(
                max(memory, settings.memory_allocation), settings.compute_allocation
            ),
            "query_stats": {
                "num_calls_total": 0, "num_instructions_total": 0,
                "request_payload_bytes_total": 0, "response_payload_bytes_total": 0,
            },
        }
        return encode([CANISTER_STATUS_RESULT], [result]), request.cycles

    def _m_canister_info(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_INFO_ARGS)
        state = self.canisters.canister(args["canister_id"].raw)
        wanted = args["num_requested_changes"] or 0
        changes = state.history[-wanted:] if wanted else []
        recent = []
        for change in changes:
            origin = (
                {"from_canister": {"canister_id": Principal(change.origin),
                                   "canister_version": None}}
                if change.kind == "canister"
                else {"from_user": {"user_id": Principal(change.origin)}}
            )
            details = {
                kind: {"controllers": [Principal(c) for c in value["controllers"]]}
                if isinstance(value, dict) and "controllers" in value else value
                for kind, value in change.details.items()
            }
            recent.append({"timestamp_nanos": change.timestamp_ns,
                           "canister_version": change.canister_version,
                           "origin": origin, "details": details})
        result = {
            "total_num_changes": state.total_changes,
            "recent_changes": recent,
            "module_hash": state.module_hash,
            "controllers": [Principal(c) for c in state.settings.controllers],
        }
        return encode([CANISTER_INFO_RESULT], [result]), request.cycles

    # -- start, stop, delete -------------------------------------------------------------------

    def _m_start_canister(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_ID)
        state = self._controlled(request, args["canister_id"])
        if state.status is not CanisterStatus.RUNNING:
            for origin in state.stop_requests:
                self.subnet.respond(CallOrigin.from_data(origin), reject=RejectInfo(
                    RejectCode.CANISTER_ERROR,
                    f"Canister {canister_text(state.canister_id)} has been restarted while "
                    "stopping", ErrorCode.CANISTER_STOPPING_CANCELLED))
            state.stop_requests = []
            state.status = CanisterStatus.RUNNING
            state.version += 1
            self.canisters.mark_dirty(state.canister_id)
        return EMPTY_REPLY, request.cycles

    def _m_stop_canister(self, request: Request) -> tuple[bytes, int] | None:
        args = self._decode(request, CANISTER_ID)
        state = self._controlled(request, args["canister_id"])
        if state.status is CanisterStatus.STOPPED:
            return EMPTY_REPLY, request.cycles
        state.status = CanisterStatus.STOPPING
        state.stop_requests.append(request.origin.to_data())
        self.canisters.mark_dirty(state.canister_id)
        return None

    def _m_delete_canister(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_ID)
        state = self._controlled(request, args["canister_id"])
        if state.status is not CanisterStatus.STOPPED:
            raise CanisterError(
                ErrorCode.CANISTER_NOT_STOPPED,
                f"Canister {canister_text(state.canister_id)} must be stopped before it is "
                "deleted.",
            )
        self.subnet.delete_canister(state.canister_id)
        return EMPTY_REPLY, request.cycles

    # -- code ------------------------------------------------------------------------------------

    def _m_uninstall_code(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CANISTER_ID)
        state = self._controlled(request, args["canister_id"])
        self._reject_open_contexts(state)
        self.canisters.set_sandbox(state.canister_id, None)
        self.canisters.clear_memories(state.canister_id, stable=True)
        state.module_hash = None
        state.heap_size = state.stable_size = 0
        state.globals = {}
        state.certified_data = b""
        state.global_timer_ns = 0
        self.clear_chunks(state)
        state.version += 1
        self._record(state, request, "code_uninstall", {})
        return EMPTY_REPLY, request.cycles

    def _reject_open_contexts(self, state: CanisterState) -> None:
        for context in list(state.call_contexts.values()):
            if not context.responded:
                self.subnet.respond(context.origin, reject=RejectInfo(
                    RejectCode.CANISTER_REJECT, "Canister has been uninstalled.",
                    ErrorCode.CANISTER_REJECTED_MESSAGE), refund=context.cycles_available)
        state.call_contexts.clear()
        state.callbacks.clear()

    def _m_install_code(self, request: Request) -> tuple[bytes, int]:
        self._install_code(request, self._decode(request, INSTALL_CODE_ARGS))
        return EMPTY_REPLY, request.cycles

    def _install_code(self, request: Request, args: dict[str, Any]) -> int:
        """Install ``args`` (an ``install_code_args`` value); returns the cycles charged."""
        state = self._controlled(request, args["canister_id"])
        ((mode, options),) = args["mode"].items()
        name = canister_text(state.canister_id)
        subnet = self.subnet
        if mode == "install" and state.module_hash is not None:
            raise CanisterError(
                ErrorCode.CANISTER_ALREADY_INSTALLED,
                f"Canister {name} cannot be installed because the canister is not empty. Try "
                "installing with mode='reinstall' instead.",
            )
        if mode == "upgrade" and state.module_hash is None:
            raise CanisterError(
                ErrorCode.CANISTER_WASM_MODULE_NOT_FOUND,
                f"Error from Canister {name}: Attempted to execute a message, but the canister "
                "contains no Wasm module.",
            )
        limit = subnet.config.install_instruction_limit
        fees = subnet.config.fees
        cost = fees.execution_prepayment(limit)
        if state.cycles < cost + self.canisters.freezing_threshold(state.canister_id):
            raise CanisterError(
                ErrorCode.CANISTER_OUT_OF_CYCLES,
                f"Canister {name} is out of cycles: installing code needs at least {cost} cycles "
                f"plus the freezing threshold; the balance is {state.cycles}",
            )
        wasm = args["wasm_module"]
        arg = args["arg"]
        if mode == "upgrade":
            used = self._upgrade(request, state, wasm, arg, options or {})
        else:
            used = self._install(request, state, wasm, arg, reinstall=mode == "reinstall")
        charged = fees.execution(used)
        state.cycles -= charged
        state.cycles_consumed += charged
        state.version += 1
        state.last_install_ns = subnet.time_ns
        self._record(state, request, "code_deployment",
                     {"mode": {mode: None}, "module_hash": state.module_hash})
        self.canisters.mark_dirty(state.canister_id)
        return charged

    def _run_entry(self, sandbox: CanisterSandbox, state: CanisterState, request: Request,
                   export: str, context: Context, arg: bytes, limit: int) -> int:
        """Run an install-time entry point; raise `CanisterError` if it traps."""
        if export not in sandbox.module.system_methods:
            return 0
        inp = self.canisters.execution_input(state, context, request.sender, arg=arg)
        result = sandbox.execute(export, inp, limit, persist=True)
        if result.trap is not None:
            raise CanisterError(
                result.trap.error_code,
                f"Error from Canister {canister_text(state.canister_id)}: {result.trap.message}",
            )
        assert result.output is not None
        if result.output.certified_data is not None:
            state.certified_data = result.output.certified_data
        if result.output.global_timer_ns is not None:
            state.global_timer_ns = result.output.global_timer_ns
        state.cycles -= result.output.cycles_burned
        return result.instructions

    def _install(self, request: Request, state: CanisterState, wasm: bytes, arg: bytes,
                 *, reinstall: bool) -> int:
        subnet = self.subnet
        stable = PageMap()
        saved = (state.certified_data, state.global_timer_ns, state.cycles)
        module, sandbox = self.canisters.install_module(state.canister_id, wasm, stable)
        state.certified_data = b""
        state.global_timer_ns = 0
        try:
            used = self._run_entry(sandbox, state, request, "canister_init", Context.INIT, arg,
                                   subnet.config.install_instruction_limit)
        except CanisterError:
            state.certified_data, state.global_timer_ns, state.cycles = saved
            raise
        if reinstall:
            self._reject_open_contexts(state)
        self.canisters.clear_memories(state.canister_id, stable=True)
        self.canisters.stables[state.canister_id] = stable
        self.canisters.set_sandbox(state.canister_id, sandbox)
        self._commit_module(state, module.module_hash, sandbox)
        return used

    def _upgrade(self, request: Request, state: CanisterState, wasm: bytes, arg: bytes,
                 options: dict[str, Any]) -> int:
        subnet = self.subnet
        canister_id = state.canister_id
        old_sandbox = self.canisters.sandboxes[canister_id]
        stable = self.canisters.stables[canister_id]
        persistence = options.get("wasm_memory_persistence")
        keep = (persistence is None and old_sandbox.module.enhanced_orthogonal_persistence) or (
            persistence is not None and "keep" in persistence)
        if (old_sandbox.module.enhanced_orthogonal_persistence and persistence is not None
                and "replace" in persistence):
            raise CanisterError(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister {canister_text(canister_id)} uses enhanced orthogonal persistence: "
                "upgrade with wasm_memory_persistence = opt variant { keep }",
            )
        saved_stable = stable.read(0, stable.size_bytes)
        saved_memory = old_sandbox.snapshot()
        saved = (state.certified_data, state.global_timer_ns, state.cycles)
        limit = subnet.config.install_instruction_limit
        used = 0
        try:
            if not options.get("skip_pre_upgrade"):
                used += self._run_entry(old_sandbox, state, request, "canister_pre_upgrade",
                                        Context.PRE_UPGRADE, b"", limit)
            state.global_timer_ns = 0
            module, sandbox = self.canisters.install_module(
                canister_id, wasm, stable, previous=old_sandbox, keep_heap=keep)
            used += self._run_entry(sandbox, state, request, "canister_post_upgrade",
                                    Context.INIT, arg, limit - used)
        except CanisterError:
            stable.resize(len(saved_stable))
            stable.write(0, saved_stable)
            old_sandbox.restore(saved_memory)
            state.certified_data, state.global_timer_ns, state.cycles = saved
            raise
        self.canisters.orphan_callbacks(canister_id)
        self.canisters.clear_memories(canister_id, stable=False)
        self.canisters.set_sandbox(canister_id, sandbox)
        self._commit_module(state, module.module_hash, sandbox)
        return used

    def _commit_module(self, state: CanisterState, module_hash: bytes,
                       sandbox: CanisterSandbox) -> None:
        state.module_hash = module_hash
        state.heap_size = sandbox.heap_size
        state.globals = dict(sandbox.committed_globals)
        state.stable_size = self.canisters.stables[state.canister_id].size_bytes
        sandbox.mark_all_dirty()


def cycles_text(amount: int) -> str:
    """``amount`` with thousands separators, or its size if it is too long to read."""
    if amount < 10**40:
        return f"{amount:,}"
    return f"a {len(str(amount))}-digit amount (at least 2**{amount.bit_length() - 1})"
