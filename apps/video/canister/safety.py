"""Safety: plain-text rules, who sees a video, reports, auto-hiding and moderation.

Text. Everything users write is stored as plain text, never as markup: `clean` removes
control characters and the bidirectional overrides that make text display as
something else, normalises newlines and strips surrounding whitespace; `bounded` also
checks the length. The page shows texts with ``textContent``.

Visibility. `is_visible` says whether a viewer may see a video: it must be ready, not
hidden (auto-hidden by reports or removed by a moderator), its creator not suspended,
and no block between the viewer and the creator. The creator always sees their own
video (`hidden_reason` tells them why others do not) and moderators see everything.

Reports. A signed-in user reports a video or a user once, with a reason. Reports on a
target gather in one open *case* (the moderation queue, oldest first). When
`limits.AUTO_HIDE_REPORTS` distinct reporters have reported a video it is hidden until
a moderator decides (`catalogue.on_visibility_changed` tells the feed).

Moderation. Moderators are `InitArgs.admins` (``store.moderators``). ``moderate``
decides a target whether or not a case is open: ``keep`` shows it again and starts the
report count over; ``remove`` marks a video removed (hidden for good, the media is
kept so a later ``keep`` can restore it; the creator or a moderator may still delete
it with ``delete_video``) or suspends a user (their videos are hidden and they can no
longer act); ``blur`` marks a video sensitive through `media.set_sensitive` and shows it
again. The creator is notified of decisions about their video.
"""

from __future__ import annotations

import re

from icframework.sdk import Principal, Reject, ic, nat64, query, update

from . import catalogue, follows, limits, media, notifications, profiles, ratelimit, store
from .records import Video, VideoStatus
from .social_records import Case, CasePage, Decision, Report, ReportTarget
from .social_store import (
    MAX_ID,
    bump_stats,
    case_of,
    cases,
    hidden,
    next_id,
    report_counts,
    reports,
    suspended,
    target_key,
)

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
KEPT_REASONS = 10
"""The newest reports a case keeps (the count covers them all)."""
AUTO_HIDDEN = "hidden after reports, until a moderator looks at it"
REMOVED = "removed by a moderator"

# -- text -----------------------------------------------------------------------------------


