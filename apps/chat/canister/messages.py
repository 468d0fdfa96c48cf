"""Messages: send, edit, delete, reactions, pins, typing, read markers, history and sync."""

from __future__ import annotations

import hashlib

from icframework.sdk import Principal, Reject, ic, nat32, nat64, query, update

from . import ephemeral, receipts, thread_index
from .access import (
    blocked_between,
    get_room,
    is_moderator,
    membership,
    outranks,
    readable_room,
    require_manager,
    require_user,
    resolve_user,
)
from .erasure import remove_content
from .events import (
    Changes,
    ChatEvent,
    DeletedEvent,
    MentionEvent,
    PinnedEvent,
    ReactionEvent,
    ReadEvent,
    TypingEvent,
)
from .feed import publish_room, publish_user, save_room, touch_message
from .limits import (
    E2E_NONCE_BYTES,
    MAX_CHANGES_PAGE,
    MAX_DISTINCT_REACTIONS,
    MAX_HISTORY_PAGE,
    MAX_HISTORY_SCAN,
    MAX_PINS,
    MAX_SEALED_BYTES,
    MAX_TEXT_CHARS,
    MESSAGE_RATE,
    REACTION_RATE,
    REACTION_SAMPLE,
    TYPING_RATE,
)
from .ratelimit import allow, check
from .records import HistoryPage, MessageView, Role, RoomKind, Sealed
from .rooms import direct_room
from .store import (
    MAX_ID,
    Member,
    Message,
    ReactionCount,
    Room,
    changes,
    entropy,
    handles,
    live,
    members,
    mention_index,
    messages,
    pins,
    reactions,
    search_index,
)
from .text import check_emoji, clean, excerpt, render, tokens
from .views import Views, direct_peer

_LOWEST = Principal.management_canister()


# -- helpers ------------------------------------------------------------------------------

def _text(text: str) -> str:
    cleaned = clean(text)
    if not cleaned:
        raise Reject("a message needs some text")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise Reject(f"a message is at most {MAX_TEXT_CHARS} characters, got {len(cleaned)}")
    return cleaned


def _render(room_id: int, text: str) -> tuple[str, list[Principal]]:
    """HTML and mentions of ``text``; a mention resolves to a member of the room."""

    def resolve(handle: str) -> Principal | None:
        user = handles.get(handle)
        return user if user is not None and (room_id, user) in members else None

    return render(text, resolve)


def _message(room_id: int, message_id: int) -> Message:
    msg = messages.get((room_id, message_id))
    if msg is None:
        raise Reject(f"there is no message {message_id} in room {room_id}")
    return msg


def _live_message(room_id: int, message_id: int) -> Message:
    msg = _message(room_id, message_id)
    if msg.deleted:
        raise Reject(f"message {message_id} was deleted")
    return msg


def _index(room_id: int, msg: Message) -> None:
    for token in tokens(msg.text):
        search_index[(token, room_id, msg.id)] = msg.created_at


def _unindex(room_id: int, msg: Message) -> None:
    for token in tokens(msg.text):
        search_index.remove((token, room_id, msg.id))


def _notify_mentions(room: Room, msg: Message, users: list[Principal], author_handle: str
                     ) -> None:
    for user in users:
        if user == msg.author:
            continue
        mention_index[(user, room.id, msg.id)] = msg.created_at
        publish_user(user, ChatEvent(mention=MentionEvent(
            room_id=room.id, room_name=room.name, message_id=msg.id, author=msg.author,
            author_handle=author_handle, excerpt=excerpt(msg.text),
        )))


def _stir_entropy() -> None:
    """Mix this message into the pool invite codes are drawn from (see rooms)."""
    seed = entropy.get() + ic.time().to_bytes(8, "big") + ic.caller().raw + ic.arg_data()
    entropy.set(hashlib.sha256(seed).digest())


def check_sealed(room: Room, body: Sealed) -> None:
    """`Reject` unless ``body`` fits an end-to-end-encrypted message of ``room``: direct
    rooms only (their two members derive the key), a 12-byte nonce, a ciphertext with
    at least the 16-byte AES-GCM tag and at most `MAX_SEALED_BYTES`."""
    if room.kind is not RoomKind.direct:
        raise Reject("end-to-end encryption is for direct rooms: group rooms are plain text")
    if len(body.nonce) != E2E_NONCE_BYTES:
        raise Reject(f"an encrypted message needs a {E2E_NONCE_BYTES}-byte nonce, got "
                     f"{len(body.nonce)} bytes")
    if not 16 <= len(body.ciphertext) <= MAX_SEALED_BYTES:
        raise Reject(f"an encrypted body is 16–{MAX_SEALED_BYTES} bytes (AES-GCM with its "
                     f"tag), got {len(body.ciphertext)}")


