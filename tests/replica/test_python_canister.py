"""Python canisters through the replica: installed and called exactly like wasm canisters."""

from __future__ import annotations

import functools
import hashlib
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.candid import NAT, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.compiler.runtime_build import load_runtime
from icframework.core import ErrorCode, Principal
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError, InvalidModuleError
from icframework.replica.execution.python_module import (
    LOADER_FILENAME,
    PYTHON_SECTION,
    pack_python_module,
    parse_python_app,
)
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.execution.wasm_module import load_canister_module
from icframework.replica.subnet import kv_namespace
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.node import requires_node
from tests.replica.crash_support import run_until_killed
from tests.replica.wat_counter import counter_wasm, nat64_reply

__all__ = ["runtime"]

CONTROLLER = Principal.self_authenticating(b"python canister test controller")
NANOS = 1_000_000_000

COUNTER = '''\
import icframework_runtime as rt


@rt.init
def setup(arg):
    rt.kv_put(b"owner", arg)


@rt.update
def inc(arg):
    value = int(rt.kv_get(b"counter") or b"0") + 1
    rt.kv_put(b"counter", str(value).encode())
    return str(value).encode()


@rt.query
def get(arg):
    return rt.kv_get(b"counter") or b"0"


@rt.query
def read(arg):
    return rt.kv_get(arg) or b"-"


@rt.query
def query_inc(arg):
    return inc(arg)


@rt.update
def drop(arg):
    rt.kv_delete(arg)
    return b""


@rt.update
def fail(arg):
    rt.kv_put(b"counter", b"999")
    raise ValueError("no good: " + arg.decode())


@rt.update
def call(arg):
    callee, method = arg.split(b"/", 1)

    def on_reply(data):
        rt.kv_put(b"answer", data)
        return b"got " + data

    def on_reject(code, message):
        return ("rejected %d %s" % (code, message)).encode()

    rt.perform_call(bytes.fromhex(callee.decode()), method.decode(), b"DIDL\\x00\\x00",
                    on_reply=on_reply, on_reject=on_reject)


@rt.update
def arm(arg):
    rt.global_timer_set(rt.time_ns() + int(arg))
    return b""


@rt.timer
def ring():
    rt.kv_put(b"rang", str(rt.time_ns()).encode())


@rt.pre_upgrade
def before():
    rt.kv_put(b"pre", b"ran")


@rt.post_upgrade
def after(arg):
    rt.kv_put(b"post", arg)
'''

DID = "service : { inc : () -> (text); get : () -> (text) query }"


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica.open() as opened:
        yield opened


def install(replica: Replica, source: str = COUNTER, *, arg: bytes = b"me",
            files: dict[str, str] | None = None) -> Principal:
    canister = replica.create_canister(sender=CONTROLLER)
    module = pack_python_module(files or {"app.py": source}, "app.py", did=DID)
    replica.install_code(canister, module, arg, sender=CONTROLLER)
    return canister


def stored(replica: Replica, canister: Principal) -> dict[bytes, bytes]:
    return dict(replica.store.kv_scan(kv_namespace(canister.raw)))


# -- the module format -------------------------------------------------------------------------


def test_module_is_code_less_wasm_with_the_app_and_candid_metadata() -> None:
    module_bytes = pack_python_module({"app.py": COUNTER}, "app.py", did=DID)
    module = load_canister_module(module_bytes)
    assert module.is_python and module.python_app is not None
    assert module.python_app.entry == "app.py"
    assert module.python_app.source == COUNTER
    assert module.metadata["candid:service"].content == DID.encode()
    assert module.module_hash == hashlib.sha256(module_bytes).digest()
    # Standard modules are unaffected.
    assert not load_canister_module(counter_wasm()).is_python


def test_module_validation_names_the_rule() -> None:
    with pytest.raises(InvalidModuleError, match=r"entry 'main\.py' is not one of its files"):
        pack_python_module({"app.py": ""}, "main.py")
    with pytest.raises(InvalidModuleError, match="not a relative path"):
        pack_python_module({"../app.py": ""}, "../app.py")
    with pytest.raises(InvalidModuleError, match=r"targets canister ABI '9\.9\.9'"):
        parse_python_app(b'{"format": 1, "abi": "9.9.9", "entry": "a.py", "files": {"a.py": ""}}')
    with pytest.raises(InvalidModuleError, match="format 2 is not supported"):
        parse_python_app(b'{"format": 2}')
    # A python section next to code is refused.
    name = PYTHON_SECTION.encode()
    body = bytes([len(name)]) + name + b"{}"
    mixed = counter_wasm() + b"\x00" + bytes([len(body)]) + body
    with pytest.raises(InvalidModuleError, match="must have no code"):
        load_canister_module(mixed)


