"""Interactions with videos: likes, super-likes, comments with replies, views and shares.

Each video's counters are one `VideoStats` (``social_store.stats``). After every change
the feed is told (`catalogue.on_stats_changed`) and the live counters `VideoLive` are
published on ``video:<id>`` (`notifications.can_subscribe` lets whoever may see the
video follow them).

* Likes are idempotent (liking twice is one like); the creator is notified of the first
  like of each user only. A super-like (once per user and video, never one's own) also
  likes the video; a user has `limits.SUPER_LIKES_PER_DAY` in any rolling 24 h window.
* Comments are plain text. A reply answers a root comment (one level: replying to a
  reply answers its root). A comment is deleted by its author, the video's creator or a
  moderator; deleting a root deletes its replies (at most `limits.MAX_REPLIES`). Lists
  leave out authors that a block separates from the viewer, and suspended authors.
* ``record_view(video, watched_ms)`` counts one view per user and video per
  `limits.VIEW_DEDUP_WINDOW`: the first report in the window counts a view, later ones
  update that view's watch time (the largest reported, capped at the duration); a view
  reaching `limits.COMPLETION_PERCENT` of the duration is a completion.
  ``seen[(user, video)]`` keeps the latest counted view (the feed demotes seen videos).
  Signed-out visitors' views are not counted (one anonymous principal stands for all),
  nor are a creator's views of their own video.
* A share counts once per user and video.
* When a video is deleted, `forget_video` drops its counters, likes, super-likes,
  shares, comments (with their likes) and reports, `limits.FORGET_BATCH` entries per
  message, the rest in timer runs (timers are durable, so an upgrade does not stop
  them). Tips stay: they are payments. ``seen`` entries (keyed by user) stay.

Blocked users cannot like, super-like or comment on each other's videos, or like or
reply to each other's comments.
"""

from __future__ import annotations

from typing import Any

from icframework.sdk import (
    Principal,
    Reject,
    StableBTreeMap,
    ic,
    nat32,
    nat64,
    query,
    set_timer,
    update,
)

from . import catalogue, follows, limits, media, notifications, profiles, ratelimit, safety
from .records import Video
from .social_records import (
    Comment,
    CommentPage,
    CommentView,
    SeenRecord,
    VideoLive,
    VideoStats,
)
from .social_store import (
    MAX_ID,
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    bump,
    bump_stats,
    case_of,
    cases,
    comment_likes,
    comments,
    forgotten,
    hidden,
    like_notified,
    likes,
    next_id,
    replies_of,
    report_counts,
    reports,
    shared,
    stats_of,
    super_likes,
    super_log,
    video_comments,
)
from .social_store import seen as _seen
from .social_store import stats as _stats

# -- the contract ---------------------------------------------------------------------------


def has_liked(video_id: int, user: Principal) -> bool:
    return (video_id, user) in likes


def has_super_liked(video_id: int, user: Principal) -> bool:
    return (video_id, user) in super_likes


def seen(user: Principal, video_id: int) -> SeenRecord | None:
    """``user``'s latest counted view of ``video_id``, or None if they never watched it."""
    return _seen.get((user, video_id))


def changed(video_id: int, now: VideoStats) -> None:
    """Tell the feed ``video_id``'s counters changed and publish them live."""
    catalogue.on_stats_changed(video_id)
    ic.publish(f"video:{video_id}", VideoLive(video_id, now.likes, now.comments, now.views),
               VideoLive)


def _target(video_id: int, me: Principal, what: str) -> Video:
    """Video ``video_id`` if ``me`` may ``what`` it: ready, visible, no block between
    ``me`` and its creator; `Reject` naming why otherwise."""
    video = media.get_video(video_id)
    if video is not None and video.creator != me:
        follows.refuse_if_blocked(me, video.creator, what)
    return safety.require_visible(video_id, me)


# -- likes ----------------------------------------------------------------------------------


