"""Python canisters on the host: `ComponentSandbox`, one runtime instance per canister.

How it works: every Python canister runs the same component (`runtime.shared_runtime`,
built from the canister ABI, ``icframework/abi``). A `ComponentSandbox` instantiates it
with a linker whose imports are served by `component_imports.ComponentImports` (the
ABI's ``ic0`` mirror, the key-value store, ``events`` and a virtual WASI), hands the
app's source to the export ``install`` and runs each message through the export
``call`` with fuel = instructions.

A message's effects are applied only if it does not trap: its key-value writes are
kept in the transaction (`kv_store.KeyValueStore`) and committed after ``call`` returns
(never for queries or with ``persist=False``). Python state inside the instance cannot
be rolled back, so a trap *discards the instance*; the next message re-instantiates
(~6 ms) and re-installs the source (~2 M instructions, not charged to the message).
Module globals of a Python canister are therefore caches: durable state belongs in the
key-value store.

Values cross the boundary through `wit_values` (bulk ``list<u8>`` conversion, see
docs/abi.md). Ordinary messages run through the export ``call-method`` (the method's
index in the export list ``install`` returned) and answer one message-outcome blob;
callbacks run through ``call-callback``; everything else through ``call``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, cast

import wasmtime
from wasmtime import component

from icframework.abi import interface_name
from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.core.outcome import OutcomeError, decode_outcome
from icframework.replica.execution.component_imports import (
    ComponentImports,
    Message,
    reject,
    reply,
)

# re-exported until subnet.py and the facade import from their new homes
from icframework.replica.execution.kv_store import KeyValueStore
from icframework.replica.execution.runtime import (
    RuntimeLoader,
    RuntimeUnavailableError,
    set_runtime_loader,
    shared_runtime,
)
from icframework.replica.execution.sandbox import (
    ExecutionResult,
    consume_fuel,
    instruction_limit_trap,
)
from icframework.replica.execution.system_api import CanisterTrap, ExecutionInput, ExecutionOutput
from icframework.replica.execution.wasm_module import CanisterModule
from icframework.replica.execution.wit_values import ExportFunc

__all__ = [
    "INSTALL_INSTRUCTION_LIMIT",
    "ComponentExecutionResult",
    "ComponentSandbox",
    "KeyValueStore",
    "RuntimeLoader",
    "RuntimeUnavailableError",
    "install_input",
    "set_runtime_loader",
    "shared_runtime",
]

INSTALL_INSTRUCTION_LIMIT = 5_000_000_000
"""Instructions allowed for loading an app's source (``install``), per instantiation."""

_CANISTER_INTERFACE = interface_name("canister")

# Callbacks: a reply context runs the export with kind reply-callback, a reject context
# with reject-callback; the callback id travels in the staged call's `reply_env`.
_CALLBACK_KINDS = {
    Context.REPLY_CALLBACK: "reply-callback",
    Context.COMPOSITE_REPLY_CALLBACK: "reply-callback",
    Context.REJECT_CALLBACK: "reject-callback",
    Context.COMPOSITE_REJECT_CALLBACK: "reject-callback",
}
_METHOD_PREFIXES = ("canister_update ", "canister_query ", "canister_composite_query ")
_SYSTEM_EXPORTS = {
    "canister_init": "init",
    "canister_pre_upgrade": "pre-upgrade",
    "canister_post_upgrade": "post-upgrade",
    "canister_heartbeat": "heartbeat",
    "canister_global_timer": "timer",
    "canister_inspect_message": "inspect",
}


@dataclass(slots=True)
class ComponentExecutionResult(ExecutionResult):
    """One execution: effects (None if it trapped), trap, instructions, events, timings.

    ``instructions`` are those of the ``call`` itself; a re-installation the execution
    needed first is reported in ``install_instructions`` and is not charged.
    """

    events: list[tuple[str, bytes]] = field(default_factory=list)
    kv_writes: int = 0
    reinstalled: bool = False
    install_instructions: int = 0


def install_input(canister_id: bytes, time_ns: int) -> ExecutionInput:
    """The `ExecutionInput` of loading an app's source: the START context (like a module's
    ``(start)`` function), so only debug_print, trap and performance_counter work."""
    return ExecutionInput(
        context=Context.START, canister_id=canister_id, caller=b"", time_ns=time_ns,
        cycle_balance=0,
    )


