"""Tests of the chat canister, real Candid on both sides, on the test target.

Each test drives a fresh canister from `icframework.testing.app_canister`: by default a
`LocalCanister` in plain CPython (no replica); with ``ICFRAMEWORK_TEST_TARGET=ic`` the
canister built as a standard IC module on the embedded replica (``component``: the
local replica's build). `As(...)` calls methods as one user, moving the clock 0.6 s
before each update so ordinary tests stay under the rate limits (the rate-limit tests
call ``c.update`` directly at a fixed time).

Tests about published events are `publishes` (skipped on the IC target, where events
are local-replica-only and clients poll ``changes_since``; a test that checks events
along the way does so where `EVENTS`). Tests that lower a limit in the canister's
Python module or read its stable structures are `in_process`: they need the local
target, where that module is the one running.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from icframework.candid import decode
from icframework.compiler.app_build import load_app
from icframework.sdk import LocalBackend, LocalCanister, Principal, Reject, service_did
from icframework.sdk.dispatch import EMPTY_MESSAGE
from icframework.sdk.types import TypeMapper
from icframework.testing import ReplicaCanister, app_canister, test_target

APP_DIR = Path(__file__).resolve().parents[1]
APP = load_app(APP_DIR)
events_mod = APP.events
records = APP.records
limits = APP.limits
text_mod = APP.text
ChatEvent = events_mod.ChatEvent
Role = records.Role
MemberStatus = records.MemberStatus
RoomUpdate = records.RoomUpdate
InitArgs = records.InitArgs
SECOND = limits.SECOND
_EVENT = TypeMapper().info(ChatEvent)

Canister = LocalCanister | ReplicaCanister
"""A chat canister on the test target (`icframework.testing.app_canister`)."""
TARGET = test_target()
EVENTS = TARGET != "ic"
"""Whether the target delivers what the canister publishes (events are local-replica-only)."""
IN_PROCESS = TARGET == "local"
"""Whether the canister runs in this process, as `APP`: only then may a test read its
stable structures or lower its limits."""
publishes = pytest.mark.skipif(not EVENTS, reason="events are local-replica-only")
"""Marks a test about published events."""
in_process = pytest.mark.skipif(
    not IN_PROCESS,
    reason="reads or changes the canister's Python module (its stable structures, its "
           "limits), which runs in this process only on the local target",
)
"""Marks a test that monkeypatches the canister's module or reads its state directly."""

ALICE = Principal.self_authenticating(b"alice's key")
BOB = Principal.self_authenticating(b"bob's key")
CAROL = Principal.self_authenticating(b"carol's key")
DAVE = Principal.self_authenticating(b"dave's key")
MOD = Principal.self_authenticating(b"moderator's key")
ANON = Principal.anonymous()


class As:
    """Calls the canister's methods as ``who`` (queries as queries, updates as updates)."""

    def __init__(self, c: Canister, who: Principal, tick_ns: int = 600_000_000) -> None:
        self.c, self.who, self.tick_ns = c, who, tick_ns

    def __getattr__(self, method: str) -> Callable[..., Any]:
        kind = self.c.canister.methods[method].kind

        def call(*args: Any) -> Any:
            if kind == "query":
                return self.c.query(method, *args, caller=self.who)
            self.c.backend.advance_time(self.tick_ns)
            return self.c.update(method, *args, caller=self.who)

        return call


def decode_event(data: bytes) -> Any:
    """A published event's Candid bytes → `ChatEvent` (as a Python client decodes it)."""
    from_wire = _EVENT.from_wire
    assert from_wire is not None
    return from_wire(decode(data, [_EVENT.candid])[0])


def drain(c: Canister) -> list[tuple[str, Any]]:
    """The events published since the last drain, decoded (none on the IC target)."""
    out = [(topic, decode_event(data)) for topic, data in c.backend.events]
    c.backend.events.clear()
    return out


def room_topic(room_id: int) -> str:
    return f"room:{room_id}"


def user_topic(p: Principal) -> str:
    return f"user:{p.to_text()}"


@pytest.fixture
def c() -> Canister:
    fresh = app_canister(APP_DIR)
    fresh.install(InitArgs(moderators=[MOD]))
    for who, handle in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol"), (MOD, "mod")):
        fresh.update("register", handle, handle.title(), caller=who)
    return fresh


@pytest.fixture
def alice(c: Canister) -> As:
    return As(c, ALICE)


@pytest.fixture
def bob(c: Canister) -> As:
    return As(c, BOB)


@pytest.fixture
def carol(c: Canister) -> As:
    return As(c, CAROL)


@pytest.fixture
def mod(c: Canister) -> As:
    return As(c, MOD)


@pytest.fixture
def anon(c: Canister) -> As:
    return As(c, ANON)


def group(c: Canister, owner: As, *joiners: As, public: bool = True, name: str = "general"
          ) -> int:
    """A group room owned by ``owner`` with ``joiners`` added; events drained."""
    c.backend.advance_time(15 * SECOND)  # room creation: 5 per minute
    room_id: int = owner.create_room(name, "", public).room.id
    if joiners:
        owner.add_members(room_id, [j.who.to_text() for j in joiners])
    drain(c)
    return room_id


# ============================================================================ users


def test_register_normalises_handles_and_keeps_them_unique(c: Canister) -> None:
    dave = As(c, DAVE)
    profile = dave.register("  Dave_99 ", "  Dave   D. ")
    assert (profile.handle, profile.display_name, profile.user) == ("dave_99", "Dave D.", DAVE)
    assert dave.me() == profile
    assert As(c, ALICE).profile("@DAVE_99") == profile
    assert As(c, ALICE).profile(DAVE.to_text()) == profile
    assert As(c, ALICE).profile("nobody") is None
    with pytest.raises(Reject, match="already registered"):
        dave.register("dave2", "Dave")
    eve = As(c, Principal.self_authenticating(b"eve"))
    with pytest.raises(Reject, match="@dave_99 is taken"):
        eve.register("DAVE_99", "Eve")
    assert eve.me() is None


@pytest.mark.parametrize("handle", ["ab", "a" * 21, "bad-handle", "héllo", "sp ace", "", "@"])
def test_invalid_handles_are_rejected(c: Canister, handle: str) -> None:
    with pytest.raises(Reject, match="invalid handle"):
        As(c, DAVE).register(handle, "Dave")
    with pytest.raises(Reject, match="invalid handle"):
        As(c, DAVE).handle_available(handle)


def test_handle_boundaries_and_availability(c: Canister) -> None:
    assert As(c, DAVE).handle_available("abc") is True
    assert As(c, DAVE).handle_available("ALICE") is False
    As(c, DAVE).register("a" * 20, "Dave")
    assert As(c, DAVE).me().handle == "a" * 20


def test_display_name_and_bio_limits(c: Canister, alice: As) -> None:
    with pytest.raises(Reject, match="display name is 1–50"):
        As(c, DAVE).register("dave", "   ")
    with pytest.raises(Reject, match="display name is 1–50"):
        As(c, DAVE).register("dave", "x" * 51)
    updated = alice.update_profile("Alice Liddell", "down the *rabbit* hole")
    assert (updated.display_name, updated.bio) == ("Alice Liddell", "down the *rabbit* hole")
    assert alice.update_profile(None, None) == updated
    with pytest.raises(Reject, match="at most 500"):
        alice.update_profile(None, "b" * 501)