def _add_like(video: Video, me: Principal) -> bool:
    if (video.id, me) in likes:
        return False
    likes[(video.id, me)] = ic.time()
    bump(video.creator, likes_received=1)
    return True


@update
def like(video_id: nat64) -> None:
    """Like a video (liking it again changes nothing)."""
    me = ic.caller()
    profiles.require_user(me)
    video = _target(video_id, me, f"like video {video_id}")
    if (video_id, me) in likes:
        return
    ratelimit.check(me, "like")
    _add_like(video, me)
    now = bump_stats(video_id, likes=1)
    if (video_id, me) not in like_notified:
        like_notified[(video_id, me)] = True
        notifications.notify(video.creator, "like", me, video_id, "liked your video")
    changed(video_id, now)


@update
def unlike(video_id: nat64) -> None:
    """Take back a like (not liking is fine). A super-like stays."""
    me = ic.caller()
    profiles.require_user(me)
    if (video_id, me) not in likes:
        return
    ratelimit.check(me, "like")
    likes.remove((video_id, me))
    video = media.get_video(video_id)
    if video is not None:
        bump(video.creator, likes_received=-1)
    changed(video_id, bump_stats(video_id, likes=-1))


@update
def super_like(video_id: nat64) -> nat32:
    """Super-like a video (once per video, not your own); it is liked too. Returns how
    many super-likes the caller has left in the rolling 24 h window."""
    me = ic.caller()
    profiles.require_user(me)
    video = _target(video_id, me, f"super-like video {video_id}")
    if video.creator == me:
        raise Reject("you cannot super-like your own video")
    if (video_id, me) in super_likes:
        raise Reject(f"you already super-liked video {video_id}")
    now_ns = ic.time()
    recent = [t for t in super_log.get(me, []) if t > now_ns - limits.SUPER_LIKE_WINDOW]
    if len(recent) >= limits.SUPER_LIKES_PER_DAY:
        wait_h = (min(recent) + limits.SUPER_LIKE_WINDOW - now_ns) / limits.HOUR
        raise Reject(f"you have used your {limits.SUPER_LIKES_PER_DAY} super-likes of the "
                     f"last 24 h: the next one is available in {wait_h:.1f} h")
    ratelimit.check(me, "like")
    recent.append(now_ns)
    super_log[me] = recent
    super_likes[(video_id, me)] = now_ns
    added = _add_like(video, me)
    now = bump_stats(video_id, super_likes=1, likes=1 if added else 0)
    like_notified[(video_id, me)] = True
    notifications.notify(video.creator, "super_like", me, video_id, "super-liked your video")
    changed(video_id, now)
    return limits.SUPER_LIKES_PER_DAY - len(recent)


@query
def super_likes_left() -> nat32:
    """How many super-likes the caller may give now (rolling 24 h window)."""
    me = ic.caller()
    now_ns = ic.time()
    used = sum(1 for t in super_log.get(me, []) if t > now_ns - limits.SUPER_LIKE_WINDOW)
    return max(0, limits.SUPER_LIKES_PER_DAY - used)


# -- comments -------------------------------------------------------------------------------


def _comment_view(c: Comment, viewer: Principal, creator: Principal) -> CommentView:
    can_delete = viewer in (c.author, creator) or safety.is_moderator(viewer)
    return CommentView(id=c.id, video_id=c.video_id, author=profiles.card_of(c.author),
                       parent=c.parent, text=c.text, created_at=c.created_at, likes=c.likes,
                       replies=c.replies, liked_by_me=(c.id, viewer) in comment_likes,
                       can_delete=can_delete)


def _shown(c: Comment, viewer: Principal) -> bool:
    if c.author == viewer:
        return True
    if safety.is_suspended(c.author):
        return False
    return viewer.is_anonymous or not follows.is_blocked_either(viewer, c.author)


def require_comment(comment_id: int) -> Comment:
    found = comments.get(comment_id)
    if found is None:
        raise Reject(f"no comment {comment_id}: it was deleted or never existed")
    return found


