"""Bulk bytes: the runtime's message exports and key-value store as latin-1 text to the host.

What it owns: one rewrite of the component componentize-py builds (`latin1_exports`),
applied by `runtime_build` before the component is cached (docs/abi.md, "Bulk bytes").

Why: the host runs the component through wasmtime's C API, which hands every
``list<u8>`` over as an array of 32-byte values that wasmtime converts to and from the
guest's memory one element at a time (about 40 ms per MiB into the guest and 75 ms per
MiB out, measured with wasmtime-py 50); a ``string`` crosses as one byte buffer. The
canonical ABI passes a ``list<u8>`` and a ``string`` alike, as a pointer and a length,
and with the ``latin1+utf16`` string encoding a string whose characters are all below
256 is exactly one byte per character. So the guest keeps its ``list<u8>`` code (the
bytes arrive as Python ``bytes``, copied in one piece) while the host sees
``string``: it sends ``data.decode("latin-1")`` and reads a result back with
``.encode("latin-1")``; wasmtime transcodes the buffer in bulk.

How it works: the component binary (the component-model binary format) is walked
section by section, counting the index spaces it needs (`_Spaces`).

- Exports: in every (nested) component, a type section holding exactly one function type
  whose parameter names are one of `LATIN1_EXPORTS` gets those parameters and its result
  retyped as ``string``, and a ``canon lift`` of such a type gets the ``latin1+utf16``
  option.
- The `LATIN1_IMPORT` interface: its instance type declares its own ``blob`` first
  (``type blob = list<u8>`` in the WIT), which becomes ``string``, and every ``canon
  lower`` of its functions gets ``latin1+utf16``.
- Both take a ``realloc`` that can shrink (`SHRINKING_REALLOC`): wasmtime writes a
  latin-1 string into a buffer the size of its UTF-8 form and then shrinks it, which
  componentize-py's ``cabi_realloc`` refuses. The shim module is instantiated over the
  instance exporting ``cabi_realloc`` just before the first canon section that needs it;
  the core functions and instances defined after it are renumbered (`_Renumber`).

Section sizes are re-encoded. A component laid out any other way raises
`BulkBytesError`, so a componentize-py version that changes the layout fails the build
instead of the messages.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from icframework.core import decode_uleb128, encode_uleb128

__all__ = [
    "LATIN1_EXPORTS",
    "LATIN1_IMPORT",
    "LATIN1_IMPORT_FUNCTIONS",
    "SHRINKING_REALLOC",
    "SOURCE_DIGEST",
    "BulkBytesError",
    "latin1_exports",
]

SOURCE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
"""SHA-256 of this module's source as it was imported: part of the runtime's cache key, so
a process that imported an older version never caches its output under the new key."""

LATIN1_EXPORTS: dict[tuple[str, ...], frozenset[str]] = {
    ("index", "arg"): frozenset({"arg"}),  # canister.call-method
    ("callback", "rejected", "arg"): frozenset({"arg"}),  # canister.call-callback
}
"""Exports retyped for the host, by their parameter names: the parameters that become
latin-1 strings (the result, a blob too, always does)."""

LATIN1_IMPORT = "icframework:canister/kv"
"""The imported interface whose own ``blob`` type is declared as a latin-1 string (every
key and value of the key-value store)."""
LATIN1_IMPORT_FUNCTIONS = ("get", "put", "delete", "scan", "commit")
"""Its functions (each lowered once)."""

_PREAMBLE = b"\x00asm\x0d\x00\x01\x00"
_CORE_MODULE, _CORE_INSTANCE, _COMPONENT, _INSTANCE, _ALIAS, _TYPE, _CANON = 1, 2, 4, 5, 6, 7, 8
_IMPORT, _EXPORT = 10, 11
_FUNC_TYPE = 0x40
_STRING = 0x73
_LATIN1_UTF16 = 0x02
_TYPE_SORT = 0x03
_OPTIONS_WITH_INDEX = (0x03, 0x04, 0x05, 0x07)  # memory, realloc, post-return, callback


class BulkBytesError(Exception):
    """The component is not laid out as this rewrite expects (or is not a component)."""


def _encode_name(name: str) -> bytes:
    raw = name.encode("utf-8")
    return encode_uleb128(len(raw)) + raw


def _wasm_section(section: int, body: bytes) -> bytes:
    return bytes((section,)) + encode_uleb128(len(body)) + body


_REALLOC_TYPE = b"\x60\x04\x7f\x7f\x7f\x7f\x01\x7f"  # (i32 i32 i32 i32) -> i32
_SHRINK_BODY = bytes([
    0x00,  # no locals
    0x20, 0x00, 0x04, 0x7F,  # if old_ptr != 0 (result i32)
    0x20, 0x03, 0x20, 0x01, 0x4B, 0x04, 0x40, 0x00, 0x0B,  # new_size > old_size: trap
    0x20, 0x00,  # shrink in place: the same pointer
    0x05,  # else: a new allocation
    0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0x20, 0x03, 0x10, 0x00,
    0x0B, 0x0B,
])
SHRINKING_REALLOC = b"".join((
    b"\x00asm\x01\x00\x00\x00",
    _wasm_section(1, b"\x01" + _REALLOC_TYPE),
    _wasm_section(
        2, b"\x01" + _encode_name("runtime") + _encode_name("cabi_realloc") + b"\x00\x00"
    ),
    _wasm_section(3, b"\x01\x00"),
    _wasm_section(7, b"\x01" + _encode_name("realloc") + b"\x00\x01"),
    _wasm_section(10, b"\x01" + encode_uleb128(len(_SHRINK_BODY)) + _SHRINK_BODY),
))
"""A core module wrapping the runtime's ``cabi_realloc`` (imported as
``runtime.cabi_realloc``): ``realloc(old_ptr, old_size, align, new_size)`` returns
``old_ptr`` when asked to shrink it (traps if asked to grow it) and forwards a new
allocation. Exported as ``realloc``."""


def _name(data: bytes, at: int) -> tuple[str, int]:
    size, at = decode_uleb128(data, at)
    return data[at : at + size].decode("utf-8"), at + size


def _valtype_end(data: bytes, at: int) -> int:
    """The offset after the valtype at ``at`` (a primitive byte or a type index)."""
    if data[at] >= 0x64 and data[at] <= 0x7F:
        return at + 1
    return decode_uleb128(data, at)[1]


def _rewrite_func_type(entry: bytes) -> tuple[tuple[str, ...], bytes] | None:
    """(parameter names, ``entry`` with its blob parameters and result as ``string``) of
    one function type, or None if its parameter names are not one of `LATIN1_EXPORTS`."""
    if entry[:1] != bytes((_FUNC_TYPE,)):
        return None
    count, at = decode_uleb128(entry, 1)
    params: list[tuple[str, bytes, bytes]] = []
    for _ in range(count):
        start = at
        name, at = _name(entry, at)
        end = _valtype_end(entry, at)
        params.append((name, entry[start:at], entry[at:end]))
        at = end
    retyped = LATIN1_EXPORTS.get(tuple(name for name, _, _ in params))
    if retyped is None or entry[at] != 0x00:  # 0x00: exactly one result
        return None
    out = bytearray(entry[:1] + encode_uleb128(count))
    for name, label, valtype in params:
        out += label + (bytes((_STRING,)) if name in retyped else valtype)
    out += bytes((0x00, _STRING))
    if _valtype_end(entry, at + 1) != len(entry):
        return None
    return tuple(name for name, _, _ in params), bytes(out)


def _options_end(data: bytes, at: int) -> int:
    """The offset after the canonical-option vector at ``at``."""
    count, at = decode_uleb128(data, at)
    for _ in range(count):
        kind = data[at]
        at += 1
        if kind in _OPTIONS_WITH_INDEX:
            at = decode_uleb128(data, at)[1]
        elif kind > 0x07:
            raise BulkBytesError(f"unknown canonical option 0x{kind:02x}")
    return at


def _canon_entries(body: bytes) -> list[bytes]:
    """Every entry of a canon section body."""
    entries = []
    count, at = decode_uleb128(body, 0)
    for _ in range(count):
        start = at
        op = body[at]
        if op in (0x00, 0x01):  # lift (with a type index) / lower: op 0x00 func options
            at = _options_end(body, decode_uleb128(body, at + 2)[1])
            if op == 0x00:
                at = decode_uleb128(body, at)[1]
        elif op in (0x02, 0x03, 0x04, 0x07):  # resource.new / drop / rep / drop async
            at = decode_uleb128(body, at + 1)[1]
        else:
            raise BulkBytesError(f"unknown canon entry 0x{op:02x}")
        entries.append(body[start:at])
    return entries


def _realloc_option(entry: bytes) -> int:
    """The core function index of a lift's or lower's ``realloc`` option."""
    count, at = decode_uleb128(entry, decode_uleb128(entry, 2)[1])
    for _ in range(count):
        kind = entry[at]
        at += 1
        if kind in _OPTIONS_WITH_INDEX:
            index, at = decode_uleb128(entry, at)
            if kind == 0x04:
                return index
    raise BulkBytesError("a function to declare with latin-1 strings has no realloc option")


class _Spaces:
    """The index spaces of one component this rewrite needs, counted section by section,
    and where the latin-1 functions are."""

    def __init__(self) -> None:
        self.types = 0
        self.funcs = 0
        self.instances = 0
        self.core_funcs = 0
        self.core_instances = 0
        self.core_modules = 0
        self.core_exports: dict[int, tuple[int, str]] = {}  # core func -> (instance, name)
        self.latin1_types: set[int] = set()  # function types of `LATIN1_EXPORTS`
        self.latin1_instance: int | None = None  # the imported `LATIN1_IMPORT` instance
        self.latin1_funcs: set[int] = set()  # its functions

    @staticmethod
    def sort(data: bytes, at: int) -> tuple[tuple[int, ...], int]:
        if data[at] == 0x00:
            return (0x00, data[at + 1]), at + 2
        return (data[at],), at + 1

    def _add(self, sort: tuple[int, ...]) -> None:
        if sort == (0x01,):
            self.funcs += 1
        elif sort == (_TYPE_SORT,):
            self.types += 1
        elif sort == (0x05,):
            self.instances += 1
        elif sort == (0x00, 0x00):
            self.core_funcs += 1
        elif sort == (0x00, 0x11):
            self.core_modules += 1
        elif sort == (0x00, 0x12):
            self.core_instances += 1

    @staticmethod
    def externdesc(data: bytes, at: int) -> tuple[int, int, int]:
        """(kind, index or -1, offset after) of the externdesc at ``at``."""
        kind = data[at]
        at += 1
        if kind == 0x00:
            index, at = decode_uleb128(data, at + 1)
            return kind, index, at
        if kind == 0x03:
            if data[at] == 0x01:
                return kind, -1, at + 1
            index, at = decode_uleb128(data, at + 1)
            return kind, index, at
        if kind == 0x02:
            raise BulkBytesError("value imports and exports are not supported")
        index, at = decode_uleb128(data, at)
        return kind, index, at

    def count(self, section: int, body: bytes) -> None:
        """Count what ``section`` (its body) adds to the index spaces."""
        count, at = decode_uleb128(body, 0)
        if section == _TYPE:
            self.types += count
        elif section == _CORE_MODULE:
            self.core_modules += 1
        elif section == _CORE_INSTANCE:
            self.core_instances += count
        elif section == _INSTANCE:
            self.instances += count
        elif section == _CANON:
            for entry in _canon_entries(body):
                self._add((0x01,) if entry[0] == 0x00 else (0x00, 0x00))
        elif section == _IMPORT:
            for _ in range(count):
                name, at = _import_name(body, at)
                kind, _index, at = self.externdesc(body, at)
                if kind == 0x05 and name.startswith(LATIN1_IMPORT + "@"):
                    self.latin1_instance = self.instances
                self._add({0x00: (0x00, 0x11), 0x01: (0x01,), 0x03: (_TYPE_SORT,),
                           0x04: (0x04,), 0x05: (0x05,)}[kind])
        elif section == _ALIAS:
            for _ in range(count):
                sort, at = self.sort(body, at)
                target = body[at]
                if target in (0x00, 0x01):
                    instance, at = decode_uleb128(body, at + 1)
                    name, at = _name(body, at)
                    if sort == (0x00, 0x00) and target == 0x01:
                        self.core_exports[self.core_funcs] = (instance, name)
                    if sort == (0x01,) and target == 0x00 and instance == self.latin1_instance:
                        self.latin1_funcs.add(self.funcs)
                else:
                    at = decode_uleb128(body, decode_uleb128(body, at + 1)[1])[1]
                self._add(sort)
        elif section == _EXPORT:
            for _ in range(count):
                at = _import_name(body, at)[1]
                sort, at = self.sort(body, at)
                at = decode_uleb128(body, at)[1]
                self._add(sort)
                at = self.externdesc(body, at + 1)[2] if body[at] == 0x01 else at + 1


def _import_name(data: bytes, at: int) -> tuple[str, int]:
    """An import or export name (0x00 name, or 0x01 name and version suffix)."""
    kind = data[at]
    name, at = _name(data, at + 1)
    if kind == 0x01:
        _, at = _name(data, at)
    return name, at


class _Renumber:
    """Index changes after the shim's sections were inserted: core functions from
    ``funcs`` and core instances from ``instances`` on move up one."""

    def __init__(self, funcs: int, instances: int, realloc: int) -> None:
        self.funcs = funcs
        self.instances = instances
        self.realloc = realloc  # the shim's realloc

    def core_func(self, index: int) -> int:
        return index + 1 if index >= self.funcs else index

    def core_instance(self, index: int) -> int:
        return index + 1 if index >= self.instances else index


def _canon_entry(entry: bytes, latin1: bool, renumber: _Renumber | None) -> bytes:
    """A lift or lower entry renumbered and, if ``latin1``, with the latin1+utf16 string
    encoding and the shim's realloc."""
    op = entry[0]
    if op not in (0x00, 0x01) or (renumber is None and not latin1):
        return entry
    func, at = decode_uleb128(entry, 2)
    if op == 0x00 and renumber is not None:
        func = renumber.core_func(func)
    count, at = decode_uleb128(entry, at)
    options = [bytes((_LATIN1_UTF16,))] if latin1 else []
    for _ in range(count):
        kind = entry[at]
        at += 1
        if kind in _OPTIONS_WITH_INDEX:
            index, at = decode_uleb128(entry, at)
            if kind == 0x04 and latin1:
                assert renumber is not None
                index = renumber.realloc
            elif renumber is not None:
                index = renumber.core_func(index)
            options.append(bytes((kind,)) + encode_uleb128(index))
        elif not (latin1 and kind <= 0x02):  # any other string encoding is replaced
            options.append(bytes((kind,)))
    return (entry[:2] + encode_uleb128(func) + encode_uleb128(len(options))
            + b"".join(options) + entry[at:])


