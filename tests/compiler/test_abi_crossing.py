"""The canister ABI's crossing: bulk `list<u8>` conversion, `call-method`, SDK runners.

The sandbox converts the ABI's values itself (`icframework.replica.execution.wit_values`): a
blob in bulk through extended slices of the C API's value array, everything else from the
WIT types read once. These tests check the converters on their own, every blob-carrying
import and export end to end with large and edge-case payloads, the routing of ordinary
messages through ``call-method`` (by index) against ``call``, and the glue's use of an
SDK ``RuntimeBackend.method_runner`` when there is one.
"""

from __future__ import annotations

import ctypes

import pytest

from icframework.candid import BOOL, NAT64, TEXT, decode, encode
from icframework.core.ic0 import Context
from icframework.replica.execution import wit_values as host
from icframework.replica.execution.component import ComponentSandbox
from icframework.replica.execution.system_api import ExecutionInput, Reject, Reply
from tests.compiler.runtime_support import runtime, runtime_component

__all__ = ["runtime"]

LIMIT = 5_000_000_000
EMPTY = b"DIDL\x00\x00"

RAW_APP = '''\
import icframework_runtime as rt


@rt.update
def echo(arg):
    return arg


@rt.update
def echo_view(arg):
    return bytearray(arg)


@rt.query
def nothing(arg):
    return None


@rt.update
def refuse(arg):
    rt.kv_put(b"refused", arg)
    raise rt.Reject("no: " + arg.decode("latin-1"))


@rt.update
def put_many(arg):
    count = int(arg)
    for i in range(count):
        rt.kv_put(b"key%04d" % i, bytes([i % 256]) * i)
    rt.kv_delete(b"key0001")
    return b"ok"


@rt.update
def put_big(arg):
    rt.kv_put(b"big", arg)
    return rt.kv_get(b"big")


@rt.query
def get_big(arg):
    return rt.kv_get(b"big")


@rt.query
def scan_all(arg):
    return b"".join(k + b"=" + str(len(v)).encode() + b";" for k, v in rt.kv_scan())


@rt.update
def who(arg):
    rt.certified_data_set(arg[:32])
    rt.publish("topic", arg)
    rt.debug_print("len %d" % len(arg))
    return rt.caller() + b"|" + rt.canister_self()
'''

SDK_APP = """\
from icframework.sdk import StableBTreeMap, StableCell, nat64, query, update, Reject

count = StableCell[nat64]("count", default=0)
notes = StableBTreeMap[nat64, str]("notes")


@update
def increment() -> nat64:
    count.set(count.get() + 1)
    return count.get()


@query
def get() -> nat64:
    return count.get()


@update
def note(key: nat64, text: str) -> str:
    if not text:
        raise Reject("empty note")
    notes[key] = text
    return text


@query
def read(key: nat64) -> str:
    return notes.get(key) or ""
"""

# Extra methods for the committed-value cache: a query that writes (its write must be
# forgotten), an update that writes and then traps, and a counter of host reads.
CACHE_APP = SDK_APP + """

from icframework.sdk import backend as _backend


@query
def sneaky() -> nat64:
    count.set(1000)
    return count.get()


@update
def write_then_trap() -> nat64:
    count.set(500)
    raise RuntimeError("after the write")


@query
def cached() -> bool:
    return _backend.installed.committed.values.get(count._key) is not None
"""


def message(context: Context = Context.UPDATE, arg: bytes = b"") -> ExecutionInput:
    return ExecutionInput(
        context=context, canister_id=b"\x01\x02", caller=b"\x09\x08", time_ns=1,
        cycle_balance=10**12, arg=arg,
    )


def sandbox(source: str) -> ComponentSandbox:
    engine, compiled = runtime_component()
    return ComponentSandbox(engine, compiled, source, filename="app.py", canister_id=b"\x01\x02")


def run(box: ComponentSandbox, method: str, arg: bytes = b"", *, kind: str = "update") -> object:
    context = Context.UPDATE if kind == "update" else Context.QUERY
    result = box.execute(
        f"canister_{kind} {method}", message(context, arg), LIMIT, persist=kind == "update"
    )
    assert result.trap is None, result.trap
    assert result.output is not None
    return result.output.response


def reply(box: ComponentSandbox, method: str, arg: bytes = b"", *, kind: str = "update") -> bytes:
    response = run(box, method, arg, kind=kind)
    assert isinstance(response, Reply), response
    return response.data


