"""A canister's live wasm instance: run entry points atomically against the System API.

How it works: a `Sandbox` keeps one wasmtime instance per canister alive between
messages, linked to the System API (`SystemApi`, one per execution) through the
``ic0`` host functions. `execute` runs an export or a table callback with fuel as
instructions (running out is IC0522) and then either commits what the execution
changed or rolls it back: heap pages and globals through the instance's
`icframework.replica.execution.heap_image.HeapImage` (the committed image and its
dirty-page tracking), stable memory through its `PageMap` undo log. An update that did
not trap is committed; a trap or any query is rolled back, so it leaves no trace. If
the memory grew in a rolled-back execution, the sandbox re-instantiates the module and
restores the committed image. An instrumented module marks written pages in a bitmap
whose marking instructions burn fuel but are not counted (`_instructions_used`).

A composite query's executions of one canister (the query and its reply and reject
callbacks) run inside `Sandbox.query_graph`: they see each other's heap, globals and
stable memory (the continuation a call leaves in the heap must be there for its
callback), and the committed state comes back once, when the canister's part of the
graph ends, however it ends. The marks and the stable-memory undo log simply accumulate
across those executions, so that restoring costs what one execution's would.

Limits: table mutations at run time (``table.set``/``grow``) are not checkpointed; no
toolchain we know emits them for canisters.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

import wasmtime

from icframework.core import ErrorCode
from icframework.core.ic0 import IC0_FUNCTIONS
from icframework.replica.errors import ReplicaError
from icframework.replica.execution.engine import (
    ExecutionEngine,
    HostCallback,
    RawFunc,
    define_raw_host,
)
from icframework.replica.execution.heap_image import ACCESSOR_FUEL, HeapImage
from icframework.replica.execution.page_map import PageMap
from icframework.replica.execution.system_api import (
    CanisterTrap,
    ExecutionInput,
    ExecutionOutput,
    SystemApi,
)
from icframework.replica.execution.wasm_module import (
    MEMORY_EXPORT,
    START_EXPORT,
    TABLE_EXPORT,
    CanisterModule,
)

if TYPE_CHECKING:
    from icframework.replica.execution.kv_store import KeyValueStore

# Fuel per instruction of the limit for an instrumented module: room for the marking's
# own instructions, which are a few percent of a message's (20% for a Motoko update
# writing a megabyte). Only a loop that does little but store can burn more marking
# than its own instructions and so hit IC0522 before its count reaches the limit; a
# larger factor would let every runaway message burn that much more CPU time.
_FUEL_HEADROOM = 2

_VALTYPES = {"i32": wasmtime.ValType.i32, "i64": wasmtime.ValType.i64}

_TRAP_MESSAGES = {
    wasmtime.TrapCode.UNREACHABLE: "unreachable",
    wasmtime.TrapCode.MEMORY_OUT_OF_BOUNDS: "heap out of bounds",
    wasmtime.TrapCode.HEAP_MISALIGNED: "heap misaligned",
    wasmtime.TrapCode.TABLE_OUT_OF_BOUNDS: "table out of bounds",
    wasmtime.TrapCode.INDIRECT_CALL_TO_NULL: "indirect call to null",
    wasmtime.TrapCode.BAD_SIGNATURE: "function invocation does not match its signature",
    wasmtime.TrapCode.INTEGER_OVERFLOW: "integer overflow",
    wasmtime.TrapCode.INTEGER_DIVISION_BY_ZERO: "integer division by 0",
    wasmtime.TrapCode.BAD_CONVERSION_TO_INTEGER: "invalid conversion to integer",
    wasmtime.TrapCode.STACK_OVERFLOW: "stack overflow",
}


@dataclass(slots=True)
class ExecutionResult:
    """What one execution produced: effects (None if it trapped), trap, instructions."""

    output: ExecutionOutput | None
    trap: CanisterTrap | None
    instructions: int
    complexity: int = 0
    """Instructions of host-call cost (`system_api.HOST_CALL_COMPLEXITY`): they count
    against limits and the round's budget but are neither charged nor in ``instructions``."""


