"""Python canisters on the shared runtime component: install, calls, traps, storage, ABI."""

from __future__ import annotations

import pytest

from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.replica.execution.component import ComponentSandbox
from icframework.replica.execution.kv_store import KeyValueStore
from icframework.replica.execution.system_api import CanisterTrap, ExecutionInput, Reject, Reply
from tests.compiler.runtime_support import runtime, runtime_component

__all__ = ["runtime"]

TIME_NS = 1_700_000_000_123_456_789
LIMIT = 1_000_000_000

APP = '''\
import os
import random
import time

import icframework_runtime as rt

print("loading")


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
def query_inc(arg):
    return inc(arg)


@rt.update
def fail(arg):
    rt.kv_put(b"counter", b"999")
    print("about to fail")
    raise ValueError("no good: " + arg.decode())


@rt.update
def echo(arg):
    return arg


@rt.update
def store(arg):
    rt.kv_put(arg, arg)
    return rt.kv_get(arg)


@rt.query
def scan(arg):
    return b"|".join(k + b"=" + v for k, v in rt.kv_scan(b"k", b"l"))


@rt.update
def bulk(arg):
    for i in range(5):
        rt.kv_put(b"k%d" % i, b"v%d" % i)
    rt.kv_delete(b"k2")
    return scan(arg)


@rt.query
def entropy(arg):
    return repr((time.time(), time.time_ns(), os.urandom(8), random.random())).encode()


@rt.update
def refuse(arg):
    rt.kv_put(b"refused", b"yes")
    raise rt.Reject("not today")


@rt.update
def spin(arg):
    while True:
        pass


@rt.update
def who(arg):
    return rt.caller() + b"/" + rt.canister_self()


@rt.update
def certify(arg):
    rt.certified_data_set(arg)
    return b""


@rt.update
def take(arg):
    return str(rt.msg_cycles_accept(int(arg))).encode()


@rt.update
def ask(arg):
    def on_reply(data):
        rt.kv_put(b"answer", data)
        return b"got " + data

    def on_reject(code, message):
        return ("rejected %d %s" % (code, message)).encode()

    code = rt.perform_call(b"\\x07", "answer", arg, on_reply=on_reply, on_reject=on_reject)
    assert code == 0
    return None


@rt.update
def announce(arg):
    rt.publish("news", arg)
    return b""
'''


def message(
    context: Context = Context.UPDATE, arg: bytes = b"", **extra: object
) -> ExecutionInput:
    fields: dict[str, object] = {
        "context": context,
        "canister_id": b"\x01\x02",
        "caller": b"\x09\x08",
        "time_ns": TIME_NS,
        "cycle_balance": 10**12,
        "arg": arg,
    }
    fields.update(extra)
    return ExecutionInput(**fields)  # type: ignore[arg-type]


@pytest.fixture
def app(runtime: object) -> ComponentSandbox:
    engine, compiled = runtime_component()
    return ComponentSandbox(engine, compiled, APP, filename="app.py", canister_id=b"\x01\x02")


def update(sandbox: ComponentSandbox, method: str, arg: bytes = b"") -> bytes:
    result = sandbox.execute(f"canister_update {method}", message(arg=arg), LIMIT, persist=True)
    assert result.trap is None, result.trap
    assert result.output is not None and isinstance(result.output.response, Reply)
    return result.output.response.data


def query(sandbox: ComponentSandbox, method: str, arg: bytes = b"") -> bytes:
    result = sandbox.execute(
        f"canister_query {method}", message(Context.QUERY, arg), LIMIT, persist=False
    )
    assert result.trap is None, result.trap
    assert result.output is not None and isinstance(result.output.response, Reply)
    return result.output.response.data


# -- install -------------------------------------------------------------------------------


def test_install_lists_the_apps_exports_and_logs_prints(app: ComponentSandbox) -> None:
    assert app.has_export("canister_update inc")
    assert app.has_export("canister_query get")
    assert app.has_export("canister_init")
    assert not app.has_export("canister_heartbeat")
    assert app.logs == [b"loading"]
    assert app.install_instructions > 0


def test_syntax_error_in_the_source_traps_with_file_and_line(runtime: object) -> None:
    engine, compiled = runtime_component()
    with pytest.raises(CanisterTrap) as caught:
        ComponentSandbox(engine, compiled, "x = 1\ndef broken(:\n", filename="bad.py")
    assert caught.value.error_code == ErrorCode.CANISTER_CALLED_TRAP
    assert 'File "bad.py", line 2' in caught.value.message
    assert "SyntaxError" in caught.value.message


def test_module_level_code_runs_in_the_start_context(runtime: object) -> None:
    engine, compiled = runtime_component()
    source = "import icframework_runtime as rt\nrt.caller()\n"
    with pytest.raises(CanisterTrap) as caught:
        ComponentSandbox(engine, compiled, source, filename="early.py")
    assert caught.value.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert '"ic0_msg_caller_size" cannot be executed in start mode' in caught.value.message


