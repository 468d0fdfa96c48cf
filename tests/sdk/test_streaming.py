"""Candid ``func`` references as SDK types and streaming HTTP answers, in plain CPython.

The Range parser (shared by the SDK and the gateway) is checked against a reference with
Hypothesis: same selection, same refusals, for well-formed and arbitrary headers.
"""

from __future__ import annotations

import hashlib
import re
import sys
import types
from dataclasses import dataclass
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.candid import INT, TEXT, Func, FuncRef, decode, encode
from icframework.core import Principal
from icframework.sdk import LocalBackend, LocalCanister, TypeHintError, service_did
from icframework.sdk.http import (
    IMMUTABLE,
    CallbackStrategy,
    ChunkedBody,
    HttpRequest,
    RangeNotSatisfiable,
    StreamingStrategy,
    StreamingToken,
    chunk_indexes,
    etag_of,
    if_range_holds,
    parse_range,
    streaming_chunk,
    streaming_response,
)
from icframework.sdk.types import TypeMapper, func_type

SELF = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
STREAM = FuncRef(SELF, "http_stream")
DATA = bytes((p * 31 + 7) % 256 for p in range(10_000))
DIGEST = hashlib.sha256(DATA).digest()


def get(*headers: tuple[str, str], method: str = "GET") -> HttpRequest:
    return HttpRequest(method, "/files/a", list(headers), b"")


class Reads:
    """Chunk reads of `DATA` in 4,096-byte chunks, recording which indexes were read."""

    def __init__(self, data: bytes = DATA, chunk_bytes: int = 4096) -> None:
        self.data, self.chunk_bytes, self.indexes = data, chunk_bytes, list[int]()

    def __call__(self, index: int) -> bytes:
        self.indexes.append(index)
        return self.data[index * self.chunk_bytes:(index + 1) * self.chunk_bytes]

    def body(self) -> ChunkedBody:
        return ChunkedBody("a", len(self.data), self.chunk_bytes, self)


# -- func references ------------------------------------------------------------------------

@dataclass
class Subscription:
    topic: str
    notify: Annotated[FuncRef, func_type([str, int], [])]
    peek: Annotated[FuncRef, func_type([], [Subscription | None], "query")]


def test_func_hints_map_to_func_types() -> None:
    mapper = TypeMapper()
    hint = Annotated[FuncRef, func_type([str], [int], "query")]
    assert mapper.candid(hint) == Func((TEXT,), (INT,), ("query",))
    assert mapper.info(hint).to_wire is None and mapper.info(hint).from_wire is None


def test_func_references_in_records_round_trip() -> None:
    mapper = TypeMapper()
    info = mapper.info(Subscription)
    value = Subscription("news", FuncRef(SELF, "notify"), FuncRef(SELF, "peek"))
    wire = encode([info.candid], [value if info.to_wire is None else info.to_wire(value)])
    (decoded,) = decode(wire, [info.candid])
    assert info.from_wire is not None and info.from_wire(decoded) == value


def test_func_hint_errors_name_the_fix() -> None:
    with pytest.raises(TypeHintError, match="use 'query', 'composite_query' or 'oneway'"):
        func_type([], [], "update")
    with pytest.raises(TypeHintError, match=r"write Annotated\[FuncRef, func_type"):
        TypeMapper().candid(Annotated[str, func_type([], [])])


def test_the_streaming_records_in_the_did() -> None:
    did = service_did("tests.sdk.streaming_canister")
    assert "streaming_strategy : opt StreamingStrategy;" in did
    assert "type StreamingStrategy = variant { Callback : CallbackStrategy };" in did
    assert ("callback : func (StreamingToken) -> (StreamingCallbackHttpResponse) query;"
            in did)
    assert "http_stream : (StreamingToken) -> (StreamingCallbackHttpResponse) query;" in did


