"""Canister state of a subnet: canister records, sandboxes and memories, and their persistence.

How it works: `Canisters.load` reads every canister record, stable memory pages and
heap checkpoint from the state store and restores each installed canister's sandbox
(Python canisters: the shared runtime over their key-value store). Execution and the
management canister change records and memories in place and mark what they touched
(`mark_dirty`, `set_sandbox`, `clear_memories`, `delete_canister`); `write_changes`
adds exactly that to a round's `RoundChanges`: dirty records, written heap and
stable pages, key-value writes and wipes, new modules, and the id allocator with the
subnet's random seed. `refresh` goes the other way for a read-only copy: given the
changes another process committed to the store, it updates only the canisters they
touch. `execution_input` builds what a sandbox sees of its canister.
Amounts are cycles, sizes bytes, times nanoseconds.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import cbor2

from icframework.core import ErrorCode, Principal
from icframework.core.ic0 import Context
from icframework.replica.chunk_store import CHUNK_SIZE, ChunkData, chunk_namespace
from icframework.replica.errors import CanisterError, InvalidModuleError, ReplicaError
from icframework.replica.execution.component import ComponentSandbox
from icframework.replica.execution.engine import ExecutionEngine
from icframework.replica.execution.kv_store import KeyValueStore
from icframework.replica.execution.page_map import CHECKPOINT_PAGE, PageMap
from icframework.replica.execution.runtime import (
    RuntimeLoader,
    RuntimeUnavailableError,
    shared_runtime,
)
from icframework.replica.execution.sandbox import CanisterSandbox, Sandbox
from icframework.replica.execution.system_api import CanisterTrap, ExecutionInput
from icframework.replica.execution.wasm_module import CanisterModule, load_canister_module
from icframework.replica.registry import RoutingTable
from icframework.replica.state import CanisterState
from icframework.replica.store import RoundChanges, StateStore

if TYPE_CHECKING:
    from icframework.replica.subnet import SubnetConfig
    from icframework.replica.xnet import Routing

_ZERO_PAGE = bytes(CHECKPOINT_PAGE)

KV_META = "meta"
KV_MODULES = "module"
KV_CANISTER_PREFIX = "kv:"
"""The prefix of the state store namespaces of Python canisters' key-value data."""


def kv_namespace(canister_id: bytes) -> str:
    """The state store namespace of a Python canister's key-value data."""
    return KV_CANISTER_PREFIX + canister_id.hex()


def canister_namespaces(canister_id: bytes) -> tuple[str, ...]:
    """Every state store namespace holding data of ``canister_id`` alone: its key-value
    data (Python canisters) and its Wasm chunk store (whose hashes its record lists).
    With its record, memory pages and module, what a migration moves."""
    return (kv_namespace(canister_id), chunk_namespace(canister_id))


@functools.lru_cache(maxsize=4096)
def canister_text(canister_id: bytes) -> str:
    """The principal text of a raw canister id (cached: queries name their canister in
    every reject message, and the text costs ~15 µs to compute)."""
    return Principal(canister_id).to_text()


