"""Ingress: the checks, the queue of accepted update calls and the history of their statuses.

How it works: `check_update_call` runs the IC's submission checks; `submit` records a
call as ``received`` and queues it for the next round, which inducts it
(``processing``, `mark_processing`). Answers are staged (`stage_answer`) while the
round runs, so callers let in between two messages never see a reply that is not
durable; `publish_answers` makes them visible just before the round commits, and
`write_changes` adds the round's ingress records to its commit.

Retention, as the interface spec allows: a request id must be remembered while its
request may still be submitted (until its ``ingress_expiry``), and a terminal answer
should stay readable about as long as a client may poll for it. So an answer
(``replied``/``rejected``) is kept for `INGRESS_WINDOW_NS` (the longest ingress
expiry, 5 minutes, plus the 30 s drift validators permit) after the later of its
expiry and its answer; it then becomes ``done`` (reply or reject dropped; agents
report that the reply is gone) for another window, and is then forgotten. Deadlines
live in a heap, so a round pays for the entries it prunes, never for the whole
history. Every transition is written to the state store, and a restarted subnet
rebuilds the heap from the stored records.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterator

from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.replica.canisters import Canisters, canister_text
from icframework.replica.charging import Charging
from icframework.replica.errors import CanisterError
from icframework.replica.messages import (
    CallOrigin,
    IngressMessage,
    IngressQueue,
    LocalIngressQueue,
    OriginKind,
    RejectInfo,
    Request,
)
from icframework.replica.state import CanisterStatus, IngressState, IngressStatus
from icframework.replica.store import RoundChanges, StateStore

NANOS = 1_000_000_000
MAX_INGRESS_TTL_NS = 5 * 60 * NANOS
"""The furthest in the future an ingress expiry may lie (the IC's MAX_INGRESS_TTL)."""
PERMITTED_DRIFT_NS = 30 * NANOS
"""The clock drift validators allow on top of `MAX_INGRESS_TTL_NS`."""
INGRESS_WINDOW_NS = MAX_INGRESS_TTL_NS + PERMITTED_DRIFT_NS
"""How long an answer stays readable after its request's expiry (or its answer, if
later), and how long a ``done`` status is kept before the request id is forgotten."""

KV_INGRESS = "ingress"
"""The state store namespace of the ingress history (request id → `IngressStatus` record)."""


class IngressHistory:
    """The ingress queue and the status of every remembered request (see the module docstring).

    Not thread-safe; the subnet that owns it drives it.
    """

    def __init__(self, queue: IngressQueue | None = None) -> None:
        self.queue: IngressQueue = queue or LocalIngressQueue()
        self.statuses: dict[bytes, IngressStatus] = {}
        self._answered: dict[bytes, IngressStatus] = {}
        self._dirty: set[bytes] = set()
        self._deleted: set[bytes] = set()
        self._deadlines: list[tuple[int, bytes]] = []

    def load(self, store: StateStore) -> None:
        """Read the committed history from ``store`` and schedule its pruning."""
        for request_id, record in store.kv_scan(KV_INGRESS):
            status = IngressStatus.from_record(record)
            self.statuses[request_id] = status
            deadline = _deadline(status)
            if deadline is not None:
                self._deadlines.append((deadline, request_id))
        heapq.heapify(self._deadlines)

    # -- submission ------------------------------------------------------------------------

    def submit(self, request_id: bytes, request: Request, expiry_ns: int, now_ns: int,
               effective_canister_id: bytes | None = None) -> bool:
        """Queue ``request`` for the next round as ``received``; False if the id is known."""
        if request_id in self.statuses:
            return False
        self.queue.push(IngressMessage(request_id, request, expiry_ns))
        canister_id = request.receiver if effective_canister_id is None else effective_canister_id
        self.statuses[request_id] = IngressStatus(
            IngressState.RECEIVED, request.sender, canister_id, expiry_ns, updated_ns=now_ns
        )
        self._dirty.add(request_id)
        return True

    def status(self, request_id: bytes) -> IngressStatus | None:
        """The committed (or ``received``) status of a request, or None if unknown."""
        return self.statuses.get(request_id)

    def __len__(self) -> int:
        return len(self.statuses)

    def items(self) -> Iterator[tuple[bytes, IngressStatus]]:
        return iter(self.statuses.items())

    # -- during a round ----------------------------------------------------------------------

    def take_queued(self) -> list[IngressMessage]:
        """The calls waiting for induction (the queue is emptied)."""
        return self.queue.pop_all()

    def mark_processing(self, request_id: bytes, now_ns: int) -> None:
        status = self.statuses[request_id]
        status.state = IngressState.PROCESSING
        status.updated_ns = now_ns
        self._dirty.add(request_id)

    def stage_answer(self, origin: CallOrigin, now_ns: int, *, reply: bytes | None,
                     reject: RejectInfo | None) -> None:
        """Record the answer of an ingress call, visible once `publish_answers` runs."""
        assert origin.kind is OriginKind.INGRESS
        request_id = origin.request_id
        status = self._answered.get(request_id) or self.statuses.get(request_id)
        if status is None:
            return
        self._answered[request_id] = dataclasses.replace(
            status,
            state=IngressState.REPLIED if reply is not None else IngressState.REJECTED,
            reply=reply, reject=reject, updated_ns=now_ns,
        )
        self._dirty.add(request_id)

    def publish_answers(self) -> list[tuple[bytes, str | None]]:
        """Make the round's staged answers visible; returns (request id, reject message)."""
        answered = []
        for request_id, status in self._answered.items():
            self.statuses[request_id] = status
            deadline = _deadline(status)
            assert deadline is not None
            heapq.heappush(self._deadlines, (deadline, request_id))
            answered.append((request_id, None if status.reject is None else status.reject.message))
        self._answered.clear()
        return answered

    def prune(self, now_ns: int) -> None:
        """Turn answers past their window into ``done``; forget ``done`` past theirs."""
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now_ns:
            _, request_id = heapq.heappop(deadlines)
            status = self.statuses.get(request_id)
            if status is None or not status.state.terminal:
                continue
            if status.state is IngressState.DONE:
                del self.statuses[request_id]
                self._deleted.add(request_id)
                self._dirty.discard(request_id)
                continue
            self.statuses[request_id] = dataclasses.replace(
                status, state=IngressState.DONE, reply=None, reject=None, updated_ns=now_ns
            )
            self._dirty.add(request_id)
            heapq.heappush(deadlines, (now_ns + INGRESS_WINDOW_NS, request_id))

    # -- commit ------------------------------------------------------------------------------

    def write_changes(self, changes: RoundChanges) -> set[bytes]:
        """Add the changed records to ``changes``; returns the ids changed or forgotten."""
        for request_id in self._dirty:
            changes.kv_puts[(KV_INGRESS, request_id)] = self.statuses[request_id].to_record()
        for request_id in self._deleted:
            changes.kv_deletes.add((KV_INGRESS, request_id))
        touched = self._dirty | self._deleted
        self._dirty = set()
        self._deleted = set()
        return touched


def check_update_call(canisters: Canisters, charging: Charging, sender: bytes,
                      canister_id: bytes, method: str, arg: bytes) -> None:
    """Non-replicated pre-checks of an update call to a canister, as the IC runs them.

    Runs ``canister_inspect_message`` if exported. Raises `CanisterError` with the
    IC's code when the message would be refused (IC0301, IC0537, IC0508/9, IC0207,
    IC0536, IC0406).
    """
    state = canisters.canister(canister_id)
    sandbox = canisters.sandboxes.get(canister_id)
    name = canister_text(canister_id)
    if sandbox is None:
        raise CanisterError(
            ErrorCode.CANISTER_WASM_MODULE_NOT_FOUND,
            f"Error from Canister {name}: Attempted to execute a message, but the "
            "canister contains no Wasm module.",
        )
    if state.status is not CanisterStatus.RUNNING:
        code = (ErrorCode.CANISTER_STOPPED if state.status is CanisterStatus.STOPPED
                else ErrorCode.CANISTER_STOPPING)
        raise CanisterError(code, f"Canister {name} is {state.status.value}")
    module = sandbox.module
    if method in module.composite_queries:
        raise CanisterError(
            ErrorCode.COMPOSITE_QUERY_CALLED_IN_REPLICATED_MODE,
            f"Error from Canister {name}: Composite query cannot be called in replicated "
            "mode",
        )
    if method not in module.updates and method not in module.queries:
        raise CanisterError(
            ErrorCode.CANISTER_METHOD_NOT_FOUND,
            f"Error from Canister {name}: Canister has no update method '{method}'.",
        )
    charging.check_not_frozen(canister_id, 0)
    if "canister_inspect_message" not in module.system_methods:
        return
    inp = canisters.execution_input(state, Context.INSPECT_MESSAGE, sender, arg=arg,
                                    method_name=method)
    result = sandbox.execute(
        "canister_inspect_message", inp, canisters.config.inspect_instruction_limit, persist=False
    )
    if result.trap is not None:
        raise CanisterError(
            result.trap.error_code, f"Error from Canister {name}: {result.trap.message}"
        )
    if result.output is None or not result.output.message_accepted:
        raise CanisterError(
            ErrorCode.CANISTER_REJECTED_MESSAGE,
            f"Error from Canister {name}: Canister rejected the message",
        )


def _deadline(status: IngressStatus) -> int | None:
    """When a status next changes by pruning (None: it waits for execution)."""
    if status.state is IngressState.DONE:
        return status.updated_ns + INGRESS_WINDOW_NS
    if status.state.terminal:
        return max(status.expiry_ns, status.updated_ns) + INGRESS_WINDOW_NS
    return None
