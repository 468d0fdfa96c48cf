"""Threads: reply in a thread on any timeline message, read a thread, unread per thread.

Replies are messages of the room kept out of its timeline (see `thread_index` for the
bookkeeping). The root shows ``thread`` (reply count, newest reply); each follower has
a read marker per thread, so `my_threads` gives unread replies thread by thread.
"""

from __future__ import annotations

from itertools import islice

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from .access import membership, readable_room, require_user
from .limits import MAX_SEARCH_SCAN, MAX_THREAD_PAGE, MAX_THREADS_LISTED, UNREAD_CAP
from .messages import check_sealed, post_message, thread_root_of
from .records import MessageView, Sealed, ThreadPage, ThreadView
from .store import (
    MAX_ID,
    messages,
    rooms,
    thread_follows,
    thread_reads,
    thread_replies,
    threads,
)
from .views import Views


def unread_in_thread(room_id: int, root_id: int, me: Principal) -> tuple[int, int]:
    """The caller's read marker in a thread and the replies by others after it (capped)."""
    read_up_to = thread_reads.get((room_id, root_id, me), 0)
    unread = sum(1 for _ in islice(
        (a for _, a in thread_replies.range((room_id, root_id, read_up_to + 1),
                                            (room_id, root_id, MAX_ID)) if a != me),
        UNREAD_CAP))
    return read_up_to, unread


@update
def send_thread_reply(room_id: nat64, root_id: nat64, text: str) -> MessageView:
    """Reply in the thread of timeline message ``root_id`` (1–10,000 characters).
    Publishes ``message`` (with ``thread_root``) and ``edited`` for the root; the
    caller and the root's author follow the thread."""
    me, user, room, member = membership(room_id)
    return post_message(me, user.handle, room, member, text, None, thread_root=root_id)


@update
def send_sealed_thread_reply(room_id: nat64, root_id: nat64, body: Sealed) -> MessageView:
    """An end-to-end-encrypted thread reply in a direct room (see `send_sealed`)."""
    me, user, room, member = membership(room_id)
    check_sealed(room, body)
    return post_message(me, user.handle, room, member, "", None, thread_root=root_id, sealed=body)


@query
def thread(room_id: nat64, root_id: nat64, before: nat64 | None, limit: nat32
           ) -> ThreadPage:
    """The root and up to ``limit`` (1–100) undeleted replies before reply id
    ``before`` (null: the newest), oldest first; anyone who may read the room may read
    its threads."""
    readable_room(room_id)
    root = messages.get((room_id, root_id))
    if root is None:
        raise Reject(f"there is no message {root_id} in room {room_id}")
    n = max(1, min(limit, MAX_THREAD_PAGE))
    end = MAX_ID if before is None else before
    # deleted replies leave the thread (and its count); the root stays, even deleted
    ids = [mid for (_, _, mid), _a in thread_replies.range(
        (room_id, root_id, 0), (room_id, root_id, end), reverse=True, limit=n + 1)]
    more = len(ids) > n
    ids = ids[:n]
    ids.reverse()
    me = ic.caller()
    views = Views(None if me.is_anonymous else me)
    read_up_to, unread = (0, 0) if me.is_anonymous else unread_in_thread(room_id, root_id, me)
    return ThreadPage(
        root=views.message(room_id, root),
        replies=[views.message(room_id, messages[(room_id, mid)]) for mid in ids],
        next_before=ids[0] if more else None,
        read_up_to=read_up_to,
        unread=unread,
    )


@update
def mark_thread_read(room_id: nat64, root_id: nat64, up_to: nat64) -> None:
    """Move the caller's read marker in a thread forward to reply ``up_to``; reading a
    thread makes the caller follow it."""
    me, _, _room, _member = membership(room_id)
    thread_root_of(room_id, root_id)
    found = threads.get((room_id, root_id))
    target = min(up_to, 0 if found is None else found.last_reply_id)
    if target <= thread_reads.get((room_id, root_id, me), 0):
        return
    thread_reads[(room_id, root_id, me)] = target
    if (me, room_id, root_id) not in thread_follows:
        thread_follows[(me, room_id, root_id)] = ic.time()


@query
def my_threads(room_id: nat64 | None) -> list[ThreadView]:
    """Threads the caller follows (in one room, or in all), most recently active first,
    with unread replies per thread; at most 100."""
    me, _ = require_user()
    lo = (me, 0, 0) if room_id is None else (me, room_id, 0)
    hi = (me, MAX_ID, MAX_ID) if room_id is None else (me, room_id, MAX_ID)
    found = []
    for (_, rid, root_id), _at in thread_follows.range(lo, hi, limit=MAX_SEARCH_SCAN):
        stats = threads.get((rid, root_id))
        if stats is not None and stats.reply_count:
            found.append((stats.last_reply_at, rid, root_id))
    found.sort(reverse=True)
    views = Views(me)
    out = []
    for last_at, rid, root_id in found[:MAX_THREADS_LISTED]:
        name = views.room_name(rooms[rid], me)
        _read, unread = unread_in_thread(rid, root_id, me)
        out.append(ThreadView(room_id=rid, room_name=name,
                              root=views.message(rid, messages[(rid, root_id)]),
                              reply_count=threads[(rid, root_id)].reply_count,
                              last_reply_at=last_at, unread=unread))
    return out
