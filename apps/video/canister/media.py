"""Videos and their media: reading, captions, the sensitive flag, deleting, status changes.

`get_video`/`require_video` are how the other modules read a video. Every status change
goes through `set_status`, which stores the video, publishes its `UploadProgress` on
``uploads:<creator>`` and calls `catalogue.on_status`. Renditions are stored once per
original (`store.media`, shared by SHA-256 and reference counted); a video's rendition
paths are its own (``/v/<id>/720.mp4``, ``/v/<id>/360.mp4``, ``/v/<id>/poster.jpg``).
`delete_video` frees the chunks of an upload, of an original, of renditions being
sent, and the stored renditions once no other video shares them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from icframework.sdk import Principal, Reject, ic, nat64, query, update

from . import catalogue, safety, store
from .limits import MAX_CAPTION_CHARS, MAX_MY_VIDEOS
from .records import Rendition, RenditionKind, UploadProgress, Video, VideoStatus

FILE_NAMES = {RenditionKind.r720: "720.mp4", RenditionKind.r360: "360.mp4",
              RenditionKind.poster: "poster.jpg"}
"""The last part of each rendition kind's path."""
KIND_OF_FILE = {name: kind for kind, name in FILE_NAMES.items()}

_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# -- reading ------------------------------------------------------------------------------


def get_video(video_id: int) -> Video | None:
    return store.videos.get(video_id)


def require_video(video_id: int) -> Video:
    """Video ``video_id``; `Reject` naming the id if there is none."""
    video = store.videos.get(video_id)
    if video is None:
        raise Reject(f"no video {video_id}: it was never uploaded or has been deleted")
    return video


def is_moderator(who: Principal) -> bool:
    return who in store.moderators


def signed_in() -> Principal:
    """The caller; `Reject` for the anonymous principal."""
    caller = ic.caller()
    if caller.is_anonymous:
        raise Reject("the anonymous principal cannot do this: sign in first")
    return caller


def visible(video: Video, viewer: Principal) -> bool:
    """Whether ``viewer`` may see ``video``: its creator and moderators always; others
    when it is ready and safety does not hide it (`safety.is_visible`, when present)."""
    if viewer == video.creator or is_moderator(viewer):
        return True
    if video.status != VideoStatus.ready:
        return False
    check: Callable[[Video, Principal], Any] | None = getattr(safety, "is_visible", None)
    return True if check is None else bool(check(video, viewer))


def path_of(video_id: int, kind: RenditionKind) -> str:
    return f"/v/{video_id}/{FILE_NAMES[kind]}"


def renditions_for(video_id: int, stored: list[Rendition]) -> list[Rendition]:
    """The stored renditions of a media entry with ``video_id``'s own paths."""
    return [Rendition(r.kind, path_of(video_id, r.kind), r.content_type, r.size, r.width,
                      r.height, r.sha256) for r in stored]


def progress_of(video: Video) -> UploadProgress:
    upload = store.uploads.get(video.id)
    if upload is not None:
        return UploadProgress(video.id, video.status, upload.chunks, len(upload.received),
                              video.reason)
    chunks = store.chunk_count(video.size)
    return UploadProgress(video.id, video.status, chunks, chunks, video.reason)


def set_status(video: Video, status: VideoStatus, reason: str | None = None) -> Video:
    """Store ``video`` with ``status`` (and ``reason``), publish its progress on
    ``uploads:<creator>`` and tell the catalogue."""
    video.status = status
    video.reason = reason
    if status == VideoStatus.ready:
        video.ready_at = ic.time()
    store.videos[video.id] = video
    ic.publish(f"uploads:{video.creator.to_text()}", progress_of(video), UploadProgress)
    catalogue.on_status(video)
    return video


def clean_caption(caption: str) -> str:
    """``caption`` trimmed, CR/LF as LF; `Reject` for control characters or more than
    `MAX_CAPTION_CHARS` characters."""
    text = caption.replace("\r\n", "\n").replace("\r", "\n").strip()
    bad = _CONTROL.search(text)
    if bad is not None:
        raise Reject(f"a caption is plain text: remove the control character "
                     f"U+{ord(bad[0]):04X} at position {bad.start()}")
    if len(text) > MAX_CAPTION_CHARS:
        raise Reject(f"a caption is at most {MAX_CAPTION_CHARS} characters, got {len(text)}: "
                     "shorten it")
    return text


