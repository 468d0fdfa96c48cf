"""Rooms: groups and direct rooms, membership, roles, bans, invite links, subscriptions."""

from __future__ import annotations

import base64
import hashlib

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import folders, receipts, thread_index
from .access import (
    blocked_between,
    get_room,
    is_open,
    membership,
    outranks,
    readable_room,
    require_manager,
    require_user,
    resolve_user,
)
from .events import ChatEvent, MemberEvent
from .feed import next_seq, publish_user, record, save_room
from .limits import (
    INVITE_RATE,
    JOIN_RATE,
    MAX_ADD_MEMBERS,
    MAX_DESCRIPTION_CHARS,
    MAX_INVITES_PER_ROOM,
    MAX_MEMBERS,
    MAX_MEMBERS_PAGE,
    MAX_PUBLIC_ROOMS_PAGE,
    MAX_REASON_CHARS,
    MAX_ROOM_NAME_CHARS,
    MAX_ROOMS_PER_USER,
    MAX_SEARCH_SCAN,
    ROOM_RATE,
)
from .ratelimit import check
from .records import (
    BanView,
    InviteView,
    MembersPage,
    MemberStatus,
    MemberView,
    MyRoomView,
    Role,
    RoomKind,
    RoomUpdate,
    RoomView,
)
from .store import (
    MAX_ID,
    Ban,
    Invite,
    Member,
    Room,
    bans,
    directs,
    entropy,
    invites,
    members,
    memberships,
    public_rooms,
    room_counter,
    room_invites,
    rooms,
    users,
)
from .text import clean
from .views import Views, room_view

_LOWEST = Principal.management_canister()  # the smallest principal (no bytes)


# -- validation ---------------------------------------------------------------------------

def _room_name(name: str) -> str:
    shown = " ".join(clean(name).split())
    if not 1 <= len(shown) <= MAX_ROOM_NAME_CHARS:
        raise Reject(f"a room name is 1–{MAX_ROOM_NAME_CHARS} characters, got {len(shown)}")
    return shown


def _description(text: str) -> str:
    shown = clean(text)
    if len(shown) > MAX_DESCRIPTION_CHARS:
        raise Reject(f"a description is at most {MAX_DESCRIPTION_CHARS} characters, "
                     f"got {len(shown)}")
    return shown


# -- membership primitives ----------------------------------------------------------------

def _room_count(user: Principal) -> int:
    return sum(1 for _ in memberships.range((user, 0), (user, MAX_ID),
                                            limit=MAX_ROOMS_PER_USER))


def _member_event(room: Room, user: Principal, status: MemberStatus, role: Role | None,
                  by: Principal) -> ChatEvent:
    record_ = users.get(user)
    return ChatEvent(member=MemberEvent(
        room_id=room.id, user=user, handle="" if record_ is None else record_.handle,
        status=status, role=role, by=by, seq=next_seq(room),
    ))


def _admit(room: Room, user: Principal, role: Role, by: Principal, *, announce: bool = True
           ) -> Member:
    """Make ``user`` a member (the caller checked bans and permissions); records the
    ``member`` event of a group and (if ``announce``) sends ``room_added`` to the user.
    The first to join a group its owner left becomes its owner."""
    if room.member_count >= MAX_MEMBERS:
        raise Reject(f"room {room.id} is full ({MAX_MEMBERS} members)")
    if _room_count(user) >= MAX_ROOMS_PER_USER:
        raise Reject(f"a user can be in at most {MAX_ROOMS_PER_USER} rooms")
    if room.kind is RoomKind.group and room.owner is None:
        role, room.owner = Role.owner, user
    now = ic.time()
    member = Member(role=role, joined_at=now, read_up_to=room.last_message_id, muted=False)
    members[(room.id, user)] = member
    memberships[(user, room.id)] = now
    room.member_count += 1
    if room.kind is RoomKind.group:
        record(room, _member_event(room, user, MemberStatus.joined, role, by))
    if announce:
        publish_user(user, ChatEvent(room_added=Views(user).my_room(room, member)))
    return member


