"""The guest side of the shared Python-canister runtime: the module componentize-py compiles.

How it works: componentize-py builds one component from this module and the canister
ABI (``icframework/abi/canister.wit``). CPython is initialised and this module imported
at *build* time, so every instance starts with it (and the standard-library modules it
pre-imports below) already loaded. The replica then hands each canister's source to
`Canister.install`, which executes it as a fresh module; `Canister.call` runs one entry
point per message.

What an app sees (``import icframework_runtime as rt``): entry-point decorators
(`update`, `query`, `init`, ...), bytes-level wrappers of the ic0 imports, a key-value
API whose writes are buffered in the instance and cross to the replica once per message
(`kv_put`, `kv_get`, ...), `publish`, `perform_call`, and `Reject`.

Apps written with the SDK (``from icframework.sdk import query, update, ...``: the
bundled packages are pre-imported too) need nothing else: when the source registered
SDK methods, `install` compiles them (`icframework.sdk.load_canister`) and every entry
point except call callbacks runs through the SDK's dispatch on a
`icframework.sdk.runtime_backend.RuntimeBackend` over the WIT imports (Candid from the
type hints, one ``kv.commit`` per update, queries and rejects write nothing). A custom
layer can instead take every call through one hook: a module-level
``icframework_entry(kind, method, arg)`` in the app (or `set_entry_hook`); see
docs/abi.md.

Rules the host relies on:
- An uncaught exception becomes ``ic0.trap`` with the exception and its traceback
  (``File "<app filename>", line N``); the replica then discards this instance, so module
  globals are caches that may be rebuilt (after a trap, an upgrade or a restart).
- ``print`` goes to ``ic0.debug_print`` (one crossing per line); there is no stdio.
- Blobs cross as ``bytes`` (WIT ``list<u8>``). Ordinary messages come through
  ``call-method`` (entry by index, no strings lifted) and callbacks through
  ``call-callback``; both answer the message outcome (`icframework.core.outcome`: the
  reply with the message's writes and events), so such a message crosses once each way.
  Everything else comes through ``call`` and commits with ``kv.commit``.
  Inside a canister each Python operation costs instructions, so the per-message paths
  below are written for few operations: tables built at install, no work for what a
  message does not use.
- There is no file system at run time: only modules already imported here (or by the
  app at install, from this list) can be imported.

Standard library, ``wit_world`` and the bundled ``icframework`` packages only: this file
is compiled into the component.
"""

from __future__ import annotations

# Pre-imported at build time so apps can use them: at run time there is no file system
# to load further modules from.
import base64
import binascii
import bisect
import collections
import copy
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import hashlib
import heapq
import hmac
import io
import itertools
import json
import linecache
import math
import operator
import os
import random
import re
import statistics
import string
import struct
import sys
import textwrap
import time
import types
import typing
import uuid
import zlib
from collections.abc import Callable
from typing import Any

from wit_world import exports
from wit_world.exports import canister as wit
from wit_world.imports import events, ic0, kv

# The bundled pure-Python packages (see runtime_build.BUNDLED_PACKAGES), pre-imported
# like the standard library: apps write `from icframework.sdk import query, update`.
import icframework.candid
import icframework.core
import icframework.sdk
from icframework.core.outcome import NO_OUTCOME, encode_outcome
from icframework.sdk.backend import set_backend as _set_sdk_backend
from icframework.sdk.dispatch import Canister as _SdkCanister
from icframework.sdk.dispatch import Reply as _SdkReply
from icframework.sdk.dispatch import load_canister as _load_sdk_canister
from icframework.sdk.methods import methods_of as _sdk_methods_of
from icframework.sdk.runtime_backend import SDK_KINDS, RuntimeBackend, export_names

__all__ = [
    "PRELOADED_MODULES",
    "Reject",
    "accept_message",
    "caller",
    "canister_self",
    "certified_data_set",
    "cycle_balance",
    "data_certificate",
    "debug_print",
    "entry",
    "global_timer_set",
    "heartbeat",
    "init",
    "inspect",
    "instruction_counter",
    "kv_delete",
    "kv_get",
    "kv_put",
    "kv_scan",
    "msg_cycles_accept",
    "msg_cycles_available",
    "perform_call",
    "post_upgrade",
    "pre_upgrade",
    "publish",
    "query",
    "reject_code",
    "reject_message",
    "set_entry_hook",
    "time_ns",
    "timer",
    "trap",
    "update",
]

