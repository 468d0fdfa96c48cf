"""Core-wasm section editing for the IC target: read a module's sections and rewrite the
few the snapshot and the per-app step change (globals, memory, exports, data, custom).

A module is kept as its list of ``(section id, body)``; `Module.to_bytes` lays them out
again with the canonical (shortest) LEB128 sizes, so the same edits give the same bytes.
Only what the builder needs is decoded: the global section's constant initialisers, the
memory section's limits and the export section. A module laid out otherwise raises
`WasmEditError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from icframework.core import decode_sleb128, decode_uleb128, encode_sleb128, encode_uleb128

__all__ = ["Export", "Global", "Module", "WasmEditError"]

MAGIC = b"\0asm\x01\0\0\0"
CUSTOM, TYPE, IMPORT, FUNCTION, TABLE, MEMORY, GLOBAL, EXPORT = 0, 1, 2, 3, 4, 5, 6, 7
START, ELEMENT, CODE, DATA, DATACOUNT = 8, 9, 10, 11, 12
_I32, _I64, _F32, _F64 = 0x7F, 0x7E, 0x7D, 0x7C
_CONST_OPS = {_I32: 0x41, _I64: 0x42, _F32: 0x43, _F64: 0x44}
_EXTERNAL_KINDS = {0: "func", 1: "table", 2: "memory", 3: "global"}


class WasmEditError(Exception):
    """The module is not laid out as the IC-target builder expects."""


def _name(data: bytes, at: int) -> tuple[str, int]:
    size, at = decode_uleb128(data, at)
    return data[at:at + size].decode("utf-8"), at + size


def _encode_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    return encode_uleb128(len(raw)) + raw


def _vector(items: list[bytes]) -> bytes:
    return encode_uleb128(len(items)) + b"".join(items)


@dataclass(frozen=True, slots=True)
class Global:
    """A defined global: its value type byte, mutability and (constant) initial value."""

    valtype: int
    mutable: bool
    init: bytes  # the init expression, without its end byte

    def with_value(self, value: int | float) -> Global:
        op = _CONST_OPS.get(self.valtype)
        if op is None:
            raise WasmEditError(f"a global of type 0x{self.valtype:02x} cannot be snapshotted")
        if self.valtype in (_I32, _I64):
            bits = 32 if self.valtype == _I32 else 64
            signed = int(value) - (1 << bits) if int(value) >= 1 << (bits - 1) else int(value)
            payload = encode_sleb128(signed)
        elif self.valtype == _F32:
            payload = struct.pack("<f", value)
        else:
            payload = struct.pack("<d", value)
        return Global(self.valtype, self.mutable, bytes([op]) + payload)

    def encode(self) -> bytes:
        return bytes([self.valtype, 1 if self.mutable else 0]) + self.init + b"\x0b"


@dataclass(frozen=True, slots=True)
class Export:
    """An export: its name, kind (``func``, ``table``, ``memory``, ``global``) and index."""

    name: str
    kind: str
    index: int

    def encode(self) -> bytes:
        kind = {v: k for k, v in _EXTERNAL_KINDS.items()}[self.kind]
        return _encode_name(self.name) + bytes([kind]) + encode_uleb128(self.index)


class Module:
    """A core module as its sections, with editors for the ones the builder changes."""

    def __init__(self, data: bytes) -> None:
        if data[:8] != MAGIC:
            raise WasmEditError("not a core wasm module (bad magic or version)")
        self.sections: list[tuple[int, bytes]] = []
        at = 8
        while at < len(data):
            section = data[at]
            size, at = decode_uleb128(data, at + 1)
            self.sections.append((section, bytes(data[at:at + size])))
            at += size
        if at != len(data):
            raise WasmEditError("the last section runs past the end of the module")

    def to_bytes(self) -> bytes:
        parts = [MAGIC]
        for section, body in self.sections:
            parts.append(bytes([section]) + encode_uleb128(len(body)) + body)
        return b"".join(parts)

    # ---- sections --------------------------------------------------------------------------
    def body(self, section: int) -> bytes | None:
        for sid, body in self.sections:
            if sid == section:
                return body
        return None

    def replace(self, section: int, body: bytes | None) -> None:
        """Set (or, with None, drop) a known section, keeping the sections' order."""
        for i, (sid, _) in enumerate(self.sections):
            if sid == section:
                if body is None:
                    del self.sections[i]
                else:
                    self.sections[i] = (section, body)
                return
        if body is None:
            return
        order = [TYPE, IMPORT, FUNCTION, TABLE, MEMORY, GLOBAL, EXPORT, START, ELEMENT,
                 DATACOUNT, CODE, DATA]
        rank = order.index(section)
        for i, (sid, _) in enumerate(self.sections):
            if sid != CUSTOM and order.index(sid) > rank:
                self.sections.insert(i, (section, body))
                return
        self.sections.append((section, body))

    def add_custom(self, name: str, payload: bytes) -> None:
        self.sections.append((CUSTOM, _encode_name(name) + payload))

    def drop_custom(self, keep: tuple[str, ...] = ()) -> None:
        """Remove custom sections (debug names, producers) except those named in ``keep``."""
        kept = []
        for sid, body in self.sections:
            if sid == CUSTOM and _name(body, 0)[0] not in keep:
                continue
            kept.append((sid, body))
        self.sections = kept

    # ---- imports ---------------------------------------------------------------------------
    def imported_counts(self) -> dict[str, int]:
        """How many functions, tables, memories and globals are imported."""
        counts = dict.fromkeys(_EXTERNAL_KINDS.values(), 0)
        body = self.body(IMPORT)
        if body is None:
            return counts
        count, at = decode_uleb128(body, 0)
        for _ in range(count):
            _, at = _name(body, at)
            _, at = _name(body, at)
            kind = body[at]
            at += 1
            counts[_EXTERNAL_KINDS[kind]] += 1
            if kind == 0:
                _, at = decode_uleb128(body, at)
            elif kind == 1:
                at = _skip_limits(body, at + 1)
            elif kind == 2:
                at = _skip_limits(body, at)
            else:
                at += 2
        return counts

    # ---- globals ---------------------------------------------------------------------------
    def globals(self) -> list[Global]:
        body = self.body(GLOBAL)
        if body is None:
            return []
        count, at = decode_uleb128(body, 0)
        out = []
        for _ in range(count):
            valtype, mutable = body[at], body[at + 1]
            end = _const_expr_end(body, at + 2)
            out.append(Global(valtype, bool(mutable), body[at + 2:end]))
            at = end + 1
        return out

    def set_globals(self, globals_: list[Global]) -> None:
        self.replace(GLOBAL, _vector([g.encode() for g in globals_]))

    # ---- memory ---------------------------------------------------------------------------
    def set_memory_minimum(self, pages: int) -> None:
        """Set the (single, 32-bit) memory's minimum size in 64 KiB pages."""
        body = self.body(MEMORY)
        if body is None or body[0] != 1:
            raise WasmEditError("the module must define exactly one memory")
        flags = body[1]
        if flags not in (0, 1):
            raise WasmEditError(f"memory limits flags 0x{flags:02x} are not supported")
        _, at = decode_uleb128(body, 2)
        rest = body[at:]
        self.replace(MEMORY, b"\x01" + bytes([flags]) + encode_uleb128(pages) + rest)

    # ---- exports ---------------------------------------------------------------------------
    def exports(self) -> list[Export]:
        body = self.body(EXPORT)
        if body is None:
            return []
        count, at = decode_uleb128(body, 0)
        out = []
        for _ in range(count):
            name, at = _name(body, at)
            kind = _EXTERNAL_KINDS[body[at]]
            index, at = decode_uleb128(body, at + 1)
            out.append(Export(name, kind, index))
        return out

    def set_exports(self, exports: list[Export]) -> None:
        self.replace(EXPORT, _vector([e.encode() for e in exports]))

    # ---- data -----------------------------------------------------------------------------
    def set_data(self, segments: list[tuple[int, bytes]]) -> None:
        """Replace every data segment with active segments ``(offset, bytes)`` of memory 0."""
        if self.body(DATA) is not None:
            _check_no_bulk_data_use(self)
        entries = [
            b"\x00\x41" + encode_sleb128(_signed32(offset)) + b"\x0b"
            + encode_uleb128(len(data)) + data
            for offset, data in segments
        ]
        self.replace(DATA, _vector(entries))
        if self.body(DATACOUNT) is not None:
            self.replace(DATACOUNT, encode_uleb128(len(entries)))


