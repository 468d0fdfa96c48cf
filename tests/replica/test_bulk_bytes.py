"""Bulk bytes across the Python canister boundary: arguments, replies and key-value values
of every size, byte for byte (the runtime hands them to the host as latin-1 text)."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.candid import decode, encode, parse_type
from icframework.core import ErrorCode
from icframework.core.ic0 import Context
from icframework.replica.execution.component import ComponentSandbox
from icframework.replica.execution.system_api import Reply
from tests.compiler.runtime_support import runtime, runtime_component
from tests.replica.test_component import LIMIT, message

__all__ = ["runtime"]

MIB = 1024 * 1024
INGRESS_LIMIT = 2 * MIB  # the largest request body the HTTP interface accepts
REPLY_LIMIT = 2 * MIB  # the largest reply a message may send
SIZES = (0, 1, 4095, 4096, MIB, 2 * MIB + 1, INGRESS_LIMIT)
BLOB = parse_type("blob")

RAW_APP = '''\
import hashlib

import icframework_runtime as rt


@rt.update
def echo(arg):
    return arg


@rt.update
def digest(arg):
    return len(arg).to_bytes(8, "little") + hashlib.sha256(arg).digest()


@rt.update
def put(arg):
    rt.kv_put(b"value", arg)
    return len(arg).to_bytes(8, "little")


@rt.query
def get(arg):
    return rt.kv_get(b"value")


@rt.update
def put_keyed(arg):
    rt.kv_put(arg, arg[::-1])
    return b""


@rt.query
def scan(arg):
    return b"".join(len(k).to_bytes(4, "little") + k + v for k, v in rt.kv_scan())


@rt.init
def setup(arg):
    rt.kv_put(b"init", arg)


@rt.update
def ask(arg):
    def on_reply(data):
        rt.kv_put(b"answer", data)
        return data[::-1]

    rt.perform_call(b"\\x07", "answer", arg, on_reply=on_reply, on_reject=lambda *_: b"")
    return None
'''

SDK_APP = '''\
from icframework.sdk import StableBTreeMap, nat64, query, update

chunks = StableBTreeMap[nat64, bytes]("chunks")


@update
def put_chunk(data: bytes) -> None:
    chunks.insert(0, data)


@query
def get_chunk() -> bytes:
    return chunks.get(0)


@update
def echo(data: bytes) -> bytes:
    return data
'''


def payload(size: int) -> bytes:
    """Random bytes (every value, in no order a text codec would favour)."""
    return random.Random(size).randbytes(size)


@pytest.fixture(scope="module")
def raw(runtime: object) -> ComponentSandbox:
    engine, compiled = runtime_component()
    return ComponentSandbox(engine, compiled, RAW_APP, filename="app.py", canister_id=b"\x01")


@pytest.fixture(scope="module")
def sdk(runtime: object) -> ComponentSandbox:
    engine, compiled = runtime_component()
    return ComponentSandbox(engine, compiled, SDK_APP, filename="app.py", canister_id=b"\x02")


def call(sandbox: ComponentSandbox, method: str, arg: bytes = b"", *, query: bool = False) -> bytes:
    if query:
        result = sandbox.execute(
            f"canister_query {method}", message(Context.QUERY, arg), LIMIT, persist=False
        )
    else:
        result = sandbox.execute(f"canister_update {method}", message(arg=arg), LIMIT, persist=True)
    assert result.trap is None, result.trap
    assert result.output is not None and isinstance(result.output.response, Reply)
    return result.output.response.data


@pytest.mark.parametrize("size", SIZES)
def test_an_argument_arrives_byte_for_byte(raw: ComponentSandbox, size: int) -> None:
    data = payload(size)
    assert call(raw, "digest", data) == size.to_bytes(8, "little") + hashlib.sha256(data).digest()


@pytest.mark.parametrize("size", [s for s in SIZES if s <= REPLY_LIMIT])
def test_a_reply_leaves_byte_for_byte(raw: ComponentSandbox, size: int) -> None:
    data = payload(size)
    assert call(raw, "echo", data) == data


def test_a_reply_over_the_limit_still_traps(raw: ComponentSandbox) -> None:
    result = raw.execute("canister_update echo", message(arg=payload(REPLY_LIMIT + 1)), LIMIT,
                         persist=True)
    assert result.trap is not None
    assert result.trap.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert f"cannot be larger than {REPLY_LIMIT}" in result.trap.message


@pytest.mark.parametrize("size", SIZES)
def test_a_value_goes_into_the_store_and_comes_back(raw: ComponentSandbox, size: int) -> None:
    data = payload(size)
    assert call(raw, "put", data) == size.to_bytes(8, "little")
    assert raw.kv.get(b"value") == data
    if size <= REPLY_LIMIT:
        assert call(raw, "get", query=True) == data
    # a fresh instance has no cached copy: the value crosses from the store again
    raw.reset_instance()
    if size <= REPLY_LIMIT:
        assert call(raw, "get", query=True) == data


def test_binary_keys_scan_in_byte_order(runtime: object) -> None:
    engine, compiled = runtime_component()
    sandbox = ComponentSandbox(engine, compiled, RAW_APP, filename="app.py")
    keys = [bytes([b]) + b"\x00\xff" for b in (0x00, 0x7F, 0x80, 0xC3, 0xFF)]
    for key in reversed(keys):
        call(sandbox, "put_keyed", key)
    sandbox.reset_instance()
    expected = b"".join(len(k).to_bytes(4, "little") + k + k[::-1] for k in keys)
    assert call(sandbox, "scan", query=True) == expected


def test_init_writes_binary_values_through_commit(runtime: object) -> None:
    engine, compiled = runtime_component()
    sandbox = ComponentSandbox(engine, compiled, RAW_APP, filename="app.py")
    data = payload(70_000)
    result = sandbox.execute("canister_init", message(Context.INIT, arg=data), LIMIT, persist=True)
    assert result.trap is None, result.trap
    assert sandbox.kv.get(b"init") == data


def test_a_callback_gets_a_large_binary_reply_and_answers_one(runtime: object) -> None:
    engine, compiled = runtime_component()
    sandbox = ComponentSandbox(engine, compiled, RAW_APP, filename="app.py")
    question = payload(4096)
    asked = sandbox.execute("canister_update ask", message(arg=question), LIMIT, persist=True)
    assert asked.output is not None
    [outgoing] = asked.output.calls
    assert bytes(outgoing.payload) == question
    answer = payload(MIB)
    result = sandbox.execute(
        (outgoing.reply_fun, outgoing.reply_env), message(Context.REPLY_CALLBACK, answer),
        LIMIT, persist=True,
    )
    assert result.trap is None, result.trap
    assert result.output is not None and result.output.response == Reply(answer[::-1])
    assert sandbox.kv.get(b"answer") == answer


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=20_000))
def test_any_bytes_cross_both_ways_and_through_the_store(
    raw: ComponentSandbox, data: bytes
) -> None:
    assert call(raw, "echo", data) == data
    call(raw, "put", data)
    raw.reset_instance()
    assert call(raw, "get", query=True) == data


@pytest.mark.parametrize("size", [0, 4096, MIB, REPLY_LIMIT - 16])
def test_an_sdk_blob_method_gets_its_bytes_unchanged(sdk: ComponentSandbox, size: int) -> None:
    data = payload(size)
    assert call(sdk, "put_chunk", encode([BLOB], [data])) == encode([], [])
    sdk.reset_instance()
    assert list(decode(call(sdk, "get_chunk", encode([], []), query=True), [BLOB])) == [data]
    assert list(decode(call(sdk, "echo", encode([BLOB], [data])), [BLOB])) == [data]
