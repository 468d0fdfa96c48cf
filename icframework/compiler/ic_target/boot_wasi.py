"""A deterministic, read-only WASI for the boot snapshot: directories mapped from the host.

What it owns: the WASI functions the runtime calls while CPython boots and imports the
SDK at build time (`define_boot_wasi`). wasmtime's own WASI answers with the host's
inode numbers, access times and directory order, and CPython leaves traces of them in
memory it frees and reuses (padding bytes of objects), so two builds of the same
sources differed in a few bytes. Here every answer depends only on the files' guest
paths, sizes and contents: inodes are a hash of the path, all times `BOOT_TIME_NS`,
directories list sorted, the clock is fixed and the random source a fixed pattern.

Only what CPython's start-up and imports need is implemented: preopened directories,
``path_open`` for reading, ``fd_read``/``fd_pread``/``fd_seek``/``fd_tell``/``fd_close``,
``fd_readdir``, ``fd_filestat_get``/``path_filestat_get``, ``fd_fdstat_get``, writes to
standard output and error (kept in `BootWasi.output`), empty arguments and environment.
Everything else answers ENOSYS; writing files is refused (EROFS).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime

__all__ = ["BootWasi"]

_OK, _BADF, _INVAL, _NOENT, _NOSYS, _NOTDIR, _ROFS, _SPIPE = 0, 8, 28, 44, 52, 54, 69, 70
_STDIO = (0, 1, 2)
_CHAR_DEVICE, _DIRECTORY, _REGULAR = 2, 3, 4
_O_CREAT, _O_DIRECTORY, _O_EXCL, _O_TRUNC = 1, 2, 4, 8
_ALL_RIGHTS = (1 << 29) - 1
_FILESTAT = struct.Struct("<QQB7xQQQQQ")
_FDSTAT = struct.Struct("<BxHxxxxQQ")
_DIRENT = struct.Struct("<QQIB3x")


@dataclass
class _Open:
    guest: str  # the guest path ("/lib/os.py")
    host: Path
    directory: bool
    position: int = 0
    data: bytes | None = None


@dataclass
class BootWasi:
    """The WASI of one boot: ``roots`` maps guest directories ("/lib") to host ones."""

    roots: dict[str, Path]
    time_ns: int
    output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._fds: dict[int, _Open] = {}
        for i, (guest, host) in enumerate(sorted(self.roots.items())):
            self._fds[3 + i] = _Open(guest, host, True)
        self._preopens = dict(self._fds)

    def define(self, linker: wasmtime.Linker, module: wasmtime.Module, name: str) -> None:
        """Define every ``name`` (WASI) import of ``module`` on ``linker``."""
        for item in module.imports:
            if item.module != name:
                continue
            func_type = item.type
            assert isinstance(func_type, wasmtime.FuncType)
            field_name = item.name or ""
            handler = getattr(self, f"_{field_name}", None)
            linker.define_func(name, field_name, func_type,
                               handler if handler is not None else _enosys(func_type),
                               access_caller=True)

    # ---- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _memory(caller: wasmtime.Caller) -> wasmtime.Memory:
        memory = caller.get("memory")
        assert isinstance(memory, wasmtime.Memory)
        return memory

    def _read(self, caller: wasmtime.Caller, ptr: int, size: int) -> bytes:
        return bytes(self._memory(caller).read(caller, ptr, ptr + size))

    def _write(self, caller: wasmtime.Caller, ptr: int, data: bytes) -> None:
        self._memory(caller).write(caller, data, ptr)

    def _resolve(self, fd: int, path: str) -> tuple[str, Path] | None:
        base = self._fds.get(fd)
        if base is None or not base.directory:
            return None
        guest = posixpath.normpath(posixpath.join(base.guest, path))
        for root, host in self.roots.items():
            if guest == root or guest.startswith(root + "/"):
                return guest, host / guest[len(root):].lstrip("/")
        return None

    def _stat(self, guest: str, host: Path) -> bytes:
        kind = _DIRECTORY if host.is_dir() else _REGULAR
        size = 0 if kind == _DIRECTORY else host.stat().st_size
        inode = int.from_bytes(hashlib.sha256(guest.encode()).digest()[:8], "little")
        t = self.time_ns
        return _FILESTAT.pack(1, inode, kind, 1, size, t, t, t)

    def _iovecs(self, caller: wasmtime.Caller, iovs: int, count: int) -> list[tuple[int, int]]:
        raw = self._read(caller, iovs, 8 * count)
        return [struct.unpack_from("<II", raw, 8 * i) for i in range(count)]

    # ---- WASI ---------------------------------------------------------------------------------
    def _fd_prestat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        opened = self._preopens.get(fd)
        if opened is None:
            return _BADF
        self._write(caller, out, struct.pack("<BxxxI", 0, len(opened.guest.encode())))
        return _OK

    def _fd_prestat_dir_name(self, caller: wasmtime.Caller, fd: int, ptr: int, size: int) -> int:
        opened = self._preopens.get(fd)
        if opened is None:
            return _BADF
        self._write(caller, ptr, opened.guest.encode()[:size])
        return _OK

    def _fd_fdstat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        if fd in _STDIO:
            kind = _CHAR_DEVICE
        elif fd in self._fds:
            kind = _DIRECTORY if self._fds[fd].directory else _REGULAR
        else:
            return _BADF
        self._write(caller, out, _FDSTAT.pack(kind, 0, _ALL_RIGHTS, _ALL_RIGHTS))
        return _OK

    def _path_open(self, caller: wasmtime.Caller, fd: int, dirflags: int, ptr: int, size: int,
                   oflags: int, base: int, inheriting: int, fdflags: int, out: int) -> int:
        if oflags & (_O_CREAT | _O_TRUNC | _O_EXCL):
            return _ROFS
        found = self._resolve(fd, self._read(caller, ptr, size).decode("utf-8", "replace"))
        if found is None or not found[1].exists():
            return _NOENT
        guest, host = found
        directory = host.is_dir()
        if oflags & _O_DIRECTORY and not directory:
            return _NOTDIR
        number = max(self._fds) + 1
        self._fds[number] = _Open(guest, host, directory)
        self._write(caller, out, struct.pack("<I", number))
        return _OK

    def _fd_close(self, caller: wasmtime.Caller, fd: int) -> int:
        return _OK if self._fds.pop(fd, None) is not None else _BADF

    def _contents(self, opened: _Open) -> bytes:
        if opened.data is None:
            opened.data = opened.host.read_bytes()
        return opened.data

    def _fd_read(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, out: int) -> int:
        if fd == 0:  # standard input is empty
            self._write(caller, out, bytes(4))
            return _OK
        opened = self._fds.get(fd)
        if opened is None or opened.directory:
            return _BADF
        data = self._contents(opened)
        total = 0
        for ptr, size in self._iovecs(caller, iovs, count):
            chunk = data[opened.position:opened.position + size]
            self._write(caller, ptr, chunk)
            opened.position += len(chunk)
            total += len(chunk)
            if len(chunk) < size:
                break
        self._write(caller, out, struct.pack("<I", total))
        return _OK

    def _fd_pread(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, offset: int,
                  out: int) -> int:
        opened = self._fds.get(fd)
        if opened is None or opened.directory:
            return _BADF
        saved = opened.position
        opened.position = offset
        try:
            return self._fd_read(caller, fd, iovs, count, out)
        finally:
            opened.position = saved

    def _fd_seek(self, caller: wasmtime.Caller, fd: int, offset: int, whence: int,
                 out: int) -> int:
        if fd in _STDIO:
            return _SPIPE
        opened = self._fds.get(fd)
        if opened is None or opened.directory:
            return _BADF
        origin = {0: 0, 1: opened.position, 2: len(self._contents(opened))}.get(whence)
        if origin is None or origin + offset < 0:
            return _INVAL
        opened.position = origin + offset
        self._write(caller, out, struct.pack("<Q", opened.position))
        return _OK

    def _fd_tell(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        opened = self._fds.get(fd)
        if opened is None:
            return _BADF
        self._write(caller, out, struct.pack("<Q", opened.position))
        return _OK

    def _fd_filestat_get(self, caller: wasmtime.Caller, fd: int, out: int) -> int:
        if fd in _STDIO:
            t = self.time_ns
            self._write(caller, out, _FILESTAT.pack(1, fd, _CHAR_DEVICE, 1, 0, t, t, t))
            return _OK
        opened = self._fds.get(fd)
        if opened is None:
            return _BADF
        self._write(caller, out, self._stat(opened.guest, opened.host))
        return _OK

    def _path_filestat_get(self, caller: wasmtime.Caller, fd: int, flags: int, ptr: int,
                           size: int, out: int) -> int:
        found = self._resolve(fd, self._read(caller, ptr, size).decode("utf-8", "replace"))
        if found is None or not found[1].exists():
            return _NOENT
        self._write(caller, out, self._stat(*found))
        return _OK

    def _fd_readdir(self, caller: wasmtime.Caller, fd: int, buf: int, size: int, cookie: int,
                    out: int) -> int:
        opened = self._fds.get(fd)
        if opened is None or not opened.directory:
            return _BADF
        names = [".", "..", *sorted(os.listdir(opened.host))]
        data = bytearray()
        for index in range(cookie, len(names)):
            name = names[index].encode()
            child = posixpath.join(opened.guest, names[index])
            host = opened.host / names[index]
            kind = _DIRECTORY if index < 2 or host.is_dir() else _REGULAR
            inode = int.from_bytes(hashlib.sha256(child.encode()).digest()[:8], "little")
            data += _DIRENT.pack(index + 1, inode, len(name), kind) + name
            if len(data) >= size:
                break
        self._write(caller, buf, bytes(data[:size]))
        self._write(caller, out, struct.pack("<I", min(len(data), size)))
        return _OK

    def _fd_write(self, caller: wasmtime.Caller, fd: int, iovs: int, count: int, out: int) -> int:
        if fd not in (1, 2):
            return _BADF
        total = 0
        for ptr, size in self._iovecs(caller, iovs, count):
            self.output.append(self._read(caller, ptr, size).decode("utf-8", "replace"))
            total += size
        self._write(caller, out, struct.pack("<I", total))
        return _OK

    def _environ_sizes_get(self, caller: wasmtime.Caller, count: int, size: int) -> int:
        self._write(caller, count, bytes(4))
        self._write(caller, size, bytes(4))
        return _OK

    _args_sizes_get = _environ_sizes_get

    def _environ_get(self, caller: wasmtime.Caller, pointers: int, buffer: int) -> int:
        return _OK

    _args_get = _environ_get

    def _clock_time_get(self, caller: wasmtime.Caller, clock: int, precision: int,
                        out: int) -> int:
        self._write(caller, out, struct.pack("<Q", self.time_ns))
        return _OK

    def _clock_res_get(self, caller: wasmtime.Caller, clock: int, out: int) -> int:
        self._write(caller, out, struct.pack("<Q", 1))
        return _OK

    def _random_get(self, caller: wasmtime.Caller, ptr: int, size: int) -> int:
        self._write(caller, ptr, bytes(i % 251 for i in range(size)))
        return _OK

    def _sched_yield(self, caller: wasmtime.Caller) -> int:
        return _OK

    def _proc_exit(self, caller: wasmtime.Caller, code: int) -> None:
        raise RuntimeError(f"the runtime exited with status {code} while booting")


def _enosys(func_type: wasmtime.FuncType) -> Callable[..., Any]:
    def unavailable(caller: wasmtime.Caller, *args: object) -> int:
        return _NOSYS
    if [str(r) for r in func_type.results] != ["i32"]:
        raise RuntimeError("a WASI import without an errno result has no boot implementation")
    return unavailable