def test_storage_is_unavailable_while_the_source_loads(runtime: object) -> None:
    engine, compiled = runtime_component()
    source = "import icframework_runtime as rt\nrt.kv_get(b'x')\n"
    with pytest.raises(CanisterTrap, match=r"kv\.get called while the app's source loads"):
        ComponentSandbox(engine, compiled, source, filename="early.py")


def test_importing_a_module_the_runtime_lacks_traps(runtime: object) -> None:
    engine, compiled = runtime_component()
    with pytest.raises(CanisterTrap) as caught:
        ComponentSandbox(engine, compiled, "import sqlite3\n", filename="db.py")
    assert 'File "db.py", line 1' in caught.value.message
    assert "ModuleNotFoundError: No module named 'sqlite3'" in caught.value.message


def test_files_are_absent_not_fatal(runtime: object) -> None:
    engine, compiled = runtime_component()
    source = (
        "try:\n    open('/etc/passwd')\nexcept FileNotFoundError:\n    missing = True\n"
    )
    ComponentSandbox(engine, compiled, source, filename="files.py")


# -- messages ---------------------------------------------------------------------------------


def test_counter_persists_in_the_key_value_store(app: ComponentSandbox) -> None:
    assert [update(app, "inc") for _ in range(3)] == [b"1", b"2", b"3"]
    assert query(app, "get") == b"3"
    assert app.kv.get(b"counter") == b"3"
    assert app.kv.take_dirty() == {b"counter": b"3"}


def test_init_receives_the_install_argument(app: ComponentSandbox) -> None:
    result = app.execute("canister_init", message(Context.INIT, b"\x00me"), LIMIT, persist=True)
    assert result.trap is None
    assert app.kv.get(b"owner") == b"\x00me"


def test_exception_traps_with_traceback_and_rolls_back(app: ComponentSandbox) -> None:
    update(app, "inc")
    result = app.execute("canister_update fail", message(arg=b"why"), LIMIT, persist=True)
    assert result.output is None and result.trap is not None
    assert result.trap.error_code == ErrorCode.CANISTER_CALLED_TRAP
    text = result.trap.message
    assert text.startswith("Canister called `ic0.trap` with message: 'Traceback")
    line = APP.splitlines().index('    raise ValueError("no good: " + arg.decode())') + 1
    assert f'File "app.py", line {line}, in fail' in text
    assert 'raise ValueError("no good: " + arg.decode())' in text
    assert "ValueError: no good: why" in text
    assert app.kv.get(b"counter") == b"1"
    # The instance was discarded; the next message re-installs the source first.
    after = app.execute("canister_update inc", message(), LIMIT, persist=True)
    assert after.reinstalled and after.install_instructions > 0
    assert after.output is not None and after.output.response == Reply(b"2")
    assert not app.execute("canister_update inc", message(), LIMIT, persist=True).reinstalled


def test_query_writes_are_discarded(app: ComponentSandbox) -> None:
    assert query(app, "query_inc") == b"1"
    assert query(app, "query_inc") == b"1"
    assert app.kv.get(b"counter") is None
    assert app.kv.take_dirty() == {}


def test_update_without_persist_is_discarded(app: ComponentSandbox) -> None:
    result = app.execute("canister_update inc", message(), LIMIT, persist=False)
    assert result.output is not None and result.output.response == Reply(b"1")
    assert app.kv.get(b"counter") is None


def test_reject_is_a_response_and_keeps_writes(app: ComponentSandbox) -> None:
    result = app.execute("canister_update refuse", message(), LIMIT, persist=True)
    assert result.trap is None and result.output is not None
    assert result.output.response == Reject("not today")
    assert app.kv.get(b"refused") == b"yes"


def test_scan_sees_the_messages_own_writes(app: ComponentSandbox) -> None:
    assert update(app, "bulk") == b"k0=v0|k1=v1|k3=v3|k4=v4"
    assert query(app, "scan") == b"k0=v0|k1=v1|k3=v3|k4=v4"


def test_instruction_limit_is_ic0522(app: ComponentSandbox) -> None:
    result = app.execute("canister_update spin", message(), 5_000_000, persist=True)
    assert result.trap is not None
    assert result.trap.error_code == ErrorCode.CANISTER_INSTRUCTION_LIMIT_EXCEEDED
    assert result.instructions == 5_000_000
    assert update(app, "inc") == b"1"


def test_unknown_method_is_not_found(app: ComponentSandbox) -> None:
    result = app.execute("canister_update nope", message(), LIMIT, persist=True)
    assert result.trap is not None
    assert result.trap.error_code == ErrorCode.CANISTER_METHOD_NOT_FOUND


