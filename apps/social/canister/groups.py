"""Groups (roles owner, admin and member; open join or join requests) and events (RSVP
and attendee lists).

A group's members are ``members[(group, user)] -> Membership`` with the reverse
``my_groups[(user, group)]``; pending requests are ``join_requests[(group, user)]``.
An ``open`` group is read by anyone and joined at once; a ``request`` group's posts
and events are read by its members only and an owner or admin approves each request.
The owner outranks admins, who outrank members: acting on a member (removing them,
changing their role) needs a strictly higher rank, and only the owner names admins.
Posts inside a group are ordinary posts with ``group_id`` set (`posts`), listed by
`feed.group_posts`.

Events belong to a group (readable as the group is) or to nobody (public). An RSVP is
``rsvps[(event, user)]``; ``going`` and ``interested`` are counted on the event.
"""

from __future__ import annotations

from dataclasses import dataclass

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

from . import graph, notifications, profiles, ratelimit
from .post_records import (
    AttendeesPage,
    AttendeeView,
    Author,
    Event,
    EventInput,
    EventView,
    Group,
    GroupInput,
    GroupMembersPage,
    GroupMemberView,
    GroupRole,
    GroupView,
    JoinPolicy,
    Rsvp,
)
from .store import MAX_ID, MIN_PRINCIPAL
from .text import bounded

MAX_GROUP_NAME_CHARS = 100
MAX_GROUP_ABOUT_CHARS = 2_000
MAX_EVENT_TITLE_CHARS = 120
MAX_EVENT_TEXT_CHARS = 5_000
MAX_LOCATION_CHARS = 200
MAX_GROUPS_PER_USER = 200
MAX_PAGE = 100
MAX_EVENT_NS = 31 * 24 * 3600 * 1_000_000_000
"""An event lasts at most 31 days."""

RANK = {GroupRole.owner: 3, GroupRole.admin: 2, GroupRole.member: 1}


@dataclass
class Membership:
    role: GroupRole
    joined_at: nat64


next_group_id = StableCell[nat64]("groups.next_id", default=1)
groups = StableBTreeMap[nat64, Group]("groups.groups")
members = StableBTreeMap[tuple[nat64, Principal], Membership]("groups.members")
my_groups = StableBTreeMap[tuple[Principal, nat64], bool]("groups.my_groups")
join_requests = StableBTreeMap[tuple[nat64, Principal], nat64]("groups.requests")
next_event_id = StableCell[nat64]("groups.next_event", default=1)
events = StableBTreeMap[nat64, Event]("groups.events")
group_events_index = StableBTreeMap[tuple[nat64, nat64, nat64], bool]("groups.group_events")
upcoming = StableBTreeMap[tuple[nat64, nat64], bool]("groups.upcoming")
rsvps = StableBTreeMap[tuple[nat64, Principal], Rsvp]("groups.rsvps")


# -- the contract with posts and feed ---------------------------------------------------------

def is_public(group_id: int) -> bool:
    group = groups.get(group_id)
    return group is not None and group.policy is JoinPolicy.open


def is_member(group_id: int, user: Principal) -> bool:
    return not user.is_anonymous and (group_id, user) in members


def is_manager(group_id: int, user: Principal) -> bool:
    """Whether ``user`` is the group's owner or an admin."""
    m = members.get((group_id, user))
    return m is not None and m.role in (GroupRole.owner, GroupRole.admin)


def can_read(viewer: Principal, group_id: int) -> bool:
    """Whether ``viewer`` may read the group's posts and events."""
    return is_public(group_id) or is_member(group_id, viewer)


def group_ids_of(user: Principal, limit: int = MAX_GROUPS_PER_USER) -> list[int]:
    """The groups ``user`` belongs to (at most ``limit``)."""
    return [g for (_u, g), _t in my_groups.range((user, 0), (user, MAX_ID), limit=limit)]


def require_member(group_id: int, user: Principal, action: str) -> Membership:
    _group(group_id)
    m = members.get((group_id, user))
    if m is None:
        raise Reject(f"join group {group_id} first to {action}")
    return m


# -- helpers ----------------------------------------------------------------------------------

def _me() -> Principal:
    me = ic.caller()
    profiles.require_user(me)
    return me


def _group(group_id: int) -> Group:
    group = groups.get(group_id)
    if group is None:
        raise Reject(f"there is no group {group_id}")
    return group


