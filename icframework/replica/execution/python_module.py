"""Python canister modules: a code-less wasm binary that carries an app's source.

A *Python canister module* is a valid wasm binary with no code at all, only custom
sections: ``icframework:python`` holds the app (a UTF-8 JSON object, below) and an
optional ``icp:public candid:service`` the app's Candid interface. Every Python
canister runs the same runtime component (see ``icframework.replica.execution.component``), so
the module only has to name the app's files; it is installed, hashed (``module_hash`` is
the SHA-256 of the bytes as installed) and read for metadata like any other module.

The app section::

    {"format": 1, "abi": "0.2.0", "entry": "app.py", "files": {"app.py": "<source>"}}

``format`` is this layout's version, ``abi`` the canister ABI (``icframework.abi``)
the app was written for (one of `COMPATIBLE_ABIS`: 0.1.0 differs from 0.2.0 only in
the message outcome between the runtime and the replica, which apps never see),
``entry`` the file the runtime
executes, ``files`` every file of the app by relative path. The other files are
importable by module name (``helpers.py`` as ``import helpers``, ``pkg/mod.py`` as
``import pkg.mod``).

`load_canister_module` recognises the section and validates it with
`parse_python_app`; `pack_python_module` builds such a module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from icframework.abi import ABI_VERSION
from icframework.core import encode_uleb128
from icframework.replica.errors import InvalidModuleError

__all__ = [
    "COMPATIBLE_ABIS",
    "MAX_APP_BYTES",
    "MAX_APP_FILES",
    "PYTHON_FORMAT",
    "PYTHON_SECTION",
    "PythonApp",
    "pack_python_module",
    "parse_python_app",
]

PYTHON_SECTION = "icframework:python"
"""Name of the custom section that carries the app."""
PYTHON_FORMAT = 1
COMPATIBLE_ABIS = frozenset({"0.1.0", ABI_VERSION})
"""Canister ABI versions whose apps this replica runs (what `pack_python_module` writes
is `ABI_VERSION`)."""
MAX_APP_BYTES = 8 * 1024 * 1024
"""Largest app section (the sources, JSON-encoded)."""
MAX_APP_FILES = 256
_WASM_HEADER = b"\x00asm\x01\x00\x00\x00"
_FILE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*\.py")


@dataclass(frozen=True, slots=True)
class PythonApp:
    """A validated app: its entry file and all files by relative path."""

    entry: str
    files: tuple[tuple[str, str], ...]
    abi: str = ABI_VERSION

    @property
    def source(self) -> str:
        """The entry file's source."""
        return dict(self.files)[self.entry]

    def install_source(self) -> tuple[str, str]:
        """(file name, source) to hand the runtime's ``install``.

        A one-file app is its entry file. Otherwise a short loader registers the other
        files as importable modules (a ``sys.meta_path`` finder over the sources, with
        their lines in ``linecache`` for tracebacks) and then runs the entry file, under
        its own name, in the app module's namespace.
        """
        if len(self.files) == 1:
            return self.entry, self.source
        modules = {name: (path, package) for name, (path, _src, package) in self.modules().items()}
        files = dict(self.files)
        return LOADER_FILENAME, _LOADER.format(files=files, modules=modules, entry=self.entry)

    def modules(self) -> dict[str, tuple[str, str, bool]]:
        """The importable files other than the entry: module name -> (path, source, is_package).

        ``pkg/__init__.py`` is package ``pkg``; a directory without one is still a
        package (namespace-like, empty).
        """
        found: dict[str, tuple[str, str, bool]] = {}
        for path, source in self.files:
            if path == self.entry:
                continue
            parts = path[: -len(".py")].split("/")
            is_package = parts[-1] == "__init__"
            if is_package:
                parts = parts[:-1]
            found[".".join(parts)] = (path, source, is_package)
            for depth in range(1, len(parts)):
                name = ".".join(parts[:depth])
                found.setdefault(name, ("/".join(parts[:depth]) + "/__init__.py", "", True))
        return found


