"""Reporting messages to a room's owner/admins and the platform moderators."""

from __future__ import annotations

from icframework.sdk import DoesNotExist, Reject, ic, nat64, query, update

from .access import is_moderator, readable_room, require_user
from .limits import MAX_REASON_CHARS, MAX_REPORTS_PAGE, REPORT_RATE
from .ratelimit import check
from .records import Role
from .store import Report, members, messages, report_keys
from .text import clean, excerpt


def _may_moderate(room_id: int) -> bool:
    me = ic.caller()
    if is_moderator(me):
        return True
    member = members.get((room_id, me))
    return member is not None and member.role in (Role.owner, Role.admin)


@update
def report(room_id: nat64, message_id: nat64, reason: str) -> nat64:
    """Report a message of a room the caller can read (reason: 1–1,000 characters);
    returns the report id. One report per user and message."""
    me, _ = require_user()
    readable_room(room_id)
    msg = messages.get((room_id, message_id))
    if msg is None or msg.deleted:
        raise Reject(f"there is no message {message_id} in room {room_id}")
    why = clean(reason)
    if not 1 <= len(why) <= MAX_REASON_CHARS:
        raise Reject(f"a report needs a reason of 1–{MAX_REASON_CHARS} characters")
    if (room_id, message_id, me) in report_keys:
        raise Reject("you already reported this message")
    check(me, REPORT_RATE)
    filed: Report = Report.objects.create(
        room_id=room_id, message_id=message_id, reporter=me, author=msg.author,
        reason=why, excerpt=excerpt(msg.text, 500), created_at=ic.time(),
    )
    report_id: int = filed.pk  # the automatic id (type checkers do not see Model.id)
    report_keys[(room_id, message_id, me)] = report_id
    return report_id


@query
def reports(room_id: nat64 | None) -> list[Report]:
    """Reports, newest first (at most 200): of one room for its owner/admins and the
    moderators, of every room (``room_id`` null) for moderators only."""
    require_user()
    if room_id is None:
        if not is_moderator(ic.caller()):
            raise Reject("only platform moderators see the reports of every room")
        qs = Report.objects.order_by("-id")
    else:
        if not _may_moderate(room_id):
            raise Reject(f"only the owner and admins of room {room_id} see its reports")
        qs = Report.objects.filter(room_id=room_id).order_by("-id")
    return qs.paginate(None, MAX_REPORTS_PAGE).items


@update
def resolve_report(report_id: nat64) -> None:
    """Mark a report handled (the room's owner/admins or a moderator)."""
    me, _ = require_user()
    try:
        filed = Report.objects.get(pk=report_id)
    except DoesNotExist:
        raise Reject(f"there is no report {report_id}") from None
    if not _may_moderate(filed.room_id):
        raise Reject(f"only the owner and admins of room {filed.room_id} handle its reports")
    filed.resolved, filed.resolved_by = True, me
    filed.save()
