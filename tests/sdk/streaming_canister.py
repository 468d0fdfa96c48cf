"""A canister that keeps files as chunks in a stable map and serves them over HTTP,
streaming bodies larger than one chunk and answering Range requests with 206 itself."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from icframework.sdk import StableBTreeMap, nat32, nat64, query, update
from icframework.sdk.http import (
    ChunkedBody,
    HttpRequest,
    HttpResponse,
    StreamingCallbackHttpResponse,
    StreamingToken,
    streaming_chunk,
    streaming_response,
    text_response,
    url_path,
)

CHUNK_BYTES = 2 * 1024 * 1024


@dataclass
class StoredFile:
    size: nat64
    content_type: str
    sha256: bytes


files = StableBTreeMap[str, StoredFile]("files")
chunks = StableBTreeMap[tuple[str, nat32], bytes]("chunks")


@update
def put_chunk(name: str, index: nat32, data: bytes) -> None:
    chunks[(name, index)] = data


@update
def commit(name: str, size: nat64, content_type: str) -> bytes:
    """Record ``name`` as complete once its chunks hold ``size`` bytes; its SHA-256."""
    digest = hashlib.sha256()
    for index in range(-(-size // CHUNK_BYTES)):
        digest.update(chunks[(name, index)])
    files[name] = StoredFile(size, content_type, digest.digest())
    return digest.digest()


def body_of(name: str, stored: StoredFile) -> ChunkedBody:
    return ChunkedBody(name, stored.size, CHUNK_BYTES, lambda index: chunks[(name, index)])


@query
def http_request(request: HttpRequest) -> HttpResponse:
    name = url_path(request).removeprefix("/files/")
    stored = files.get(name)
    if stored is None:
        return text_response(404, f"no file {name!r}")
    return streaming_response(request, body_of(name, stored), "http_stream",
                              content_type=stored.content_type, sha256=stored.sha256)


@query
def http_stream(token: StreamingToken) -> StreamingCallbackHttpResponse:
    stored = files.get(token.key)
    if stored is None:
        raise ValueError(f"no file {token.key!r}")
    return streaming_chunk(token, body_of(token.key, stored))
