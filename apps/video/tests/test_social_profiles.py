"""Profiles, follows and blocks of the video canister, in plain CPython through `world`.

Handles (unique, normalised, validated), names and bios as plain text, profile views
with counts and the viewer's relation, follows with counts and paged lists, blocks that
hide both ways, and the video count kept by the catalogue's calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import CanisterError, LocalCanister

from .world import ANON, APP, MOD, As, fresh, limits, ready_video, user

R = APP.social_records
ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


def person(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle))
    who.register(handle, handle.title())
    return who


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


# -- register and profiles ------------------------------------------------------------------


def test_register_normalises_the_handle_and_keeps_it_unique(c: LocalCanister) -> None:
    alice = As(c, ALICE)
    profile = alice.register("@Alice_01", "  Alice\tLiddell ")
    assert (profile.handle, profile.name, profile.bio) == ("alice_01", "Alice Liddell", "")
    assert alice.handle_available("ALICE_01") is False
    assert alice.handle_available("alice_02") is True
    rejects(As(c, BOB).register, "alice_01", "Bob", match="the handle @alice_01 is taken")
    rejects(alice.register, "other", "Alice", match="you are already registered")


@pytest.mark.parametrize("handle", ["ab", "a" * 31, "al ice", "alice!", "ålice", ""])
def test_invalid_handles_are_refused_with_the_rule(c: LocalCanister, handle: str) -> None:
    rejects(As(c, ALICE).register, handle, "Alice",
            match="invalid handle .*use 3–30 characters a–z, 0–9 or _")
    assert As(c, ALICE).handle_available(handle) is False


def test_names_and_bios_are_plain_text_within_limits(c: LocalCanister) -> None:
    alice = As(c, ALICE)
    rejects(alice.register, "alice", " \x00 ", match="a name is required")
    rejects(alice.register, "alice", "A" * (limits.MAX_NAME_CHARS + 1),
            match=f"a name is at most {limits.MAX_NAME_CHARS} characters, got 51")
    alice.register("alice", "Alice\u202e")
    bio = "line one\r\nline\x1b two <b>bold</b>"
    updated = alice.update_profile(R.ProfileInput("Alice L", bio))
    assert (updated.name, updated.bio) == ("Alice L", "line one\nline two <b>bold</b>")
    rejects(alice.update_profile, R.ProfileInput("Alice", "b" * (limits.MAX_BIO_CHARS + 1)),
            match="a bio is at most 200 characters")


def test_signed_out_and_unregistered_callers_are_told_what_to_do(c: LocalCanister) -> None:
    rejects(As(c, ANON).register, "ghost", "Ghost", match="sign in first")
    rejects(As(c, BOB).update_profile, R.ProfileInput("Bob", ""),
            match="has no profile yet: call register")
    rejects(As(c, BOB).follow, ALICE, match="has no profile yet")
    assert As(c, BOB).me() is None


def test_a_profile_view_has_counts_and_the_viewers_relation(c: LocalCanister) -> None:
    alice, bob, carol = person(c, "alice"), person(c, "bob"), person(c, "carol")
    bob.follow(ALICE)
    alice.follow(BOB)
    carol.follow(ALICE)
    ready_video(c, alice.who)
    video = ready_video(c, alice.who)
    bob.like(video.id)
    seen = bob.profile_by_handle("@ALICE")
    assert (seen.followers, seen.following, seen.videos, seen.likes_received) == (2, 1, 2, 1)
    assert (seen.followed_by_me, seen.follows_me, seen.blocked_by_me) == (True, True, False)
    assert carol.profile(ALICE).follows_me is False
    assert alice.me().handle == "alice"
    assert bob.profile(user("nobody")) is None


def test_the_video_count_follows_ready_and_deleted_videos(c: LocalCanister) -> None:
    alice = person(c, "alice")
    first = ready_video(c, alice.who)
    ready_video(c, alice.who)
    assert alice.me().videos == 2
    alice.delete_video(first.id)
    assert alice.me().videos == 1


# -- follows --------------------------------------------------------------------------------


def test_follow_is_idempotent_and_counted_on_both_sides(c: LocalCanister) -> None:
    alice, bob = person(c, "alice"), person(c, "bob")
    bob.follow(ALICE)
    bob.follow(ALICE)
    assert (bob.me().following, alice.me().followers) == (1, 1)
    bob.unfollow(ALICE)
    bob.unfollow(ALICE)
    assert (bob.me().following, alice.me().followers) == (0, 0)
    rejects(bob.follow, BOB, match="that is your own profile")
    rejects(bob.follow, user("nobody"), match="has no profile: check the principal")


def test_followers_and_following_come_in_pages_without_repeats(c: LocalCanister) -> None:
    star = person(c, "star")
    fans = [person(c, f"fan{n:02d}") for n in range(limits.PAGE_SIZE + 5)]
    for fan in fans:
        fan.follow(star.who)
    first = star.followers(star.who, None)
    assert len(first.items) == limits.PAGE_SIZE and first.next is not None
    second = star.followers(star.who, first.next)
    assert second.next is None
    got = [p.principal for p in first.items + second.items]
    assert sorted(got, key=bytes) == sorted((f.who for f in fans), key=bytes)
    assert len(set(got)) == len(fans)
    assert [p.handle for p in fans[0].following(fans[0].who, None).items] == ["star"]
    rejects(star.followers, star.who, "not-a-principal", match="bad cursor")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["follow", "unfollow"]), st.integers(0, 3),
                          st.integers(0, 3)), max_size=25))
def test_follow_counts_always_equal_the_follow_sets(steps: list[tuple[str, int, int]]) -> None:
    c = fresh()
    people = [person(c, f"user{n}") for n in range(4)]
    edges: set[tuple[int, int]] = set()
    for action, a, b in steps:
        if a == b:
            continue
        getattr(people[a], action)(people[b].who)
        if action == "follow":
            edges.add((a, b))
        else:
            edges.discard((a, b))
    for n, p in enumerate(people):
        view = p.me()
        assert view.following == sum(1 for a, _ in edges if a == n)
        assert view.followers == sum(1 for _, b in edges if b == n)


# -- blocks ---------------------------------------------------------------------------------


def test_a_block_removes_follows_both_ways_and_stops_new_ones(c: LocalCanister) -> None:
    alice, bob = person(c, "alice"), person(c, "bob")
    alice.follow(BOB)
    bob.follow(ALICE)
    alice.block(BOB)
    assert (alice.me().followers, alice.me().following) == (0, 0)
    assert (bob.me().followers, bob.me().following) == (0, 0)
    rejects(bob.follow, ALICE, match="you cannot follow .*: one of you blocked the other")
    rejects(alice.follow, BOB, match="you blocked @bob; unblock them first")
    assert [p.handle for p in alice.blocked()] == ["bob"]
    alice.unblock(BOB)
    rejects(alice.unblock, BOB, match="you have not blocked")
    bob.follow(ALICE)
    assert alice.me().followers == 1


def test_a_blocked_user_no_longer_sees_the_blockers_profile(c: LocalCanister) -> None:
    alice, bob, carol = person(c, "alice"), person(c, "bob"), person(c, "carol")
    carol.follow(ALICE)
    bob.follow(CAROL)
    alice.block(BOB)
    assert bob.profile(ALICE) is None
    assert bob.profile_by_handle("alice") is None
    assert alice.profile(BOB).blocked_by_me is True  # so the blocker can unblock
    rejects(bob.followers, ALICE, None, match="does not exist or is hidden")
    assert As(c, MOD).profile(ALICE) is not None
    rejects(alice.block, ALICE, match="you cannot block yourself")
    rejects(alice.block, ANON, match="the anonymous principal cannot be blocked")
