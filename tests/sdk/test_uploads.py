"""ChunkedUploads: the chunk arithmetic, signature sniffing and the upload lifecycle."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.sdk import ChunkedUploads, Principal, Reject, StableBTreeMap, nat32, nat64
from icframework.sdk.uploads import IMAGE_SIGNATURES, Upload, chunk_count, chunk_length, sniff

ALICE = Principal(b"\x01" * 29)
BOB = Principal(b"\x02" * 29)
PNG = b"\x89PNG\r\n\x1a\n"


@given(st.integers(1, 2**32 - 1), st.integers(1, 2**20), st.integers(0, 2**32))
def test_chunks_carry_the_size_exactly(size: int, chunk_bytes: int, pick: int) -> None:
    count = chunk_count(size, chunk_bytes)
    assert (count - 1) * chunk_bytes < size <= count * chunk_bytes
    last = chunk_length(size, count - 1, chunk_bytes)
    assert 1 <= last <= chunk_bytes
    if count > 1:  # every other chunk is full: together they carry the size
        assert chunk_length(size, pick % (count - 1), chunk_bytes) == chunk_bytes
    assert (count - 1) * chunk_bytes + last == size


def test_chunk_count_edges() -> None:
    assert [chunk_count(n, 4) for n in (0, 1, 4, 5, 8, 9)] == [0, 1, 1, 2, 2, 3]


def test_sniff() -> None:
    assert sniff("image/png", PNG + b"rest")
    assert sniff("image/gif", b"GIF87a...") and sniff("image/gif", b"GIF89a...")
    assert not sniff("image/jpeg", PNG)
    assert not sniff("text/html", b"<html>")
    assert sniff("text/csv", b"a,b", {"text/csv": (b"",)})
    assert set(IMAGE_SIGNATURES) == {"image/png", "image/jpeg", "image/gif", "image/webp"}


def upload_all(store: ChunkedUploads, upload_id: int, owner: Principal, data: bytes) -> int:
    received = 0
    for n, start in enumerate(range(0, len(data), store.chunk_bytes)):
        received = store.receive(upload_id, owner, n, data[start:start + store.chunk_bytes])
    return received


@given(st.binary(min_size=1, max_size=64), st.integers(1, 9), st.randoms())
def test_chunks_in_any_order_commit_to_the_file(body: bytes, chunk_bytes: int,
                                                rnd: object) -> None:
    data = PNG + body
    store = ChunkedUploads("t.", chunk_bytes)
    store.begin(1, ALICE, "image/png", len(data))
    order = list(range(chunk_count(len(data), chunk_bytes)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    for n in order + order[:1]:  # a chunk sent twice counts once
        start = n * chunk_bytes
        store.receive(1, ALICE, n, data[start:start + chunk_bytes])
    upload, sha256 = store.commit(1, ALICE)
    assert (upload.size, upload.received, upload.content_type) == (len(data), len(data),
                                                                   "image/png")
    assert sha256 == hashlib.sha256(data).digest()
    assert store.content(1, upload.chunks) == data
    assert 1 not in store.uploads
    store.delete(1, upload.chunks)
    assert len(store.chunks) == 0


def test_the_checks_and_their_messages() -> None:
    store = ChunkedUploads("t.", 4)
    store.begin(7, ALICE, "image/png", 10)  # chunks of 4, 4, 2
    with pytest.raises(Reject, match=r"^no upload 7 of .* in progress$"):
        store.receive(7, BOB, 0, PNG[:4])
    with pytest.raises(Reject, match=r"^upload 7 has chunks 0 to 2, got 3$"):
        store.receive(7, ALICE, 3, b"xx")
    with pytest.raises(Reject, match=r"^chunk 2 of upload 7 must be 2 bytes, got 4$"):
        store.receive(7, ALICE, 2, b"xxxx")
    with pytest.raises(Reject, match=r"^chunk 0 of upload 7 must be 4 bytes, got 2$"):
        store.receive(7, ALICE, 0, b"xx")
    assert store.receive(7, ALICE, 2, b"xx") == 2
    with pytest.raises(Reject, match=r"^upload 7 has 2 of 10 bytes$"):
        store.commit(7, ALICE)
    assert upload_all(store, 7, ALICE, b"GIF89a....") == 10
    with pytest.raises(Reject, match=r"^upload 7 is not a image/png file$"):
        store.commit(7, ALICE)
    assert 7 not in store.uploads and len(store.chunks) == 0  # a wrong file is dropped


def test_messages_are_the_canisters() -> None:
    store = ChunkedUploads("t.", 4, not_found="no upload {id}: begin first",
                           incomplete="{received}/{size}: send the rest",
                           wrong_type="{id} is no {content_type}")
    with pytest.raises(Reject, match=r"^no upload 1: begin first$"):
        store.commit(1, ALICE)
    store.begin(1, ALICE, "image/png", 5)
    with pytest.raises(Reject, match=r"^0/5: send the rest$"):
        store.commit(1, ALICE)
    upload_all(store, 1, ALICE, b"hello")
    with pytest.raises(Reject, match=r"^1 is no image/png$"):
        store.commit(1, ALICE)


def test_discard_leaves_stored_files_alone() -> None:
    store = ChunkedUploads("t.", 4)
    store.begin(1, ALICE, "image/png", 8)
    upload_all(store, 1, ALICE, PNG)
    upload, _ = store.commit(1, ALICE)
    store.discard(1)  # committed: not an upload any more
    assert store.content(1, upload.chunks) == PNG
    store.begin(2, ALICE, "image/png", 8)
    store.receive(2, ALICE, 1, PNG[4:])
    store.discard(2)
    assert 2 not in store.uploads and (2, 1) not in store.chunks


def test_empty_uploads_and_chunks_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 byte"):
        ChunkedUploads("t.", 4).begin(1, ALICE, "image/png", 0)
    with pytest.raises(ValueError, match="chunk_bytes is at least 1"):
        ChunkedUploads("t.", 0)


class Kind(Enum):
    avatar = "avatar"


@dataclass
class WiderUpload:
    """An upload record a canister stored before, with a field of its own."""

    owner: Principal
    kind: Kind
    content_type: str
    size: nat32
    received: nat32
    chunks: nat32
    started_at: nat64


def test_records_with_more_fields_still_load() -> None:
    StableBTreeMap[nat64, WiderUpload]("uploads")[3] = WiderUpload(
        ALICE, Kind.avatar, "image/png", 8, 4, 2, 99)
    store = ChunkedUploads("", 4)
    assert store.in_progress(3, ALICE) == Upload(ALICE, "image/png", 8, 4, 2, 99)
    assert store.receive(3, ALICE, 1, PNG[4:]) == 8
