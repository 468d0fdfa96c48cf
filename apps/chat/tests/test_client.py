"""`ChatClient` against a live ``manage.py runreplica`` with the chat app deployed by
``manage.py deploy``: two users chat in real time over their own authenticated
sockets (messages, replies, edits, reactions, deletes, typing, mentions, presence),
catch up after a reconnect (by hand, and by themselves when the connection drops),
and forged, unauthenticated, non-UTF-8, oversized and flooding socket frames are
refused without harm.

`live_chat` (also used by test_cli.py) starts the replica and deploys the app into a
temporary project, so nothing is written to the working tree's records.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from apps.chat.canister.records import MessageView, Presence
from apps.chat.client import ChatClient, ChatClientError, ChatUpdate, Reconnect, encode_call
from icframework.agent import RejectError
from icframework.agent.socket import CanisterSocket, socket_url
from icframework.channels.consumers import (
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    FRAME_BUDGET,
    MAX_FRAME_BYTES,
)
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.protocol.envelope import CallContent, Envelope, sign_envelope
from icframework.protocol.socket_auth import sign_challenge
from tests.agent.live_replica import running_replica

APP_DIR = Path(__file__).resolve().parents[1]
ALICE = Ed25519Identity.from_seed(b"chat client test: alice 00000000")
BOB = Ed25519Identity.from_seed(b"chat client test: bob 0000000000")
MALLORY = Ed25519Identity.from_seed(b"chat client test: mallory 000000")
WAIT = 20.0  # seconds before a missing update fails a test (not a performance bound)


@dataclass(frozen=True)
class LiveChat:
    url: str
    canister: Principal
    project: Path


@contextmanager
def live_chat(root: Path) -> Iterator[LiveChat]:
    """A replica in ``root`` with the chat app deployed by ``manage.py deploy``."""
    with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=root):
        env.setenv("ICFRAMEWORK_HOME", str(root / "home"))
        env.setenv("DFX_CONFIG_ROOT", str(root / "dfxroot"))
        with running_replica(root / "state") as url:
            out = StringIO()
            call_command("deploy", str(APP_DIR), "--network", url, stdout=out, stderr=StringIO())
            found = re.match(r"chat: canister (\S+) \(created and installed, ", out.getvalue())
            assert found, out.getvalue()
            yield LiveChat(url, Principal.from_text(found[1]), root)


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChat]:
    with live_chat(tmp_path_factory.mktemp("chat_client")) as live:
        yield live


def next_of(client: ChatClient, kind: str, room_id: int | None = None) -> ChatUpdate:
    """The next update of ``kind`` (for ``room_id``), skipping others."""
    for update in client.updates(timeout=WAIT):
        if update.kind == kind and (room_id is None or update.room_id == room_id):
            return update
    raise AssertionError(f"no {kind!r} update within {WAIT} s")


def test_two_users_chat_in_real_time(chat: LiveChat) -> None:
    with ChatClient.connect(chat.url, chat.canister, ALICE) as alice, \
            ChatClient.connect(chat.url, chat.canister, BOB) as bob:
        assert alice.principal == ALICE.principal and bob.principal == BOB.principal
        assert alice.register("alice", "Alice").handle == "alice"
        bob.register("bob", "Bob")
        room = int(alice.create_room("lobby", "a test room", True).room.id)
        bob.join_room(room)
        alice.follow(room)
        bob.follow(room)
        bob.follow_me()

        sent = alice.send_message(room, "hello @bob, **welcome**", None)
        assert isinstance(sent, MessageView) and sent.mentions == [BOB.principal]
        got = next_of(bob, "message", room).value
        assert isinstance(got, MessageView)
        assert (got.id, got.text, got.author_handle) == (sent.id, "hello @bob, **welcome**",
                                                         "alice")
        assert "<strong>welcome</strong>" in got.html
        mention = next_of(bob, "mention").value
        assert (mention.message_id, mention.author_handle) == (sent.id, "alice")
        assert next_of(alice, "message", room).value.id == sent.id  # the author sees it too

        reply = bob.send_message(room, "hi alice", sent.id)
        got = next_of(alice, "message", room).value
        assert got.id == reply.id and got.reply_to == sent.id and got.quote.message_id == sent.id

        bob.typing(room)
        typing = next_of(alice, "typing", room).value
        assert (typing.user, typing.handle) == (BOB.principal, "bob")

        bob.add_reaction(room, sent.id, "👍")
        reaction = next_of(alice, "reaction", room).value
        assert (reaction.message_id, reaction.emoji, reaction.added, reaction.count) == (
            sent.id, "👍", True, 1)

        alice.edit_message(room, sent.id, "hello everyone")
        edited = next_of(bob, "edited", room).value
        assert edited.edited and edited.text == "hello everyone"

        bob.delete_message(room, reply.id)
        deleted = next_of(alice, "deleted", room).value
        assert (deleted.message_id, deleted.by) == (reply.id, BOB.principal)

        history = alice.history(room, None, 50)
        assert [(m.id, m.deleted) for m in history.messages] == [(sent.id, False),
                                                                 (reply.id, True)]


def test_presence_is_reported_live(chat: LiveChat) -> None:
    carol_id = Ed25519Identity.from_seed(b"chat client test: carol 00000000")
    with ChatClient.connect(chat.url, chat.canister, carol_id) as carol, \
            ChatClient.connect(chat.url, chat.canister) as watcher:
        carol.register("carol", "Carol")
        watcher.watch_presence([carol.principal], every=0.2)
        first = next_of(watcher, "presence").value
        assert isinstance(first, Presence)
        assert (first.user, first.online, first.last_seen) == (carol.principal, False, None)
        carol.keep_alive(every=60)
        online = next_of(watcher, "presence").value
        assert online.user == carol.principal and online.online and online.last_seen


def test_catch_up_after_a_reconnect(chat: LiveChat) -> None:
    dave_id = Ed25519Identity.from_seed(b"chat client test: dave 000000000")
    with ChatClient.connect(chat.url, chat.canister, dave_id) as dave:
        dave.register("dave", "Dave")
        room = int(dave.create_room("diary", "", False).room.id)
        seq = int(dave.history(room, None, 10).seq)
    with ChatClient.connect(chat.url, chat.canister, dave_id) as dave:
        ids = [int(dave.send_message(room, f"note {n}", None).id) for n in range(3)]
        dave.edit_message(room, ids[0], "note 0, edited")
    with ChatClient.connect(chat.url, chat.canister, dave_id) as dave:
        events, now = dave.catch_up(room, seq)
        assert [(e.tag, e.value.id, e.value.text) for e in events] == [
            ("message", ids[1], "note 1"), ("message", ids[2], "note 2"),
            ("message", ids[0], "note 0, edited"),
        ]
        assert now > seq and dave.catch_up(room, now) == ([], now)


def test_unknown_methods_and_arities_name_the_fix() -> None:
    with pytest.raises(ChatClientError, match=r"no method 'send'.*send_message"):
        encode_call("send", 1)
    with pytest.raises(ChatClientError, match="send_message takes 3 argument"):
        encode_call("send_message", 1, "x")


def _hello(ws: object) -> dict[str, str]:
    frame: dict[str, str] = json.loads(ws.recv(timeout=WAIT))  # type: ignore[attr-defined]
    assert frame["op"] == "hello"
    return frame


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_unauthenticated_and_forged_frames_are_refused(chat: LiveChat) -> None:
    erin_id = Ed25519Identity.from_seed(b"chat client test: erin 000000000")
    with ChatClient.connect(chat.url, chat.canister, erin_id) as erin:
        erin.register("erin", "Erin")
        private = int(erin.create_room("erins_room", "", False).room.id)
        before = erin.history(private, None, 10).seq

        # anonymous: may not read a private room, a user topic, nor post
        with ChatClient.connect(chat.url, chat.canister) as anonymous:
            assert anonymous.principal == Principal.anonymous()
            with pytest.raises(ChatClientError, match=rf"refused 'room:{private}'.*may not"):
                anonymous.follow(private)
            with pytest.raises(ChatClientError, match="refused 'user:2vxsx-fae'"):
                anonymous.follow_me()
            with pytest.raises(RejectError, match="sign in first"):
                anonymous.send_message(private, "let me in", None)

        # authenticated but not a member: the topic is refused and posting rejected
        with ChatClient.connect(chat.url, chat.canister, MALLORY) as mallory:
            mallory.register("mallory", "Mallory")
            with pytest.raises(ChatClientError, match=rf"refused 'room:{private}'"):
                mallory.follow(private)
            erins_topic = f"user:{erin_id.principal.to_text()}"
            assert erins_topic in mallory.socket.subscribe(erins_topic)[1]
            with pytest.raises(RejectError, match="member"):
                mallory.send_message(private, "let me in", None)

        url = socket_url(chat.url, chat.canister)
        # auth claiming erin's key with mallory's signature: refused, socket closed (4401)
        with ws_connect(url) as ws:
            nonce = base64.b64decode(_hello(ws)["challenge"])
            forged = sign_challenge(MALLORY, chat.canister, nonce)
            ws.send(json.dumps({"op": "auth", "public_key": _b64(erin_id.der_public_key or b""),
                                "signature": _b64(forged.signature)}))
            error = json.loads(ws.recv(timeout=WAIT))
            assert error["op"] == "error" and error["kind"] == "auth", error
            assert "authentication failed" in error["message"]
            with pytest.raises(Exception, match="4401"):
                ws.recv(timeout=WAIT)

        # erin's genuine proof for one socket's challenge, replayed on another socket
        with ws_connect(url) as first, ws_connect(url) as second:
            proof = sign_challenge(erin_id, chat.canister,
                                   base64.b64decode(_hello(first)["challenge"]))
            _hello(second)
            second.send(json.dumps({"op": "auth", "public_key": _b64(proof.public_key),
                                    "signature": _b64(proof.signature)}))
            error = json.loads(second.recv(timeout=WAIT))
            assert error["op"] == "error" and error["kind"] == "auth", error

        # call envelopes that claim erin as sender: signed by mallory, or not signed
        _kind, arg = encode_call("send_message", private, "forged", None)
        content = CallContent(chat.canister, "send_message", arg, erin_id.principal,
                              ingress_expiry=_expiry())
        by_mallory = sign_envelope(
            CallContent(chat.canister, "send_message", arg, MALLORY.principal, _expiry()),
            MALLORY)
        envelopes = {
            "mallory's key": Envelope(content, by_mallory.sender_pubkey, by_mallory.sender_sig),
            "no signature": Envelope(content),
            "erin's key, mallory's signature": Envelope(
                content, erin_id.der_public_key, MALLORY.sign(b"\x0aic-request" + bytes(32))),
        }
        with ws_connect(url) as ws:
            _hello(ws)
            for n, (what, envelope) in enumerate(envelopes.items()):
                ws.send(json.dumps({"op": "call", "id": n, "envelope": _b64(envelope.to_cbor())}))
                response = json.loads(ws.recv(timeout=WAIT))
                assert response["op"] == "response" and response["id"] == n, (what, response)
                assert response["status"] == 400, (what, response)
        assert erin.history(private, None, 10).seq == before  # nothing was posted


def _expiry() -> int:
    return time.time_ns() + 120 * 10**9


def test_a_dropped_socket_reconnects_and_queues_what_was_missed(chat: LiveChat) -> None:
    frank_id = Ed25519Identity.from_seed(b"chat client test: frank 00000000")
    gina_id = Ed25519Identity.from_seed(b"chat client test: gina 000000000")
    gate = threading.Event()  # the network is "back" when set

    def reopen() -> CanisterSocket:
        gate.wait(WAIT)
        return CanisterSocket.connect(chat.url, chat.canister, frank_id)

    first = CanisterSocket.connect(chat.url, chat.canister, frank_id)
    with ChatClient(first, Reconnect(reopen, first_delay=0.05)) as frank, \
            ChatClient.connect(chat.url, chat.canister, gina_id) as gina:
        frank.register("frank", "Frank")
        gina.register("gina", "Gina")
        room = int(frank.create_room("outage", "", True).room.id)
        gina.join_room(room)
        frank.follow(room)
        before = int(gina.send_message(room, "before the drop", None).id)
        assert next_of(frank, "message", room).value.id == before

        first._ws.socket.shutdown(socket.SHUT_RDWR)  # the connection drops
        deadline = time.monotonic() + WAIT
        while not first.closed_reason and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.closed_reason, "the client did not notice the dropped connection"
        missed = [int(gina.send_message(room, f"while away {n}", None).id) for n in range(2)]
        gina.edit_message(room, before, "before the drop (edited)")
        gate.set()

        assert next_of(frank, "reconnected").topic == "connection"
        caught = [next_of(frank, "message", room).value for _ in range(3)]
        assert [(m.id, m.text) for m in caught] == [
            (missed[0], "while away 0"), (missed[1], "while away 1"),
            (before, "before the drop (edited)"),
        ]
        live = int(gina.send_message(room, "after the reconnect", None).id)
        update = next_of(frank, "message", room)
        assert update.value.id == live  # live again, and nothing was queued twice
        assert frank.reconnects == 1 and frank.socket is not first
        assert frank.send_message(room, "frank is back", None).text == "frank is back"


def test_invalid_utf8_oversized_and_flooding_frames_over_the_real_socket(chat: LiveChat) -> None:
    hana_id = Ed25519Identity.from_seed(b"chat client test: hana 000000000")
    url = socket_url(chat.url, chat.canister)
    with ChatClient.connect(chat.url, chat.canister, hana_id, reconnect=False) as hana:
        hana.register("hana", "Hana")
        room = int(hana.create_room("bytes", "", True).room.id)
        before = hana.history(room, None, 10).seq

        # text arguments that are not UTF-8: the canister's Candid decoding rejects the call
        _kind, arg = encode_call("send_message", room, "ZZZZ", None)
        bad = arg.replace(b"ZZZZ", b"\xff\xfe\xc0\x80")
        with pytest.raises(RejectError, match=r"(?i)utf-?8"):
            hana.socket.update("send_message", bad)

        # a text frame that is not UTF-8: the server's WebSocket layer drops the connection
        # (1007, or without a closing handshake) before any handler sees the frame
        with ws_connect(url) as ws:
            _hello(ws)
            ws.send(b'{"op": "subscribe", "topics": ["\xff"]}', text=True)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
            assert closed.value.rcvd is None or closed.value.rcvd.code == 1007

        # a 1.5 MiB message reaches the canister over the socket, which refuses it by size
        with pytest.raises(RejectError, match="at most 10000 characters, got 1500000"):
            hana.send_message(room, "y" * 1_500_000, None)

        # a frame over 3 MiB closes with 4009 (an application code the client does see)
        with ws_connect(url, max_size=None) as ws:
            _hello(ws)
            ws.send("x" * (MAX_FRAME_BYTES + 1))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=WAIT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_TOO_BIG

        # more than FRAME_BUDGET frames in the window: an error frame, then 4008
        with ws_connect(url) as ws:
            _hello(ws)
            for _ in range(FRAME_BUDGET + 1):
                ws.send("{}")
            frames = []
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    frames.append(json.loads(ws.recv(timeout=WAIT)))
            assert closed.value.rcvd is not None and closed.value.rcvd.code == CLOSE_POLICY
            assert frames[-1]["kind"] == "rate", frames[-1]

        # the canister and the server are unharmed: nothing was posted, sockets still work
        assert hana.history(room, None, 10).seq == before
        assert hana.send_message(room, "still fine", None).text == "still fine"