def test_anonymous_and_unregistered_callers(c: Canister, anon: As, alice: As) -> None:
    with pytest.raises(Reject, match="anonymous principal cannot register"):
        anon.register("ghost", "Ghost")
    room = group(c, alice)
    with pytest.raises(Reject, match="sign in first"):
        anon.send_message(room, "hi", None)
    with pytest.raises(Reject, match="register a handle first"):
        As(c, DAVE).send_message(room, "hi", None)
    with pytest.raises(Reject, match="register a handle first"):
        As(c, DAVE).create_room("x", "", True)
    assert anon.me() is None


def test_profiles_search_users_and_limits(c: Canister, alice: As) -> None:
    found = alice.profiles([BOB, DAVE, CAROL])
    assert [p.handle for p in found] == ["bob", "carol"]
    with pytest.raises(Reject, match="at most 200 users"):
        alice.profiles([BOB] * 201)
    assert [p.handle for p in alice.search_users("@CA", 10)] == ["carol"]
    assert [p.handle for p in alice.search_users("", 2)] == ["alice", "bob"]
    with pytest.raises(Reject, match="at most 200 users"):
        alice.presence([BOB] * 201)


def test_presence_follows_ping(c: Canister, alice: As, bob: As) -> None:
    assert alice.presence([BOB]) == [records.Presence(BOB, None, False)]
    bob.ping()
    (seen,) = alice.presence([BOB])
    assert seen.online and seen.last_seen == c.backend.now_ns
    c.backend.advance_time(3 * 60 * SECOND)
    assert alice.presence([BOB])[0].online is False
    assert drain(c) == []  # presence is read by query, never broadcast


# ============================================================================ rooms


def test_create_room_validates_and_announces(c: Canister, alice: As) -> None:
    for bad in ("", "   ", "n" * 81):
        with pytest.raises(Reject, match="room name is 1–80"):
            alice.create_room(bad, "", True)
    with pytest.raises(Reject, match="description is at most 1000"):
        alice.create_room("ok", "d" * 1001, True)
    mine = alice.create_room("  Book   club ", "we read", False)
    assert mine.room.name == "Book club" and mine.role == Role.owner
    assert mine.room.owner == ALICE and mine.room.member_count == 1 and not mine.room.public
    if EVENTS:
        events = drain(c)
        assert [(t, e.tag) for t, e in events] == [
            (room_topic(mine.room.id), "member"), (user_topic(ALICE), "room_added")]
        assert events[0][1].value.status == MemberStatus.joined
    (joined,) = alice.changes_since(mine.room.id, 0).events
    assert joined.tag == "member" and joined.value.status == MemberStatus.joined
    assert [r.room.id for r in alice.my_rooms()] == [mine.room.id]


def test_public_rooms_are_readable_and_joinable_by_anyone(
    c: Canister, alice: As, bob: As, anon: As
) -> None:
    public = group(c, alice, name="Python")
    private = group(c, alice, public=False, name="Secret python")
    alice.send_message(public, "hello world", None)
    assert anon.room(public).name == "Python"
    assert [m.text for m in anon.history(public, None, 10).messages] == ["hello world"]
    with pytest.raises(Reject, match="private"):
        anon.history(private, None, 10)
    with pytest.raises(Reject, match="private"):
        bob.room(private)
    assert [r.id for r in anon.public_rooms("", None, 10)] == [public]
    assert [r.id for r in anon.public_rooms("PYTH", None, 10)] == [public]
    extra = group(c, alice, name="Later")
    assert [r.id for r in anon.public_rooms("", None, 1)] == [extra]
    assert [r.id for r in anon.public_rooms("", extra, 5)] == [public]
    assert anon.public_rooms("nothing", None, 10) == []
    joined = bob.join_room(public)
    assert joined.role == Role.member and joined.room.member_count == 2
    assert bob.join_room(public) == bob.join_room(public)  # already a member: no change
    with pytest.raises(Reject, match="private: join it with an invite link"):
        bob.join_room(private)
    with pytest.raises(Reject, match="there is no room 999"):
        bob.join_room(999)
    with pytest.raises(Reject, match="there is no room 999"):
        anon.history(999, None, 10)


def test_direct_rooms_are_private_to_their_two_users(
    c: Canister, alice: As, bob: As, carol: As
) -> None:
    first = alice.send_direct("@Bob", "hi bob")
    room_id = first.room_id
    if EVENTS:
        events = drain(c)
        assert [(t, e.tag) for t, e in events] == [
            (user_topic(ALICE), "room_added"), (user_topic(BOB), "room_added"),
            (room_topic(room_id), "message"),
        ]
        assert events[1][1].value.peer.handle == "alice"  # bob sees alice as the peer
        assert events[1][1].value.room.member_count == 2
    again = bob.send_direct(ALICE.to_text(), "hi alice")
    assert again.room_id == room_id and again.id == 2
    assert bob.open_direct("alice").room.id == room_id
    (dm,) = bob.my_rooms()
    assert dm.room.kind == records.RoomKind.direct and dm.peer.user == ALICE
    assert sorted(dm.room.direct_members) == sorted([ALICE, BOB]) and dm.room.name == ""
    with pytest.raises(Reject, match="private"):
        carol.history(room_id, None, 10)
    with pytest.raises(Reject, match="not a member"):
        carol.send_message(room_id, "let me in", None)
    with pytest.raises(Reject, match="another user"):
        alice.send_direct("alice", "me")
    with pytest.raises(Reject, match="no user @nobody"):
        alice.send_direct("nobody", "hi")
    with pytest.raises(Reject, match="has not registered"):
        alice.open_direct(DAVE.to_text())
    with pytest.raises(Reject, match="cannot be left"):
        alice.leave_room(room_id)
    with pytest.raises(Reject, match="no settings"):
        alice.update_room(room_id, RoomUpdate(name="x"))


def test_blocking_stops_direct_messages(c: Canister, alice: As, bob: As, carol: As) -> None:
    room_id = alice.send_direct("bob", "hi").room_id
    bob.block_user("alice")
    assert [p.handle for p in bob.blocked()] == ["alice"]
    with pytest.raises(Reject, match="blocked"):
        alice.send_message(room_id, "hello?", None)
    with pytest.raises(Reject, match="blocked"):
        bob.send_direct("alice", "no")
    with pytest.raises(Reject, match="blocked"):
        bob.open_direct("alice")
    with pytest.raises(Reject, match="yourself"):
        bob.block_user("bob")
    carol.block_user("bob")  # another user's blocks are not listed
    assert [p.handle for p in bob.blocked()] == ["alice"]
    bob.unblock_user("alice")
    assert bob.blocked() == []
    assert alice.send_message(room_id, "hello again", None).id == 2


def test_members_paging(c: Canister, alice: As, bob: As, carol: As, anon: As) -> None:
    room = group(c, alice, bob, carol)
    first = anon.members(room, None, 2)
    second = anon.members(room, first.next, 2)
    everyone = first.members + second.members
    assert second.next is None and len(everyone) == 3
    assert {m.user for m in everyone} == {ALICE, BOB, CAROL}
    assert {m.handle: m.role for m in everyone}["alice"] == Role.owner


# ============================================================================ roles