def test_invalid_app_is_refused_at_install_with_ic0505(replica: Replica) -> None:
    canister = replica.create_canister(sender=CONTROLLER)
    name = PYTHON_SECTION.encode()
    payload = b'{"format": 1, "abi": "0.0.1", "entry": "a.py", "files": {"a.py": ""}}'
    body = bytes([len(name)]) + name + payload
    module = b"\x00asm\x01\x00\x00\x00\x00" + bytes([len(body)]) + body
    with pytest.raises(CanisterError) as caught:
        replica.install_code(canister, module, sender=CONTROLLER)
    assert caught.value.error_code == ErrorCode.CANISTER_INVALID_WASM
    assert "canister ABI '0.0.1'" in caught.value.message


def test_without_a_runtime_loader_python_modules_are_refused(replica: Replica) -> None:
    set_runtime_loader(None)
    canister = replica.create_canister(sender=CONTROLLER)
    with pytest.raises(CanisterError) as caught:
        replica.install_code(canister, pack_python_module({"a.py": ""}, "a.py"), sender=CONTROLLER)
    assert caught.value.error_code == ErrorCode.CANISTER_INVALID_WASM
    assert "no runtime loader" in caught.value.message


def test_an_app_that_fails_to_load_is_refused(replica: Replica) -> None:
    canister = replica.create_canister(sender=CONTROLLER)
    module = pack_python_module({"app.py": "x = 1\ndef broken(:\n"}, "app.py")
    with pytest.raises(CanisterError) as caught:
        replica.install_code(canister, module, sender=CONTROLLER)
    assert caught.value.error_code == ErrorCode.CANISTER_CALLED_TRAP
    assert 'File "app.py", line 2' in caught.value.message
    assert replica.canister_status(canister, sender=CONTROLLER)["module_hash"] is None


# -- calls -------------------------------------------------------------------------------------


def test_install_update_query_and_status(replica: Replica) -> None:
    canister = install(replica)
    assert [replica.update(canister, "inc") for _ in range(3)] == [b"1", b"2", b"3"]
    assert replica.query(canister, "get") == b"3"
    assert replica.query(canister, "read", b"owner") == b"me"
    status = replica.canister_status(canister, sender=CONTROLLER)
    module = pack_python_module({"app.py": COUNTER}, "app.py", did=DID)
    assert status["module_hash"] == hashlib.sha256(module).digest()
    assert status["memory_metrics"]["wasm_memory_size"] == len(b"counter3") + len(b"ownerme")
    assert stored(replica, canister) == {b"counter": b"3", b"owner": b"me"}


def test_unknown_method_is_refused_before_execution(replica: Replica) -> None:
    canister = install(replica)
    with pytest.raises(CanisterError) as caught:
        replica.update(canister, "nope")
    assert caught.value.error_code == ErrorCode.CANISTER_METHOD_NOT_FOUND
    with pytest.raises(CanisterError) as caught:
        replica.query(canister, "inc")
    assert caught.value.error_code == ErrorCode.CANISTER_METHOD_NOT_FOUND


def test_trap_is_ic0503_with_the_exception_and_rolls_back(replica: Replica) -> None:
    canister = install(replica)
    replica.update(canister, "inc")
    with pytest.raises(CanisterError) as caught:
        replica.update(canister, "fail", b"why")
    assert caught.value.error_code == ErrorCode.CANISTER_CALLED_TRAP
    line = COUNTER.splitlines().index('    raise ValueError("no good: " + arg.decode())') + 1
    assert f'File "app.py", line {line}, in fail' in caught.value.message
    assert "ValueError: no good: why" in caught.value.message
    assert caught.value.message.startswith(f"Error from Canister {canister.to_text()}: ")
    assert replica.query(canister, "get") == b"1"
    assert stored(replica, canister)[b"counter"] == b"1"
    assert replica.update(canister, "inc") == b"2"


def test_query_writes_are_discarded(replica: Replica) -> None:
    canister = install(replica)
    assert replica.query(canister, "query_inc") == b"1"
    assert replica.query(canister, "query_inc") == b"1"
    assert replica.query(canister, "get") == b"0"
    assert b"counter" not in stored(replica, canister)