def require_editor(video_id: int, caller: Principal) -> Video:
    """Video ``video_id`` if ``caller`` is its creator or a moderator, else `Reject`."""
    video = require_video(video_id)
    if caller != video.creator and not is_moderator(caller):
        raise Reject(f"video {video_id} is not yours: only its creator or a moderator "
                     "may change it")
    return video


# -- freeing ------------------------------------------------------------------------------


def drop_original(video_id: int, chunks: int) -> None:
    """Remove the (uploaded) original's chunks of ``video_id``."""
    for n in range(chunks):
        store.original_chunks.remove((video_id, n))


def drop_pending_kind(video_id: int, kind: RenditionKind) -> None:
    """Remove the ``kind`` rendition the worker was sending for ``video_id``."""
    sent = store.pending.remove((video_id, kind.value))
    if sent is not None:
        for n in sent.received:
            store.rendition_chunks.remove((video_id, kind.value, n))


def drop_pending(video_id: int) -> None:
    """Remove the renditions the worker was sending for ``video_id`` and their chunks."""
    for kind in RenditionKind:
        drop_pending_kind(video_id, kind)


def release_media(video_id: int) -> None:
    """``video_id`` no longer uses its media entry; the last user frees the renditions."""
    media_id = store.video_media.remove(video_id)
    if media_id is None:
        return
    entry = store.media.get(media_id)
    if entry is None:
        return
    entry.refs -= 1
    if entry.refs > 0:
        store.media[media_id] = entry
        return
    store.media.remove(media_id)
    if store.media_by_hash.get(entry.sha256) == media_id:
        store.media_by_hash.remove(entry.sha256)
    for rendition in entry.renditions:
        for n in range(store.chunk_count(rendition.size)):
            store.rendition_chunks.remove((media_id, rendition.kind.value, n))


def forget_upload(video: Video) -> None:
    """Drop ``video``'s unfinished upload: its state, resume entry, expiry and chunks."""
    upload = store.uploads.remove(video.id)
    if upload is None:
        return
    if store.open_uploads.get((video.creator, video.sha256)) == video.id:
        store.open_uploads.remove((video.creator, video.sha256))
    store.upload_expiry.remove((upload.expires_at, video.id))
    for n in upload.received:
        store.original_chunks.remove((video.id, n))


def free_all(video: Video) -> None:
    """Every stored byte of ``video`` that no other video shares."""
    forget_upload(video)
    job = store.jobs.remove(video.id)
    if job is not None:
        drop_original(video.id, job.chunks)
    drop_pending(video.id)
    release_media(video.id)


# -- methods ------------------------------------------------------------------------------


@query
def video(id: nat64) -> Video | None:
    """Video ``id``, if the caller may see it (anyone a ready, visible one; its creator
    and moderators any status)."""
    found = store.videos.get(id)
    if found is None or not visible(found, ic.caller()):
        return None
    return found


@query
def my_videos() -> list[Video]:
    """The caller's videos, newest first, any status (at most `MAX_MY_VIDEOS`)."""
    caller = ic.caller()
    keys = store.by_creator.range((caller, 0), (caller, store.MAX_ID), reverse=True,
                                  limit=MAX_MY_VIDEOS)
    found = (store.videos.get(video_id) for (_, video_id), _ in keys)
    return [v for v in found if v is not None]


@update
def edit_caption(video_id: nat64, caption: str) -> Video:
    """A new caption (plain text, at most 300 characters) for the caller's video."""
    found = require_editor(video_id, signed_in())
    text = clean_caption(caption)
    old = found.caption
    if text == old:
        return found
    found.caption = text
    store.videos[video_id] = found
    catalogue.on_caption_changed(found, old)
    return found


@update
def set_sensitive(video_id: nat64, sensitive: bool) -> Video:
    """Blur (or stop blurring) the video until tapped: its creator or a moderator."""
    found = require_editor(video_id, signed_in())
    if found.sensitive != sensitive:
        found.sensitive = sensitive
        store.videos[video_id] = found
        catalogue.on_visibility_changed(video_id)
    return found


@update
def delete_video(video_id: nat64) -> None:
    """Delete a video (its creator or a moderator), with its media unless shared."""
    found = require_editor(video_id, signed_in())
    free_all(found)
    store.videos.remove(video_id)
    store.by_creator.remove((found.creator, video_id))
    catalogue.on_deleted(found)