def test_roles_and_permissions(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    with pytest.raises(Reject, match="only the owner and admins can change the room"):
        bob.update_room(room, RoomUpdate(name="mine now"))
    with pytest.raises(Reject, match="only the owner and admins can remove members"):
        bob.remove_member(room, CAROL)
    with pytest.raises(Reject, match="only the owner and admins can change roles"):
        bob.set_role(room, CAROL, Role.admin)
    promoted = alice.set_role(room, BOB, Role.admin)
    assert promoted.role == Role.admin
    if EVENTS:
        (event,) = [e for _, e in drain(c)]
        assert event.tag == "member" and event.value.status == MemberStatus.role_changed
        assert event.value.role == Role.admin
    with pytest.raises(Reject, match="only the owner can change roles"):
        bob.set_role(room, CAROL, Role.admin)
    with pytest.raises(Reject, match="transfer_ownership"):
        alice.set_role(room, BOB, Role.owner)
    # admins manage members but not the owner or other admins
    view = bob.update_room(room, RoomUpdate(name="Renamed", description="new"))
    assert (view.name, view.description) == ("Renamed", "new")
    if EVENTS:
        assert [(t, e.tag) for t, e in drain(c)] == [(room_topic(room), "room")]
    with pytest.raises(Reject, match="an admin cannot remove a owner"):
        bob.remove_member(room, ALICE)
    alice.set_role(room, CAROL, Role.admin)
    with pytest.raises(Reject, match="an admin cannot remove a admin"):
        bob.remove_member(room, CAROL)
    alice.set_role(room, CAROL, Role.member)
    drain(c)
    bob.remove_member(room, CAROL)
    if EVENTS:
        assert [(t, e.tag, e.value.status) for t, e in drain(c)] == [
            (room_topic(room), "member", MemberStatus.removed),
            (user_topic(CAROL), "member", MemberStatus.removed),
        ]
    assert CAROL not in {m.user for m in bob.members(room, None, 10).members}
    with pytest.raises(Reject, match="not a member"):
        As(c, CAROL).send_message(room, "still here?", None)
    with pytest.raises(Reject, match="use leave_room"):
        bob.remove_member(room, BOB)


def test_ownership_transfer_and_leaving(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="transfer ownership"):
        alice.leave_room(room)
    with pytest.raises(Reject, match="only the owner can transfer"):
        bob.transfer_ownership(room, BOB)
    with pytest.raises(Reject, match="not another member"):
        alice.transfer_ownership(room, CAROL)
    alice.transfer_ownership(room, BOB)
    if EVENTS:
        assert [(e.value.user, e.value.role) for _, e in drain(c)] == [
            (BOB, Role.owner), (ALICE, Role.admin)]
    assert bob.room(room).owner == BOB
    assert {m.user: m.role for m in bob.members(room, None, 10).members} == {
        BOB: Role.owner, ALICE: Role.admin}
    alice.leave_room(room)
    if EVENTS:
        (left,) = [e.value for _, e in drain(c)]  # leaving is not sent to the user topic
        assert (left.status, left.user) == (MemberStatus.left, ALICE)
    bob.leave_room(room)  # the last member may leave; the room is left without an owner
    assert bob.room(room).owner is None and bob.room(room).member_count == 0
    assert As(c, CAROL).join_room(room).role == Role.owner  # until someone joins
    assert bob.room(room).owner == CAROL


def test_ban_and_unban(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="only the owner and admins can ban"):
        bob.ban(room, ALICE, "")
    alice.ban(room, BOB, "spam")
    if EVENTS:
        assert [(t, e.value.status) for t, e in drain(c)] == [
            (room_topic(room), MemberStatus.banned), (user_topic(BOB), MemberStatus.banned)]
    assert [(b.user, b.reason) for b in alice.bans(room)] == [(BOB, "spam")]
    carol.join_room(room)
    with pytest.raises(Reject, match="only the owner and admins can see bans"):
        carol.bans(room)
    with pytest.raises(Reject, match="banned"):
        bob.join_room(room)
    with pytest.raises(Reject, match="banned"):
        alice.add_members(room, ["bob"])
    code = alice.create_invite(room, None, None).code
    with pytest.raises(Reject, match="banned"):
        bob.join_by_invite(code)
    assert bob.can_subscribe(room_topic(room)) is True  # public: readable by anyone
    with pytest.raises(Reject, match="yourself"):
        alice.ban(room, ALICE, "")
    alice.ban(room, CAROL, "")  # a member: removed and banned
    assert carol.room(room).member_count == 1
    drain(c)
    alice.unban(room, BOB)
    if EVENTS:
        assert [(e.value.status, e.value.user) for _, e in drain(c)] == [
            (MemberStatus.unbanned, BOB)]
    assert [b.user for b in alice.bans(room)] == [CAROL]
    with pytest.raises(Reject, match="not banned"):
        alice.unban(room, BOB)
    assert bob.join_room(room).role == Role.member


def test_membership_edge_cases(c: Canister, alice: As, bob: As, carol: As, mod: As
                               ) -> None:
    room = group(c, alice, bob, carol)
    alice.set_role(room, BOB, Role.admin)
    alice.set_role(room, CAROL, Role.admin)
    drain(c)
    with pytest.raises(Reject, match="an admin cannot ban a admin"):
        bob.ban(room, CAROL, "")
    with pytest.raises(Reject, match="has not registered"):
        alice.ban(room, DAVE, "")
    with pytest.raises(Reject, match="reason is at most 1000"):
        alice.ban(room, MOD, "r" * 1001)
    alice.ban(room, MOD, "pre-emptive")  # not a member yet: banned before joining
    if EVENTS:
        assert [(t, e.value.status) for t, e in drain(c)] == [
            (room_topic(room), MemberStatus.banned), (user_topic(MOD), MemberStatus.banned)]
    with pytest.raises(Reject, match="banned"):
        mod.join_room(room)
    with pytest.raises(Reject, match="is not a member"):
        alice.remove_member(room, MOD)
    with pytest.raises(Reject, match="only by transfer_ownership"):
        alice.set_role(room, ALICE, Role.member)
    with pytest.raises(Reject, match="is not a member"):
        alice.set_role(room, MOD, Role.admin)
    seq = alice.room(room).seq
    assert alice.set_role(room, BOB, Role.admin).role == Role.admin  # unchanged: no event
    assert drain(c) == [] and alice.room(room).seq == seq
    with pytest.raises(Reject, match="no such invite"):
        alice.revoke_invite("nope")
    code = alice.create_invite(room, None, None).code
    assert bob.join_by_invite(code).room.id == room  # already a member: nothing happens
    assert alice.invites(room)[0].uses == 0
    with pytest.raises(Reject, match="neither a handle nor a principal"):
        alice.add_members(room, ["not-a-principal"])


def test_deleting_after_leaving(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    mine = bob.send_message(room, "hi @carol", None)
    alice.remove_member(room, BOB)
    with pytest.raises(Reject, match="not a member"):
        bob.delete_message(room, mine.id)
    dave = As(c, DAVE)
    dave.register("dave", "Dave")
    with pytest.raises(Reject, match="not a member"):
        dave.delete_message(room, mine.id)
    assert {r.room.id: r for r in carol.my_rooms()}[room].unread_mentions == 1
    alice.delete_message(room, mine.id)  # the owner outranks a former member
    assert {r.room.id: r for r in carol.my_rooms()}[room].unread_mentions == 0


def test_ban_in_private_room_ends_subscription(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob, public=False)
    assert bob.can_subscribe(room_topic(room)) is True
    alice.ban(room, BOB, "")
    assert bob.can_subscribe(room_topic(room)) is False
    with pytest.raises(Reject, match="private"):
        bob.history(room, None, 10)


def test_making_a_room_private(c: Canister, alice: As, anon: As) -> None:
    room = group(c, alice)
    assert anon.can_subscribe(room_topic(room)) is True
    view = alice.update_room(room, RoomUpdate(public=False))
    assert view.public is False and anon.public_rooms("", None, 10) == []
    assert anon.can_subscribe(room_topic(room)) is False
    alice.update_room(room, RoomUpdate(public=True))
    assert [r.id for r in anon.public_rooms("", None, 10)] == [room]
    with pytest.raises(Reject, match="room name"):
        alice.update_room(room, RoomUpdate(name=""))


@in_process
def test_member_limit(c: Canister, alice: As, bob: As, monkeypatch: pytest.MonkeyPatch
                      ) -> None:
    monkeypatch.setattr(APP.rooms, "MAX_MEMBERS", 2)
    room = group(c, alice, bob)
    with pytest.raises(Reject, match="full"):
        As(c, CAROL).join_room(room)


# ============================================================================ invites


def test_invite_links(c: Canister, alice: As, bob: As, carol: As, anon: As) -> None:
    room = group(c, alice, public=False, name="Private")
    with pytest.raises(Reject, match="not a member"):
        bob.create_invite(room, None, None)
    one = alice.create_invite(room, 1, None)
    other = alice.create_invite(room, None, 60 * SECOND)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", one.code) and one.code != other.code
    assert anon.invite_info(one.code).name == "Private"
    joined = bob.join_by_invite(one.code)
    assert joined.room.id == room and joined.role == Role.member
    if EVENTS:
        assert [(t, e.tag) for t, e in drain(c)] == [
            (room_topic(room), "member"), (user_topic(BOB), "room_added")]
    with pytest.raises(Reject, match="used up"):
        carol.join_by_invite(one.code)
    with pytest.raises(Reject, match="only the owner and admins can create invite links"):
        bob.create_invite(room, None, None)
    assert {i.code: i.uses for i in alice.invites(room)} == {one.code: 1, other.code: 0}
    c.backend.advance_time(61 * SECOND)
    with pytest.raises(Reject, match="expired"):
        carol.join_by_invite(other.code)
    third = alice.create_invite(room, None, None)
    with pytest.raises(Reject, match="only the owner and admins can revoke"):
        bob.revoke_invite(third.code)
    alice.revoke_invite(third.code)
    with pytest.raises(Reject, match="not valid"):
        carol.join_by_invite(third.code)
    with pytest.raises(Reject, match="not valid"):
        anon.invite_info("guessed-code")
    with pytest.raises(Reject, match="max_uses"):
        alice.create_invite(room, 0, None)
    forever = alice.create_invite(room, None, (1 << 64) - 1)
    assert forever.expires_at == (1 << 64) - 1


@in_process
def test_invite_count_limit(c: Canister, alice: As, monkeypatch: pytest.MonkeyPatch
                            ) -> None:
    monkeypatch.setattr(APP.rooms, "MAX_INVITES_PER_ROOM", 2)
    room = group(c, alice)
    alice.create_invite(room, None, None)
    alice.create_invite(room, None, None)
    with pytest.raises(Reject, match="at most 2 invite links"):
        alice.create_invite(room, None, None)


# ============================================================================ messages


def test_send_reply_edit_delete_and_their_events(
    c: Canister, alice: As, bob: As
) -> None:
    room = group(c, alice, bob)
    first = alice.send_message(room, "  The **first** message  ", None)
    assert (first.id, first.text, first.author_handle) == (1, "The **first** message", "alice")
    assert first.html == "The <strong>first</strong> message"
    assert not first.edited and not first.deleted and first.edited_at is None
    if EVENTS:
        (topic, event), = drain(c)
        assert topic == room_topic(room) and event == ChatEvent(message=first)
    assert alice.changes_since(room, first.seq - 1).events == [ChatEvent(message=first)]

    reply = bob.send_message(room, "a reply", first.id)
    assert reply.reply_to == 1 and reply.quote.excerpt == "The **first** message"
    assert reply.quote.author_handle == "alice" and not reply.quote.deleted
    with pytest.raises(Reject, match="no message 99"):
        bob.send_message(room, "to nothing", 99)

    edited = alice.edit_message(room, first.id, "The *first* message, fixed")
    assert edited.edited and edited.edited_at == c.backend.now_ns
    assert edited.html == "The <em>first</em> message, fixed"
    assert edited.seq > first.seq
    drain(c)
    assert alice.edit_message(room, first.id, "The *first* message, fixed") == edited
    assert drain(c) == [] and bob.room(room).seq == edited.seq  # unchanged: nothing happens
    with pytest.raises(Reject, match="only edit your own"):
        bob.edit_message(room, first.id, "hijack")

    bob.delete_message(room, reply.id)
    if EVENTS:
        (topic, event), = drain(c)
        assert event.tag == "deleted" and (event.value.message_id, event.value.by) == (2, BOB)
    gone = bob.message(room, reply.id)
    assert gone.deleted and gone.text == "" and gone.html == "" and gone.quote is None
    bob.delete_message(room, reply.id)  # idempotent
    assert drain(c) == []
    with pytest.raises(Reject, match="was deleted"):
        bob.edit_message(room, reply.id, "back")
    with pytest.raises(Reject, match="was deleted"):
        alice.send_message(room, "replying to a deleted one", reply.id)
    # a reply whose original is deleted shows that in its quote
    third = bob.send_message(room, "about the first", first.id)
    alice.delete_message(room, first.id)
    assert bob.message(room, third.id).quote == records.Quote(1, ALICE, "alice", "", True)


def test_message_text_limits(c: Canister, alice: As) -> None:
    room = group(c, alice)
    for bad in ("", "   \n\t ", "\x00\x01"):
        with pytest.raises(Reject, match="needs some text"):
            alice.send_message(room, bad, None)
    with pytest.raises(Reject, match="at most 10000 characters, got 10001"):
        alice.send_message(room, "x" * 10_001, None)
    assert len(alice.send_message(room, "y" * 10_000, None).text) == 10_000
    assert alice.send_message(room, "  padded" + " " * 20_000, None).text == "padded"
    with pytest.raises(Reject, match="no room 42"):
        alice.send_message(42, "hi", None)


def test_who_may_delete_what(c: Canister, alice: As, bob: As, carol: As, mod: As) -> None:
    room = group(c, alice, bob, carol)
    alice.set_role(room, BOB, Role.admin)
    by_alice = alice.send_message(room, "owner speaks", None)
    by_bob = bob.send_message(room, "admin speaks", None)
    by_carol = carol.send_message(room, "member speaks", None)
    with pytest.raises(Reject, match="only the owner and admins can delete other"):
        carol.delete_message(room, by_bob.id)
    with pytest.raises(Reject, match="an admin cannot delete a owner's message"):
        bob.delete_message(room, by_alice.id)
    bob.delete_message(room, by_carol.id)
    alice.delete_message(room, by_bob.id)
    mod.delete_message(room, by_alice.id)  # platform moderators delete anywhere
    assert [m.deleted for m in carol.history(room, None, 10).messages] == [True, True, True]


def test_history_pages_backwards(c: Canister, alice: As, bob: As, anon: As) -> None:
    room = group(c, alice)
    for i in range(1, 131):
        alice.send_message(room, f"message {i}", None)
    page = anon.history(room, None, 50)
    assert [m.id for m in page.messages] == list(range(81, 131)) and page.next_before == 81
    page = anon.history(room, page.next_before, 50)
    assert [m.id for m in page.messages] == list(range(31, 81))
    page = anon.history(room, page.next_before, 50)
    assert [m.id for m in page.messages] == list(range(1, 31)) and page.next_before is None
    assert len(anon.history(room, None, 1000).messages) == 100  # limit ≤ 100
    assert len(anon.history(room, None, 0).messages) == 1
    assert page.seq == bob.room(room).seq
    assert anon.history(room, 1, 10).messages == []


# ============================================================================ markdown


def no_mentions(_handle: str) -> Principal | None:
    return None


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("**bold** and *italic* and ~~gone~~", "<strong>bold</strong> and <em>italic</em> and "
                                              "<del>gone</del>"),
        ("use `x < y` here", "use <code>x &lt; y</code> here"),
        ("```python\nif a < b:\n    pass\n```", '<pre><code class="language-python">if a &lt; b:'
                                               "\n    pass</code></pre>"),
        ("```print(1)```", "<pre><code>print(1)</code></pre>"),
        ("line one\nline two", "line one<br>line two"),
        ("[the docs](https://example.com/a?b=1&c=2)",
         '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer" '
         'target="_blank">the docs</a>'),
        ("see https://example.com/x.", 'see <a href="https://example.com/x" rel="noopener '
                                       'noreferrer" target="_blank">https://example.com/x</a>.'),
        ("2*3*4 and snake_case_name", "2*3*4 and snake_case_name"),
        ("**not closed", "**not closed"),
        ("`**not bold**`", "<code>**not bold**</code>"),
        ("[**bold link**](http://a.io)", '<a href="http://a.io" rel="noopener noreferrer" '
                                         'target="_blank"><strong>bold link</strong></a>'),
        ("mail bob@example.com", "mail bob@example.com"),
    ],
)
def test_markdown_subset(source: str, html: str) -> None:
    assert text_mod.render(source, no_mentions) == (html, [])


XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[x](https://ok.com/\"onmouseover=\"alert(1))",
    "[x](https://ok.com/'onmouseover='alert(1))",
    "https://ok.com/\"><script>alert(1)</script>",
    "https://ok.com/'onmouseover='alert(1)",
    "[<img src=x onerror=alert(1)>](https://ok.com)",
    "**<svg onload=alert(1)>**",
    "```</code><script>alert(1)</script>```",
    "`</code><script>alert(1)</script>`",
    "@bob\"><script>alert(1)</script>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "data:text/html,<script>alert(1)</script>",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "\ue0000\ue001<b>placeholder smuggling</b>",
    "&lt;script&gt; already escaped",
    "<iframe src=//evil.com></iframe>",
    "*<i>*",
    "[a](https://x.com)<style>*{}</style>",
]

_ALLOWED_TAG = re.compile(
    r'<(?:/?(?:strong|em|del|code|pre|br)|code class="language-[a-z0-9_+#-]+"|'
    r'a href="https?://[^"<>\s]+" rel="noopener noreferrer" target="_blank"|/a|'
    r'span class="mention" data-user="[a-z0-9-]+"|/span)>'
)


@pytest.mark.parametrize("payload", XSS)
def test_xss_payloads_are_inert(payload: str) -> None:
    bob = Principal.self_authenticating(b"bob's key")
    html, _ = text_mod.render(text_mod.clean(payload), lambda h: bob if h == "bob" else None)
    residue = _ALLOWED_TAG.sub("", html)
    assert "<" not in residue and ">" not in residue, html
    assert "javascript:" not in re.sub(r">[^<]*<", "><", f">{html}<").lower()
    for attr in re.findall(r'<a href="([^"]*)"', html):
        assert attr.startswith(("https://", "http://")) and "'" not in attr