def _core_instances(body: bytes, renumber: _Renumber) -> bytes:
    """A core instance section body with core function and instance indices renumbered."""
    count, at = decode_uleb128(body, 0)
    out = bytearray(encode_uleb128(count))
    for _ in range(count):
        kind = body[at]
        out.append(kind)
        at += 1
        if kind == 0x00:  # instantiate a module with named instances
            module, at = decode_uleb128(body, at)
            out += encode_uleb128(module)
            args, at = decode_uleb128(body, at)
            out += encode_uleb128(args)
            for _ in range(args):
                start = at
                _, at = _name(body, at)
                instance, at = decode_uleb128(body, at + 1)
                out += body[start : at - len(encode_uleb128(instance))] + encode_uleb128(
                    renumber.core_instance(instance)
                )
        else:  # exports of core items
            exports, at = decode_uleb128(body, at)
            out += encode_uleb128(exports)
            for _ in range(exports):
                start = at
                _, at = _name(body, at)
                sort = body[at]
                index, end = decode_uleb128(body, at + 1)
                if sort == 0x00:
                    index = renumber.core_func(index)
                out += body[start : at + 1] + encode_uleb128(index)
                at = end
    return bytes(out)


def _aliases(body: bytes, renumber: _Renumber) -> bytes:
    """An alias section body with core instance indices renumbered."""
    count, at = decode_uleb128(body, 0)
    out = bytearray(encode_uleb128(count))
    for _ in range(count):
        start = at
        _sort, at = _Spaces.sort(body, at)
        target = body[at]
        if target == 0x01:
            instance, end = decode_uleb128(body, at + 1)
            out += body[start : at + 1] + encode_uleb128(renumber.core_instance(instance))
            at = end
            start = at
            _, at = _name(body, at)
        elif target == 0x00:
            _, at = _name(body, decode_uleb128(body, at + 1)[1])
        else:
            at = decode_uleb128(body, decode_uleb128(body, at + 1)[1])[1]
        out += body[start:at]
    return bytes(out)