def _view(viewer: Principal, group: Group) -> GroupView:
    m = None if viewer.is_anonymous else members.get((group.id, viewer))
    return GroupView(
        id=group.id, name=group.name, description=group.description, policy=group.policy,
        owner=group.owner, member_count=group.member_count,
        request_count=group.request_count, created_at=group.created_at,
        my_role=None if m is None else m.role,
        requested=not viewer.is_anonymous and (group.id, viewer) in join_requests,
    )


def _author(p: Principal) -> Author:
    return Author(p, profiles.handle_of(p))


def _cursor(cursor: str | None, what: str) -> Principal:
    """The principal a members or attendees page starts at."""
    if cursor is None:
        return MIN_PRINCIPAL
    try:
        return Principal.from_text(cursor[:80])
    except Exception:
        raise Reject(f"{cursor[:40]!r} is not a {what} cursor; pass the next_cursor of "
                     "the previous page, or null for the first") from None


def _add(group: Group, user: Principal, role: GroupRole) -> None:
    if sum(1 for _ in my_groups.range((user, 0), (user, MAX_ID),
                                      limit=MAX_GROUPS_PER_USER)) >= MAX_GROUPS_PER_USER:
        raise Reject(f"a person belongs to at most {MAX_GROUPS_PER_USER} groups: leave one first")
    members[(group.id, user)] = Membership(role, ic.time())
    my_groups[(user, group.id)] = True
    group.member_count += 1


def _drop(group: Group, user: Principal) -> None:
    members.remove((group.id, user))
    my_groups.remove((user, group.id))
    group.member_count -= 1


# -- groups -----------------------------------------------------------------------------------

def _fields(data: GroupInput) -> tuple[str, str]:
    name = bounded("a group name", data.name, MAX_GROUP_NAME_CHARS, required=True)
    about = bounded("a group description", data.description, MAX_GROUP_ABOUT_CHARS,
                    one_line=False)
    return name, about


@update
def create_group(data: GroupInput) -> GroupView:
    """Create a group; the caller is its owner."""
    me = _me()
    ratelimit.check(me, "group")
    name, about = _fields(data)
    group_id = next_group_id.get()
    next_group_id.set(group_id + 1)
    group = Group(group_id, name, about, data.policy, me, 0, 0, ic.time())
    _add(group, me, GroupRole.owner)
    groups[group_id] = group
    return _view(me, group)


@update
def update_group(group_id: nat64, data: GroupInput) -> GroupView:
    """Change a group's name, description and join policy (owner and admins)."""
    me = _me()
    group = _group(group_id)
    if not is_manager(group_id, me):
        raise Reject(f"only the owner and admins of group {group_id} change its settings")
    group.name, group.description = _fields(data)
    group.policy = data.policy
    groups[group_id] = group
    return _view(me, group)


@query
def get_group(group_id: nat64) -> GroupView:
    """A group (its name and counts are public; posts and events follow its policy)."""
    return _view(ic.caller(), _group(group_id))


@query
def list_groups(cursor: nat64 | None, limit: nat32) -> tuple[list[GroupView], nat64 | None]:
    """Every group, newest first; pass the returned id back to page on."""
    me = ic.caller()
    n = max(1, min(int(limit), MAX_PAGE))
    end = MAX_ID if cursor is None else cursor
    rows = list(groups.range(0, end, reverse=True, limit=n + 1))
    return [_view(me, g) for _id, g in rows[:n]], rows[n - 1][0] if len(rows) > n else None


@query
def my_group_list() -> list[GroupView]:
    """The groups the caller belongs to."""
    me = ic.caller()
    return [_view(me, groups[g]) for g in group_ids_of(me)]


@update
def join_group(group_id: nat64) -> GroupView:
    """Join an open group at once, or ask to join a ``request`` group (its owner and
    admins are notified: ``group_request``)."""
    me = _me()
    group = _group(group_id)
    ratelimit.check(me, "join")
    if (group_id, me) in members:
        return _view(me, group)
    if graph.is_blocked(me, group.owner):
        raise Reject(f"you cannot join group {group_id}: you and its owner blocked each other")
    if group.policy is JoinPolicy.open:
        _add(group, me, GroupRole.member)
    elif (group_id, me) not in join_requests:
        join_requests[(group_id, me)] = ic.time()
        group.request_count += 1
        for (_g, user), m in members.range((group_id, MIN_PRINCIPAL), (group_id + 1, MIN_PRINCIPAL),
                                           limit=MAX_PAGE):
            if m.role is not GroupRole.member:
                notifications.notify(user, "group_request", me, group.name, f"group:{group_id}")
    groups[group_id] = group
    return _view(me, group)