def _signed32(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


def _skip_limits(body: bytes, at: int) -> int:
    flags = body[at]
    _, at = decode_uleb128(body, at + 1)
    if flags & 1:
        _, at = decode_uleb128(body, at)
    return at


def _const_expr_end(body: bytes, at: int) -> int:
    """The offset of the ``end`` byte of the constant expression at ``at``."""
    op = body[at]
    if op in (0x41, 0x42):
        _, at = decode_sleb128(body, at + 1)
    elif op == 0x43:
        at += 5
    elif op == 0x44:
        at += 9
    elif op == 0x23:  # global.get
        _, at = decode_uleb128(body, at + 1)
    else:
        raise WasmEditError(f"global initialiser opcode 0x{op:02x} is not supported")
    if body[at] != 0x0B:
        raise WasmEditError("a global initialiser longer than one instruction is not supported")
    return at


def _check_no_bulk_data_use(module: Module) -> None:
    """Segments can be replaced only if no code refers to them by index (passive
    segments with memory.init / data.drop); a DataCount section with no passive
    segment is fine."""
    body = module.body(DATA)
    assert body is not None
    count, at = decode_uleb128(body, 0)
    for _ in range(count):
        flags, at = decode_uleb128(body, at)
        if flags == 1:
            raise WasmEditError("passive data segments cannot be snapshotted")
        if flags == 2:
            _, at = decode_uleb128(body, at)
        at = _const_expr_end(body, at) + 1
        size, at = decode_uleb128(body, at)
        at += size
