"""Canister module loading: gunzip, parse, validate against the IC's rules, instrument.

How it works: `load_canister_module` reads the wasm binary section by section (only the
parts the IC's validation and our instrumentation need; wasmtime validates the code
itself). It checks imports (only ``ic0`` functions with the right signature for the
module's memory width), exports (the ``canister_*`` naming rules, ``() -> ()`` types,
each method name once), custom sections (``icp:public``/``icp:private`` metadata) and
size limits. It then rewrites the export section so the replica can reach what it must
checkpoint and call: memory 0 as ``__icfw_memory``, table 0 as ``__icfw_table`` and
every mutable global as ``__icfw_global_<index>``. The ``(start)`` section is removed
and its function exported as ``__icfw_start``, so the replica decides when it runs
(after loading a kept heap on upgrade; never again when restoring a checkpoint).
Finally every function body's memory writes are instrumented to mark their 4 KiB pages
in a dirty bitmap (`icframework.replica.execution.dirty_pages`, exported as
``__icfw_dirty_pages``, whose last 8 bytes count the instructions that costs);
a module whose code the decoder cannot read keeps its code as it is and is
checkpointed by comparing the whole heap. Nothing else in the module changes.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from icframework.core import LEB128Error, decode_sleb128, decode_uleb128, encode_uleb128
from icframework.core.ic0 import IC0_FUNCTIONS
from icframework.replica.errors import InvalidModuleError
from icframework.replica.execution.dirty_pages import (
    BITMAP_EXPORT,
    COUNTER_BYTES,
    MAX_MEMORY32_PAGES,
    MAX_MEMORY64_PAGES,
    MarkingCounter,
    bitmap_pages,
    instrument_code,
    mark_function_body,
    mark_function_type,
)
from icframework.replica.execution.python_module import PYTHON_SECTION, PythonApp, parse_python_app
from icframework.replica.execution.wasm_code import UnsupportedInstructionError

WASM_MAGIC = b"\x00asm\x01\x00\x00\x00"
GZIP_MAGIC = b"\x1f\x8b\x08"
MAX_MODULE_BYTES = 100 * 1024 * 1024
MAX_FUNCTIONS = 50_000
MAX_GLOBALS = 1_000
MAX_EXPORTED_METHODS = 1_000
MAX_EXPORTED_NAME_BYTES = 20_000
MAX_CUSTOM_SECTIONS = 16
MAX_CUSTOM_SECTIONS_BYTES = 1024 * 1024

MEMORY_EXPORT = "__icfw_memory"
GLOBALS_GET_EXPORT = "__icfw_globals_get"
GLOBALS_SET_EXPORT = "__icfw_globals_set"
START_EXPORT = "__icfw_start"
TABLE_EXPORT = "__icfw_table"
GLOBAL_EXPORT_PREFIX = "__icfw_global_"
EOP_METADATA = "enhanced-orthogonal-persistence"

SYSTEM_ENTRY_POINTS = frozenset(
    {
        "canister_init",
        "canister_pre_upgrade",
        "canister_post_upgrade",
        "canister_inspect_message",
        "canister_heartbeat",
        "canister_global_timer",
        "canister_on_low_wasm_memory",
    }
)
_METHOD_PREFIXES = {
    "canister_update ": "update",
    "canister_query ": "query",
    "canister_composite_query ": "composite_query",
}
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128"}
# Section order of the binary format (custom sections, id 0, may appear anywhere).
_SECTION_ORDER = {
    1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13
}


@dataclass(frozen=True, slots=True)
class Metadata:
    """A ``icp:public <name>`` or ``icp:private <name>`` custom section."""

    name: str
    public: bool
    content: bytes


@dataclass(frozen=True)
class CanisterModule:
    """A validated, instrumented canister module and what the replica needs to know of it.

    ``module_hash`` is the SHA-256 of the bytes as installed (gzipped if they were),
    as ``/canister/<id>/module_hash`` reports it; ``wasm`` is the instrumented binary.
    """

    wasm: bytes
    module_hash: bytes
    memory64: bool
    has_memory: bool
    has_table: bool
    updates: frozenset[str]
    queries: frozenset[str]
    composite_queries: frozenset[str]
    system_methods: frozenset[str]
    mutable_globals: tuple[int, ...]
    has_start: bool = False
    globals_accessors: bool = False
    dirty_bitmap: bool = False
    """True when stores mark pages in the ``__icfw_dirty_pages`` bitmap (see `dirty_pages`)."""
    metadata: dict[str, Metadata] = field(default_factory=dict)
    installed_size: int = 0
    python_app: PythonApp | None = None

    @property
    def is_python(self) -> bool:
        """True for a Python canister module (code-less, an ``icframework:python`` section)."""
        return self.python_app is not None

    def with_entry_points(self, names: Iterable[str]) -> CanisterModule:
        """This module with the entry points ``names`` (IC export names) instead of its own.

        A Python canister's entry points are those its app registers, known once the
        runtime has loaded the source.
        """
        kinds: dict[str, set[str]] = {"update": set(), "query": set(), "composite_query": set()}
        system: set[str] = set()
        for name in names:
            if name in SYSTEM_ENTRY_POINTS:
                system.add(name)
                continue
            for prefix, kind in _METHOD_PREFIXES.items():
                if name.startswith(prefix):
                    kinds[kind].add(name[len(prefix) :])
                    break
        return replace(
            self, updates=frozenset(kinds["update"]), queries=frozenset(kinds["query"]),
            composite_queries=frozenset(kinds["composite_query"]),
            system_methods=frozenset(system),
        )

    @property
    def enhanced_orthogonal_persistence(self) -> bool:
        """True when the module asks to keep its heap across upgrades (current Motoko)."""
        return EOP_METADATA in self.metadata

    def global_export(self, index: int) -> str:
        return f"{GLOBAL_EXPORT_PREFIX}{index}"


class _Reader:
    """A cursor over one byte range that raises `InvalidModuleError` with the offset."""

    def __init__(self, data: bytes, pos: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, reason: str) -> InvalidModuleError:
        return InvalidModuleError(f"invalid wasm module at byte {self.pos}: {reason}")

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end of section")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def bytes(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise self.fail(f"{size} bytes announced but only {self.end - self.pos} remain")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def uleb(self) -> int:
        try:
            value, self.pos = decode_uleb128(self.data, self.pos)
        except LEB128Error as exc:
            raise self.fail(str(exc)) from None
        if self.pos > self.end:
            raise self.fail("number runs past the end of its section")
        return value

    def sleb(self) -> int:
        try:
            value, self.pos = decode_sleb128(self.data, self.pos)
        except LEB128Error as exc:
            raise self.fail(str(exc)) from None
        return value

    def name(self) -> str:
        raw = self.bytes(self.uleb())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"name {raw!r} is not valid UTF-8") from None

    def limits(self) -> tuple[int, bool]:
        """Skip a limits entry; return (flags, is_64_bit)."""
        flags = self.byte()
        self.uleb()
        if flags & 0x01:
            self.uleb()
        return flags, bool(flags & 0x04)

    def const_expr(self) -> None:
        """Skip a constant expression up to and including its ``end`` opcode."""
        while True:
            op = self.byte()
            if op == 0x0B:
                return
            if op in (0x41, 0x42):
                self.sleb()
            elif op == 0x43:
                self.bytes(4)
            elif op == 0x44:
                self.bytes(8)
            elif op in (0x23, 0xD2):
                self.uleb()
            elif op == 0xD0:
                self.sleb()
            elif op in (0x6A, 0x6B, 0x6C, 0x7C, 0x7D, 0x7E):
                continue
            elif op == 0xFD:
                if self.uleb() != 12:
                    raise self.fail("unsupported SIMD opcode in a constant expression")
                self.bytes(16)
            else:
                raise self.fail(f"unsupported opcode 0x{op:02x} in a constant expression")


def _decompress(data: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            out = stream.read(MAX_MODULE_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise InvalidModuleError(
            f"the gzip-compressed module cannot be decompressed: {exc}"
        ) from None
    if len(out) > MAX_MODULE_BYTES:
        raise InvalidModuleError(
            f"the module decompresses to more than {MAX_MODULE_BYTES} bytes, the IC's limit"
        )
    return out


def load_canister_module(installed: bytes) -> CanisterModule:
    """Validate and instrument ``installed`` (raw or gzipped wasm).

    Raises `InvalidModuleError` naming the rule the module breaks.
    """
    if len(installed) > MAX_MODULE_BYTES:
        raise InvalidModuleError(
            f"module is {len(installed)} bytes; the IC accepts at most {MAX_MODULE_BYTES}"
        )
    module_hash = hashlib.sha256(installed).digest()
    wasm = _decompress(installed) if installed.startswith(GZIP_MAGIC) else installed
    if not wasm.startswith(WASM_MAGIC):
        raise InvalidModuleError(
            f"not a wasm module: it starts with {wasm[:8].hex()} instead of "
            f"{WASM_MAGIC.hex()} (\\0asm version 1) or gzip's 1f8b08"
        )
    return _Parser(wasm, module_hash, len(installed)).parse()


class _Parser:
    def __init__(self, wasm: bytes, module_hash: bytes, installed_size: int) -> None:
        self.wasm = wasm
        self.module_hash = module_hash
        self.installed_size = installed_size
        self.types: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.func_types: list[int] = []
        self.imported_funcs = 0
        self.imported_globals = 0
        self.imported_tables = 0
        self.imported_memories = 0
        self.imports: list[tuple[str, str, int]] = []
        self.mutable_globals: list[int] = []
        self.defined_globals = 0
        self.memories: list[bool] = []
        self.memory_limits: list[tuple[int, int, int | None]] = []
        self.tables = 0
        self.exports: list[tuple[str, int, int]] = []
        self.metadata: dict[str, Metadata] = {}
        self.custom_bytes = 0
        self.custom_count = 0
        self.sections: list[tuple[int, int, int]] = []
        self.start_function: int | None = None
        self.global_types: dict[int, int] = {}
        self.python_section: bytes | None = None

    def parse(self) -> CanisterModule:
        reader = _Reader(self.wasm, len(WASM_MAGIC))
        last_order = 0
        while reader.pos < reader.end:
            start = reader.pos
            section_id = reader.byte()
            size = reader.uleb()
            body = reader.pos
            if body + size > len(self.wasm):
                raise reader.fail(f"section {section_id} runs past the end of the module")
            if section_id != 0:
                order = _SECTION_ORDER.get(section_id)
                if order is None:
                    raise reader.fail(f"unknown section id {section_id}")
                if order <= last_order:
                    raise reader.fail(f"section {section_id} is out of order or repeated")
                last_order = order
            self._section(section_id, _Reader(self.wasm, body, body + size))
            reader.pos = body + size
            self.sections.append((section_id, start, reader.pos))
        return self._finish()

    def _section(self, section_id: int, r: _Reader) -> None:
        if section_id == 0:
            self._custom(r)
        elif section_id == 1:
            for _ in range(r.uleb()):
                if r.byte() != 0x60:
                    raise r.fail("only function types are supported in the type section")
                params = tuple(_VALTYPES.get(r.byte(), "ref") for _ in range(r.uleb()))
                results = tuple(_VALTYPES.get(r.byte(), "ref") for _ in range(r.uleb()))
                self.types.append((params, results))
        elif section_id == 2:
            for _ in range(r.uleb()):
                module, name, kind = r.name(), r.name(), r.byte()
                if kind == 0x00:
                    self.imports.append((module, name, r.uleb()))
                    self.imported_funcs += 1
                else:
                    what = {1: "a table", 2: "a memory", 3: "a global", 4: "a tag"}.get(kind, "?")
                    raise r.fail(
                        f"import {module}.{name} is {what}; canisters may import only ic0 "
                        "functions"
                    )
        elif section_id == 3:
            self.func_types.extend(r.uleb() for _ in range(r.uleb()))
        elif section_id == 4:
            for _ in range(r.uleb()):
                if r.data[r.pos] == 0x40:
                    r.bytes(2)
                    r.byte()
                    r.limits()
                    r.const_expr()
                else:
                    r.byte()
                    r.limits()
                self.tables += 1
        elif section_id == 5:
            for _ in range(r.uleb()):
                flags = r.byte()
                minimum = r.uleb()
                maximum = r.uleb() if flags & 0x01 else None
                self.memories.append(bool(flags & 0x04))
                self.memory_limits.append((flags, minimum, maximum))
        elif section_id == 6:
            for _ in range(r.uleb()):
                valtype = r.byte()
                mutable = r.byte()
                r.const_expr()
                if mutable:
                    index = self.imported_globals + self.defined_globals
                    self.mutable_globals.append(index)
                    self.global_types[index] = valtype
                self.defined_globals += 1
        elif section_id == 7:
            for _ in range(r.uleb()):
                self.exports.append((r.name(), r.byte(), r.uleb()))
        elif section_id == 8:
            self.start_function = r.uleb()

    def _custom(self, r: _Reader) -> None:
        name = r.name()
        if name == PYTHON_SECTION:
            if self.python_section is not None:
                raise r.fail(f"custom section {PYTHON_SECTION!r} is declared twice")
            self.python_section = r.bytes(r.end - r.pos)
            return
        if not name.startswith("icp:"):
            return
        for prefix, public in (("icp:public ", True), ("icp:private ", False)):
            if name.startswith(prefix):
                meta_name = name[len(prefix) :]
                if meta_name in self.metadata:
                    raise r.fail(f"custom section {meta_name!r} is declared twice")
                content = r.bytes(r.end - r.pos)
                self.metadata[meta_name] = Metadata(meta_name, public, content)
                self.custom_count += 1
                self.custom_bytes += len(content) + len(meta_name)
                return
        raise r.fail(
            f"custom section {name!r}: icp: sections must be named 'icp:public <name>' "
            "or 'icp:private <name>'"
        )

    def _func_type(self, index: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if index < self.imported_funcs:
            type_index = self.imports[index][2]
        else:
            local = index - self.imported_funcs
            if local >= len(self.func_types):
                raise InvalidModuleError(f"function index {index} does not exist")
            type_index = self.func_types[local]
        if type_index >= len(self.types):
            raise InvalidModuleError(f"type index {type_index} does not exist")
        return self.types[type_index]

    def _finish(self) -> CanisterModule:
        if self.python_section is not None:
            return self._finish_python(self.python_section)
        memory64 = bool(self.memories and self.memories[0])
        self._check_imports(memory64)
        updates, queries, composites, system = self._check_exports()
        functions = self.imported_funcs + len(self.func_types)
        if functions > MAX_FUNCTIONS:
            raise InvalidModuleError(f"module has {functions} functions; max {MAX_FUNCTIONS}")
        globals_count = self.imported_globals + self.defined_globals
        if globals_count > MAX_GLOBALS:
            raise InvalidModuleError(f"module has {globals_count} globals; max {MAX_GLOBALS}")
        if self.custom_count > MAX_CUSTOM_SECTIONS or self.custom_bytes > MAX_CUSTOM_SECTIONS_BYTES:
            raise InvalidModuleError(
                f"module has {self.custom_count} icp: custom sections of {self.custom_bytes} "
                f"bytes; the IC allows {MAX_CUSTOM_SECTIONS} and {MAX_CUSTOM_SECTIONS_BYTES} bytes"
            )
        wasm, dirty_bitmap = self._instrumented()
        return CanisterModule(
            wasm=wasm,
            dirty_bitmap=dirty_bitmap,
            module_hash=self.module_hash,
            memory64=memory64,
            has_memory=bool(self.memories),
            has_table=self.tables > 0,
            updates=frozenset(updates),
            queries=frozenset(queries),
            composite_queries=frozenset(composites),
            system_methods=frozenset(system),
            mutable_globals=tuple(self.mutable_globals),
            has_start=self.start_function is not None,
            globals_accessors=self._accessors_possible(),
            metadata=self.metadata,
            installed_size=self.installed_size,
        )

    def _finish_python(self, content: bytes) -> CanisterModule:
        """A Python canister module: custom sections only; its app must parse."""
        code = sorted({sid for sid, _, _ in self.sections if sid != 0})
        if code:
            raise InvalidModuleError(
                f"a module with a {PYTHON_SECTION!r} section must have no code, only custom "
                f"sections; it has sections {code}"
            )
        if self.custom_count > MAX_CUSTOM_SECTIONS or self.custom_bytes > MAX_CUSTOM_SECTIONS_BYTES:
            raise InvalidModuleError(
                f"module has {self.custom_count} icp: custom sections of {self.custom_bytes} "
                f"bytes; the IC allows {MAX_CUSTOM_SECTIONS} and {MAX_CUSTOM_SECTIONS_BYTES} bytes"
            )
        if EOP_METADATA in self.metadata:
            raise InvalidModuleError(
                "a Python canister has no heap to keep; it cannot declare "
                "enhanced orthogonal persistence"
            )
        return CanisterModule(
            wasm=self.wasm,
            module_hash=self.module_hash,
            memory64=False,
            has_memory=False,
            has_table=False,
            updates=frozenset(),
            queries=frozenset(),
            composite_queries=frozenset(),
            system_methods=frozenset(),
            mutable_globals=(),
            metadata=self.metadata,
            installed_size=self.installed_size,
            python_app=parse_python_app(content),
        )

    def _check_imports(self, memory64: bool) -> None:
        for module, name, type_index in self.imports:
            if module != "ic0":
                raise InvalidModuleError(
                    f"import {module}.{name}: canisters may import only from module 'ic0'"
                )
            spec = IC0_FUNCTIONS.get(name)
            if spec is None:
                raise InvalidModuleError(f"import ic0.{name} is not part of the System API")
            if spec.wasm32_only and memory64:
                raise InvalidModuleError(
                    f"import ic0.{name} exists only for 32-bit modules; this module uses "
                    "64-bit memory (use the *64 / *128 variant)"
                )
            expected = spec.signature(memory64)
            actual = self.types[type_index] if type_index < len(self.types) else None
            if actual != expected:
                raise InvalidModuleError(
                    f"import ic0.{name} has type {actual}; the System API says {expected} "
                    f"for a {'64' if memory64 else '32'}-bit module"
                )

    def _check_exports(self) -> tuple[set[str], set[str], set[str], set[str]]:
        kinds: dict[str, set[str]] = {"update": set(), "query": set(), "composite_query": set()}
        system: set[str] = set()
        seen_methods: set[str] = set()
        name_bytes = 0
        for name, kind, index in self.exports:
            if not name.startswith("canister_") or kind != 0x00:
                if name.startswith("canister_"):
                    raise InvalidModuleError(f"export {name!r} must be a function")
                continue
            if name in SYSTEM_ENTRY_POINTS:
                system.add(name)
            else:
                for prefix, method_kind in _METHOD_PREFIXES.items():
                    if name.startswith(prefix):
                        method = name[len(prefix) :]
                        if method in seen_methods:
                            raise InvalidModuleError(
                                f"method {method!r} is exported more than once "
                                "(update, query and composite_query share one namespace)"
                            )
                        seen_methods.add(method)
                        kinds[method_kind].add(method)
                        name_bytes += len(method.encode("utf-8"))
                        break
                else:
                    raise InvalidModuleError(
                        f"export {name!r} is not a valid canister entry point; expected "
                        "'canister_update <name>', 'canister_query <name>', "
                        "'canister_composite_query <name>' or a system method"
                    )
            if self._func_type(index) != ((), ()):
                raise InvalidModuleError(f"exported {name!r} must have type () -> ()")
        if len(seen_methods) > MAX_EXPORTED_METHODS:
            raise InvalidModuleError(
                f"module exports {len(seen_methods)} methods; max {MAX_EXPORTED_METHODS}"
            )
        if name_bytes > MAX_EXPORTED_NAME_BYTES:
            raise InvalidModuleError(
                f"exported method names total {name_bytes} bytes; max {MAX_EXPORTED_NAME_BYTES}"
            )
        return kinds["update"], kinds["query"], kinds["composite_query"], system

    def _accessors_possible(self) -> bool:
        numeric = (0x7F, 0x7E, 0x7D, 0x7C)
        return bool(self.mutable_globals) and bool(self.types) and all(
            self.global_types[index] in numeric for index in self.mutable_globals
        )

    def _section_entries(self, section_id: int) -> tuple[int, bytes]:
        """(entry count, entry bytes) of a vector section, or (0, b"") if it is absent."""
        for sid, start, end in self.sections:
            if sid == section_id:
                r = _Reader(self.wasm, start + 1)
                body_size = r.uleb()
                r.end = r.pos + body_size
                count = r.uleb()
                return count, self.wasm[r.pos : end]
        return 0, b""

    def _instrumented(self) -> tuple[bytes, bool]:
        """The module with our exports, dirty-page marking and global accessors added.

        Returns the module and whether its stores mark the dirty bitmap. The accessors
        read and write every mutable global in one call each, which is far cheaper than
        one host round trip per global.
        """
        entries = [_export_entry(name, kind, index) for name, kind, index in self.exports]
        if self.memories:
            entries.append(_export_entry(MEMORY_EXPORT, 0x02, 0))
        if self.tables or self.imported_tables:
            entries.append(_export_entry(TABLE_EXPORT, 0x01, 0))
        for index in self.mutable_globals:
            entries.append(_export_entry(f"{GLOBAL_EXPORT_PREFIX}{index}", 0x03, index))
        if self.start_function is not None:
            entries.append(_export_entry(START_EXPORT, 0x00, self.start_function))
        functions = _AddedFunctions(self)
        bodies: dict[int, bytes] = {}
        dirty_bitmap = self._add_dirty_tracking(functions, bodies, entries)
        if self._accessors_possible():
            self._add_accessors(functions, entries)
        bodies.update(functions.sections())
        bodies[7] = encode_uleb128(len(entries)) + b"".join(entries)
        missing = sorted(
            (sid for sid in bodies if not any(s == sid for s, _, _ in self.sections)),
            key=_SECTION_ORDER.__getitem__,
        )
        out = bytearray(WASM_MAGIC)

        def emit(section_id: int) -> None:
            body = bodies[section_id]
            out.extend(bytes((section_id,)) + encode_uleb128(len(body)) + body)

        for section_id, start, end in self.sections:
            if section_id == 8:
                continue
            if section_id != 0:
                while missing and _SECTION_ORDER[missing[0]] < _SECTION_ORDER[section_id]:
                    emit(missing.pop(0))
            if section_id in bodies:
                emit(section_id)
            else:
                out += self.wasm[start:end]
        for section_id in missing:
            emit(section_id)
        return bytes(out), dirty_bitmap

    def _add_dirty_tracking(
        self, functions: _AddedFunctions, bodies: dict[int, bytes], exports: list[bytes]
    ) -> bool:
        """Instrument the code's memory writes (see `dirty_pages`); False if not possible.

        Possible for a module with one memory (not shared, 64 KiB pages) whose every
        function body the decoder reads; the bitmap memory is appended as the last one
        and a 64-bit memory without a maximum gets `MAX_MEMORY64_PAGES`. The bitmap's
        last 8 bytes count the instructions the marking adds (`dirty_pages.MarkingCounter`), so
        the sandbox can leave them out of the message's instruction count.
        """
        if len(self.memory_limits) != 1:
            return False
        flags, minimum, maximum = self.memory_limits[0]
        if flags & ~0x05:
            return False
        memory64 = bool(flags & 0x04)
        cap = MAX_MEMORY64_PAGES if memory64 else MAX_MEMORY32_PAGES
        maximum = cap if maximum is None else min(maximum, cap)
        if minimum > maximum:
            return False
        code_count, code_entries = self._section_entries(10)
        size = bitmap_pages(maximum)
        counter = MarkingCounter(memory64, 1, size * 65536 - COUNTER_BYTES)
        try:
            types = [imported[2] for imported in self.imports] + self.func_types
            calls = tuple((len(self.types[t][0]), len(self.types[t][1])) for t in types)
            code = instrument_code(
                code_entries, code_count, calls, memory64=memory64, bitmap=1,
                mark_function=functions.next_index, counter=counter,
            )
        except (UnsupportedInstructionError, IndexError):
            return False
        functions.code_entries = code
        functions.add(mark_function_type(memory64), mark_function_body(memory64, counter))
        bodies[5] = b"\x02" + b"".join(
            bytes((flags | 0x01,)) + encode_uleb128(low) + encode_uleb128(high)
            for low, high in ((minimum, maximum), (size, size))
        )
        exports.append(_export_entry(BITMAP_EXPORT, 0x02, 1))
        return True

    def _add_accessors(self, functions: _AddedFunctions, exports: list[bytes]) -> None:
        """Append the two global accessor functions and export them."""
        valtypes = bytes(self.global_types[i] for i in self.mutable_globals)
        count = len(valtypes)
        getter = b"\x00" + b"".join(b"\x23" + encode_uleb128(i) for i in self.mutable_globals)
        setter = b"\x00" + b"".join(
            b"\x20" + encode_uleb128(n) + b"\x24" + encode_uleb128(i)
            for n, i in enumerate(self.mutable_globals)
        )
        getter += b"\x0b"
        setter += b"\x0b"
        get_function = functions.add(
            b"\x60\x00" + encode_uleb128(count) + valtypes,
            encode_uleb128(len(getter)) + getter,
        )
        set_function = functions.add(
            b"\x60" + encode_uleb128(count) + valtypes + b"\x00",
            encode_uleb128(len(setter)) + setter,
        )
        exports.append(_export_entry(GLOBALS_GET_EXPORT, 0x00, get_function))
        exports.append(_export_entry(GLOBALS_SET_EXPORT, 0x00, set_function))


class _AddedFunctions:
    """Functions appended to a module (each with a type of its own), and its new sections."""

    def __init__(self, parser: _Parser) -> None:
        self.type_count, self.type_entries = parser._section_entries(1)
        self.func_count, self.func_entries = parser._section_entries(3)
        self.code_count, self.code_entries = parser._section_entries(10)
        self.imported_funcs = parser.imported_funcs
        self.added: list[tuple[bytes, bytes]] = []

    @property
    def next_index(self) -> int:
        """The function index the next `add` returns."""
        return self.imported_funcs + self.func_count + len(self.added)

    def add(self, type_entry: bytes, code_entry: bytes) -> int:
        """Append a function (a type-section entry and a size-prefixed body); its index."""
        index = self.next_index
        self.added.append((type_entry, code_entry))
        return index

    def sections(self) -> dict[int, bytes]:
        """New type, function and code sections, or none if nothing was changed or added."""
        added = len(self.added)
        if not added:
            return {}
        types = self.type_entries + b"".join(t for t, _ in self.added)
        funcs = self.func_entries + b"".join(
            encode_uleb128(self.type_count + n) for n in range(added)
        )
        code = self.code_entries + b"".join(c for _, c in self.added)
        return {
            1: encode_uleb128(self.type_count + added) + types,
            3: encode_uleb128(self.func_count + added) + funcs,
            10: encode_uleb128(self.code_count + added) + code,
        }


def _export_entry(name: str, kind: int, index: int) -> bytes:
    raw = name.encode("utf-8")
    return encode_uleb128(len(raw)) + raw + bytes((kind,)) + encode_uleb128(index)
