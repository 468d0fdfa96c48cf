"""Privacy and safety: section visibility, who may send requests, reports, the moderator queue.

Each profile section (about, links, experience, education, skills, connections, posts)
is ``public`` or ``connections`` (1st degree only); the owner always sees all of it
and a block hides everything both ways. ``requests`` says who may send the user a
connection request. Anyone signed in may report a user, post, comment, organisation,
job or recommendation once; the moderators named at install (``InitArgs.admins``)
work through the queue (`report_queue`, `resolve_report`).
"""

from __future__ import annotations

from typing import Any

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import graph, limits, people, profiles, ratelimit
from .records import Privacy, Report, ReportPage, ReportStatus, RequestPolicy, Visibility
from .store import moderators, privacy, report_keys
from .text import bounded

SECTIONS = ("about", "links", "experience", "education", "skills", "connections", "posts")
REPORT_KINDS = ("user", "post", "comment", "org", "job", "recommendation")


def privacy_of(user: Principal) -> Privacy:
    return privacy.get(user) or Privacy()


def can_see_section(viewer: Principal, owner: Principal, section: str) -> bool:
    """Whether ``viewer`` may see ``section`` of ``owner``'s profile. An unknown section
    is a programming error (``ValueError`` naming the known ones)."""
    if section not in SECTIONS:
        raise ValueError(f"no profile section {section!r}; known: {', '.join(SECTIONS)}")
    if viewer == owner:
        return True
    if graph.is_blocked(viewer, owner):
        return False
    visibility: Visibility = getattr(privacy_of(owner), section)
    return visibility is Visibility.public or graph.is_connected(viewer, owner)


def request_refusal(sender: Principal, recipient: Principal) -> str | None:
    """Why ``sender`` may not send ``recipient`` a connection request, or None if they may."""
    if sender == recipient or sender.is_anonymous or profiles.get_profile(sender) is None:
        return "sign in and register first to send requests"
    if graph.is_blocked(sender, recipient):
        return f"you cannot send {recipient} a request: one of you blocked the other"
    if graph.is_connected(sender, recipient):
        return "you are already connected"
    policy = privacy_of(recipient).requests
    if policy is RequestPolicy.nobody:
        return f"@{profiles.handle_of(recipient)} accepts no connection requests"
    if policy is RequestPolicy.mutuals and graph.degree(sender, recipient) != 2:
        return (f"@{profiles.handle_of(recipient)} accepts requests only from people with a "
                "connection in common")
    return None


@update
def set_privacy(settings: Privacy) -> Privacy:
    """Replace the caller's visibility settings."""
    me = ic.caller()
    profiles.require_user(me)
    ratelimit.check(me, "profile")
    privacy[me] = settings
    people.reindex(me)
    return settings


@query
def my_privacy() -> Privacy:
    me = ic.caller()
    profiles.require_user(me)
    return privacy_of(me)


# -- reports --------------------------------------------------------------------------------

def _check_target(kind: str, target_id: str) -> None:
    if kind == "user":
        try:
            profiles.require_profile(Principal.from_text(target_id))
        except ValueError:
            raise Reject(f"{target_id[:60]!r} is not a principal: report a user by "
                         "their principal") from None
        return
    if not target_id.isdigit() or not target_id.isascii() or len(target_id) > 20:
        raise Reject(f"{target_id[:60]!r} is not an id: a {kind} is reported by its number")
    from .records import Job, Org, Recommendation

    model: Any = {"org": Org, "job": Job, "recommendation": Recommendation}.get(kind)
    if model is not None and model.objects.filter(id=int(target_id)).first() is None:
        raise Reject(f"no {kind} {target_id} to report")


def file_report(reporter: Principal, kind: str, target_id: str, reason: str) -> int:
    """Store a report of ``kind`` about ``target_id`` by ``reporter``; its id. `Reject`
    on an unknown kind, a missing target (checked here for users, organisations,
    jobs and recommendations; posts and comments are checked by their module), an
    empty or long reason, a repeated report or the rate limit."""
    profiles.require_user(reporter)
    if kind not in REPORT_KINDS:
        raise Reject(f"cannot report a {kind[:30]!r}: report one of {', '.join(REPORT_KINDS)}")
    _check_target(kind, target_id)
    text = bounded("a report's reason", reason, limits.MAX_REASON_CHARS, required=True,
                   one_line=False)
    if (reporter, kind, target_id) in report_keys:
        raise Reject(f"you already reported {kind} {target_id}: moderators will look at it")
    ratelimit.check(reporter, "report")
    report = Report.objects.create(kind=kind, target_id=target_id, reporter=reporter,
                                   reason=text, status=ReportStatus.open,
                                   queue=ReportStatus.open.value, created_at=ic.time())
    report_keys[(reporter, kind, target_id)] = report.id
    return report.id


@update
def report(kind: str, target_id: str, reason: str) -> nat64:
    """Report a user (by principal), or a post, comment, organisation, job or
    recommendation (by id) to the moderators; returns the report's id."""
    return file_report(ic.caller(), kind, target_id, reason)


def require_moderator() -> Principal:
    me = ic.caller()
    if me not in moderators:
        raise Reject(f"{me} is not a moderator: moderators are named at install (admins)")
    return me


@query
def is_moderator() -> bool:
    return ic.caller() in moderators


@query
def report_queue(status: ReportStatus, cursor: str | None, limit: nat32) -> ReportPage:
    """Moderators: reports with ``status``, oldest first."""
    require_moderator()
    n = max(1, min(limit, limits.MAX_REPORTS_PAGE))
    page = Report.objects.filter(queue=status.value).order_by("id").paginate(cursor, limit=n)
    return ReportPage(list(page.items), page.next_cursor)


@update
def resolve_report(report_id: nat64, status: ReportStatus, note: str) -> Report:
    """Moderators: close a report as ``resolved`` (acted on) or ``dismissed``."""
    me = require_moderator()
    if status is ReportStatus.open:
        raise Reject("resolve a report as resolved or dismissed, not open")
    found = Report.objects.filter(id=report_id).first()
    if found is None:
        raise Reject(f"no report {report_id}")
    found.status, found.queue = status, status.value
    found.resolved_by = me
    found.note = bounded("a moderator's note", note, limits.MAX_REASON_CHARS, one_line=False)
    found.save()
    return found
