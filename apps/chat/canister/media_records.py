"""Public records of attachments, polls and disappearing messages (part of the Candid
interface, like `records`; they import nothing but the SDK)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from icframework.sdk import nat32, nat64


class AttachmentKind(Enum):
    """How the page shows an attachment: inline ``image``, ``video`` or ``audio`` (the
    canister checked the bytes' signature), or a ``file`` to download."""

    image = "image"
    video = "video"
    audio = "audio"
    file = "file"


@dataclass
class AttachmentTicket:
    """`begin_attachment`: the upload's id and how to cut the file (every chunk is
    ``chunk_bytes`` long but the last; ``chunks`` of them)."""

    id: nat64
    chunk_bytes: nat32
    chunks: nat32


@dataclass
class AttachmentView:
    """A committed attachment. ``path`` is served by the canister's ``http_request`` on its
    own origin (``<canister-id>.localhost``); the path holds a random key, so only those
    who can read the message learn it. ``size`` in bytes; ``sha256`` of the bytes. A
    ``sealed`` one (direct rooms) holds ciphertext the page decrypts: ``size`` and
    ``sha256`` are of the ciphertext, ``kind`` and ``content_type`` say how to show the
    plaintext."""

    id: nat64
    kind: AttachmentKind
    name: str
    content_type: str
    size: nat64
    sha256: bytes
    path: str
    sealed: bool = False


@dataclass
class PollInput:
    """`create_poll`: 2–10 options; ``closes_at`` in ns since the epoch (null: open until
    closed by its author or a room admin)."""

    question: str
    options: list[str]
    multiple: bool
    anonymous: bool
    closes_at: nat64 | None


@dataclass
class PollOptionView:
    """One option: its votes and, unless the poll is anonymous, up to 20 of its voters."""

    label: str
    votes: nat32
    voters: list[str]


@dataclass
class PollView:
    """A poll as a reader sees it. ``voters`` counts people who voted; ``mine`` lists the
    caller's choices (always empty in events: a page keeps its own). ``closed`` is true
    once ``closes_at`` passed or someone closed it."""

    question: str
    options: list[PollOptionView]
    multiple: bool
    anonymous: bool
    closes_at: nat64 | None
    closed: bool
    voters: nat32
    mine: list[nat32]