def test_bare_url_edges_and_token_limits() -> None:
    html, _ = text_mod.render("(see https://a.io/x) and https://?bad and https://a.io/(b)",
                              no_mentions)
    assert html == ('(see <a href="https://a.io/x" rel="noopener noreferrer" target="_blank">'
                    'https://a.io/x</a>) and https://?bad and <a href="https://a.io/" '
                    'rel="noopener noreferrer" target="_blank">https://a.io/</a>(b)')
    assert text_mod.tokens("One two TWO three x", 2) == ["one", "two"]
    assert text_mod.tokens("a " + "z" * 41 + " ok") == ["ok"]
    assert text_mod.excerpt("word " * 40, 12) == "word word w…"


def test_xss_through_the_canister(c: Canister, alice: As) -> None:
    room = group(c, alice)
    sent = alice.send_message(room, '<img src=x onerror="alert(1)"> [x](javascript:alert(1))',
                              None)
    assert sent.text.startswith("<img")  # raw text is kept as sent
    assert sent.html == ("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; "
                         "[x](javascript:alert(1))")


# ============================================================================ mentions


def test_mentions_notify_members_only(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob)
    msg = alice.send_message(room, "hi @Bob and @carol and @alice and @nobody `@bob`", None)
    assert msg.mentions == [BOB, ALICE]  # carol is not a member; alice mentions herself
    assert msg.html.count('class="mention"') == 2 and "@carol" in msg.html
    if EVENTS:
        events = drain(c)
        assert [(t, e.tag) for t, e in events] == [
            (room_topic(room), "message"), (user_topic(BOB), "mention")]
        note = events[1][1].value
        assert (note.room_id, note.message_id, note.author_handle, note.room_name) == (
            room, msg.id, "alice", "general")
    mine = {r.room.id: r for r in bob.my_rooms()}[room]
    assert (mine.unread, mine.unread_mentions) == (1, 1)
    # an edit notifies only the newly mentioned
    alice.add_members(room, ["carol"])
    drain(c)
    alice.edit_message(room, msg.id, "hi @bob and @carol")
    if EVENTS:
        assert [(t, e.tag) for t, e in drain(c)] == [
            (room_topic(room), "edited"), (user_topic(CAROL), "mention")]
    alice.edit_message(room, msg.id, "hi nobody")
    assert {r.room.id: r for r in bob.my_rooms()}[room].unread_mentions == 0


@in_process
def test_mentions_are_capped(c: Canister, alice: As, monkeypatch: pytest.MonkeyPatch
                             ) -> None:
    monkeypatch.setattr(text_mod, "MAX_MENTIONS", 1)
    room = group(c, alice, As(c, BOB), As(c, CAROL))
    assert alice.send_message(room, "@bob @carol", None).mentions == [BOB]


# ============================================================================ reactions


def test_reactions(c: Canister, alice: As, bob: As, carol: As) -> None:
    room = group(c, alice, bob, carol)
    msg = alice.send_message(room, "react to me", None)
    drain(c)
    seen = bob.add_reaction(room, msg.id, "👍")
    assert [(r.emoji, r.count, r.me, r.users) for r in seen.reactions] == [("👍", 1, True, [BOB])]
    if EVENTS:
        (topic, event), = drain(c)
        assert event.tag == "reaction" and topic == room_topic(room)
        assert (event.value.emoji, event.value.user, event.value.added, event.value.count) == (
            "👍", BOB, True, 1)
    assert bob.add_reaction(room, msg.id, "👍") == seen  # idempotent
    assert drain(c) == []
    carol.add_reaction(room, msg.id, "👍")
    carol.add_reaction(room, msg.id, ":party_parrot:")
    view = alice.message(room, msg.id)
    assert [(r.emoji, r.count, r.me) for r in view.reactions] == [
        ("👍", 2, False), (":party_parrot:", 1, False)]
    after = bob.remove_reaction(room, msg.id, "👍")
    assert [(r.emoji, r.count, r.me, r.users) for r in after.reactions] == [
        ("👍", 1, False, [CAROL]), (":party_parrot:", 1, False, [CAROL])]
    carol.remove_reaction(room, msg.id, ":party_parrot:")
    assert [r.emoji for r in alice.message(room, msg.id).reactions] == ["👍"]
    unchanged = carol.remove_reaction(room, msg.id, "🎉")  # never added: nothing to do
    assert [(r.emoji, r.count, r.me) for r in unchanged.reactions] == [("👍", 1, True)]
    if EVENTS:
        assert drain(c)[-1][1].value.emoji == ":party_parrot:"


