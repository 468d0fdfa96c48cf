"""The runtime link: the C side and the static CPython linked into one WASI reactor module.

What it owns: compiling ``csrc/ic_runtime.c`` and the generated numbered entry points
(`ENTRY_POINTS` of them, ``icf_entry_<i>``) with ``zig cc -target wasm32-wasi
-mexec-model=reactor`` against ``libpython3.11.a``, ``libmpdec.a`` and ``libexpat.a``.
The result imports ``ic0`` and WASI and is the same for every app, so it is cached by
`link_key` (the C sources, the entry count, the zig version and the CPython pinned) and
made once per cache directory. ``-ffile-prefix-map``/``-fdebug-prefix-map`` and
``--build-id=none`` keep the build directory and time out of the bytes.

The linked module then goes through binaryen's ``wasm-opt -O4 --low-memory-unused``
(`optimize`, about a minute, once per toolchain like the link): 3-5 % fewer instructions
on every message (measured: a noop query 4,038 -> 3,933, ``fib_rec(20)`` 30.3 M ->
29.2 M, ``ackermann(3,6)`` 281 M -> 270 M). ``--low-memory-unused`` lets it fold small
constant offsets into loads and stores, which differs only for an address computation that
wraps past 4 GiB into the first KiB: C code here never does that (wasm-ld places data
from 1,024 on). Only the features the IC accepts are enabled.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from pathlib import Path

from icframework.compiler.ic_target.toolchain import (
    CPYTHON_SDIST_SHA256,
    ZIG_VERSION,
    CPython,
    ToolchainError,
    node_tool,
    zig,
)

__all__ = ["C_SOURCE", "ENTRY_POINTS", "OPTIMIZE", "entry_source", "link_key", "link_runtime",
           "optimize"]

OPTIMIZE = (
    "-O4", "--low-memory-unused", "--enable-bulk-memory", "--enable-sign-ext",
    "--enable-mutable-globals", "--enable-nontrapping-float-to-int",
)
"""binaryen's ``wasm-opt`` arguments for the linked runtime (see the module docstring)."""

C_SOURCE = Path(__file__).resolve().parent / "csrc" / "ic_runtime.c"
ENTRY_POINTS = 256
"""Numbered entry points the runtime offers; an app can export at most this many."""


def entry_source(count: int = ENTRY_POINTS) -> str:
    """The C of the numbered entry points: each calls ``icf_run_entry(i)``."""
    lines = ["#include <stdint.h>", "void icf_run_entry(uint32_t index);"]
    lines += [
        f'__attribute__((export_name("icf_entry_{i}"))) void icf_entry_{i}(void) '
        f"{{ icf_run_entry({i}); }}"
        for i in range(count)
    ]
    return "\n".join(lines) + "\n"


def link_key() -> str:
    """SHA-256 (16 hex digits) of what the link's output depends on."""
    digest = hashlib.sha256()
    digest.update(f"zig {ZIG_VERSION} cpython {CPYTHON_SDIST_SHA256} entries {ENTRY_POINTS}\0"
                  .encode())
    digest.update(f"wasm-opt {' '.join(OPTIMIZE)} binaryen {_binaryen_version()}\0".encode())
    digest.update(C_SOURCE.read_bytes())
    return digest.hexdigest()[:16]


def link_runtime(python: CPython, output: Path) -> None:
    """Compile and link the runtime reactor module into ``output``; raises `ToolchainError`."""
    with tempfile.TemporaryDirectory(prefix="ic-link-") as tmp:
        work = Path(tmp)
        entries = work / "ic_entries.c"
        entries.write_text(entry_source(), encoding="utf-8")
        shutil_c = work / "ic_runtime.c"
        shutil_c.write_bytes(C_SOURCE.read_bytes())
        linked = work / "linked.wasm"
        command = [
            str(zig()), "cc", "-target", "wasm32-wasi", "-mexec-model=reactor", "-O2",
            f"-ffile-prefix-map={work}=.", f"-fdebug-prefix-map={work}=.",
            "-I", str(python.include), str(shutil_c), str(entries),
            *(str(a) for a in python.archives),
            "-Wl,--export=_initialize", "-Wl,--build-id=none", "-s",
            "-o", str(linked),
        ]
        # zig's caches in the scratch directory: nothing written outside the build cache,
        # and every link starts from the same (empty) state.
        env = {**os.environ, "ZIG_GLOBAL_CACHE_DIR": str(work / "zig-cache"),
               "ZIG_LOCAL_CACHE_DIR": str(work / "zig-cache")}
        done = subprocess.run(command, capture_output=True, text=True, cwd=work, env=env,
                              check=False)
        if done.returncode != 0 or not linked.is_file():
            raise ToolchainError(
                "linking the IC runtime failed:\n" + (done.stderr or done.stdout).strip()
            )
        optimize(linked, output)


def optimize(module: Path, output: Path) -> None:
    """``wasm-opt`` with `OPTIMIZE` from ``module`` into ``output``; raises `ToolchainError`."""
    command = [*node_tool("wasm-opt"), str(module), *OPTIMIZE, "-o", str(output)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not output.is_file():
        raise ToolchainError("wasm-opt failed:\n" + (done.stderr or done.stdout).strip())


def _binaryen_version() -> str:
    """The binaryen package node runs (its package.json), so a new one links again."""
    script = Path(node_tool("wasm-opt")[-1])
    manifest = script.parent.parent / "package.json"
    found = re.search(r'"version"\s*:\s*"([^"]+)"', manifest.read_text(encoding="utf-8"))
    return found.group(1) if found else "unknown"
