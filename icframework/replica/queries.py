"""Queries: non-replicated execution against committed state, including composite queries.

How it works: `QueryRunner.run` executes a canister's query method with changes
discarded. A composite query runs with the query calls it makes, depth first and
synchronously (`QueryRunner.composite`): the call graph shares one instruction budget,
is at most `MAX_QUERY_CALL_DEPTH` deep and may not re-enter a canister (IC0517). As
on the IC, a canister's executions in the graph (the composite query and its callbacks)
see each other's changes, which are all discarded when its part of the graph ends: a
wasm canister's run inside `Sandbox.query_graph`, a Python canister keeps its
continuations in the instance and discards each execution's key-value changes.
Queries to the management canister go to the subnet's management handler.
"""

from __future__ import annotations

import dataclasses
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from icframework.core import ErrorCode, RejectCode
from icframework.core.ic0 import Context
from icframework.replica.canisters import Canisters, canister_text
from icframework.replica.execution.sandbox import CanisterSandbox, ExecutionResult, Sandbox
from icframework.replica.execution.system_api import Reject, Reply
from icframework.replica.messages import RejectInfo
from icframework.replica.state import CanisterStatus

if TYPE_CHECKING:
    from icframework.replica.subnet import SubnetConfig

MAX_QUERY_CALL_DEPTH = 6
"""How deep a composite query's call graph may go (the IC's limit)."""


@dataclass(frozen=True, slots=True)
class QueryResult:
    """A non-replicated query's outcome: ``reply`` bytes or a ``reject``."""

    reply: bytes | None = None
    reject: RejectInfo | None = None
    instructions: int = 0
    trapped: bool = False
    """The reject is a trap of the queried canister (or of one it called)."""
    out_of_budget: bool = False
    """Run with a budget below the query limit (``instruction_limit``), the query (or a
    call of its graph) used it up: the outcome is not the query's; run it again with the
    full limit."""


