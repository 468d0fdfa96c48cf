"""The ic0 System API for one execution: what each import does and where it may run.

How it works: the subnet describes one entry-point execution with an `ExecutionInput`
(who calls, with what argument, in which `Context`, the canister's balance and
settings). The sandbox creates a `SystemApi` over that input plus access to the
instance's heap (`HeapAccess`) and stable memory (a `PageMap`), and routes every ic0
import to the method of the same name. Effects are collected in an `ExecutionOutput`
(reply or reject, staged calls, cycles moved, certified data, timer, logs) that the
subnet applies only if the execution does not trap. A misuse raises `CanisterTrap`
with the IC's error code and message, which the sandbox turns into a rollback.

Integers crossing the boundary: wasm passes i64 as signed Python ints; pointers and
sizes are reinterpreted as unsigned, 128-bit amounts arrive as (high, low) halves and
are written to memory as 16 little-endian bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from icframework.core import ErrorCode
from icframework.core.ic0 import IC0_FUNCTIONS, Context
from icframework.replica.cycles import FeeSchedule
from icframework.replica.errors import ReplicaError
from icframework.replica.pages import PageMap

WASM_PAGE = 65536
MAX_STABLE_PAGES = 500 * 1024**3 // WASM_PAGE
MAX_STABLE32_PAGES = 65536
MAX_CERTIFIED_DATA = 32
MAX_PRINCIPAL = 29
_U64 = (1 << 64) - 1

_CONTEXT_NAMES = {
    Context.START: "start",
    Context.INIT: "init",
    Context.PRE_UPGRADE: "pre_upgrade",
    Context.UPDATE: "update",
    Context.REPLICATED_QUERY: "replicated query",
    Context.QUERY: "non-replicated query",
    Context.COMPOSITE_QUERY: "composite query",
    Context.REPLY_CALLBACK: "reply callback",
    Context.REJECT_CALLBACK: "reject callback",
    Context.COMPOSITE_REPLY_CALLBACK: "composite query reply callback",
    Context.COMPOSITE_REJECT_CALLBACK: "composite query reject callback",
    Context.CLEANUP: "cleanup",
    Context.COMPOSITE_CLEANUP: "composite query cleanup",
    Context.INSPECT_MESSAGE: "inspect message",
    Context.SYSTEM_TASK: "system task",
}
_NON_REPLICATED = {Context.QUERY, Context.COMPOSITE_QUERY, Context.INSPECT_MESSAGE}


class CanisterTrap(ReplicaError):
    """Execution must stop and roll back; carries the IC error code and message."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def contract_violation(message: str) -> CanisterTrap:
    return CanisterTrap(
        ErrorCode.CANISTER_CONTRACT_VIOLATION, f"Canister violated contract: {message}"
    )


class HeapAccess(Protocol):
    """Bounds-checked access to the executing instance's linear memory (bytes)."""

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes


@dataclass(frozen=True, slots=True)
class Reject:
    message: str


@dataclass(slots=True)
class StagedCall:
    """A call built with call_new ... call_perform; ``fun``/``env`` are table entries."""

    callee: bytes
    method: str
    reply_fun: int
    reply_env: int
    reject_fun: int
    reject_env: int
    payload: bytearray = field(default_factory=bytearray)
    cycles: int = 0
    cleanup: tuple[int, int] | None = None
    timeout_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class ExecutionInput:
    """Everything an execution may observe; amounts in cycles, times in ns."""

    context: Context
    canister_id: bytes
    caller: bytes
    time_ns: int
    cycle_balance: int
    arg: bytes = b""
    method_name: str = ""
    cycles_available: int = 0
    cycles_refunded: int = 0
    reject_code: int = 0
    reject_message: str = ""
    status: int = 1
    version: int = 0
    controllers: frozenset[bytes] = frozenset()
    certified_data: bytes = b""
    global_timer_ns: int = 0
    data_certificate: bytes | None = None
    root_key: bytes = b""
    subnet_id: bytes = b""
    freezing_threshold_cycles: int = 0
    call_context_instructions: int = 0
    responded: bool = False
    max_response_bytes: int = 2 * 1024 * 1024
    fees: FeeSchedule = field(default_factory=FeeSchedule)


