"""End-to-end-encrypted direct messages: each direct room's vetKey, and sealed messages.

How it works: a direct room's key is the chat canister's vetKey for the context
``b"icframework.chat.dm/v1:" + room id`` (8 bytes, big-endian) and the input ``room
id``. Only the room's two members may ask for it (`e2e_key`), each with a fresh
transport key of their browser; the management canister returns it encrypted to that
transport key, so neither this canister nor the replica's state ever holds it in the
clear. The page decrypts and verifies it against the room's derived public key, turns
it into AES-GCM key material (``DerivedKeyMaterial`` of @dfinity/vetkeys) and
encrypts each message body itself; `send_sealed` stores only the ciphertext and its
nonce. The key depends on the room, not on the device or the transport key, so the
same user in a fresh browser (or the other member) derives the same key and reads the
whole history.

Trade-offs (docs/chat.md): the canister cannot search, quote or render a sealed
message (server-side search skips them; the page searches what it decrypted); sealed
messages cannot be edited or scheduled; the canister pays the vetKD fee for each key
request (rate limited per user).
"""

from __future__ import annotations

from icframework.sdk import CallRejected, Reject, nat64, query, update, vetkd

from .access import membership
from .limits import E2E_KEY_RATE
from .messages import check_sealed, post_message
from .ratelimit import check
from .records import E2eKey, MessageView, RoomKind, Sealed
from .store import e2e_public_keys

CONTEXT_PREFIX = b"icframework.chat.dm/v1:"
TRANSPORT_KEY_BYTES = 48


def context_of(room_id: int) -> bytes:
    """The vetKD context of a direct room (its own key space)."""
    return CONTEXT_PREFIX + room_id.to_bytes(8, "big")


def input_of(room_id: int) -> bytes:
    return room_id.to_bytes(8, "big")


@update
async def e2e_key(room_id: nat64, transport_public_key: bytes) -> E2eKey:
    """The caller's key for a direct room they are in, encrypted to
    ``transport_public_key`` (a 48-byte BLS12-381 G1 point made by the page), with the
    room's derived public key to verify it. At most 10 requests per minute."""
    me, _, room, _member = membership(room_id)
    if room.kind is not RoomKind.direct:
        raise Reject("end-to-end encryption is for direct rooms: group rooms are plain text")
    if len(transport_public_key) != TRANSPORT_KEY_BYTES:
        raise Reject(f"a transport public key is a {TRANSPORT_KEY_BYTES}-byte compressed "
                     f"G1 point, got {len(transport_public_key)} bytes")
    check(me, E2E_KEY_RATE)
    context, input_ = context_of(room_id), input_of(room_id)
    try:
        public_key = e2e_public_keys.get(room_id)
        if public_key is None:
            public_key = await vetkd.public_key(context)
            e2e_public_keys[room_id] = public_key
        encrypted = await vetkd.derive_key(input_, context, transport_public_key)
    except CallRejected as rejected:
        raise Reject(f"the key could not be derived: {rejected.message}") from None
    return E2eKey(room_id=room_id, encrypted_key=encrypted, public_key=public_key,
                  input=input_, context=context)


@query
def e2e_public_key(room_id: nat64) -> bytes | None:
    """The direct room's derived public key (96 bytes) once any member asked for the
    key, else null; members only. A page that kept key material from an earlier visit
    checks it against this (a new replica state means new master keys)."""
    _me, _, room, _member = membership(room_id)
    if room.kind is not RoomKind.direct:
        raise Reject("end-to-end encryption is for direct rooms: group rooms are plain text")
    return e2e_public_keys.get(room_id)


@update
def send_sealed(room_id: nat64, body: Sealed, reply_to: nat64 | None) -> MessageView:
    """Post an end-to-end-encrypted message to a direct room: AES-GCM ``ciphertext``
    (16 bytes of tag and up to 40,000 bytes of text) and its 12-byte ``nonce``,
    optionally replying to a message (its quote has no excerpt: the page shows its own
    decrypted copy). The message has empty text; publishes ``message`` like
    `send_message`."""
    me, user, room, member = membership(room_id)
    check_sealed(room, body)
    return post_message(me, user.handle, room, member, "", reply_to, sealed=body)