def test_deletes_reach_the_store(replica: Replica) -> None:
    canister = install(replica)
    replica.update(canister, "inc")
    replica.update(canister, "drop", b"counter")
    assert stored(replica, canister) == {b"owner": b"me"}


def test_helper_files_are_importable_and_appear_in_tracebacks(replica: Replica) -> None:
    files = {
        "app.py": (
            "import icframework_runtime as rt\nimport helpers\nfrom pkg import deep\n\n"
            "@rt.update\ndef shout(arg):\n    return helpers.shout(arg) + deep.MARK\n"
        ),
        "helpers.py": "def shout(arg):\n    if not arg:\n        raise KeyError('empty')\n"
                      "    return arg.upper()\n",
        "pkg/deep.py": "MARK = b'!'\n",
    }
    app = load_canister_module(pack_python_module(files, "app.py")).python_app
    assert app is not None and app.install_source()[0] == LOADER_FILENAME
    assert set(app.modules()) == {"helpers", "pkg", "pkg.deep"}
    canister = install(replica, files=files)
    assert replica.update(canister, "shout", b"hi") == b"HI!"
    with pytest.raises(CanisterError) as caught:
        replica.update(canister, "shout", b"")
    assert 'File "helpers.py", line 3, in shout' in caught.value.message
    assert "raise KeyError('empty')" in caught.value.message


# -- inter-canister calls ------------------------------------------------------------------------


def test_python_calls_a_wat_canister_and_gets_the_reply(replica: Replica) -> None:
    python = install(replica)
    wat = replica.create_canister(sender=CONTROLLER)
    replica.install_code(wat, counter_wasm(), sender=CONTROLLER)
    reply = replica.update(python, "call", wat.raw.hex().encode() + b"/inc")
    assert reply == b"got " + nat64_reply(1)
    assert replica.query(python, "read", b"answer") == nat64_reply(1)
    assert replica.query(wat, "get") == nat64_reply(1)


def test_python_calls_python_and_rejects_come_back(replica: Replica) -> None:
    first, second = install(replica), install(replica)
    assert replica.update(first, "call", second.raw.hex().encode() + b"/inc") == b"got 1"
    assert replica.query(second, "get") == b"1"
    reply = replica.update(first, "call", second.raw.hex().encode() + b"/fail")
    assert reply.startswith(b"rejected 5 Error from Canister")
    assert b"ValueError: no good" in reply
    assert replica.query(second, "get") == b"1"


@requires_node
def test_motoko_calls_a_python_canister(replica: Replica) -> None:
    from tests.replica.corpus import motoko_wasm

    setter = COUNTER + '''

def _leb(data, pos):
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        shift += 7
        if byte < 0x80:
            return value


def _nat(value):
    out = bytearray(b"DIDL\\x00\\x01\\x7d")
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


@rt.update
def set(arg):
    assert arg[:7] == b"DIDL\\x00\\x01\\x7d", arg
    old = int(rt.kv_get(b"value") or b"0")
    rt.kv_put(b"value", str(_leb(arg, 7)).encode())
    return _nat(old)
'''
    python = install(replica, setter)
    caller = replica.create_canister(sender=CONTROLLER)
    replica.install_code(caller, motoko_wasm("caller"), encode([PRINCIPAL], [python]),
                         sender=CONTROLLER)
    reply = replica.update(caller, "forward_to", encode([PRINCIPAL, NAT], [python, 7]))
    assert decode(reply, [NAT]) == (0,)
    reply = replica.update(caller, "forward_to", encode([PRINCIPAL, NAT], [python, 9]))
    assert decode(reply, [NAT]) == (7,)
    assert replica.query(python, "read", b"value") == b"9"


# -- timers --------------------------------------------------------------------------------------


def test_global_timer_runs_the_apps_timer() -> None:
    now = [1_750_000_000 * NANOS]
    with Replica.open(clock=lambda: now[0]) as replica:
        canister = install(replica)
        replica.update(canister, "arm", str(5 * NANOS).encode())
        replica.subnet.execute_round()
        assert replica.query(canister, "read", b"rang") == b"-"
        now[0] += 10 * NANOS
        replica.subnet.execute_round()
        assert int(replica.query(canister, "read", b"rang")) >= now[0]


def test_heartbeat_runs_every_round(replica: Replica) -> None:
    source = (
        "import icframework_runtime as rt\n\n@rt.heartbeat\ndef beat():\n"
        "    rt.kv_put(b'beats', str(int(rt.kv_get(b'beats') or b'0') + 1).encode())\n\n"
        "@rt.query\ndef beats(arg):\n    return rt.kv_get(b'beats') or b'0'\n"
    )
    canister = install(replica, source)
    before = int(replica.query(canister, "beats"))
    for _ in range(3):
        replica.subnet.execute_round()
    assert int(replica.query(canister, "beats")) == before + 3


