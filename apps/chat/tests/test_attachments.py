"""Attachments of the chat canister in plain CPython: chunked upload, the checks, sending,
serving with ``http_request`` (whole bodies streamed, Range, ETag) and erasure."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from icframework.sdk import LocalCanister, Reject
from icframework.sdk.http import HttpRequest

from . import test_canister as base
from .test_canister import APP, As, drain, group

alice, bob, c, carol, mod = base.alice, base.bob, base.c, base.carol, base.mod  # fixtures

limits = APP.limits
attachments_mod = APP.attachments
CHUNK = limits.ATTACHMENT_CHUNK_BYTES
PNG = b"\x89PNG\r\n\x1a\n" + bytes((n * 7 + 3) % 251 for n in range(2 * CHUNK + 12_345))


def upload(who: As, room_id: int, data: bytes, name: str = "pic.png",
           content_type: str = "image/png") -> Any:
    """Begin, send every chunk (last first, to show order does not matter), commit."""
    ticket = who.begin_attachment(room_id, name, content_type, len(data))
    assert ticket.chunk_bytes == CHUNK
    assert ticket.chunks == -(-len(data) // CHUNK)
    received = 0
    for index in reversed(range(ticket.chunks)):
        received = who.put_attachment_chunk(ticket.id, index,
                                            data[index * CHUNK:(index + 1) * CHUNK])
    assert received == len(data)
    return who.commit_attachment(ticket.id)


def get(c: LocalCanister, path: str, *headers: tuple[str, str], method: str = "GET") -> Any:
    return c.query("http_request", HttpRequest(method, path, list(headers), b""))


def whole_body(c: LocalCanister, path: str) -> bytes:
    """The body as the gateway assembles it: the first chunk, then the callback's."""
    answer = get(c, path)
    assert answer.status_code == 200
    body = answer.body
    strategy = answer.streaming_strategy
    token = None if strategy is None else strategy.value.token
    while token is not None:
        part = c.query("http_request_streaming_callback", token)
        body += part.body
        token = part.token
    return body


