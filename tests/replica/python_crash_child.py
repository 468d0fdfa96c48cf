"""Child process for the kill -9 test of a Python canister: updates until it is killed.

Usage: ``python -m tests.replica.python_crash_child STATE_DIR``. On first start it
creates and installs a Python counter (two keys moved together) and records its id in
``STATE_DIR/canister``; then it calls ``inc`` forever, printing each reply value after
the update is answered (so after its round is committed).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.execution.python_module import pack_python_module
from icframework.replica.execution.runtime import set_runtime_loader
from tests.compiler.runtime_support import CACHE_DIR

CONTROLLER = Principal.self_authenticating(b"python crash test controller")

APP = """\
import icframework_runtime as rt


@rt.update
def inc(arg):
    value = int(rt.kv_get(b"counter") or b"0") + 1
    rt.kv_put(b"counter", str(value).encode())
    rt.kv_put(b"mirror", str(value).encode())
    rt.kv_put(b"log/%08d" % value, b"x")
    return str(value).encode()


@rt.query
def get(arg):
    return rt.kv_get(b"counter") or b"0"


@rt.query
def check(arg):
    count = len(rt.kv_scan(b"log/", b"log0"))
    return b"%s %s %d" % (rt.kv_get(b"counter") or b"0", rt.kv_get(b"mirror") or b"0", count)
"""


def python_counter() -> bytes:
    return pack_python_module({"counter.py": APP}, "counter.py")


def main(state_dir: Path) -> None:
    set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None))
    replica = Replica.open(state_dir)
    id_file = state_dir / "canister"
    if id_file.exists():
        canister = Principal.from_text(id_file.read_text())
    else:
        canister = replica.create_canister(sender=CONTROLLER)
        replica.install_code(canister, python_counter(), sender=CONTROLLER)
        id_file.write_text(canister.to_text())
    print("ready", flush=True)
    while True:
        print(int(replica.update(canister, "inc")), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