@update
def answer_join_request(group_id: nat64, user: Principal, accept: bool) -> GroupView:
    """Accept or decline a pending join request (owner and admins); an accepted user
    is notified (``group_joined``)."""
    me = _me()
    group = _group(group_id)
    if not is_manager(group_id, me):
        raise Reject(f"only the owner and admins of group {group_id} answer join requests")
    if join_requests.remove((group_id, user)) is None:
        raise Reject(f"{user} has no pending request to join group {group_id}")
    group.request_count -= 1
    if accept:
        _add(group, user, GroupRole.member)
        notifications.notify(user, "group_joined", me, group.name, f"group:{group_id}")
    groups[group_id] = group
    return _view(me, group)


@query
def join_requests_of(group_id: nat64, cursor: Principal | None, limit: nat32
                     ) -> tuple[list[Author], Principal | None]:
    """Pending join requests, for the group's owner and admins."""
    me = ic.caller()
    _group(group_id)
    if not is_manager(group_id, me):
        raise Reject(f"only the owner and admins of group {group_id} see its join requests")
    n = max(1, min(int(limit), MAX_PAGE))
    start = (group_id, cursor if cursor is not None else MIN_PRINCIPAL)
    rows = list(join_requests.range(start, (group_id + 1, MIN_PRINCIPAL), limit=n + 1))
    return [_author(u) for (_g, u), _t in rows[:n]], rows[n][0][1] if len(rows) > n else None


@update
def leave_group(group_id: nat64) -> None:
    """Leave a group (or withdraw a join request). The owner hands the group over
    first (`set_group_role` ``owner``)."""
    me = _me()
    group = _group(group_id)
    if join_requests.remove((group_id, me)) is not None:
        group.request_count -= 1
    m = members.get((group_id, me))
    if m is not None:
        if m.role is GroupRole.owner:
            raise Reject(f"you own group {group_id}: make another member its owner first")
        _drop(group, me)
    groups[group_id] = group


@update
def remove_group_member(group_id: nat64, user: Principal) -> None:
    """Remove a member (an owner or admin who outranks them)."""
    me = _me()
    group = _group(group_id)
    mine = require_member(group_id, me, "manage it")
    theirs = members.get((group_id, user))
    if theirs is None:
        raise Reject(f"{user} is not a member of group {group_id}")
    if mine.role is GroupRole.member or RANK[mine.role] <= RANK[theirs.role]:
        raise Reject(f"a group {mine.role.value} cannot remove a {theirs.role.value}")
    _drop(group, user)
    groups[group_id] = group


@update
def set_group_role(group_id: nat64, user: Principal, role: GroupRole) -> None:
    """Change a member's role (the owner only). Making someone ``owner`` hands the
    group over: the old owner becomes an admin."""
    me = _me()
    group = _group(group_id)
    mine = require_member(group_id, me, "manage it")
    if mine.role is not GroupRole.owner:
        raise Reject(f"only the owner of group {group_id} changes roles")
    theirs = members.get((group_id, user))
    if theirs is None:
        raise Reject(f"{user} is not a member of group {group_id}: they join first")
    if user == me:
        raise Reject("you are the owner: make another member owner to step down")
    if role is GroupRole.owner:
        mine.role = GroupRole.admin
        members[(group_id, me)] = mine
        group.owner = user
        groups[group_id] = group
    theirs.role = role
    members[(group_id, user)] = theirs


@query
def group_members(group_id: nat64, cursor: str | None, limit: nat32) -> GroupMembersPage:
    """A group's members (readers of the group only), in principal order."""
    me = ic.caller()
    _group(group_id)
    if not can_read(me, group_id):
        raise Reject(f"group {group_id} shows its members to members only: ask to join")
    n = max(1, min(int(limit), MAX_PAGE))
    start = (group_id, _cursor(cursor, "members"))
    rows = list(members.range(start, (group_id + 1, MIN_PRINCIPAL), limit=n + 1))
    out = [GroupMemberView(_author(u), m.role, m.joined_at) for (_g, u), m in rows[:n]]
    return GroupMembersPage(out, rows[n][0][1].to_text() if len(rows) > n else None)


# -- events -----------------------------------------------------------------------------------

def _event(event_id: int, viewer: Principal) -> Event:
    ev = events.get(event_id)
    if ev is None or (ev.group_id is not None and not can_read(viewer, ev.group_id)):
        raise Reject(f"there is no event {event_id} you can see")
    return ev