def _shim_sections(spaces: _Spaces, realloc: int) -> bytes:
    """The sections that instantiate `SHRINKING_REALLOC` over the core instance exporting
    core function ``realloc`` and alias its export (the next core function index)."""
    found = spaces.core_exports.get(realloc)
    if found is None or found[1] != "cabi_realloc":
        raise BulkBytesError(
            f"the realloc of the latin-1 functions (core function {realloc}) is not an "
            f"export named cabi_realloc ({found})"
        )
    instantiate = (
        b"\x01\x00" + encode_uleb128(spaces.core_modules) + b"\x01" + _encode_name("runtime")
        + b"\x12" + encode_uleb128(found[0])
    )
    alias = b"\x01\x00\x00\x01" + encode_uleb128(spaces.core_instances) + _encode_name("realloc")
    return b"".join((
        _wasm_section(_CORE_MODULE, SHRINKING_REALLOC),
        _wasm_section(_CORE_INSTANCE, instantiate),
        _wasm_section(_ALIAS, alias),
    ))


def _latin1_instance_type(entry: bytes) -> bytes:
    """The `LATIN1_IMPORT` instance type with its own ``blob`` (``list<u8>``, its first
    declaration) declared as ``string``."""
    at = decode_uleb128(entry, 1)[1]  # after the number of declarations
    if entry[at : at + 3] != b"\x01\x70\x7d":
        raise BulkBytesError(
            f"the {LATIN1_IMPORT} interface does not declare its own blob = list<u8> first"
        )
    return entry[:at] + bytes((0x01, _STRING)) + entry[at + 3 :]