def test_a_func_reference_in_a_canisters_own_did(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("func_canister")
    exec(
        "from typing import Annotated\n"
        "from icframework.sdk import query\n"
        "from icframework.candid import FuncRef\n"
        "from icframework.sdk.types import func_type\n"
        "Getter = Annotated[FuncRef, func_type([], [str], 'query')]\n"
        "@query\n"
        "def getter() -> Getter:\n"
        "    from icframework.sdk import ic\n"
        "    return FuncRef(ic.id(), 'name')\n"
        "@query\n"
        "def name() -> str:\n"
        "    return 'me'\n", module.__dict__)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    assert "getter : () -> (func () -> (text) query) query;" in service_did(module)
    local = LocalCanister(module, backend=LocalBackend(canister_id=SELF))
    assert local.query("getter") == FuncRef(SELF, "name")


# -- streaming ------------------------------------------------------------------------------

def test_a_large_body_streams_through_its_callback() -> None:
    reads = Reads()
    first = streaming_response(get(), reads.body(), STREAM, content_type="video/mp4")
    assert (first.status_code, first.body) == (200, DATA[:4096])
    assert ("accept-ranges", "bytes") in first.headers
    assert first.streaming_strategy == StreamingStrategy(
        Callback=CallbackStrategy(STREAM, StreamingToken("a", 1)))
    assembled, token = first.body, StreamingToken("a", 1)
    while token is not None:
        chunk = streaming_chunk(token, reads.body())
        assembled, token = assembled + chunk.body, chunk.token
    assert assembled == DATA
    assert reads.indexes == [0, 1, 2]


def test_a_one_chunk_body_has_no_strategy_and_head_has_no_body() -> None:
    small = ChunkedBody("s", 5, 4096, lambda index: b"hello")
    answer = streaming_response(get(), small, STREAM, content_type="text/plain")
    assert (answer.body, answer.streaming_strategy) == (b"hello", None)
    head = streaming_response(get(method="HEAD"), Reads().body(), STREAM, content_type="x/y")
    assert (head.status_code, head.body, head.streaming_strategy) == (200, b"", None)
    empty = ChunkedBody("e", 0, 4096, lambda index: b"")
    assert streaming_response(get(), empty, STREAM, content_type="x/y").body == b""


def test_the_streaming_canister_locally() -> None:
    # The canister the gateway test runs, in CPython: its callback names itself.
    body = bytes((p * 7) % 251 for p in range(5 * 1024 * 1024 + 17))
    local = LocalCanister("tests.sdk.streaming_canister",
                          backend=LocalBackend(canister_id=SELF))
    for index in range(3):
        local.update("put_chunk", "clip", index, body[index * 2**21:(index + 1) * 2**21])
    digest = local.update("commit", "clip", len(body), "video/mp4")
    assert digest == hashlib.sha256(body).digest()
    first = local.query("http_request", HttpRequest("GET", "/files/clip", [], b""))
    assert first.status_code == 200 and first.streaming_strategy is not None
    assert first.streaming_strategy.value.callback == STREAM
    assembled, token = first.body, first.streaming_strategy.value.token
    while token is not None:
        chunk = local.query("http_stream", token)
        assembled, token = assembled + chunk.body, chunk.token
    assert assembled == body
    ranged = local.query("http_request", HttpRequest(
        "GET", "/files/clip", [("Range", "bytes=3000000-3000099")], b""))
    assert ranged.status_code == 206 and ranged.body == body[3_000_000:3_000_100]


def test_bad_tokens_and_short_chunks_are_refused() -> None:
    with pytest.raises(ValueError, match=r"names no chunk of 'a' \(3 chunks\)"):
        streaming_chunk(StreamingToken("a", 3), Reads().body())
    with pytest.raises(ValueError, match="names no chunk"):
        streaming_chunk(StreamingToken("b", 0), Reads().body())
    broken = ChunkedBody("a", 10_000, 4096, lambda index: b"short")
    with pytest.raises(ValueError, match="chunk 0 of 'a' has 5 bytes, expected 4096"):
        streaming_chunk(StreamingToken("a", 0), broken)


def test_range_requests_read_only_their_chunks() -> None:
    reads = Reads()
    answer = streaming_response(get(("Range", "bytes=5000-5099")), reads.body(), STREAM,
                                content_type="video/mp4")
    assert answer.status_code == 206 and answer.body == DATA[5000:5100]
    assert ("content-range", "bytes 5000-5099/10000") in answer.headers
    assert reads.indexes == [1] and answer.streaming_strategy is None
    across = Reads()
    answer = streaming_response(get(("Range", "bytes=4000-4199")), across.body(), STREAM,
                                content_type="video/mp4")
    assert answer.body == DATA[4000:4200] and across.indexes == [0, 1]


def test_open_ranges_are_cut_to_one_chunk_length() -> None:
    answer = streaming_response(get(("Range", "bytes=100-")), Reads().body(), STREAM,
                                content_type="video/mp4")
    assert ("content-range", "bytes 100-4195/10000") in answer.headers
    assert answer.body == DATA[100:4196]
    suffix = streaming_response(get(("Range", "bytes=-10")), Reads().body(), STREAM,
                                content_type="video/mp4", max_range_bytes=100_000)
    assert suffix.body == DATA[-10:]


def test_unsatisfiable_and_ignored_ranges() -> None:
    refused = streaming_response(get(("Range", "bytes=10000-")), Reads().body(), STREAM,
                                 content_type="video/mp4")
    assert refused.status_code == 416
    assert ("content-range", "bytes */10000") in refused.headers
    assert ("content-type", "text/plain; charset=utf-8") in refused.headers
    for headers in ([("Range", "bytes=0-1,5-6")], [("Range", "bytes=0-9"), ("If-Range", "x")]):
        whole = streaming_response(get(*headers), Reads().body(), STREAM, content_type="x/y")
        assert whole.status_code == 200 and whole.streaming_strategy is not None


def test_if_none_match_gets_304_before_any_read() -> None:
    reads = Reads()
    etag = etag_of(DIGEST)
    answer = streaming_response(get(("If-None-Match", etag), ("Range", "bytes=0-9")),
                                reads.body(), STREAM, content_type="video/mp4", sha256=DIGEST)
    assert (answer.status_code, answer.body, reads.indexes) == (304, b"", [])
    fresh = streaming_response(get(), reads.body(), STREAM, content_type="video/mp4",
                               sha256=DIGEST)
    assert ("etag", etag) in fresh.headers and ("cache-control", IMMUTABLE) in fresh.headers


# -- ranges against a reference reading of RFC 9110 -----------------------------------------

_REFERENCE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE | re.ASCII)


