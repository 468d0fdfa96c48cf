"""Sealed attachments of the chat canister in plain CPython: a file the page encrypted end
to end for a direct room goes up, is sent and is served back byte for byte as an opaque
download any origin may fetch; the canister skips the media signature check for it but
still enforces sizes, and refuses it outside direct rooms.

The test seals like the page (attachments.js): each stored chunk is a fresh 12-byte nonce
followed by the AES-GCM ciphertext and tag of `SEALED_PLAIN_CHUNK_BYTES` of the file,
with the attachment id, the chunk's index and the chunk count as associated data.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from icframework.sdk import LocalCanister, Reject

from . import test_canister as base
from .test_attachments import CHUNK, PNG, attachments_mod, get, group, upload, whole_body
from .test_canister import As

alice, bob, c = base.alice, base.bob, base.c  # fixtures

PLAIN = attachments_mod.SEALED_PLAIN_CHUNK_BYTES
MARKER = b"sealed-marker-7391"
IMAGE = PNG[:PLAIN + 5_000] + MARKER


def associated(attachment_id: int, index: int, chunks: int) -> bytes:
    return f"icframework.chat.dm/v1 file {attachment_id} {index}/{chunks}".encode()


def sealed_size(size: int) -> int:
    return size + attachments_mod.SEALED_OVERHEAD_BYTES * -(-size // PLAIN)


def upload_sealed(who: As, room_id: int, data: bytes, key: bytes, name: str = "pic.png",
                  content_type: str = "image/png") -> Any:
    ticket = who.begin_sealed_attachment(room_id, name, content_type, sealed_size(len(data)))
    assert ticket.chunk_bytes == CHUNK
    for index in range(ticket.chunks):
        nonce = os.urandom(12)
        piece = data[index * PLAIN:(index + 1) * PLAIN]
        who.put_attachment_chunk(ticket.id, index, nonce + AESGCM(key).encrypt(
            nonce, piece, associated(ticket.id, index, ticket.chunks)))
    return who.commit_attachment(ticket.id)


def open_sealed(attachment_id: int, body: bytes, key: bytes) -> bytes:
    chunks = -(-len(body) // CHUNK)
    out = b""
    for index in range(chunks):
        chunk = body[index * CHUNK:(index + 1) * CHUNK]
        out += AESGCM(key).decrypt(chunk[:12], chunk[12:], associated(attachment_id, index,
                                                                      chunks))
    return out


def direct(alice: As, bob: As) -> int:
    room_id: int = alice.send_direct("bob", "hi").room_id
    return room_id


def test_a_sealed_image_is_stored_and_served_as_opaque_ciphertext(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = direct(alice, bob)
    key = AESGCM.generate_key(bit_length=256)
    view = upload_sealed(alice, room, IMAGE, key)
    assert (view.kind.value, view.content_type, view.sealed) == ("image", "image/png", True)
    assert view.size == sealed_size(len(IMAGE)) == len(IMAGE) + 2 * 28
    sent = alice.send_attachments(room, "", None, [view.id])
    assert [a.sealed for a in bob.history(room, None, 10).messages[-1].attachments] == [True]
    assert sent.attachments[0].path == view.path

    body = whole_body(c, view.path)
    assert MARKER not in body and body[12:20] != IMAGE[:8]
    stored = b"".join(v for _, v in attachments_mod.uploads.chunks.range(
        (view.id, 0), (view.id + 1, 0)))
    assert stored == body and MARKER not in stored
    assert open_sealed(view.id, body, key) == IMAGE  # what bob's page does with the room key
    headers = dict(get(c, view.path).headers)
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith('attachment; filename="pic.png"')
    assert headers["access-control-allow-origin"] == "*"


def test_a_plain_attachment_in_a_direct_room_stays_checked_and_same_origin(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = direct(alice, bob)
    view = upload(alice, room, PNG[:3000])
    assert view.sealed is False
    alice.send_attachments(room, "", None, [view.id])
    headers = dict(get(c, view.path).headers)
    assert headers["content-type"] == "image/png"
    assert "access-control-allow-origin" not in headers


def test_sealed_attachments_are_for_direct_rooms_and_keep_the_size_limits(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = direct(alice, bob)
    with pytest.raises(Reject, match="end-to-end encryption is for direct rooms"):
        alice.begin_sealed_attachment(group(c, alice, bob), "a.png", "image/png", 100)
    with pytest.raises(Reject, match=r"a video attachment is 1 to 20971520 bytes \(20 MiB\)"):
        alice.begin_sealed_attachment(room, "clip.mp4", "video/mp4", 20 * 1024 * 1024 + 1)
    with pytest.raises(Reject, match=r"an image attachment is 1 to 10485760 bytes"):
        alice.begin_sealed_attachment(room, "big.png", "image/png", 10 * 1024 * 1024 + 1)
    # no signature check: the canister cannot read the bytes
    ticket = alice.begin_sealed_attachment(room, "clip.mp4", "video/mp4", 100)
    alice.put_attachment_chunk(ticket.id, 0, b"MZ" + bytes(98))
    assert alice.commit_attachment(ticket.id).sealed is True


def test_deleting_a_sealed_attachments_message_forgets_it(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = direct(alice, bob)
    view = upload_sealed(alice, room, IMAGE[:500], AESGCM.generate_key(bit_length=256))
    sent = alice.send_attachments(room, "", None, [view.id])
    alice.delete_message(room, sent.id)
    assert view.id not in attachments_mod.sealed
    assert get(c, view.path).status_code == 404
