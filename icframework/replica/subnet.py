"""The subnet: a deterministic state machine that executes canister messages in rounds.

How it works: `execute_round` fixes the round time (from the injected clock, never
re-read during execution), then gives canisters turns of one message each (a
heartbeat, a due global timer or the head of the input queue), the fewest instructions
used lately first, until no message waits, the round's instruction budget is spent or
the per-round message cap is hit; between messages it calls the ``between_messages``
hook, through which the service lets waiting callers in. Finally it commits everything
the round changed to the state store as one atomic transaction; only then do replies
become visible. A restarted subnet loads the last committed round and continues.

An update call, top to bottom:

1. **Ingress**: `check_ingress` runs the IC's submission checks and
   ``canister_inspect_message`` (`replica.ingress.check_update_call`);
   `submit_ingress` records the call as ``received`` and queues it
   (`replica.ingress.IngressHistory.submit`).
2. **Induction**: the next round's `_begin_round` → `_induct_ingress` takes the
   induction fee (`replica.charging.Charging.induct`), marks the call ``processing``
   and puts it on its canister's input queue (`enqueue`).
3. **Execution**: `_execute_next` picks the canister (`replica.priorities`) and hands the
   message to `replica.message_execution.MessageExecutor.execute_request`: cycles are
   prepaid (`Charging.prepay`), the sandbox executes (`replica.execution`), the fee
   is settled and the output applied (calls made are enqueued; the reply goes to
   `send_response`, which stages an ingress answer in `IngressHistory.stage_answer`).
4. **Commit**: `_end_round` publishes the staged answers
   (`IngressHistory.publish_answers`), prunes the ingress history, and `_commit` writes
   the canisters' changes (`replica.canisters.Canisters.write_changes`), the ingress
   records and the queues in one `StateStore.commit_round`.
5. **Certification**: `_commit` hands the changed request and canister ids to the
   certifier (`take_certification_changes`), which updates the state tree and signs it
   once per height (`replica.certification.StateCertifier`); the call's certificate
   is cut from it.

Calls between subnets: given a routing (``routing``, `replica.xnet.Routing`: which
subnet hosts a canister), a request to a canister on another subnet, and the response
to a call that came from one, go into the outgoing XNet stream to that subnet
(`replica.xnet.XNetState`, committed with the round). The transport takes
`outgoing_slices` and hands each to the destination's `induct_slice`, which takes the
new messages; the next round inducts them (`_induct_xnet`) at its start, after ingress.
A request for a canister this subnet does not host is answered with a
``DESTINATION_INVALID`` reject, one beyond the callee's input queue capacity with a
``SYS_TRANSIENT`` queue-full reject, attached cycles refunded, through the reverse stream.
A canister's call to the management canister about a canister on another subnet
(`replica.xnet.management_target`) goes to that subnet's management canister, as on
the IC. Without a routing (the embedded replica) a call to an unknown canister is
rejected at once, as before. Fees are those of any call (`replica.cycles.FeeSchedule.call`:
the IC's xnet call and byte fees, charged to the caller when it calls, the response
reservation refunded when the answer lands), the same on one subnet or across two.

Canister records, sandboxes and memories live in `replica.canisters`, their input
queues in `replica.input_queues`, their turn priorities in `replica.priorities`, the
cycles policy in `replica.charging` (fees: `replica.cycles`), message execution in
`replica.message_execution`, non-replicated and composite queries in
`replica.queries`; this module schedules rounds and routes messages. Callers reach
canister state as ``subnet.canister_state`` and the ingress history as
``subnet.ingress``; the subnet does not pass their members through. Messages to the
management canister (``aaaaa-aa``) go to the injected `ManagementHandler`
(`replica.management.ManagementCanister` in the embedded replica, which sees the subnet
only through `replica.management.SubnetServices`). Not thread-safe:
one caller drives rounds and queries at a time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from icframework.core import ErrorCode, RejectCode
from icframework.replica.canisters import (
    KV_CANISTER_PREFIX,
    KV_META,
    KV_MODULES,
    Canisters,
    canister_text,
    kv_namespace,
)
from icframework.replica.charging import Charging
from icframework.replica.cycles import FeeSchedule
from icframework.replica.errors import ReplicaError
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.runtime import RuntimeLoader
from icframework.replica.ingress import KV_INGRESS, IngressHistory, check_update_call
from icframework.replica.input_queues import INPUT_QUEUE_CAPACITY, InputQueues
from icframework.replica.message_execution import (
    MANAGEMENT,
    CanisterEvent,
    EventListener,
    MessageExecutor,
    RoundReport,
)
from icframework.replica.messages import (
    CallOrigin,
    IngressQueue,
    OriginKind,
    RejectInfo,
    Request,
    Response,
)
from icframework.replica.metrics import SubnetMetrics
from icframework.replica.priorities import TurnPriorities
from icframework.replica.queries import QueryResult, QueryRunner
from icframework.replica.state import (
    CanisterStatus,
    CertificationChanges,
    IngressStatus,
)
from icframework.replica.store import RoundChanges, StateStore
from icframework.replica.xnet import (
    Routing,
    StreamIndex,
    StreamSlice,
    XNetState,
    management_target,
)

__all__ = [
    "MANAGEMENT",
    "CanisterEvent",
    "EventListener",
    "ManagementHandler",
    "QueryResult",
    "RoundReport",
    "Subnet",
    "SubnetConfig",
    "canister_text",
    "kv_namespace",
]

logger = logging.getLogger(__name__)



@dataclass(frozen=True, slots=True)
class SubnetConfig:
    """Limits and fees of a subnet; the defaults are an IC application subnet's.

    Instruction limits are per message execution; sizes are bytes; cycles amounts.

    ``update_instruction_limit`` (updates, callbacks, heartbeats, timers) is the IC's
    limit without deterministic time slicing, 5 B: wasmtime-py cannot suspend and resume
    an execution, so a message runs whole and this bounds how long it holds the subnet
    (about 5-8 s of wall time here). ``round_instruction_limit`` is the round's budget:
    no message starts once the round has used it, so a round executes at most that
    plus one message (with the defaults 7 B, the IC's per-round limit). Both count
    the host-call complexity of ``system_api.HOST_CALL_COMPLEXITY``.
    """

    subnet_id: bytes = b""
    subnet_name: str = "root"
    """The subnet's name in the registry (``root``, ``app1``, …): the XNet streams' ends."""
    root_key: bytes = b""
    first_canister_index: int = 0x8000000000100000
    last_canister_index: int = 0x80000000001FFFFF
    update_instruction_limit: int = 5_000_000_000
    query_instruction_limit: int = 5_000_000_000
    install_instruction_limit: int = 300_000_000_000
    inspect_instruction_limit: int = 200_000_000
    round_instruction_limit: int = 2_000_000_000
    max_messages_per_round: int = 10_000
    default_provisional_cycles: int = 100_000_000_000_000
    max_reply_bytes: int = 2 * 1024 * 1024
    max_query_reply_bytes: int = 3 * 1024 * 1024
    fees: FeeSchedule = field(default_factory=FeeSchedule)




@dataclass(slots=True)
class _RoundPlan:
    """The round in progress: its system tasks, turns, and what it has used so far.

    ``used`` counts instructions and host-call complexity against
    `SubnetConfig.round_instruction_limit`; ``messages`` counts queue messages against
    `SubnetConfig.max_messages_per_round`.
    """

    report: RoundReport
    tasks: dict[bytes, deque[str]] = field(default_factory=dict)
    turned: set[bytes] = field(default_factory=set)
    executed: set[bytes] = field(default_factory=set)
    used: int = 0
    messages: int = 0
    error: BaseException | None = None



class ManagementHandler(Protocol):
    """What the subnet needs of the management canister (``aaaaa-aa``)."""

    def check_ingress(self, sender: bytes, method: str, arg: bytes) -> None:
        """Raise `CanisterError` if an ingress call to ``method`` would be refused."""

    def handle(self, request: Request) -> None:
        """Execute a request; answer it through `Subnet.respond` (now or later)."""

    def query(self, sender: bytes, method: str, arg: bytes) -> QueryResult:
        """Answer a non-replicated query."""


class Subnet:
    """One subnet's replicated state and its execution loop (see the module docstring)."""

    def __init__(
        self,
        store: StateStore,
        engine: ExecutionEngine,
        config: SubnetConfig | None = None,
        clock: Callable[[], int] = time.time_ns,
        ingress_queue: IngressQueue | None = None,
        *,
        management: Callable[[Subnet], ManagementHandler],
        python_runtime: RuntimeLoader | None = None,
        event_listeners: list[EventListener] | None = None,
        metrics: SubnetMetrics | None = None,
        routing: Routing | None = None,
    ) -> None:
        """``management`` builds the handler of management canister requests for this
        subnet (`replica.management.ManagementCanister`). ``python_runtime`` loads the
        runtime of Python canisters; by default the process-wide loader
        (`icframework.replica.set_runtime_loader`).
        ``event_listeners`` receive each round's committed events (see `EventListener`);
        the list is shared, not copied, so listeners may be added later. ``metrics``
        watches what the subnet does (a new `SubnetMetrics` by default). ``routing``
        says which subnet hosts a canister this one does not (see the module docstring);
        it may also be set later as ``subnet.routing``."""
        self.store = store
        self.engine = engine
        self.config = config or SubnetConfig()
        self.clock = clock
        self.python_runtime = python_runtime
        self.event_listeners: list[EventListener] = (
            event_listeners if event_listeners is not None else []
        )
        self.height = store.height()
        self.time_ns = store.time_ns()
        self.canister_state = Canisters(store, engine, self.config, self._now, python_runtime)
        self.charging = Charging(self.canister_state, self.config.fees)
        self.queries = QueryRunner(self.canister_state, self.config)
        self.queues = InputQueues()
        self.routing = routing
        self.xnet = XNetState(self.config.subnet_name)
        self.ingress = IngressHistory(ingress_queue)
        self.metrics = metrics if metrics is not None else SubnetMetrics()
        """Fed at the hooks marked ``metrics:`` below; never read by execution."""
        self.executor = MessageExecutor(self.canister_state, self.charging, self.config,
                                        self.metrics, self)
        self.management_factory = management
        self.management: ManagementHandler = management(self)
        self._random_counter = 0
        self._certification_changes = CertificationChanges()
        self._report = RoundReport(self.height, self.time_ns)
        self._round: _RoundPlan | None = None
        self.priorities = TurnPriorities()
        self.between_messages: Callable[[], None] | None = None
        """Called by `execute_round` after each message (see `ReplicaService`)."""
        self._load()

    def _now(self) -> int:
        return self.time_ns

    # -- loading -----------------------------------------------------------------------------

    def _load(self) -> None:
        self.canister_state.load()
        self.ingress.load(self.store)
        self.queues.load(self.store)
        self.xnet.load(self.store)

    def refresh(self, changes: RoundChanges) -> None:
        """Catch up with ``changes``: rounds another process (the subnet's writer) committed
        to this subnet's store, already applied to it; what a read-only copy does instead
        of loading the whole subnet again.

        Height and time come from the store; canisters as `Canisters.refresh` says (only
        those the changes name); changed request statuses are read into the ingress
        history; any other subnet-level key (input queues, XNet streams) has those
        loaded again. The changed canister and request ids go to the certifier
        (`take_certification_changes`), so it rehashes only them. The result answers,
        and certifies, like a subnet loaded from the store afresh (turn priorities,
        metrics and the ingress pruning schedule, which only rounds use, are the
        exception: a copy never runs rounds). Raises `ReplicaError` in a round, or if a
        canister cannot be restored: then load the subnet again (`Replica.reload`).
        """
        if self._round is not None:
            raise ReplicaError(
                f"cannot refresh subnet {self.config.subnet_name!r} during round "
                f"{self.height}: refresh between rounds"
            )
        self.height = self.store.height()
        self.time_ns = self.store.time_ns()
        certified = self._certification_changes
        certified.canisters |= self.canister_state.refresh(changes)
        requests: set[bytes] = set()
        subnet_level = False
        for namespace, key in [*changes.kv_deletes, *changes.kv_puts]:
            if namespace == KV_INGRESS:
                requests.add(key)
            elif namespace not in (KV_META, KV_MODULES) and \
                    not namespace.startswith(KV_CANISTER_PREFIX):
                subnet_level = True
        statuses = self.ingress.statuses
        for request_id in requests:
            record = self.store.kv_get(KV_INGRESS, request_id)
            if record is None:
                statuses.pop(request_id, None)
            else:
                statuses[request_id] = IngressStatus.from_record(record)
        certified.requests |= requests
        if subnet_level:
            self.queues = InputQueues()
            self.queues.load(self.store)
            self.xnet = XNetState(self.config.subnet_name)
            self.xnet.load(self.store)

    # -- services of the management canister (`replica.management.SubnetServices`) -----------

    def delete_canister(self, canister_id: bytes) -> None:
        """Forget the canister with its memories (`Canisters.delete_canister`) and its
        input queue."""
        self.canister_state.delete_canister(canister_id)
        self.queues.drop(canister_id)

    def raw_rand(self) -> bytes:
        """32 fresh pseudo-random bytes, deterministic given the subnet seed and round."""
        self._random_counter += 1
        material = self.canister_state.seed + self.height.to_bytes(8, "big")
        return hashlib.sha256(material + self._random_counter.to_bytes(8, "big")).digest()

    # -- ingress -------------------------------------------------------------------------------

    def check_ingress(self, sender: bytes, canister_id: bytes, method: str, arg: bytes) -> None:
        """Non-replicated pre-checks of an update call, as the IC runs them at submission.

        See `replica.ingress.check_update_call`; calls to the management canister are
        checked by its handler. Raises `CanisterError` with the IC's code.
        """
        if canister_id == MANAGEMENT:
            self.management.check_ingress(sender, method, arg)
            return
        check_update_call(self.canister_state, self.charging, sender, canister_id, method, arg)

    def submit_ingress(
        self,
        request_id: bytes,
        sender: bytes,
        canister_id: bytes,
        method: str,
        arg: bytes,
        expiry_ns: int,
        *,
        effective_canister_id: bytes | None = None,
    ) -> bool:
        """Queue an update call for the next round; False if ``request_id`` is known already.

        Call `check_ingress` first: this records the request as ``received`` and only
        execution decides its outcome.
        """
        origin = CallOrigin(OriginKind.INGRESS, request_id=request_id)
        request = Request(sender, canister_id, method, arg, origin)
        if not self.ingress.submit(request_id, request, expiry_ns, self.time_ns,
                                   effective_canister_id):
            return False
        self.metrics.call_received(request_id, canister_id, method, sender)  # metrics:
        return True

    def ingress_status(self, request_id: bytes) -> IngressStatus | None:
        """The committed (or pending) status of an ingress request, or None if unknown."""
        return self.ingress.status(request_id)

    def take_certification_changes(self) -> CertificationChanges:
        """The request and canister ids whose certified entries changed since the last call."""
        changes, self._certification_changes = (self._certification_changes,
                                                 CertificationChanges())
        return changes

    # -- queries ----------------------------------------------------------------------------

    def query(
        self,
        sender: bytes,
        canister_id: bytes,
        method: str,
        arg: bytes,
        *,
        data_certificate: bytes | None = None,
        instruction_limit: int | None = None,
    ) -> QueryResult:
        """Run a query method non-replicated against the committed state (changes discarded).

        With ``instruction_limit`` below the query limit, a query that uses it up comes
        back `QueryResult.out_of_budget` (and is not counted in the metrics): run it again
        without the budget.
        """
        started = self.metrics.clock()
        if canister_id == MANAGEMENT:
            result = self.management.query(sender, method, arg)
        else:
            result = self.queries.run(sender, canister_id, method, arg,
                                      data_certificate=data_certificate,
                                      instruction_limit=instruction_limit)
        if result.out_of_budget:
            return result
        reject = result.reject
        if reject is not None and result.trapped:
            self.metrics.trapped(canister_id, method, reject.message)  # metrics:
        self.metrics.query_answered(sender, canister_id, method, started,  # metrics:
                                    None if reject is None else reject.message)
        return result

    # -- rounds ------------------------------------------------------------------------------

    def execute_round(self) -> RoundReport:
        """Execute one round and commit it atomically; returns what happened.

        Between two messages the round calls `between_messages` (if set), where the
        replica service lets waiting callers in. A caller let in that executes a round
        itself (e.g. `Replica.wait`) finishes this one instead of nesting another; the
        round then returns the report of that commit. Raises whatever a failed step
        raised; the subnet must then be reloaded from the store (`Replica.reload`).
        """
        plan = self._round
        if plan is not None:
            return self._finish_round(plan)
        plan = self._begin_round()
        try:
            while self._execute_next(plan):
                hook = self.between_messages
                if hook is not None:
                    hook()
                    if self._round is not plan:
                        if plan.error is not None:
                            raise ReplicaError(
                                f"round {plan.report.height} failed in a call made between "
                                f"its messages: {plan.error}"
                            )
                        return plan.report
            return self._end_round(plan)
        except BaseException as exc:
            plan.error = exc
            self._round = None
            raise

    @property
    def in_round(self) -> bool:
        """True between the start of a round and its commit (callers let in mid-round)."""
        return self._round is not None

    @property
    def committed_height(self) -> int:
        """The height of the last committed round (`height` counts the one in progress)."""
        return self.height - 1 if self._round is not None else self.height

    def _begin_round(self) -> _RoundPlan:
        self.height += 1
        self.time_ns = max(self.time_ns + 1, self.clock())
        self._random_counter = 0
        self._report = RoundReport(self.height, self.time_ns)
        self.executor.report = self._report
        plan = _RoundPlan(self._report)
        self._round = plan
        self._induct_ingress()
        self._induct_xnet()
        for canister_id, state in self.canister_state.states.items():
            sandbox = self.canister_state.sandboxes.get(canister_id)
            if sandbox is None or state.status is not CanisterStatus.RUNNING:
                continue
            methods = sandbox.module.system_methods
            tasks = []
            if "canister_heartbeat" in methods:
                tasks.append("canister_heartbeat")
            if (state.global_timer_ns and state.global_timer_ns <= self.time_ns
                    and "canister_global_timer" in methods):
                tasks.append("canister_global_timer")
            if tasks:
                plan.tasks[canister_id] = deque(tasks)
        return plan

    def _finish_round(self, plan: _RoundPlan) -> RoundReport:
        try:
            while self._execute_next(plan):
                pass
            return self._end_round(plan)
        except BaseException as exc:
            plan.error = exc
            self._round = None
            raise

    def _end_round(self, plan: _RoundPlan) -> RoundReport:
        self._report.messages += plan.messages
        self.queues.forget_empty()
        self._finish_stopping()
        self.charging.charge_storage(self.time_ns)
        self._age_priorities(plan)
        answered = self.ingress.publish_answers()
        self.ingress.prune(self.time_ns)
        self._commit()
        self._round = None
        self.metrics.round_committed(  # metrics:
            self.height, self._report.messages, self._report.instructions, answered,
            {canister_id: state.cycles_consumed
             for canister_id, state in self.canister_state.states.items()},
        )
        if self._report.events:
            self._notify(self._report.events)
        return self._report

    def _notify(self, events: Sequence[CanisterEvent]) -> None:
        for listener in list(self.event_listeners):
            try:
                listener(events)
            except Exception:  # a listener must never undo or stop a committed round
                logger.exception("event listener %r failed at height %s", listener, self.height)

    def has_work(self) -> bool:
        """True while ingress or canister messages are waiting."""
        return (bool(self.ingress.queue) or self.queues.any_waiting()
                or self.xnet.has_accepted())

    def run_until_idle(self, max_rounds: int = 1000) -> list[RoundReport]:
        """Execute rounds until no message is waiting (at least one round)."""
        reports = [self.execute_round()]
        while self.has_work() and len(reports) < max_rounds:
            reports.append(self.execute_round())
        return reports

    def _induct_ingress(self) -> None:
        for message in self.ingress.take_queued():
            request_id, request, expiry_ns = message.request_id, message.request, message.expiry_ns
            if expiry_ns < self.time_ns:
                self.send_response(request.origin, reject=RejectInfo(
                    RejectCode.SYS_TRANSIENT, "Ingress message expired before execution",
                    ErrorCode.INGRESS_MESSAGE_TIMEOUT))
                continue
            target = request.receiver
            if target != MANAGEMENT and target in self.canister_state.states:
                unpaid = self.charging.induct(target, len(request.arg) + len(request.method))
                if unpaid is not None:
                    self.send_response(request.origin, reject=unpaid)
                    continue
            self.ingress.mark_processing(request_id, self.time_ns)
            self.enqueue(request)

    def enqueue(self, message: Request | Response) -> None:
        """Put a message on its destination's input queue."""
        self.queues.enqueue(message)

    # -- cross-subnet (XNet) messages ----------------------------------------------------------

    def remote_subnet(self, canister_id: bytes) -> str | None:
        """The name of the other subnet hosting ``canister_id``, or None if this subnet
        hosts it, no routing is set, or no subnet does."""
        if (self.routing is None or canister_id == MANAGEMENT
                or canister_id in self.canister_state.states):
            return None
        name = self.routing.subnet_of(canister_id)
        return None if name == self.config.subnet_name else name

    def send_request(self, request: Request) -> None:
        """Deliver a call a canister made (`message_execution.Router.send_request`)."""
        callee = request.receiver
        if callee == MANAGEMENT:
            target = None if self.routing is None else management_target(request.method,
                                                                          request.arg)
            remote = None if target is None else self.remote_subnet(target)
            if remote is None:
                self.enqueue(request)
            else:
                self.xnet.push(remote, request)
            return
        if callee in self.canister_state.states:
            self.enqueue(request)
            return
        remote = self.remote_subnet(callee)
        if remote is not None:
            self.xnet.push(remote, request)
            return
        self.send_response(request.origin, reject=_not_found(callee), refund=request.cycles)

    def induct_slice(self, piece: StreamSlice) -> int:
        """Take the new messages of a slice from another subnet; the next round inducts
        them. Returns how many are new (0 for a slice delivered before).

        The slice's signal garbage-collects this subnet's stream to its source at once.
        Raises `replica.xnet.StreamGapError` (nothing taken) when the slice starts after
        the index expected next: the transport resends from ``error.expected``;
        `replica.xnet.XNetError` for a slice addressed elsewhere or a bad signal.
        """
        return len(self.xnet.accept(piece))

    def outgoing_slices(self, since: Mapping[str, StreamIndex] | None = None, *,
                        max_messages: int | None = None,
                        max_bytes: int | None = None) -> list[StreamSlice]:
        """One slice per peer subnet of the committed stream to it, from ``since[peer]``
        (default: the oldest message not yet acknowledged), carrying this subnet's
        signal (committed expected index) for the peer's stream to it."""
        return self.xnet.slices(since, max_messages=max_messages, max_bytes=max_bytes)

    def signals(self) -> dict[str, StreamIndex]:
        """Per source subnet, the committed index of the next message expected from it."""
        return self.xnet.signals()

    def _induct_xnet(self) -> None:
        """Put the messages taken by `induct_slice` on their canisters' input queues, in
        stream order; a request for a canister not here, or beyond the input queue's
        capacity for its sender (`input_queues.INPUT_QUEUE_CAPACITY`), gets its reject
        back with its cycles. A message whose sender (or respondent) the routing places
        on a subnet other than the slice's source is dropped and counted
        (``xnet.dropped``): a subnet speaks only for its own canisters."""
        for source, message in self.xnet.take_accepted():
            claimed = message.sender if isinstance(message, Request) else message.respondent
            host = None if self.routing is None or not claimed else \
                self.routing.subnet_of(claimed)
            if host is not None and host != source:
                # A subnet speaks only for its own canisters (as the IC checks).
                self.xnet.dropped += 1
                logger.warning("dropped a message from subnet %r that claims to come from "
                               "%s, a canister of subnet %r", source, canister_text(claimed),
                               host)
                continue
            if isinstance(message, Response) or message.receiver == MANAGEMENT:
                self.enqueue(message)
            elif message.receiver not in self.canister_state.states:
                self.xnet.push(source, Response(
                    message.origin, reject=_not_found(message.receiver),
                    refund=message.cycles))
            elif (self.queues.requests_from(message.receiver, message.sender)
                  >= INPUT_QUEUE_CAPACITY):
                self.xnet.push(source, Response(message.origin, reject=RejectInfo(
                    RejectCode.SYS_TRANSIENT,
                    f"Canister {canister_text(message.receiver)} has {INPUT_QUEUE_CAPACITY} "
                    f"requests of {canister_text(message.sender)} waiting, its limit: retry "
                    "later", ErrorCode.CANISTER_QUEUE_FULL), refund=message.cycles))
            else:
                self.enqueue(message)

    # -- scheduling ---------------------------------------------------------------------------

    def _execute_next(self, plan: _RoundPlan) -> bool:
        """Execute the round's next message; False when the round is over.

        The management canister goes first. Then canisters take turns, one message (a
        heartbeat, a due global timer, or the head of the input queue) per turn, in
        passes: each pass gives every canister with work one turn, choosing next the
        one that has used the fewest instructions lately (`TurnPriorities.key`). The round
        ends when a pass finds no work, when it has used `round_instruction_limit`
        instructions (the last message may overrun it, by at most one message's
        limit), when the chosen canister's previous message would not fit in what is
        left (so a spinner does not delay the commit of the replies before it), or
        after `max_messages_per_round` queue messages.
        """
        config = self.config
        if plan.used >= config.round_instruction_limit:
            return False
        if (self.queues.has_messages(MANAGEMENT)
                and plan.messages < config.max_messages_per_round):
            message = self.queues.pop(MANAGEMENT)
            assert isinstance(message, Request)
            before = self._report.instructions + self._report.complexity
            self.management.handle(message)
            plan.used += self._report.instructions + self._report.complexity - before
            plan.messages += 1
            return True
        while True:
            candidates = [
                c for c in self._with_work(plan) if c not in plan.turned
            ]
            if candidates:
                break
            if not plan.turned:
                return False
            plan.turned.clear()
        canister_id = min(candidates, key=self.priorities.key)
        if plan.executed and plan.used + self.priorities.last_cost(canister_id) > \
                config.round_instruction_limit:
            # Its last message would not fit: commit what ran (replies become visible)
            # and let it go first in a round of its own.
            return False
        plan.turned.add(canister_id)
        tasks = plan.tasks.get(canister_id)
        before = self._report.instructions + self._report.complexity
        if tasks:
            self.executor.run_task(canister_id, tasks.popleft())
            if not tasks:
                del plan.tasks[canister_id]
        else:
            message = self.queues.pop(canister_id)
            if isinstance(message, Request):
                self.executor.execute_request(message)
            else:
                self.executor.execute_response(message)
            plan.messages += 1
        cost = self._report.instructions + self._report.complexity - before
        plan.used += cost
        self.priorities.record(canister_id, cost, self.height)
        plan.executed.add(canister_id)
        return True

    def _with_work(self, plan: _RoundPlan) -> list[bytes]:
        """Canisters with a message to execute this round (a system task or a queue)."""
        ready = [c for c in plan.tasks if c in self.canister_state.states]
        if plan.messages < self.config.max_messages_per_round:
            ready.extend(c for c in self.queues.waiting()
                         if c != MANAGEMENT and c not in plan.tasks)
        return ready

    def _age_priorities(self, plan: _RoundPlan) -> None:
        """After a round: age the turn priorities of what executed or still waits."""
        busy = set(plan.executed) | set(plan.tasks)
        busy.update(self.queues.waiting())
        self.priorities.age(busy, self.canister_state.states)

    # -- responses ----------------------------------------------------------------------------

    def send_response(self, origin: CallOrigin, *, reply: bytes | None = None,
                      reject: RejectInfo | None = None, refund: int = 0,
                      respondent: bytes = b"") -> None:
        """Deliver a response to whoever is waiting for it."""
        if origin.kind is OriginKind.INGRESS:
            # The answer is staged until the round commits: callers let in between two
            # messages of a round must not see a reply that is not durable yet.
            self.ingress.stage_answer(origin, self.time_ns, reply=reply, reject=reject)
        elif origin.kind is OriginKind.CANISTER:
            response = Response(origin, reply=reply, reject=reject, refund=refund,
                                respondent=respondent)
            remote = self.remote_subnet(origin.canister_id)
            if remote is not None:
                self.xnet.push(remote, response)
            else:
                self.enqueue(response)
        # SYSTEM origins (timers, heartbeats) expect no response.

    def respond(self, origin: CallOrigin, *, reply: bytes | None = None,
                reject: RejectInfo | None = None, refund: int = 0) -> None:
        """Public entry for the management canister to answer a request."""
        self.send_response(origin, reply=reply, reject=reject, refund=refund,
                           respondent=MANAGEMENT)

    # -- stopping ------------------------------------------------------------------------------

    def _finish_stopping(self) -> None:
        for canister_id, state in self.canister_state.states.items():
            if state.status is CanisterStatus.STOPPING and not state.call_contexts:
                state.status = CanisterStatus.STOPPED
                state.version += 1
                self.canister_state.mark_dirty(canister_id)
                waiting, state.stop_requests = state.stop_requests, []
                for origin in waiting:
                    self.respond(CallOrigin.from_data(origin), reply=b"DIDL\x00\x00")

    # -- commit ------------------------------------------------------------------------------

    def _commit(self) -> None:
        changes = RoundChanges(height=self.height, time_ns=self.time_ns)
        certified = self._certification_changes
        certified.canisters |= self.canister_state.write_changes(changes)
        certified.requests |= self.ingress.write_changes(changes)
        self.queues.write_changes(changes)
        self.xnet.write_changes(changes)
        self.store.commit_round(changes)


def _not_found(canister_id: bytes) -> RejectInfo:
    """The reject of a call to a canister no subnet hosts."""
    return RejectInfo(RejectCode.DESTINATION_INVALID,
                      f"Canister {canister_text(canister_id)} not found",
                      ErrorCode.CANISTER_NOT_FOUND)
