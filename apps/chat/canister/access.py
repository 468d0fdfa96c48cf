"""Who may do what: the caller's identity, room access and the role ranking.

Rules (docs/chat.md has the table): anyone, even anonymous, reads public group rooms;
private rooms and direct rooms are read by their members only; every change needs a
registered caller. In a group, owner > admin > member, and acting on another member
(removing, banning, deleting their message) needs a strictly higher rank.
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, ic

from .records import Role, RoomKind
from .store import Member, Room, User, blocks, handles, members, moderators, rooms, users
from .text import normalize_handle

RANK = {Role.owner: 3, Role.admin: 2, Role.member: 1}


def require_user() -> tuple[Principal, User]:
    """The caller and their profile; `Reject` for anonymous or unregistered callers."""
    me = ic.caller()
    if me.is_anonymous:
        raise Reject("sign in first: anonymous callers may only read public rooms")
    user = users.get(me)
    if user is None:
        raise Reject("register a handle first (register(handle, display_name))")
    return me, user


def resolve_user(ref: str) -> Principal:
    """The registered user named by ``ref``: a handle (``@`` optional) or a principal."""
    text = ref.strip()
    if "-" in text:
        try:
            p = Principal.from_text(text)
        except Exception:
            raise Reject(f"{text[:70]!r} is neither a handle nor a principal") from None
        if p not in users:
            raise Reject(f"{p} has not registered")
        return p
    handle = normalize_handle(text)
    found = handles.get(handle)
    if found is None:
        raise Reject(f"there is no user @{handle}")
    return found


def get_room(room_id: int) -> Room:
    room = rooms.get(room_id)
    if room is None:
        raise Reject(f"there is no room {room_id}")
    return room


def is_open(room: Room) -> bool:
    """Whether anyone may read ``room`` (a public group)."""
    return room.kind is RoomKind.group and room.public


def readable_room(room_id: int) -> Room:
    """The room, if the caller may read it (`Reject` otherwise)."""
    room = get_room(room_id)
    if is_open(room):
        return room
    me = ic.caller()
    if me.is_anonymous or (room_id, me) not in members:
        raise Reject(f"room {room_id} is private: only its members can read it")
    return room


def membership(room_id: int) -> tuple[Principal, User, Room, Member]:
    """The caller, their profile, the room and their membership; `Reject` if they are
    not a member."""
    me, user = require_user()
    room = get_room(room_id)
    member = members.get((room_id, me))
    if member is None:
        raise Reject(f"you are not a member of room {room_id}")
    return me, user, room, member


def require_manager(room: Room, member: Member, action: str) -> None:
    """`Reject` unless the member is the owner or an admin of a group room."""
    if room.kind is RoomKind.direct:
        raise Reject(f"direct rooms have no settings: cannot {action}")
    if member.role not in (Role.owner, Role.admin):
        raise Reject(f"only the owner and admins can {action}")


def outranks(actor: Member, target: Member) -> bool:
    return RANK[actor.role] > RANK[target.role]


def is_moderator(user: Principal) -> bool:
    return not user.is_anonymous and moderators.get(user, False)


def blocked_between(a: Principal, b: Principal) -> bool:
    """Whether either user blocked the other."""
    return (a, b) in blocks or (b, a) in blocks