@update
def comment(video_id: nat64, parent: nat64 | None, text: str) -> CommentView:
    """Comment on a video (plain text, at most 500 characters), or reply to comment
    ``parent`` of it (a reply to a reply answers its root)."""
    me = ic.caller()
    profiles.require_user(me)
    video = _target(video_id, me, f"comment on video {video_id}")
    body = safety.bounded("a comment", text, limits.MAX_COMMENT_CHARS, required=True,
                          one_line=False)
    root: Comment | None = None
    answered: Comment | None = None
    if parent is not None:
        answered = require_comment(parent)
        if answered.video_id != video_id:
            raise Reject(f"comment {parent} belongs to video {answered.video_id}, not "
                         f"{video_id}: reply under the right video")
        if answered.author != me:
            follows.refuse_if_blocked(me, answered.author, f"reply to comment {parent}")
        root = answered if answered.parent is None else require_comment(answered.parent)
        if root.replies >= limits.MAX_REPLIES:
            raise Reject(f"comment {root.id} has {limits.MAX_REPLIES} replies, the most it "
                         "may have: comment on the video instead")
    ratelimit.check(me, "comment")
    c = Comment(id=next_id("next_comment"), video_id=video_id, author=me,
                parent=None if root is None else root.id, text=body, created_at=ic.time(),
                likes=0, replies=0)
    comments[c.id] = c
    if root is None:
        video_comments[(video_id, c.id)] = True
    else:
        replies_of[(root.id, c.id)] = True
        root.replies += 1
        comments[root.id] = root
    now = bump_stats(video_id, comments=1)
    excerpt = body[:80]
    if answered is not None:
        notifications.notify(answered.author, "reply", me, video_id, excerpt)
    if answered is None or answered.author != video.creator:
        notifications.notify(video.creator, "comment", me, video_id, excerpt)
    changed(video_id, now)
    return _comment_view(c, me, video.creator)


def _drop_comment(c: Comment) -> int:
    """Remove comment ``c``, its index entry and its likes (up to
    `limits.COMMENT_LIKES_DROPPED`; any beyond stay as unreachable keys: ids are never
    reused); the number of entries removed."""
    comments.remove(c.id)
    if c.parent is None:
        video_comments.remove((c.video_id, c.id))
    else:
        replies_of.remove((c.parent, c.id))
    rows = list(comment_likes.range((c.id, MIN_PRINCIPAL), (c.id, MAX_PRINCIPAL),
                                    limit=limits.COMMENT_LIKES_DROPPED))
    for key, _at in rows:
        comment_likes.remove(key)
    return 2 + len(rows)


