"""Attachments: chunked uploads of images, video, audio and files, and their stored bytes.

How it works: a member announces a file for a room (`begin_attachment`: name, content
type, size), sends it in chunks of `ATTACHMENT_CHUNK_BYTES` (`put_attachment_chunk`, any
order; `icframework.sdk.ChunkedUploads` keeps the bookkeeping) and commits it
(`commit_attachment`): the first bytes must carry the signature of the announced type
(`sniff`) for images, video and audio, which the page then shows inline (a
refused upload stays until cancelled or swept); every other
type is a ``file``, stored and served as ``application/octet-stream`` for download.
`compose.send_attachments` then ties committed attachments to the message that carries
them (`claim`); one not sent within `UNSENT_ATTACHMENT_TTL_NS` is dropped by a timer
(`sweep_unsent`). When its message is deleted or expires, an attachment's bytes go with
it (`drop_message`). `gateway` serves the bytes at `AttachmentView.path`.

Sealed attachments (direct rooms, `begin_sealed_attachment`): the page encrypts the file
itself with the room's end-to-end key (docs/chat.md "Sealed attachments": each stored
chunk is a 12-byte nonce, the AES-GCM ciphertext of `SEALED_PLAIN_CHUNK_BYTES` of the
file and its 16-byte tag). The canister cannot see the bytes, so it skips the signature
check; it still enforces the sizes, on the ciphertext, and a lower ceiling for every
kind (`MAX_SEALED_ATTACHMENT_BYTES`), because the page holds a sealed file whole in
memory to decrypt it.

State: ``att_meta[id]`` → `Attachment`; its bytes in ``att_chunks`` (`uploads`);
``att_sealed[id]`` for the sealed ones;
``att_by_message[(room, message, id)]``; ``att_unsent[(owner, id)]`` and
``att_unsent_due[(deadline, id)]`` for attachments not sent yet, swept by one timer
armed for the earliest deadline (``att_sweep_armed``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from icframework.sdk import (
    ChunkedUploads,
    Principal,
    Reject,
    StableBTreeMap,
    StableCell,
    ic,
    nat32,
    nat64,
    set_timer,
    update,
)

from .access import membership
from .limits import (
    ATTACHMENT_CHUNK_BYTES,
    ATTACHMENT_RATE,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS_PER_MESSAGE,
    MAX_FILE_NAME_CHARS,
    MAX_OPEN_ATTACHMENTS,
    UNSENT_ATTACHMENT_TTL_NS,
)
from .media_records import AttachmentKind, AttachmentTicket, AttachmentView
from .ratelimit import check
from .records import RoomKind
from .store import MAX_ID, entropy

FILE_TYPE = "application/octet-stream"
"""How a ``file`` attachment is stored and served, whatever type the browser named."""

INLINE_TYPES: dict[str, AttachmentKind] = {
    "image/png": AttachmentKind.image,
    "image/jpeg": AttachmentKind.image,
    "image/gif": AttachmentKind.image,
    "image/webp": AttachmentKind.image,
    "video/mp4": AttachmentKind.video,
    "video/webm": AttachmentKind.video,
    "video/ogg": AttachmentKind.video,
    "audio/mpeg": AttachmentKind.audio,
    "audio/ogg": AttachmentKind.audio,
    "audio/wav": AttachmentKind.audio,
    "audio/webm": AttachmentKind.audio,
    "audio/mp4": AttachmentKind.audio,
}
"""The types shown inline, each checked against its file signature at commit."""

SEALED_OVERHEAD_BYTES = 12 + 16
"""What sealing adds to each chunk: its AES-GCM nonce and tag."""
SEALED_PLAIN_CHUNK_BYTES = ATTACHMENT_CHUNK_BYTES - SEALED_OVERHEAD_BYTES
"""The bytes of the file in each sealed chunk (every chunk but the last)."""
MAX_SEALED_ATTACHMENT_BYTES = 20 * 1024 * 1024
"""The ciphertext of a sealed attachment, any kind: the page decrypts it whole, in memory,
with no Range requests (a sealed video downloads completely before it plays)."""

_EBML = b"\x1a\x45\xdf\xa3"  # WebM / Matroska


def sniff(content_type: str, head: bytes) -> bool:
    """Whether ``head`` (a file's first 16 bytes or fewer) starts like a ``content_type``
    file (False for types not in `INLINE_TYPES`)."""
    checks = {
        "image/png": head.startswith(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg": head.startswith(b"\xff\xd8\xff"),
        "image/gif": head[:6] in (b"GIF87a", b"GIF89a"),
        "image/webp": head.startswith(b"RIFF") and head[8:12] == b"WEBP",
        "video/mp4": head[4:8] == b"ftyp",
        "video/webm": head.startswith(_EBML),
        "video/ogg": head.startswith(b"OggS"),
        "audio/mpeg": head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF
                                                  and head[1] & 0xE0 == 0xE0),
        "audio/ogg": head.startswith(b"OggS"),
        "audio/wav": head.startswith(b"RIFF") and head[8:12] == b"WAVE",
        "audio/webm": head.startswith(_EBML),
        "audio/mp4": head[4:8] == b"ftyp",
    }
    return checks.get(content_type, False)


@dataclass
class Attachment:
    """An attachment being uploaded (``sha256`` empty) or committed; ``message_id`` is set
    once a message carries it. Sizes in bytes, times in ns."""

    owner: Principal
    room_id: nat64
    message_id: nat64 | None
    kind: AttachmentKind
    name: str
    content_type: str
    size: nat64
    chunks: nat32
    sha256: bytes
    key: str
    created_at: nat64


counter = StableCell[nat64]("att_counter", default=0)
meta = StableBTreeMap[nat64, Attachment]("att_meta")
by_message = StableBTreeMap[tuple[nat64, nat64, nat64], bool]("att_by_message")
unsent = StableBTreeMap[tuple[Principal, nat64], nat64]("att_unsent")
unsent_due = StableBTreeMap[tuple[nat64, nat64], bool]("att_unsent_due")
sealed = StableBTreeMap[nat64, bool]("att_sealed")
"""The attachments whose bytes the page sealed end to end (direct rooms)."""
sweep_armed = StableCell[nat64]("att_sweep_armed", default=0)
"""The deadline the sweep timer is armed for (0: none): one timer, not one per upload."""
uploads = ChunkedUploads(
    "att_", ATTACHMENT_CHUNK_BYTES,
    signatures={t: (b"",) for t in [*INLINE_TYPES, FILE_TYPE]},  # `sniff` checks first
    not_found="there is no attachment upload {id} of yours in progress",
    incomplete="attachment {id} has {received} of {size} bytes: send the missing chunks",
)


# -- checks -------------------------------------------------------------------------------

def kind_of(content_type: str) -> tuple[AttachmentKind, str]:
    """The kind and stored type of an attachment announced as ``content_type``."""
    declared = content_type.split(";", 1)[0].strip().lower()
    kind = INLINE_TYPES.get(declared)
    return (kind, declared) if kind is not None else (AttachmentKind.file, FILE_TYPE)


def clean_name(name: str) -> str:
    """A file name fit to show and to put in a header: no path, no control characters,
    1–`MAX_FILE_NAME_CHARS` characters; `Reject` otherwise."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    shown = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip()
    if not 1 <= len(shown) <= MAX_FILE_NAME_CHARS:
        raise Reject(f"a file name is 1–{MAX_FILE_NAME_CHARS} characters (no path), "
                     f"got {len(shown)}")
    return shown


def _own(attachment_id: int, me: Principal) -> Attachment:
    found = meta.get(attachment_id)
    if found is None or found.owner != me:
        raise Reject(f"there is no attachment {attachment_id} of yours")
    return found


def _open_count(me: Principal) -> int:
    return sum(1 for _ in unsent.range((me, 0), (me, MAX_ID), limit=MAX_OPEN_ATTACHMENTS))


# -- uploading ----------------------------------------------------------------------------

@update
def begin_attachment(room_id: nat64, name: str, content_type: str, size: nat64
                     ) -> AttachmentTicket:
    """Announce a file of ``size`` bytes for a room the caller is a member of. Images
    (PNG, JPEG, GIF, WebP), video (MP4, WebM, Ogg) and audio (MP3, Ogg, WAV, WebM, M4A)
    are shown inline; any other type is a downloadable file. Sizes: images 10 MiB,
    video 64 MiB, audio and files 20 MiB."""
    return _begin(room_id, name, content_type, size, is_sealed=False)


@update
def begin_sealed_attachment(room_id: nat64, name: str, content_type: str, size: nat64
                            ) -> AttachmentTicket:
    """Announce a file the page encrypted end to end for a direct room the caller is in:
    ``size`` is the ciphertext's (each chunk carries its 12-byte nonce and 16-byte tag,
    so the file has `SEALED_PLAIN_CHUNK_BYTES` per chunk), at most the kind's limit and
    20 MiB; ``content_type`` says how the page shows the decrypted file. Its bytes are
    not checked at commit (the canister cannot read them)."""
    return _begin(room_id, name, content_type, size, is_sealed=True)


def _begin(room_id: int, name: str, content_type: str, size: int, *, is_sealed: bool
           ) -> AttachmentTicket:
    me, _user, room, _member = membership(room_id)
    if is_sealed and room.kind is not RoomKind.direct:
        raise Reject("end-to-end encryption is for direct rooms: send group attachments "
                     "with begin_attachment")
    check(me, ATTACHMENT_RATE)
    kind, stored_type = kind_of(content_type)
    limit = MAX_ATTACHMENT_BYTES[kind.value]
    if is_sealed:
        limit = min(limit, MAX_SEALED_ATTACHMENT_BYTES)
    if not 1 <= size <= limit:
        article = "an" if kind.value[0] in "aeiou" else "a"
        raise Reject(f"{article} {kind.value} attachment is 1 to {limit} bytes "
                     f"({limit // (1024 * 1024)} MiB), got {size}")
    shown = clean_name(name)
    if _open_count(me) >= MAX_OPEN_ATTACHMENTS:
        raise Reject(f"you have {MAX_OPEN_ATTACHMENTS} attachments not sent yet: send or "
                     "cancel some first")
    attachment_id = counter.get() + 1
    counter.set(attachment_id)
    upload = uploads.begin(attachment_id, me, stored_type, size)
    now = ic.time()
    meta[attachment_id] = Attachment(
        owner=me, room_id=room_id, message_id=None, kind=kind, name=shown,
        content_type=stored_type, size=size, chunks=upload.chunks, sha256=b"", key="",
        created_at=now)
    if is_sealed:
        sealed[attachment_id] = True
    deadline = now + UNSENT_ATTACHMENT_TTL_NS
    unsent[(me, attachment_id)] = deadline
    unsent_due[(deadline, attachment_id)] = True
    _arm_sweep(deadline)
    return AttachmentTicket(id=attachment_id, chunk_bytes=ATTACHMENT_CHUNK_BYTES,
                            chunks=upload.chunks)


@update
def put_attachment_chunk(attachment_id: nat64, index: nat32, data: bytes) -> nat64:
    """Store chunk ``index`` of one's upload (1 MiB each but the last; sending a chunk
    again replaces it); returns the bytes received so far."""
    return uploads.receive(attachment_id, ic.caller(), index, data)


@update
def commit_attachment(attachment_id: nat64) -> AttachmentView:
    """Finish an upload once every chunk is in: images, video and audio must start with
    their type's signature (sealed ones are not checked). Send it with
    `send_attachments`."""
    me = ic.caller()
    found = _own(attachment_id, me)
    upload = uploads.in_progress(attachment_id, me)
    if (upload.received == upload.size and found.kind is not AttachmentKind.file
            and attachment_id not in sealed):
        head = uploads.chunks[(attachment_id, 0)][:16]
        if not sniff(found.content_type, head):
            raise Reject(f"attachment {attachment_id} ({found.name!r}) is not a "
                         f"{found.content_type} file: its first bytes are "
                         f"{head[:8].hex(' ') or 'nothing'}; cancel it "
                         "(cancel_attachment) and send it as a file instead")
    _, sha256 = uploads.commit(attachment_id, me)
    found.sha256 = sha256
    found.key = hashlib.sha256(
        entropy.get() + ic.time().to_bytes(8, "big") + me.raw
        + attachment_id.to_bytes(8, "big") + sha256).hexdigest()[:32]
    meta[attachment_id] = found
    return view(attachment_id, found)


@update
def cancel_attachment(attachment_id: nat64) -> None:
    """Drop one of one's attachments not sent yet (uploading or committed)."""
    found = _own(attachment_id, ic.caller())
    if found.message_id is not None:
        raise Reject(f"attachment {attachment_id} was sent: delete its message instead")
    _drop(attachment_id, found)


def _arm_sweep(deadline: int) -> None:
    armed = sweep_armed.get()
    if armed and armed <= deadline:
        return
    sweep_armed.set(deadline)
    set_timer(max(0, deadline - ic.time()), sweep_unsent)


def sweep_unsent() -> None:
    """Timer: drop the attachments whose time to be sent has passed, then arm for the
    next deadline."""
    sweep_armed.set(0)
    now = ic.time()
    for (deadline, attachment_id), _ in list(unsent_due.range((0, 0), (now + 1, 0))):
        unsent_due.remove((deadline, attachment_id))
        found = meta.get(attachment_id)
        if found is not None and found.message_id is None:
            _drop(attachment_id, found)
    following = next(unsent_due.range((0, 0), (MAX_ID, 0), limit=1), None)
    if following is not None:
        _arm_sweep(following[0][0])


# -- messages -----------------------------------------------------------------------------

def path_of(attachment_id: int, found: Attachment) -> str:
    return f"/a/{attachment_id}/{found.key}"


def view(attachment_id: int, found: Attachment) -> AttachmentView:
    return AttachmentView(id=attachment_id, kind=found.kind, name=found.name,
                          content_type=found.content_type, size=found.size,
                          sha256=found.sha256, path=path_of(attachment_id, found),
                          sealed=attachment_id in sealed)


def claim(me: Principal, room_id: int, message_id: int, ids: list[int]
          ) -> list[Attachment]:
    """Tie committed, unsent attachments of ``me`` for ``room_id`` to a message; `Reject`
    for a wrong, repeated, unfinished or already sent one, or too many."""
    if len(ids) > MAX_ATTACHMENTS_PER_MESSAGE:
        raise Reject(f"a message carries at most {MAX_ATTACHMENTS_PER_MESSAGE} attachments, "
                     f"got {len(ids)}")
    if len(set(ids)) != len(ids):
        raise Reject("an attachment is listed twice")
    claimed = []
    for attachment_id in ids:
        found = _own(attachment_id, me)
        if found.room_id != room_id:
            raise Reject(f"attachment {attachment_id} was uploaded for room "
                         f"{found.room_id}, not room {room_id}")
        if found.message_id is not None:
            raise Reject(f"attachment {attachment_id} was sent already")
        if not found.sha256:
            raise Reject(f"attachment {attachment_id} is still uploading: commit it first")
        found.message_id = message_id
        meta[attachment_id] = found
        by_message[(room_id, message_id, attachment_id)] = True
        deadline = unsent.remove((me, attachment_id))
        if deadline is not None:
            unsent_due.remove((deadline, attachment_id))
        claimed.append(found)
    return claimed


def attachment_views(room_id: int, message_id: int) -> list[AttachmentView]:
    """The attachments a message carries, in the order they were sent."""
    out = []
    for (_, _, attachment_id), _ in by_message.range((room_id, message_id, 0),
                                                     (room_id, message_id, MAX_ID)):
        found = meta.get(attachment_id)
        if found is not None:
            out.append(view(attachment_id, found))
    return out


def drop_message(room_id: int, message_id: int) -> int:
    """Erase the attachments of a message (metadata and bytes); returns how many."""
    dropped = 0
    for key, _ in list(by_message.range((room_id, message_id, 0),
                                        (room_id, message_id, MAX_ID))):
        by_message.remove(key)
        found = meta.get(key[2])
        if found is not None:
            _drop(key[2], found)
            dropped += 1
    return dropped


def _drop(attachment_id: int, found: Attachment) -> None:
    meta.remove(attachment_id)
    sealed.remove(attachment_id)
    uploads.discard(attachment_id)  # an upload in progress, with its chunks
    uploads.delete(attachment_id, found.chunks)
    deadline = unsent.remove((found.owner, attachment_id))
    if deadline is not None:
        unsent_due.remove((deadline, attachment_id))
