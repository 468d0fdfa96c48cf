"""``manage.py chat`` as a user runs it: a subprocess on a live replica with the chat
app deployed, typing on its stdin and reading its stdout, while a Python `ChatClient`
in the room answers in real time."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.chat.client import ChatClient
from apps.chat.tests.test_client import WAIT, LiveChat, live_chat, next_of
from icframework.agent import IdentityStore
from icframework.identity import Ed25519Identity

ROOT = Path(__file__).resolve().parents[3]
BOB = Ed25519Identity.from_seed(b"chat cli test: bob 0000000000000")


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveChat]:
    with live_chat(tmp_path_factory.mktemp("chat_cli")) as live:
        yield live


class Terminal:
    """``manage.py chat`` in a subprocess: `type` a line, `expect` an output line."""

    def __init__(self, chat: LiveChat, *args: str) -> None:
        env = {**os.environ, "ICFRAMEWORK_HOME": str(chat.project / "home"),
               "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "chat", "--url", chat.url,
             "--canister", chat.canister.to_text(), *args],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def type(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, pattern: str) -> re.Match[str]:
        """The next output line matching ``pattern`` (earlier lines are kept in `seen`)."""
        while True:
            try:
                line = self.lines.get(timeout=WAIT)
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {WAIT} s; "
                                     f"output so far:\n" + "\n".join(self.seen)) from None
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found

    def close(self) -> int:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(timeout=WAIT)


def by_alice(bob: ChatClient, kind: str, room: int) -> Any:
    """The next ``kind`` update in ``room`` that bob did not cause himself."""
    while True:
        value = next_of(bob, kind, room).value
        actor = next(getattr(value, name) for name in ("author", "user", "by")
                     if hasattr(value, name))
        if actor != BOB.principal:
            return value


def test_a_terminal_user_and_a_python_client_chat(chat: LiveChat) -> None:
    IdentityStore(chat.project / "home").new("alice")
    with ChatClient.connect(chat.url, chat.canister, BOB) as bob:
        bob.register("bob", "Bob")
        room = int(bob.create_room("general", "", True).room.id)
        bob.follow(room)
        first = bob.send_message(room, "hi from **bob**", None)

        terminal = Terminal(chat, "--room", "general", "--identity", "alice", "--handle", "alice")
        try:
            terminal.expect(rf"^@alice joined general \(room {room} on canister ")
            terminal.expect(r"^== #general \(2 members\)")
            terminal.expect(rf"^\[{first.id}\] \d\d:\d\d @bob: hi from \*\*bob\*\*$")
            terminal.expect("^-- live")
            assert next_of(bob, "member", room).value.handle == "alice"

            terminal.type("hello bob")  # typed in the terminal, received by bob live
            mine = by_alice(bob, "message", room)
            assert (mine.author_handle, mine.text) == ("alice", "hello bob")
            terminal.expect(rf"^\[{mine.id}\] \d\d:\d\d @alice: hello bob$")

            answer = bob.send_message(room, "welcome @alice", mine.id)
            terminal.expect(rf"^\[{answer.id}\] \d\d:\d\d @bob ↩{mine.id}: welcome @alice$")
            terminal.expect(r"^! @bob mentioned you in #general: welcome @alice$")
            bob.typing(room)
            terminal.expect(r"^  @bob is typing…$")
            bob.add_reaction(room, mine.id, "🎉")
            terminal.expect(rf"^\[{mine.id}\] @bob reacted 🎉 \(1\)$")

            terminal.type(f"/react {answer.id} 👍")
            reaction = by_alice(bob, "reaction", room)
            assert (reaction.message_id, reaction.emoji) == (answer.id, "👍")
            terminal.type(f"/edit {mine.id} hello bob, edited")
            assert by_alice(bob, "edited", room).text == "hello bob, edited"
            terminal.expect(rf"^\[{mine.id}\] \d\d:\d\d @alice edited \(edited\): hello bob, "
                            r"edited  \[🎉 1\]$")
            terminal.type(f"/reply {answer.id} thanks")
            reply = by_alice(bob, "message", room)
            assert (reply.reply_to, reply.text) == (answer.id, "thanks")
            terminal.type(f"/delete {reply.id}")
            assert by_alice(bob, "deleted", room).message_id == reply.id
            terminal.expect(rf"^\[{reply.id}\] deleted by @alice$")

            terminal.type(f"/edit {answer.id} not mine")  # a reject is shown, the chat goes on
            terminal.expect(r"^! .*own")
            terminal.type("/react x")
            terminal.expect(r"^! usage: /react ID EMOJI \(ID is the number in brackets\)")
            terminal.type("/who")
            terminal.expect(r"^  @(alice|bob) \((owner|member), (online|offline)\)$")
            terminal.type("/quit")
            assert terminal.process.wait(timeout=WAIT) == 0
        finally:
            terminal.close()


def test_errors_name_the_fix(chat: LiveChat) -> None:
    IdentityStore(chat.project / "home").new("nobody")
    terminal = Terminal(chat, "--room", "general", "--identity", "nobody")
    try:
        terminal.expect(r"has no chat profile yet; register it by passing --handle NAME")
        assert terminal.process.wait(timeout=WAIT) == 1
    finally:
        terminal.close()
    with pytest.raises(CommandError, match=r"--demo-user 'zed' is not a demo user"):
        call_command("chat", "--room", "x", "--canister", chat.canister.to_text(),
                     "--url", chat.url, "--demo-user", "zed", stdout=StringIO())
    with pytest.raises(CommandError, match=r"--history 0 is not between 1 and 100"):
        call_command("chat", "--room", "x", "--history", "0", stdout=StringIO())
