"""Archive and favourite: each member's own folders for their rooms.

Both are per user and private (``archived[(user, room)]``, ``favourites[(user, room)]``);
`my_rooms` reports them in `MyRoomView` (``archived``, ``favourite``) and the page
groups the list: favourites first, archived rooms folded away. An archived room stays
archived when new messages come (its unread count still shows); leaving a room clears
both flags.
"""

from __future__ import annotations

from icframework.sdk import Principal, ic, nat64, update

from .access import membership
from .records import MyRoomView
from .store import archived, favourites
from .views import Views


@update
def set_archived(room_id: nat64, value: bool) -> MyRoomView:
    """Archive (``true``) or unarchive a room of the caller's; idempotent."""
    me, _, room, member = membership(room_id)
    if value:
        archived[(me, room_id)] = ic.time()
    else:
        archived.remove((me, room_id))
    return Views(me).my_room(room, member)


@update
def set_favourite(room_id: nat64, value: bool) -> MyRoomView:
    """Mark (``true``) or unmark a room of the caller's as a favourite; idempotent."""
    me, _, room, member = membership(room_id)
    if value:
        favourites[(me, room_id)] = ic.time()
    else:
        favourites.remove((me, room_id))
    return Views(me).my_room(room, member)


def forget_member(room_id: int, user: Principal) -> None:
    """Clear a leaving member's flags for the room."""
    archived.remove((user, room_id))
    favourites.remove((user, room_id))