PRELOADED_MODULES = frozenset(
    m.__name__ for m in (
        base64, binascii, bisect, collections, copy, dataclasses, datetime, decimal, enum,
        fractions, functools, hashlib, heapq, hmac, io, itertools, json, math, operator, os,
        random, re, statistics, string, struct, sys, textwrap, time, types, typing, uuid,
        zlib,
    )
) | frozenset(
    m.__name__ for m in (icframework, icframework.candid, icframework.core, icframework.sdk)
)
"""Modules an app may import (they are loaded in every instance): standard-library ones
and the bundled packages ``icframework.core``, ``icframework.candid``, ``icframework.sdk``
(with their submodules)."""

_U64 = (1 << 64) - 1

# The WIT `call-kind` case names by enum value (`_value_`: `value` is a Python-level
# property and an enum member's hash a Python-level method, both costly per message),
# and the IC export name prefix of each app entry kind.
_KIND_NAMES = {
    kind._value_: kind.name.lower().replace("_", "-") for kind in wit.CallKind
}
_EXPORT_NAMES = {
    "update": "canister_update {}",
    "query": "canister_query {}",
    "init": "canister_init",
    "pre-upgrade": "canister_pre_upgrade",
    "post-upgrade": "canister_post_upgrade",
    "heartbeat": "canister_heartbeat",
    "timer": "canister_global_timer",
    "inspect": "canister_inspect_message",
}