def _reference(value: str, size: int) -> object:
    """One byte range read with plain ints (the parser avoids converting huge numbers)."""
    match = _REFERENCE.fullmatch(value)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        return "416" if suffix == 0 or size == 0 else (max(size - suffix, 0), size - 1)
    if last_text and int(last_text) < int(first_text):
        return None
    first = int(first_text)
    if first >= size:
        return "416"
    return first, min(int(last_text) if last_text else size - 1, size - 1)


def _outcome(value: str, size: int) -> object:
    try:
        return parse_range(value, size)
    except RangeNotSatisfiable as exc:
        assert f"not satisfiable for a body of {size} bytes" in str(exc)
        return "416"


NUMBERS = st.one_of(st.integers(0, 20_000).map(str), st.just(""), st.text("0123456789",
                                                                          max_size=40))
HEADERS = st.one_of(
    st.builds(lambda unit, first, last, space: f"{unit}={space}{first}{space}-{last}",
              st.sampled_from(["bytes", "BYTES", "Bytes ", "items"]), NUMBERS, NUMBERS,
              st.sampled_from(["", " ", "\t"])),
    st.text(alphabet="bytes=-0123456789, \t", max_size=30),
    st.text(max_size=30),
)


@given(HEADERS, st.integers(0, 20_000))
def test_ranges_are_read_as_the_rfc_says(value: str, size: int) -> None:
    """The parser the SDK and the gateway share agrees with a plain reading of one
    ``bytes=`` range (RFC 9110 §14.1.2) on every header."""
    assert _outcome(value, size) == _reference(value, size)


@given(st.integers(0, 9_999), st.integers(0, 9_999), st.integers(1, 5000))
def test_chunk_slices_match_the_body(a: int, b: int, chunk_bytes: int) -> None:
    first, last = min(a, b), max(a, b)
    reads = Reads(chunk_bytes=chunk_bytes)
    assert reads.body().slice(first, last) == DATA[first:last + 1]
    assert reads.indexes == list(chunk_indexes(first, last, chunk_bytes))
    assert reads.indexes[0] * chunk_bytes <= first
    assert last < (reads.indexes[-1] + 1) * chunk_bytes


def test_a_range_with_if_range_naming_the_etag_gets_206() -> None:
    """A seek after the first range request carries the cached ETag as ``If-Range``."""
    etag = etag_of(DIGEST)
    seek = streaming_response(get(("Range", "bytes=100-199"), ("If-Range", etag)),
                              Reads().body(), STREAM, content_type="video/mp4", sha256=DIGEST)
    assert seek.status_code == 206 and seek.body == DATA[100:200]
    changed = streaming_response(get(("Range", "bytes=100-199"), ("If-Range", '"other"')),
                                 Reads().body(), STREAM, content_type="video/mp4",
                                 sha256=DIGEST)
    assert changed.status_code == 200 and changed.streaming_strategy is not None


@pytest.mark.parametrize(("if_range", "etag", "holds"), [
    (None, None, True),
    (None, '"a"', True),
    ('"a"', '"a"', True),
    (' "a" ', '"a"', True),
    ('"a"', '"b"', False),
    ('W/"a"', '"a"', False),
    ('"a"', 'W/"a"', False),
    ('"a"', None, False),
    ("Sat, 05 Dec 2026 10:00:00 GMT", '"a"', False),
])
def test_if_range_holds(if_range: str | None, etag: str | None, holds: bool) -> None:
    assert if_range_holds(if_range, etag) is holds
