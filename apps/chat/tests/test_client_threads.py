"""`ChatClient` against a live replica: a thread, receipts and a scheduled message that the
replica's own timer posts (real rounds, real clock), followed over the socket."""

from __future__ import annotations

import time

from apps.chat.client import ChatClient
from apps.chat.tests import test_client as base
from apps.chat.tests.test_client import LiveChat, next_of
from icframework.identity import Ed25519Identity

chat = base.chat
ANNA = Ed25519Identity.from_seed(b"chat thread test: anna 000000000")
BORIS = Ed25519Identity.from_seed(b"chat thread test: boris 00000000")


def test_a_thread_receipts_and_a_scheduled_message_over_the_socket(chat: LiveChat) -> None:
    with ChatClient.connect(chat.url, chat.canister, ANNA) as anna, \
            ChatClient.connect(chat.url, chat.canister, BORIS) as boris:
        anna.register("anna", "Anna")
        boris.register("boris", "Boris")
        room = int(anna.create_room("threads", "", True).room.id)
        boris.join_room(room)
        anna.follow(room)
        root = anna.send_message(room, "who brings the projector?", None)

        reply = boris.send_thread_reply(room, root.id, "I do")
        got = next_of(anna, "message", room).value
        while got.id != reply.id:  # anna's own message came first
            got = next_of(anna, "message", room).value
        assert got.thread_root == root.id and got.text == "I do"
        root_now = next_of(anna, "edited", room).value
        assert root_now.id == root.id and root_now.thread.reply_count == 1
        assert [(t.root.id, t.unread) for t in anna.my_threads(room)] == [(root.id, 1)]
        anna.mark_thread_read(room, root.id, reply.id)
        assert anna.thread(room, root.id).unread == 0
        assert [m.id for m in anna.history(room).messages] == [root.id]

        boris.mark_delivered(room, root.id)
        assert next_of(anna, "delivered", room).value.user == BORIS.principal
        boris.mark_read(room, root.id)
        seen = anna.receipts(room, root.id)
        assert (seen.recipients, seen.delivered, seen.read) == (1, 1, 1)

        at = time.time_ns() + 2_000_000_000
        item = anna.schedule_message(room, "projector check in 5", at)
        assert [s.id for s in anna.my_scheduled(room)] == [item.id]
        posted = next_of(anna, "message", room).value  # the replica's timer posts it
        assert posted.text == "projector check in 5" and posted.created_at >= at
        assert anna.my_scheduled() == []

