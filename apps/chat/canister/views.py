"""Stored records → public views (`records`), for one viewer.

A `Views` object lives for one method call: it memoises handles so a page of 100
messages by 3 authors reads 3 profiles. ``viewer`` None builds the views that go into
events (broadcast to every subscriber, so nothing in them is viewer-specific).
"""

from __future__ import annotations

from itertools import islice

from icframework.sdk import Principal

from . import attachments, ephemeral_state, polls
from .limits import UNREAD_CAP
from .records import (
    MessageView,
    MyRoomView,
    Profile,
    Quote,
    ReactionView,
    RoomKind,
    RoomView,
    ThreadInfo,
)
from .store import (
    MAX_ID,
    Member,
    Message,
    Room,
    User,
    archived,
    favourites,
    live,
    mention_index,
    messages,
    reactions,
    threads,
    users,
)
from .text import excerpt


def profile_of(user: Principal, record: User) -> Profile:
    return Profile(user, record.handle, record.display_name, record.bio, record.created_at)


def room_view(room: Room) -> RoomView:
    return RoomView(
        id=room.id,
        kind=room.kind,
        name=room.name,
        description=room.description,
        public=room.public,
        owner=room.owner,
        created_by=room.created_by,
        created_at=room.created_at,
        member_count=room.member_count,
        last_message_id=room.last_message_id,
        last_activity=room.last_activity,
        seq=room.seq,
        direct_members=list(room.direct_members),
        ttl_ns=ephemeral_state.room_ttls.get(room.id),
    )


def last_message(room_id: int) -> Message | None:
    """The room's newest message outside threads, among its newest 200 (None past them:
    a room list stays cheap however long a thread runs)."""
    return next((m for _, m in messages.range((room_id, 0), (room_id, MAX_ID), reverse=True,
                                              limit=200)
                 if m.thread_root is None), None)


def thread_info(room_id: int, msg: Message) -> ThreadInfo | None:
    """The thread summary of a root with replies (None for other messages)."""
    if msg.thread_root is not None:
        return None
    found = threads.get((room_id, msg.id))
    if found is None or found.reply_count == 0:
        return None
    return ThreadInfo(reply_count=found.reply_count, last_reply_id=found.last_reply_id,
                      last_reply_at=found.last_reply_at)


def direct_peer(room: Room, me: Principal) -> Principal:
    """The other member of direct room ``room`` as ``me`` sees it (``me`` in a room with
    oneself)."""
    return next((p for p in room.direct_members if p != me), me)


class Views:
    """View builders for one call, seen by ``viewer`` (None: an event for everyone)."""

    def __init__(self, viewer: Principal | None) -> None:
        self.viewer = viewer
        self._users: dict[Principal, User | None] = {}

    def user(self, p: Principal) -> User | None:
        if p not in self._users:
            self._users[p] = users.get(p)
        return self._users[p]

    def handle(self, p: Principal) -> str:
        record = self.user(p)
        return "" if record is None else record.handle

    def room_name(self, room: Room, me: Principal) -> str:
        """``room``'s name as ``me`` sees it: a direct room is ``@`` its peer's handle."""
        if room.kind is RoomKind.direct:
            return "@" + self.handle(direct_peer(room, me))
        return room.name

    def profile(self, p: Principal) -> Profile | None:
        record = self.user(p)
        return None if record is None else profile_of(p, record)

    def message(self, room_id: int, msg: Message) -> MessageView:
        quote = None
        if msg.reply_to is not None and not msg.deleted:
            original = messages.get((room_id, msg.reply_to))
            if original is not None:
                quote = Quote(
                    message_id=original.id,
                    author=original.author,
                    author_handle=self.handle(original.author),
                    excerpt="" if original.deleted else excerpt(original.text),
                    deleted=original.deleted,
                )
        viewer = self.viewer
        return MessageView(
            id=msg.id,
            room_id=room_id,
            author=msg.author,
            author_handle=self.handle(msg.author),
            text=msg.text,
            html=msg.html,
            reply_to=msg.reply_to,
            quote=quote,
            mentions=list(msg.mentions),
            reactions=[
                ReactionView(
                    emoji=r.emoji,
                    count=r.count,
                    me=viewer is not None and (room_id, msg.id, r.emoji, viewer) in reactions,
                    users=list(r.sample),
                )
                for r in msg.reactions
            ],
            edited=msg.edited,
            deleted=msg.deleted,
            pinned=msg.pinned,
            created_at=msg.created_at,
            edited_at=msg.edited_at,
            seq=msg.seq,
            thread_root=msg.thread_root,
            thread=thread_info(room_id, msg),
            sealed=None if msg.deleted else msg.sealed,
            attachments=attachments.attachment_views(room_id, msg.id),
            poll=None if msg.deleted else polls.poll_view(room_id, msg.id, viewer),
            expired=ephemeral_state.expired(msg),
        )

    def my_room(self, room: Room, member: Member) -> MyRoomView:
        """The room as its member ``self.viewer`` sees it."""
        me = self.viewer
        assert me is not None
        start = member.read_up_to + 1
        unread = sum(1 for _ in islice(
            (a for _, a in live.range((room.id, start), (room.id, MAX_ID)) if a != me),
            UNREAD_CAP,
        ))
        mentions = sum(1 for _ in mention_index.range(
            (me, room.id, start), (me, room.id, MAX_ID), limit=UNREAD_CAP
        ))
        last = last_message(room.id)
        peer = None
        if room.kind is RoomKind.direct:
            peer = self.profile(direct_peer(room, me))
        return MyRoomView(
            room=room_view(room),
            role=member.role,
            read_up_to=member.read_up_to,
            unread=unread,
            unread_mentions=mentions,
            muted=member.muted,
            last_message=None if last is None else self.message(room.id, last),
            peer=peer,
            archived=(me, room.id) in archived,
            favourite=(me, room.id) in favourites,
        )
