"""The ic0 System API for one execution: what each import does and where it may run.

How it works: the subnet describes one entry-point execution with an `ExecutionInput`
(who calls, with what argument, in which `Context`, the canister's balance and
settings). The sandbox creates a `SystemApi` over that input plus access to the
instance's heap (`HeapAccess`) and stable memory (a `PageMap`), and routes every ic0
import to the method of the same name. Effects are collected in an `ExecutionOutput`
(reply or reject, staged calls, cycles moved, certified data, timer, logs) that the
subnet applies only if the execution does not trap. A misuse raises `CanisterTrap`
with the IC's error code and message, which the sandbox turns into a rollback.

Integers crossing the boundary: wasm passes i32/i64 as signed Python ints; pointers
and sizes are reinterpreted as unsigned at the module's pointer width (32 or 64 bits),
128-bit amounts arrive as (high, low) halves and are written to memory as 16
little-endian bytes.

Errors follow the IC (``rs/system_api/src/lib.rs``, ``rs/interfaces/src/
execution_environment/errors.rs``): a heap range outside memory given to an ic0 call is
a contract violation (IC0504, ``"<ctx>: src=… + length=… exceeds the slice size=…"``),
except in the stable-memory calls, which trap with IC0502 ``heap out of bounds``
(``rs/system_api/src/stable_memory.rs``); a call in the wrong context is IC0504
``"ic0_<name>" cannot be executed in <mode> mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from icframework.core import ErrorCode, Principal
from icframework.core.ic0 import IC0_FUNCTIONS, Context
from icframework.replica.cycles import FeeSchedule
from icframework.replica.errors import ReplicaError
from icframework.replica.execution.page_map import PageMap

WASM_PAGE = 65536
MAX_STABLE_PAGES = 500 * 1024**3 // WASM_PAGE
MAX_STABLE32_PAGES = 65536
MAX_CERTIFIED_DATA = 32
MAX_PRINCIPAL = 29
MAX_TRAP_MESSAGE = 32 * 1024
MAX_CALL_TIMEOUT_SECONDS = 300
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1

# The IC's fixed System API overhead in instructions (``overhead::new`` in
# rs/embedders/src/wasmtime_embedder/system_api_complexity.rs): added to a message's
# instructions, so charged in cycles and seen by ``performance_counter``. Calls the table
# does not list cost `DEFAULT_SYSTEM_API_OVERHEAD`, the IC's value for most calls.
SYSTEM_API_OVERHEAD: dict[str, int] = {
    "call_new": 1_500,
    "call_perform": 5_000,
    "debug_print": 100,
    "is_controller": 1_000,
    "performance_counter": 200,
    "stable_read": 20,
    "stable_write": 20,
    "stable_size": 20,
    "stable64_read": 20,
    "stable64_write": 20,
    "stable64_size": 20,
}
DEFAULT_SYSTEM_API_OVERHEAD = 500

HOST_CALL_COMPLEXITY = 25_000
"""Instructions of wall time one ic0 call costs this replica, beyond its overhead.

A host call through wasmtime-py takes about 25 µs, the time wasm runs about 25,000
instructions here, where the IC's costs tens of nanoseconds; a canister looping on a
cheap call (``ic0.time``) could otherwise hold execution for hours within one message's
limit. Like the IC's System API CPU complexity, this counts against the message's
instruction limit and the round's budget but is not charged in cycles and is not part of
``performance_counter`` or the reported instructions.
"""

# The IC's names of execution modes in context-violation messages (`ApiType::as_str`
# in rs/system_api/src/lib.rs); init and post_upgrade are both "init".
_CONTEXT_NAMES = {
    Context.START: "start",
    Context.INIT: "init",
    Context.PRE_UPGRADE: "pre upgrade",
    Context.UPDATE: "update",
    Context.REPLICATED_QUERY: "replicated query",
    Context.QUERY: "non replicated query",
    Context.COMPOSITE_QUERY: "composite query",
    Context.REPLY_CALLBACK: "reply callback",
    Context.REJECT_CALLBACK: "reject callback",
    Context.COMPOSITE_REPLY_CALLBACK: "composite reply callback",
    Context.COMPOSITE_REJECT_CALLBACK: "composite reject callback",
    Context.CLEANUP: "cleanup",
    Context.COMPOSITE_CLEANUP: "composite cleanup",
    Context.INSPECT_MESSAGE: "inspect message",
    Context.SYSTEM_TASK: "system task",
}
_SYSTEM_TASK_NAMES = {
    "canister_heartbeat": "heartbeat",
    "canister_global_timer": "global timer",
    "canister_on_low_wasm_memory": "on low Wasm memory",
}
_NON_REPLICATED = {
    Context.QUERY,
    Context.COMPOSITE_QUERY,
    Context.INSPECT_MESSAGE,
    Context.COMPOSITE_REPLY_CALLBACK,
    Context.COMPOSITE_REJECT_CALLBACK,
    Context.COMPOSITE_CLEANUP,
}


class CanisterTrap(ReplicaError):
    """Execution must stop and roll back; carries the IC error code and message."""

    def __init__(self, error_code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


def contract_violation(message: str) -> CanisterTrap:
    """IC0504 with the IC's wording (``HypervisorError::*ContractViolation``)."""
    return CanisterTrap(
        ErrorCode.CANISTER_CONTRACT_VIOLATION, f"Canister violated contract: {message}"
    )


