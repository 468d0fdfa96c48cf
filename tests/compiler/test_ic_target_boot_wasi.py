"""The boot snapshot's WASI (`icframework.compiler.ic_target.boot_wasi`): what it answers
depends only on the files' guest paths and contents, never on the host's inodes, times
or directory order, so the snapshot is the same on every build machine."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import wasmtime

from icframework.compiler.ic_target.boot_wasi import BootWasi

WASI = "wasi_snapshot_preview1"
# A module that forwards to the WASI functions under test, with a scratch memory.
WAT = f"""
(module
  (import "{WASI}" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "{WASI}" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "{WASI}" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "{WASI}" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "{WASI}" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "{WASI}" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "stat") (param i32 i32 i32 i32) (result i32)
    (call $path_filestat_get (local.get 0) (i32.const 0) (local.get 1) (local.get 2)
                             (local.get 3)))
  (func (export "open") (param i32 i32 i32 i32 i32) (result i32)
    (call $path_open (local.get 0) (i32.const 0) (local.get 1) (local.get 2) (local.get 3)
                     (i64.const 0) (i64.const 0) (i32.const 0) (local.get 4)))
  (func (export "readdir") (param i32 i32 i32 i32) (result i32)
    (call $fd_readdir (local.get 0) (local.get 1) (local.get 2) (i64.const 0) (local.get 3)))
  (func (export "read") (param i32 i32 i32 i32) (result i32)
    (call $fd_read (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "prestat") (param i32 i32) (result i32)
    (call $fd_prestat_get (local.get 0) (local.get 1)))
  (func (export "random") (param i32 i32) (result i32)
    (call $random_get (local.get 0) (local.get 1)))
  (func (export "accept") (result i32)
    (call $sock_accept (i32.const 0) (i32.const 0) (i32.const 0)))
)
"""


class Guest:
    """One instance of the forwarding module over a `BootWasi` of ``root`` at ``/pkgs``."""

    def __init__(self, root: Path) -> None:
        engine = wasmtime.Engine()
        module = wasmtime.Module(engine, bytes(wasmtime.wat2wasm(WAT)))
        self.store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        BootWasi({"/pkgs": root}, 123).define(linker, module, WASI)
        self.instance = linker.instantiate(self.store, module)
        exports = self.instance.exports(self.store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self.memory = memory

    def call(self, name: str, *args: int) -> int:
        func = self.instance.exports(self.store)[name]
        assert isinstance(func, wasmtime.Func)
        result = func(self.store, *args)
        assert isinstance(result, int)
        return result

    def put(self, at: int, data: bytes) -> None:
        self.memory.write(self.store, data, at)

    def get(self, at: int, size: int) -> bytes:
        return bytes(self.memory.read(self.store, at, at + size))

    def stat(self, path: str) -> tuple[int, bytes]:
        raw = path.encode()
        self.put(1000, raw)
        return self.call("stat", 3, 1000, len(raw), 2000), self.get(2000, 64)

    def listing(self, path: str) -> bytes:
        raw = path.encode()
        self.put(1000, raw)
        assert self.call("open", 3, 1000, len(raw), 2, 1100) == 0
        fd = struct.unpack("<I", self.get(1100, 4))[0]
        assert self.call("readdir", fd, 4000, 4096, 1200) == 0
        return self.get(4000, struct.unpack("<I", self.get(1200, 4))[0])


def tree(root: Path, mtime: int, order: list[str]) -> Path:
    (root / "pkg").mkdir(parents=True)
    for name in order:
        (root / "pkg" / name).write_text(f"# {name}\n", encoding="utf-8")
        os.utime(root / "pkg" / name, (mtime, mtime))
    return root


def test_answers_do_not_depend_on_the_host(tmp_path: Path) -> None:
    one = Guest(tree(tmp_path / "one", 1_000_000, ["b.py", "a.py", "c.py"]))
    two = Guest(tree(tmp_path / "two", 2_000_000, ["c.py", "a.py", "b.py"]))
    assert one.stat("pkg/a.py") == two.stat("pkg/a.py")
    errno, stat = one.stat("pkg/a.py")
    assert errno == 0
    _dev, _inode, kind, _nlink, size, atime, mtime, _ctime = struct.unpack("<QQB7xQQQQQ", stat)
    assert (kind, size, atime, mtime) == (4, len("# a.py\n"), 123, 123)
    listing = one.listing("pkg")
    assert listing == two.listing("pkg")
    names = [name for name in (b".", b"..", b"a.py", b"b.py", b"c.py") if name in listing]
    assert names == [b".", b"..", b"a.py", b"b.py", b"c.py"]
    assert listing.index(b"a.py") < listing.index(b"b.py") < listing.index(b"c.py")


def test_reads_files_and_refuses_what_it_does_not_offer(tmp_path: Path) -> None:
    guest = Guest(tree(tmp_path, 0, ["a.py"]))
    assert guest.call("prestat", 3, 1300) == 0 and guest.call("prestat", 9, 1300) == 8  # EBADF
    assert guest.stat("pkg/missing.py")[0] == 44  # ENOENT
    assert guest.stat("../outside")[0] == 44
    raw = b"pkg/a.py"
    guest.put(1000, raw)
    assert guest.call("open", 3, 1000, len(raw), 0, 1100) == 0
    fd = struct.unpack("<I", guest.get(1100, 4))[0]
    guest.put(1400, struct.pack("<II", 5000, 100))
    assert guest.call("read", fd, 1400, 1, 1500) == 0
    assert guest.get(5000, struct.unpack("<I", guest.get(1500, 4))[0]) == b"# a.py\n"
    guest.put(1000, raw)
    assert guest.call("open", 3, 1000, len(raw), 1, 1100) == 69  # O_CREAT: EROFS
    assert guest.call("accept") == 52  # ENOSYS
    assert guest.call("random", 6000, 8) == 0 and guest.get(6000, 8) == bytes(range(8))