@pytest.mark.parametrize("emoji", ["", "abc", "👍 ", " ", "a👍", "👍" * 41, "<b>", ":no spaces:"])
def test_invalid_reactions(c: Canister, alice: As, emoji: str) -> None:
    room = group(c, alice)
    msg = alice.send_message(room, "hi", None)
    with pytest.raises(Reject, match=r"reaction is 1–40|not an emoji"):
        alice.add_reaction(room, msg.id, emoji)


@pytest.mark.parametrize("emoji", ["❤️", "👍🏽", "🇫🇷", "1️⃣", "👨‍👩‍👧", "🤷‍♀️", ":+1:", "✅"])
def test_valid_reactions(emoji: str) -> None:
    assert text_mod.check_emoji(emoji) == emoji


@in_process
def test_reaction_limits(c: Canister, alice: As, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.messages, "MAX_DISTINCT_REACTIONS", 2)
    room = group(c, alice)
    msg = alice.send_message(room, "hi", None)
    alice.add_reaction(room, msg.id, "😀")
    alice.add_reaction(room, msg.id, "😃")
    with pytest.raises(Reject, match="at most 2 different"):
        alice.add_reaction(room, msg.id, "😄")
    alice.delete_message(room, msg.id)
    with pytest.raises(Reject, match="was deleted"):
        alice.add_reaction(room, msg.id, "😀")
    assert alice.message(room, msg.id).reactions == []


# ============================================================================ read markers


