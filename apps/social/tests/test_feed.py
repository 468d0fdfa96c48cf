"""The home feed, hashtag pages and post lists in plain CPython: sources and reasons,
cursor paging, the ``top`` score and its parts, and (Hypothesis) that a feed holds
exactly the posts of its sources the viewer may read: never blocked or private ones."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import Principal, Reject, set_backend

from .posts_world import ALICE, ANON, APP, BOB, CAROL, DAVE, ERIN, HOUR_NS, Net, R, people

NEWEST, TOP = R.FeedOrder.newest, R.FeedOrder.top


@pytest.fixture
def net() -> Net:
    n = Net()
    people(n, "alice", "bob", "carol", "dave", "erin")
    return n


def feed(net: Net, who: Principal, order: Any = NEWEST, limit: int = 50) -> list[Any]:
    """Every item of ``who``'s feed, paging to the end."""
    items, cursor = [], None
    while True:
        page = net.call(who, "home_feed", order, cursor, limit)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def org(net: Net, who: Principal, name: str) -> int:
    data = APP.records.OrgInput(name=name, kind=APP.records.OrgKind.company, about="",
                                website="", location="")
    return int(net.call(who, "create_org", data).org.id)


def test_the_feed_merges_every_source_newest_first_with_its_reason(net: Net) -> None:
    net.connect(ALICE, BOB)
    net.call(ALICE, "follow", CAROL)
    acme = org(net, DAVE, "Acme")
    net.call(ALICE, "follow_org", acme)
    net.call(ALICE, "follow_hashtag", "#Rust")
    mine = net.post(ALICE, "my own")
    by_bob = net.post(BOB, "from a connection")
    by_carol = net.post(CAROL, "from someone I follow")
    by_acme = net.post(DAVE, "from a page I follow", org_id=acme)
    tagged = net.post(ERIN, "learning #rust")
    net.post(ERIN, "not for alice")
    got = [(i.post.id, i.reason) for i in feed(net, ALICE)]
    assert got == [(tagged.id, "hashtag"), (by_acme.id, "organisation"),
                   (by_carol.id, "following"), (by_bob.id, "connection"), (mine.id, "you")]


def test_the_feed_pages_by_cursor_without_gaps_or_repeats(net: Net) -> None:
    net.connect(ALICE, BOB)
    ids = [net.post(BOB if n % 2 else ALICE, f"post {n}").id for n in range(12)]
    seen, cursor, sizes = [], None, []
    while True:
        page = net.call(ALICE, "home_feed", NEWEST, cursor, 5)
        sizes.append(len(page.items))
        seen += [i.post.id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1] and sizes == [5, 5, 2]
    with pytest.raises(Reject, match="'t:1:2' is not a newest feed cursor; pass the "
                                     "next_cursor of the previous page of the same order"):
        net.call(ALICE, "home_feed", NEWEST, "t:1:2", 5)


def test_top_ranks_by_the_documented_score_and_shows_its_parts(net: Net) -> None:
    net.connect(ALICE, BOB)
    net.connect(BOB, CAROL)
    net.call(ALICE, "follow", CAROL)
    old = net.post(BOB, "older but discussed")
    for who in (CAROL, DAVE, ERIN):
        net.call(who, "add_comment", old.id, None, "good point")
    net.c.backend.advance_time(5 * HOUR_NS)
    fresh = net.post(CAROL, "fresh, from a 2nd-degree person")
    items = feed(net, ALICE, TOP)
    as_of = net.call(ALICE, "home_feed", TOP, None, 1).as_of
    by_id = {i.post.id: i.score for i in items}
    parts = by_id[old.id]
    assert (parts.comments, parts.reactions, parts.degree, parts.affinity) == (3, 0, 1, 4)
    assert parts.age_hours == (as_of - old.created_at) // HOUR_NS == 5
    assert parts.score == (1 + 0 + 2 * 3) * 4 * 1_000_000 // (5 + 2) ** 2
    fresh_parts = by_id[fresh.id]
    assert (fresh_parts.degree, fresh_parts.affinity, fresh_parts.age_hours) == (2, 2, 0)
    assert fresh_parts.score == 1 * 2 * 1_000_000 // (0 + 2) ** 2 == 500_000
    assert parts.score == 571_428  # seven engagements at 4x outweigh five hours
    assert [i.post.id for i in items] == [old.id, fresh.id]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 30)),
                min_size=1, max_size=6))