def _drop(room: Room, user: Principal, status: MemberStatus, by: Principal) -> None:
    """End ``user``'s membership: left, removed or banned."""
    members.remove((room.id, user))
    memberships.remove((user, room.id))
    room.member_count -= 1
    for feature in (folders, receipts, thread_index):
        feature.forget_member(room.id, user)
    event = _member_event(room, user, status, None, by)
    record(room, event)
    if status is not MemberStatus.left:
        publish_user(user, event)


def _new_room(kind: RoomKind, name: str, description: str, public: bool,
              owner: Principal | None, creator: Principal,
              direct_members: list[Principal]) -> Room:
    room_id = room_counter.get() + 1
    room_counter.set(room_id)
    room = Room(
        id=room_id, kind=kind, name=name, description=description, public=public,
        owner=owner, created_by=creator, created_at=ic.time(), member_count=0,
        last_message_id=0, last_activity=ic.time(), seq=0, direct_members=direct_members,
        invite_count=0, pin_count=0,
    )
    if public:
        public_rooms[room_id] = True
    return room


def direct_key(a: Principal, b: Principal) -> tuple[Principal, Principal]:
    return (a, b) if a.raw <= b.raw else (b, a)


def direct_room(me: Principal, other: Principal) -> tuple[Room, bool]:
    """The direct room of ``me`` and ``other``, created if needed (rate limited);
    whether it was created."""
    if other == me:
        raise Reject("a direct conversation needs another user")
    if blocked_between(me, other):
        raise Reject("you cannot message this user (one of you blocked the other)")
    key = direct_key(me, other)
    found = directs.get(key)
    if found is not None:
        return rooms[found], False
    check(me, ROOM_RATE)
    room = _new_room(RoomKind.direct, "", "", False, None, me, list(key))
    directs[key] = room.id
    joined = [(user, _admit(room, user, Role.member, me, announce=False)) for user in key]
    for user, member in joined:
        publish_user(user, ChatEvent(room_added=Views(user).my_room(room, member)))
    save_room(room)
    return room, True


# -- creating, joining, leaving ------------------------------------------------------------

@update
def create_room(name: str, description: str, public: bool) -> MyRoomView:
    """Create a group room owned by the caller. Public rooms are listed and readable by
    anyone and joinable directly; private ones need an invite link or an admin."""
    me, _ = require_user()
    check(me, ROOM_RATE)
    room = _new_room(RoomKind.group, _room_name(name), _description(description), public,
                     me, me, [])
    member = _admit(room, me, Role.owner, me)
    save_room(room)
    return Views(me).my_room(room, member)


@update
def open_direct(user: str) -> MyRoomView:
    """The caller's direct room with ``user`` (a handle or principal), created if needed."""
    me, _ = require_user()
    room, _created = direct_room(me, resolve_user(user))
    return Views(me).my_room(room, members[(room.id, me)])


@update
def join_room(room_id: nat64) -> MyRoomView:
    """Join a public group room."""
    me, _ = require_user()
    room = get_room(room_id)
    existing = members.get((room_id, me))
    if existing is not None:
        return Views(me).my_room(room, existing)
    if not is_open(room):
        raise Reject(f"room {room_id} is private: join it with an invite link")
    if (room_id, me) in bans:
        raise Reject(f"you are banned from room {room_id}")
    check(me, JOIN_RATE)
    member = _admit(room, me, Role.member, me)
    save_room(room)
    return Views(me).my_room(room, member)


@update
def leave_room(room_id: nat64) -> None:
    """Leave a group room. The owner must transfer ownership first unless they are the
    last member (the next user to join then becomes the owner)."""
    me, _, room, member = membership(room_id)
    if room.kind is RoomKind.direct:
        raise Reject("direct rooms cannot be left; block the user instead")
    if member.role is Role.owner:
        if room.member_count > 1:
            raise Reject("transfer ownership (transfer_ownership) before leaving")
        room.owner = None
    _drop(room, me, MemberStatus.left, me)
    save_room(room)