class Canisters:
    """Every canister of one subnet with its sandbox and memories (see the module docstring).

    ``config`` is the subnet's `SubnetConfig`; ``now`` returns the subnet's round time.
    """

    def __init__(self, store: StateStore, engine: ExecutionEngine, config: SubnetConfig,
                 now: Callable[[], int], python_runtime: RuntimeLoader | None = None) -> None:
        self.store = store
        self.engine = engine
        self.config = config
        self.now = now
        self.python_runtime = python_runtime
        self.states: dict[bytes, CanisterState] = {}
        self.sandboxes: dict[bytes, CanisterSandbox] = {}
        self.stables: dict[bytes, PageMap] = {}
        self.modules: dict[bytes, CanisterModule] = {}
        self.next_canister_index: int = config.first_canister_index
        self.seed = b""
        self._meta_dirty = False
        self._dirty: set[bytes] = set()
        self._deleted: set[bytes] = set()
        self._cleared_spaces: set[tuple[bytes, str]] = set()
        self._new_modules: dict[bytes, bytes] = {}
        self._kv_wipes: dict[bytes, set[bytes]] = {}
        self.chunks = ChunkData(store)

    # -- loading -----------------------------------------------------------------------------

    def load(self) -> None:
        """Read the id allocator, seed, records and memories; restore every sandbox.

        Raises `ReplicaError` if an installed canister cannot be restored.
        """
        meta = self.store.kv_get(KV_META, b"subnet")
        if meta is None:
            self.seed = os.urandom(32)
            self._meta_dirty = True
        else:
            data = cbor2.loads(meta)
            self.next_canister_index = data["next_index"]
            self.seed = data["seed"]
        for canister_id, record in self.store.canister_records().items():
            state = CanisterState.from_record(record)
            self.states[canister_id] = state
            stable = PageMap()
            for index, data in self.store.load_pages(canister_id, "stable"):
                stable.load_page(index, data)
            stable.resize(state.stable_size)
            self.stables[canister_id] = stable
            if state.module_hash is not None:
                module = self.module_by_hash(state.module_hash)
                try:
                    self.sandboxes[canister_id] = self._restore_sandbox(state, module, stable)
                except (CanisterTrap, RuntimeUnavailableError) as exc:
                    raise ReplicaError(
                        f"canister {canister_text(canister_id)} cannot be restored: {exc}"
                    ) from None

    def _restore_sandbox(self, state: CanisterState, module: CanisterModule,
                         stable: PageMap) -> CanisterSandbox:
        """The sandbox of an installed canister from its last checkpoint."""
        canister_id = state.canister_id
        if module.is_python:
            kv = KeyValueStore(dict(self.store.kv_scan(kv_namespace(canister_id))))
            return self._python_sandbox(state, module, kv)
        return Sandbox(
            self.engine, module, stable, self.execution_input(state, Context.START, b""),
            self.config.install_instruction_limit, image=self._heap_image(state),
            global_values=state.globals,
        )

    def _heap_image(self, state: CanisterState) -> bytes:
        """The committed heap of a wasm canister, from its stored checkpoint pages."""
        image = bytearray(state.heap_size)
        for index, data in self.store.load_pages(state.canister_id, "heap"):
            offset = index * CHECKPOINT_PAGE
            if offset < state.heap_size:
                image[offset : offset + len(data)] = data
        return bytes(image)

    def _python_sandbox(self, state: CanisterState, module: CanisterModule,
                        kv: KeyValueStore | None) -> ComponentSandbox:
        """An instance of the shared runtime with the app of ``module`` loaded over ``kv``.

        Raises `CanisterTrap` if the app fails to load, `RuntimeUnavailableError` if
        there is no runtime.
        """
        app = module.python_app
        assert app is not None
        runtime = shared_runtime(self.engine.engine, self.python_runtime)
        filename, source = app.install_source()
        return ComponentSandbox(
            self.engine.engine, runtime, source, filename=filename,
            canister_id=state.canister_id, kv=kv, time_ns=self.now(),
            install_instruction_limit=self.config.install_instruction_limit, module=module,
        )

    def refresh(self, changes: RoundChanges) -> set[bytes]:
        """Bring the loaded canisters to the store's state after ``changes`` were committed
        to it by another process (a read-only copy following its subnet's writer); returns
        the ids whose certified entry may have changed (record upserted, created, deleted).

        Only what ``changes`` names is touched, so the result equals a fresh `load`:

        - a new canister, a new module (install, reinstall, upgrade: another module hash
          or install time) or no sandbox yet: the sandbox is restored as `load` does
          (compiled modules come from the engine's cache);
        - stable memory: the changed pages are loaded into the canister's `PageMap` in
          place (all of it first dropped if its space was deleted), then sized;
        - a Python canister whose key-value data changed gets a new instance over the
          stored values (the old instance caches values it read: `_refresh_canister`);
        - a wasm canister whose heap pages, heap size or globals changed is re-instantiated
          on the same sandbox (its linker and compiled module kept) from the stored image;
        - a canister whose record alone changed (cycles, status, …) keeps its sandbox;
        - deleted canisters are dropped, the id allocator and seed follow ``meta``.

        Raises `ReplicaError` if a sandbox cannot be restored; the canisters are then
        partly refreshed and must be loaded again (`load` on a new instance).
        """
        meta = changes.kv_puts.get((KV_META, b"subnet"))
        if meta is not None:
            data = cbor2.loads(meta)
            self.next_canister_index = data["next_index"]
            self.seed = data["seed"]
        cleared = {canister_id for canister_id, space in changes.space_deletes
                   if space == "stable"}
        heap_changed = {canister_id for canister_id, space in changes.space_deletes
                        if space == "heap"}
        stable_writes: dict[bytes, dict[int, bytes | None]] = {}
        for (canister_id, space), pages in changes.page_writes.items():
            if space == "stable":
                stable_writes[canister_id] = pages
            elif space == "heap":
                heap_changed.add(canister_id)
        kv_writes: dict[bytes, dict[bytes, bytes | None]] = {}
        for namespace, key in changes.kv_deletes:
            if namespace.startswith(KV_CANISTER_PREFIX):
                canister_id = bytes.fromhex(namespace[len(KV_CANISTER_PREFIX):])
                kv_writes.setdefault(canister_id, {})[key] = None
        for (namespace, key), value in changes.kv_puts.items():
            if namespace.startswith(KV_CANISTER_PREFIX):
                canister_id = bytes.fromhex(namespace[len(KV_CANISTER_PREFIX):])
                kv_writes.setdefault(canister_id, {})[key] = value

        touched: set[bytes] = set()
        previous: dict[bytes, CanisterState | None] = {}
        for canister_id in changes.canister_deletes - changes.canister_upserts.keys():
            if self.states.pop(canister_id, None) is not None:
                touched.add(canister_id)
            self.sandboxes.pop(canister_id, None)
            self.stables.pop(canister_id, None)
        for canister_id, record in changes.canister_upserts.items():
            old = None if canister_id in changes.canister_deletes else \
                self.states.get(canister_id)
            previous[canister_id] = old
            self.states[canister_id] = CanisterState.from_record(record)
            touched.add(canister_id)
        memories = heap_changed | cleared | stable_writes.keys() | kv_writes.keys()
        for canister_id in previous.keys() | memories:
            if canister_id not in self.states:
                continue  # memories of a deleted canister: gone with it
            old = previous.get(canister_id, self.states[canister_id])
            try:
                self._refresh_canister(
                    canister_id, old, clear_stable=canister_id in cleared,
                    stable_pages=stable_writes.get(canister_id, {}),
                    heap_changed=canister_id in heap_changed,
                    kv=kv_writes.get(canister_id, {}))
            except (CanisterTrap, RuntimeUnavailableError) as exc:
                raise ReplicaError(
                    f"canister {canister_text(canister_id)} cannot be restored: {exc}"
                ) from None
        return touched

    def _refresh_canister(self, canister_id: bytes, old: CanisterState | None, *,
                          clear_stable: bool, stable_pages: dict[int, bytes | None],
                          heap_changed: bool, kv: dict[bytes, bytes | None]) -> None:
        """`refresh` of one canister whose record (``old`` before it) or memories changed."""
        state = self.states[canister_id]
        stable = self.stables.get(canister_id)
        if stable is None:
            stable = self.stables[canister_id] = PageMap()
        if clear_stable:
            stable.clear()
        for index, data in stable_pages.items():
            stable.load_page(index, data if data is not None else _ZERO_PAGE)
        stable.resize(state.stable_size)
        stable.take_dirty()  # loaded, not written: nothing for a checkpoint
        if state.module_hash is None:
            self.sandboxes.pop(canister_id, None)
            return
        sandbox = self.sandboxes.get(canister_id)
        if (sandbox is None or old is None or old.module_hash != state.module_hash
                or old.last_install_ns != state.last_install_ns):
            module = self.module_by_hash(state.module_hash)
            self.sandboxes[canister_id] = self._restore_sandbox(state, module, stable)
            return
        if sandbox.kv is not None:
            if kv:
                # The running instance keeps the committed values it has read (the SDK's
                # read cache, valid until its own writes or rollbacks), so values written
                # by another process are only seen by a new instance over the new store.
                module = self.module_by_hash(state.module_hash)
                self.sandboxes[canister_id] = self._restore_sandbox(state, module, stable)
        elif isinstance(sandbox, Sandbox) and (
                heap_changed or sandbox.heap_size != state.heap_size
                or sandbox.committed_globals != state.globals):
            sandbox.restore_image(self._heap_image(state), state.globals)

    def module_by_hash(self, module_hash: bytes) -> CanisterModule:
        """The loaded module with ``module_hash``; raises `ReplicaError` if none is stored."""
        module = self.modules.get(module_hash)
        if module is None:
            raw = self._new_modules.get(module_hash) or self.store.kv_get(KV_MODULES, module_hash)
            if raw is None:
                raise ReplicaError(f"state store lacks the module with hash {module_hash.hex()}")
            module = load_canister_module(raw)
            self.modules[module_hash] = module
        return module

    # -- registry ----------------------------------------------------------------------------

    def allocate_canister_id(self, specified: bytes | None = None, *,
                             routing: Routing | None = None) -> bytes:
        """A fresh canister id from the subnet's range (or ``specified`` if it is free).

        On a subnet of several, ``routing`` (the subnet's routing table) must also place
        the id here: an id whose range, or whose canister, moved to another subnet is
        skipped, since calls for it would go there."""
        if specified is not None:
            if specified in self.states or specified in self._deleted:
                raise CanisterError(
                    ErrorCode.CANISTER_ID_ALREADY_EXISTS,
                    f"Canister {canister_text(specified)} is already installed or was deleted.",
                )
            return specified
        while True:
            index = self._next_routed_here(routing)
            if index is None:
                raise CanisterError(
                    ErrorCode.MAX_NUMBER_OF_CANISTERS_REACHED,
                    "Subnet has no free canister ids left in its range"
                    f"{'' if routing is None else ' that the routing table routes to it'}.",
                )
            candidate = Principal.from_canister_index(index).raw
            self.next_canister_index = index + 1
            self._meta_dirty = True
            if candidate not in self.states:
                return candidate

    def _next_routed_here(self, routing: Routing | None) -> int | None:
        """The first index from `next_canister_index` on, in the subnet's range, that
        ``routing`` (if any) places on this subnet; None when there is none."""
        index, last = self.next_canister_index, self.config.last_canister_index
        name = self.config.subnet_name
        if routing is None or index > last:
            return index if index <= last else None
        if isinstance(routing, RoutingTable):  # jump over ranges routed elsewhere
            for route in routing.ranges_of(name):
                if route.last >= index:
                    start = max(index, route.first)
                    return start if start <= last else None
            return None
        while index <= last and \
                routing.subnet_of(Principal.from_canister_index(index).raw) != name:
            index += 1
        return index if index <= last else None

    def add_canister(self, state: CanisterState) -> None:
        now = self.now()
        state.created_ns = now
        state.storage_charged_ns = now
        self.states[state.canister_id] = state
        self.stables[state.canister_id] = PageMap()
        self.mark_dirty(state.canister_id)

    def mark_dirty(self, canister_id: bytes) -> None:
        """Have the canister's record written in the next commit."""
        self._dirty.add(canister_id)

    def canister(self, canister_id: bytes) -> CanisterState:
        """The state of ``canister_id``; raises `CanisterError` IC0301 if there is none."""
        state = self.states.get(canister_id)
        if state is None:
            raise CanisterError(
                ErrorCode.CANISTER_NOT_FOUND, f"Canister {canister_text(canister_id)} not found"
            )
        return state

    def memory_usage(self, canister_id: bytes) -> int:
        """Bytes held: heap, stable memory, the module itself and the chunk store (each
        chunk counted as `CHUNK_SIZE` bytes, as the IC charges it)."""
        state = self.states[canister_id]
        module = self.modules.get(state.module_hash) if state.module_hash else None
        module_size = module.installed_size if module else 0
        chunks = len(state.chunk_hashes) * CHUNK_SIZE
        return state.heap_size + state.stable_size + module_size + chunks

    def freezing_threshold(self, canister_id: bytes) -> int:
        """Cycles the canister must keep to pay its idle costs for its freezing threshold."""
        state = self.states[canister_id]
        memory = max(self.memory_usage(canister_id), state.settings.memory_allocation)
        return self.config.fees.freezing_threshold_cycles(
            memory, state.settings.compute_allocation, state.settings.freezing_threshold
        )

    # -- module installation (used by the management canister) -------------------------------

    def install_module(
        self, canister_id: bytes, wasm: bytes, stable: PageMap, *,
        previous: CanisterSandbox | None = None, keep_heap: bool = False,
    ) -> tuple[CanisterModule, CanisterSandbox]:
        """Build a sandbox for ``wasm`` on the canister's (current) stable memory.

        For an upgrade, ``previous`` is the current sandbox: a Python canister carries
        its key-value store over (as a wasm module keeps stable memory), a wasm module
        its heap if ``keep_heap``. The caller runs the init/post_upgrade entry points
        and commits or aborts. Raises `CanisterError` IC0505 for invalid modules.
        """
        state = self.states[canister_id]
        invalid = (f"Error from Canister {canister_text(canister_id)}: Canister's Wasm module "
                   "is not valid: ")
        try:
            module = load_canister_module(wasm)
            if module.is_python:
                shared_runtime(self.engine.engine, self.python_runtime)
            else:
                self.engine.compile(module)
        except (InvalidModuleError, RuntimeUnavailableError) as exc:
            raise CanisterError(ErrorCode.CANISTER_INVALID_WASM, invalid + str(exc)) from None
        if module.module_hash not in self.modules:
            self.modules[module.module_hash] = module
            self._new_modules[module.module_hash] = wasm
        sandbox: CanisterSandbox
        try:
            if module.is_python:
                kv = previous.kv if previous is not None else None
                sandbox = self._python_sandbox(state, module, kv)
            else:
                kept_heap = previous.heap_image() if previous is not None and keep_heap else None
                sandbox = Sandbox(
                    self.engine, module, stable, self.execution_input(state, Context.START, b""),
                    self.config.install_instruction_limit, kept_heap=kept_heap,
                )
        except CanisterTrap as trap:
            raise CanisterError(
                trap.error_code, f"Error from Canister {canister_text(canister_id)}: {trap.message}"
            ) from None
        return module, sandbox

    def set_sandbox(self, canister_id: bytes, sandbox: CanisterSandbox | None) -> None:
        """Replace the canister's sandbox (None: uninstalled).

        A key-value store the new sandbox does not carry over (reinstall, uninstall, a
        different kind of module) is wiped in the next commit.
        """
        old = self.sandboxes.get(canister_id)
        if old is not None and (sandbox is None or sandbox.kv is not old.kv):
            self._wipe_kv(canister_id, old)
        if sandbox is None:
            self.sandboxes.pop(canister_id, None)
        else:
            self.sandboxes[canister_id] = sandbox
        self.mark_dirty(canister_id)

    def _wipe_kv(self, canister_id: bytes, sandbox: CanisterSandbox) -> None:
        kv = sandbox.kv
        if kv is not None:
            # Every key the store may hold: the committed ones, and deletions not yet written.
            keys = self._kv_wipes.setdefault(canister_id, set())
            keys.update(kv.keys())
            keys.update(kv.take_dirty())

    def clear_memories(self, canister_id: bytes, *, stable: bool) -> None:
        """Forget the heap checkpoint (and stable memory if asked) of ``canister_id``."""
        self._cleared_spaces.add((canister_id, "heap"))
        if stable:
            self._cleared_spaces.add((canister_id, "stable"))
            self.stables[canister_id].clear()

    def delete_canister(self, canister_id: bytes) -> None:
        """Forget the canister, its sandbox, memories and key-value data (its queue is the
        caller's)."""
        state = self.states.pop(canister_id)
        self.chunks.drop(canister_id, state.chunk_hashes)
        old = self.sandboxes.pop(canister_id, None)
        if old is not None:
            self._wipe_kv(canister_id, old)
        self.stables.pop(canister_id, None)
        self._deleted.add(canister_id)
        self._dirty.discard(canister_id)

    def orphan_callbacks(self, canister_id: bytes) -> None:
        """Mark open callbacks as belonging to replaced code: their responses are dropped."""
        for callback in self.states[canister_id].callbacks.values():
            callback.extra["orphaned"] = True

    # -- execution inputs ---------------------------------------------------------------------

    def execution_input(self, state: CanisterState, context: Context, caller: bytes,
                        **kwargs: Any) -> ExecutionInput:
        """What a sandbox sees of ``state`` at the current round time; ``kwargs`` as
        `ExecutionInput` takes them (``max_response_bytes`` defaults to the reply limit)."""
        canister_id = state.canister_id
        threshold = self.freezing_threshold(canister_id) if canister_id in self.states else 0
        config = self.config
        return ExecutionInput(
            context=context,
            canister_id=canister_id,
            caller=caller,
            time_ns=self.now(),
            cycle_balance=state.cycles,
            status=state.status.code,
            version=state.version,
            controllers=frozenset(state.settings.controllers),
            certified_data=state.certified_data,
            global_timer_ns=state.global_timer_ns,
            root_key=config.root_key,
            subnet_id=config.subnet_id,
            freezing_threshold_cycles=threshold,
            fees=config.fees,
            max_response_bytes=kwargs.pop("max_response_bytes", config.max_reply_bytes),
            **kwargs,
        )

    # -- commit ------------------------------------------------------------------------------

    def write_changes(self, changes: RoundChanges) -> set[bytes]:
        """Add everything changed since the last commit to ``changes``; returns the ids of
        canisters whose record changed, or that were created or deleted."""
        for canister_id in self._dirty:
            state = self.states.get(canister_id)
            if state is not None:
                changes.canister_upserts[canister_id] = state.to_record()
        for canister_id in self._deleted:
            changes.canister_deletes.add(canister_id)
            changes.space_deletes.update({(canister_id, "heap"), (canister_id, "stable")})
        for canister_id, space in self._cleared_spaces:
            if canister_id not in self._deleted:
                changes.space_deletes.add((canister_id, space))
        for canister_id, keys in self._kv_wipes.items():
            namespace = kv_namespace(canister_id)
            changes.kv_deletes.update((namespace, key) for key in keys)
        for canister_id, sandbox in self.sandboxes.items():
            dirty = sandbox.take_dirty_pages()
            if dirty:
                changes.page_writes[(canister_id, "heap")] = dict(dirty)
            kv_dirty = sandbox.take_dirty_kv()
            if kv_dirty:
                namespace = kv_namespace(canister_id)
                for key, value in kv_dirty.items():
                    if value is None:
                        changes.kv_deletes.add((namespace, key))
                    else:
                        changes.kv_puts[(namespace, key)] = value
                        changes.kv_deletes.discard((namespace, key))
        for canister_id, stable in self.stables.items():
            stable_dirty = stable.take_dirty()
            if stable_dirty:
                changes.page_writes[(canister_id, "stable")] = stable_dirty
        for module_hash, raw in self._new_modules.items():
            changes.kv_puts[(KV_MODULES, module_hash)] = raw
        self.chunks.write_changes(changes)
        if self._meta_dirty:
            changes.kv_puts[(KV_META, b"subnet")] = cbor2.dumps(
                {"next_index": self.next_canister_index, "seed": self.seed}
            )
        touched = self._dirty | self._deleted
        self._dirty = set()
        self._deleted = set()
        self._cleared_spaces.clear()
        self._new_modules.clear()
        self._kv_wipes.clear()
        self._meta_dirty = False
        return touched