def test_read_markers_and_unread_counts(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    for i in range(5):
        alice.send_message(room, f"m{i}", None)
    mine = bob.my_rooms()[0]
    assert (mine.unread, mine.read_up_to, mine.last_message.text) == (5, 0, "m4")
    assert alice.my_rooms()[0].unread == 0  # own messages are read
    drain(c)
    bob.mark_read(room, 3)
    if EVENTS:
        assert [(t, e.tag, e.value.up_to) for t, e in drain(c)] == [
            (room_topic(room), "read", 3)]
    assert bob.my_rooms()[0].unread == 2
    bob.mark_read(room, 2)  # never backwards
    assert drain(c) == [] and bob.my_rooms()[0].read_up_to == 3
    bob.mark_read(room, 10**12)  # clamped to the last message
    assert bob.my_rooms()[0].read_up_to == 5 and bob.my_rooms()[0].unread == 0
    alice.send_message(room, "one more", None)
    alice.delete_message(room, 6)
    assert bob.my_rooms()[0].unread == 0  # deleted messages do not count
    assert [m.read_up_to for m in bob.members(room, None, 10).members if m.user == BOB] == [5]


@in_process
def test_unread_counts_are_capped(c: Canister, alice: As, bob: As,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.views, "UNREAD_CAP", 3)
    room = group(c, alice, bob)
    for i in range(5):
        alice.send_message(room, f"@bob {i}", None)
    mine = bob.my_rooms()[0]
    assert (mine.unread, mine.unread_mentions) == (3, 3)


def test_my_rooms_orders_by_activity_and_keeps_mute(
    c: Canister, alice: As, bob: As
) -> None:
    first = group(c, alice, bob, name="first")
    second = group(c, alice, bob, name="second")
    alice.send_message(first, "newest activity", None)
    assert [r.room.id for r in bob.my_rooms()] == [first, second]
    bob.set_muted(second, True)
    assert {r.room.id: r.muted for r in bob.my_rooms()} == {first: False, second: True}


# ============================================================================ pins


def test_pins(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    msg = bob.send_message(room, "pin me", None)
    drain(c)
    with pytest.raises(Reject, match="only the owner and admins can pin"):
        bob.pin_message(room, msg.id)
    alice.pin_message(room, msg.id)
    if EVENTS:
        (_topic, event), = drain(c)
        assert event.tag == "pinned" and event.value.pinned and event.value.by == ALICE
    assert [m.id for m in bob.pinned(room)] == [msg.id] and bob.message(room, msg.id).pinned
    seq = bob.room(room).seq
    alice.pin_message(room, msg.id)  # already pinned
    assert drain(c) == [] and bob.room(room).seq == seq
    alice.unpin_message(room, msg.id)
    assert bob.pinned(room) == [] and not bob.message(room, msg.id).pinned
    if EVENTS:
        assert drain(c)[0][1].value.pinned is False
    # in a direct room both users may pin; deleting a pinned message unpins it
    dm = bob.send_direct("alice", "remember this")
    alice.pin_message(dm.room_id, dm.id)
    bob.unpin_message(dm.room_id, dm.id)
    bob.pin_message(dm.room_id, dm.id)
    bob.delete_message(dm.room_id, dm.id)
    assert alice.pinned(dm.room_id) == []


@in_process
def test_pin_limit(c: Canister, alice: As, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.messages, "MAX_PINS", 1)
    room = group(c, alice)
    msg = alice.send_message(room, "first", None)
    other = alice.send_message(room, "second", None)
    alice.pin_message(room, msg.id)
    with pytest.raises(Reject, match="at most 1 pinned"):
        alice.pin_message(room, other.id)


# ============================================================================ typing


@publishes
def test_typing_is_published_and_rate_limited(c: Canister, alice: As, bob: As,
                                              carol: As) -> None:
    room = group(c, alice, bob)
    fast = As(c, BOB, tick_ns=100_000_000)
    fast.typing(room)
    fast.typing(room)  # 0.1 s later: dropped silently
    events = drain(c)
    assert [(t, e.tag, e.value.handle) for t, e in events] == [(room_topic(room), "typing", "bob")]
    c.backend.advance_time(2 * SECOND)
    fast.typing(room)
    assert len(drain(c)) == 1
    with pytest.raises(Reject, match="not a member"):
        carol.typing(room)


# ============================================================================ rate limits


def test_message_flood_hits_the_rate_limit(c: Canister, alice: As) -> None:
    room = group(c, alice)
    for i in range(limits.MESSAGE_RATE.count):
        c.update("send_message", room, f"flood {i}", None, caller=ALICE)
    refused = r"rate limit: at most 20 messages .* per 10 s; try again in 10\.0 s"
    with pytest.raises(Reject, match=refused):
        c.update("send_message", room, "one too many", None, caller=ALICE)
    c.backend.advance_time(10 * SECOND)
    assert c.update("send_message", room, "later", None, caller=ALICE).id == 21
    # the limit is per user
    c.update("join_room", room, caller=BOB)
    assert c.update("send_message", room, "bob is fine", None, caller=BOB).id == 22


def test_room_creation_and_report_rate_limits(c: Canister, alice: As) -> None:
    for i in range(limits.ROOM_RATE.count):
        c.update("create_room", f"room {i}", "", True, caller=ALICE)
    with pytest.raises(Reject, match="rate limit: at most 5 new rooms"):
        c.update("create_room", "one more", "", True, caller=ALICE)
    with pytest.raises(Reject, match="rate limit: at most 5 new rooms"):
        c.update("send_direct", "bob", "new direct rooms count too", caller=ALICE)
    room = 1
    for i in range(limits.REPORT_RATE.count + 1):
        c.update("send_message", room, f"bad {i}", None, caller=ALICE)
        c.backend.advance_time(SECOND)
    for i in range(limits.REPORT_RATE.count):
        c.update("report", room, i + 1, "spam", caller=BOB)
    with pytest.raises(Reject, match="rate limit: at most 10 reports per 1 h"):
        c.update("report", room, 11, "spam", caller=BOB)


@in_process
def test_join_and_invite_rate_limits(c: Canister, alice: As, bob: As,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.rooms, "JOIN_RATE", limits.RateLimit("join", 1, 60 * SECOND, "joins"))
    monkeypatch.setattr(APP.rooms, "INVITE_RATE",
                        limits.RateLimit("invite", 1, 60 * SECOND, "invite links"))
    first, second = group(c, alice, name="one"), group(c, alice, name="two")
    bob.join_room(first)
    with pytest.raises(Reject, match="rate limit: at most 1 joins per 1 min"):
        bob.join_room(second)
    alice.create_invite(first, None, None)
    with pytest.raises(Reject, match="rate limit: at most 1 invite links per 1 min"):
        alice.create_invite(first, None, None)


@in_process
def test_room_count_and_add_members_limits(c: Canister, alice: As, bob: As,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    room = group(c, alice)
    monkeypatch.setattr(APP.rooms, "MAX_ROOMS_PER_USER", 1)
    with pytest.raises(Reject, match="at most 1 rooms"):
        alice.create_room("second", "", True)
    monkeypatch.setattr(APP.rooms, "MAX_ADD_MEMBERS", 1)
    with pytest.raises(Reject, match="add at most 1 users"):
        alice.add_members(room, ["bob", "carol"])
    assert [m.handle for m in alice.add_members(room, ["bob"])] == ["bob"]
    assert alice.add_members(room, ["@bob"]) == []  # already a member
    with pytest.raises(Reject, match="only the owner and admins can add members"):
        bob.add_members(room, ["carol"])


def test_reaction_rate_limit(c: Canister, alice: As) -> None:
    room = group(c, alice)
    msg = alice.send_message(room, "hi", None)
    for _ in range(limits.REACTION_RATE.count // 2):
        c.update("add_reaction", room, msg.id, "👍", caller=ALICE)
        c.update("remove_reaction", room, msg.id, "👍", caller=ALICE)
    with pytest.raises(Reject, match="rate limit: at most 30 reactions"):
        c.update("add_reaction", room, msg.id, "👍", caller=ALICE)


# ============================================================================ sync


def test_changes_since_after_edits_and_deletes(c: Canister, alice: As, bob: As) -> None:
    room = group(c, alice, bob)
    start = bob.history(room, None, 10).seq
    a = alice.send_message(room, "one", None)
    b = alice.send_message(room, "two", None)
    cc = alice.send_message(room, "three", None)
    alice.edit_message(room, a.id, "one (edited)")
    alice.delete_message(room, b.id)
    bob.add_reaction(room, cc.id, "🎉")
    alice.pin_message(room, cc.id)
    alice.update_room(room, RoomUpdate(description="synced"))

    changes = bob.changes_since(room, start)
    assert not changes.more and changes.seq == bob.room(room).seq
    assert [(e.tag, getattr(e.value, "id", getattr(e.value, "message_id", None)))
            for e in changes.events] == [("message", 1), ("deleted", 2), ("message", 3),
                                         ("room", room)]
    one, deleted, three, settings = (e.value for e in changes.events)
    assert one.text == "one (edited)" and one.edited
    assert three.pinned and [(r.emoji, r.me) for r in three.reactions] == [("🎉", True)]
    assert settings.description == "synced"
    if EVENTS:
        live = [e for t, e in drain(c) if t == room_topic(room)]
        assert [e.tag for e in live] == ["message", "message", "message", "edited", "deleted",
                                         "reaction", "pinned", "room"]
        # every live event's seq is covered by a later sync position
        seqs = [e.value.seq for e in live]
        assert seqs == sorted(seqs) and seqs[-1] == changes.seq
        assert live[4].value == deleted
    # from the middle: only what changed after
    later = bob.changes_since(room, deleted.seq)
    assert [e.tag for e in later.events] == ["message", "room"]
    assert bob.changes_since(room, changes.seq).events == []
    assert bob.changes_since(room, changes.seq + 100).seq == changes.seq


@in_process
def test_changes_since_pages(c: Canister, alice: As, monkeypatch: pytest.MonkeyPatch
                             ) -> None:
    monkeypatch.setattr(APP.messages, "MAX_CHANGES_PAGE", 4)
    room = group(c, alice)
    for i in range(10):
        alice.send_message(room, f"m{i}", None)
    seen: list[int] = []
    since, pages = 0, 0
    while True:
        page = alice.changes_since(room, since)
        pages += 1
        seen += [e.value.id for e in page.events if e.tag == "message"]
        since = page.seq
        if not page.more:
            break
    assert seen == list(range(1, 11)) and pages == 3


def test_changes_since_respects_privacy(c: Canister, alice: As, carol: As, anon: As
                                        ) -> None:
    room = group(c, alice, public=False)
    with pytest.raises(Reject, match="private"):
        carol.changes_since(room, 0)
    with pytest.raises(Reject, match="private"):
        anon.changes_since(room, 0)


# ============================================================================ subscriptions


def test_can_subscribe(c: Canister, alice: As, bob: As, carol: As, anon: As) -> None:
    public = group(c, alice)
    private = group(c, alice, bob, public=False)
    dm = alice.send_direct("bob", "psst").room_id
    for who in (anon, carol, bob):
        assert who.can_subscribe(room_topic(public)) is True
    assert bob.can_subscribe(room_topic(private)) is True
    assert carol.can_subscribe(room_topic(private)) is False
    assert anon.can_subscribe(room_topic(private)) is False
    assert bob.can_subscribe(room_topic(dm)) and alice.can_subscribe(room_topic(dm))
    assert carol.can_subscribe(room_topic(dm)) is False
    assert bob.can_subscribe(user_topic(BOB)) is True
    assert bob.can_subscribe(user_topic(ALICE)) is False
    assert anon.can_subscribe(user_topic(ANON)) is False
    for topic in ("room:999", "room:", "room:-1", "room:1x", "room:١", "other:1", "", "user:"):
        assert alice.can_subscribe(topic) is False, topic


# ============================================================================ search


def test_search_in_a_room_and_across_rooms(c: Canister, alice: As, bob: As, carol: As,
                                           anon: As) -> None:
    public = group(c, alice, bob, name="Public")
    private = group(c, alice, bob, public=False, name="Private")
    alice.send_message(public, "The Quick brown fox", None)
    bob.send_message(private, "a quick question about foxes", None)
    alice.send_message(private, "QUICK, brown cow!", None)
    gone = bob.send_message(public, "quick and deleted", None)
    bob.delete_message(public, gone.id)
    dm = carol.send_direct("bob", "quick word in private")

    hits = bob.search(None, "quick", 10)
    assert [(h.room_name, h.message.text) for h in hits] == [
        ("@carol", "quick word in private"), ("Private", "QUICK, brown cow!"),
        ("Private", "a quick question about foxes"), ("Public", "The Quick brown fox")]
    assert [h.message.text for h in bob.search(None, "brown QUICK", 10)] == [
        "QUICK, brown cow!", "The Quick brown fox"]
    assert [h.message.text for h in bob.search(private, "quick", 1)] == ["QUICK, brown cow!"]
    assert bob.search(None, "fox", 10)[0].message.text == "The Quick brown fox"  # whole words
    assert [h.room_id for h in anon.search(public, "quick", 10)] == [public]
    assert alice.search(None, "quick", 10)[0].room_id == private  # alice is not in the DM
    with pytest.raises(Reject, match="private"):
        carol.search(private, "quick", 10)
    with pytest.raises(Reject, match="sign in"):
        anon.search(None, "quick", 10)
    with pytest.raises(Reject, match="at least one word"):
        bob.search(None, "a ! ?", 10)
    # edits re-index
    carol.edit_message(dm.room_id, dm.id, "slow word")
    assert bob.search(dm.room_id, "quick", 10) == []
    assert [h.message.id for h in bob.search(dm.room_id, "slow", 10)] == [dm.id]


@in_process
def test_search_cost_is_bounded(c: Canister, alice: As,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(APP.search, "MAX_SEARCH_SCAN", 5)
    room = group(c, alice)
    alice.send_message(room, "needle haystack", None)
    for i in range(8):
        alice.send_message(room, f"haystack {i}", None)
    assert alice.search(room, "haystack", 50) != []
    assert alice.search(room, "haystack needle", 50) == []  # needle is beyond the budget


# ============================================================================ reports


def test_reports(c: Canister, alice: As, bob: As, carol: As, mod: As) -> None:
    room = group(c, alice, bob)
    other = group(c, carol, name="carol's")
    msg = bob.send_message(room, "something rude", None)
    elsewhere = carol.send_message(other, "also rude", None)
    with pytest.raises(Reject, match="reason of 1–1000"):
        carol.report(room, msg.id, "  ")
    first = carol.report(room, msg.id, "rude")
    with pytest.raises(Reject, match="already reported"):
        carol.report(room, msg.id, "very rude")
    with pytest.raises(Reject, match="no message 99"):
        carol.report(room, 99, "rude")
    alice.report(other, elsewhere.id, "rude too")
    (filed,) = alice.reports(room)
    assert (filed.id, filed.reporter, filed.author, filed.excerpt, filed.resolved) == (
        first, CAROL, BOB, "something rude", False)
    with pytest.raises(Reject, match="only the owner and admins of room"):
        bob.reports(room)
    with pytest.raises(Reject, match="only the owner and admins of room"):
        bob.resolve_report(first)
    assert [r.id for r in mod.reports(room)] == [first]
    with pytest.raises(Reject, match="only platform moderators"):
        alice.reports(None)
    assert [r.room_id for r in mod.reports(None)] == [other, room]
    bob.edit_message(room, msg.id, "something nice")
    assert alice.reports(room)[0].excerpt == "something rude"  # evidence is kept
    alice.resolve_report(first)
    assert alice.reports(room)[0].resolved_by == ALICE
    with pytest.raises(Reject, match="no report 99"):
        alice.resolve_report(99)
    private = group(c, alice, public=False, name="hidden")
    hidden = alice.send_message(private, "secret", None)
    with pytest.raises(Reject, match="private"):
        carol.report(private, hidden.id, "?")


# ============================================================================ lifecycle


def test_upgrade_keeps_everything(c: Canister, alice: As, bob: As, mod: As) -> None:
    room = group(c, alice, bob, public=False)
    msg = alice.send_message(room, "before the upgrade @bob", None)
    bob.add_reaction(room, msg.id, "👍")
    code = alice.create_invite(room, None, None).code
    before = (bob.my_rooms(), bob.history(room, None, 10), bob.changes_since(room, 0),
              bob.search(None, "upgrade", 10), alice.invites(room), bob.me())
    c.upgrade(None)
    after = (bob.my_rooms(), bob.history(room, None, 10), bob.changes_since(room, 0),
             bob.search(None, "upgrade", 10), alice.invites(room), bob.me())
    assert after == before
    assert mod.reports(None) == []  # moderators kept when the upgrade gives no argument
    assert As(c, CAROL).join_by_invite(code).room.id == room
    c.upgrade(InitArgs(moderators=[]))
    with pytest.raises(Reject, match="only platform moderators"):
        mod.reports(None)


@pytest.mark.skipif(TARGET != "local",
                    reason="installs with raw argument bytes through LocalCanister.run")
def test_install_without_an_argument() -> None:
    local = LocalCanister(APP)
    local.run("init", "init", EMPTY_MESSAGE)  # what a deploy without --arg sends
    local.update("register", "solo", "Solo", caller=ALICE)
    assert local.query("me", caller=ALICE).handle == "solo"
    with pytest.raises(Reject, match="anonymous principal cannot be a moderator"):
        LocalCanister(APP).install(InitArgs(moderators=[ANON]))


@publishes
def test_every_event_decodes_with_the_published_hint(
    c: Canister, alice: As, bob: As
) -> None:
    """One event per room change; the hint in events.py decodes all of them."""
    room = group(c, alice)
    actions: list[tuple[Callable[[], Any], list[str]]] = [
        (lambda: bob.join_room(room), ["member", "room_added"]),
        (lambda: alice.send_message(room, "hello @bob", None), ["message", "mention"]),
        (lambda: alice.edit_message(room, 1, "hello"), ["edited"]),
        (lambda: bob.add_reaction(room, 1, "👋"), ["reaction"]),
        (lambda: bob.remove_reaction(room, 1, "👋"), ["reaction"]),
        (lambda: bob.typing(room), ["typing"]),
        (lambda: bob.mark_read(room, 1), ["read"]),
        (lambda: bob.mark_read(room, 1), []),
        (lambda: alice.send_message(room, "again", None), ["message"]),
        (lambda: alice.pin_message(room, 1), ["pinned"]),
        (lambda: alice.update_room(room, RoomUpdate(name="new")), ["room"]),
        (lambda: alice.delete_message(room, 1), ["deleted"]),
        (lambda: alice.remove_member(room, BOB), ["member", "member"]),
    ]
    drain(c)
    for act, tags in actions:
        act()
        raw = list(c.backend.events)
        assert [e.tag for _, e in drain(c)] == tags
        for _, data in raw:
            assert isinstance(decode_event(data), ChatEvent)


class _NoEventsBackend(LocalBackend):
    """A backend that delivers no events, as the IC target's (`events.supported` is False)."""

    publishes_events = False

    def publish(self, topic: str, value: bytes) -> None:
        raise AssertionError(f"published to {topic} where events are unsupported")


def test_where_events_are_unsupported_nothing_is_published_and_clients_poll() -> None:
    quiet = LocalCanister(APP, backend=_NoEventsBackend())
    quiet.install(InitArgs(moderators=[]))
    alice, bob = As(quiet, ALICE), As(quiet, BOB)
    alice.register("alice", "Alice")
    bob.register("bob", "Bob")
    room = group(quiet, alice, bob)
    sent = alice.send_message(room, "hi @bob", None)
    bob.add_reaction(room, sent.id, "👍")
    bob.typing(room)
    assert bob.changes_since(room, 0).events[-1].value.reactions[0].emoji == "👍"
    assert quiet.backend.events == []


def test_generated_did_is_up_to_date() -> None:
    from icframework.sdk import load_canister

    did = service_did(load_canister(APP))
    assert (APP_DIR / "chat.did").read_text(encoding="utf-8") == did