# -- durability and lifecycle -------------------------------------------------------------------


def test_restart_keeps_the_store(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        canister = install(replica)
        replica.update(canister, "inc")
        replica.update(canister, "inc")
    with Replica.open(tmp_path) as replica:
        assert replica.query(canister, "get") == b"2"
        assert replica.update(canister, "inc") == b"3"
        replica.reload()
        assert replica.query(canister, "get") == b"3"


def test_upgrade_keeps_the_store_and_runs_the_hooks(replica: Replica) -> None:
    canister = install(replica)
    replica.update(canister, "inc")
    module = pack_python_module({"app.py": COUNTER + "\n# v2\n"}, "app.py")
    replica.install_code(canister, module, b"v2", mode="upgrade", sender=CONTROLLER)
    assert replica.query(canister, "get") == b"1"
    assert replica.query(canister, "read", b"pre") == b"ran"
    assert replica.query(canister, "read", b"post") == b"v2"
    assert stored(replica, canister)[b"post"] == b"v2"
    assert replica.update(canister, "inc") == b"2"


def test_failed_upgrade_leaves_the_canister_as_it_was(replica: Replica) -> None:
    canister = install(replica)
    replica.update(canister, "inc")
    broken = COUNTER.replace('rt.kv_put(b"post", arg)', 'raise RuntimeError("no upgrade")')
    with pytest.raises(CanisterError) as caught:
        replica.install_code(canister, pack_python_module({"app.py": broken}, "app.py"),
                             mode="upgrade", sender=CONTROLLER)
    assert "RuntimeError: no upgrade" in caught.value.message
    assert replica.query(canister, "read", b"pre") == b"-"
    assert replica.update(canister, "inc") == b"2"
    assert b"pre" not in stored(replica, canister)


def test_reinstall_and_uninstall_wipe_the_store(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        canister = install(replica)
        replica.update(canister, "inc")
        module = pack_python_module({"app.py": COUNTER}, "app.py")
        replica.install_code(canister, module, b"again", mode="reinstall", sender=CONTROLLER)
        assert replica.query(canister, "get") == b"0"
        assert stored(replica, canister) == {b"owner": b"again"}
        replica.update(canister, "inc")
        replica.uninstall_code(canister, sender=CONTROLLER)
        assert stored(replica, canister) == {}
        replica.install_code(canister, module, sender=CONTROLLER)
        replica.update(canister, "inc")
        replica.update(canister, "inc")
    with Replica.open(tmp_path) as replica:
        assert replica.query(canister, "get") == b"2"


def test_wasm_to_python_upgrade_and_back(replica: Replica) -> None:
    canister = replica.create_canister(sender=CONTROLLER)
    replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
    replica.update(canister, "inc")
    module = pack_python_module({"app.py": COUNTER}, "app.py")
    replica.install_code(canister, module, mode="upgrade", sender=CONTROLLER)
    assert replica.update(canister, "inc") == b"1"
    replica.install_code(canister, counter_wasm(), mode="upgrade", sender=CONTROLLER)
    assert stored(replica, canister) == {}
    assert replica.update(canister, "inc") == nat64_reply(1)


def test_deleting_the_canister_wipes_the_store(replica: Replica) -> None:
    canister = install(replica)
    replica.update(canister, "inc")
    replica.stop_canister(canister, sender=CONTROLLER)
    replica.delete_canister(canister, sender=CONTROLLER)
    assert stored(replica, canister) == {}


# -- kill -9 ----------------------------------------------------------------------------------


def test_sigkill_loses_no_replied_update_of_a_python_canister(tmp_path: Path) -> None:
    rng = random.Random(4321)
    replied = 0
    for _ in range(3):
        last = run_until_killed(
            "tests.replica.python_crash_child", tmp_path, rng.randint(1, 30),
            rng.random() * 0.005,
        )
        assert last > replied, "after a restart the counter continues from the committed state"
        replied = last
    with Replica.open(tmp_path) as replica:
        canister = Principal.from_text((tmp_path / "canister").read_text())
        value = int(replica.query(canister, "get"))
        assert value in (replied, replied + 1)
        # The keys of one update moved together: counter, mirror and the log agree.
        assert replica.query(canister, "check") == f"{value} {value} {value}".encode()