def test_prints_become_debug_print_logs(app: ComponentSandbox) -> None:
    result = app.execute("canister_update fail", message(arg=b"x"), LIMIT, persist=True)
    assert result.trap is not None  # logs of a trapped message are not kept in its output
    app.execute("canister_update inc", message(), LIMIT, persist=True)
    assert app.logs == [b"loading"]


def test_ic0_values_reach_the_app(app: ComponentSandbox) -> None:
    assert update(app, "who") == b"\x09\x08/\x01\x02"
    result = app.execute("canister_update certify", message(arg=b"h" * 32), LIMIT, persist=True)
    assert result.output is not None and result.output.certified_data == b"h" * 32
    too_long = app.execute("canister_update certify", message(arg=b"h" * 33), LIMIT, persist=True)
    assert too_long.trap is not None
    assert too_long.trap.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION


def test_cycles_are_accepted_through_the_system_api(app: ComponentSandbox) -> None:
    inp = message(arg=b"700", cycles_available=500)
    result = app.execute("canister_update take", inp, LIMIT, persist=True)
    assert result.output is not None
    assert result.output.response == Reply(b"500")
    assert result.output.cycles_accepted == 500


def test_inter_canister_call_and_its_callback(app: ComponentSandbox) -> None:
    result = app.execute("canister_update ask", message(arg=b"q?"), LIMIT, persist=True)
    assert result.output is not None and result.output.response is None
    [call] = result.output.calls
    assert (call.callee, call.method, bytes(call.payload)) == (b"\x07", "answer", b"q?")
    assert call.reply_env == call.reject_env
    reply = app.execute(
        (call.reply_fun, call.reply_env), message(Context.REPLY_CALLBACK, b"42"), LIMIT,
        persist=True,
    )
    assert reply.output is not None and reply.output.response == Reply(b"got 42")
    assert app.kv.get(b"answer") == b"42"


def test_reject_callback_sees_code_and_message(app: ComponentSandbox) -> None:
    result = app.execute("canister_update ask", message(), LIMIT, persist=True)
    assert result.output is not None
    [call] = result.output.calls
    inp = message(Context.REJECT_CALLBACK, reject_code=4, reject_message="nope")
    reply = app.execute((call.reject_fun, call.reject_env), inp, LIMIT, persist=True)
    assert reply.output is not None and reply.output.response == Reply(b"rejected 4 nope")


def test_events_are_delivered_only_when_the_message_commits(app: ComponentSandbox) -> None:
    result = app.execute("canister_update announce", message(arg=b"\xffhi"), LIMIT, persist=True)
    assert result.events == [("news", b"\xffhi")]
    dry = app.execute("canister_update announce", message(arg=b"x"), LIMIT, persist=False)
    assert dry.events == []


# -- the boundary -------------------------------------------------------------------------


def test_every_byte_value_crosses_both_ways(app: ComponentSandbox) -> None:
    data = bytes(range(256))
    assert update(app, "echo", data) == data
    assert update(app, "store", data) == data
    assert app.kv.get(data) == data
    big = bytes(range(256)) * 256
    assert update(app, "echo", big) == big


def test_time_and_randomness_are_deterministic(app: ComponentSandbox) -> None:
    engine, compiled = runtime_component()
    first = query(app, "entropy")
    clock = repr(TIME_NS / 1e9).encode()
    assert first.startswith(b"(" + clock + b", " + str(TIME_NS).encode())
    twin = ComponentSandbox(engine, compiled, APP, filename="app.py", canister_id=b"\x01\x02")
    assert query(twin, "entropy") == first
    other = app.execute(
        "canister_query entropy", message(Context.QUERY), LIMIT, persist=False, seed=b"other"
    )
    assert other.output is not None and isinstance(other.output.response, Reply)
    assert other.output.response.data.split(b", ")[2] != first.split(b", ")[2]


# -- the key-value store --------------------------------------------------------------------


def test_store_scan_merges_the_transaction() -> None:
    store = KeyValueStore({b"a": b"1", b"c": b"3", b"e": b"5"})
    store.begin()
    store.put(b"b", b"2")
    store.delete(b"c")
    store.put(b"e", b"five")
    assert store.scan(b"", None) == [(b"a", b"1"), (b"b", b"2"), (b"e", b"five")]
    assert store.scan(b"b", b"e") == [(b"b", b"2")]
    assert store.scan(b"", None, reverse=True, limit=2) == [(b"e", b"five"), (b"b", b"2")]
    store.rollback()
    assert store.scan(b"", None) == [(b"a", b"1"), (b"c", b"3"), (b"e", b"5")]
    store.begin()
    store.delete(b"a")
    store.put(b"d", b"4")
    assert store.commit() == 2
    assert list(store.items()) == [(b"c", b"3"), (b"d", b"4"), (b"e", b"5")]
    assert store.take_dirty() == {b"a": None, b"d": b"4"}


def test_store_refuses_writes_outside_a_transaction() -> None:
    with pytest.raises(RuntimeError, match="call begin"):
        KeyValueStore().put(b"k", b"v")