@update
def delete_comment(comment_id: nat64) -> None:
    """Delete a comment (its author, the video's creator or a moderator); a root comment
    goes with its replies."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: the anonymous principal cannot delete comments")
    c = require_comment(comment_id)
    video = media.get_video(c.video_id)
    creator = None if video is None else video.creator
    if me not in (c.author, creator) and not safety.is_moderator(me):
        raise Reject(f"comment {comment_id} is not yours: only its author, the video's "
                     "creator or a moderator may delete it")
    ratelimit.check(me, "comment")
    gone = 1
    if c.parent is None:
        rows = list(replies_of.range((c.id, 0), (c.id, MAX_ID), limit=limits.MAX_REPLIES + 1))
        for (_root, reply_id), _ in rows:
            reply = comments.get(reply_id)
            if reply is not None:
                _drop_comment(reply)
                gone += 1
    else:
        root = comments.get(c.parent)
        if root is not None:
            root.replies = max(0, root.replies - 1)
            comments[root.id] = root
    _drop_comment(c)
    changed(c.video_id, bump_stats(c.video_id, comments=-gone))


def _comment_target(comment_id: int, me: Principal, what: str) -> Comment:
    c = require_comment(comment_id)
    _target(c.video_id, me, what)
    if c.author != me:
        follows.refuse_if_blocked(me, c.author, what)
    return c


@update
def like_comment(comment_id: nat64) -> None:
    """Like a comment (liking it again changes nothing)."""
    me = ic.caller()
    profiles.require_user(me)
    c = _comment_target(comment_id, me, f"like comment {comment_id}")
    if (comment_id, me) in comment_likes:
        return
    ratelimit.check(me, "like")
    comment_likes[(comment_id, me)] = ic.time()
    c.likes += 1
    comments[comment_id] = c
    notifications.notify(c.author, "comment_like", me, c.video_id, c.text[:80])


@update
def unlike_comment(comment_id: nat64) -> None:
    me = ic.caller()
    profiles.require_user(me)
    if (comment_id, me) not in comment_likes:
        return
    ratelimit.check(me, "like")
    comment_likes.remove((comment_id, me))
    c = comments.get(comment_id)
    if c is not None:
        c.likes = max(0, c.likes - 1)
        comments[comment_id] = c


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 20):
        raise Reject(f"{cursor[:40]!r} is not a comment cursor: pass the page's next, or "
                     "null for the first page")
    return int(cursor)


@query(name="comments")
def comments_page(video_id: nat64, cursor: str | None) -> CommentPage:
    """A video's root comments, newest first, `limits.PAGE_SIZE` per page."""
    viewer = ic.caller()
    video = safety.require_visible(video_id, viewer)
    end = _cursor(cursor)
    n = limits.PAGE_SIZE
    rows = list(video_comments.range((video_id, 0), (video_id, MAX_ID if end is None else end),
                                     reverse=True, limit=n + 1))
    items = []
    for (_v, comment_id), _ in rows[:n]:
        c = comments.get(comment_id)
        if c is not None and _shown(c, viewer):
            items.append(_comment_view(c, viewer, video.creator))
    more = str(rows[n - 1][0][1]) if len(rows) > n else None
    return CommentPage(items, more)


@query
def replies(comment_id: nat64, cursor: str | None) -> CommentPage:
    """A root comment's replies, oldest first, `limits.PAGE_SIZE` per page."""
    viewer = ic.caller()
    root = require_comment(comment_id)
    video = safety.require_visible(root.video_id, viewer)
    start = _cursor(cursor)
    n = limits.PAGE_SIZE
    rows = list(replies_of.range((comment_id, 0 if start is None else start),
                                 (comment_id, MAX_ID), limit=n + 1))
    items = []
    for (_root, reply_id), _ in rows[:n]:
        c = comments.get(reply_id)
        if c is not None and _shown(c, viewer):
            items.append(_comment_view(c, viewer, video.creator))
    more = str(rows[n][0][1]) if len(rows) > n else None
    return CommentPage(items, more)


# -- views and shares -----------------------------------------------------------------------


def _completes(watched: int, duration: int) -> bool:
    return duration > 0 and watched * 100 >= duration * limits.COMPLETION_PERCENT


@update
def record_view(video_id: nat64, watched_ms: nat32) -> None:
    """Report that the caller watched a video for ``watched_ms`` (this viewing): one
    view counts per user and video per hour, later reports within the hour update its
    watch time. Reports of signed-out visitors and of the video's creator are accepted
    and not counted."""
    me = ic.caller()
    if me.is_anonymous:
        return
    video = safety.require_visible(video_id, me)
    if video.creator == me:
        return
    ratelimit.check(me, "view")
    duration = int(video.duration_ms)
    watched = min(int(watched_ms), duration) if duration > 0 else int(watched_ms)
    now_ns = ic.time()
    before = _seen.get((me, video_id))
    if before is None or now_ns - before.at >= limits.VIEW_DEDUP_WINDOW:
        _seen[(me, video_id)] = SeenRecord(now_ns, watched)
        now = bump_stats(video_id, views=1, watch_ms=watched,
                         completions=1 if _completes(watched, duration) else 0)
    elif watched > before.watched_ms:
        newly_complete = _completes(watched, duration) and not _completes(
            before.watched_ms, duration)
        _seen[(me, video_id)] = SeenRecord(before.at, watched)
        now = bump_stats(video_id, watch_ms=watched - before.watched_ms,
                         completions=1 if newly_complete else 0)
    else:
        return
    changed(video_id, now)


