"""Message execution: one message of a canister run in its sandbox, and its effects applied.

How it works: the subnet's scheduler hands `MessageExecutor` one message at a time: a
request (`execute_request`), a response to a call the canister made
(`execute_response`), or a heartbeat or global timer (`run_task`). The executor checks
that the canister can take it, prepays the instruction limit (`replica.charging`),
executes the entry point in the canister's sandbox, settles the fee, and applies the
output (`_apply_output`): cycles moved, certified data and timer set, calls made
turned into requests with callbacks, and the reply or reject of the call context sent
back. Requests and answers leave through the `Router` (the subnet: input queues, the
XNet streams to other subnets, and the ingress history for ingress answers). What the
round did is added to ``report``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from icframework.core import ErrorCode, RejectCode
from icframework.core.ic0 import Context
from icframework.replica.canisters import Canisters, canister_text
from icframework.replica.charging import Charging
from icframework.replica.execution.sandbox import ExecutionResult
from icframework.replica.execution.system_api import CanisterTrap, ExecutionOutput, Reply
from icframework.replica.messages import (
    Callback,
    CallContext,
    CallOrigin,
    OriginKind,
    RejectInfo,
    Request,
    Response,
)
from icframework.replica.metrics import SubnetMetrics
from icframework.replica.state import CanisterStatus

if TYPE_CHECKING:
    from icframework.replica.subnet import SubnetConfig

MANAGEMENT = b""
"""The management canister's id (``aaaaa-aa``) as raw bytes."""


@dataclass(frozen=True, slots=True)
class CanisterEvent:
    """An event a canister published (``events.publish``) in a message that committed.

    ``value`` is the canister's bytes (Candid for SDK canisters); ``height`` the round
    that committed it and ``index`` its position among that round's events.
    """

    canister_id: bytes
    topic: str
    value: bytes
    height: int
    index: int


EventListener = Callable[[Sequence[CanisterEvent]], None]
"""Called after each round that committed events, in the round loop's thread, with
that round's events in commit order. It must be quick and must not touch the subnet."""


@dataclass(slots=True)
class RoundReport:
    """What a round did; for logs, benchmarks and tests."""

    height: int
    time_ns: int
    messages: int = 0
    instructions: int = 0
    complexity: int = 0
    """Host-call cost counted against the round's budget but not charged in cycles."""
    logs: list[tuple[bytes, bytes]] = field(default_factory=list)
    events: list[CanisterEvent] = field(default_factory=list)


class Router(Protocol):
    """Where the executor sends what a message produced (the subnet)."""

    def send_request(self, request: Request) -> None:
        """Deliver a call a canister made: to a canister of this subnet (its input
        queue), to one on another subnet (the XNet stream to that subnet), or, if no
        subnet hosts the callee, answer it with a ``DESTINATION_INVALID`` reject that
        refunds the attached cycles."""

    def send_response(self, origin: CallOrigin, *, reply: bytes | None = None,
                      reject: RejectInfo | None = None, refund: int = 0,
                      respondent: bytes = b"") -> None:
        """Deliver the answer of a call to whoever is waiting for it."""