def clean(text: str) -> str:
    """``text`` with CR/LF normalised, control characters (but tab and newline) and
    bidirectional overrides removed, surrounding whitespace stripped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def line(text: str) -> str:
    """`clean` ``text`` on one line: runs of whitespace become one space."""
    return " ".join(clean(text).split())


def bounded(what: str, text: str, limit: int, *, required: bool = False,
            one_line: bool = True) -> str:
    """``text`` cleaned (on one line unless ``one_line`` is false); `Reject` naming
    ``what`` if it is longer than ``limit`` characters, or empty when ``required``."""
    value = line(text) if one_line else clean(text)
    if len(value) > limit:
        raise Reject(f"{what} is at most {limit} characters, got {len(value)}: shorten it")
    if required and not value:
        raise Reject(f"{what} is required: give at least one character")
    return value


# -- visibility -----------------------------------------------------------------------------


def is_moderator(who: Principal) -> bool:
    return who in store.moderators


def require_moderator() -> Principal:
    """The caller if they are a moderator; `Reject` otherwise."""
    me = ic.caller()
    if not is_moderator(me):
        raise Reject(f"{me} is not a moderator: moderators are named at install (admins)")
    return me


def is_blocked_either(a: Principal, b: Principal) -> bool:
    """Whether ``a`` blocked ``b`` or ``b`` blocked ``a`` (`follows.is_blocked_either`)."""
    return follows.is_blocked_either(a, b)


def is_suspended(user: Principal) -> bool:
    return user in suspended


def is_hidden(video_id: int) -> bool:
    """Whether reports or a moderator hide ``video_id`` from everyone but its creator."""
    return video_id in hidden


def hidden_reason(video: Video) -> str | None:
    """Why others do not see ``video`` although it is ready (hidden, removed, or its
    creator suspended), or None."""
    reason = hidden.get(video.id)
    if reason is not None:
        return reason
    if video.creator in suspended:
        return "its creator is suspended"
    return None


def is_visible(video: Video, viewer: Principal) -> bool:
    """Whether ``viewer`` may see ``video``: its creator and moderators always (the
    creator sees their hidden video, marked by `hidden_reason`); others when it is
    ready, not hidden, its creator not suspended and no block stands between them."""
    if viewer == video.creator or is_moderator(viewer):
        return True
    if video.status is not VideoStatus.ready or video.id in hidden:
        return False
    if video.creator in suspended:
        return False
    return viewer.is_anonymous or not is_blocked_either(viewer, video.creator)


def require_visible(video_id: int, viewer: Principal) -> Video:
    """Video ``video_id`` if ``viewer`` may see it and it is ready; `Reject` otherwise
    (the same words whether it does not exist or is hidden from the viewer)."""
    video = media.get_video(video_id)
    if video is None or not is_visible(video, viewer):
        raise Reject(f"no video {video_id} for you: it does not exist, is not public "
                     "or was hidden")
    if video.status is not VideoStatus.ready:
        raise Reject(f"video {video_id} is {video.status.value}: wait until it is ready")
    return video


@query
def video_hidden_reason(video_id: nat64) -> str | None:
    """For a video's creator and moderators: why others do not see it (null if they do,
    or if the caller may not ask)."""
    viewer = ic.caller()
    video = media.get_video(video_id)
    if video is None or (viewer != video.creator and not is_moderator(viewer)):
        return None
    return hidden_reason(video)


@query
def i_am_moderator() -> bool:
    """Whether the caller is a moderator (the page shows the review queue then)."""
    return is_moderator(ic.caller())


# -- reports --------------------------------------------------------------------------------


def _check_target(target: ReportTarget, me: Principal) -> Video | None:
    if target.tag == "video":
        video = media.get_video(int(target.value))
        if video is None or not is_visible(video, me):
            raise Reject(f"no video {target.value} to report: check the id")
        if video.creator == me:
            raise Reject(f"video {video.id} is yours: delete it instead of reporting it")
        return video
    user: Principal = target.value
    if user == me:
        raise Reject("you cannot report yourself")
    profiles.require_profile(user)
    return None


def _open_case(target: ReportTarget, key: str, report: Report) -> Case:
    case_id = case_of.get(key)
    case = None if case_id is None else cases.get(case_id)
    if case is None:
        case = Case(id=next_id("next_case"), target=target, reporters=0, hidden=False,
                    first_at=report.at, last_at=report.at, reports=[])
        case_of[key] = case.id
    case.reports = [*case.reports, report][-KEPT_REASONS:]
    case.last_at = report.at
    return case


@update
def report(target: ReportTarget, reason: str) -> None:
    """Report a video (by id) or a user (by principal) to the moderators, once per
    target, with a reason; `limits.AUTO_HIDE_REPORTS` distinct reporters hide a video
    until a moderator decides."""
    me = ic.caller()
    profiles.require_user(me)
    video = _check_target(target, me)
    text = bounded("a report's reason", reason, limits.MAX_REASON_CHARS, required=True,
                   one_line=False)
    key = target_key(target)
    if (key, me) in reports:
        raise Reject(f"you already reported {key}: moderators will look at it")
    ratelimit.check(me, "report")
    entry = Report(me, text, ic.time())
    reports[(key, me)] = entry
    count = report_counts.get(key, 0) + 1
    report_counts[key] = count
    case = _open_case(target, key, entry)
    case.reporters = count
    if video is not None:
        bump_stats(video.id, reports=1)
        if count >= limits.AUTO_HIDE_REPORTS and video.id not in hidden:
            hidden[video.id] = AUTO_HIDDEN
            catalogue.on_visibility_changed(video.id)
        case.hidden = video.id in hidden
    cases[case.id] = case


@query
def moderation_queue(cursor: str | None) -> CasePage:
    """Moderators: open cases, oldest first, `limits.PAGE_SIZE` per page."""
    require_moderator()
    start = 0
    if cursor is not None:
        if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 20):
            raise Reject(f"{cursor[:40]!r} is not a queue cursor: pass the page's next, "
                         "or null for the first page")
        start = int(cursor)
    n = limits.PAGE_SIZE
    rows = list(cases.range(start, MAX_ID, limit=n + 1))
    items = [case for _id, case in rows[:n]]
    return CasePage(items, str(rows[n][0]) if len(rows) > n else None)


def _close_case(key: str) -> None:
    """Close ``key``'s open case; its reporters stay recorded (no one reports twice) and
    the count starts over."""
    case_id = case_of.remove(key)
    if case_id is not None:
        cases.remove(case_id)
    report_counts.remove(key)


def _decide_video(video: Video, decision: Decision) -> str:
    if decision is Decision.remove:
        hidden[video.id] = REMOVED
        catalogue.on_visibility_changed(video.id)
        return "your video was removed by a moderator"
    was_hidden = hidden.remove(video.id) is not None
    if decision is Decision.blur:
        media.set_sensitive(video.id, True)  # the moderator is the caller: H-media's path
        message = "a moderator marked your video sensitive: it is blurred until tapped"
    else:
        message = "a moderator reviewed your video and kept it"
    if was_hidden:
        catalogue.on_visibility_changed(video.id)
    return message


@update
def moderate(target: ReportTarget, decision: Decision) -> None:
    """Moderators: decide a video or a user (`Decision`), closing its open case."""
    me = require_moderator()
    ratelimit.check(me, "moderate")
    key = target_key(target)
    if target.tag == "video":
        video = media.require_video(int(target.value))
        message = _decide_video(video, decision)
        _close_case(key)
        notifications.notify(video.creator, "moderation", None, video.id, message)
        return
    user: Principal = target.value
    profiles.require_profile(user)
    if decision is Decision.blur:
        raise Reject("blur applies to videos: keep or remove a user")
    if decision is Decision.remove:
        suspended[user] = "suspended by a moderator"
    else:
        suspended.remove(user)
    _close_case(key)
    for (_creator, video_id), _ in store.by_creator.range(
            (user, 0), (user, MAX_ID), limit=limits.MAX_MY_VIDEOS):
        catalogue.on_visibility_changed(video_id)
