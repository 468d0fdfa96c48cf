"""Notifications: stored per user, unread counts, read markers, pushed live on a
per-user topic.

`notify` is what every other module calls (connection requests, endorsements, job
stages, comments, reactions, mentions...). A notification is stored under
``notes[(recipient, id)]`` (ids grow, so a reverse range scan is newest first), the
recipient's unread count goes up and a `NotificationEvent` is published to
``user:<principal text>``, a topic only that principal may subscribe to
(`can_subscribe`). A user keeps the newest `MAX_KEPT` notifications; older ones are
dropped as new ones come. The read marker is the highest id the user has read: every
notification with an id at or below it is read.
"""

from __future__ import annotations

from icframework.sdk import (
    Principal,
    Reject,
    StableBTreeMap,
    StableCell,
    ic,
    nat32,
    nat64,
    query,
    update,
)

from . import graph, profiles
from .post_records import (
    Author,
    Note,
    NotificationEvent,
    NotificationKind,
    NotificationPage,
    NotificationView,
)
from .store import MAX_ID

MAX_KEPT = 500
"""Notifications kept per user (the oldest go first)."""
MAX_PAGE = 100
SUBJECT_CHARS = 140
"""A notification's subject is cut to this many characters."""

_next_id = StableCell[nat64]("notes.next_id", default=1)
notes = StableBTreeMap[tuple[Principal, nat64], Note]("notes.notes")
kept = StableBTreeMap[Principal, nat32]("notes.kept")
unread = StableBTreeMap[Principal, nat32]("notes.unread")
read_upto = StableBTreeMap[Principal, nat64]("notes.read_upto")



def topic_of(user: Principal) -> str:
    """The topic ``user``'s notifications are published on."""
    return f"user:{user.to_text()}"


def _view(user: Principal, note: Note) -> NotificationView:
    return NotificationView(
        id=note.id, kind=note.kind, actor=Author(note.actor, profiles.handle_of(note.actor)),
        subject=note.subject, ref=note.ref, created_at=note.created_at,
        read=note.id <= read_upto.get(user, 0),
    )


def _publish(user: Principal, view: NotificationView | None) -> None:
    ic.publish(topic_of(user), NotificationEvent(view, unread.get(user, 0)), NotificationEvent)


def notify(recipient: Principal, kind: str, actor: Principal, subject: str, ref: str) -> None:
    """Store a notification for ``recipient`` and push it live.

    Nothing happens when the recipient is anonymous, is the actor, or either blocked
    the other. ``kind`` is a `NotificationKind` name (a `ValueError` names the known
    ones otherwise: that is a bug of the caller, not of the user); ``subject`` is raw
    text, cut to `SUBJECT_CHARS`; ``ref`` locates the object (see `NotificationView`).
    """
    try:
        note_kind = NotificationKind(kind)
    except ValueError:
        known = ", ".join(k.value for k in NotificationKind)
        raise ValueError(f"unknown notification kind {kind!r}; use one of {known}") from None
    if recipient.is_anonymous or recipient == actor or graph.is_blocked(recipient, actor):
        return
    note_id = _next_id.get()
    _next_id.set(note_id + 1)
    note = Note(note_id, note_kind, actor, subject.strip()[:SUBJECT_CHARS], ref, ic.time())
    notes[(recipient, note_id)] = note
    count = kept.get(recipient, 0) + 1
    if count > MAX_KEPT:
        for key, _old in list(notes.range((recipient, 0), (recipient, MAX_ID), limit=1)):
            notes.remove(key)
            if key[1] > read_upto.get(recipient, 0):
                unread[recipient] = unread.get(recipient, 1) - 1
        count -= 1
    kept[recipient] = count
    unread[recipient] = unread.get(recipient, 0) + 1
    _publish(recipient, _view(recipient, note))


def _me() -> Principal:
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: notifications belong to a signed-in user")
    return me


@query
def my_notifications(cursor: str | None, limit: nat32) -> NotificationPage:
    """The caller's notifications, newest first, at most ``limit`` (1–100) per page;
    pass ``next_cursor`` back for older ones."""
    me = _me()
    n = max(1, min(int(limit), MAX_PAGE))
    end = MAX_ID
    if cursor is not None:
        if not (cursor.isdigit() and cursor.isascii() and len(cursor) <= 20):
            raise Reject(f"{cursor[:40]!r} is not a notification cursor; pass the "
                         "next_cursor of the previous page, or null for the first")
        end = int(cursor)
    rows = list(notes.range((me, 0), (me, end), reverse=True, limit=n + 1))
    views = [_view(me, note) for _key, note in rows[:n]]
    more = len(rows) > n
    return NotificationPage(views, str(views[-1].id) if more else None, unread.get(me, 0))


@query
def unread_notifications() -> nat32:
    """How many of the caller's notifications are unread."""
    return unread.get(_me(), 0)


def _mark_read(me: Principal, up_to: int) -> int:
    old = read_upto.get(me, 0)
    if up_to <= old:
        return unread.get(me, 0)
    top = min(up_to, MAX_ID - 1)
    newly = sum(1 for _ in notes.range((me, old + 1), (me, top + 1), limit=MAX_KEPT + 1))
    read_upto[me] = up_to
    unread[me] = max(0, unread.get(me, 0) - newly)
    _publish(me, None)
    return unread[me]


@update
def mark_notifications_read(up_to: nat64) -> nat32:
    """Move the caller's read marker to ``up_to`` (a notification id; a marker never
    moves back) and return the unread count. Publishes the new count."""
    return _mark_read(_me(), up_to)


@update
def mark_all_notifications_read() -> nat32:
    """Mark every notification of the caller read; returns the unread count (0)."""
    me = _me()
    for (_user, note_id), _note in notes.range((me, 0), (me, MAX_ID), reverse=True, limit=1):
        return _mark_read(me, note_id)
    return unread.get(me, 0)


@query
def can_subscribe(topic: str) -> bool:
    """Whether the caller may receive ``topic``'s events over the canister WebSocket:
    ``user:<principal>`` is that signed-in principal's only; other topics are
    nobody's."""
    me = ic.caller()
    return not me.is_anonymous and topic == topic_of(me)