class MessageExecutor:
    """Executes messages of ``canisters`` (see the module docstring).

    ``report`` is the round in progress; the subnet sets it when a round begins.
    """

    def __init__(self, canisters: Canisters, charging: Charging, config: SubnetConfig,
                 metrics: SubnetMetrics, router: Router) -> None:
        self.canisters = canisters
        self.charging = charging
        self.config = config
        self.metrics = metrics
        self.router = router
        self.report = RoundReport(0, 0)

    def run_task(self, canister_id: bytes, export: str) -> None:
        """Run a heartbeat or a due global timer (``export``) of a running canister."""
        state = self.canisters.states[canister_id]
        sandbox = self.canisters.sandboxes.get(canister_id)
        if sandbox is None or state.status is not CanisterStatus.RUNNING:
            return
        if export == "canister_global_timer":
            if not state.global_timer_ns or state.global_timer_ns > self.canisters.now():
                return
            state.global_timer_ns = 0
            self.canisters.mark_dirty(canister_id)
        limit = self.config.update_instruction_limit
        if not self.charging.prepay(canister_id, limit):
            return
        context = CallContext(state.new_id(), CallOrigin(OriginKind.SYSTEM), MANAGEMENT, export,
                              responded=True)
        state.call_contexts[context.id] = context
        inp = self.canisters.execution_input(state, Context.SYSTEM_TASK, MANAGEMENT)
        result = sandbox.execute(export, inp, limit, persist=True)
        self._settle_execution(canister_id, limit, result)
        if result.output is not None:
            self._apply_output(canister_id, context, result.output)
        else:
            self._log_trap(canister_id, export, result)
        self._maybe_close(canister_id, context, result.trap)

    # -- executing requests ------------------------------------------------------------------

    def execute_request(self, request: Request) -> None:
        canister_id = request.receiver
        name = canister_text(canister_id)
        state = self.canisters.states.get(canister_id)
        if state is None:
            self._reject(request, ErrorCode.CANISTER_NOT_FOUND, f"Canister {name} not found")
            return
        sandbox = self.canisters.sandboxes.get(canister_id)
        if state.status is not CanisterStatus.RUNNING:
            code = (ErrorCode.CANISTER_STOPPED if state.status is CanisterStatus.STOPPED
                    else ErrorCode.CANISTER_STOPPING)
            self._reject(request, code, f"Canister {name} is {state.status.value}")
            return
        if sandbox is None:
            self._reject(
                request, ErrorCode.CANISTER_WASM_MODULE_NOT_FOUND,
                f"Error from Canister {name}: Attempted to execute a message, but the canister "
                "contains no Wasm module.",
            )
            return
        module = sandbox.module
        if request.method in module.updates:
            export, context, persist = f"canister_update {request.method}", Context.UPDATE, True
        elif request.method in module.queries:
            export, context = f"canister_query {request.method}", Context.REPLICATED_QUERY
            persist = False
        elif request.method in module.composite_queries:
            self._reject(
                request, ErrorCode.COMPOSITE_QUERY_CALLED_IN_REPLICATED_MODE,
                f"Error from Canister {name}: Composite query cannot be called in replicated "
                "mode",
            )
            return
        else:
            self._reject(
                request, ErrorCode.CANISTER_METHOD_NOT_FOUND,
                f"Error from Canister {name}: Canister has no update method '{request.method}'.",
            )
            return
        limit = self.config.update_instruction_limit
        frozen = self.charging.frozen_reject(canister_id, self.config.fees.execution_prepayment(
            limit, module.memory64))
        if frozen is not None:
            self.router.send_response(request.origin, reject=frozen, refund=request.cycles)
            return
        self.charging.prepay(canister_id, limit)
        context_state = CallContext(state.new_id(), request.origin, request.sender,
                                    request.method, cycles_available=request.cycles)
        state.call_contexts[context_state.id] = context_state
        inp = self.canisters.execution_input(state, context, request.sender, arg=request.arg,
                          cycles_available=request.cycles)
        result = sandbox.execute(export, inp, limit, persist=persist)
        self._settle_execution(canister_id, limit, result)
        context_state.instructions += result.instructions
        if result.output is not None:
            if not persist:
                result.output.calls.clear()
            self._apply_output(canister_id, context_state, result.output)
        self._maybe_close(canister_id, context_state, result.trap)

    def execute_response(self, response: Response) -> None:
        canister_id = response.origin.canister_id
        state = self.canisters.states.get(canister_id)
        if state is None:
            return
        callback = state.callbacks.pop(response.origin.callback_id, None)
        if callback is None:
            return
        self.canisters.mark_dirty(canister_id)
        size = len(response.reply) if response.reply is not None else (
            len(response.reject.message.encode()) if response.reject else 0)
        self.charging.refund_response(state, size, response.refund)
        context_state = state.call_contexts.get(callback.call_context_id)
        if context_state is None:
            return
        context_state.outstanding -= 1
        sandbox = self.canisters.sandboxes.get(canister_id)
        if sandbox is None or callback.extra.get("orphaned"):
            self._maybe_close(canister_id, context_state, None)
            return
        if response.reply is not None:
            target, context, arg = callback.reply, Context.REPLY_CALLBACK, response.reply
            reject_code, reject_message = 0, ""
        else:
            assert response.reject is not None
            target, context, arg = callback.reject, Context.REJECT_CALLBACK, b""
            reject_code, reject_message = int(response.reject.code), response.reject.message
        limit = self.config.update_instruction_limit
        self.charging.prepay(canister_id, limit)
        inp = self.canisters.execution_input(
            state, context, context_state.caller, arg=arg, reject_code=reject_code,
            reject_message=reject_message, cycles_available=context_state.cycles_available,
            cycles_refunded=response.refund, responded=context_state.responded,
            call_context_instructions=context_state.instructions,
        )
        result = sandbox.execute(target, inp, limit, persist=True)
        self._settle_execution(canister_id, limit, result)
        context_state.instructions += result.instructions
        if result.output is not None:
            self._apply_output(canister_id, context_state, result.output)
        elif callback.cleanup is not None:
            self._log_trap(canister_id, "callback", result)
            cleanup_input = self.canisters.execution_input(
                state, Context.CLEANUP, context_state.caller, reject_code=reject_code)
            cleanup = sandbox.execute(callback.cleanup, cleanup_input, limit, persist=True)
            self._settle_execution(canister_id, 0, cleanup)
            if cleanup.output is not None:
                self._apply_side_effects(canister_id, cleanup.output)
        self._maybe_close(canister_id, context_state, result.trap)

    # -- applying effects ---------------------------------------------------------------------

    def _settle_execution(self, canister_id: bytes, prepaid_limit: int,
                          result: ExecutionResult) -> None:
        """Refund the unused part of the prepayment and count the instructions."""
        state = self.canisters.states[canister_id]
        sandbox = self.canisters.sandboxes.get(canister_id)
        self.charging.settle(canister_id, prepaid_limit, result.instructions)
        report = self.report
        report.instructions += result.instructions
        report.complexity += result.complexity
        self.metrics.executed(canister_id, result.instructions)  # metrics:
        if result.output is not None:
            for topic, value in getattr(result, "events", ()):
                report.events.append(
                    CanisterEvent(canister_id, topic, value, self.report.height, len(report.events))
                )
        if sandbox is not None:
            state.heap_size = sandbox.heap_size
            state.globals = dict(sandbox.committed_globals)
        state.stable_size = self.canisters.stables[canister_id].size_bytes
        self.canisters.mark_dirty(canister_id)

    def _apply_side_effects(self, canister_id: bytes, output: ExecutionOutput) -> None:
        state = self.canisters.states[canister_id]
        state.cycles += output.cycles_accepted - output.cycles_burned
        state.cycles -= output.cycles_sent + output.call_fees
        state.cycles_consumed += output.cycles_burned
        if output.certified_data is not None:
            state.certified_data = output.certified_data
        if output.global_timer_ns is not None:
            state.global_timer_ns = output.global_timer_ns
        state.version += 1
        for line in output.logs:
            self.report.logs.append((canister_id, line))

    def _apply_output(self, canister_id: bytes, context_state: CallContext,
                      output: ExecutionOutput) -> None:
        state = self.canisters.states[canister_id]
        self._apply_side_effects(canister_id, output)
        context_state.cycles_available -= output.cycles_accepted
        for call in output.calls:
            callback = Callback(
                state.new_id(), context_state.id, call.callee,
                (call.reply_fun, call.reply_env), (call.reject_fun, call.reject_env),
                call.cleanup, call.cycles, self.config.fees.response_reservation(),
            )
            state.callbacks[callback.id] = callback
            context_state.outstanding += 1
            origin = CallOrigin(OriginKind.CANISTER, canister_id=canister_id,
                                callback_id=callback.id)
            request = Request(canister_id, call.callee, call.method, bytes(call.payload), origin,
                              call.cycles)
            self.router.send_request(request)
        response = output.response
        if response is not None and not context_state.responded:
            context_state.responded = True
            refund = context_state.cycles_available
            context_state.cycles_available = 0
            if isinstance(response, Reply):
                self.router.send_response(context_state.origin, reply=response.data,
                                          refund=refund, respondent=canister_id)
            else:
                self.router.send_response(context_state.origin, reject=RejectInfo(
                    RejectCode.CANISTER_REJECT, response.message,
                    ErrorCode.CANISTER_REJECTED_MESSAGE), refund=refund, respondent=canister_id)

    def _maybe_close(self, canister_id: bytes, context_state: CallContext,
                     trap: CanisterTrap | None) -> None:
        state = self.canisters.states[canister_id]
        if trap is not None and not context_state.responded:
            if context_state.outstanding == 0 or context_state.origin.kind is OriginKind.SYSTEM:
                self._log_trap_message(canister_id, trap, context_state.method)
                self._fail_context(canister_id, context_state, RejectInfo(
                    RejectCode.CANISTER_ERROR,
                    f"Error from Canister {canister_text(canister_id)}: {trap.message}",
                    trap.error_code))
                return
        elif trap is not None:
            self._log_trap_message(canister_id, trap, context_state.method)
        if context_state.outstanding > 0:
            return
        if not context_state.responded:
            self._fail_context(canister_id, context_state, RejectInfo(
                RejectCode.CANISTER_ERROR,
                f"Error from Canister {canister_text(canister_id)}: Canister did not reply to "
                "the call", ErrorCode.CANISTER_DID_NOT_REPLY))
            return
        state.call_contexts.pop(context_state.id, None)

    def _fail_context(self, canister_id: bytes, context_state: CallContext,
                      reject: RejectInfo) -> None:
        state = self.canisters.states[canister_id]
        context_state.responded = True
        refund = context_state.cycles_available
        context_state.cycles_available = 0
        self.router.send_response(context_state.origin, reject=reject, refund=refund,
                                  respondent=canister_id)
        if context_state.outstanding == 0:
            state.call_contexts.pop(context_state.id, None)

    def _log_trap(self, canister_id: bytes, what: str, result: ExecutionResult) -> None:
        if result.trap is not None:
            self.report.logs.append(
                (canister_id, f"[TRAP in {what}] {result.trap.message}".encode())
            )

    def _log_trap_message(self, canister_id: bytes, trap: CanisterTrap, method: str) -> None:
        self.report.logs.append((canister_id, f"[TRAP] {trap.message}".encode()))
        self.metrics.trapped(canister_id, method, trap.message)  # metrics:

    def _reject(self, request: Request, code: ErrorCode, message: str) -> None:
        self.router.send_response(
            request.origin, reject=RejectInfo(code.reject_code, message, code),
            refund=request.cycles)
