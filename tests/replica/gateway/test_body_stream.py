"""Streamed bodies in the sans-IO gateway: `Gateway.open`, `BodyStream` and incremental
verification, against a canister played by a fake backend that counts its queries.

The stream queries the callback only when the next chunk is asked for; caps, rejects and
undecodable replies after the first chunk end it with `StreamAborted`; `close` stops
the queries; a certified body streams with its last byte held back until the hash
matches (v1 and v2), so a tampered body ends one byte short. `BodyHasher` hashes gzip
and deflate bodies as they stream, whatever the chunk boundaries (Hypothesis).
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.candid import FuncRef, decode, encode
from icframework.core import ErrorCode
from icframework.protocol import build_tree
from icframework.replica.errors import CanisterError
from icframework.replica.gateway import (
    VERIFICATION_HEADER,
    BodyHasher,
    Gateway,
    GatewayResponse,
    HttpRequest,
    StreamAborted,
    StreamedResponse,
    VerificationError,
    parse_certificate_expression,
    response_hash,
)
from tests.replica.gateway.test_mapping import (
    CANISTER,
    TOKEN,
    TOKEN_VALUE,
    FakeBackend,
    chunk_type,
    get,
    http_response,
)
from tests.replica.gateway.test_verification import (
    RESPONSE_ONLY,
    CertifyingBackend,
    expr_tree,
    header,
    v2_entry,
    v2_headers,
)

CHUNKS = [bytes([n]) * (1000 + n) for n in range(5)]
WHOLE = b"".join(CHUNKS)


def stream_backend(chunks: list[bytes], headers: list[tuple[str, str]] | None = None, *,
                   reject_at: int | None = None, garbage_at: int | None = None,
                   certifying: bool = False) -> FakeBackend:
    """``http_request`` answers chunk 0 and a token; ``next`` chunk ``index`` (rejecting
    or answering non-Candid at the given index)."""
    def first(arg: bytes) -> bytes:
        return http_response(body=chunks[0], headers=headers, callback=FuncRef(CANISTER, "next"),
                             token=dict(TOKEN_VALUE, index=1))

    def following(arg: bytes) -> bytes:
        (token,) = decode(arg, [TOKEN])
        index = token["index"]
        if index == reject_at:
            raise CanisterError(ErrorCode.CANISTER_CALLED_TRAP, f"chunk {index} is gone")
        if index == garbage_at:
            return b"not candid"
        more = dict(token, index=index + 1) if index + 1 < len(chunks) else None
        return encode([chunk_type(TOKEN, optional=False)], [{"body": chunks[index], "token": more}])

    backend_type = CertifyingBackend if certifying else FakeBackend
    return backend_type({"http_request": first, "next": following})


def callbacks(backend: FakeBackend) -> int:
    return backend.calls.count(("query", "next"))


def opened(backend: FakeBackend, request: HttpRequest | None = None,
           limits: dict[str, int] | None = None) -> StreamedResponse:
    answer = Gateway(backend, **(limits or {})).open(CANISTER, request or get())
    assert isinstance(answer, StreamedResponse), answer
    return answer


# -- lazy callbacks ---------------------------------------------------------------------------


def test_the_first_chunk_comes_before_any_callback_query() -> None:
    backend = stream_backend(CHUNKS)
    answer = opened(backend)
    assert answer.status == 200
    assert answer.header(VERIFICATION_HEADER) == "not-certified"
    assert answer.header("accept-ranges") == "bytes"
    assert callbacks(backend) == 0
    pieces = iter(answer.body)
    assert next(pieces) == CHUNKS[0]
    assert callbacks(backend) == 0
    for index in range(1, len(CHUNKS)):
        assert next(pieces) == CHUNKS[index]
        assert callbacks(backend) == index  # one query per chunk, when it is asked for
    assert next(pieces, None) is None
    assert answer.body.sent == answer.body.received == len(WHOLE)


def test_empty_chunks_are_skipped_not_sent() -> None:
    backend = stream_backend([b"a", b"", b"", b"bc"])
    assert list(opened(backend).body) == [b"a", b"bc"]
    assert callbacks(backend) == 3


def test_close_stops_the_queries() -> None:
    backend = stream_backend(CHUNKS)
    stream = opened(backend).body
    assert next(stream) == CHUNKS[0]
    assert next(stream) == CHUNKS[1]
    stream.close()
    assert list(stream) == []
    assert callbacks(backend) == 1


@pytest.mark.parametrize(("backend", "limits", "message", "sent"), [
    (stream_backend(CHUNKS, reject_at=2), {},
     "the streaming callback next was rejected: reject code 5 (CANISTER_ERROR), IC0503: "
     "chunk 2 is gone", len(CHUNKS[0]) + len(CHUNKS[1])),
    (stream_backend(CHUNKS, garbage_at=3), {}, "the canister's streaming callback reply is "
     "not Candid", len(b"".join(CHUNKS[:3]))),
    (stream_backend(CHUNKS), {"max_body_bytes": 3500}, "exceeds the gateway's limit of 3500 "
     "bytes", len(b"".join(CHUNKS[:3]))),
    (stream_backend(CHUNKS), {"max_streaming_calls": 2}, "needs more than 2 streaming "
     "callbacks", len(b"".join(CHUNKS[:3]))),
])
def test_a_failure_after_the_status_aborts_the_stream(
        backend: FakeBackend, limits: dict[str, int], message: str, sent: int) -> None:
    stream = opened(backend, limits=limits).body
    received = bytearray()
    with pytest.raises(StreamAborted) as raised:
        for piece in stream:
            received += piece
    assert message in str(raised.value)
    assert raised.value.cause.status == 502
    assert raised.value.sent == len(received) == sent
    assert bytes(received) == WHOLE[:sent]
    queries = callbacks(backend)
    assert list(stream) == []  # an aborted stream asks for nothing more
    assert callbacks(backend) == queries


def test_handle_collects_the_body_or_answers_the_failure() -> None:
    whole = Gateway(stream_backend(CHUNKS)).handle(CANISTER, get())
    assert (whole.status, whole.body) == (200, WHOLE)
    failed = Gateway(stream_backend(CHUNKS, reject_at=1)).handle(CANISTER, get())
    assert failed.status == 502
    assert b"the streaming callback next was rejected" in failed.body


# -- ranges -----------------------------------------------------------------------------------


def test_a_range_on_a_streamed_body_is_assembled_within_the_caps() -> None:
    backend = stream_backend(CHUNKS)
    answer = Gateway(backend).open(CANISTER, get(("Range", "bytes=1990-2010")))
    assert isinstance(answer, GatewayResponse)
    assert answer.status == 206
    assert answer.header("content-range") == f"bytes 1990-2010/{len(WHOLE)}"
    assert answer.body == WHOLE[1990:2011]
    capped = Gateway(stream_backend(CHUNKS), max_body_bytes=3000).open(
        CANISTER, get(("Range", "bytes=0-9")))
    assert isinstance(capped, GatewayResponse)
    assert capped.status == 502
    assert b"exceeds the gateway's limit of 3000 bytes" in capped.body


def test_a_range_under_a_stale_if_range_streams_the_whole_body() -> None:
    backend = stream_backend(CHUNKS, [("ETag", '"v2"')])
    answer = opened(backend, get(("Range", "bytes=0-9"), ("If-Range", '"v1"')))
    assert answer.status == 200
    assert callbacks(backend) == 0
    assert b"".join(answer.body) == WHOLE


# -- certified bodies -------------------------------------------------------------------------


def v1_headers(body: bytes) -> list[tuple[str, str]]:
    return [("IC-Certificate", header(build_tree({"http_assets": {
        "/v.mp4": hashlib.sha256(body).digest()}})))]


def test_a_v1_certified_body_streams_with_its_last_byte_held_until_it_matches() -> None:
    backend = stream_backend(CHUNKS, v1_headers(WHOLE), certifying=True)
    answer = opened(backend)
    assert answer.header(VERIFICATION_HEADER) == "verified-v1"
    pieces = list(answer.body)
    assert pieces[0] == CHUNKS[0][:-1]  # the first byte still comes after one query
    assert pieces[-1][-1:] == CHUNKS[-1][-1:]
    assert b"".join(pieces) == WHOLE
    assert callbacks(backend) == len(CHUNKS) - 1


def test_a_tampered_v1_body_is_cut_before_its_last_byte() -> None:
    certified = WHOLE[:-1] + b"X"
    backend = stream_backend(CHUNKS, v1_headers(certified), certifying=True)
    answer = opened(backend)  # the certificate and the tree are fine: the status goes out
    assert answer.status == 200
    received = bytearray()
    with pytest.raises(StreamAborted) as raised:
        for piece in answer.body:
            received += piece
    assert isinstance(raised.value.cause, VerificationError)
    assert "the response was altered" in str(raised.value)
    assert len(received) < len(WHOLE) and bytes(received) == WHOLE[:len(received)]
    handled = Gateway(stream_backend(CHUNKS, v1_headers(certified), certifying=True)).handle(
        CANISTER, get())
    assert handled.status == 503
    assert handled.header(VERIFICATION_HEADER) == "failed"


def test_a_bad_certificate_is_refused_before_any_callback_query() -> None:
    headers = [("IC-Certificate", header(build_tree({"http_assets": {"/other": b"\0" * 32}})))]
    backend = stream_backend(CHUNKS, headers, certifying=True)
    answer = Gateway(backend).open(CANISTER, get())
    assert isinstance(answer, GatewayResponse)
    assert answer.status == 503
    assert b"no http_assets entry for '/v.mp4'" in answer.body
    assert callbacks(backend) == 0


def v2_streamed_headers(body: bytes) -> list[tuple[str, str]]:
    rest = [("IC-CertificateExpression", RESPONSE_ONLY), ("Content-Type", "video/mp4")]
    digest = response_hash(200, rest, body, parse_certificate_expression(RESPONSE_ONLY))
    path = ["http_expr", "v.mp4", "<$>"]
    tree = expr_tree({tuple(path): v2_entry(RESPONSE_ONLY, b"", digest)})
    return v2_headers(tree, path, RESPONSE_ONLY, ("Content-Type", "video/mp4"))


def test_a_v2_certified_body_streams_and_a_tampered_one_is_cut() -> None:
    good = opened(stream_backend(CHUNKS, v2_streamed_headers(WHOLE), certifying=True))
    assert good.header(VERIFICATION_HEADER) == "verified-v2"
    assert b"".join(good.body) == WHOLE
    bad = opened(stream_backend(CHUNKS, v2_streamed_headers(WHOLE[::-1]), certifying=True))
    received = bytearray()
    with pytest.raises(StreamAborted, match="does not hold this request/response pair"):
        for piece in bad.body:
            received += piece
    # The last chunk is checked before any of it is sent; the byte before it was held.
    assert len(received) == len(WHOLE) - len(CHUNKS[-1]) - 1


# -- hashing as the body streams ----------------------------------------------------------------


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.binary(max_size=5000), st.lists(st.integers(min_value=0), max_size=8),
       st.sampled_from(["identity", "gzip", "deflate"]), st.integers(1, 3))
def test_body_hasher_matches_the_decoded_body(data: bytes, cuts: list[int], coding: str,
                                              members: int) -> None:
    if coding == "gzip":  # several members with zero padding, as gzip.decompress reads
        encoded = b"".join(gzip.compress(data) + b"\0" * n for n in range(members))
        decoded = data * members
    else:
        encoded = zlib.compress(data) if coding == "deflate" else data
        decoded = data
    hasher = BodyHasher(coding)
    for part in split(encoded, cuts):
        hasher.update(part)
    assert hasher.digest() == hashlib.sha256(decoded).digest()


@pytest.mark.parametrize(("coding", "body", "message"), [
    ("gzip", gzip.compress(b"x" * 1000)[:-3], "ends early"),
    ("deflate", zlib.compress(b"x" * 1000)[:-3], "ends early"),
    ("gzip", b"not gzip", "not valid gzip data"),
    ("gzip", gzip.compress(b"a") + b"trailing", "not valid gzip data"),
])
def test_body_hasher_refuses_a_broken_encoding(coding: str, body: bytes, message: str) -> None:
    hasher = BodyHasher(coding)
    with pytest.raises(VerificationError, match=message):
        hasher.update(body)
        hasher.digest()


def test_a_gzip_bomb_is_hashed_in_bounded_steps() -> None:
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))
    hasher = BodyHasher("gzip")
    hasher.update(bomb)
    assert hasher.digest() == hashlib.sha256(b"\0" * (64 * 1024 * 1024)).digest()