@update
def add_members(room_id: nat64, user_refs: list[str]) -> list[MemberView]:
    """Add users (handles or principals, at most 50) to a group room (owner/admin)."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "add members")
    if len(user_refs) > MAX_ADD_MEMBERS:
        raise Reject(f"add at most {MAX_ADD_MEMBERS} users at once")
    added = []
    views = Views(me)
    for ref in user_refs:
        user = resolve_user(ref)
        if (room_id, user) in members:
            continue
        if (room_id, user) in bans:
            raise Reject(f"@{views.handle(user)} is banned from room {room_id}; unban first")
        new = _admit(room, user, Role.member, me)
        added.append(_member_view(views, user, new))
    save_room(room)
    return added


@update
def remove_member(room_id: nat64, user: Principal) -> None:
    """Remove a member (the owner removes anyone; admins remove members)."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "remove members")
    target = members.get((room_id, user))
    if target is None:
        raise Reject(f"{user} is not a member of room {room_id}")
    if user == me:
        raise Reject("you cannot remove yourself: use leave_room")
    if not outranks(member, target):
        raise Reject(f"an {member.role.name} cannot remove a {target.role.name}")
    _drop(room, user, MemberStatus.removed, me)
    save_room(room)


@update
def ban(room_id: nat64, user: Principal, reason: str) -> None:
    """Ban a user (removing them if they are a member): they cannot join again until
    unbanned. Same rank rule as `remove_member`."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "ban users")
    if user == me:
        raise Reject("you cannot ban yourself")
    if user not in users:
        raise Reject(f"{user} has not registered")
    why = clean(reason)
    if len(why) > MAX_REASON_CHARS:
        raise Reject(f"a reason is at most {MAX_REASON_CHARS} characters")
    target = members.get((room_id, user))
    if target is not None and not outranks(member, target):
        raise Reject(f"an {member.role.name} cannot ban a {target.role.name}")
    bans[(room_id, user)] = Ban(by=me, at=ic.time(), reason=why)
    if target is not None:
        _drop(room, user, MemberStatus.banned, me)
    else:
        event = _member_event(room, user, MemberStatus.banned, None, me)
        record(room, event)
        publish_user(user, event)
    save_room(room)


@update
def unban(room_id: nat64, user: Principal) -> None:
    """Lift a ban (the user may then join or be added again)."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "unban users")
    if bans.remove((room_id, user)) is None:
        raise Reject(f"{user} is not banned from room {room_id}")
    record(room, _member_event(room, user, MemberStatus.unbanned, None, me))
    save_room(room)


@query(name="bans")
def list_bans(room_id: nat64) -> list[BanView]:
    """The room's bans (owner/admin)."""
    _, _, room, member = membership(room_id)
    require_manager(room, member, "see bans")
    views = Views(None)
    return [BanView(user=u, handle=views.handle(u), banned_by=b.by, banned_at=b.at,
                    reason=b.reason)
            for (_, u), b in bans.range((room_id, _LOWEST), (room_id + 1, _LOWEST))]


