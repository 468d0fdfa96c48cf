"""The Internet Computer's limits on a canister module, checked before a build is shipped.

`check_ic_limits` reads a module (raw or gzipped) and raises `IcLimitError` listing every
limit it breaks, each naming the limit, the module's value and the maximum; otherwise it
returns the module's `ModuleFacts` (what the build prints). The limits are the published
ones:

- IC interface specification, "WebAssembly module requirements": imports only from the
  System API (module ``ic0``, the functions of `icframework.core.ic0` with their
  signatures); at most 50,000 functions and 1,000 globals; at most 1,000 exported
  ``canister_update``/``canister_query``/``canister_composite_query`` methods whose
  names total at most 20,000 bytes, each name exported once; no other ``canister_``
  exports than the system entry points, all of type ``() -> ()``; ``icp:`` custom
  sections only as ``icp:public <name>`` / ``icp:private <name>``, a name not both
  public and private, at most 16 of them, names and contents totalling at most 1 MiB.
- ICP execution-error reference ("Wasm module validation errors"): the module at most
  100 MiB (104,857,600 bytes, uncompressed), its code section at most 10 MiB
  (10,485,760 bytes).
- The IC gives a gzipped module to ``install_code`` or through the chunk store, whose
  capacity is 100 chunks of 1 MiB: the gzipped module at most 100 MiB as well.
- Wasm features: the IC's Wasm engine runs MVP modules with mutable globals, sign
  extension, saturating float-to-int, multi-value, bulk memory, reference types,
  deterministic 128-bit SIMD and 64-bit memory; it refuses threads (shared memory,
  atomics), more than one memory (multi-memory), relaxed SIMD, tail calls, exceptions,
  GC and components. Validation runs on wasmtime with exactly that feature set, so an
  unsupported instruction is reported by the engine's own validator.
- Data segments: the IC publishes no count of its own; its validator (wasmparser)
  enforces the WebAssembly embedding limit of 100,000 data segments, checked here too.

The checks read the binary format directly (sections, imports, exports, custom
sections), so they also run on modules the engine would take minutes to compile.
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass, field

import wasmtime

from icframework.core import LEB128Error, decode_uleb128
from icframework.core.ic0 import IC0_FUNCTIONS

__all__ = [
    "IC_LIMITS",
    "IcLimitError",
    "Limit",
    "ModuleFacts",
    "Violation",
    "check_ic_limits",
    "module_facts",
]

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
GZIP_MAGIC = b"\x1f\x8b\x08"
MIB = 1024 * 1024

SYSTEM_ENTRY_POINTS = frozenset({
    "canister_init", "canister_pre_upgrade", "canister_post_upgrade",
    "canister_inspect_message", "canister_heartbeat", "canister_global_timer",
    "canister_on_low_wasm_memory",
})
METHOD_PREFIXES = ("canister_update ", "canister_query ", "canister_composite_query ")
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}


@dataclass(frozen=True, slots=True)
class Limit:
    """One published limit: its name, maximum and unit (``bytes`` or a count's noun)."""

    name: str
    maximum: int
    unit: str


IC_LIMITS = {
    limit.name: limit
    for limit in (
        Limit("module size", 100 * MIB, "bytes"),
        Limit("gzipped module size", 100 * MIB, "bytes"),
        Limit("code section size", 10 * MIB, "bytes"),
        Limit("functions", 50_000, "functions"),
        Limit("globals", 1_000, "globals"),
        Limit("data segments", 100_000, "segments"),
        Limit("exported methods", 1_000, "methods"),
        Limit("exported method name bytes", 20_000, "bytes"),
        Limit("icp custom sections", 16, "sections"),
        Limit("icp custom sections size", MIB, "bytes"),
        Limit("memories", 1, "memories"),
    )
}
"""Every numeric limit `check_ic_limits` applies, by name (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class Violation:
    """A limit the module breaks: ``limit`` (an `IC_LIMITS` name, or a rule for the
    non-numeric ones), the module's ``value`` and the ``maximum``; ``detail`` explains."""

    limit: str
    value: int | str
    maximum: int | str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.limit}: {self.value} (the IC allows {self.maximum})"
        return f"{text}: {self.detail}" if self.detail else text