# -- the converters on their own -----------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 31, 4095, 4096, 4097, 100_000])
def test_blob_converters_round_trip(size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    value = host._Val()
    host._lower_blob(data, value)
    try:
        assert value.kind == host._LIST_KIND
        assert value.of.list.size == size
        if size:
            first = value.of.list.data[0]
            assert first.kind == host._U8_KIND and first.of.u8 == data[0]
            last = value.of.list.data[size - 1]
            assert last.kind == host._U8_KIND and last.of.u8 == data[-1]
        assert host._lift_blob(value) == data
    finally:
        host._free(value)


def test_blob_lowering_takes_bytes_like_values_only() -> None:
    for good in (bytearray(b"ab"), memoryview(b"ab")):
        value = host._Val()
        host._lower_blob(good, value)
        assert host._lift_blob(value) == b"ab"
        host._free(value)
    for bad in ("ab", 5, None):
        value = host._Val()
        with pytest.raises(TypeError):
            host._lower_blob(bad, value)
        assert value.kind == host._BOOL_KIND  # untouched: nothing to free
    assert ctypes.sizeof(host._Val) == host._VAL_SIZE


# -- end to end ----------------------------------------------------------------------------


@pytest.fixture
def raw(runtime: object) -> ComponentSandbox:
    return sandbox(RAW_APP)


def test_ordinary_messages_go_through_call_method(raw: ComponentSandbox) -> None:
    names = sorted(raw.exports)
    assert raw._method_index == {name: names.index(name) for name in names}
    assert reply(raw, "echo", b"abc") == b"abc"
    assert reply(raw, "echo_view", b"abc") == b"abc"  # a bytearray reply becomes bytes
    nothing = raw.execute("canister_query nothing", message(Context.QUERY), LIMIT, persist=False)
    assert nothing.trap is None and nothing.output is not None
    assert nothing.output.response is None


@pytest.mark.parametrize("size", [0, 1, 255, 4097, 256 * 1024, 2 * 1024 * 1024])
def test_argument_and_reply_blobs_of_any_size_cross_intact(
    raw: ComponentSandbox, size: int
) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    assert reply(raw, "echo", data) == data


def test_reject_through_call_method_keeps_the_writes(raw: ComponentSandbox) -> None:
    response = run(raw, "refuse", b"why\xff")
    assert response == Reject("no: why\xff")
    assert raw.kv.get(b"refused") == b"why\xff"


def test_kv_blobs_cross_in_both_directions(raw: ComponentSandbox) -> None:
    big = bytes(range(256)) * 4096 + b"\x00\xff"  # 1 MiB and change
    assert reply(raw, "put_big", big) == big
    assert raw.kv.get(b"big") == big
    assert reply(raw, "get_big", kind="query") == big
    assert reply(raw, "put_many", b"40") == b"ok"
    assert raw.kv.get(b"key0001") is None
    assert raw.kv.get(b"key0039") == bytes([39]) * 39
    listing = reply(raw, "scan_all", kind="query")
    assert listing.startswith(b"big=1048578;key0000=0;key0002=2;")
    assert listing.count(b";") == 1 + 39


def test_ic0_blobs_cross(raw: ComponentSandbox) -> None:
    arg = bytes(range(40))
    result = raw.execute("canister_update who", message(arg=arg), LIMIT, persist=True)
    assert result.trap is None and result.output is not None
    assert result.output.response == Reply(b"\x09\x08|\x01\x02")
    assert result.output.certified_data == arg[:32]
    assert result.events == [("topic", arg)]
    assert b"len 40" in b"".join(result.output.logs)


# -- the SDK ---------------------------------------------------------------------------------


def _sdk_round(box: ComponentSandbox) -> None:
    assert decode(reply(box, "increment", EMPTY), [NAT64]) == (1,)
    assert decode(reply(box, "increment", EMPTY), [NAT64]) == (2,)
    assert decode(reply(box, "get", EMPTY, kind="query"), [NAT64]) == (2,)
    arg = encode([NAT64, TEXT], [7, "héllo"])
    assert decode(reply(box, "note", arg), [TEXT]) == ("héllo",)
    assert decode(reply(box, "read", encode([NAT64], [7]), kind="query"), [TEXT]) == ("héllo",)
    refused = run(box, "note", encode([NAT64, TEXT], [8, ""]))
    assert refused == Reject("empty note")


def test_sdk_methods_run_through_call_method(runtime: object) -> None:
    _sdk_round(sandbox(SDK_APP))


def test_committed_values_are_cached_and_never_stale(runtime: object) -> None:
    box = sandbox(CACHE_APP)
    assert decode(reply(box, "increment", EMPTY), [NAT64]) == (1,)
    assert decode(reply(box, "cached", EMPTY, kind="query"), [BOOL]) == (True,)
    # A query's writes are dropped, in the instance as in the store.
    assert decode(reply(box, "sneaky", EMPTY, kind="query"), [NAT64]) == (1000,)
    assert decode(reply(box, "get", EMPTY, kind="query"), [NAT64]) == (1,)
    # A trap drops the instance with its cache; the store keeps the committed value.
    trapped = box.execute(
        "canister_update write_then_trap", message(arg=EMPTY), LIMIT, persist=True
    )
    assert trapped.trap is not None and "after the write" in trapped.trap.message
    assert box.kv.get(count_key()) == encode([NAT64], [1])
    assert decode(reply(box, "cached", EMPTY, kind="query"), [BOOL]) == (False,)
    assert decode(reply(box, "increment", EMPTY), [NAT64]) == (2,)
    # The store rolled back under the instance (a failed upgrade): the instance goes.
    saved = box.snapshot()
    assert decode(reply(box, "increment", EMPTY), [NAT64]) == (3,)
    box.restore(saved)
    assert decode(reply(box, "get", EMPTY, kind="query"), [NAT64]) == (2,)
    # An update's writes that the host does not persist make the instance start over.
    run(box, "increment", EMPTY, kind="update")
    dry = box.execute("canister_update increment", message(arg=EMPTY), LIMIT, persist=False)
    assert dry.trap is None
    assert decode(reply(box, "get", EMPTY, kind="query"), [NAT64]) == (3,)


def count_key() -> bytes:
    return b"Scount\x00\x01"