def thread_root_of(room_id: int, root_id: int) -> Message:
    """The undeleted timeline message ``root_id`` that a thread reply answers."""
    root = _live_message(room_id, root_id)
    if root.thread_root is not None:
        raise Reject(f"message {root_id} is a thread reply: reply in its thread "
                     f"(root {root.thread_root}) instead")
    return root


def post_message(me: Principal, handle: str, room: Room, member: Member, text: str,
          reply_to: int | None, *, thread_root: int | None = None,
          sealed: Sealed | None = None) -> MessageView:
    """Store and announce a new message: plain ``text``, or (``sealed`` given, ``text``
    empty) an end-to-end-encrypted body the canister cannot read; in the timeline, or
    in the thread of ``thread_root``."""
    check(me, MESSAGE_RATE)
    if room.kind is RoomKind.direct:
        other = direct_peer(room, me)
        if blocked_between(me, other):
            raise Reject("you cannot message this user (one of you blocked the other)")
    if sealed is None:
        body = _text(text)
        html, mentioned = _render(room.id, body)
    else:
        body, html, mentioned = "", "", []
    if reply_to is not None:
        _live_message(room.id, reply_to)
    if thread_root is not None:
        thread_root_of(room.id, thread_root)
    now = ic.time()
    msg = Message(
        id=room.last_message_id + 1, author=me, text=body, html=html, reply_to=reply_to,
        mentions=mentioned, reactions=[], edited=False, edited_at=None, deleted=False,
        deleted_by=None, pinned=False, created_at=now, seq=0, thread_root=thread_root,
        sealed=sealed,
    )
    room.last_message_id = msg.id
    room.last_activity = now
    touch_message(room, msg)
    ephemeral.schedule(room.id, msg)
    if thread_root is None:
        live[(room.id, msg.id)] = me
        member.read_up_to = msg.id
        members[(room.id, me)] = member
        receipts.note_read(room, me, msg.id)
    else:
        thread_index.reply_posted(room, msg)
    _index(room.id, msg)
    _stir_entropy()
    save_room(room)
    view = Views(None).message(room.id, msg)
    publish_room(room.id, ChatEvent(message=view))
    if thread_root is not None:
        thread_index.announce_root(room, thread_root)
        save_room(room)
    _notify_mentions(room, msg, mentioned, handle)
    return view


# -- sending and changing messages -----------------------------------------------------------

@update
def send_message(room_id: nat64, text: str, reply_to: nat64 | None) -> MessageView:
    """Post ``text`` (1–10,000 characters, markdown) to a room the caller is a member
    of, optionally replying to a message of that room. Publishes ``message``, and
    ``mention`` to each mentioned member."""
    me, user, room, member = membership(room_id)
    return post_message(me, user.handle, room, member, text, reply_to)


@update
def send_direct(to: str, text: str) -> MessageView:
    """Send a direct message to a handle or principal, creating the direct room (and
    sending ``room_added`` to both users) on first contact."""
    me, user = require_user()
    room, _created = direct_room(me, resolve_user(to))
    return post_message(me, user.handle, room, members[(room.id, me)], text, None)


@update
def edit_message(room_id: nat64, message_id: nat64, text: str) -> MessageView:
    """Replace the text of one's own message (marks it edited; publishes ``edited``;
    newly mentioned members get ``mention``)."""
    me, user, room, _member = membership(room_id)
    msg = _live_message(room_id, message_id)
    if msg.author != me:
        raise Reject("you can only edit your own messages")
    if msg.sealed is not None:
        raise Reject("an end-to-end-encrypted message cannot be edited: delete it and "
                     "send a new one")
    check(me, MESSAGE_RATE)
    body = _text(text)
    if body == msg.text:
        return Views(me).message(room_id, msg)
    html, mentioned = _render(room_id, body)
    _unindex(room_id, msg)
    for old in msg.mentions:
        if old not in mentioned:
            mention_index.remove((old, room_id, msg.id))
    fresh = [p for p in mentioned if p not in msg.mentions]
    msg.text, msg.html, msg.mentions = body, html, mentioned
    msg.edited, msg.edited_at = True, ic.time()
    _index(room_id, msg)
    touch_message(room, msg)
    save_room(room)
    publish_room(room_id, ChatEvent(edited=Views(None).message(room_id, msg)))
    _notify_mentions(room, msg, fresh, user.handle)
    return Views(me).message(room_id, msg)


