"""The replica's test canister corpus: build helpers and a Wasm module inspector.

Canister sources live in ``tests/replica/canisters``:

* ``<name>.mo``: Motoko actors, compiled for the ``ic`` target by ``tests/js/motoko_build.mjs``
  (the ``motoko`` npm package, i.e. moc compiled to JavaScript, with the ``core`` library that
  ships inside that package, so no network access is needed).
* ``<name>.wat``: hand-written WebAssembly text canisters for System API edge cases, assembled
  with :func:`wasmtime.wat2wasm`.

Compiling a Motoko canister takes a few seconds, so results are cached under
``.build/motoko/<key>.wasm`` (and ``<key>.json`` for the Candid interface and metadata) in the
repository root. The key is the SHA-256 of the source, the compiler identity (npm package
version, hash of the bundled moc, bundled library versions) and the build script's own bytes, so
editing any of them rebuilds. ``.build`` is git-ignored; delete it to force a rebuild.
"""

from __future__ import annotations

import copy
import functools
import gzip
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import wasmtime

ROOT = Path(__file__).resolve().parent.parent.parent
CANISTERS = Path(__file__).resolve().parent / "canisters"
BUILD_SCRIPT = ROOT / "tests" / "js" / "motoko_build.mjs"
CACHE_DIR = ROOT / ".build" / "motoko"
MOTOKO_PACKAGE = ROOT / "node_modules" / "motoko"

__all__ = [
    "CANDID_EMPTY",
    "CANISTERS",
    "MotokoBuildError",
    "candid_blob",
    "candid_nat",
    "candid_nat64",
    "custom_sections",
    "module_summary",
    "motoko_build",
    "motoko_candid",
    "motoko_names",
    "motoko_wasm",
    "wat_names",
    "wat_wasm",
]


class MotokoBuildError(RuntimeError):
    """moc rejected a canister, or the build script could not run; carries the diagnostics."""

    def __init__(self, name: str, error: str, diagnostics: list[Any] | None = None) -> None:
        self.name = name
        self.error = error
        self.diagnostics = diagnostics or []
        lines = [f"building {name}.mo: {error}"]
        for diagnostic in self.diagnostics:
            if isinstance(diagnostic, dict):
                start = diagnostic.get("range", {}).get("start", {})
                lines.append(
                    f"  {diagnostic.get('source', '?')}:{start.get('line', -1) + 1}:"
                    f"{start.get('character', -1) + 1} [{diagnostic.get('code', '')}] "
                    f"{diagnostic.get('message', '')}"
                )
            else:
                lines.append(f"  {diagnostic}")
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------------------------
# Source listing


def motoko_names() -> list[str]:
    """Names (without ``.mo``) of every Motoko canister in the corpus, sorted."""
    return sorted(p.stem for p in CANISTERS.glob("*.mo"))


def wat_names() -> list[str]:
    """Names (without ``.wat``) of every hand-written WAT canister in the corpus, sorted."""
    return sorted(p.stem for p in CANISTERS.glob("*.wat"))


def source_path(name: str, suffix: str) -> Path:
    """Path of ``canisters/<name><suffix>``; raises ``FileNotFoundError`` if it is missing."""
    path = CANISTERS / f"{name}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(f"no corpus canister {path.relative_to(ROOT)}")
    return path


# --------------------------------------------------------------------------------------------
# Motoko


@functools.lru_cache(maxsize=1)
def compiler_identity() -> str:
    """A string that changes whenever the Motoko compiler or its bundled libraries change.

    Made of the ``motoko`` npm package version, the SHA-256 of the bundled ``moc.min.js`` and
    the SHA-256 of each bundled library package, so no Node.js start-up is needed to compute it.
    """
    package_json = MOTOKO_PACKAGE / "package.json"
    if not package_json.is_file():
        raise MotokoBuildError("?", f"{MOTOKO_PACKAGE} is missing: run `npm ci`")
    parts = ["motoko@" + json.loads(package_json.read_text())["version"]]
    moc = MOTOKO_PACKAGE / "versions" / "latest" / "moc.min.js"
    parts.append("moc.min.js:" + hashlib.sha256(moc.read_bytes()).hexdigest())
    for pkg in sorted((MOTOKO_PACKAGE / "packages" / "latest").glob("*.json")):
        parts.append(f"{pkg.name}:" + hashlib.sha256(pkg.read_bytes()).hexdigest())
    return "\n".join(parts)


