"""The guest side of the IC-target runtime: the Python the module's C entry points call.

How it works: at build time the C boot (``csrc/ic_runtime.c``) starts CPython and
imports this module, which pre-imports the standard-library modules an app may use and
the bundled ``icframework`` packages; the builder then calls `_load_app` with the app's
files, which executes them as module ``canister`` (a package app as package
``canister``), compiles its SDK methods and answers the IC export names, in the order
the numbered ``icf_entry_<i>`` exports take. The memory this leaves is snapshotted into
the module: at run time every message starts from it (after install or upgrade) or from
the heap the previous update left.

At run time export ``i`` calls ``_entries[i]`` (prepared by
`icframework.sdk.ic0_backend.Ic0Backend.entry` over the SDK), and `_callback(env, which)`
runs the response to an inter-canister call. An exception that leaves them becomes
``ic0.trap`` with its traceback (the C side formats it). ``print`` goes to
``ic0.debug_print``, one line a call. There is no file system at run time: only the
modules imported here (or by the app while it loads, from this list) can be imported.

Standard library, ``_ic0`` and the bundled ``icframework`` packages only.
"""

from __future__ import annotations

# Pre-imported at build time so apps can use them (no file system at run time). Unlike
# the component runtime there is no zlib: this CPython was built without it.
import base64
import binascii
import bisect
import collections
import contextlib
import copy
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import gc
import hashlib
import heapq
import hmac
import importlib.util
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
import traceback
import types
import typing
import uuid
from typing import Any

import _ic0

from icframework.sdk import ic
from icframework.sdk.backend import set_backend
from icframework.sdk.dispatch import Canister, load_canister, outcome_of
from icframework.sdk.ic0_backend import FastEntry, Ic0Backend, entry_table
from icframework.sdk.runtime_backend import export_names
from icframework.sdk.stable import ValueCodec
from icframework.sdk.stable_log import MAGIC

PRELOADED_MODULES = frozenset(
    m.__name__ for m in (
        base64, binascii, bisect, collections, copy, dataclasses, datetime, decimal, enum,
        fractions, functools, hashlib, heapq, hmac, io, itertools, json, math, operator, os,
        random, re, statistics, string, struct, sys, textwrap, time, traceback, types, typing,
        uuid,
    )
)


class _DebugStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr``: each complete line becomes one ``ic0.debug_print``.

    The partial line waits in C (``_ic0.debug_write``), which prints it at the end of
    the message and before a trap."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        _ic0.debug_write(text)
        return len(text)

    def flush(self) -> None:
        _ic0.debug_flush()

    @property
    def _pending(self) -> bool:
        return bool(_ic0.debug_pending())


# The finders' caches hold the build machine's directories and their modification
# times; at run time there is no file system to find anything in.
sys.path_importer_cache.clear()

_stdout = _DebugStream()
sys.stdout = _stdout
sys.stderr = _stdout

_backend = Ic0Backend(_ic0, output=_stdout)
_canister: Canister | None = None
# The function each numbered export calls (the C side calls them straight from this
# list, filled in place by `_load_app`).
_entries: list[FastEntry | tuple[Any, ...]] = []


def _method_entry(canister: Canister, kind: str, method: str) -> FastEntry | tuple[Any, ...]:
    """What export ``(kind, method)`` runs: for an update or query method the tuple the C
    side's native path reads (its field order is ``csrc/ic_runtime.c``'s ``E_*``): the
    backend's `Ic0Backend.fast_entry` (the Python fallbacks: the whole call when the
    store is not loaded yet, the prepared runner when the method has guards, ``after``
    for replies with writes, rejects and ``await``s), then the method's `MethodParts`
    (the function, checked codecs, the native shapes), `outcome_of`, the kind and name,
    and what settles a native reply's writes (commit for an update, drop for a query)."""
    fast = _backend.fast_entry(canister, kind, method)
    parts = canister.method_parts(kind, method)
    if not isinstance(fast, tuple) or parts is None:
        return fast
    call_method, run, pending, store, output, after, settle = fast
    return (call_method, run, pending, store, output, after, parts.fn, parts.decode,
            parts.encode, parts.start, outcome_of, sys.intern(kind), sys.intern(method),
            parts.arg_prefix, parts.arg_ops, parts.result_shape, parts.result_op,
            parts.guards, settle)


class _AppFinder:
    """Imports the app's own modules (``canister`` and its submodules) from its files."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "canister" and not name.startswith("canister."):
            return None
        relative = name.replace(".", "/")
        for candidate, package in ((relative + "/__init__.py", True), (relative + ".py", False)):
            if candidate in self.files:
                spec = importlib.util.spec_from_loader(name, self,  # type: ignore[arg-type]
                                                       origin=candidate,
                                                       is_package=package)
                if spec is not None:
                    spec.has_location = True
                return spec
        return None

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        filename = str(module.__spec__.origin)  # type: ignore[union-attr]
        source = self.files[filename]
        module.__file__ = filename
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), module.__dict__)


def _load_app(payload: bytes) -> str:
    """Execute the app (JSON ``{"files": {path: source}}``); answer its export names (JSON)."""
    global _canister
    files = json.loads(payload)["files"]
    sys.meta_path.insert(0, _AppFinder(files))
    set_backend(_backend)
    module = __import__("canister")
    canister = load_canister(module)
    names = export_names(canister)
    # Prepare every method's runner (its Candid codecs are generated code) now, so it is
    # in the snapshot: a query's heap changes are discarded, so one prepared during a
    # query would be prepared again by every query.
    for name, kind in canister.method_table().items():
        canister.method_runner(kind, name)
        if kind != "update":
            canister.method_runner("update", name)
    _canister = canister
    _entries[:] = [_method_entry(canister, kind, method) for kind, method in entry_table(names)]
    _ic0.bind_slots(_backend.store, ic.message, ic.NO_MESSAGE, MAGIC)
    _prepare_value_codecs()
    _stdout.flush()
    # Everything alive now is in the snapshot for good: the collector need not walk it
    # (a query's heap changes are discarded, so it would walk it again every time).
    gc.collect()
    gc.freeze()
    return json.dumps(names)


def _prepare_value_codecs() -> None:
    """Compile every stable structure's value codec now, so it is in the snapshot.

    A `ValueCodec` compiles its ``load``/``dump`` on first use; in a query that work is
    discarded with the query's heap and redone by the next one (about 300,000
    instructions for a map read). Calling the first-use functions with input they
    refuse installs the compiled functions and then fails, which is ignored.
    """
    for codec in [obj for obj in gc.get_objects() if type(obj) is ValueCodec]:
        if getattr(codec.load, "__func__", None) is ValueCodec._first_load:
            with contextlib.suppress(Exception):  # refused input: the codec is compiled
                codec.load(b"")
        if getattr(codec.dump, "__func__", None) is ValueCodec._first_dump:
            with contextlib.suppress(Exception):
                codec.dump(_NOT_A_VALUE)


class _NotAValue:
    """A value no Candid type accepts (see `_prepare_value_codecs`)."""


_NOT_A_VALUE = _NotAValue()


def _callback(env: int, which: int) -> None:
    _backend.run_callback(env, which)
    _stdout.flush()