def wasm_trap(reason: str) -> CanisterTrap:
    """IC0502 with the IC's wording (``HypervisorError::Trapped``)."""
    return CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {reason}")


def invalid_principal() -> CanisterTrap:
    """IC0504 for a principal blob longer than 29 bytes (``InvalidPrincipalId``)."""
    return CanisterTrap(
        ErrorCode.CANISTER_CONTRACT_VIOLATION, "Canister provided invalid principal id"
    )


class HeapAccess(Protocol):
    """Access to the executing instance's linear memory (bytes).

    `SystemApi` checks every range against `size` first, so the IC's error for the
    call can be raised; `read` and `write` still bounds-check as a safety net.
    """

    def size(self) -> int: ...

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
        *,
        memory64: bool = False,
        entry_point: str = "",
        consume: Callable[[int], None] | None = None,
    ) -> None:
        """``consume(n)`` takes ``n`` instructions from the execution's budget and raises
        the instruction-limit `CanisterTrap` when fewer are left (see `charge`)."""
        self.inp = inp
        self.heap = heap
        self.stable = stable
        self.out = ExecutionOutput()
        self.entry_point = entry_point
        self._mask = _U64 if memory64 else _U32
        self._instructions_used = instructions_used
        self._consume = consume
        self.complexity = 0
        self._reply_buffer = bytearray()
        self._staged: StagedCall | None = None
        self._timer = inp.global_timer_ns
        self._reject_message = inp.reject_message.encode("utf-8")
        self._method_name = inp.method_name.encode("utf-8")

    # -- helpers ----------------------------------------------------------------------

    def _mode(self) -> str:
        context = self.inp.context
        if context is Context.SYSTEM_TASK:
            return _SYSTEM_TASK_NAMES.get(self.entry_point, _CONTEXT_NAMES[context])
        return _CONTEXT_NAMES[context]

    def context_error(self, name: str) -> CanisterTrap:
        """The IC's trap for ``ic0.<name>`` called in the wrong context (IC0504)."""
        return contract_violation(f'"ic0_{name}" cannot be executed in {self._mode()} mode')

    def check_context(self, name: str) -> None:
        """Trap with IC0504 unless ``name`` may be called in this execution's context."""
        if self.inp.context not in IC0_FUNCTIONS[name].contexts:
            raise self.context_error(name)

    def _ptr(self, value: int) -> int:
        """A pointer or size argument (type ``I``) as an unsigned integer."""
        return value & self._mask

    def _check_range(self, ctx: str, start: int, size: int, limit: int) -> None:
        """The IC's ``valid_subslice``: IC0504 unless ``[start, start+size)`` is in ``limit``."""
        end = start + size
        if end > _U64:
            raise contract_violation(f"{ctx}: src={start} + length={size} is an invalid address")
        if end > limit:
            raise contract_violation(
                f"{ctx}: src={start} + length={size} exceeds the slice size={limit}"
            )

    def _read(self, ctx: str, address: int, size: int) -> bytes:
        """Heap bytes for an ic0 call; out of bounds is IC0504 naming ``ctx``."""
        address, size = self._ptr(address), self._ptr(size)
        self._check_range(ctx, address, size, self.heap.size())
        return self.heap.read(address, size)

    def _copy_out(
        self, name: str, label: str, source: bytes, dst: int, offset: int, size: int
    ) -> None:
        """``ic0.<name>(dst, offset, size)``: heap range first, then source, as on the IC."""
        dst, offset, size = self._ptr(dst), self._ptr(offset), self._ptr(size)
        self._check_range(f"ic0.{name} heap", dst, size, self.heap.size())
        self._check_range(f"ic0.{name} {label}", offset, size, len(source))
        self.heap.write(dst, source[offset : offset + size])

    def _write128(self, name: str, dst: int, amount: int) -> None:
        """Write a 128-bit amount; out of bounds is the IC's ``copy_cycles_to_heap`` error."""
        dst = self._ptr(dst)
        length = self.heap.size()
        if dst + 16 > length:
            raise contract_violation(
                f"ic0_{name} failed because dst + size is out of bounds."
                f"Found dst = {dst} and size = 16 while must be <= {length}"
            )
        self.heap.write(dst, amount.to_bytes(16, "little"))

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

    def charge(self, name: str) -> None:
        """Charge one call of ``ic0.<name>``: the IC's overhead plus `HOST_CALL_COMPLEXITY`.

        Both come out of the execution's instruction budget, so a loop of host calls
        reaches the limit (IC0522) in bounded wall time; only the overhead counts as
        instructions (`instructions`).
        """
        self.complexity += HOST_CALL_COMPLEXITY
        if self._consume is not None:
            self._consume(SYSTEM_API_OVERHEAD.get(name, DEFAULT_SYSTEM_API_OVERHEAD)
                          + HOST_CALL_COMPLEXITY)

    def instructions(self) -> int:
        """Instructions executed so far, with the System API overhead, without complexity."""
        return max(0, self._instructions_used() - self.complexity)

    # -- message data -------------------------------------------------------------------

    def msg_arg_data_size(self) -> int:
        return len(self.inp.arg)

    def msg_arg_data_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_arg_data_copy", "payload", self.inp.arg, dst, offset, size)

    def msg_caller_size(self) -> int:
        return len(self.inp.caller)

    def msg_caller_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_caller_copy", "id", self.inp.caller, dst, offset, size)

    def msg_reject_code(self) -> int:
        return self.inp.reject_code

    def msg_reject_msg_size(self) -> int:
        return len(self._reject_message)

    def msg_reject_msg_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_reject_msg_copy", "msg", self._reject_message, dst, offset, size)

    def msg_deadline(self) -> int:
        return 0

    def msg_method_name_size(self) -> int:
        return len(self._method_name)

    def msg_method_name_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("msg_method_name_copy", "payload", self._method_name, dst, offset, size)

    def accept_message(self) -> None:
        if self.out.message_accepted:
            raise contract_violation("ic0.accept_message: the function was already called.")
        self.out.message_accepted = True

    # -- responding ---------------------------------------------------------------------

    def msg_reply_data_append(self, src: int, size: int) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reply_data_append: the call is already replied.")
        total = len(self._reply_buffer) + self._ptr(size)
        if total > self.inp.max_response_bytes:
            raise contract_violation(
                f"ic0.msg_reply_data_append: application payload size ({total}) cannot be "
                f"larger than {self.inp.max_response_bytes}."
            )
        self._reply_buffer += self._read("msg.reply", src, size)

    def msg_reply(self) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reply: the call is already replied")
        self.out.response = Reply(bytes(self._reply_buffer))

    def msg_reject(self, src: int, size: int) -> None:
        if self._responded():
            raise contract_violation("ic0.msg_reject: the call is already replied")
        if self._ptr(size) > self.inp.max_response_bytes:
            raise contract_violation(
                f"ic0.msg_reject: application payload size ({self._ptr(size)}) cannot be "
                f"larger than {self.inp.max_response_bytes}."
            )
        raw = self._read("ic0.msg_reject", src, size)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise contract_violation("ic0.msg_reject: invalid UTF-8 string provided") from None
        self.out.response = Reject(text)

    # -- cycles ---------------------------------------------------------------------------

    def _available(self) -> int:
        return self.inp.cycles_available - self.out.cycles_accepted

    def msg_cycles_available128(self, dst: int) -> None:
        self._write128("msg_cycles_available128", dst, self._available())

    def msg_cycles_refunded128(self, dst: int) -> None:
        self._write128("msg_cycles_refunded128", dst, self.inp.cycles_refunded)

    def _accept(self, maximum: int) -> int:
        amount = min(maximum, self._available())
        self.out.cycles_accepted += amount
        return amount

    def msg_cycles_accept128(self, high: int, low: int, dst: int) -> None:
        self._write128("msg_cycles_accept128", dst, self._accept(self._u128(high, low)))

    def cycles_burn128(self, high: int, low: int, dst: int) -> None:
        amount = min(self._u128(high, low), self._liquid())
        self.out.cycles_burned += amount
        self._write128("cycles_burn128", dst, amount)

    def canister_cycle_balance128(self, dst: int) -> None:
        self._write128("canister_cycle_balance128", dst, self._balance())

    def canister_liquid_cycle_balance128(self, dst: int) -> None:
        self._write128("canister_liquid_cycle_balance128", dst, self._liquid())

    def msg_cycles_available(self) -> int:
        return self._cycles64(self._available())

    def msg_cycles_refunded(self) -> int:
        return self._cycles64(self.inp.cycles_refunded)

    def msg_cycles_accept(self, maximum: int) -> int:
        return self._cycles64(self._accept(maximum & _U64))

    def canister_cycle_balance(self) -> int:
        return self._cycles64(self._balance())

    @staticmethod
    def _cycles64(amount: int) -> int:
        """A cycles amount for a 64-bit API: IC0502 if it does not fit (as on the IC)."""
        if amount > _U64:
            raise wasm_trap("cycles amount exceeds 64-bit representation")
        return _signed64(amount)

    # -- self and environment ---------------------------------------------------------------

    def canister_self_size(self) -> int:
        return len(self.inp.canister_id)

    def canister_self_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("canister_self_copy", "id", self.inp.canister_id, dst, offset, size)

    def canister_status(self) -> int:
        return self.inp.status

    def canister_version(self) -> int:
        return self.inp.version

    def subnet_self_size(self) -> int:
        return len(self.inp.subnet_id)

    def subnet_self_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("subnet_self_copy", "id", self.inp.subnet_id, dst, offset, size)

    def root_key_size(self) -> int:
        return len(self.inp.root_key)

    def root_key_copy(self, dst: int, offset: int, size: int) -> None:
        self._copy_out("root_key_copy", "bytes", self.inp.root_key, dst, offset, size)

    def time(self) -> int:
        return self.inp.time_ns

    def global_timer_set(self, timestamp: int) -> int:
        previous = self._timer
        self._timer = timestamp & _U64
        self.out.global_timer_ns = self._timer
        return _signed64(previous)

    def performance_counter(self, counter_type: int) -> int:
        counter_type &= _U32
        if counter_type == 0:
            return self.instructions()
        if counter_type == 1:
            return self.inp.call_context_instructions + self.instructions()
        raise contract_violation(f"Error getting performance counter type {counter_type}")

    def is_controller(self, src: int, size: int) -> int:
        principal = self._read("ic0.is_controller", src, size)
        if len(principal) > MAX_PRINCIPAL:
            raise invalid_principal()
        return int(principal in self.inp.controllers)

    def in_replicated_execution(self) -> int:
        return int(self.inp.context not in _NON_REPLICATED)

    # -- certification ---------------------------------------------------------------------

    def certified_data_set(self, src: int, size: int) -> None:
        src, size = self._ptr(src), self._ptr(size)
        if size > MAX_CERTIFIED_DATA:
            raise contract_violation(
                "ic0_certified_data_set failed because the passed data must be no larger "
                f"than {MAX_CERTIFIED_DATA} bytes. Found {size} bytes."
            )
        length = self.heap.size()
        if src + size > length:
            raise contract_violation(
                "ic0_certified_data_set failed because src + size is out of bounds. "
                f"Found src = {src} and size = {size} while src + size must be <= {length}"
            )
        self.out.certified_data = self.heap.read(src, size)

    def data_certificate_present(self) -> int:
        return int(self.inp.data_certificate is not None)

    def _certificate(self, name: str) -> bytes:
        if self.inp.data_certificate is None:
            raise self.context_error(name)
        return self.inp.data_certificate

    def data_certificate_size(self) -> int:
        return len(self._certificate("data_certificate_size"))

    def data_certificate_copy(self, dst: int, offset: int, size: int) -> None:
        cert = self._certificate("data_certificate_copy")
        dst, offset, size = self._ptr(dst), self._ptr(offset), self._ptr(size)
        if offset + size > len(cert):
            raise contract_violation(
                "ic0_data_certificate_copy failed because offset + size is out of bounds. "
                f"Found offset = {offset} and size = {size} while offset + size must be "
                f"<= {len(cert)}"
            )
        length = self.heap.size()
        if dst + size > length:
            raise contract_violation(
                "ic0_data_certificate_copy failed because dst + size is out of bounds. "
                f"Found dst = {dst} and size = {size} while dst + size must be <= {length}"
            )
        self.heap.write(dst, cert[offset : offset + size])

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
        # As on the IC (request_in_prep.rs): the method name is read first and decoded
        # lossily; a callee blob longer than a principal is InvalidPrincipalId (IC0504).
        # A call still under construction is discarded, its cycles go back to the balance.
        method = self._read("ic0.call_new method_name", name_src, name_size).decode(
            "utf-8", errors="replace"
        )
        callee = self._read("ic0.call_new callee_src", callee_src, callee_size)
        if len(callee) > MAX_PRINCIPAL:
            raise invalid_principal()
        self._staged = StagedCall(
            callee, method, self._ptr(reply_fun), self._ptr(reply_env), self._ptr(reject_fun),
            self._ptr(reject_env),
        )

    def _staged_call(self, name: str) -> StagedCall:
        if self._staged is None:
            raise contract_violation(f"{name} called when no call is under construction.")
        return self._staged

    def call_on_cleanup(self, fun: int, env: int) -> None:
        staged = self._staged_call("ic0.call_on_cleanup")
        if staged.cleanup is not None:
            raise contract_violation(
                "ic0.call_on_cleanup can be called at most once between `ic0.call_new` "
                "and `ic0.call_perform`"
            )
        staged.cleanup = (self._ptr(fun), self._ptr(env))

    def call_data_append(self, src: int, size: int) -> None:
        staged = self._staged_call("ic0.call_data_append")
        staged.payload += self._read("ic0.call_data_append", src, size)

    def call_with_best_effort_response(self, timeout_seconds: int) -> None:
        staged = self._staged_call("ic0.call_with_best_effort_response")
        if staged.timeout_seconds is not None:
            raise contract_violation(
                "ic0_call_with_best_effort_response failed because a timeout is already set."
            )
        staged.timeout_seconds = min(timeout_seconds & _U32, MAX_CALL_TIMEOUT_SECONDS)

    def _add_cycles(self, name: str, amount: int) -> None:
        staged = self._staged_call(name)
        if amount > self._liquid():
            # `withdraw_cycles_for_transfer` fails with InsufficientCyclesBalance, which
            # the IC reports as IC0504 without revealing the top-up amount.
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister {Principal(self.inp.canister_id).to_text()} is out of cycles",
            )
        staged.cycles += amount

    def call_cycles_add128(self, high: int, low: int) -> None:
        self._add_cycles("ic0_call_cycles_add128", self._u128(high, low))

    def call_cycles_add(self, amount: int) -> None:
        self._add_cycles("ic0_call_cycles_add", amount & _U64)

    def call_perform(self) -> int:
        staged = self._staged_call("ic0.call_perform")
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

    def _stable32_pages(self) -> int:
        pages = self._stable_pages()
        if pages > MAX_STABLE32_PAGES:
            raise wasm_trap("32 bit stable memory api used on a memory larger than 4GB")
        return pages

    def _stable_grow(self, extra: int, maximum: int) -> int:
        old = self._stable_pages()
        if old + extra > maximum:
            return -1
        self.stable.resize((old + extra) * WASM_PAGE)
        return old

    def _stable_check(self, offset: int, size: int) -> None:
        if offset + size > self.stable.size_bytes:
            raise wasm_trap("stable memory out of bounds")

    def _heap_check(self, address: int, size: int) -> None:
        """Stable-memory calls report a bad heap range as a Wasm trap (stable_memory.rs)."""
        if address + size > self.heap.size():
            raise wasm_trap("heap out of bounds")

    def _stable_write(self, offset: int, src: int, size: int) -> None:
        self._stable_check(offset, size)
        self._heap_check(src, size)
        self.stable.write(offset, self.heap.read(src, size))

    def _stable_read(self, dst: int, offset: int, size: int) -> None:
        self._stable_check(offset, size)
        self._heap_check(dst, size)
        self.heap.write(dst, self.stable.read(offset, size))

    def stable64_size(self) -> int:
        return self._stable_pages()

    def stable64_grow(self, new_pages: int) -> int:
        return self._stable_grow(new_pages & _U64, MAX_STABLE_PAGES)

    def stable64_write(self, offset: int, src: int, size: int) -> None:
        self._stable_write(offset & _U64, src & _U64, size & _U64)

    def stable64_read(self, dst: int, offset: int, size: int) -> None:
        self._stable_read(dst & _U64, offset & _U64, size & _U64)

    def stable_size(self) -> int:
        return self._stable32_pages()

    def stable_grow(self, new_pages: int) -> int:
        self._stable32_pages()
        return self._stable_grow(new_pages & _U32, MAX_STABLE32_PAGES)

    def stable_write(self, offset: int, src: int, size: int) -> None:
        self._stable32_pages()
        self._stable_write(offset & _U32, src & _U32, size & _U32)

    def stable_read(self, dst: int, offset: int, size: int) -> None:
        self._stable32_pages()
        self._stable_read(dst & _U32, offset & _U32, size & _U32)

    # -- costs --------------------------------------------------------------------------------

    def cost_call(self, method_name_size: int, payload_size: int, dst: int) -> None:
        fees = self.inp.fees
        cost = fees.call(method_name_size & _U64, payload_size & _U64)
        self._write128("cost_call", dst, cost + fees.response_reservation())

    def cost_create_canister(self, dst: int) -> None:
        self._write128("cost_create_canister", dst, self.inp.fees.create_canister())

    def cost_http_request(self, request_size: int, max_res_bytes: int, dst: int) -> None:
        cost = self.inp.fees.http_request(request_size & _U64, max_res_bytes & _U64)
        self._write128("cost_http_request", dst, cost)

    def _cost_signature(self, name: str, src: int, size: int, variant: int, dst: int) -> int:
        raw = self._read(f"ic0.{name} heap", src, size)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise contract_violation(
                f"Failed to decode key name {raw.decode('utf-8', errors='replace')}"
            ) from None
        if variant & _U32 != 0:
            return 1  # unknown curve or algorithm
        self._write128(name, dst, self.inp.fees.sign_with_ecdsa_cost())
        return 0

    def cost_sign_with_ecdsa(self, src: int, size: int, curve: int, dst: int) -> int:
        return self._cost_signature("cost_sign_with_ecdsa", src, size, curve, dst)

    def cost_sign_with_schnorr(self, src: int, size: int, algorithm: int, dst: int) -> int:
        return self._cost_signature("cost_sign_with_schnorr", src, size, algorithm, dst)

    def cost_vetkd_derive_key(self, src: int, size: int, curve: int, dst: int) -> int:
        return self._cost_signature("cost_vetkd_derive_key", src, size, curve, dst)

    # -- debugging --------------------------------------------------------------------------

    def _message_bytes(self, src: int, size: int) -> bytes | None:
        """``size`` bytes at ``src``, or None if out of bounds (never traps)."""
        src, size = self._ptr(src), self._ptr(size)
        if src + size > self.heap.size():
            return None
        return self.heap.read(src, size)

    def debug_print(self, src: int, size: int) -> None:
        # Never traps: the IC logs a placeholder instead (`save_log_message`).
        message = self._message_bytes(src, size)
        self.out.logs.append(
            b"(debug_print message out of memory bounds)" if message is None else message
        )

    def trap(self, src: int, size: int) -> None:
        # Always traps with IC0503; the message is cut to 32 KiB, and out of bounds it is a
        # placeholder (`ic0_trap` in rs/system_api/src/lib.rs).
        message = self._message_bytes(src, min(self._ptr(size), MAX_TRAP_MESSAGE))
        text = (
            "(trap message out of memory bounds)" if message is None
            else message.decode("utf-8", errors="replace")
        )
        raise CanisterTrap(
            ErrorCode.CANISTER_CALLED_TRAP, f"Canister called `ic0.trap` with message: '{text}'"
        )

    # -- results -----------------------------------------------------------------------------

    def finish(self) -> ExecutionOutput:
        """The collected effects; a call still under construction is dropped, as on the IC."""
        self._staged = None
        self.out.instructions = self.instructions()
        return self.out


def _signed64(value: int) -> int:
    """An unsigned 64-bit value as the signed int wasm's i64 results expect."""
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value
