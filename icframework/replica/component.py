"""Python canisters on the host: the shared runtime component, one instance per canister.

How it works: every Python canister runs the same component (built by
``icframework.compiler.runtime_build`` from the canister ABI, ``icframework/abi``). A
`ComponentSandbox` instantiates it with a wasmtime component `Linker` whose imports are
this module's Python functions: the ABI's ``ic0`` mirror (each call checked and carried
out by a `SystemApi`, so contexts, limits and error messages are the ones standard
modules get), the key-value store (`KeyValueStore`, one transaction per message),
``events``, and a virtual WASI: ``wall-clock`` is the message time, ``random`` a
generator seeded per message, ``environment`` empty; every other WASI import (file
system, sockets, stdio, exit) traps. It then hands the app's source to the export
``install`` and runs each message through the export ``call`` with fuel = instructions.

A message's effects are applied only if it does not trap: its key-value writes are
kept in the transaction and committed after ``call`` returns (never for queries or
with ``persist=False``). Python state inside the instance cannot be rolled back, so a
trap *discards the instance*; the next message re-instantiates (~6 ms) and re-installs
the source (~2 M instructions, not charged to the message). Module globals of a Python
canister are therefore caches: durable state belongs in the key-value store.

Bytes cross the boundary as latin-1 strings (see docs/abi.md): ``bytes.decode("latin-1")``
on the way in, ``str.encode("latin-1")`` on the way out.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import wasmtime
from wasmtime import component

from icframework.abi import interface_name
from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.replica.errors import ReplicaError
from icframework.replica.pages import PageMap
from icframework.replica.sandbox import ExecutionResult
from icframework.replica.system_api import (
    CanisterTrap,
    ExecutionInput,
    ExecutionOutput,
    SystemApi,
)
from icframework.replica.wasm_module import CanisterModule

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

_U64 = (1 << 64) - 1
_CANISTER_INTERFACE = interface_name("canister")

# Callbacks: a reply context runs the export with kind reply-callback, a reject context
# with reject-callback; the callback id travels in the staged call's `reply_env`.
_CALLBACK_KINDS = {
    Context.REPLY_CALLBACK: "reply-callback",
    Context.COMPOSITE_REPLY_CALLBACK: "reply-callback",
    Context.REJECT_CALLBACK: "reject-callback",
    Context.COMPOSITE_REJECT_CALLBACK: "reject-callback",
}
_SYSTEM_EXPORTS = {
    "canister_init": "init",
    "canister_pre_upgrade": "pre-upgrade",
    "canister_post_upgrade": "post-upgrade",
    "canister_heartbeat": "heartbeat",
    "canister_global_timer": "timer",
    "canister_inspect_message": "inspect",
}


# -- the shared runtime ---------------------------------------------------------------------

RuntimeLoader = Callable[[wasmtime.Engine], component.Component]
"""Loads the runtime component compiled for an engine (e.g. the compiler's ``load_runtime``)."""

_runtime_loader: RuntimeLoader | None = None
_runtimes: weakref.WeakKeyDictionary[wasmtime.Engine, component.Component] = (
    weakref.WeakKeyDictionary()
)


class RuntimeUnavailableError(ReplicaError):
    """No runtime loader is configured, or it failed: Python canisters cannot run."""


def set_runtime_loader(loader: RuntimeLoader | None) -> None:
    """Set the process-wide loader of the runtime component (None: Python canisters off).

    The replica cannot build the runtime itself (that is ``icframework.compiler``, a
    layer it must not import); whoever starts a replica registers, for instance,
    ``functools.partial(runtime_build.load_runtime, progress=None)``. Loaded runtimes
    are cached per engine; setting a loader forgets them.
    """
    global _runtime_loader
    _runtime_loader = loader
    _runtimes.clear()


def shared_runtime(
    engine: wasmtime.Engine, loader: RuntimeLoader | None = None
) -> component.Component:
    """The runtime compiled for ``engine``, loaded once per engine.

    Uses ``loader`` or the process-wide one (`set_runtime_loader`); raises
    `RuntimeUnavailableError` if there is none or it fails.
    """
    runtime = _runtimes.get(engine)
    if runtime is not None:
        return runtime
    load = loader or _runtime_loader
    if load is None:
        raise RuntimeUnavailableError(
            "this replica cannot run Python canisters: no runtime loader is configured "
            "(icframework.replica.component.set_runtime_loader)"
        )
    try:
        runtime = load(engine)
    except Exception as exc:  # a build or compile failure, reported to the installer
        raise RuntimeUnavailableError(f"the Python runtime could not be loaded: {exc}") from exc
    _runtimes[engine] = runtime
    return runtime


# -- the key-value store --------------------------------------------------------------------


class KeyValueStore:
    """A canister's ordered key-value data, with one open transaction at a time.

    Committed data is a dict plus a sorted key list. `begin` opens a transaction whose
    writes (an overlay) are visible to reads and scans; `commit` applies them and
    records the keys as dirty for the next checkpoint, `rollback` drops them.
    """

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self._data: dict[bytes, bytes] = dict(items or {})
        self._keys: list[bytes] = sorted(self._data)
        self._overlay: dict[bytes, bytes | None] | None = None
        self._dirty: set[bytes] = set()
        self._size = sum(len(k) + len(v) for k, v in self._data.items())

    def __len__(self) -> int:
        return len(self._data)

    @property
    def size_bytes(self) -> int:
        """Bytes of committed keys and values (what the canister is charged storage for)."""
        return self._size

    def keys(self) -> list[bytes]:
        """Committed keys in order."""
        return list(self._keys)

    def snapshot(self) -> tuple[dict[bytes, bytes], frozenset[bytes]]:
        """The committed state, for `restore` (an upgrade that fails half way)."""
        return dict(self._data), frozenset(self._dirty)

    def restore(self, snapshot: tuple[dict[bytes, bytes], frozenset[bytes]]) -> None:
        """Go back to a `snapshot`; keys changed since stay dirty so the checkpoint follows."""
        data, dirty = snapshot
        changed = self._dirty | set(dirty)
        self._overlay = None
        self._data = dict(data)
        self._keys = sorted(self._data)
        self._size = sum(len(k) + len(v) for k, v in self._data.items())
        self._dirty = changed

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        """Committed entries in key order."""
        return ((key, self._data[key]) for key in self._keys)

    # -- transactions --

    def begin(self) -> None:
        """Open a transaction (a no-op if one is open)."""
        if self._overlay is None:
            self._overlay = {}

    def commit(self) -> int:
        """Apply the open transaction; returns the number of keys written."""
        overlay, self._overlay = self._overlay, None
        if not overlay:
            return 0
        for key, value in overlay.items():
            old = self._data.get(key)
            if old is not None:
                self._size -= len(key) + len(old)
            if value is None:
                if self._data.pop(key, None) is not None:
                    del self._keys[bisect.bisect_left(self._keys, key)]
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value
                self._size += len(key) + len(value)
        self._dirty.update(overlay)
        return len(overlay)

    def rollback(self) -> None:
        """Drop the open transaction's writes."""
        self._overlay = None

    def take_dirty(self) -> dict[bytes, bytes | None]:
        """Keys changed since the last call (value, or None if deleted), for the checkpoint."""
        dirty = {key: self._data.get(key) for key in sorted(self._dirty)}
        self._dirty.clear()
        return dirty

    # -- access (inside or outside a transaction) --

    def get(self, key: bytes) -> bytes | None:
        overlay = self._overlay
        if overlay is not None and key in overlay:
            return overlay[key]
        return self._data.get(key)

    def _write(self, key: bytes, value: bytes | None) -> None:
        if self._overlay is None:
            raise RuntimeError("KeyValueStore: write outside a transaction; call begin() first")
        self._overlay[key] = value

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def scan(
        self, start: bytes, end: bytes | None, *, reverse: bool = False, limit: int = 0
    ) -> list[tuple[bytes, bytes]]:
        """Entries with ``start <= key < end`` (None: unbounded) in key order or reversed.

        At most ``limit`` entries (0: all); the open transaction's writes are included.
        """
        lo = bisect.bisect_left(self._keys, start)
        hi = len(self._keys) if end is None else bisect.bisect_left(self._keys, end)
        committed = self._keys[lo:hi]
        overlay = self._overlay or {}
        extra = sorted(
            key for key in overlay
            if key >= start and (end is None or key < end) and key not in self._data
        )
        keys: Iterator[bytes] | list[bytes] = (
            heapq.merge(committed, extra) if extra else committed
        )
        if reverse:
            keys = reversed(list(keys))
        rows: list[tuple[bytes, bytes]] = []
        for key in keys:
            value = overlay[key] if key in overlay else self._data[key]
            if value is None:
                continue
            rows.append((key, value))
            if len(rows) == limit:
                break
        return rows


# -- one execution ---------------------------------------------------------------------------


class _ScratchHeap:
    """A `HeapAccess` over a small buffer: lets `SystemApi` check and carry out ic0 calls
    whose arguments arrive as values rather than as ranges of a linear memory."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def size(self) -> int:
        return len(self.buffer)

    def read(self, address: int, size: int) -> bytes:
        return bytes(self.buffer[address : address + size])

    def write(self, address: int, data: bytes) -> None:
        self.buffer[address : address + len(data)] = data

    def load(self, *parts: bytes) -> list[int]:
        """Make the buffer ``parts`` back to back (plus 16 bytes); returns their offsets."""
        offsets = []
        self.buffer = bytearray()
        for part in parts:
            offsets.append(len(self.buffer))
            self.buffer += part
        self.buffer += bytes(16)
        return offsets


class _Random:
    """Deterministic random bytes: SHA-256 in counter mode over a per-message seed."""

    def __init__(self, seed: bytes) -> None:
        self._seed = hashlib.sha256(b"icframework-random\0" + seed).digest()
        self._counter = 0
        self._pool = b""

    def bytes(self, size: int) -> bytes:
        while len(self._pool) < size:
            self._counter += 1
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "little")).digest()
            self._pool += block
        data, self._pool = self._pool[:size], self._pool[size:]
        return data


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


class _Message:
    """The state of the execution in progress, seen by the host functions."""

    def __init__(
        self,
        inp: ExecutionInput,
        kv: KeyValueStore | None,
        instructions_used: Callable[[], int],
        seed: bytes,
        entry_point: str,
    ) -> None:
        self.heap = _ScratchHeap()
        self.api = SystemApi(
            inp, self.heap, PageMap(), instructions_used, memory64=True, entry_point=entry_point
        )
        self.kv = kv
        self.events: list[tuple[str, bytes]] = []
        self.random = _Random(seed)
        self.time_ns = inp.time_ns


def install_input(canister_id: bytes, time_ns: int) -> ExecutionInput:
    """The `ExecutionInput` of loading an app's source: the START context (like a module's
    ``(start)`` function), so only debug_print, trap and performance_counter work."""
    return ExecutionInput(
        context=Context.START, canister_id=canister_id, caller=b"", time_ns=time_ns,
        cycle_balance=0,
    )


# -- the sandbox -----------------------------------------------------------------------------


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
        self._message: _Message | None = None
        self._fuel_limit = 0
        self._store: wasmtime.Store | None = None
        self._call: component.Func | None = None
        self._linker = self._make_linker()
        self._instantiate_and_install(time_ns, b"install\0" + canister_id)
        self.module = (module or _BARE_MODULE).with_entry_points(self.exports)

    # -- what the subnet expects of a sandbox (`icframework.replica.sandbox.CanisterSandbox`) --

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

    # -- linking ------------------------------------------------------------------------------

    def _make_linker(self) -> component.Linker:
        linker = component.Linker(self.engine)
        versions = {
            name.split("@")[0]: name for name in self.runtime.type.imports(self.engine)
        }
        with linker.root() as root:
            self._define(root, interface_name("ic0"), self._ic0_functions())
            self._define(root, interface_name("kv"), self._kv_functions())
            self._define(root, interface_name("events"), {"publish": self._publish})
            for interface, functions in self._wasi_functions().items():
                if interface in versions:
                    self._define(root, versions[interface], functions)
        # Everything else the runtime imports (file system, sockets, stdio, exit, ...).
        linker.define_unknown_imports_as_traps(self.runtime)
        return linker

    @staticmethod
    def _define(
        root: component.LinkerInstance, name: str, functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        with root.add_instance(name) as instance:
            for function_name, function in functions.items():
                instance.add_func(function_name, function)

    def _api(self) -> tuple[_Message, SystemApi]:
        message = self._message
        if message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: an import was called outside an execution",
            )
        return message, message.api

    def _ic0_functions(self) -> dict[str, Callable[..., Any]]:
        def blob(data: bytes) -> str:
            return data.decode("latin-1")

        def raw(text: str) -> bytes:
            return text.encode("latin-1")

        def cycles(amount: int) -> tuple[int, int]:
            return ((amount >> 64) & _U64, amount & _U64)

        def read128(message: _Message) -> tuple[int, int]:
            return cycles(int.from_bytes(message.heap.buffer[:16], "little"))

        def msg_caller(_store: Any) -> str:
            _message, api = self._api()
            api.check_context("msg_caller_size")
            return blob(api.inp.caller)

        def msg_reject_code(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("msg_reject_code")
            return api.inp.reject_code

        def msg_reject_msg(_store: Any) -> str:
            _message, api = self._api()
            api.check_context("msg_reject_msg_size")
            return api.inp.reject_message

        def msg_reply(_store: Any, data: str) -> None:
            message, api = self._api()
            self._reply(message, api, raw(data))

        def msg_reject(_store: Any, text: str) -> None:
            message, api = self._api()
            self._reject(message, api, text)

        def msg_cycles_available(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_available128(0)
            return read128(message)

        def msg_cycles_refunded(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_refunded128(0)
            return read128(message)

        def msg_cycles_accept(_store: Any, maximum: tuple[int, int]) -> tuple[int, int]:
            message, api = self._api()
            message.heap.load()
            api.msg_cycles_accept128(maximum[0], maximum[1], 0)
            return read128(message)

        def accept_message(_store: Any) -> None:
            _message, api = self._api()
            api.check_context("accept_message")
            api.accept_message()

        def canister_self(_store: Any) -> str:
            _message, api = self._api()
            api.check_context("canister_self_size")
            return blob(api.inp.canister_id)

        def canister_cycle_balance(_store: Any) -> tuple[int, int]:
            message, api = self._api()
            api.check_context("canister_cycle_balance128")
            message.heap.load()
            api.canister_cycle_balance128(0)
            return read128(message)

        def canister_version(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("canister_version")
            return api.inp.version

        def cycles_burn(_store: Any, amount: tuple[int, int]) -> tuple[int, int]:
            message, api = self._api()
            api.check_context("cycles_burn128")
            message.heap.load()
            api.cycles_burn128(amount[0], amount[1], 0)
            return read128(message)

        def is_controller(_store: Any, principal: str) -> bool:
            message, api = self._api()
            api.check_context("is_controller")
            data = raw(principal)
            message.heap.load(data)
            return bool(api.is_controller(0, len(data)))

        def time_(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("time")
            return api.inp.time_ns

        def global_timer_set(_store: Any, timestamp: int) -> int:
            _message, api = self._api()
            api.check_context("global_timer_set")
            return api.global_timer_set(timestamp) & _U64

        def performance_counter(_store: Any, kind: int) -> int:
            _message, api = self._api()
            return api.performance_counter(kind)

        def certified_data_set(_store: Any, data: str) -> None:
            message, api = self._api()
            api.check_context("certified_data_set")
            payload = raw(data)
            message.heap.load(payload)
            api.certified_data_set(0, len(payload))

        def data_certificate(_store: Any) -> str | None:
            _message, api = self._api()
            api.check_context("data_certificate_present")
            certificate = api.inp.data_certificate
            return None if certificate is None else blob(certificate)

        def call_perform(
            _store: Any, callee: str, method: str, arg: str, payment: tuple[int, int],
            callback: int,
        ) -> int:
            message, api = self._api()
            api.check_context("call_new")
            callee_bytes, method_bytes = raw(callee), method.encode("utf-8")
            offsets = message.heap.load(callee_bytes, method_bytes)
            api.call_new(
                offsets[0], len(callee_bytes), offsets[1], len(method_bytes),
                0, callback, 0, callback,
            )
            payload = raw(arg)
            message.heap.load(payload)
            api.call_data_append(0, len(payload))
            if payment[0] or payment[1]:
                api.call_cycles_add128(payment[0], payment[1])
            return api.call_perform()

        def debug_print(_store: Any, text: str) -> None:
            message, api = self._api()
            data = raw(text)
            message.heap.load(data)
            api.debug_print(0, len(data))

        def trap(_store: Any, text: str) -> None:
            message, api = self._api()
            data = text.encode("utf-8")
            message.heap.load(data)
            api.trap(0, len(data))

        return {
            "msg-caller": msg_caller,
            "msg-reject-code": msg_reject_code,
            "msg-reject-msg": msg_reject_msg,
            "msg-reply": msg_reply,
            "msg-reject": msg_reject,
            "msg-cycles-available": msg_cycles_available,
            "msg-cycles-refunded": msg_cycles_refunded,
            "msg-cycles-accept": msg_cycles_accept,
            "accept-message": accept_message,
            "canister-self": canister_self,
            "canister-cycle-balance": canister_cycle_balance,
            "canister-version": canister_version,
            "cycles-burn": cycles_burn,
            "is-controller": is_controller,
            "time": time_,
            "global-timer-set": global_timer_set,
            "performance-counter": performance_counter,
            "certified-data-set": certified_data_set,
            "data-certificate": data_certificate,
            "call-perform": call_perform,
            "debug-print": debug_print,
            "trap": trap,
        }

    @staticmethod
    def _reply(message: _Message, api: SystemApi, data: bytes) -> None:
        message.heap.load(data)
        api.check_context("msg_reply_data_append")
        api.msg_reply_data_append(0, len(data))
        api.msg_reply()

    @staticmethod
    def _reject(message: _Message, api: SystemApi, text: str) -> None:
        data = text.encode("utf-8")
        message.heap.load(data)
        api.check_context("msg_reject")
        api.msg_reject(0, len(data))

    def _store_for(self, operation: str) -> KeyValueStore:
        message, _api = self._api()
        if message.kv is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                f"Canister violated contract: kv.{operation} called while the app's source "
                "loads; use the store from entry points only",
            )
        return message.kv

    def _kv_functions(self) -> dict[str, Callable[..., Any]]:
        def get(_store: Any, key: str) -> str | None:
            value = self._store_for("get").get(key.encode("latin-1"))
            return None if value is None else value.decode("latin-1")

        def put(_store: Any, key: str, value: str) -> None:
            self._store_for("put").put(key.encode("latin-1"), value.encode("latin-1"))

        def delete(_store: Any, key: str) -> None:
            self._store_for("delete").delete(key.encode("latin-1"))

        def scan(
            _store: Any, start: str, end: str | None, reverse: bool, limit: int
        ) -> list[tuple[str, str]]:
            rows = self._store_for("scan").scan(
                start.encode("latin-1"), None if end is None else end.encode("latin-1"),
                reverse=reverse, limit=limit,
            )
            return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in rows]

        def commit(_store: Any, writes: list[Any]) -> None:
            store = self._store_for("commit")
            for write in writes:
                key = write.key.encode("latin-1")
                if write.value is None:
                    store.delete(key)
                else:
                    store.put(key, write.value.encode("latin-1"))

        return {"get": get, "put": put, "delete": delete, "scan": scan, "commit": commit}

    def _publish(self, _store: Any, topic: str, value: str) -> None:
        message, _api = self._api()
        if message.kv is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: events.publish called while the app's source loads",
            )
        message.events.append((topic, value.encode("latin-1")))

    def _wasi_functions(self) -> dict[str, dict[str, Callable[..., Any]]]:
        def now(_store: Any) -> _Datetime:
            time_ns = self._message.time_ns if self._message is not None else 0
            return _Datetime(time_ns // 1_000_000_000, time_ns % 1_000_000_000)

        def resolution(_store: Any) -> _Datetime:
            return _Datetime(0, 1)

        def random_bytes(_store: Any, size: int) -> bytes:
            return self._random(size)

        def random_u64(_store: Any) -> int:
            return int.from_bytes(self._random(8), "little")

        return {
            "wasi:clocks/wall-clock": {"now": now, "resolution": resolution},
            "wasi:random/random": {
                "get-random-bytes": random_bytes, "get-random-u64": random_u64
            },
            # No preopened directories: opening a file fails with an error, not a trap.
            "wasi:filesystem/preopens": {"get-directories": lambda _store: []},
            "wasi:cli/environment": {
                "get-environment": lambda _store: [],
                "get-arguments": lambda _store: [],
                "initial-cwd": lambda _store: None,
            },
        }

    def _random(self, size: int) -> bytes:
        if self._message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: random bytes requested outside an execution",
            )
        return self._message.random.bytes(size)

    # -- instantiation and install ----------------------------------------------------------

    def _instantiate_and_install(self, time_ns: int, seed: bytes) -> int:
        """A fresh instance with the source installed; returns the install's instructions."""
        self._store = None
        self._call = None
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
        install_index = instance.get_export_index(store, "install", interface)
        call_index = instance.get_export_index(store, "call", interface)
        install = None if install_index is None else instance.get_func(store, install_index)
        call = None if call_index is None else instance.get_func(store, call_index)
        if interface is None or install is None or call is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_INVALID_WASM,
                f"Canister's runtime component does not export {_CANISTER_INTERFACE}",
            )
        self.instantiate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        limit = self.install_instruction_limit
        message = _Message(
            install_input(self.canister_id, time_ns), None, lambda: limit - store.get_fuel(),
            seed, "",
        )
        self.logs = []
        store.set_fuel(limit)
        self._message = message
        try:
            names = install(store, self.filename, self.source)
            install.post_return(store)
        except CanisterTrap:
            raise
        except wasmtime.WasmtimeError as exc:
            raise _translate(exc, store, limit) from None
        finally:
            self._message = None
            self.logs = list(message.api.out.logs)
        self.install_seconds = time.perf_counter() - started
        self.install_instructions = limit - store.get_fuel()
        self.exports = frozenset(names)
        self._store = store
        self._call = call
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
            seed = hashlib.sha256(
                repr((inp.canister_id, inp.caller, inp.time_ns, inp.context.value, target))
                .encode() + inp.arg
            ).digest()
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
        message = _Message(
            inp, self.kv, self._instructions_used, seed, target if isinstance(target, str) else ""
        )
        self._message = message
        store.set_fuel(instruction_limit)
        self._fuel_limit = instruction_limit
        trap: CanisterTrap | None = None
        try:
            response = call(store, kind, method, arg.decode("latin-1"))
            call.post_return(store)
            self._respond(message, response)
        except CanisterTrap as exc:
            trap = exc
        except wasmtime.WasmtimeError as exc:
            trap = _translate(exc, store, instruction_limit)
        instructions = min(self._instructions_used(), instruction_limit)
        self._message = None
        if trap is not None:
            self.kv.rollback()
            # Python state cannot be rolled back: the next message gets a fresh instance.
            self._store = None
            self._call = None
            return ComponentExecutionResult(
                None, trap, instructions, reinstalled=reinstalled,
                install_instructions=reinstall_instructions,
            )
        writes = self.kv.commit() if persist else 0
        if not persist:
            self.kv.rollback()
        output = message.api.finish()
        output.instructions = instructions
        return ComponentExecutionResult(
            output, None, instructions, message.events if persist else [], writes,
            reinstalled, reinstall_instructions,
        )

    def _respond(self, message: _Message, response: Any) -> None:
        tag = getattr(response, "tag", "none")
        if tag == "reply":
            self._reply(message, message.api, response.payload.encode("latin-1"))
        elif tag == "reject":
            self._reject(message, message.api, response.payload)

    def _instructions_used(self) -> int:
        store = self._store
        return 0 if store is None else self._fuel_limit - store.get_fuel()

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


_BARE_MODULE = CanisterModule(
    wasm=b"", module_hash=b"", memory64=False, has_memory=False, has_table=False,
    updates=frozenset(), queries=frozenset(), composite_queries=frozenset(),
    system_methods=frozenset(), mutable_globals=(),
)


@dataclass(frozen=True, slots=True)
class _Datetime:
    """WASI ``wall-clock.datetime`` (wasmtime-py lowers records by attribute)."""

    seconds: int
    nanoseconds: int


def _translate(exc: wasmtime.WasmtimeError, store: wasmtime.Store, limit: int) -> CanisterTrap:
    """A wasmtime error from the runtime as the IC's trap (fuel exhausted: IC0522)."""
    if store.get_fuel() == 0:
        return CanisterTrap(
            ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED,
            f"Canister exceeded the limit of {limit} instructions for single message execution.",
        )
    text = str(exc).strip()
    lines = text.splitlines()
    reason = lines[0] if lines else "unknown error"
    if "wasm trap: " in text:
        reason = text.split("wasm trap: ", 1)[1].splitlines()[0]
    return CanisterTrap(ErrorCode.CANISTER_TRAPPED, f"Canister trapped: {reason}")
