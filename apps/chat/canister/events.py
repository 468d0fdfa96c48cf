"""`ChatEvent`: what the chat canister publishes, and the `Changes` page of `changes_since`.

Every state change viewers should see publishes one ``ChatEvent`` to ``room:<id>``;
per-user notifications go to ``user:<principal text>``. Decode an event with this hint:

    from icframework.candid import decode
    from icframework.sdk.types import TypeMapper
    info = TypeMapper().info(ChatEvent)
    event = info.from_wire(decode(data, [info.candid])[0])   # ChatEvent: .tag, .value

Events that change stored state carry the room's sequence number ``seq`` (a
`MessageView` has it as a field); a client remembers the highest it has applied and,
after a reconnect, calls ``changes_since(room_id, seq)``. ``typing`` and ``read`` are
live only (no ``seq``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from icframework.sdk import Principal, nat32, nat64, variant

from .records import MemberStatus, MessageView, MyRoomView, Role, RoomView


@dataclass
class DeletedEvent:
    room_id: nat64
    message_id: nat64
    by: Principal
    seq: nat64


@dataclass
class ReactionEvent:
    """``user`` added (``added``) or removed ``emoji``; ``count`` is the emoji's new count."""

    room_id: nat64
    message_id: nat64
    emoji: str
    user: Principal
    added: bool
    count: nat32
    seq: nat64


@dataclass
class TypingEvent:
    room_id: nat64
    user: Principal
    handle: str


@dataclass
class ReadEvent:
    room_id: nat64
    user: Principal
    up_to: nat64


@dataclass
class PinnedEvent:
    room_id: nat64
    message_id: nat64
    pinned: bool
    by: Principal
    seq: nat64


@dataclass
class MemberEvent:
    """A membership changed; ``role`` is set for ``joined`` and ``role_changed``."""

    room_id: nat64
    user: Principal
    handle: str
    status: MemberStatus
    role: Role | None
    by: Principal
    seq: nat64


@dataclass
class MentionEvent:
    """Sent to ``user:<p>`` when a message mentions p (``excerpt`` is raw text)."""

    room_id: nat64
    room_name: str
    message_id: nat64
    author: Principal
    author_handle: str
    excerpt: str


@variant
class ChatEvent:
    """The one event type of every chat topic (a Candid variant; ``.tag``/``.value``).

    On ``room:<id>``: ``message`` (a new message), ``edited``, ``deleted``,
    ``reaction``, ``typing``, ``read``, ``delivered`` (a member's page got messages up to
    ``up_to``; rooms of at most 50 members), ``pinned``, ``member``, ``room`` (the room's
    settings changed). A thread reply comes as ``message`` with ``thread_root`` set,
    and its root as ``edited`` with the new ``thread`` counts. On ``user:<principal>``:
    ``room_added`` (a new direct room, a room created, joined or added to), ``mention``,
    and ``member`` (the user was removed or banned). In `Changes`, ``message`` carries
    any changed message (treat ``message`` and ``edited`` alike: upsert by id) and
    ``deleted`` a deleted one.
    """

    message: MessageView
    edited: MessageView
    deleted: DeletedEvent
    reaction: ReactionEvent
    typing: TypingEvent
    read: ReadEvent
    pinned: PinnedEvent
    member: MemberEvent
    room: RoomView
    room_added: MyRoomView
    mention: MentionEvent
    delivered: ReadEvent

    if TYPE_CHECKING:  # what @variant provides, for type checkers

        tag: str
        value: Any

        def __init__(self, **arm: Any) -> None: ...


@dataclass
class Changes:
    """`changes_since`: the room's changes with ``seq > since``, oldest first, each
    entity once in its current state. Call again with ``seq`` while ``more``."""

    room_id: nat64
    events: list[ChatEvent]
    seq: nat64
    more: bool