@update
def delete_message(room_id: nat64, message_id: nat64) -> None:
    """Delete a message (the author; in groups also an owner/admin who outranks the
    author; platform moderators anywhere). The message stays as a tombstone with empty
    text; publishes ``deleted``."""
    me, _ = require_user()
    room = get_room(room_id)
    msg = _message(room_id, message_id)
    if msg.deleted:
        return
    mine = members.get((room_id, me))
    if msg.author == me:
        if mine is None and not is_moderator(me):
            raise Reject(f"you are not a member of room {room_id}")
    elif not is_moderator(me):
        if mine is None:
            raise Reject(f"you are not a member of room {room_id}")
        require_manager(room, mine, "delete other people's messages")
        theirs = members.get((room_id, msg.author)) or Member(Role.member, 0, 0, False)
        if not outranks(mine, theirs):
            raise Reject(f"an {mine.role.name} cannot delete a {theirs.role.name}'s message")
    check(me, MESSAGE_RATE)
    in_thread = remove_content(room, msg, me)
    save_room(room)
    publish_room(room_id, ChatEvent(deleted=DeletedEvent(
        room_id=room_id, message_id=msg.id, by=me, seq=msg.seq)))
    if in_thread:
        assert msg.thread_root is not None
        thread_index.announce_root(room, msg.thread_root)
        save_room(room)


# -- reactions -----------------------------------------------------------------------------

def _react(room_id: int, message_id: int, emoji: str, add: bool) -> MessageView:
    me, _, room, _member = membership(room_id)
    check_emoji(emoji)
    msg = _live_message(room_id, message_id)
    key = (room_id, message_id, emoji, me)
    if (key in reactions) == add:  # nothing to change
        return Views(me).message(room_id, msg)
    check(me, REACTION_RATE)
    found = next((r for r in msg.reactions if r.emoji == emoji), None)
    if add:
        if found is None:
            if len(msg.reactions) >= MAX_DISTINCT_REACTIONS:
                raise Reject(f"a message has at most {MAX_DISTINCT_REACTIONS} different "
                             "reactions")
            found = ReactionCount(emoji=emoji, count=0, sample=[])
            msg.reactions.append(found)
        found.count += 1
        if len(found.sample) < REACTION_SAMPLE:
            found.sample.append(me)
        reactions[key] = ic.time()
    else:
        assert found is not None
        reactions.remove(key)
        found.count -= 1
        if found.count == 0:
            msg.reactions.remove(found)
        elif me in found.sample:
            found.sample = [
                user for (_, _, _, user), _at in reactions.range(
                    (room_id, message_id, emoji, _LOWEST),
                    (room_id, message_id, emoji + "\x00", _LOWEST), limit=REACTION_SAMPLE)
            ]
    touch_message(room, msg)
    save_room(room)
    publish_room(room_id, ChatEvent(reaction=ReactionEvent(
        room_id=room_id, message_id=message_id, emoji=emoji, user=me, added=add,
        count=found.count, seq=msg.seq,
    )))
    return Views(me).message(room_id, msg)


@update
def add_reaction(room_id: nat64, message_id: nat64, emoji: str) -> MessageView:
    """React with an emoji (1–40 characters, or a ``:shortcode:``); idempotent.
    Publishes ``reaction`` when it changes something."""
    return _react(room_id, message_id, emoji, True)


@update
def remove_reaction(room_id: nat64, message_id: nat64, emoji: str) -> MessageView:
    """Take back one's reaction; idempotent."""
    return _react(room_id, message_id, emoji, False)


# -- pins, typing, read markers ------------------------------------------------------------------

def _pin(room_id: int, message_id: int, pinned: bool) -> None:
    me, _, room, member = membership(room_id)
    if room.kind is RoomKind.group:
        require_manager(room, member, "pin messages")
    msg = _live_message(room_id, message_id)
    if msg.pinned == pinned:
        return
    if pinned:
        if room.pin_count >= MAX_PINS:
            raise Reject(f"a room has at most {MAX_PINS} pinned messages")
        pins[(room_id, message_id)] = ic.time()
        room.pin_count += 1
    else:
        pins.remove((room_id, message_id))
        room.pin_count -= 1
    msg.pinned = pinned
    touch_message(room, msg)
    save_room(room)
    publish_room(room_id, ChatEvent(pinned=PinnedEvent(
        room_id=room_id, message_id=message_id, pinned=pinned, by=me, seq=msg.seq)))