def _event_view(viewer: Principal, ev: Event) -> EventView:
    return EventView(
        id=ev.id, group_id=ev.group_id, host=_author(ev.host), title=ev.title,
        description=ev.description, location=ev.location, starts_at=ev.starts_at,
        ends_at=ev.ends_at, going=ev.going, interested=ev.interested,
        my_rsvp=None if viewer.is_anonymous else rsvps.get((ev.id, viewer)),
        created_at=ev.created_at,
    )


@update
def create_event(data: EventInput) -> EventView:
    """Create an event, in a group the caller manages or (no group) public; the host
    is marked ``going``."""
    me = _me()
    ratelimit.check(me, "group")
    if data.group_id is not None and not is_manager(data.group_id, me):
        _group(data.group_id)
        raise Reject(f"only the owner and admins of group {data.group_id} create its events")
    title = bounded("an event title", data.title, MAX_EVENT_TITLE_CHARS, required=True)
    about = bounded("an event description", data.description, MAX_EVENT_TEXT_CHARS,
                    one_line=False)
    where = bounded("an event location", data.location, MAX_LOCATION_CHARS)
    if data.starts_at < ic.time():
        raise Reject(f"an event starts in the future, not at {data.starts_at} ns "
                     f"(now is {ic.time()} ns)")
    if not data.starts_at <= data.ends_at <= data.starts_at + MAX_EVENT_NS:
        raise Reject("an event ends after it starts and lasts at most 31 days, "
                     f"got {data.starts_at}..{data.ends_at} ns")
    event_id = next_event_id.get()
    next_event_id.set(event_id + 1)
    ev = Event(event_id, data.group_id, me, title, about, where, data.starts_at,
               data.ends_at, 1, 0, ic.time())
    events[event_id] = ev
    rsvps[(event_id, me)] = Rsvp.going
    if data.group_id is not None:
        group_events_index[(data.group_id, data.starts_at, event_id)] = True
    upcoming[(data.starts_at, event_id)] = True
    return _event_view(me, ev)


@query
def get_event(event_id: nat64) -> EventView:
    me = ic.caller()
    return _event_view(me, _event(event_id, me))


@update
def rsvp(event_id: nat64, answer: Rsvp | None) -> EventView:
    """Answer an event's invitation (null withdraws the answer). An event in a
    ``request`` group takes answers from its members only."""
    me = _me()
    ev = _event(event_id, me)
    ratelimit.check(me, "join")
    if ev.group_id is not None and not is_public(ev.group_id) and not is_member(ev.group_id, me):
        raise Reject(f"join group {ev.group_id} first to answer its events")
    old = rsvps.get((event_id, me))
    for value, delta in ((old, -1), (answer, 1)):
        if value is Rsvp.going:
            ev.going += delta
        elif value is Rsvp.interested:
            ev.interested += delta
    if answer is None:
        rsvps.remove((event_id, me))
    else:
        rsvps[(event_id, me)] = answer
    events[event_id] = ev
    return _event_view(me, ev)


@query
def event_attendees(event_id: nat64, cursor: str | None, limit: nat32) -> AttendeesPage:
    """Who answered an event (``going`` and ``interested``), in principal order."""
    me = ic.caller()
    _event(event_id, me)
    n = max(1, min(int(limit), MAX_PAGE))
    start = (event_id, _cursor(cursor, "attendees"))
    rows = list(rsvps.range(start, (event_id + 1, MIN_PRINCIPAL), limit=n + 1))
    out = [AttendeeView(_author(u), answer) for (_e, u), answer in rows[:n]
           if answer is not Rsvp.not_going]
    return AttendeesPage(out, rows[n][0][1].to_text() if len(rows) > n else None)


@query
def upcoming_events(limit: nat32) -> list[EventView]:
    """Events starting from now on that the caller may see, soonest first."""
    me = ic.caller()
    n = max(1, min(int(limit), MAX_PAGE))
    out: list[EventView] = []
    for (_at, event_id), _t in upcoming.range((ic.time(), 0), None, limit=n * 4):
        ev = events[event_id]
        if ev.group_id is None or can_read(me, ev.group_id):
            out.append(_event_view(me, ev))
            if len(out) >= n:
                break
    return out


@query
def group_events(group_id: nat64, limit: nat32) -> list[EventView]:
    """A group's events from now on, soonest first (readers of the group only)."""
    me = ic.caller()
    _group(group_id)
    if not can_read(me, group_id):
        raise Reject(f"group {group_id} shows its events to members only: ask to join")
    n = max(1, min(int(limit), MAX_PAGE))
    rows = group_events_index.range((group_id, ic.time(), 0), (group_id + 1, 0, 0), limit=n)
    return [_event_view(me, events[e]) for (_g, _at, e), _t in rows]