class CanisterSandbox(Protocol):
    """What the subnet and the management canister need of a canister's live instance.

    Two implementations: `Sandbox` (a wasm module; its state is a heap image, globals
    and the stable memory the subnet owns) and
    `icframework.replica.execution.component.ComponentSandbox` (a Python canister; its state is a
    key-value store). Each answers the other's state questions with "nothing"
    (``take_dirty_pages`` of a Python canister, ``kv`` of a wasm one), so callers need
    no case analysis.
    """

    @property
    def module(self) -> CanisterModule:
        """The installed module; for a Python canister, with the app's entry points."""

    @property
    def heap_size(self) -> int:
        """Bytes of committed memory (a Python canister: its key-value data)."""

    @property
    def committed_globals(self) -> dict[int, Any]:
        """Committed mutable globals by index."""

    @property
    def kv(self) -> KeyValueStore | None:
        """The key-value store of a Python canister; None for a wasm module."""

    def has_export(self, name: str) -> bool:
        """Whether ``name`` (an IC export name) can be executed."""

    def execute(
        self, target: str | tuple[int, int], inp: ExecutionInput, instruction_limit: int, *,
        persist: bool,
    ) -> ExecutionResult:
        """Run an entry point or callback atomically (see `Sandbox.execute`)."""

    def take_dirty_pages(self) -> dict[int, bytes]:
        """Heap pages changed since the last checkpoint."""

    def take_dirty_kv(self) -> dict[bytes, bytes | None]:
        """Key-value entries changed since the last checkpoint (None: deleted)."""

    def mark_all_dirty(self) -> None:
        """Make the next checkpoint write the whole state (after its space was cleared)."""

    def heap_image(self) -> bytes:
        """The committed heap, for an upgrade that keeps it (empty for a Python canister)."""

    def snapshot(self) -> object:
        """The committed state, for `restore` when an upgrade fails after pre_upgrade."""

    def restore(self, snapshot: object) -> None:
        """Go back to a `snapshot`."""


def instruction_limit_trap(instruction_limit: int) -> CanisterTrap:
    """The IC0522 trap of a message that used up its ``instruction_limit`` instructions."""
    return CanisterTrap(
        ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED,
        f"Canister exceeded the limit of {instruction_limit} instructions for single "
        "message execution.",
    )


def consume_fuel(store: wasmtime.Store, instructions: int, instruction_limit: int) -> None:
    """Take ``instructions`` from ``store``'s fuel (a System API charge).

    Raises `instruction_limit_trap` of ``instruction_limit``, with the fuel emptied, if
    fewer are left.
    """
    fuel = store.get_fuel()
    if instructions > fuel:
        store.set_fuel(0)
        raise instruction_limit_trap(instruction_limit)
    store.set_fuel(fuel - instructions)


