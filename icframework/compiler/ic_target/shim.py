"""The WASI shim: every WASI function the runtime imports, defined over ``ic0``.

What it owns: generating the text of a small module that exports one function per WASI
import of the runtime (same name and type) and is merged into it with binaryen's
``wasm-merge`` (`merge_shim`), after which the module imports only ``ic0``. What each
does at run time, where there is no file system, no environment and no clock but the
message's time:

- ``fd_write`` prints each buffer with ``ic0.debug_print`` (CPython's own fatal errors;
  ``print`` already goes to ``debug_print`` in the glue);
- ``clock_time_get`` answers ``ic0.time`` (every clock is the message time);
  ``clock_res_get`` answers 1 ns;
- ``random_get`` fills the buffer from a deterministic generator (splitmix64) whose
  state is part of the heap, so replicas agree. Python code never reaches it at run
  time: `icframework.sdk.randomness` replaces ``os.urandom``, ``random``'s system source
  and ``random.Random.seed()`` without a seed by its ``raw_rand``-keyed DRBG (or the
  per-canister ``random`` state before that); only C code asking WASI directly gets it;
- ``environ_*``/``args_*`` answer "empty"; ``proc_exit`` traps; ``sched_yield`` succeeds;
- everything else answers ENOSYS (52), and ``fd_prestat_get`` EBADF (8), so the C
  library sees no preopened directory.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from pathlib import Path

from icframework.compiler.ic_target.toolchain import ToolchainError, node_tool

__all__ = ["WASI_MODULE", "merge_shim", "shim_wat"]

WASI_MODULE = "wasi_snapshot_preview1"
_ENOSYS = 52
_EBADF = 8

_BODIES = {
    "fd_write": """
    (local $i i32) (local $total i32) (local $ptr i32) (local $len i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get 2)))
      (local.set $ptr (i32.add (local.get 1) (i32.shl (local.get $i) (i32.const 3))))
      (local.set $len (i32.load offset=4 (local.get $ptr)))
      (local.set $ptr (i32.load (local.get $ptr)))
      (if (local.get $len) (then (call $debug_print (local.get $ptr) (local.get $len))))
      (local.set $total (i32.add (local.get $total) (local.get $len)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.store (local.get 3) (local.get $total))
    (i32.const 0)""",
    "clock_time_get": "(i64.store (local.get 2) (call $time)) (i32.const 0)",
    "clock_res_get": "(i64.store (local.get 1) (i64.const 1)) (i32.const 0)",
    "random_get": """
    (local $i i32) (local $z i64)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get 1)))
      (global.set $seed (i64.add (global.get $seed) (i64.const 0x9E3779B97F4A7C15)))
      (local.set $z (global.get $seed))
      (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 30)))
                             (i64.const 0xBF58476D1CE4E5B9)))
      (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 27)))
                             (i64.const 0x94D049BB133111EB)))
      (local.set $z (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 31))))
      (i64.store8 (i32.add (local.get 0) (local.get $i)) (local.get $z))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (i32.const 0)""",
    "environ_sizes_get": "(i32.store (local.get 0) (i32.const 0)) "
                         "(i32.store (local.get 1) (i32.const 0)) (i32.const 0)",
    "args_sizes_get": "(i32.store (local.get 0) (i32.const 0)) "
                      "(i32.store (local.get 1) (i32.const 0)) (i32.const 0)",
    "environ_get": "(i32.const 0)",
    "args_get": "(i32.const 0)",
    "sched_yield": "(i32.const 0)",
    "fd_prestat_get": f"(i32.const {_EBADF})",
    "proc_exit": "(call $trap (i32.const 0) (i32.const 0)) (unreachable)",
}


def shim_wat(functions: Iterable[tuple[str, tuple[str, ...], tuple[str, ...]]]) -> str:
    """The shim's text for WASI imports given as ``(name, param types, result types)``."""
    lines = [
        "(module",
        '  (import "ic0" "debug_print" (func $debug_print (param i32 i32)))',
        '  (import "ic0" "time" (func $time (result i64)))',
        '  (import "ic0" "trap" (func $trap (param i32 i32)))',
        '  (import "main" "memory" (memory 0))',
        "  (global $seed (mut i64) (i64.const 0x2545F4914F6CDD1D))",
    ]
    for name, params, results in functions:
        signature = ""
        if params:
            signature += " (param " + " ".join(params) + ")"
        if results:
            signature += " (result " + " ".join(results) + ")"
        body = _BODIES.get(name)
        if body is None:
            if results == ("i32",):
                body = f"(i32.const {_ENOSYS})"
            elif not results:
                body = ""
            else:
                raise ToolchainError(f"WASI import {name} has results {results}: no shim for it")
        lines.append(f'  (func (export "{name}"){signature}\n    {body})')
    lines.append(")")
    return "\n".join(lines) + "\n"


def merge_shim(main: Path, shim: Path, output: Path) -> None:
    """Merge ``shim`` into ``main`` with wasm-merge, resolving main's WASI imports."""
    command = [
        *node_tool("wasm-merge"), str(main), "main", str(shim), WASI_MODULE,
        "--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
        "--enable-mutable-globals", "--rename-export-conflicts", "-o", str(output),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not output.is_file():
        raise ToolchainError("wasm-merge failed:\n" + (done.stderr or done.stdout).strip())
