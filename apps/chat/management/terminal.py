"""The terminal chat behind ``manage.py chat``: open a room, print its history, then
live updates while lines typed on stdin are posted.

How it works: `open_room` finds the room by name among the user's rooms, then among
public rooms (joining it), else creates it (``@handle`` opens a direct room).
`TerminalChat.run` prints the last messages, follows the room's topic (and the user's
own, for mentions), watches the members' presence, and starts a printer thread that
writes each live update as one line while the calling thread reads input lines:
plain text is posted, and slash commands (`COMMANDS`) react, reply, edit, delete,
list who is here, or quit. Everything arrives through the socket, own messages too, so
what is printed is what the other members see.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TextIO

from apps.chat.canister.records import MessageView, MyRoomView, Profile, RoomKind
from apps.chat.client import ChatClient, ChatUpdate
from icframework.agent import AgentError, RejectError
from icframework.agent.socket import SocketError
from icframework.core import Principal

__all__ = ["COMMANDS", "TerminalChat", "TerminalError", "ensure_profile", "open_room"]

COMMANDS = """\
  text               post a message (markdown; @handle mentions a member)
  /reply ID TEXT     reply to message ID
  /react ID EMOJI    react to message ID (e.g. /react 3 👍); /unreact ID EMOJI undoes it
  /edit ID TEXT      replace the text of your message ID
  /delete ID         delete message ID
  /typing            show the others that you are typing
  /who               members and who is online
  /help              this list
  /quit              leave (Ctrl-D too)"""


class TerminalError(Exception):
    """The terminal chat cannot start; the message says why and what to do."""


def ensure_profile(client: ChatClient, handle: str | None, display_name: str | None) -> Profile:
    """The caller's profile, registering it as ``handle`` when there is none.

    Raises `TerminalError` for an anonymous identity, for an unregistered identity
    without ``handle``, and with the canister's reason when the handle is refused.
    """
    if client.principal.is_anonymous:
        raise TerminalError("the anonymous identity cannot chat; pick one with --identity NAME "
                            "(`manage.py identity new NAME`)")
    profile = client.me()
    if profile is not None:
        return profile
    if not handle:
        raise TerminalError(f"{client.principal.to_text()} has no chat profile yet; register "
                            "it by passing --handle NAME (3-20 of a-z, 0-9, _)")
    try:
        return client.register(handle, display_name or handle)
    except RejectError as exc:
        raise TerminalError(f"cannot register @{handle}: {exc.reject_message}") from None


def open_room(client: ChatClient, name: str, *, private: bool = False) -> tuple[MyRoomView, str]:
    """The room called ``name`` (``@handle``: the direct room with that user) and what
    was done: ``opened`` (already a member), ``joined`` (a public room) or ``created``.

    Raises `TerminalError` with the canister's reason when the room cannot be opened.
    """
    try:
        if name.startswith("@"):
            return client.open_direct(name), "opened"
        wanted = name.casefold()
        for mine in client.my_rooms():
            if mine.room.kind == RoomKind.group and mine.room.name.casefold() == wanted:
                return mine, "opened"
        for room in client.public_rooms(name, None, 100):
            if room.name.casefold() == wanted:
                return client.join_room(int(room.id)), "joined"
        return client.create_room(name, "", not private), "created"
    except RejectError as exc:
        raise TerminalError(f"cannot open room {name!r}: {exc.reject_message}") from None


class TerminalChat:
    """One room on a terminal: `run` prints and reads until ``/quit`` or end of input."""

    def __init__(self, client: ChatClient, room: MyRoomView, out: TextIO, *,
                 history: int = 20, presence_seconds: float = 30.0) -> None:
        self.client = client
        self.room = room
        self.room_id = int(room.room.id)
        self.out = out
        self.history = history
        self.presence_seconds = presence_seconds
        self._handles: dict[Principal, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- output -----------------------------------------------------------------------------

    def say(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def handle_of(self, user: Principal) -> str:
        """``@handle`` of ``user`` (looked up once), else a short principal."""
        if user not in self._handles:
            try:
                found = self.client.profiles([user])
            except AgentError:
                found = []
            self._handles[user] = found[0].handle if found else user.to_text()[:11]
        return "@" + self._handles[user]

    def format_message(self, message: MessageView, verb: str = "") -> str:
        self._handles[message.author] = message.author_handle
        when = datetime.fromtimestamp(message.created_at / 1e9).strftime("%H:%M")
        if message.deleted:
            return f"[{message.id}] {when} (deleted)"
        reply = f" ↩{message.reply_to}" if message.reply_to is not None else ""
        edited = " (edited)" if message.edited else ""
        reactions = ", ".join(f"{r.emoji} {r.count}" for r in message.reactions)
        reactions = f"  [{reactions}]" if reactions else ""
        head = f"[{message.id}] {when} @{message.author_handle}{verb}{reply}{edited}"
        if message.thread_root is not None:
            head += f" (in thread {message.thread_root})"
        # an end-to-end-encrypted body opens only in the page, which holds the key
        text = "(end-to-end encrypted: open it in the chat page)" if message.sealed else (
            message.text)
        return f"{head}: {text}{reactions}"

    def format_update(self, update: ChatUpdate) -> str | None:
        """The line for ``update``, or None when it is not shown (other rooms, read
        markers, own typing)."""
        kind, value = update.kind, update.value
        if kind == "reconnected":
            return "-- reconnected; missed messages follow"
        if kind == "presence":
            return f"* {self.handle_of(value.user)} is {'online' if value.online else 'offline'}"
        if kind == "mention":
            return (f"! {self.handle_of(value.author)} mentioned you in "
                    f"#{value.room_name or value.room_id}: {value.excerpt}")
        if update.room_id != self.room_id:
            return None
        if kind == "message":
            return self.format_message(value)
        if kind == "edited":
            return self.format_message(value, " edited")
        if kind == "deleted":
            return f"[{value.message_id}] deleted by {self.handle_of(value.by)}"
        if kind == "reaction":
            what = "reacted" if value.added else "took back"
            return (f"[{value.message_id}] {self.handle_of(value.user)} {what} {value.emoji} "
                    f"({value.count})")
        if kind == "typing":
            if value.user == self.client.principal:
                return None
            self._handles[value.user] = value.handle
            return f"  @{value.handle} is typing…"
        if kind == "pinned":
            what = "pinned" if value.pinned else "unpinned"
            return f"[{value.message_id}] {what} by {self.handle_of(value.by)}"
        if kind == "member":
            self._handles[value.user] = value.handle
            status = value.status.value.replace("_", " ")
            role = f" ({value.role.value})" if value.role is not None else ""
            return f"* @{value.handle} {status}{role}"
        if kind == "room":
            return f"* the room is now #{value.name}: {value.description}"
        return None

    # -- the session ------------------------------------------------------------------------

    def run(self, lines: Iterable[str]) -> None:
        """Print the history, then live updates, posting ``lines`` until ``/quit``."""
        client = self.client
        client.follow(self.room_id)
        client.follow_me()
        page = client.history(self.room_id, None, self.history)
        title = (f"#{self.room.room.name}" if self.room.room.kind == RoomKind.group
                 else "direct: " + (f"@{self.room.peer.handle}" if self.room.peer else "?"))
        self.say(f"== {title} ({self.room.room.member_count} members) — /help for commands")
        for message in page.messages:
            self.say(self.format_message(message))
        others = self._members()
        client.keep_alive()
        if others:
            client.watch_presence(others, every=self.presence_seconds)
        printer = threading.Thread(target=self._print_updates, name="chat-printer", daemon=True)
        printer.start()
        self.say("-- live: type a message and press Enter")
        try:
            for raw in lines:
                if not self.command(raw.rstrip("\r\n")):
                    break
        finally:
            self._stop.set()
            printer.join(timeout=2)

    def _members(self) -> list[Principal]:
        page = self.client.members(self.room_id, None, 500)
        for member in page.members:
            self._handles[member.user] = member.handle
        return [m.user for m in page.members if m.user != self.client.principal]

    def _print_updates(self) -> None:
        while not self._stop.is_set():
            try:
                update = self.client.next_update(timeout=0.2)
            except SocketError as exc:
                self.say(f"! {exc}")
                return
            if update is not None and (line := self.format_update(update)) is not None:
                self.say(line)

    def command(self, line: str) -> bool:
        """Act on one input line; False to stop."""
        text = line.strip()
        if not text:
            return True
        if not text.startswith("/"):
            return self._do(self.client.send_message, self.room_id, text, None)
        name, _, rest = text[1:].partition(" ")
        rest = rest.strip()
        if name in ("quit", "exit", "q"):
            return False
        if name == "help":
            self.say(COMMANDS)
            return True
        if name == "who":
            return self._who()
        if name == "typing":
            return self._do(self.client.typing, self.room_id)
        if name == "delete":
            return self._with_id(name, rest, lambda mid, _: self._do(
                self.client.delete_message, self.room_id, mid))
        if name in ("react", "unreact", "edit", "reply"):
            method = {"react": self.client.add_reaction, "unreact": self.client.remove_reaction,
                      "edit": self.client.edit_message}.get(name)
            if method is not None:
                return self._with_id(name, rest, lambda mid, arg: self._do(
                    method, self.room_id, mid, arg), needs_text=True)
            return self._with_id(name, rest, lambda mid, arg: self._do(
                self.client.send_message, self.room_id, arg, mid), needs_text=True)
        self.say(f"! unknown command /{name}; /help lists them")
        return True

    def _with_id(self, name: str, rest: str, act: Any, needs_text: bool = False) -> bool:
        first, _, arg = rest.partition(" ")
        if not first.isdigit() or (needs_text and not arg.strip()):
            usage = f"/{name} ID" + (" TEXT" if name in ("edit", "reply") else
                                     " EMOJI" if needs_text else "")
            self.say(f"! usage: {usage} (ID is the number in brackets), got {rest!r}")
            return True
        result: bool = act(int(first), arg.strip())
        return result

    def _do(self, method: Any, *args: Any) -> bool:
        try:
            method(*args)
        except RejectError as exc:
            self.say(f"! {exc.reject_message}")
        except SocketError as exc:
            self.say(f"! {exc}")
            return False
        return True

    def _who(self) -> bool:
        members = self.client.members(self.room_id, None, 500).members
        online = {p.user: p.online for p in self.client.presence([m.user for m in members])}
        for member in members:
            mark = "online" if online.get(member.user) else "offline"
            self.say(f"  @{member.handle} ({member.role.value}, {mark})")
        return True