class _Heap:
    """`HeapAccess` over the current instance's memory (bounds-checked, no copies kept)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def size(self) -> int:
        sandbox = self._sandbox
        memory = sandbox.memory
        return 0 if memory is None else memory.data_len(sandbox.store)

    def _base(self, address: int, size: int) -> int:
        sandbox = self._sandbox
        memory = sandbox.memory
        length = 0 if memory is None else memory.data_len(sandbox.store)
        if memory is None or address + size > length:
            # `SystemApi` checks ranges first with the IC's error for each call; this is
            # only a safety net against reading or writing outside the memory.
            raise CanisterTrap(ErrorCode.CANISTER_TRAPPED, "Canister trapped: heap out of bounds")
        return ctypes.addressof(memory.data_ptr(sandbox.store).contents)

    def read(self, address: int, size: int) -> bytes:
        base = self._base(address, size)
        return ctypes.string_at(base + address, size) if size else b""

    def write(self, address: int, data: bytes) -> None:
        """Copy ``data`` to ``address`` and mark its pages in the dirty bitmap."""
        base = self._base(address, len(data))
        if data:
            ctypes.memmove(base + address, data, len(data))
            self._sandbox.checkpoint.mark_written(address, len(data))


class Sandbox:
    """One canister's instance and committed image; not thread-safe (one message at a time)."""

    def __init__(
        self,
        engine: ExecutionEngine,
        module: CanisterModule,
        stable: PageMap,
        start_input: ExecutionInput,
        instruction_limit: int,
        *,
        image: bytes | None = None,
        global_values: dict[int, Any] | None = None,
        kept_heap: bytes | None = None,
    ) -> None:
        """Instantiate ``module`` over ``stable`` and run its ``(start)`` function.

        With ``kept_heap`` (an upgrade keeping main memory) that memory is loaded before
        the start function runs, as on the IC. With a committed ``image`` and
        ``global_values`` (a restart, or a rollback after memory grew) those are loaded
        and the start function does not run again. Raises `CanisterTrap` if the start
        function traps.
        """
        self.engine = engine
        self.module = module
        self.stable = stable
        self.compiled = engine.compile(module)
        self._api: SystemApi | None = None
        self._heap = _Heap(self)
        self._fuel_limit = 0
        self._instruction_limit = 0
        self.store: wasmtime.Store
        self.memory: wasmtime.Memory | None = None
        self.table: wasmtime.Table | None = None
        self.exports: dict[str, Any] = {}
        self._entry_points: dict[str, RawFunc] = {}
        self._linked: wasmtime.Linker | None = None
        self._host_callbacks: list[HostCallback] = []
        self.checkpoint = HeapImage(module)
        """The committed heap and globals, and the pages written since (see `HeapImage`)."""
        self._lock = threading.RLock()
        """Held by `execute` and for a whole `query_graph`: an execution from another
        thread waits until the graph's changes are gone."""
        self._graphs = 0
        """How many `query_graph` scopes are open (nested ones are part of the outermost)."""
        if image is not None:
            self.restore_image(image, global_values or {})
            return
        self._instantiate()
        if kept_heap is not None:
            self.checkpoint.load_memory(kept_heap)
        self._run_start(start_input, instruction_limit)
        self.checkpoint.start()

    # -- instantiation ------------------------------------------------------------------------

    def _linker(self) -> wasmtime.Linker:
        """The ``ic0`` imports, defined once per sandbox (its instances share them); the
        host functions take raw arguments (`define_raw_host`), ~10 µs less per call."""
        if self._linked is not None:
            return self._linked
        linker = wasmtime.Linker(self.engine.engine)
        memory64 = self.module.memory64
        for spec in IC0_FUNCTIONS.values():
            if spec.wasm32_only and memory64:
                continue
            params, results = spec.signature(memory64)
            self._host_callbacks.append(define_raw_host(
                linker, "ic0", spec.name, [_VALTYPES[p]() for p in params],
                [_VALTYPES[r]() for r in results], self._host(spec.name),
            ))
        self._linked = linker
        return linker

    def _host(self, name: str) -> Callable[..., Any]:
        contexts = IC0_FUNCTIONS[name].contexts
        method_name = name

        def host(*args: int) -> Any:
            api = self._api
            if api is None:
                raise CanisterTrap(
                    ErrorCode.CANISTER_CONTRACT_VIOLATION,
                    f"Canister violated contract: ic0.{name} called outside an execution",
                )
            api.charge(method_name)
            if api.inp.context not in contexts:
                api.check_context(method_name)
            return getattr(api, method_name)(*args)

        return host

    def _instantiate(self) -> None:
        """A fresh store and instance; the start function is not run (see `_run_start`)."""
        self.store = wasmtime.Store(self.engine.engine)
        # Instantiating a module with two memories evaluates its data segment offsets as
        # code that takes a little fuel; messages set their own fuel in `_begin`.
        self.store.set_fuel(ACCESSOR_FUEL)
        try:
            instance = self._linker().instantiate(self.store, self.compiled)
        except wasmtime.Trap as exc:
            raise self._translate_trap(exc, 0) from None
        except wasmtime.WasmtimeError as exc:
            raise CanisterTrap(
                ErrorCode.CANISTER_INVALID_WASM, f"Canister's module cannot be instantiated: {exc}"
            ) from None
        self.exports = dict(instance.exports(self.store).items())
        self._entry_points = {}
        memory = self.exports.get(MEMORY_EXPORT)
        self.memory = memory if isinstance(memory, wasmtime.Memory) else None
        table = self.exports.get(TABLE_EXPORT)
        self.table = table if isinstance(table, wasmtime.Table) else None
        self.checkpoint.attach(self.store, self.memory, self.exports)

    def _run_start(self, start_input: ExecutionInput, instruction_limit: int) -> None:
        start = self.exports.get(START_EXPORT)
        if not isinstance(start, wasmtime.Func):
            return
        self._begin(start_input, instruction_limit, START_EXPORT)
        try:
            start(self.store)
            if self._instructions_used() > instruction_limit:
                raise instruction_limit_trap(instruction_limit)
        except wasmtime.Trap as exc:
            raise self._translate_trap(exc, instruction_limit) from None
        except wasmtime.WasmtimeError as exc:
            raise CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {exc}") from None
        finally:
            self._api = None
            self._reset_overhead()

    def _begin(self, inp: ExecutionInput, instruction_limit: int, entry_point: str) -> SystemApi:
        # An instrumented module's marking instructions burn fuel but are not counted
        # (`_instructions_used`), so it gets headroom for them; the limit is enforced
        # on the count (`_consume`, `execute`).
        fuel = instruction_limit * (_FUEL_HEADROOM if self.checkpoint.bitmap is not None else 1)
        self.store.set_fuel(fuel)
        self._fuel_limit = fuel
        self._instruction_limit = instruction_limit
        api = SystemApi(
            inp, self._heap, self.stable, self._instructions_used,
            memory64=self.module.memory64, entry_point=entry_point, consume=self._consume,
        )
        self._api = api
        return api

    def _instructions_used(self) -> int:
        """Instructions of this execution: fuel used less what the dirty-page marking used."""
        used = self._fuel_limit - self.store.get_fuel()
        checkpoint = self.checkpoint
        return used - checkpoint.overhead.value if checkpoint.bitmap is not None else used

    def _reset_overhead(self) -> None:
        checkpoint = self.checkpoint
        if checkpoint.bitmap is not None:
            checkpoint.overhead.value = 0

    def _consume(self, instructions: int) -> None:
        """Charge a System API call's ``instructions``; IC0522 past the instruction limit."""
        fuel = self.store.get_fuel()
        limit = self._instruction_limit
        # Fuel used bounds the count from above, so the marking counter is read only
        # near the limit.
        if (self._fuel_limit - fuel + instructions > limit
                and self._instructions_used() + instructions > limit) or instructions > fuel:
            self.store.set_fuel(0)
            raise instruction_limit_trap(limit)
        self.store.set_fuel(fuel - instructions)

    # -- the committed image ----------------------------------------------------------------------

    def _rollback_heap(self) -> None:
        checkpoint = self.checkpoint
        if not checkpoint.rollback():
            self.restore_image(checkpoint.image, checkpoint.committed_globals)

    def restore_image(self, image: bytes | bytearray, global_values: dict[int, Any]) -> None:
        """Re-instantiate and load a committed heap image and globals (restart, rollback)."""
        self._instantiate()
        self.checkpoint.restore(image, global_values)

    def take_dirty_pages(self) -> dict[int, bytes]:
        """The heap pages changed since the last call (index -> 4 KiB), for the checkpoint."""
        return self.checkpoint.take_dirty_pages()

    @property
    def heap_size(self) -> int:
        """Committed linear memory size in bytes."""
        return len(self.checkpoint.image)

    @property
    def committed_globals(self) -> dict[int, Any]:
        """Committed mutable globals by index."""
        return self.checkpoint.committed_globals

    # -- the rest of `CanisterSandbox` ----------------------------------------------------------

    @property
    def kv(self) -> KeyValueStore | None:
        return None

    def take_dirty_kv(self) -> dict[bytes, bytes | None]:
        return {}

    def mark_all_dirty(self) -> None:
        self.checkpoint.mark_all_dirty()

    def heap_image(self) -> bytes:
        return bytes(self.checkpoint.image)

    def snapshot(self) -> object:
        return bytes(self.checkpoint.image), dict(self.checkpoint.committed_globals)

    def restore(self, snapshot: object) -> None:
        image, global_values = cast("tuple[bytes, dict[int, Any]]", snapshot)
        self.restore_image(image, global_values)

    # -- composite query graphs ----------------------------------------------------------------

    @contextmanager
    def query_graph(self) -> Iterator[None]:
        """Keep the changes of the non-replicated executions inside, and discard them all
        at the end.

        For a composite query's executions of this canister: the query and the reply and
        reject callbacks of the calls it makes. Each sees the heap, globals and stable
        memory the previous one left (a continuation left in the heap before a call is
        there for its callback); on leaving the scope, however it is left (a reply, a
        reject, a trap, a budget used up, an exception), heap, globals and stable memory
        are restored to the committed state once. Executions inside must pass
        ``persist=False``; an execution that traps inside is not rolled back on its own:
        its changes go with the rest when the scope ends, so the caller ends the
        canister's part of the graph at a trap. A nested scope is part of the outermost.

        No one else sees the intermediate state: the scope holds the sandbox's lock
        throughout, and `execute` takes it, so an execution from another thread waits for
        the graph to end. In the replica it never waits: all work on a replica runs one
        piece at a time (the replica service's thread, or a caller holding it inline; a
        subnet copy's lock), and a composite query is one piece of work, so nothing
        interleaves with its graph. Holding the live instance costs nothing more, where a
        private copy of the instance would cost a heap copy per query.

        Raises `ReplicaError` if a stable-memory transaction is already open.
        """
        with self._lock:
            outermost = not self._graphs
            if outermost:
                self.stable.begin()
            self._graphs += 1
            try:
                yield
            finally:
                self._graphs -= 1
                if outermost:
                    self.stable.rollback()
                    self._rollback_heap()

    # -- execution ------------------------------------------------------------------------------

    def has_export(self, name: str) -> bool:
        return name in self.exports

    def execute(
        self,
        target: str | tuple[int, int],
        inp: ExecutionInput,
        instruction_limit: int,
        *,
        persist: bool,
    ) -> ExecutionResult:
        """Run an export (by name) or a table callback ``(index, env)`` atomically.

        With ``persist`` and no trap, heap, globals and stable memory changes are
        committed; otherwise they are all rolled back, or, inside `query_graph`, kept for
        the graph's next executions until it ends. Effects for the subnet are in the
        result's ``output``. Raises `ReplicaError` for ``persist`` inside `query_graph`.
        """
        with self._lock:
            if not self._graphs:
                return self._execute(target, inp, instruction_limit, persist=persist)
            if persist:
                raise ReplicaError(
                    f"Sandbox.execute({target!r}, persist=True) inside a query graph: nothing "
                    "of a query may persist; pass persist=False or leave `query_graph` first"
                )
            api = self._begin(inp, instruction_limit, target if isinstance(target, str) else "")
            trap, instructions = self._run(api, target, instruction_limit)
            return _result(api, trap, instructions)

    def _execute(
        self, target: str | tuple[int, int], inp: ExecutionInput, instruction_limit: int, *,
        persist: bool,
    ) -> ExecutionResult:
        """`execute` outside a query graph: commit or roll back this execution alone."""
        api = self._begin(inp, instruction_limit, target if isinstance(target, str) else "")
        self.stable.begin()
        trap, instructions = self._run(api, target, instruction_limit)
        if trap is None and persist:
            self.checkpoint.commit()
            self.stable.commit()
        else:
            self.stable.rollback()
            self._rollback_heap()
        return _result(api, trap, instructions)

    def _run(self, api: SystemApi, target: str | tuple[int, int],
             instruction_limit: int) -> tuple[CanisterTrap | None, int]:
        """Invoke ``target`` under ``api`` (begun by `_begin`): its trap, if any, and its
        instructions (the count, at most the limit, less host-call complexity)."""
        trap: CanisterTrap | None = None
        try:
            self._invoke(target)
        except CanisterTrap as exc:
            trap = exc
        except wasmtime.Trap as exc:
            trap = self._translate_trap(exc, instruction_limit)
        except wasmtime.WasmtimeError as exc:
            trap = CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {exc}")
        used = self._instructions_used()
        self._reset_overhead()
        if trap is None and used > instruction_limit:
            trap = instruction_limit_trap(instruction_limit)
        self._api = None
        return trap, max(0, min(used, instruction_limit) - api.complexity)

    def _invoke(self, target: str | tuple[int, int]) -> None:
        if isinstance(target, str):
            entry_point = self._entry_points.get(target)
            if entry_point is None:
                func = self.exports.get(target)
                if not isinstance(func, wasmtime.Func):
                    raise CanisterTrap(
                        ErrorCode.CANISTER_METHOD_NOT_FOUND, f"Canister has no export {target!r}"
                    )
                entry_point = self._entry_points[target] = RawFunc(self.store, func)
            entry_point()
            return
        index, env = target
        if self.table is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_FUNCTION_NOT_FOUND,
                "Canister trapped: callback requested but the module has no table",
            )
        if index >= self.table.size(self.store):
            raise CanisterTrap(
                ErrorCode.CANISTER_FUNCTION_NOT_FOUND,
                f"Canister trapped: callback function {index} is outside the table",
            )
        func = self.table.get(self.store, index)
        if not isinstance(func, wasmtime.Func):
            raise CanisterTrap(
                ErrorCode.CANISTER_FUNCTION_NOT_FOUND,
                f"Canister trapped: table entry {index} is not a function",
            )
        if self.module.memory64:
            func(self.store, env - (1 << 64) if env >= 1 << 63 else env)
        else:
            func(self.store, env - (1 << 32) if env >= 1 << 31 else env)

    @staticmethod
    def _translate_trap(exc: wasmtime.Trap, instruction_limit: int) -> CanisterTrap:
        code = exc.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return instruction_limit_trap(instruction_limit)
        reason = _TRAP_MESSAGES.get(code) if code is not None else None
        if reason is None:
            reason = str(exc).strip().splitlines()[0]
        return CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {reason}")


def _result(api: SystemApi, trap: CanisterTrap | None, instructions: int) -> ExecutionResult:
    """The `ExecutionResult` of an execution under ``api``: its trap, or its effects."""
    if trap is not None:
        return ExecutionResult(None, trap, instructions, api.complexity)
    output = api.finish()
    output.instructions = instructions
    return ExecutionResult(output, None, instructions, api.complexity)