class QueryRunner:
    """Runs queries of the canisters in ``canisters`` (see the module docstring)."""

    def __init__(self, canisters: Canisters, config: SubnetConfig) -> None:
        self.canisters = canisters
        self.config = config

    def run(self, sender: bytes, canister_id: bytes, method: str, arg: bytes, *,
            data_certificate: bytes | None = None,
            instruction_limit: int | None = None) -> QueryResult:
        """Run ``method`` of a canister (not the management canister) non-replicated.

        ``instruction_limit`` lowers the query limit to a budget (the HTTP interface tries
        queries on its event loop with a small one first); a query that uses it up comes
        back marked `QueryResult.out_of_budget`, because a limit the query would not have
        met under the full limit must not decide its outcome.
        """
        limit = self.config.query_instruction_limit
        budgeted = instruction_limit is not None and instruction_limit < limit
        if budgeted:
            assert instruction_limit is not None
            limit = instruction_limit
        name = canister_text(canister_id)
        state = self.canisters.states.get(canister_id)
        if state is None:
            return query_reject(ErrorCode.CANISTER_NOT_FOUND, f"Canister {name} not found")
        sandbox = self.canisters.sandboxes.get(canister_id)
        if sandbox is None:
            return query_reject(
                ErrorCode.CANISTER_WASM_MODULE_NOT_FOUND,
                f"Error from Canister {name}: Attempted to execute a message, but the canister "
                "contains no Wasm module.",
            )
        if state.status is CanisterStatus.STOPPED:
            return query_reject(ErrorCode.CANISTER_STOPPED, f"Canister {name} is stopped")
        module = sandbox.module
        if method not in module.queries:
            if method in module.composite_queries:
                graph = _QueryGraph(limit)
                answer = self.composite(graph, sender, canister_id, method, arg,
                                        data_certificate)
                if budgeted and graph.exhausted:
                    return dataclasses.replace(answer, out_of_budget=True)
                return answer
            return query_reject(
                ErrorCode.CANISTER_METHOD_NOT_FOUND,
                f"Error from Canister {name}: Canister has no query method '{method}'.",
            )
        inp = self.canisters.execution_input(
            state, Context.QUERY, sender, arg=arg, data_certificate=data_certificate,
            max_response_bytes=self.config.max_query_reply_bytes,
        )
        result = sandbox.execute(f"canister_query {method}", inp, limit, persist=False)
        outcome = query_outcome(name, result, result.instructions)
        if budgeted and _ran_out(result):
            return dataclasses.replace(outcome, out_of_budget=True)
        return outcome

    def composite(self, graph: _QueryGraph, sender: bytes, canister_id: bytes, method: str,
                  arg: bytes, data_certificate: bytes | None) -> QueryResult:
        """Run a composite query and the query calls it makes, depth first, synchronously.

        Every execution is non-replicated: a canister's executions in the graph keep
        each other's changes (a wasm canister's continuation lives in its heap) until its
        part of the graph ends, which discards them (`_graph_part`). The call graph shares
        ``graph``'s instruction budget (the query limit, or a lower budget) and may be at
        most `MAX_QUERY_CALL_DEPTH` deep; a canister may not be re-entered (IC0517). A
        trap in a callback ends the canister's part with the trap; no cleanup callback
        runs (nothing it does could outlive the query).
        """
        result = self._query_node(graph, sender, canister_id, method, arg, data_certificate, 0)
        return dataclasses.replace(result, instructions=graph.instructions)

    def _query_node(self, graph: _QueryGraph, sender: bytes, canister_id: bytes, method: str,
                    arg: bytes, data_certificate: bytes | None, depth: int) -> QueryResult:
        name = canister_text(canister_id)
        state = self.canisters.states.get(canister_id)
        sandbox = self.canisters.sandboxes.get(canister_id)
        if state is None or sandbox is None:
            code = (ErrorCode.CANISTER_NOT_FOUND if state is None
                    else ErrorCode.CANISTER_WASM_MODULE_NOT_FOUND)
            return query_reject(code, f"Canister {name} not found" if state is None else
                                 f"Error from Canister {name}: the canister has no module")
        if state.status is CanisterStatus.STOPPED:
            return query_reject(ErrorCode.CANISTER_STOPPED, f"Canister {name} is stopped")
        module = sandbox.module
        composite = method in module.composite_queries
        if not composite and method not in module.queries:
            return query_reject(
                ErrorCode.CANISTER_METHOD_NOT_FOUND,
                f"Error from Canister {name}: Canister has no query method '{method}'.",
            )
        if canister_id in graph.active:
            return query_reject(
                ErrorCode.QUERY_CALL_GRAPH_LOOP_DETECTED,
                f"Error from Canister {name}: Loop detected. MVP composite queries do not "
                "support loops in the call graph.",
            )
        graph.active.add(canister_id)
        try:
            with _graph_part(sandbox):
                return self._run_node(graph, sender, canister_id, sandbox, method, arg,
                                      data_certificate, depth, composite)
        finally:
            graph.active.discard(canister_id)

    def _run_node(self, graph: _QueryGraph, sender: bytes, canister_id: bytes,
                  sandbox: CanisterSandbox, method: str, arg: bytes,
                  data_certificate: bytes | None, depth: int, composite: bool) -> QueryResult:
        """The executions of one canister's part of the graph: the query, then the callback
        of each call it (or a callback) made, until one replies, rejects or traps."""
        name = canister_text(canister_id)
        state = self.canisters.states[canister_id]
        export = (f"canister_composite_query {method}" if composite
                  else f"canister_query {method}")
        inp = self.canisters.execution_input(
            state, Context.COMPOSITE_QUERY if composite else Context.QUERY, sender,
            arg=arg, data_certificate=data_certificate if depth == 0 else None,
            max_response_bytes=self.config.max_query_reply_bytes,
        )
        result = sandbox.execute(export, inp, graph.remaining, persist=False)
        graph.instructions += result.instructions
        graph.exhausted |= _ran_out(result)
        if result.trap is not None or result.output is None:
            return query_outcome(name, result, graph.instructions)
        output = result.output
        pending = list(output.calls)
        while output.response is None and pending:
            call = pending.pop(0)
            if depth + 1 >= MAX_QUERY_CALL_DEPTH:
                answer = query_reject(
                    ErrorCode.QUERY_CALL_GRAPH_TOO_DEEP,
                    f"Error from Canister {name}: Composite query call graph reached the "
                    f"maximum depth of {MAX_QUERY_CALL_DEPTH}",
                )
            elif graph.remaining <= 0:
                graph.exhausted = True
                return query_reject(
                    ErrorCode.QUERY_CALL_GRAPH_TOTAL_INSTRUCTION_LIMIT_EXCEEDED,
                    f"Error from Canister {name}: Query call graph total instruction "
                    f"limit of {graph.limit} exceeded",
                    graph.instructions,
                )
            else:
                answer = self._query_node(graph, canister_id, call.callee, call.method,
                                          bytes(call.payload), None, depth + 1)
            if answer.reject is None:
                target = (call.reply_fun, call.reply_env)
                callback_input = self.canisters.execution_input(
                    state, Context.COMPOSITE_REPLY_CALLBACK, sender, arg=answer.reply or b"",
                    max_response_bytes=self.config.max_query_reply_bytes,
                )
            else:
                target = (call.reject_fun, call.reject_env)
                callback_input = self.canisters.execution_input(
                    state, Context.COMPOSITE_REJECT_CALLBACK, sender,
                    reject_code=int(answer.reject.code), reject_message=answer.reject.message,
                    max_response_bytes=self.config.max_query_reply_bytes,
                )
            result = sandbox.execute(target, callback_input, max(graph.remaining, 0),
                                     persist=False)
            graph.instructions += result.instructions
            graph.exhausted |= _ran_out(result)
            if result.trap is not None or result.output is None:
                return query_outcome(name, result, graph.instructions)
            output = result.output
            pending.extend(output.calls)
        return query_outcome(name, result, graph.instructions)