class ComponentSandbox:
    """One Python canister: an instance of the shared runtime with the app's source installed.

    Not thread-safe (one message at a time). `execute` has the shape of
    `Sandbox.execute` so the subnet can drive both kinds of canister.
    """

    def __init__(
        self,
        engine: wasmtime.Engine,
        runtime: component.Component,
        source: str,
        *,
        filename: str = "canister.py",
        canister_id: bytes = b"",
        kv: KeyValueStore | None = None,
        time_ns: int = 0,
        install_instruction_limit: int = INSTALL_INSTRUCTION_LIMIT,
        module: CanisterModule | None = None,
    ) -> None:
        """Instantiate the runtime and install ``source``; raises `CanisterTrap` if it fails.

        ``kv`` is the canister's committed store (a new empty one if None);
        ``time_ns`` is the clock the source sees while it loads. ``module`` is the
        installed Python canister module; `module` is it with the entry points the
        app registered (what the subnet routes by).
        """
        self.engine = engine
        self.runtime = runtime
        self.source = source
        self.filename = filename
        self.canister_id = canister_id
        self.kv = kv if kv is not None else KeyValueStore()
        self.install_instruction_limit = install_instruction_limit
        self.exports: frozenset[str] = frozenset()
        self.logs: list[bytes] = []
        self.instantiate_seconds = 0.0
        self.install_seconds = 0.0
        self.install_instructions = 0
        self._imports = ComponentImports()
        self._fuel_limit = 0
        self._store: wasmtime.Store | None = None
        self._call: ExportFunc | None = None
        self._call_method: ExportFunc | None = None
        self._call_callback: ExportFunc | None = None
        self._method_index: dict[str, int] = {}
        self._linker = self._imports.linker(engine, runtime)
        self._instantiate_and_install(time_ns, b"install\0" + canister_id)
        self.module = (module or _BARE_MODULE).with_entry_points(self.exports)

    # -- what the subnet expects of a sandbox (`execution.sandbox.CanisterSandbox`) --

    @property
    def heap_size(self) -> int:
        """Bytes of committed key-value data: a Python canister's memory, for storage fees."""
        return self.kv.size_bytes

    @property
    def committed_globals(self) -> dict[int, Any]:
        return {}

    def take_dirty_pages(self) -> dict[int, bytes]:
        return {}

    def take_dirty_kv(self) -> dict[bytes, bytes | None]:
        """Keys changed since the last checkpoint (value, or None if deleted)."""
        return self.kv.take_dirty()

    def mark_all_dirty(self) -> None:
        """Nothing to do: the store is written key by key (a new store's keys are dirty)."""

    def heap_image(self) -> bytes:
        return b""

    def snapshot(self) -> object:
        return self.kv.snapshot()

    def restore(self, snapshot: object) -> None:
        self.kv.restore(cast("tuple[dict[bytes, bytes], frozenset[bytes]]", snapshot))
        # The instance caches committed values, which this just changed under it.
        self._drop_instance()

    # -- instantiation and install ----------------------------------------------------------

    def _instantiate_and_install(self, time_ns: int, seed: bytes) -> int:
        """A fresh instance with the source installed; returns the install's instructions."""
        self._store = None
        self._call = None
        self._call_method = None
        self._call_callback = None
        started = time.perf_counter()
        store = wasmtime.Store(self.engine)
        # The component's start-up code runs under fuel too; it is not charged either.
        store.set_fuel(self.install_instruction_limit)
        try:
            instance = self._linker.instantiate(store, self.runtime)
        except wasmtime.WasmtimeError as exc:
            raise CanisterTrap(
                ErrorCode.CANISTER_INVALID_WASM,
                f"Canister's runtime component cannot be instantiated: {exc}",
            ) from None
        interface = instance.get_export_index(store, _CANISTER_INTERFACE)
        funcs = {}
        for name in ("install", "call", "call-method", "call-callback"):
            index = instance.get_export_index(store, name, interface)
            func = None if index is None else instance.get_func(store, index)
            if interface is None or func is None:
                raise CanisterTrap(
                    ErrorCode.CANISTER_INVALID_WASM,
                    f"Canister's runtime component does not export {_CANISTER_INTERFACE}",
                )
            # The message exports take and answer blobs only, declared to the host as
            # latin-1 strings (`icframework.compiler.bulk_bytes`): one buffer each way.
            funcs[name] = ExportFunc(func, store, latin1=name in _LATIN1_EXPORTS)
        install, call = funcs["install"], funcs["call"]
        self.instantiate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        limit = self.install_instruction_limit
        message = Message(
            install_input(self.canister_id, time_ns), None, lambda: limit - store.get_fuel(),
            seed, "",
        )
        self.logs = []
        store.set_fuel(limit)
        self._imports.message = message
        try:
            names = install(store, self.filename, self.source)
            install.post_return(store)
        except CanisterTrap:
            raise
        except wasmtime.WasmtimeError as exc:
            raise _translate(exc, store, limit) from None
        finally:
            self._imports.message = None
            self.logs = list(message.api.out.logs)
        self.install_seconds = time.perf_counter() - started
        self.install_instructions = limit - store.get_fuel()
        self.exports = frozenset(names)
        self._method_index = {
            name: i for i, name in enumerate(names) if name.startswith(_METHOD_PREFIXES)
        }
        self._store = store
        self._call = call
        self._call_method = funcs["call-method"]
        self._call_callback = funcs["call-callback"]
        return self.install_instructions

    # -- execution ------------------------------------------------------------------------------

    def has_export(self, name: str) -> bool:
        """Whether the app offers the IC export ``name`` (e.g. ``canister_update inc``)."""
        return name in self.exports

    def execute(
        self,
        target: str | tuple[int, int],
        inp: ExecutionInput,
        instruction_limit: int,
        *,
        persist: bool,
        seed: bytes | None = None,
    ) -> ComponentExecutionResult:
        """Run an entry point atomically, like `Sandbox.execute`.

        ``target`` is an IC export name (``canister_update inc``, ``canister_query get``,
        ``canister_init``, ``canister_global_timer``, ...) or, for a response, the
        callback ``(fun, env)`` of the staged call (``env`` is the app's callback id;
        the context in ``inp`` says reply or reject). With ``persist`` and no trap the
        key-value writes are committed; otherwise they are discarded. ``seed`` seeds
        the message's randomness (the subnet passes one from its random stream; by
        default it is derived from the input). A trap discards the instance.
        """
        kind, method, arg = self._entry(target, inp)
        if seed is None:
            digest = hashlib.sha256(
                repr((inp.canister_id, inp.caller, inp.time_ns, inp.context.value, target))
                .encode()
            )
            digest.update(inp.arg)  # without copying a large argument first
            seed = digest.digest()
        reinstall_instructions = 0
        reinstalled = False
        if self._store is None:
            try:
                reinstall_instructions = self._instantiate_and_install(inp.time_ns, seed)
            except CanisterTrap as failed:
                return ComponentExecutionResult(None, failed, 0)
            reinstalled = True
        store, call = self._store, self._call
        assert store is not None and call is not None
        if kind is None:
            # A cleanup callback: the ABI has none (continuations live in the guest).
            return ComponentExecutionResult(ExecutionOutput(), None, 0)
        if target not in self.exports and isinstance(target, str):
            return ComponentExecutionResult(
                None,
                CanisterTrap(
                    ErrorCode.CANISTER_METHOD_NOT_FOUND, f"Canister has no export {target!r}"
                ),
                0,
                reinstalled=reinstalled,
                install_instructions=reinstall_instructions,
            )
        self.kv.begin()
        message = Message(
            inp, self.kv, self._instructions_used, seed, target if isinstance(target, str) else "",
            self._consume,
        )
        self._imports.message = message
        store.set_fuel(instruction_limit)
        self._fuel_limit = instruction_limit
        trap: CanisterTrap | None = None
        effects = False
        try:
            index = self._method_index.get(target) if type(target) is str else None
            if index is not None or type(target) is tuple:
                # An ordinary message or a callback: the exports that lift no strings and
                # answer the message outcome (reply, writes and events in one blob).
                if index is not None:
                    fast = self._call_method
                    assert fast is not None
                    blob = fast(store, index, arg)
                else:
                    fast = self._call_callback
                    assert fast is not None and isinstance(target, tuple)
                    blob = fast(store, target[1], kind == "reject-callback", arg)
                fast.post_return(store)
                if blob[:1] == b"\x01":  # a reply alone: the common case
                    reply(message, blob[1:])
                else:
                    effects = self._apply_outcome(message, blob)
            else:
                response = call(store, kind, method, arg)
                call.post_return(store)
                self._respond(message, response)
        except CanisterTrap as exc:
            trap = exc
        except wasmtime.WasmtimeError as exc:
            trap = _translate(exc, store, instruction_limit)
        complexity = message.api.complexity
        instructions = max(0, min(self._instructions_used(), instruction_limit) - complexity)
        self._imports.message = None
        if trap is not None:
            self.kv.rollback()
            # Python state cannot be rolled back: the next message gets a fresh instance.
            self._drop_instance()
            return ComponentExecutionResult(
                None, trap, instructions, complexity, reinstalled=reinstalled,
                install_instructions=reinstall_instructions,
            )
        writes = self.kv.commit() if persist else 0
        if not persist:
            self.kv.rollback()
            if effects:
                # The instance counts its writes as committed (it caches committed
                # values); they are not, so its view is stale: start a fresh one.
                self._drop_instance()
        output = message.api.finish()
        output.instructions = instructions
        return ComponentExecutionResult(
            output, None, instructions, complexity, events=message.events if persist else [],
            kv_writes=writes, reinstalled=reinstalled,
            install_instructions=reinstall_instructions,
        )

    def reset_instance(self) -> None:
        """Forget the instance, as after a trap: the next message instantiates and
        installs afresh. For tools that change `kv` directly (e.g. a benchmark filling a
        large store host-side): the instance caches committed values."""
        self._drop_instance()

    def _drop_instance(self) -> None:
        """Forget the instance: the next message instantiates and installs afresh."""
        self._store = None
        self._call = None
        self._call_method = None
        self._call_callback = None

    def _apply_outcome(self, message: Message, blob: bytes) -> bool:
        """Apply a message outcome blob (reply, writes, events); True if it had effects.

        Raises `CanisterTrap` (contract violation) for a malformed blob.
        """
        try:
            outcome = decode_outcome(blob)
        except OutcomeError as exc:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister violated contract: malformed message outcome from the runtime: {exc}",
            ) from None
        store = message.kv
        assert store is not None
        for key, value in outcome.writes:
            if value is None:
                store.delete(key)
            else:
                store.put(key, value)
        message.events.extend(outcome.events)
        if outcome.reply is not None:
            reply(message, outcome.reply)
        return bool(outcome.writes or outcome.events)

    def _respond(self, message: Message, response: tuple[str, Any]) -> None:
        tag, payload = response
        if tag == "reply":
            reply(message, payload)
        elif tag == "reject":
            reject(message, payload)

    def _instructions_used(self) -> int:
        store = self._store
        return 0 if store is None else self._fuel_limit - store.get_fuel()

    def _consume(self, instructions: int) -> None:
        """Take ``instructions`` from the fuel (a System API charge); IC0522 if too few."""
        store = self._store
        assert store is not None
        consume_fuel(store, instructions, self._fuel_limit)

    @staticmethod
    def _entry(target: str | tuple[int, int], inp: ExecutionInput) -> tuple[str | None, str, bytes]:
        """(WIT call kind or None for a no-op, method, argument) of an execution target."""
        if isinstance(target, tuple):
            kind = _CALLBACK_KINDS.get(inp.context)
            if kind is None:
                return None, "", b""
            return kind, str(target[1]), inp.arg if kind == "reply-callback" else b""
        for prefix, kind in (("canister_update ", "update"), ("canister_query ", "query")):
            if target.startswith(prefix):
                return kind, target[len(prefix):], inp.arg
        system = _SYSTEM_EXPORTS.get(target)
        if system == "inspect":
            return system, inp.method_name, inp.arg
        if system in ("init", "post-upgrade"):
            return system, "", inp.arg
        if system is not None:
            return system, "", b""
        return "update", target, inp.arg


_LATIN1_EXPORTS = frozenset({"call-method", "call-callback"})

_BARE_MODULE = CanisterModule(
    wasm=b"", module_hash=b"", memory64=False, has_memory=False, has_table=False,
    updates=frozenset(), queries=frozenset(), composite_queries=frozenset(),
    system_methods=frozenset(), mutable_globals=(),
)



def _translate(exc: wasmtime.WasmtimeError, store: wasmtime.Store, limit: int) -> CanisterTrap:
    """A wasmtime error from the runtime as the IC's trap (fuel exhausted: IC0522)."""
    if store.get_fuel() == 0:
        return instruction_limit_trap(limit)
    text = str(exc).strip()
    lines = text.splitlines()
    reason = lines[0] if lines else "unknown error"
    if "wasm trap: " in text:
        reason = text.split("wasm trap: ", 1)[1].splitlines()[0]
    return CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {reason}")
