"""The host side of the runtime component's imports, for one Python canister.

What it owns: the functions a Python canister's runtime imports and the state of the
message they serve (`Message`). `ComponentImports.linker` defines them on a wasmtime
component `Linker`: the ABI's ``ic0`` mirror (each call checked and carried out by a
`SystemApi` over a small scratch heap, so contexts, limits and error messages are the
ones standard modules get), the key-value store (``kv``, on the message's transaction),
``events``, and a virtual WASI: ``wall-clock`` is the message time, ``random`` a
generator seeded per message, ``environment`` empty, no preopened directories; every
other WASI import (sockets, stdio, exit, ...) traps. Every canister-ABI import is
charged as one System API call; one called outside a message is a contract violation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import component

from icframework.abi import interface_name
from icframework.core import ErrorCode
from icframework.replica.execution.kv_store import KeyValueStore
from icframework.replica.execution.page_map import PageMap
from icframework.replica.execution.system_api import CanisterTrap, ExecutionInput, SystemApi
from icframework.replica.execution.wit_values import add_host_func

__all__ = ["ComponentImports", "Message", "reject", "reply"]

_U64 = (1 << 64) - 1


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
        self._given = seed  # hashed on first use: most messages draw nothing
        self._seed = b""
        self._counter = 0
        self._pool = b""

    def bytes(self, size: int) -> bytes:
        if not self._seed:
            self._seed = hashlib.sha256(b"icframework-random\0" + self._given).digest()
        while len(self._pool) < size:
            self._counter += 1
            block = hashlib.sha256(self._seed + self._counter.to_bytes(8, "little")).digest()
            self._pool += block
        data, self._pool = self._pool[:size], self._pool[size:]
        return data


class Message:
    """The state of the execution in progress, seen by the host functions."""

    def __init__(
        self,
        inp: ExecutionInput,
        kv: KeyValueStore | None,
        instructions_used: Callable[[], int],
        seed: bytes,
        entry_point: str,
        consume: Callable[[int], None] | None = None,
    ) -> None:
        self.heap = _ScratchHeap()
        self.api = SystemApi(
            inp, self.heap, PageMap(), instructions_used, memory64=True, entry_point=entry_point,
            consume=consume,
        )
        self.kv = kv
        self.events: list[tuple[str, bytes]] = []
        self.random = _Random(seed)
        self.time_ns = inp.time_ns


@dataclass(frozen=True, slots=True)
class _Datetime:
    """WASI ``wall-clock.datetime`` (wasmtime-py lowers records by attribute)."""

    seconds: int
    nanoseconds: int


def reply(message: Message, data: bytes) -> None:
    """Reply ``data`` to the message (``ic0.msg_reply_data_append`` then ``msg_reply``)."""
    api = message.api
    message.heap.load(data)
    api.check_context("msg_reply_data_append")
    api.msg_reply_data_append(0, len(data))
    api.msg_reply()


def reject(message: Message, text: str) -> None:
    """Reject the message with ``text`` (``ic0.msg_reject``)."""
    api = message.api
    data = text.encode("utf-8")
    message.heap.load(data)
    api.check_context("msg_reject")
    api.msg_reject(0, len(data))


class ComponentImports:
    """The imports of one sandbox's runtime; `message` is the execution in progress
    (None between messages and while CPython starts up)."""

    def __init__(self) -> None:
        self.message: Message | None = None

    def linker(self, engine: wasmtime.Engine, runtime: component.Component) -> component.Linker:
        """A linker defining every import of ``runtime`` (unknown ones trap)."""
        linker = component.Linker(engine)
        imports = runtime.type.imports(engine)
        versions = {name.split("@")[0]: name for name in imports}
        with linker.root() as root:
            for interface, functions in (
                ("ic0", self._ic0_functions()),
                ("kv", self._kv_functions()),
                ("events", {"publish": self._publish}),
            ):
                name = interface_name(interface)
                item = imports.get(name)
                if item is None:
                    continue  # the runtime does not import it
                instance_type = item.ty
                assert isinstance(instance_type, component.ComponentInstanceType)
                types = {k: v.ty for k, v in instance_type.exports(engine).items()}
                # The runtime build declares the key-value store's blobs to the host as
                # latin-1 strings (icframework.compiler.bulk_bytes): bytes in bulk.
                latin1 = interface == "kv"
                with root.add_instance(name) as instance:
                    for function_name, function in functions.items():
                        if function_name in types:
                            add_host_func(
                                instance, function_name, function, types[function_name],
                                latin1=latin1,
                            )
            for interface, functions in self._wasi_functions().items():
                if interface in versions:
                    self._define(root, versions[interface], functions)
        # Everything else the runtime imports (file system, sockets, stdio, exit, ...).
        linker.define_unknown_imports_as_traps(runtime)
        return linker

    @staticmethod
    def _define(
        root: component.LinkerInstance, name: str, functions: Mapping[str, Callable[..., Any]]
    ) -> None:
        with root.add_instance(name) as instance:
            for function_name, function in functions.items():
                instance.add_func(function_name, function)

    def _api(self) -> tuple[Message, SystemApi]:
        message = self.message
        if message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: an import was called outside an execution",
            )
        # Every canister-ABI import passes here once: charge it as one System API call.
        message.api.charge("")
        return message, message.api

    def _ic0_functions(self) -> dict[str, Callable[..., Any]]:
        def cycles(amount: int) -> tuple[int, int]:
            return ((amount >> 64) & _U64, amount & _U64)

        def read128(message: Message) -> tuple[int, int]:
            return cycles(int.from_bytes(message.heap.buffer[:16], "little"))

        def msg_caller(_store: Any) -> bytes:
            _message, api = self._api()
            api.check_context("msg_caller_size")
            return api.inp.caller

        def msg_reject_code(_store: Any) -> int:
            _message, api = self._api()
            api.check_context("msg_reject_code")
            return api.inp.reject_code

        def msg_reject_msg(_store: Any) -> str:
            _message, api = self._api()
            api.check_context("msg_reject_msg_size")
            return api.inp.reject_message

        def msg_reply(_store: Any, data: bytes) -> None:
            message, _api = self._api()
            reply(message, data)

        def msg_reject(_store: Any, text: str) -> None:
            message, _api = self._api()
            reject(message, text)

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

        def canister_self(_store: Any) -> bytes:
            _message, api = self._api()
            api.check_context("canister_self_size")
            return api.inp.canister_id

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

        def is_controller(_store: Any, principal: bytes) -> bool:
            message, api = self._api()
            api.check_context("is_controller")
            message.heap.load(principal)
            return bool(api.is_controller(0, len(principal)))

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

        def certified_data_set(_store: Any, data: bytes) -> None:
            message, api = self._api()
            api.check_context("certified_data_set")
            message.heap.load(data)
            api.certified_data_set(0, len(data))

        def data_certificate(_store: Any) -> bytes | None:
            _message, api = self._api()
            api.check_context("data_certificate_present")
            return api.inp.data_certificate

        def call_perform(
            _store: Any, callee: bytes, method: str, arg: bytes, payment: tuple[int, int],
            callback: int,
        ) -> int:
            message, api = self._api()
            api.check_context("call_new")
            method_bytes = method.encode("utf-8")
            offsets = message.heap.load(callee, method_bytes)
            api.call_new(
                offsets[0], len(callee), offsets[1], len(method_bytes),
                0, callback, 0, callback,
            )
            message.heap.load(arg)
            api.call_data_append(0, len(arg))
            if payment[0] or payment[1]:
                api.call_cycles_add128(payment[0], payment[1])
            return api.call_perform()

        def debug_print(_store: Any, data: bytes) -> None:
            message, api = self._api()
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
        def get(_store: Any, key: bytes) -> bytes | None:
            return self._store_for("get").get(key)

        def put(_store: Any, key: bytes, value: bytes) -> None:
            self._store_for("put").put(key, value)

        def delete(_store: Any, key: bytes) -> None:
            self._store_for("delete").delete(key)

        def scan(
            _store: Any, start: bytes, end: bytes | None, reverse: bool, limit: int
        ) -> list[tuple[bytes, bytes]]:
            return self._store_for("scan").scan(start, end, reverse=reverse, limit=limit)

        def commit(_store: Any, writes: list[Any]) -> None:
            store = self._store_for("commit")
            for write in writes:
                if write.value is None:
                    store.delete(write.key)
                else:
                    store.put(write.key, write.value)

        return {"get": get, "put": put, "delete": delete, "scan": scan, "commit": commit}

    def _publish(self, _store: Any, topic: str, value: bytes) -> None:
        message, _api = self._api()
        if message.kv is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: events.publish called while the app's source loads",
            )
        message.events.append((topic, value))

    def _wasi_functions(self) -> dict[str, dict[str, Callable[..., Any]]]:
        def now(_store: Any) -> _Datetime:
            message = self.message
            if message is None:  # CPython starting up, before any message
                return _Datetime(0, 0)
            # Charged as ic0.time: a loop on time.time() must reach the limit (IC0522)
            # in bounded wall time, as a loop on any other import does.
            message.api.charge("time")
            time_ns = message.time_ns
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
        if self.message is None:
            raise CanisterTrap(
                ErrorCode.CANISTER_CONTRACT_VIOLATION,
                "Canister violated contract: random bytes requested outside an execution",
            )
        self.message.api.charge("")
        return self.message.random.bytes(size)