class Reject(Exception):
    """Raise in an entry point to reject the message with ``message`` (not a trap)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


EntryHook = Callable[[str, str, bytes], "bytes | None"]

# The app's entry points: (kind, method) -> function. Filled by the decorators while the
# app's source executes in `install`.
_entries: dict[tuple[str, str], Callable[..., Any]] = {}
_hook: EntryHook | None = None
# An app written with the SDK: its compiled canister and the backend its messages run on.
_sdk: _SdkCanister | None = None
_sdk_runtime: RuntimeBackend | None = None
_hook_exports: list[str] = []
# `call-method` runners, by index in the export names `install` returned: each takes
# the argument and answers the message outcome (see `_runner`).
_runners: list[Callable[[bytes], bytes]] = []
# Continuations of calls made with `perform_call`, by callback id. A cache like every
# global: lost if the instance is rebuilt, and the callback then traps.
_callbacks: dict[int, tuple[Callable[[bytes], Any], Callable[[int, str], Any]]] = {}
_next_callback = 1
# This message's key-value writes, in order (None deletes); sent with one `kv.commit`.
_writes: dict[bytes, bytes | None] = {}


# -- registration ---------------------------------------------------------------------------


def entry(kind: str, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as the app's ``kind`` entry point.

    ``kind`` is a WIT ``call-kind`` name (``update``, ``query``, ``init``, ...);
    update and query methods are named ``name`` or the function's name. Update/query
    functions take the argument bytes and return the reply bytes (None: no reply yet);
    ``init``/``post-upgrade`` take the install argument; ``inspect`` takes
    ``(method, arg)`` and returns True to accept the message; the others take nothing.
    """
    if kind not in _EXPORT_NAMES:
        raise ValueError(f"unknown entry kind {kind!r}; use one of {sorted(_EXPORT_NAMES)}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        method = (name or func.__name__) if kind in ("update", "query") else ""
        _entries[(kind, method)] = func
        return func

    return register


def update(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register an update method named after the function."""
    return entry("update")(func)


def query(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register a query method named after the function."""
    return entry("query")(func)


def init(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_init`` (receives the install argument)."""
    return entry("init")(func)


def pre_upgrade(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_pre_upgrade``."""
    return entry("pre-upgrade")(func)


def post_upgrade(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_post_upgrade`` (receives the upgrade argument)."""
    return entry("post-upgrade")(func)


def heartbeat(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_heartbeat``."""
    return entry("heartbeat")(func)


def timer(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_global_timer``."""
    return entry("timer")(func)


def inspect(func: Callable[..., Any]) -> Callable[..., Any]:
    """Register ``canister_inspect_message`` (``(method, arg) -> bool``)."""
    return entry("inspect")(func)


def set_entry_hook(hook: EntryHook, export_names: list[str]) -> None:
    """Route every call to ``hook(kind, method, arg) -> reply bytes | None`` (the SDK's way in).

    ``export_names`` are the IC export names the app offers (``canister_update inc``,
    ``canister_query get``, ``canister_init``, ...). The hook may raise `Reject`; for
    callbacks ``method`` is the callback id in decimal, for ``inspect`` the hook accepts
    with `accept_message`.
    """
    global _hook, _hook_exports
    _hook = hook
    _hook_exports = list(export_names)


# -- ic0, bytes in and out ----------------------------------------------------------------


def _cycles(amount: int) -> tuple[int, int]:
    return ((amount >> 64) & _U64, amount & _U64)


def _amount(halves: tuple[int, int]) -> int:
    return (halves[0] << 64) | halves[1]


def caller() -> bytes:
    """The principal (bytes) that sent this message."""
    return bytes(ic0.msg_caller())


def canister_self() -> bytes:
    """This canister's principal (bytes)."""
    return bytes(ic0.canister_self())


def time_ns() -> int:
    """The message time in nanoseconds since 1970 (``time.time()`` reads the same clock)."""
    return int(ic0.time())


def cycle_balance() -> int:
    """The canister's balance in cycles."""
    return _amount(ic0.canister_cycle_balance())


def msg_cycles_available() -> int:
    """Cycles sent with this message and not yet accepted."""
    return _amount(ic0.msg_cycles_available())


def msg_cycles_accept(maximum: int) -> int:
    """Accept up to ``maximum`` cycles; returns the amount accepted."""
    return _amount(ic0.msg_cycles_accept(_cycles(maximum)))


def reject_code() -> int:
    """In a callback: the response's reject code (0 in a reply callback)."""
    return int(ic0.msg_reject_code())


def reject_message() -> str:
    """In a reject callback: the reject message."""
    return str(ic0.msg_reject_msg())


def accept_message() -> None:
    """In ``inspect``: accept the ingress message."""
    ic0.accept_message()


def certified_data_set(data: bytes) -> None:
    """Set the certified data (at most 32 bytes)."""
    ic0.certified_data_set(bytes(data))


def data_certificate() -> bytes | None:
    """The data certificate, in a non-replicated query; None elsewhere."""
    blob = ic0.data_certificate()
    return None if blob is None else bytes(blob)


def global_timer_set(timestamp_ns: int) -> int:
    """Set the global timer (0: off); returns the previous deadline in ns."""
    return int(ic0.global_timer_set(timestamp_ns))


def instruction_counter() -> int:
    """Instructions executed in this message so far."""
    return int(ic0.performance_counter(0))


def debug_print(message: str) -> None:
    """Append ``message`` to the canister log."""
    ic0.debug_print(message.encode("utf-8"))


def trap(message: str) -> typing.NoReturn:
    """Stop the message (IC0503); every effect of it is rolled back."""
    ic0.trap(message)
    raise AssertionError("ic0.trap returned")  # the host never returns from trap


def perform_call(
    callee: bytes,
    method: str,
    arg: bytes,
    *,
    on_reply: Callable[[bytes], Any],
    on_reject: Callable[[int, str], Any],
    cycles: int = 0,
) -> int:
    """Call ``callee.method(arg)``; the response runs ``on_reply(data)`` or ``on_reject``.

    Returns 0 if the call was queued, else the reject code (2: not enough cycles). The
    continuation lives in this instance only: if the instance is rebuilt (after a trap)
    before the response arrives, the callback traps.
    """
    global _next_callback
    callback = _next_callback
    _next_callback += 1
    code = int(ic0.call_perform(bytes(callee), method, bytes(arg), _cycles(cycles), callback))
    if code == 0:
        _callbacks[callback] = (on_reply, on_reject)
    return code


def publish(topic: str, value: bytes) -> None:
    """Publish an event, delivered to subscribers if this message commits."""
    events.publish(topic, bytes(value))


# -- key-value store ----------------------------------------------------------------------


def kv_get(key: bytes) -> bytes | None:
    """The value under ``key`` (this message's own writes included), or None."""
    if key in _writes:
        return _writes[key]
    return kv.get(bytes(key))


def kv_put(key: bytes, value: bytes) -> None:
    """Store ``value`` under ``key`` (buffered; sent to the replica at the end of the message)."""
    key = bytes(key)
    _writes.pop(key, None)
    _writes[key] = bytes(value)


def kv_delete(key: bytes) -> None:
    """Remove ``key`` (buffered like `kv_put`)."""
    key = bytes(key)
    _writes.pop(key, None)
    _writes[key] = None


def kv_scan(
    start: bytes = b"", end: bytes | None = None, *, reverse: bool = False, limit: int = 0
) -> list[tuple[bytes, bytes]]:
    """Entries with ``start <= key < end`` in key order (or reversed); ``limit`` 0: all."""
    _flush_writes()
    return list(kv.scan(bytes(start), None if end is None else bytes(end), reverse, limit))


def _flush_writes() -> None:
    if _writes:
        batch = [kv.Write(k, v) for k, v in _writes.items()]
        _writes.clear()
        kv.commit(batch)


# -- print → debug_print ------------------------------------------------------------------


class _DebugStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr``: each complete line becomes one ``ic0.debug_print``."""

    def __init__(self) -> None:
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            *lines, self._pending = self._pending.split("\n")
            for line in lines:
                ic0.debug_print(line.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            line, self._pending = self._pending, ""
            ic0.debug_print(line.encode("utf-8"))


_stdout = _DebugStream()
sys.stdout = _stdout
sys.stderr = _stdout


# -- traps -----------------------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """The exception and its traceback, without touching the (absent) file system."""
    lines = ["Traceback (most recent call last):"]
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        # Frames of this module are the runtime's plumbing, not the app's.
        if code.co_filename != __file__:
            lines.append(f'  File "{code.co_filename}", line {tb.tb_lineno}, in {code.co_name}')
            if code.co_filename in linecache.cache:
                text = linecache.getline(code.co_filename, tb.tb_lineno).strip()
                if text:
                    lines.append(f"    {text}")
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) and exc.filename is not None:
        lines.append(f'  File "{exc.filename}", line {exc.lineno}')
        if exc.text:
            lines.append(f"    {exc.text.strip()}")
        lines.append(f"{type(exc).__name__}: {exc.msg}")
    else:
        lines.append(f"{type(exc).__name__}: {exc}")
    return "\n".join(lines)


def _trap_with(exc: BaseException) -> typing.NoReturn:
    _writes.clear()
    _stdout.flush()
    trap(_describe(exc))


# -- the exports ---------------------------------------------------------------------------


def _run_registered(kind: str, method: str, arg: bytes) -> bytes | None:
    func = _entries.get((kind, method))
    if kind in ("reply-callback", "reject-callback"):
        continuation = _callbacks.pop(int(method), None)
        if continuation is None:
            trap(f"callback {method} is unknown: the instance was rebuilt after the call")
        on_reply, on_reject = continuation
        if kind == "reply-callback":
            return on_reply(arg)
        return on_reject(reject_code(), reject_message())
    if func is None:
        trap(f"the app has no {kind} entry point {method!r}")
    if kind in ("update", "query", "init", "post-upgrade"):
        return func(arg)
    if kind == "inspect":
        if func(method, arg):
            accept_message()
        return None
    func()
    return None


def _use_sdk(module: types.ModuleType) -> None:
    """If the app registered SDK methods, route its entry points through the SDK."""
    global _sdk, _sdk_runtime
    if not _sdk_methods_of(module.__name__):
        return
    _sdk_runtime = RuntimeBackend(ic0, kv, events, before_trap=_stdout.flush)
    _set_sdk_backend(_sdk_runtime)
    _sdk = _load_sdk_canister(module)


def _export_names() -> list[str]:
    if _sdk is not None:
        return export_names(_sdk)
    if _hook is not None:
        return list(_hook_exports)
    return sorted(_EXPORT_NAMES[kind].format(method) for kind, method in _entries)


_METHOD_PREFIXES = (
    ("canister_update ", "update"),
    ("canister_query ", "query"),
)


def _runner(name: str) -> Callable[[bytes], bytes]:
    """The `call-method` runner of IC export ``name``: the SDK's for an SDK method
    (`RuntimeBackend.method_runner`, prepared once), else one over the registry or
    the hook."""
    found = [(kind, name[len(prefix):]) for prefix, kind in _METHOD_PREFIXES
             if name.startswith(prefix)]
    if found:
        kind, method = found[0]
    elif name.startswith("canister_composite_query "):
        # as the host's `call` sends it: kind update, the whole export name
        kind, method = "update", name
    else:
        return _not_a_method  # the host never sends it here
    if _sdk_runtime is not None and _sdk is not None:
        runner = _sdk_runtime.method_runner(_sdk, kind, method)
        if runner is not None:
            return runner
    func = None if _hook is not None or method is name else _entries.get((kind, method))

    def run(arg: bytes) -> bytes:
        try:
            if func is not None:
                reply = func(arg)
            elif _hook is not None:
                reply = _hook(kind, method, arg)
            else:
                reply = _run_registered(kind, method, arg)
        except Reject as rejection:
            # A reject is a response, not a trap: as on the IC, the message's writes stay.
            _stdout.flush()
            ic0.msg_reject(rejection.message)
            return _raw_outcome(None)
        if type(reply) is bytes and not _writes:
            return b"\x01" + reply
        return _raw_outcome(reply)

    return run


def _not_a_method(_arg: bytes) -> bytes:
    trap("call-method: that export is not an update or query method")


def _reply_bytes(reply: Any) -> bytes:
    return reply if type(reply) is bytes else bytes(reply)


def _raw_outcome(reply: Any) -> bytes:
    """The outcome blob of a bare-ABI entry point: its reply and its buffered writes."""
    if reply is not None and type(reply) is not bytes:
        reply = bytes(reply)
    if not _writes:
        return NO_OUTCOME if reply is None else b"\x01" + reply
    writes = list(_writes.items())
    _writes.clear()
    return encode_outcome(reply, writes)


def _call_method(index: int, arg: bytes) -> bytes:
    """`Canister.call_method`."""
    try:
        outcome = _runners[index](arg)
    except BaseException as exc:  # every failure is a trap
        _trap_with(exc)
    if _stdout._pending:
        _stdout.flush()
    return outcome


class Canister(exports.Canister):
    """The WIT ``canister`` interface, as componentize-py expects it."""

    def install(self, filename: str, source: str) -> list[str]:
        """Execute the app's source as module ``canister``; returns its IC export names."""
        module = types.ModuleType("canister")
        module.__file__ = filename
        sys.modules["canister"] = module
        # Tracebacks show the app's lines without a file system.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        try:
            # `random` was seeded when the component was built, identically for every
            # canister; reseed it from the host's per-message random source.
            random.seed(int.from_bytes(os.urandom(32), "little"))
            code = compile(source, filename, "exec")
            exec(code, module.__dict__)
            hook = module.__dict__.get("icframework_entry")
            if hook is not None:
                set_entry_hook(hook, list(module.__dict__.get("icframework_exports", [])))
            else:
                _use_sdk(module)
            names = _export_names()
            _runners[:] = [_runner(name) for name in names]
            _stdout.flush()
        except BaseException as exc:  # every failure is a trap
            _trap_with(exc)
        return names

    def __init__(self) -> None:
        # The hot path as an attribute of the instance: the runtime looks the export up
        # by name on every message, and a plain function is found without building a
        # bound method.
        self.call_method = _call_method  # type: ignore[method-assign]

    def call_method(self, index: int, arg: bytes) -> bytes:
        """Run the update/query method at ``index`` of `install`'s names (the hot path);
        answers the message outcome (`icframework.core.outcome`)."""
        return _call_method(index, arg)

    def call_callback(self, callback: int, rejected: bool, arg: bytes) -> bytes:
        """Run the callback of an inter-canister call; answers the message outcome."""
        kind = "reject-callback" if rejected else "reply-callback"
        runtime = _sdk_runtime
        if runtime is not None:
            try:
                outcome = runtime.callback_runner(kind, str(callback), arg)
            except BaseException as exc:  # every failure is a trap
                _trap_with(exc)
            _stdout.flush()
            return outcome
        tag, payload = _run(kind, str(callback), arg)
        if tag == "reject":
            ic0.msg_reject(payload)
            return NO_OUTCOME
        return NO_OUTCOME if payload is None else b"\x01" + payload

    def call(self, kind: wit.CallKind, method: str, arg: bytes) -> wit.Response:
        """Run one entry point; writes cross once at the end, exceptions become traps."""
        tag, payload = _run(_KIND_NAMES[kind._value_], method, arg)
        if tag == "reply":
            return wit.Response_Reply(payload)
        if tag == "reject":
            return wit.Response_Reject(payload)
        return wit.Response_None_()


def _run(kind: str, method: str, arg: bytes) -> tuple[str, Any]:
    """Run entry point ``kind``: ("reply", bytes), ("reject", message) or ("none", None)."""
    if _sdk is not None and kind in SDK_KINDS:
        try:
            outcome = _sdk_runtime.run(_sdk, kind, method, arg)  # type: ignore[union-attr]
        except BaseException as exc:  # every failure is a trap
            _trap_with(exc)
        _stdout.flush()
        if outcome is None:
            return "none", None
        if isinstance(outcome, _SdkReply):
            return "reply", _reply_bytes(outcome.data)
        return "reject", outcome.message
    try:
        if _hook is not None:
            reply = _hook(kind, method, arg)
        else:
            reply = _run_registered(kind, method, arg)
        _flush_writes()
        _stdout.flush()
    except Reject as rejection:
        # A reject is a response, not a trap: as on the IC, the message's writes stay.
        _flush_writes()
        _stdout.flush()
        return "reject", rejection.message
    except BaseException as exc:  # every failure is a trap
        _trap_with(exc)
    if reply is None:
        return "none", None
    return "reply", _reply_bytes(reply)