@update
def set_role(room_id: nat64, user: Principal, role: Role) -> MemberView:
    """Make a member an admin or a plain member (owner only)."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "change roles")
    if member.role is not Role.owner:
        raise Reject("only the owner can change roles")
    if role is Role.owner:
        raise Reject("use transfer_ownership to make someone the owner")
    if user == me:
        raise Reject("the owner's role changes only by transfer_ownership")
    target = members.get((room_id, user))
    if target is None:
        raise Reject(f"{user} is not a member of room {room_id}")
    if target.role is not role:
        target.role = role
        members[(room_id, user)] = target
        record(room, _member_event(room, user, MemberStatus.role_changed, role, me))
        save_room(room)
    return _member_view(Views(me), user, target)


@update
def transfer_ownership(room_id: nat64, user: Principal) -> None:
    """Make another member the owner; the old owner becomes an admin. Publishes two
    ``member`` events (``role_changed``)."""
    me, _, room, member = membership(room_id)
    if member.role is not Role.owner:  # (direct rooms have no owner)
        raise Reject("only the owner can transfer ownership")
    target = members.get((room_id, user))
    if target is None or user == me:
        raise Reject(f"{user} is not another member of room {room_id}")
    target.role, member.role, room.owner = Role.owner, Role.admin, user
    members[(room_id, user)] = target
    members[(room_id, me)] = member
    record(room, _member_event(room, user, MemberStatus.role_changed, Role.owner, me))
    record(room, _member_event(room, me, MemberStatus.role_changed, Role.admin, me))
    save_room(room)


@update
def update_room(room_id: nat64, settings: RoomUpdate) -> RoomView:
    """Rename, describe, or make public/private a group room (owner/admin); publishes
    ``room``."""
    _, _, room, member = membership(room_id)
    require_manager(room, member, "change the room")
    if settings.name is not None:
        room.name = _room_name(settings.name)
    if settings.description is not None:
        room.description = _description(settings.description)
    if settings.public is not None and settings.public is not room.public:
        room.public = settings.public
        if room.public:
            public_rooms[room.id] = True
        else:
            public_rooms.remove(room.id)
    next_seq(room)
    view = room_view(room)
    record(room, ChatEvent(room=view))
    save_room(room)
    return view


@update
def set_muted(room_id: nat64, muted: bool) -> None:
    """Mute or unmute a room for the caller (a flag for clients; mentions still count)."""
    me, _, _, member = membership(room_id)
    member.muted = muted
    members[(room_id, me)] = member


# -- invite links -------------------------------------------------------------------------

def _invite_view(code: str, invite: Invite) -> InviteView:
    return InviteView(code=code, room_id=invite.room_id, created_by=invite.created_by,
                      created_at=invite.created_at, expires_at=invite.expires_at,
                      max_uses=invite.max_uses, uses=invite.uses)


def _fresh_code(room: Room, me: Principal) -> str:
    """A 16-character URL-safe code (96 bits) from the entropy pool.

    The pool is SHA-256 over its previous value, the time, the caller and the message's
    argument bytes; `send_message` stirs it too, so it absorbs content outsiders never
    see. The canister has no synchronous randomness (raw_rand is an async call).
    """
    seed = b"|".join([entropy.get(), room.id.to_bytes(8, "big"),
                      room.invite_count.to_bytes(8, "big"), ic.time().to_bytes(8, "big"),
                      me.raw, ic.arg_data()])
    while True:
        digest = hashlib.sha256(seed).digest()
        entropy.set(hashlib.sha256(b"pool" + digest).digest())
        code = base64.urlsafe_b64encode(digest[:12]).decode()
        if code not in invites:
            return code
        seed = digest


def _live_invite(code: str) -> Invite:
    invite = invites.get(code.strip())
    if invite is None:
        raise Reject("this invite link is not valid (revoked or mistyped)")
    if invite.expires_at is not None and ic.time() >= invite.expires_at:
        raise Reject("this invite link has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise Reject("this invite link has been used up")
    return invite


@update
def create_invite(room_id: nat64, max_uses: nat32 | None,
                  expires_in_ns: nat64 | None) -> InviteView:
    """A new invite link for a group room (owner/admin): optional use limit and lifetime."""
    me, _, room, member = membership(room_id)
    require_manager(room, member, "create invite links")
    check(me, INVITE_RATE)
    live = sum(1 for _ in room_invites.range((room_id, ""), (room_id + 1, ""),
                                             limit=MAX_INVITES_PER_ROOM))
    if live >= MAX_INVITES_PER_ROOM:
        raise Reject(f"a room has at most {MAX_INVITES_PER_ROOM} invite links; revoke some")
    if max_uses == 0:
        raise Reject("max_uses must be at least 1 (or null for no limit)")
    room.invite_count += 1
    code = _fresh_code(room, me)
    now = ic.time()
    invite = Invite(room_id=room_id, created_by=me, created_at=now,
                    expires_at=None if expires_in_ns is None else min(now + expires_in_ns,
                                                                        MAX_ID),
                    max_uses=max_uses, uses=0)
    invites[code] = invite
    room_invites[(room_id, code)] = now
    save_room(room)
    return _invite_view(code, invite)


@update
def revoke_invite(code: str) -> None:
    """Revoke an invite link (owner/admin of its room)."""
    invite = invites.get(code.strip())
    if invite is None:
        raise Reject("there is no such invite link")
    _, _, room, member = membership(invite.room_id)
    require_manager(room, member, "revoke invite links")
    invites.remove(code.strip())
    room_invites.remove((invite.room_id, code.strip()))


@query(name="invites")
def list_invites(room_id: nat64) -> list[InviteView]:
    """The room's invite links (owner/admin)."""
    _, _, room, member = membership(room_id)
    require_manager(room, member, "see invite links")
    out = []
    for (_, code), _at in room_invites.range((room_id, ""), (room_id + 1, "")):
        invite = invites.get(code)
        if invite is not None:
            out.append(_invite_view(code, invite))
    return out