@update
def pin_message(room_id: nat64, message_id: nat64) -> None:
    """Pin a message (owner/admin in groups, either user in a direct room)."""
    _pin(room_id, message_id, True)


@update
def unpin_message(room_id: nat64, message_id: nat64) -> None:
    _pin(room_id, message_id, False)


@query
def pinned(room_id: nat64) -> list[MessageView]:
    """The room's pinned messages, by id."""
    readable_room(room_id)
    views = _reader_views()
    return [views.message(room_id, messages[(room_id, message_id)])
            for (_, message_id), _at in pins.range((room_id, 0), (room_id, MAX_ID))]


@update
def typing(room_id: nat64) -> None:
    """Tell the room the caller is typing (publishes ``typing``; changes nothing). More
    than one notice per 2 s is dropped silently."""
    me, user, _room, _member = membership(room_id)
    if allow(me, TYPING_RATE):
        publish_room(room_id, ChatEvent(typing=TypingEvent(room_id=room_id, user=me,
                                                           handle=user.handle)))


@update
def mark_read(room_id: nat64, up_to: nat64) -> None:
    """Move the caller's read marker forward to message ``up_to`` (never backwards);
    publishes ``read`` when it moves."""
    me, _, room, member = membership(room_id)
    target = min(up_to, room.last_message_id)
    if target <= member.read_up_to:
        return
    member.read_up_to = target
    members[(room_id, me)] = member
    receipts.note_read(room, me, target)
    publish_room(room_id, ChatEvent(read=ReadEvent(room_id=room_id, user=me, up_to=target)))


# -- reading ---------------------------------------------------------------------------------------

def _reader_views() -> Views:
    me = ic.caller()
    return Views(None if me.is_anonymous else me)


@query
def history(room_id: nat64, before: nat64 | None, limit: nat32) -> HistoryPage:
    """Up to ``limit`` (1–100) timeline messages (thread replies are read with
    `thread`) before message id ``before`` (null: the newest), oldest first, deleted ones
    as tombstones. One call examines at most 2,000 stored messages: a stretch of thread
    replies longer than that gives a short page whose ``next_before`` goes on."""
    room = readable_room(room_id)
    n = max(1, min(limit, MAX_HISTORY_PAGE))
    end = MAX_ID if before is None else before
    found: list[Message] = []
    oldest_seen: int | None = None
    scanned = 0
    for _, msg in messages.range((room_id, 0), (room_id, end), reverse=True,
                                 limit=MAX_HISTORY_SCAN):
        scanned += 1
        oldest_seen = msg.id
        if msg.thread_root is None:
            found.append(msg)
            if len(found) > n:
                break
    page = found[:n]
    if len(found) > n:
        next_before: int | None = page[-1].id
    elif scanned >= MAX_HISTORY_SCAN:
        next_before = oldest_seen
    else:
        next_before = None
    page.reverse()
    views = _reader_views()
    return HistoryPage(
        messages=[views.message(room_id, m) for m in page],
        next_before=next_before,
        seq=room.seq,
    )


@query
def message(room_id: nat64, message_id: nat64) -> MessageView | None:
    """One message of a room the caller may read (null if there is none)."""
    readable_room(room_id)
    msg = messages.get((room_id, message_id))
    return None if msg is None else _reader_views().message(room_id, msg)


@query
def changes_since(room_id: nat64, since: nat64) -> Changes:
    """What changed in a room after sequence number ``since``, oldest first: each
    changed message once as it is now (``message``, or ``deleted``), and the
    ``member`` and ``room`` events. At most 200 per call: repeat with ``seq`` while
    ``more``."""
    room = readable_room(room_id)
    if since >= room.seq:
        return Changes(room_id=room_id, events=[], seq=room.seq, more=False)
    found = list(changes.range((room_id, since + 1), (room_id, MAX_ID),
                               limit=MAX_CHANGES_PAGE + 1))
    more = len(found) > MAX_CHANGES_PAGE
    found = found[:MAX_CHANGES_PAGE]
    views = _reader_views()
    events = []
    for _key, change in found:
        if change.message_id is None:
            assert change.event is not None
            events.append(change.event)
            continue
        msg = messages[(room_id, change.message_id)]
        if msg.deleted:
            events.append(ChatEvent(deleted=DeletedEvent(
                room_id=room_id, message_id=msg.id, by=msg.deleted_by or msg.author,
                seq=msg.seq)))
        else:
            events.append(ChatEvent(message=views.message(room_id, msg)))
    seq = found[-1][0][1] if more else room.seq
    return Changes(room_id=room_id, events=events, seq=seq, more=more)