def test_top_order_and_scores_equal_the_formula(posts: list[tuple[int, int, int]]) -> None:
    net = Net()
    people(net, "alice", "bob", "carol", "dave", "erin")
    net.connect(ALICE, BOB)
    reactors = [CAROL, DAVE, ERIN, ALICE]
    for reactions, comments, hours in posts:
        post = net.post(BOB, "a post")
        for who in reactors[:reactions]:
            net.call(who, "react", post.id, R.ReactionKind.like)
        for n in range(comments):
            net.call(reactors[n % 4], "add_comment", post.id, None, "hi")
        net.c.backend.advance_time(hours * HOUR_NS)
    items = feed(net, ALICE, TOP, limit=2)
    assert len(items) == len(posts)
    as_of = net.call(ALICE, "home_feed", TOP, None, 1).as_of
    for item in items:
        p, s = item.post, item.score
        reactions = sum(r.count for r in p.reactions)
        hours = (as_of - p.created_at) // HOUR_NS
        assert (s.reactions, s.comments, s.age_hours) == (reactions, p.comment_count, hours)
        assert s.score == (1 + reactions + 2 * p.comment_count) * 4 * 1_000_000 // (hours + 2) ** 2
    keys = [(i.score.score, i.post.id) for i in items]
    assert keys == sorted(keys, reverse=True)


def test_hashtag_pages_and_followed_hashtags(net: Net) -> None:
    first = net.post(BOB, "#Hiring a #python engineer")
    second = net.post(CAROL, "more #python")
    page = net.call(ANON, "hashtag_posts", "#PYTHON", None, 10)
    assert [p.id for p in page.posts] == [second.id, first.id]
    assert net.call(ALICE, "follow_hashtag", "python").following is True
    assert [t.tag for t in net.call(ALICE, "followed_hashtags")] == ["python"]
    assert net.call(ALICE, "hashtag", "python").post_count == 2
    with pytest.raises(Reject, match="'no spaces' is not a hashtag: use 1–40 letters"):
        net.call(ALICE, "hashtag_posts", "no spaces", None, 10)
    net.call(ALICE, "unfollow_hashtag", "python")
    assert net.call(ALICE, "followed_hashtags") == []


def test_person_org_and_group_lists(net: Net) -> None:
    acme = org(net, DAVE, "Acme")
    on_page = net.post(DAVE, "we are hiring", org_id=acme)
    personal = net.post(DAVE, "my weekend")
    assert [p.id for p in net.call(ANON, "org_posts", acme, None, 10).posts] == [on_page.id]
    assert [p.id for p in net.call(ANON, "user_posts", DAVE, None, 10).posts] == [
        personal.id, on_page.id]
    with pytest.raises(Reject, match="there is no organisation 77"):
        net.call(ANON, "org_posts", 77, None, 10)


def test_a_block_hides_posts_that_reach_the_viewer_through_groups_and_hashtags(net: Net) -> None:
    gid = net.call(CAROL, "create_group", R.GroupInput("Open", "", R.JoinPolicy.open)).id
    for who in (ALICE, BOB):
        net.call(who, "join_group", gid)
    net.call(ALICE, "follow_hashtag", "ai")
    in_group = net.post(BOB, "group news", group_id=gid)
    tagged = net.post(BOB, "news #ai")
    assert {i.post.id for i in feed(net, ALICE)} == {in_group.id, tagged.id}
    net.call(ALICE, "block", BOB)
    assert feed(net, ALICE) == []
    assert net.call(ALICE, "group_posts", gid, None, 10).posts == []
    assert net.call(ALICE, "hashtag_posts", "ai", None, 10).posts == []
    assert net.call(ALICE, "search_posts", "news", None, 10).posts == []
    for post in (in_group, tagged):
        with pytest.raises(Reject, match=f"there is no post {post.id} you can see"):
            net.call(ALICE, "get_post", post.id)
        with pytest.raises(Reject, match=f"there is no post {post.id} you can see"):
            net.call(ALICE, "react", post.id, R.ReactionKind.like)
        with pytest.raises(Reject, match=f"there is no post {post.id} you can see"):
            net.call(ALICE, "add_comment", post.id, None, "hello?")


def test_anonymous_callers_have_no_home_feed(net: Net) -> None:
    with pytest.raises(Reject, match="sign in first"):
        net.call(ANON, "home_feed", NEWEST, None, 10)