@query
def invite_info(code: str) -> RoomView:
    """The room an invite link leads to (anyone may ask: it is a preview for the link)."""
    return room_view(get_room(_live_invite(code).room_id))


@update
def join_by_invite(code: str) -> MyRoomView:
    """Join the room of an invite link (public or private); banned users cannot."""
    me, _ = require_user()
    invite = _live_invite(code)
    room = get_room(invite.room_id)
    existing = members.get((room.id, me))
    if existing is not None:
        return Views(me).my_room(room, existing)
    if (room.id, me) in bans:
        raise Reject(f"you are banned from room {room.id}")
    check(me, JOIN_RATE)
    invite.uses += 1
    invites[code.strip()] = invite
    member = _admit(room, me, Role.member, invite.created_by)
    save_room(room)
    return Views(me).my_room(room, member)


# -- reading -------------------------------------------------------------------------------

def _member_view(views: Views, user: Principal, member: Member) -> MemberView:
    record_ = views.user(user)
    return MemberView(
        user=user,
        handle="" if record_ is None else record_.handle,
        display_name="" if record_ is None else record_.display_name,
        role=member.role,
        joined_at=member.joined_at,
        read_up_to=member.read_up_to,
    )


@query(name="room")
def get_room_view(room_id: nat64) -> RoomView:
    """A room the caller may read."""
    return room_view(readable_room(room_id))


@query
def my_rooms() -> list[MyRoomView]:
    """The caller's rooms, most recently active first, with unread counts."""
    me, _ = require_user()
    views = Views(me)
    out = []
    for (_, room_id), _at in memberships.range((me, 0), (me, MAX_ID)):
        room = rooms[room_id]
        out.append(views.my_room(room, members[(room_id, me)]))
    out.sort(key=lambda v: (v.room.last_activity, v.room.id), reverse=True)
    return out


@query(name="members")
def list_members(room_id: nat64, after: Principal | None, limit: nat32) -> MembersPage:
    """Members of a room the caller may read, by principal; ``next`` continues."""
    readable_room(room_id)
    n = max(1, min(limit, MAX_MEMBERS_PAGE))
    start = (room_id, _LOWEST) if after is None else (room_id, after)
    views = Views(None)
    page = []
    for (_, user), member in members.range(start, (room_id + 1, _LOWEST), limit=n + 2):
        if user != after:
            page.append(_member_view(views, user, member))
    more = len(page) > n
    page = page[:n]
    return MembersPage(members=page, next=page[-1].user if more and page else None)


@query(name="public_rooms")
def list_public_rooms(search: str, before: nat64 | None, limit: nat32) -> list[RoomView]:
    """Public group rooms, newest first; ``search`` filters by name (case-insensitive);
    ``before`` (a room id) pages."""
    n = max(1, min(limit, MAX_PUBLIC_ROOMS_PAGE))
    needle = search.strip().casefold()
    out: list[RoomView] = []
    end = MAX_ID if before is None else before
    for room_id, _ in public_rooms.range(0, end, reverse=True, limit=MAX_SEARCH_SCAN):
        room = rooms[room_id]
        if needle in room.name.casefold():
            out.append(room_view(room))
            if len(out) >= n:
                break
    return out


@query
def can_subscribe(topic: str) -> bool:
    """Whether the caller may receive the events of ``topic``: ``room:<id>`` (public
    group: anyone; otherwise members), ``user:<principal>`` (that principal only)."""
    me = ic.caller()
    kind, _, rest = topic.partition(":")
    if kind == "user":
        return not me.is_anonymous and rest == me.to_text()
    if kind == "room" and rest.isdigit() and rest.isascii() and len(rest) <= 20:
        room = rooms.get(int(rest))
        if room is None:
            return False
        return is_open(room) or (not me.is_anonymous and (room.id, me) in members)
    return False