@update
def share(video_id: nat64) -> nat64:
    """Count a share of a video (once per user and video); returns the share count."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: shares are counted per signed-in user")
    safety.require_visible(video_id, me)
    if (video_id, me) in shared:
        return stats_of(video_id).shares
    ratelimit.check(me, "share")
    shared[(video_id, me)] = ic.time()
    now = bump_stats(video_id, shares=1)
    changed(video_id, now)
    return now.shares


@query
def video_stats(video_id: nat64) -> VideoStats | None:
    """A visible video's counters (null if the caller may not see it)."""
    video = media.get_video(video_id)
    if video is None or not safety.is_visible(video, ic.caller()):
        return None
    return stats_of(video_id)


# -- deleted videos -------------------------------------------------------------------------


def forget_video(video: Video) -> None:
    """Drop the social state of deleted ``video``: its counters, hidden mark and open
    case now (and its likes from the creator's count), its per-user entries and comments
    in batches (`forget_step`)."""
    likes_now = stats_of(video.id).likes
    if likes_now:
        bump(video.creator, likes_received=-likes_now)
    _stats.remove(video.id)
    hidden.remove(video.id)
    key = f"video:{video.id}"
    case_id = case_of.remove(key)
    if case_id is not None:
        cases.remove(case_id)
    report_counts.remove(key)
    forgotten[video.id] = True
    forget_step()


_PerVideo = StableBTreeMap[tuple[int, Principal], Any]


def _drop_pairs(table: _PerVideo, video_id: int, budget: int) -> int:
    if budget <= 0:  # a range limit of 0 means no limit
        return 0
    rows = list(table.range((video_id, MIN_PRINCIPAL), (video_id, MAX_PRINCIPAL), limit=budget))
    for key, _ in rows:
        table.remove(key)
    return budget - len(rows)


def _drop_comments(video_id: int, budget: int) -> int:
    if budget <= 0:
        return 0
    roots = list(video_comments.range((video_id, 0), (video_id, MAX_ID), limit=budget))
    for (_v, root_id), _ in roots:
        if budget <= 0:
            break
        for (_r, reply_id), _ in list(replies_of.range((root_id, 0), (root_id, MAX_ID),
                                                       limit=max(1, budget))):
            reply = comments.get(reply_id)
            if reply is None:
                replies_of.remove((root_id, reply_id))
                budget -= 1
            else:
                budget -= _drop_comment(reply)
            if budget <= 0:
                return 0
        root = comments.get(root_id)
        if root is None:
            video_comments.remove((video_id, root_id))
            budget -= 1
        else:
            budget -= _drop_comment(root)
    return max(0, budget)


def _drop_reports(video_id: int, budget: int) -> int:
    if budget <= 0:
        return 0
    key = f"video:{video_id}"
    rows = list(reports.range((key, MIN_PRINCIPAL), (key, MAX_PRINCIPAL), limit=budget))
    for pair, _ in rows:
        reports.remove(pair)
    return budget - len(rows)


def forget_step() -> None:
    """Remove up to `limits.FORGET_BATCH` entries of deleted videos; if some are left,
    run again from a timer."""
    budget = limits.FORGET_BATCH
    for video_id, _ in list(forgotten.range(0, MAX_ID, limit=limits.FORGET_BATCH)):
        for table in (likes, like_notified, super_likes, shared):
            budget = _drop_pairs(table, video_id, budget)
        budget = _drop_comments(video_id, budget)
        budget = _drop_reports(video_id, budget)
        if budget <= 0:
            break
        forgotten.remove(video_id)
    if forgotten.first() is not None:
        set_timer(0, forget_step)