def cache_key(source: str) -> str:
    """SHA-256 over the canister source, the compiler identity and the build script."""
    digest = hashlib.sha256()
    for part in (source.encode(), compiler_identity().encode(), BUILD_SCRIPT.read_bytes()):
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_motoko_build(
    files: dict[str, str], main: str, *, name: str = "?", timeout: float = 300.0
) -> dict[str, Any]:
    """Run the node build script on ``files``; return its JSON answer or raise MotokoBuildError."""
    proc = subprocess.run(
        ["node", str(BUILD_SCRIPT)],
        input=json.dumps({"files": files, "main": main}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    try:
        answer = json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError:
        answer = None
    if proc.returncode != 0 or not isinstance(answer, dict) or "wasm_hex" not in answer:
        if isinstance(answer, dict) and "error" in answer:
            raise MotokoBuildError(name, answer["error"], answer.get("diagnostics"))
        raise MotokoBuildError(
            name, f"node exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    return answer


@functools.cache
def motoko_build(name: str) -> tuple[bytes, dict[str, Any]]:
    """Compile ``canisters/<name>.mo`` (cached); return the module bytes and the build metadata.

    The metadata is the build script's answer without ``wasm_hex``: ``candid``, ``stable``
    (stable type signature), ``moc_version``, ``motoko_npm_version``, ``packages`` and
    ``warnings``.
    """
    source = source_path(name, ".mo").read_text()
    key = cache_key(source)
    wasm_path = CACHE_DIR / f"{key}.wasm"
    meta_path = CACHE_DIR / f"{key}.json"
    if wasm_path.is_file() and meta_path.is_file():
        return wasm_path.read_bytes(), json.loads(meta_path.read_text())
    answer = run_motoko_build({"/main.mo": source}, "/main.mo", name=name)
    wasm = bytes.fromhex(answer.pop("wasm_hex"))
    answer["source"] = f"tests/replica/canisters/{name}.mo"
    _write_atomically(meta_path, json.dumps(answer, indent=1).encode())
    _write_atomically(wasm_path, wasm)
    return wasm, answer


def motoko_wasm(name: str) -> bytes:
    """The IC canister module compiled from ``tests/replica/canisters/<name>.mo`` (cached)."""
    return motoko_build(name)[0]


def motoko_candid(name: str) -> str:
    """The Candid service description moc emitted for ``tests/replica/canisters/<name>.mo``."""
    return str(motoko_build(name)[1]["candid"])


# --------------------------------------------------------------------------------------------
# WAT


@functools.cache
def wat_wasm(name: str) -> bytes:
    """Assemble ``tests/replica/canisters/<name>.wat`` with :func:`wasmtime.wat2wasm`."""
    return bytes(wasmtime.wat2wasm(source_path(name, ".wat").read_text()))


def wat_header(name: str) -> str:
    """The leading ``;;`` comment block of ``canisters/<name>.wat`` (expected behaviour)."""
    lines = []
    for line in source_path(name, ".wat").read_text().splitlines():
        stripped = line.strip()
        if not stripped.startswith(";;"):
            break
        lines.append(stripped[2:].strip())
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Module inspection


@functools.lru_cache(maxsize=1)
def memory64_engine() -> wasmtime.Engine:
    """A wasmtime engine with memory64 enabled (the replica's configuration for validation)."""
    config = wasmtime.Config()
    config.wasm_memory64 = True
    return wasmtime.Engine(config)


def _leb_u32(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def custom_sections(wasm: bytes) -> list[tuple[str, bytes]]:
    """``(name, payload)`` of every custom section, in order (wasmtime does not expose them)."""
    wasm = _maybe_gunzip(wasm)
    if wasm[:4] != b"\x00asm":
        raise ValueError("not a Wasm module")
    sections = []
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        size, pos = _leb_u32(wasm, pos + 1)
        end = pos + size
        if section_id == 0:
            name_len, name_pos = _leb_u32(wasm, pos)
            name = wasm[name_pos : name_pos + name_len].decode("utf-8", "replace")
            sections.append((name, wasm[name_pos + name_len : end]))
        pos = end
    return sections


def _maybe_gunzip(wasm: bytes) -> bytes:
    return gzip.decompress(wasm) if wasm[:3] == b"\x1f\x8b\x08" else wasm


def _kind(extern_type: object) -> str:
    if isinstance(extern_type, wasmtime.FuncType):
        return "func"
    if isinstance(extern_type, wasmtime.MemoryType):
        return "memory"
    if isinstance(extern_type, wasmtime.TableType):
        return "table"
    if isinstance(extern_type, wasmtime.GlobalType):
        return "global"
    return type(extern_type).__name__


def _signature(func_type: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return (
        tuple(str(t) for t in func_type.params),
        tuple(str(t) for t in func_type.results),
    )


def module_summary(wasm: bytes) -> dict[str, Any]:
    """Validate ``wasm`` (raw or gzipped) with memory64 enabled and describe its interface.

    Returns a dict with:

    * ``imports``: list of ``{"module", "name", "kind", "params", "results"}`` (params/results
      only for functions), in import order;
    * ``exports``: ``{name: kind}``;
    * ``update`` / ``query`` / ``composite_query``: sorted method names from the
      ``canister_update <name>`` etc. exports;
    * ``system``: sorted other ``canister_*`` exports (``canister_init``, ``canister_heartbeat``…);
    * ``memory64``: True if any defined or imported memory is 64-bit, ``memories``: a list of
      ``{"name", "memory64", "minimum", "maximum"}`` for exported/imported memories;
    * ``custom_sections``: custom section names in order; ``metadata``: the ``icp:public`` /
      ``icp:private`` sections decoded as text (``{"icp:private candid:service": "...", …}``).

    Raises ``wasmtime.WasmtimeError`` if the module does not validate. Results are memoised per
    module hash (compiling a Motoko module takes ~0.2 s); each call returns a fresh copy.
    """
    raw = _maybe_gunzip(wasm)
    digest = hashlib.sha256(raw).digest()
    if digest not in _SUMMARIES:
        _SUMMARIES[digest] = _summarise(raw)
    return copy.deepcopy(_SUMMARIES[digest])


_SUMMARIES: dict[bytes, dict[str, Any]] = {}


def _summarise(raw: bytes) -> dict[str, Any]:
    module = wasmtime.Module(memory64_engine(), raw)
    imports = []
    memories = []
    for imp in module.imports:
        entry: dict[str, Any] = {"module": imp.module, "name": imp.name, "kind": _kind(imp.type)}
        if isinstance(imp.type, wasmtime.FuncType):
            entry["params"], entry["results"] = _signature(imp.type)
        if isinstance(imp.type, wasmtime.MemoryType):
            memories.append(_memory_entry(f"{imp.module}.{imp.name}", imp.type))
        imports.append(entry)
    exports: dict[str, str] = {}
    methods: dict[str, list[str]] = {"update": [], "query": [], "composite_query": []}
    system = []
    for exp in module.exports:
        exports[exp.name] = _kind(exp.type)
        if isinstance(exp.type, wasmtime.MemoryType):
            memories.append(_memory_entry(exp.name, exp.type))
        prefix, _, method = exp.name.partition(" ")
        if prefix.startswith("canister_") and method:
            methods.setdefault(prefix.removeprefix("canister_"), []).append(method)
        elif exp.name.startswith("canister_"):
            system.append(exp.name)
    sections = custom_sections(raw)
    metadata = {
        name: payload.decode("utf-8", "replace")
        for name, payload in sections
        if name.startswith(("icp:public ", "icp:private "))
    }
    return {
        "imports": imports,
        "exports": exports,
        **{kind: sorted(names) for kind, names in methods.items()},
        "system": sorted(system),
        "memory64": _declares_memory64(raw) or any(m["memory64"] for m in memories),
        "memories": memories,
        "custom_sections": [name for name, _ in sections],
        "metadata": metadata,
    }


def _memory_entry(name: str, memory_type: wasmtime.MemoryType) -> dict[str, Any]:
    limits = memory_type.limits
    return {
        "name": name,
        "memory64": bool(memory_type.is_64),
        "minimum": limits.min,
        "maximum": limits.max,
    }


def _declares_memory64(wasm: bytes) -> bool:
    """True if the memory section (id 5) declares a 64-bit memory (limits flag bit 2)."""
    pos = 8
    while pos < len(wasm):
        section_id = wasm[pos]
        size, pos = _leb_u32(wasm, pos + 1)
        if section_id == 5:
            count, entry = _leb_u32(wasm, pos)
            return count > 0 and bool(wasm[entry] & 0x04)
        pos += size
    return False


# --------------------------------------------------------------------------------------------
# Small Candid helpers for expected replies of the hand-written canisters


def candid_nat64(value: int) -> bytes:
    """Candid encoding of ``(value : nat64)``: ``DIDL 00 01 78`` + 8 bytes little-endian."""
    return b"DIDL\x00\x01\x78" + value.to_bytes(8, "little")


def candid_nat(value: int) -> bytes:
    """Candid encoding of ``(value : nat)``: ``DIDL 00 01 7d`` + unsigned LEB128."""
    out = bytearray(b"DIDL\x00\x01\x7d")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def candid_blob(data: bytes) -> bytes:
    """Candid encoding of ``(data : blob)``: type table ``vec nat8``, then LEB128 length."""
    out = bytearray(b"DIDL\x01\x6d\x7b\x01\x00")
    size = len(data)
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    return bytes(out) + data


CANDID_EMPTY = b"DIDL\x00\x00"
"""Candid encoding of ``()``."""