def test_an_image_goes_up_in_chunks_and_is_served_with_range_and_etag(
        c: LocalCanister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    view = upload(alice, room, PNG)
    assert (view.kind.value, view.name, view.content_type, view.size) == (
        "image", "pic.png", "image/png", len(PNG))
    assert view.sha256 == hashlib.sha256(PNG).digest()
    assert get(c, view.path).status_code == 404  # not sent yet: nobody can read it

    sent = alice.send_attachments(room, "", None, [view.id])
    assert sent.text == "📎 pic.png"
    assert [a.id for a in sent.attachments] == [view.id]
    events = drain(c)
    assert [e.value.attachments[0].path for _, e in events if e.tag == "message"] == [view.path]
    assert [a.path for a in bob.history(room, None, 10).messages[-1].attachments] == [view.path]

    assert whole_body(c, view.path) == PNG
    first = get(c, view.path)
    headers = dict(first.headers)
    assert headers["content-type"] == "image/png"
    assert headers["accept-ranges"] == "bytes"
    assert headers["content-disposition"].startswith('inline; filename="pic.png"')
    assert "sandbox" in headers["content-security-policy"]

    part = get(c, view.path, ("Range", f"bytes={CHUNK - 10}-{CHUNK + 9}"))
    assert part.status_code == 206
    assert part.body == PNG[CHUNK - 10:CHUNK + 10]
    assert dict(part.headers)["content-range"] == f"bytes {CHUNK - 10}-{CHUNK + 9}/{len(PNG)}"
    tail = get(c, view.path, ("Range", "bytes=-100"))
    assert (tail.status_code, tail.body) == (206, PNG[-100:])
    assert get(c, view.path, ("Range", f"bytes={len(PNG)}-")).status_code == 416
    cached = get(c, view.path, ("If-None-Match", headers["etag"]))
    assert (cached.status_code, cached.body) == (304, b"")
    assert get(c, view.path, method="HEAD").body == b""
    assert get(c, view.path, method="POST").status_code == 405
    wrong_key = view.path[:-4] + "0000"
    assert get(c, wrong_key).status_code == 404


def test_a_file_is_served_for_download_whatever_type_it_was_announced_as(
        c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    data = b"<html><script>alert(1)</script></html>"
    view = upload(alice, room, data, name="../../evil\x07.html", content_type="text/html")
    assert (view.kind.value, view.content_type, view.name) == (
        "file", "application/octet-stream", "evil.html")
    alice.send_attachments(room, "the page", None, [view.id])
    answer = get(c, view.path)
    headers = dict(answer.headers)
    assert answer.body == data
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"].startswith('attachment; filename="evil.html"')
    assert headers["x-content-type-options"] == "nosniff"


def test_bytes_that_are_not_the_announced_media_type_are_refused(
        c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    ticket = alice.begin_attachment(room, "clip.mp4", "video/mp4", 100)
    alice.put_attachment_chunk(ticket.id, 0, b"MZ" + bytes(98))
    with pytest.raises(Reject, match=r"is not a video/mp4 file: its first bytes are 4d 5a"):
        alice.commit_attachment(ticket.id)
    with pytest.raises(Reject, match="is still uploading"):
        alice.send_attachments(room, "", None, [ticket.id])
    alice.cancel_attachment(ticket.id)
    assert ticket.id not in attachments_mod.meta
    assert (ticket.id, 0) not in attachments_mod.uploads.chunks


def test_limits_and_checks_name_the_problem(c: LocalCanister, alice: As, bob: As,
                                            carol: As) -> None:
    room = group(c, alice, bob)
    other = group(c, alice, name="other")
    too_big = limits.MAX_ATTACHMENT_BYTES["image"] + 1
    with pytest.raises(Reject, match=r"an image attachment is 1 to 10485760 bytes"):
        alice.begin_attachment(room, "big.png", "image/png", too_big)
    with pytest.raises(Reject, match="a file name is 1–200 characters"):
        alice.begin_attachment(room, "dir/", "image/png", 10)
    with pytest.raises(Reject, match=f"you are not a member of room {room}"):
        carol.begin_attachment(room, "a.png", "image/png", 10)
    ticket = alice.begin_attachment(room, "a.png", "image/png", CHUNK + 1)
    with pytest.raises(Reject, match=f"chunk 0 of upload {ticket.id} must be {CHUNK} bytes"):
        alice.put_attachment_chunk(ticket.id, 0, b"\x89PNG")
    with pytest.raises(Reject, match=r"no attachment upload \d+ of yours"):
        bob.put_attachment_chunk(ticket.id, 0, bytes(CHUNK))
    with pytest.raises(Reject, match="send the missing chunks"):
        alice.commit_attachment(ticket.id)
    with pytest.raises(Reject, match="is still uploading: commit it first"):
        alice.send_attachments(room, "", None, [ticket.id])
    done = upload(alice, room, PNG[:5000])
    with pytest.raises(Reject, match=f"there is no attachment {done.id} of yours"):
        bob.send_attachments(room, "", None, [done.id])
    with pytest.raises(Reject, match=f"was uploaded for room {room}, not room {other}"):
        alice.send_attachments(other, "", None, [done.id])
    with pytest.raises(Reject, match="listed twice"):
        alice.send_attachments(room, "", None, [done.id, done.id])
    alice.send_attachments(room, "", None, [done.id])
    with pytest.raises(Reject, match="was sent already"):
        alice.send_attachments(room, "", None, [done.id])
    with pytest.raises(Reject, match="was sent: delete its message instead"):
        alice.cancel_attachment(done.id)


def test_a_rejected_send_ties_nothing(c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    view = upload(alice, room, PNG[:3000])
    with pytest.raises(Reject, match="there is no message 99"):
        alice.send_attachments(room, "", 99, [view.id])
    assert attachments_mod.meta[view.id].message_id is None
    assert alice.send_attachments(room, "caption", None, [view.id]).text == "caption"


def test_deleting_the_message_erases_its_attachments(c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    view = upload(alice, room, PNG)
    sent = alice.send_attachments(room, "", None, [view.id])
    assert (view.id, 2) in attachments_mod.uploads.chunks
    alice.delete_message(room, sent.id)
    assert view.id not in attachments_mod.meta
    assert not [k for k, _ in attachments_mod.uploads.chunks.range((view.id, 0), (view.id + 1, 0))]
    assert get(c, view.path).status_code == 404
    assert alice.message(room, sent.id).attachments == []


def test_attachments_not_sent_in_time_are_dropped_by_the_timer(
        c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    kept = upload(alice, room, PNG[:2000])
    alice.send_attachments(room, "", None, [kept.id])
    forgotten = upload(alice, room, PNG[:2000])
    half = alice.begin_attachment(room, "half.png", "image/png", CHUNK + 5)
    alice.put_attachment_chunk(half.id, 0, PNG[:CHUNK])
    assert c.advance_time(limits.UNSENT_ATTACHMENT_TTL_NS) >= 1
    assert forgotten.id not in attachments_mod.meta
    assert half.id not in attachments_mod.meta
    assert (half.id, 0) not in attachments_mod.uploads.chunks
    assert kept.id in attachments_mod.meta
    assert whole_body(c, kept.path) == PNG[:2000]
    with pytest.raises(Reject, match=f"there is no attachment {forgotten.id} of yours"):
        alice.send_attachments(room, "", None, [forgotten.id])


def test_one_sweep_timer_serves_every_unsent_attachment(c: LocalCanister, alice: As) -> None:
    room = group(c, alice)
    first = upload(alice, room, PNG[:1000])
    c.advance_time(limits.UNSENT_ATTACHMENT_TTL_NS // 2)
    second = upload(alice, room, PNG[:1000])
    assert c.advance_time(limits.UNSENT_ATTACHMENT_TTL_NS // 2) == 1
    assert first.id not in attachments_mod.meta and second.id in attachments_mod.meta
    assert c.advance_time(limits.UNSENT_ATTACHMENT_TTL_NS // 2) == 1  # armed again
    assert second.id not in attachments_mod.meta
    assert attachments_mod.sweep_armed.get() == 0