def _imports_latin1_interface(data: bytes, at: int, type_index: int) -> bool:
    """Whether the section at ``at`` imports `LATIN1_IMPORT` with type ``type_index``."""
    if at >= len(data) or data[at] != _IMPORT:
        return False
    body_at = decode_uleb128(data, at + 1)[1]
    count, entry = decode_uleb128(data, body_at)
    if count != 1:
        return False
    name, entry = _import_name(data, entry)
    kind, index, _ = _Spaces.externdesc(data, entry)
    return name.startswith(LATIN1_IMPORT + "@") and kind == 0x05 and index == type_index


def _component(data: bytes, found: list[str]) -> bytes:
    """A component's bytes (preamble included) rewritten; notes what it changed in
    ``found`` (the parameter names of retyped function types, `LATIN1_IMPORT`, and one
    ``lower`` per latin-1 import function)."""
    if data[:8] != _PREAMBLE:
        raise BulkBytesError("not a WebAssembly component (wrong preamble)")
    out = bytearray(_PREAMBLE)
    at = 8
    spaces = _Spaces()
    renumber: _Renumber | None = None
    while at < len(data):
        section = data[at]
        size, start = decode_uleb128(data, at + 1)
        body = data[start : start + size]
        at = start + size
        if section == _COMPONENT:
            body = _component(body, found)
        elif section == _TYPE:
            count, first = decode_uleb128(body, 0)
            if count == 1 and body[first] == 0x42 and _imports_latin1_interface(
                data, at, spaces.types
            ):
                body = body[:first] + _latin1_instance_type(body[first:])
                found.append(LATIN1_IMPORT)
            elif count == 1:
                rewritten = _rewrite_func_type(body[first:])
                if rewritten is not None:
                    names, entry = rewritten
                    body = body[:first] + entry
                    spaces.latin1_types.add(spaces.types)
                    found.append(" ".join(names))
        elif section in (_CORE_MODULE, _CORE_INSTANCE, _ALIAS) and renumber is not None:
            if section == _CORE_MODULE:
                raise BulkBytesError("a core module is defined after the latin-1 functions")
            body = (_core_instances if section == _CORE_INSTANCE else _aliases)(body, renumber)
        elif section == _CANON:
            entries = _canon_entries(body)
            latin1 = [
                (e[0] == 0x00
                 and decode_uleb128(e, _options_end(e, decode_uleb128(e, 2)[1]))[0]
                 in spaces.latin1_types)
                or (e[0] == 0x01 and decode_uleb128(e, 2)[0] in spaces.latin1_funcs)
                for e in entries
            ]
            if any(latin1) and renumber is None:
                realloc = _realloc_option(entries[latin1.index(True)])
                out += _shim_sections(spaces, realloc)
                renumber = _Renumber(spaces.core_funcs, spaces.core_instances, spaces.core_funcs)
                spaces.core_modules += 1
                spaces.core_instances += 1
                spaces.core_funcs += 1
            pairs = list(zip(entries, latin1, strict=True))
            found.extend("lower" for e, flag in pairs if flag and e[0] == 0x01)
            body = encode_uleb128(len(entries)) + b"".join(
                _canon_entry(e, flag, renumber) for e, flag in pairs
            )
        spaces.count(section, body)
        out += _wasm_section(section, body)
    return bytes(out)