LOADER_FILENAME = "<app loader>"
_LOADER = """\
import linecache as _linecache
import sys as _sys

_FILES = {files!r}
_MODULES = {modules!r}
for _path, _text in _FILES.items():
    _linecache.cache[_path] = (len(_text), None, _text.splitlines(True), _path)


class _AppImporter:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        found = _MODULES.get(name)
        if found is None:
            return None
        spec = type(_sys.__spec__)(name, cls, origin=found[0], is_package=found[1])
        spec.has_location = True
        return spec

    @staticmethod
    def create_module(spec):
        return None

    @staticmethod
    def exec_module(module):
        path = _MODULES[module.__name__][0]
        module.__file__ = path
        exec(compile(_FILES.get(path, ""), path, "exec"), module.__dict__)


_sys.meta_path.insert(0, _AppImporter)
__file__ = {entry!r}
exec(compile(_FILES[__file__], __file__, "exec"), globals())
"""


def parse_python_app(content: bytes) -> PythonApp:
    """Validate the ``icframework:python`` section; raises `InvalidModuleError`."""
    if len(content) > MAX_APP_BYTES:
        raise InvalidModuleError(
            f"the Python app is {len(content)} bytes; at most {MAX_APP_BYTES} are allowed"
        )
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidModuleError(f"section {PYTHON_SECTION!r} is not UTF-8 JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidModuleError(f"section {PYTHON_SECTION!r} must hold a JSON object")
    if data.get("format") != PYTHON_FORMAT:
        raise InvalidModuleError(
            f"Python app format {data.get('format')!r} is not supported; this replica reads "
            f"format {PYTHON_FORMAT}"
        )
    abi = data.get("abi")
    if abi not in COMPATIBLE_ABIS:
        raise InvalidModuleError(
            f"the Python app targets canister ABI {abi!r}; this replica's runtime implements "
            f"{ABI_VERSION!r}"
        )
    files = data.get("files")
    entry = data.get("entry")
    if not isinstance(files, dict) or not files:
        raise InvalidModuleError("the Python app must have a non-empty 'files' object")
    if len(files) > MAX_APP_FILES:
        raise InvalidModuleError(
            f"the Python app has {len(files)} files; at most {MAX_APP_FILES} are allowed"
        )
    for name, source in files.items():
        if not _FILE_NAME.fullmatch(name):
            raise InvalidModuleError(
                f"file name {name!r} of the Python app is not a relative path of Python "
                "identifiers ending in .py"
            )
        if not isinstance(source, str):
            raise InvalidModuleError(f"file {name!r} of the Python app must be a string")
    if not isinstance(entry, str) or entry not in files:
        raise InvalidModuleError(f"the Python app's entry {entry!r} is not one of its files")
    return PythonApp(entry, tuple(sorted(files.items())), abi)


def _custom_section(name: str, content: bytes) -> bytes:
    raw_name = name.encode("utf-8")
    body = encode_uleb128(len(raw_name)) + raw_name + content
    return b"\x00" + encode_uleb128(len(body)) + body


def pack_python_module(
    files: Mapping[str, str | bytes], entry: str, did: str | None = None
) -> bytes:
    """A Python canister module for the app ``files`` (path -> source), run from ``entry``.

    ``did`` becomes the ``icp:public candid:service`` metadata. Raises
    `InvalidModuleError` if the app would not load (bad names, no entry, too large).
    """
    sources = {
        name: source.decode("utf-8") if isinstance(source, bytes) else source
        for name, source in files.items()
    }
    content = json.dumps(
        {"format": PYTHON_FORMAT, "abi": ABI_VERSION, "entry": entry, "files": sources},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    ).encode("utf-8")
    parse_python_app(content)
    module = bytearray(_WASM_HEADER)
    if did is not None:
        module += _custom_section("icp:public candid:service", did.encode("utf-8"))
    module += _custom_section(PYTHON_SECTION, content)
    return bytes(module)
