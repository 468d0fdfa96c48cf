"""Notifications: stored per user, an unread count, read markers, pushed live; socket access.

`notify` is the one way to notify (likes, super-likes, comments, replies, comment likes,
follows, tips, mentions, processing done or failed, moderation). A notification is
stored under ``notes[(recipient, id)]`` (ids grow, so a reverse range scan is newest
first), the recipient's unread count goes up and a `NotificationEvent` is published on
``user:<principal text>``. A user keeps the newest `limits.MAX_NOTIFICATIONS`; older
ones go as new ones come. The read marker is the highest id the user has read.

`can_subscribe` is the query the canister WebSocket asks before it delivers a topic
(docs/events.md): ``user:<p>`` and ``uploads:<p>`` only to the signed-in ``p``;
``video:<id>`` (live counters) to anyone who may see that video.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic, nat32, query, update

from . import follows, limits, media, profiles, ratelimit, safety
from .social_records import (
    SYSTEM_KINDS,
    Notification,
    NotificationEvent,
    NotificationKind,
    NotificationPage,
    NotificationView,
)
from .social_store import MAX_ID, next_id, notes, notes_kept, read_upto, unread


def topic_of(user: Principal) -> str:
    """The topic ``user``'s notifications are published on."""
    return f"user:{user.to_text()}"


def _view(user: Principal, note: Notification) -> NotificationView:
    actor = None if note.actor is None else profiles.card_of(note.actor)
    return NotificationView(id=note.id, kind=note.kind, actor=actor, video_id=note.video_id,
                            text=note.text, created_at=note.created_at,
                            read=note.id <= read_upto.get(user, 0))


def _publish(user: Principal, view: NotificationView | None) -> None:
    ic.publish(topic_of(user), NotificationEvent(view, unread.get(user, 0)), NotificationEvent)


def notify(user: Principal, kind: NotificationKind | str, actor: Principal | None,
           video_id: int | None, text: str) -> None:
    """Store a notification for ``user`` and push it live.

    ``kind`` is a `NotificationKind` (or its name: a ``ValueError`` names the known ones
    otherwise, a bug of the caller); ``actor`` is who acted (None: the canister itself);
    ``text`` is raw text, cleaned and cut to `limits.NOTIFICATION_TEXT_CHARS`. Nothing is
    stored when ``user`` is anonymous or, for a user's action (not `SYSTEM_KINDS`), when
    the actor is ``user`` or a block stands between them.
    """
    try:
        note_kind = NotificationKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in NotificationKind)
        raise ValueError(f"unknown notification kind {kind!r}; use one of {known}") from None
    if user.is_anonymous:
        return
    if note_kind not in SYSTEM_KINDS:
        if actor is None or actor == user:
            return
        if follows.is_blocked_either(user, actor):
            return
    note_id = next_id("next_note")
    text = safety.line(text)[:limits.NOTIFICATION_TEXT_CHARS]
    note = Notification(note_id, note_kind, actor, video_id, text, ic.time())
    notes[(user, note_id)] = note
    kept = notes_kept.get(user, 0) + 1
    if kept > limits.MAX_NOTIFICATIONS:
        for key, _old in list(notes.range((user, 0), (user, MAX_ID), limit=1)):
            notes.remove(key)
            if key[1] > read_upto.get(user, 0):
                unread[user] = max(0, unread.get(user, 0) - 1)
        kept -= 1
    notes_kept[user] = kept
    unread[user] = unread.get(user, 0) + 1
    _publish(user, _view(user, note))


def _me() -> Principal:
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: notifications belong to a signed-in user")
    return me


@query
def notifications(cursor: str | None) -> NotificationPage:
    """The caller's notifications, newest first, `limits.PAGE_SIZE` per page; pass
    ``next`` back for older ones."""
    me = _me()
    end = MAX_ID
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 20):
            raise Reject(f"{cursor[:40]!r} is not a notification cursor: pass the page's "
                         "next, or null for the first page")
        end = int(cursor)
    n = limits.PAGE_SIZE
    rows = list(notes.range((me, 0), (me, end), reverse=True, limit=n + 1))
    views = [_view(me, note) for _key, note in rows[:n]]
    more = str(views[-1].id) if len(rows) > n else None
    return NotificationPage(views, more, unread.get(me, 0))


@query
def unread_count() -> nat32:
    """How many of the caller's notifications are unread (0 when signed out)."""
    me = ic.caller()
    return 0 if me.is_anonymous else unread.get(me, 0)


@update
def mark_read() -> None:
    """Mark every notification of the caller read; publishes the new count (0)."""
    me = _me()
    newest = notes.range((me, 0), (me, MAX_ID), reverse=True, limit=1)
    for (_user, note_id), _note in newest:
        if note_id <= read_upto.get(me, 0):
            return
        ratelimit.check(me, "notifications")
        read_upto[me] = note_id
        unread[me] = 0
        _publish(me, None)


@query
def can_subscribe(topic: str) -> bool:
    """Whether the caller may receive ``topic``'s events over the canister WebSocket:
    ``user:<p>`` and ``uploads:<p>`` only the signed-in ``p``; ``video:<id>`` anyone
    who may see video ``id``; nothing else."""
    me = ic.caller()
    kind, _, rest = topic.partition(":")
    if kind in ("user", "uploads"):
        return not me.is_anonymous and rest == me.to_text()
    if kind == "video" and rest.isascii() and rest.isdigit() and len(rest) <= 20:
        video = media.get_video(int(rest))
        return video is not None and safety.is_visible(video, me)
    return False