# -- the invariant: a feed is exactly what its sources hold that the viewer may read ----------

USERS = [ALICE, BOB, CAROL, DAVE]
TAGS = ["ai", "ops"]

post_act = st.tuples(st.just("post"), st.sampled_from(USERS),
                     st.tuples(st.sampled_from(["public", "connections"]),
                               st.sampled_from([None, None, 0, 1]),
                               st.sampled_from([None, *TAGS])))
act = st.one_of(
    post_act,
    st.tuples(st.just("connect"), st.sampled_from(USERS), st.sampled_from(USERS)),
    st.tuples(st.just("follow"), st.sampled_from(USERS), st.sampled_from(USERS)),
    post_act,
    st.tuples(st.just("block"), st.sampled_from(USERS), st.sampled_from(USERS)),
    st.tuples(st.just("private"), st.sampled_from(USERS), st.booleans()),
    post_act,
    st.tuples(st.just("tag"), st.sampled_from(USERS), st.sampled_from(TAGS)),
    st.tuples(st.just("join"), st.sampled_from(USERS), st.integers(0, 1)),
)


@contextmanager
def inside(net: Net) -> Iterator[None]:
    """Read the canister's state directly (the oracle's ground truth for the graph)."""
    previous = set_backend(net.c.backend)
    try:
        yield
    finally:
        set_backend(previous)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(act, min_size=4, max_size=30))
def test_feeds_hold_exactly_the_readable_posts_of_their_sources(acts: list[Any]) -> None:
    net = Net()
    for name, who in zip(("alice", "bob", "carol", "dave"), USERS, strict=True):
        net.register(who, name)
    owner = ERIN
    net.register(owner, "erin")
    groups = [net.call(owner, "create_group", R.GroupInput(name, "", policy)).id
              for name, policy in (("Open", R.JoinPolicy.open), ("Closed", R.JoinPolicy.request))]
    made: list[tuple[int, Principal, str, int | None, str | None]] = []
    blocked: set[frozenset[Principal]] = set()
    private: set[Principal] = set()
    for kind, who, arg in acts:
        try:
            if kind == "connect" and who != arg:
                net.connect(who, arg)
            elif kind == "follow" and who != arg:
                net.call(who, "follow", arg)
            elif kind == "block" and who != arg:
                net.call(who, "block", arg)
                blocked.add(frozenset((who, arg)))
            elif kind == "private":
                visibility = (APP.records.Visibility.connections if arg
                              else APP.records.Visibility.public)
                net.call(who, "set_privacy", APP.records.Privacy(posts=visibility))
                (private.add if arg else private.discard)(who)
            elif kind == "tag":
                net.call(who, "follow_hashtag", arg)
            elif kind == "join":
                net.call(who, "join_group", groups[arg])
                if arg == 1:
                    net.call(owner, "answer_join_request", groups[1], who, True)
            elif kind == "post":
                audience, group, tag = arg
                text = f"news #{tag}" if tag else "news"
                gid = None if group is None else groups[group]
                post = net.post(who, text, audience, group_id=gid)
                made.append((post.id, who, audience, gid, tag))
        except Reject:
            continue
    for viewer in USERS:
        with inside(net):
            connections = set(APP.graph.connections(viewer))
            following = set(APP.graph.following(viewer))
            tags = {t for (_u, t), _at in APP.feed.followed_tags.range(
                (viewer, ""), (viewer, "\U0010ffff"))}
            member_of = {g for g in groups if APP.groups.is_member(g, viewer)}
        expected = [pid for pid, author, audience, gid, tag in made
                    if readable(viewer, connections, member_of, groups[0], blocked, private,
                                author, audience, gid)
                    and (author == viewer or author in connections or author in following
                         or gid in member_of or tag in tags)]
        got = [i.post.id for i in feed(net, viewer, limit=7)]
        assert got == sorted(expected, reverse=True)


def readable(viewer: Principal, connections: set[Principal], member_of: set[int],
             open_group: int, blocked: set[frozenset[Principal]], private: set[Principal],
             author: Principal, audience: str, gid: int | None) -> bool:
    """The oracle of `posts.can_see`, from the rules in docs/social.md."""
    if author != viewer and frozenset((author, viewer)) in blocked:
        return False
    if gid is not None:
        return gid == open_group or gid in member_of
    if author in private and author != viewer and author not in connections:
        return False
    return audience == "public" or author == viewer or author in connections
