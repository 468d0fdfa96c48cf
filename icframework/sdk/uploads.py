"""Chunked uploads into stable storage: the bookkeeping of files larger than one message.

How it works: a client announces a file (`ChunkedUploads.begin`: owner, content type,
size in bytes), sends it as chunks of exactly ``chunk_bytes`` bytes but the last,
which is shorter (`receive`, any order, a chunk sent again replaces itself), and
`commit` s it once every byte is in: the first bytes must carry the signature of the
announced content type (`sniff`), and the SHA-256 of the whole file is computed. The
chunks then stay where they are, as the stored file, until `delete`.

State lives in two stable maps named after a prefix: ``<prefix>uploads[id]`` → `Upload`
while in progress, ``<prefix>chunks[(id, n)]`` → bytes. The canister chooses the ids
(its own counter) and every check besides the chunk arithmetic: who may upload,
which types, how large. Messages that name the upload (unknown, incomplete, wrong
type) are templates the canister may reword; a broken check raises `Reject`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from icframework.core import Principal
from icframework.sdk import ic
from icframework.sdk.errors import Reject
from icframework.sdk.stable import StableBTreeMap
from icframework.sdk.types import nat32, nat64

__all__ = [
    "IMAGE_SIGNATURES",
    "ChunkedUploads",
    "Upload",
    "chunk_count",
    "chunk_length",
    "sniff",
]

IMAGE_SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
"""The first bytes of each image type browsers show: content type → accepted prefixes."""


def chunk_count(size: int, chunk_bytes: int) -> int:
    """How many chunks of at most ``chunk_bytes`` carry ``size`` bytes (0 for 0)."""
    return -(-size // chunk_bytes)


def chunk_length(size: int, index: int, chunk_bytes: int) -> int:
    """The length in bytes of chunk ``index`` (< `chunk_count`) of a ``size``-byte file:
    ``chunk_bytes``, but the last chunk carries the rest (1 to ``chunk_bytes``)."""
    if index == chunk_count(size, chunk_bytes) - 1:
        return size - index * chunk_bytes
    return chunk_bytes


def sniff(content_type: str, head: bytes,
          signatures: dict[str, tuple[bytes, ...]] = IMAGE_SIGNATURES) -> bool:
    """Whether ``head`` (a file's first bytes) starts with a signature of ``content_type``
    (False for a type not in ``signatures``)."""
    return any(head.startswith(sign) for sign in signatures.get(content_type, ()))


@dataclass
class Upload:
    """An upload in progress (sizes in bytes; ``started_at`` in ns since the epoch)."""

    owner: Principal
    content_type: str
    size: nat32
    received: nat32
    chunks: nat32
    started_at: nat64


class ChunkedUploads:
    """Uploads in progress and the stored files they become, under ``prefix``.

    ``signatures`` are the content types `commit` accepts (see `sniff`). The message
    templates may use ``{id}``, ``{owner}`` (`not_found`), ``{received}``, ``{size}``
    (`incomplete`) and ``{content_type}`` (`wrong_type`).
    """

    def __init__(
        self,
        prefix: str,
        chunk_bytes: int,
        *,
        signatures: dict[str, tuple[bytes, ...]] = IMAGE_SIGNATURES,
        not_found: str = "no upload {id} of {owner} in progress",
        incomplete: str = "upload {id} has {received} of {size} bytes",
        wrong_type: str = "upload {id} is not a {content_type} file",
    ) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes is at least 1, got {chunk_bytes}")
        self.chunk_bytes = chunk_bytes
        self.signatures = signatures
        self.not_found = not_found
        self.incomplete = incomplete
        self.wrong_type = wrong_type
        self.uploads = StableBTreeMap[nat64, Upload](prefix + "uploads")
        self.chunks = StableBTreeMap[tuple[nat64, nat32], bytes](prefix + "chunks")

    def begin(self, upload_id: int, owner: Principal, content_type: str, size: int) -> Upload:
        """Open upload ``upload_id`` of ``size`` (≥ 1) bytes; the canister has checked
        the type and size against its limits."""
        if size < 1:
            raise ValueError(f"an upload has at least 1 byte, got {size}")
        upload = Upload(owner, content_type, size, 0, chunk_count(size, self.chunk_bytes),
                        ic.time())
        self.uploads[upload_id] = upload
        return upload

    def in_progress(self, upload_id: int, owner: Principal) -> Upload:
        """``owner``'s upload ``upload_id``; `Reject` (`not_found`) if there is none."""
        upload = self.uploads.get(upload_id)
        if upload is None or upload.owner != owner:
            raise Reject(self.not_found.format(id=upload_id, owner=owner))
        return upload

    def receive(self, upload_id: int, owner: Principal, index: int, data: bytes) -> int:
        """Store chunk ``index`` of ``owner``'s upload; returns the bytes received so far.
        `Reject` for an unknown upload, an index past the end or a wrong length."""
        upload = self.in_progress(upload_id, owner)
        if index >= upload.chunks:
            raise Reject(f"upload {upload_id} has chunks 0 to {upload.chunks - 1}, "
                         f"got {index}")
        expected = chunk_length(upload.size, index, self.chunk_bytes)
        if len(data) != expected:
            raise Reject(f"chunk {index} of upload {upload_id} must be {expected} bytes, "
                         f"got {len(data)}")
        if (upload_id, index) not in self.chunks:
            upload.received += len(data)
            self.uploads[upload_id] = upload
        self.chunks[(upload_id, index)] = data
        return upload.received

    def commit(self, upload_id: int, owner: Principal) -> tuple[Upload, bytes]:
        """Finish ``owner``'s complete upload: returns it and its SHA-256; its chunks
        become the stored file. `Reject` if a chunk is missing, or if the bytes do not
        start with a signature of the announced type (the upload is then discarded)."""
        upload = self.in_progress(upload_id, owner)
        if upload.received != upload.size:
            raise Reject(self.incomplete.format(id=upload_id, received=upload.received,
                                                size=upload.size))
        if not sniff(upload.content_type, self._head(upload_id, upload.chunks), self.signatures):
            self.discard(upload_id)
            raise Reject(self.wrong_type.format(id=upload_id,
                                                content_type=upload.content_type))
        digest = hashlib.sha256()
        for n in range(upload.chunks):
            digest.update(self.chunks[(upload_id, n)])
        self.uploads.remove(upload_id)
        return upload, digest.digest()

    def _head(self, upload_id: int, chunks: int, size: int = 16) -> bytes:
        """The first ``size`` bytes of an upload (more than one chunk if they are small)."""
        head = b""
        for n in range(chunks):
            if len(head) >= size:
                break
            head += self.chunks[(upload_id, n)]
        return head[:size]

    def discard(self, upload_id: int) -> None:
        """Drop upload ``upload_id`` in progress and its chunks (nothing if none)."""
        upload = self.uploads.remove(upload_id)
        if upload is not None:
            self.delete(upload_id, upload.chunks)

    def content(self, upload_id: int, chunks: int) -> bytes:
        """The stored file of committed upload ``upload_id``, ``chunks`` chunks long."""
        return b"".join(self.chunks[(upload_id, n)] for n in range(chunks))

    def delete(self, upload_id: int, chunks: int) -> None:
        """Remove the ``chunks`` chunks of a stored file (those present)."""
        for n in range(chunks):
            self.chunks.remove((upload_id, n))