@dataclass(slots=True)
class ExecutionOutput:
    """Effects of an execution, applied by the subnet only if it did not trap."""

    response: Reply | Reject | None = None
    calls: list[StagedCall] = field(default_factory=list)
    cycles_accepted: int = 0
    cycles_burned: int = 0
    cycles_sent: int = 0
    call_fees: int = 0
    certified_data: bytes | None = None
    global_timer_ns: int | None = None
    message_accepted: bool = False
    logs: list[bytes] = field(default_factory=list)
    instructions: int = 0


class SystemApi:
    """The ic0 functions for one execution; method names match the import names."""

    def __init__(
        self,
        inp: ExecutionInput,
        heap: HeapAccess,
        stable: PageMap,
        instructions_used: Callable[[], int],
    ) -> None:
        self.inp = inp
        self.heap = heap
        self.stable = stable
        self.out = ExecutionOutput()
        self._instructions_used = instructions_used
        self._reply_buffer = bytearray()
        self._staged: StagedCall | None = None
        self._timer = inp.global_timer_ns
        self._reject_message = inp.reject_message.encode("utf-8")
        self._method_name = inp.method_name.encode("utf-8")

    # -- helpers ----------------------------------------------------------------------

    def check_context(self, name: str) -> None:
        """Trap with IC0504 unless ``name`` may be called in this execution's context."""
        if self.inp.context not in IC0_FUNCTIONS[name].contexts:
            raise contract_violation(
                f'"ic0_{name}" cannot be executed in {_CONTEXT_NAMES[self.inp.context]} mode'
            )

    def _copy_out(self, name: str, source: bytes, dst: int, offset: int, size: int) -> None:
        offset &= _U64
        size &= _U64
        if offset + size > len(source):
            raise contract_violation(
                f"ic0.{name}: src={offset} + length={size} exceeds the slice size={len(source)}"
            )
        self.heap.write(dst & _U64, source[offset : offset + size])

    def _read(self, address: int, size: int) -> bytes:
        return self.heap.read(address & _U64, size & _U64)

    def _write128(self, dst: int, amount: int) -> None:
        self.heap.write(dst & _U64, amount.to_bytes(16, "little"))

    @staticmethod
    def _u128(high: int, low: int) -> int:
        return ((high & _U64) << 64) | (low & _U64)

    def _balance(self) -> int:
        out = self.out
        return (
            self.inp.cycle_balance
            + out.cycles_accepted
            - out.cycles_burned
            - out.cycles_sent
            - out.call_fees
            - (self._staged.cycles if self._staged else 0)
        )

    def _liquid(self) -> int:
        return max(0, self._balance() - self.inp.freezing_threshold_cycles)

    def _responded(self) -> bool:
        return self.inp.responded or self.out.response is not None

    def instructions(self) -> int:
        return self._instructions_used()

    # -- message data -------------------------------------------------------------------

    def msg_arg_data_size(self) -> int:
        return len(self.inp.arg)

    def msg_arg_data_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_arg_data_copy", self.inp.arg, dst, offset, size)

    def msg_caller_size(self) -> int:
        return len(self.inp.caller)

    def msg_caller_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_caller_copy", self.inp.caller, dst, offset, size)

    def msg_reject_code(self) -> int:
        return self.inp.reject_code

    def msg_reject_msg_size(self) -> int:
        return len(self._reject_message)

    def msg_reject_msg_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_reject_msg_copy", self._reject_message, dst, offset, size)

    def msg_deadline(self) -> int:
        return 0

    def msg_method_name_size(self) -> int:
        return len(self._method_name)

    def msg_method_name_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_method_name_copy", self._method_name, dst, offset, size)

    def accept_message(self) -> None:
        if self.out.message_accepted:
            raise contract_violation("ic0.accept_message: the message was already accepted")
        self.out.message_accepted = True

    # -- responding ---------------------------------------------------------------------

    def msg_reply_data_append(self, src: int, size: int) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reply_data_append: the call was already replied to")
        data = self._read(src, size)
        if len(self._reply_buffer) + len(data) > self.inp.max_response_bytes:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister violated contract: ic0.msg_reply_data_append: the reply exceeds "
                f"the maximum of {self.inp.max_response_bytes} bytes",
            )
        self._reply_buffer += data

    def msg_reply(self) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reply: the call was already replied to")
        self.out.response = Reply(bytes(self._reply_buffer))

    def msg_reject(self, src: int, size: int) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reject: the call was already replied to")
        raw = self._read(src, size)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise contract_violation(
                "ic0.msg_reject: the reject message is not valid UTF-8"
            ) from None
        self.out.response = Reject(text)

    # -- cycles ---------------------------------------------------------------------------

    def _available(self) -> int:
        return self.inp.cycles_available - self.out.cycles_accepted

    def msg_cycles_available128(self, dst: int) -> None:
        self._write128(dst, self._available())

    def msg_cycles_refunded128(self, dst: int) -> None:
        self._write128(dst, self.inp.cycles_refunded)

    def _accept(self, maximum: int) -> int:
        amount = min(maximum, self._available())
        self.out.cycles_accepted += amount
        return amount

    def msg_cycles_accept128(self, high: int, low: int, dst: int) -> None:
        self._write128(dst, self._accept(self._u128(high, low)))

    def cycles_burn128(self, high: int, low: int, dst: int) -> None:
        amount = min(self._u128(high, low), self._liquid())
        self.out.cycles_burned += amount
        self._write128(dst, amount)

    def canister_cycle_balance128(self, dst: int) -> None:
        self._write128(dst, self._balance())

    def canister_liquid_cycle_balance128(self, dst: int) -> None:
        self._write128(dst, self._liquid())

    def msg_cycles_available(self) -> int:
        return self._to_i64("msg_cycles_available", self._available())

    def msg_cycles_refunded(self) -> int:
        return self._to_i64("msg_cycles_refunded", self.inp.cycles_refunded)

    def msg_cycles_accept(self, maximum: int) -> int:
        return self._accept(maximum & _U64)

    def canister_cycle_balance(self) -> int:
        return self._to_i64("canister_cycle_balance", self._balance())

    @staticmethod
    def _to_i64(name: str, amount: int) -> int:
        if amount > _U64:
            raise contract_violation(
                f"ic0.{name}: the amount {amount} does not fit in 64 bits; use {name}128"
            )
        return amount - (1 << 64) if amount >= 1 << 63 else amount

    # -- self and environment ---------------------------------------------------------------

    def canister_self_size(self) -> int:
        return len(self.inp.canister_id)

    def canister_self_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("canister_self_copy", self.inp.canister_id, dst, offset, size)

    def canister_status(self) -> int:
        return self.inp.status

    def canister_version(self) -> int:
        return self.inp.version

    def subnet_self_size(self) -> int:
        return len(self.inp.subnet_id)

    def subnet_self_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("subnet_self_copy", self.inp.subnet_id, dst, offset, size)

    def root_key_size(self) -> int:
        return len(self.inp.root_key)

    def root_key_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("root_key_copy", self.inp.root_key, dst, offset, size)

    def time(self) -> int:
        return self.inp.time_ns

    def global_timer_set(self, timestamp: int) -> int:
        previous = self._timer
        self._timer = timestamp & _U64
        self.out.global_timer_ns = self._timer
        return self._to_i64("global_timer_set", previous)

    def performance_counter(self, counter_type: int) -> int:
        if counter_type == 0:
            return self.instructions()
        if counter_type == 1:
            return self.inp.call_context_instructions + self.instructions()
        raise contract_violation(
            f"ic0.performance_counter: unknown counter type {counter_type}; expected 0 or 1"
        )

    def is_controller(self, src: int, size: int) -> int:
        if size & _U64 > MAX_PRINCIPAL:
            raise contract_violation(
                f"ic0.is_controller: {size & _U64} bytes is not a principal (at most 29 bytes)"
            )
        return int(self._read(src, size) in self.inp.controllers)

    def in_replicated_execution(self) -> int:
        return int(self.inp.context not in _NON_REPLICATED)

    # -- certification ---------------------------------------------------------------------

    def certified_data_set(self, src: int, size: int) -> None:
        if size & _U64 > MAX_CERTIFIED_DATA:
            raise contract_violation(
                f"ic0.certified_data_set: {size & _U64} bytes given; certified data holds "
                f"at most {MAX_CERTIFIED_DATA}"
            )
        self.out.certified_data = self._read(src, size)

    def data_certificate_present(self) -> int:
        return int(self.inp.data_certificate is not None)

    def _certificate(self, name: str) -> bytes:
        if self.inp.data_certificate is None:
            raise contract_violation(f"ic0.{name}: no data certificate is available here")
        return self.inp.data_certificate

    def data_certificate_size(self) -> int:
        return len(self._certificate("data_certificate_size"))

    def data_certificate_copy(self, dst: int, offset: int, size: int) -> None:
        cert = self._certificate("data_certificate_copy")
        self._copy_out("data_certificate_copy", cert, dst, offset, size)

    # -- inter-canister calls --------------------------------------------------------------

    def call_new(
        self,
        callee_src: int,
        callee_size: int,
        name_src: int,
        name_size: int,
        reply_fun: int,
        reply_env: int,
        reject_fun: int,
        reject_env: int,
    ) -> None:
        callee = self._read(callee_src, callee_size)
        if len(callee) > MAX_PRINCIPAL:
            raise contract_violation(f"ic0.call_new: callee of {len(callee)} bytes is no principal")
        raw_name = self._read(name_src, name_size)
        try:
            method = raw_name.decode("utf-8")
        except UnicodeDecodeError:
            raise contract_violation("ic0.call_new: the method name is not valid UTF-8") from None
        self._staged = StagedCall(
            callee, method, reply_fun & _U64, reply_env & _U64, reject_fun & _U64,
            reject_env & _U64,
        )

    def _staged_call(self, name: str) -> StagedCall:
        if self._staged is None:
            raise contract_violation(f"ic0.{name}: there is no call under construction (call_new)")
        return self._staged

    def call_on_cleanup(self, fun: int, env: int) -> None:
        staged = self._staged_call("call_on_cleanup")
        if staged.cleanup is not None:
            raise contract_violation("ic0.call_on_cleanup: a cleanup callback is already set")
        staged.cleanup = (fun & _U64, env & _U64)

    def call_data_append(self, src: int, size: int) -> None:
        self._staged_call("call_data_append").payload += self._read(src, size)

    def call_with_best_effort_response(self, timeout_seconds: int) -> None:
        staged = self._staged_call("call_with_best_effort_response")
        if staged.timeout_seconds is not None:
            raise contract_violation("ic0.call_with_best_effort_response: called twice")
        staged.timeout_seconds = max(1, min(timeout_seconds & 0xFFFFFFFF, 300))

    def _add_cycles(self, amount: int) -> None:
        staged = self._staged_call("call_cycles_add128")
        if amount > self._liquid():
            raise CanisterTrap(
                ErrorCode.INSUFFICIENT_CYCLES_IN_CALL,
                f"Canister cannot attach {amount} cycles to the call: its liquid balance is "
                f"{self._liquid()} cycles",
            )
        staged.cycles += amount

    def call_cycles_add128(self, high: int, low: int) -> None:
        self._add_cycles(self._u128(high, low))

    def call_cycles_add(self, amount: int) -> None:
        self._add_cycles(amount & _U64)

    def call_perform(self) -> int:
        staged = self._staged_call("call_perform")
        self._staged = None
        fees = self.inp.fees
        fee = fees.call(len(staged.method.encode("utf-8")), len(staged.payload))
        fee += fees.response_reservation()
        if self._balance() - staged.cycles - fee < self.inp.freezing_threshold_cycles:
            return 2  # SYS_TRANSIENT: not enough cycles; attached cycles stay with the caller
        self.out.call_fees += fee
        self.out.cycles_sent += staged.cycles
        self.out.calls.append(staged)
        return 0

    # -- stable memory ----------------------------------------------------------------------

    def _stable_pages(self) -> int:
        return self.stable.size_bytes // WASM_PAGE

    def _stable_grow(self, extra: int, maximum: int) -> int:
        old = self._stable_pages()
        if extra < 0 or old + extra > maximum:
            return -1
        self.stable.resize((old + extra) * WASM_PAGE)
        return old

    def _stable_check(self, name: str, offset: int, size: int) -> None:
        if offset + size > self.stable.size_bytes:
            raise CanisterTrap(
                ErrorCode.CANISTER_TRAPPED,
                f"Canister trapped: stable memory out of bounds in ic0.{name}: offset {offset} "
                f"+ size {size} exceeds the stable memory size {self.stable.size_bytes}",
            )

    def stable64_size(self) -> int:
        return self._stable_pages()

    def stable64_grow(self, new_pages: int) -> int:
        return self._stable_grow(new_pages & _U64, MAX_STABLE_PAGES)

    def stable64_write(self, offset: int, src: int, size: int) -> None:
        offset, size = offset & _U64, size & _U64
        self._stable_check("stable64_write", offset, size)
        self.stable.write(offset, self._read(src, size))

    def stable64_read(self, dst: int, offset: int, size: int) -> None:
        offset, size = offset & _U64, size & _U64
        self._stable_check("stable64_read", offset, size)
        self.heap.write(dst & _U64, self.stable.read(offset, size))

    def stable_size(self) -> int:
        pages = self._stable_pages()
        if pages > MAX_STABLE32_PAGES:
            raise CanisterTrap(
                ErrorCode.CANISTER_TRAPPED,
                "Canister trapped: ic0.stable_size: stable memory exceeds 4 GiB; "
                "use the stable64 API",
            )
        return pages

    def stable_grow(self, new_pages: int) -> int:
        return self._stable_grow(new_pages & 0xFFFFFFFF, MAX_STABLE32_PAGES)

    def stable_write(self, offset: int, src: int, size: int) -> None:
        offset, size = offset & 0xFFFFFFFF, size & 0xFFFFFFFF
        self._stable_check("stable_write", offset, size)
        self.stable.write(offset, self._read(src, size))

    def stable_read(self, dst: int, offset: int, size: int) -> None:
        offset, size = offset & 0xFFFFFFFF, size & 0xFFFFFFFF
        self._stable_check("stable_read", offset, size)
        self.heap.write(dst & 0xFFFFFFFF, self.stable.read(offset, size))

    # -- costs --------------------------------------------------------------------------------

    def cost_call(self, method_name_size: int, payload_size: int, dst: int) -> None:
        fees = self.inp.fees
        cost = fees.call(method_name_size & _U64, payload_size & _U64)
        self._write128(dst, cost + fees.response_reservation())

    def cost_create_canister(self, dst: int) -> None:
        self._write128(dst, self.inp.fees.create_canister())

    def cost_http_request(self, request_size: int, max_res_bytes: int, dst: int) -> None:
        self._write128(dst, self.inp.fees.http_request(request_size & _U64, max_res_bytes & _U64))

    def _cost_signature(self, src: int, size: int, variant: int, dst: int) -> int:
        self._read(src, size)
        if variant & 0xFFFFFFFF != 0:
            return 1  # unknown curve or algorithm
        self._write128(dst, self.inp.fees.sign_with_ecdsa_cost())
        return 0

    def cost_sign_with_ecdsa(self, src: int, size: int, curve: int, dst: int) -> int:
        return self._cost_signature(src, size, curve, dst)

    def cost_sign_with_schnorr(self, src: int, size: int, algorithm: int, dst: int) -> int:
        return self._cost_signature(src, size, algorithm, dst)

    def cost_vetkd_derive_key(self, src: int, size: int, curve: int, dst: int) -> int:
        return self._cost_signature(src, size, curve, dst)

    # -- debugging --------------------------------------------------------------------------

    def debug_print(self, src: int, size: int) -> None:
        try:
            self.out.logs.append(self._read(src, size))
        except CanisterTrap:
            self.out.logs.append(b"(debug_print: message out of bounds)")

    def trap(self, src: int, size: int) -> None:
        try:
            text = self._read(src, size).decode("utf-8", errors="replace")
        except CanisterTrap:
            text = "(trap message out of bounds)"
        raise CanisterTrap(
            ErrorCode.CANISTER_CALLED_TRAP, f"Canister called `ic0.trap` with message: '{text}'"
        )

    # -- results -----------------------------------------------------------------------------

    def finish(self) -> ExecutionOutput:
        """The collected effects; a call still under construction is dropped, as on the IC."""
        self._staged = None
        self.out.instructions = self.instructions()
        return self.out