def _graph_part(sandbox: CanisterSandbox) -> AbstractContextManager[None]:
    """The scope of a canister's part of a query graph: a wasm canister's executions keep
    each other's changes and lose them all at its end (`Sandbox.query_graph`); a Python
    canister's need nothing (`ComponentSandbox` keeps continuations in the instance)."""
    return sandbox.query_graph() if isinstance(sandbox, Sandbox) else nullcontext()


def query_reject(code: ErrorCode, message: str, instructions: int = 0) -> QueryResult:
    return QueryResult(reject=RejectInfo(code.reject_code, message, code),
                       instructions=instructions)


class _QueryGraph:
    """The shared budget and the canisters on the current path of a composite query."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.instructions = 0
        self.active: set[bytes] = set()
        self.exhausted = False
        """Some execution of the graph ran out of instructions."""

    @property
    def remaining(self) -> int:
        return self.limit - self.instructions


def _ran_out(result: ExecutionResult) -> bool:
    trap = result.trap
    return trap is not None and trap.error_code is ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED


def query_outcome(name: str, result: ExecutionResult, instructions: int) -> QueryResult:
    """The `QueryResult` of a query execution: its trap, reply, reject or no reply."""
    if result.trap is not None:
        code = result.trap.error_code
        return QueryResult(reject=RejectInfo(
            code.reject_code, f"Error from Canister {name}: {result.trap.message}", code),
            instructions=instructions, trapped=True)
    assert result.output is not None
    response = result.output.response
    if isinstance(response, Reply):
        return QueryResult(reply=response.data, instructions=instructions)
    if isinstance(response, Reject):
        return QueryResult(
            reject=RejectInfo(RejectCode.CANISTER_REJECT, response.message,
                              ErrorCode.CANISTER_REJECTED_MESSAGE),
            instructions=instructions,
        )
    return query_reject(
        ErrorCode.CANISTER_DID_NOT_REPLY,
        f"Error from Canister {name}: Canister did not reply to the call",
        instructions,
    )