def latin1_exports(component: bytes) -> bytes:
    """``component`` with the blobs of `LATIN1_EXPORTS` and of the `LATIN1_IMPORT`
    interface declared to the host as latin-1 strings.

    Raises `BulkBytesError` if the component is not laid out as expected: each export's
    function type declared where it is lifted, imported by the component that types the
    exported interface, and exported from it (three times), and the interface imported
    with its own blob type and each of its functions lowered.
    """
    found: list[str] = []
    rewritten = _component(component, found)
    for names in LATIN1_EXPORTS:
        times = found.count(" ".join(names))
        if times != 3:
            raise BulkBytesError(
                f"found the function type with parameters {names} {times} times instead "
                "of 3 (lifted, imported and exported): the componentize-py layout changed; "
                "update icframework.compiler.bulk_bytes"
            )
    if found.count(LATIN1_IMPORT) != 1 or found.count("lower") != len(LATIN1_IMPORT_FUNCTIONS):
        raise BulkBytesError(
            f"found the {LATIN1_IMPORT} instance type {found.count(LATIN1_IMPORT)} times and "
            f"{found.count('lower')} of its {len(LATIN1_IMPORT_FUNCTIONS)} functions lowered: "
            "the componentize-py layout changed; update icframework.compiler.bulk_bytes"
        )
    return rewritten