class IcLimitError(Exception):
    """The module breaks one or more IC limits; ``violations`` lists them all."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        lines = "\n".join(f"  - {v}" for v in violations)
        super().__init__(f"the module breaks {len(violations)} IC limit(s):\n{lines}")


@dataclass(slots=True)
class ModuleFacts:
    """What a module holds, as the limits count it (sizes in bytes)."""

    size: int = 0
    gzipped_size: int | None = None
    code_section_size: int = 0
    functions: int = 0
    globals: int = 0
    data_segments: int = 0
    memories: int = 0
    memory64: bool = False
    imports: list[tuple[str, str, int]] = field(default_factory=list)
    exports: list[tuple[str, int, int]] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    """The names of the exported update, query and composite query methods."""
    icp_sections: dict[str, bytes] = field(default_factory=dict)
    custom_sections: list[str] = field(default_factory=list)
    types: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    function_types: list[int] = field(default_factory=list)

    @property
    def imported_functions(self) -> int:
        return len(self.imports)

    def function_type(self, index: int) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """The (params, results) of function ``index`` (imports first), or None."""
        if index < len(self.imports):
            type_index = self.imports[index][2]
        elif index - len(self.imports) < len(self.function_types):
            type_index = self.function_types[index - len(self.imports)]
        else:
            return None
        return self.types[type_index] if type_index < len(self.types) else None


class _Malformed(Exception):
    """The binary cannot be read; the message names the byte offset."""


class _Reader:
    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise _Malformed(f"unexpected end of section at byte {self.pos}")
        self.pos += 1
        return self.data[self.pos - 1]

    def uleb(self) -> int:
        try:
            value, self.pos = decode_uleb128(self.data, self.pos)
        except LEB128Error as exc:
            raise _Malformed(f"bad number at byte {self.pos}: {exc}") from None
        if self.pos > self.end:
            raise _Malformed(f"number runs past its section at byte {self.pos}")
        return value

    def raw(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise _Malformed(f"{size} bytes announced at byte {self.pos} but fewer remain")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def name(self) -> str:
        raw = self.raw(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"name {raw[:40]!r} is not UTF-8") from None

    def limits(self) -> int:
        flags = self.byte()
        self.uleb()
        if flags & 0x01:
            self.uleb()
        return flags


def _gunzip(data: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            return stream.read(IC_LIMITS["module size"].maximum + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise IcLimitError([Violation("gzip", "unreadable", "a gzip stream", str(exc))]) from None


def module_facts(module: bytes) -> ModuleFacts:
    """Read ``module`` (raw, or gzipped: ``gzipped_size`` is then set).

    Raises `IcLimitError` if it is no wasm module or cannot be read.
    """
    return _read(module)[0]


def _read(module: bytes) -> tuple[ModuleFacts, bytes]:
    """`module_facts` and the uncompressed module."""
    gzipped = module.startswith(GZIP_MAGIC)
    wasm = _gunzip(module) if gzipped else module
    limit = IC_LIMITS["module size"]
    if gzipped and len(wasm) > limit.maximum:
        raise IcLimitError([Violation(
            "module size", f"more than {limit.maximum:,} bytes", f"{limit.maximum:,}",
            "the gzipped module unpacks past the limit (reading stopped there)")])
    if not wasm.startswith(WASM_MAGIC):
        raise IcLimitError([Violation(
            "format", f"starts with {wasm[:8].hex()}", "\\0asm version 1 or gzip",
            "not a WebAssembly binary module")])
    facts = ModuleFacts(size=len(wasm), gzipped_size=len(module) if gzipped else None)
    try:
        _read_sections(wasm, facts)
    except _Malformed as exc:
        raise IcLimitError([Violation("format", "malformed", "a valid module", str(exc))]) from None
    return facts, wasm


def _read_sections(wasm: bytes, facts: ModuleFacts) -> None:
    reader = _Reader(wasm, len(WASM_MAGIC), len(wasm))
    while reader.pos < reader.end:
        section_id = reader.byte()
        size = reader.uleb()
        body = _Reader(wasm, reader.pos, reader.pos + size)
        if body.end > len(wasm):
            raise _Malformed(f"section {section_id} at byte {reader.pos} runs past the end")
        _read_section(section_id, body, facts)
        reader.pos = body.end


def _read_section(section_id: int, r: _Reader, facts: ModuleFacts) -> None:
    if section_id == 0:
        name = r.name()
        facts.custom_sections.append(name)
        if name.startswith("icp:"):
            if name in facts.icp_sections:
                raise _Malformed(f"custom section {name!r} appears twice")
            facts.icp_sections[name] = r.raw(r.end - r.pos)
    elif section_id == 1:
        for _ in range(r.uleb()):
            if r.byte() != 0x60:
                raise _Malformed(f"a type at byte {r.pos - 1} is not a function type")
            params = tuple(_VALTYPES.get(r.byte(), "ref") for _ in range(r.uleb()))
            results = tuple(_VALTYPES.get(r.byte(), "ref") for _ in range(r.uleb()))
            facts.types.append((params, results))
    elif section_id == 2:
        for _ in range(r.uleb()):
            module, name, kind = r.name(), r.name(), r.byte()
            if kind == 0x00:
                facts.imports.append((module, name, r.uleb()))
                facts.functions += 1
                continue
            what = {1: "a table", 2: "a memory", 3: "a global", 4: "a tag"}.get(kind, "?")
            raise _Malformed(f"import {module}.{name} is {what}; canisters import only "
                             "ic0 functions")
    elif section_id == 3:
        count = r.uleb()
        facts.function_types.extend(r.uleb() for _ in range(count))
        facts.functions += count
    elif section_id == 5:
        for _ in range(r.uleb()):
            flags = r.limits()
            facts.memories += 1
            facts.memory64 = facts.memory64 or bool(flags & 0x04)
    elif section_id == 6:
        facts.globals += r.uleb()
    elif section_id == 7:
        for _ in range(r.uleb()):
            name, kind, index = r.name(), r.byte(), r.uleb()
            facts.exports.append((name, kind, index))
            if kind == 0x00 and name.startswith(METHOD_PREFIXES):
                facts.methods.append(name.split(" ", 1)[1])
    elif section_id == 10:
        facts.code_section_size = r.end - r.pos
    elif section_id == 11:
        facts.data_segments = r.uleb()


def _engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.wasm_threads = False
    config.wasm_multi_memory = False
    config.wasm_relaxed_simd = False
    config.wasm_tail_call = False
    config.wasm_exceptions = False
    config.wasm_gc = False
    config.wasm_function_references = False
    config.wasm_component_model = False
    config.wasm_simd = True
    config.wasm_bulk_memory = True
    config.wasm_reference_types = True
    config.wasm_multi_value = True
    config.wasm_memory64 = True
    return wasmtime.Engine(config)


def check_ic_limits(module: bytes, *, validate_code: bool = True) -> ModuleFacts:
    """Check ``module`` (raw or gzipped) against every IC limit; return its facts.

    ``validate_code`` also runs the engine's validator with the IC's feature set (seconds
    for a large module). Raises `IcLimitError` listing every limit broken.
    """
    facts, wasm = _read(module)
    violations = _numeric_violations(facts)
    violations += _import_violations(facts)
    violations += _export_violations(facts)
    violations += _custom_section_violations(facts)
    if validate_code and not violations:
        try:
            wasmtime.Module.validate(_engine(), wasm)
        except wasmtime.WasmtimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else str(exc)
            violations.append(Violation(
                "Wasm features", "an unsupported or invalid construct",
                "MVP + mutable globals, sign extension, saturating float-to-int, multi-value, "
                "bulk memory, reference types, SIMD, memory64", first))
    if violations:
        raise IcLimitError(violations)
    return facts


def _numeric_violations(facts: ModuleFacts) -> list[Violation]:
    values = {
        "module size": facts.size,
        "gzipped module size": facts.gzipped_size or 0,
        "code section size": facts.code_section_size,
        "functions": facts.functions,
        "globals": facts.globals,
        "data segments": facts.data_segments,
        "exported methods": len(facts.methods),
        "icp custom sections": len(facts.icp_sections),
        "icp custom sections size": sum(
            len(name.split(" ", 1)[-1].encode()) + len(content)
            for name, content in facts.icp_sections.items()),
        "memories": facts.memories,
        "exported method name bytes": sum(len(m.encode()) for m in facts.methods),
    }
    return [
        Violation(name, f"{values[name]:,} {limit.unit}", f"{limit.maximum:,}")
        for name, limit in IC_LIMITS.items()
        if values[name] > limit.maximum
    ]


def _import_violations(facts: ModuleFacts) -> list[Violation]:
    found = []
    for module, name, type_index in facts.imports:
        where = f"import {module}.{name}"
        if module != "ic0":
            found.append(Violation("imports", where, "functions of module ic0 only",
                                   "the IC provides no other module (no WASI)"))
            continue
        spec = IC0_FUNCTIONS.get(name)
        if spec is None:
            found.append(Violation("imports", where, "the System API's functions",
                                   "ic0 has no such function"))
            continue
        if spec.wasm32_only and facts.memory64:
            found.append(Violation("imports", where, "32-bit modules only",
                                   "use the 64-bit variant"))
            continue
        expected = spec.signature(facts.memory64)
        actual = facts.types[type_index] if type_index < len(facts.types) else None
        if actual != expected:
            found.append(Violation("imports", f"{where} of type {actual}", f"type {expected}"))
    return found


def _export_violations(facts: ModuleFacts) -> list[Violation]:
    found = []
    seen: set[str] = set()
    for name, kind, index in facts.exports:
        if not name.startswith("canister_"):
            continue
        is_method = name.startswith(METHOD_PREFIXES)
        if not is_method and name not in SYSTEM_ENTRY_POINTS:
            found.append(Violation("exports", repr(name), "the entry points of the System API",
                                   "no other export may start with 'canister_'"))
            continue
        if kind != 0:
            found.append(Violation("exports", repr(name), "a function"))
            continue
        if is_method:
            method = name.split(" ", 1)[1]
            if method in seen:
                found.append(Violation("exports", f"method {method!r} exported twice",
                                       "each method once (update, query and composite "
                                       "query share one namespace)"))
            seen.add(method)
        if facts.function_type(index) != ((), ()):
            found.append(Violation("exports", f"{name!r} of type {facts.function_type(index)}",
                                   "type () -> ()"))
    return found


def _custom_section_violations(facts: ModuleFacts) -> list[Violation]:
    found = []
    public: set[str] = set()
    private: set[str] = set()
    for name in facts.icp_sections:
        if name.startswith("icp:public "):
            public.add(name[len("icp:public "):])
        elif name.startswith("icp:private "):
            private.add(name[len("icp:private "):])
        else:
            found.append(Violation("icp custom section names", repr(name),
                                   "'icp:public <name>' or 'icp:private <name>'"))
    for name in sorted(public & private):
        found.append(Violation("icp custom section names", f"{name!r} public and private",
                               "one of the two"))
    return found
