"""The home feed, the public feed, hashtag pages and post lists in plain CPython: sources
and reasons, cursor paging, the ``top`` score and its parts, what an anonymous visitor
reads, and (Hypothesis) that a feed holds exactly the posts of its sources the viewer
may read, and the public feed exactly the posts anyone may read: never blocked or
private ones."""

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


# -- the public feed: what a first-time visitor reads --------------------------------------

def public(net: Net, who: Principal = ANON, limit: int = 50) -> list[Any]:
    """Every item of the public feed as ``who`` reads it, paging to the end."""
    items, cursor = [], None
    while True:
        page = net.call(who, "public_feed", cursor, limit)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


def test_the_public_feed_shows_anonymous_exactly_the_posts_anyone_may_read(net: Net) -> None:
    acme = org(net, DAVE, "Acme")
    open_group = net.call(CAROL, "create_group", R.GroupInput("Open", "", R.JoinPolicy.open)).id
    closed = net.call(CAROL, "create_group", R.GroupInput("Closed", "", R.JoinPolicy.request)).id
    net.call(ERIN, "set_privacy", APP.records.Privacy(posts=APP.records.Visibility.connections))
    shown = [net.post(ALICE, "hello #world").id,
             net.post(DAVE, "we are hiring", org_id=acme).id,
             net.post(CAROL, "open to all", group_id=open_group).id]
    net.post(BOB, "for my connections only", "connections")
    net.post(CAROL, "members only", group_id=closed)
    net.post(ERIN, "public post, but my posts show to connections only")
    shown.append(net.call(BOB, "repost", shown[0], "worth reading", R.Audience.public).id)
    items = public(net)
    assert [i.post.id for i in items] == sorted(shown, reverse=True)
    alice = next(i for i in items if i.post.id == shown[0])
    assert (alice.author.user, alice.author.handle, alice.author.name,
            alice.author.headline, alice.author.degree) == (ALICE, "alice", "Alice",
                                                            "Alice at work", 3)
    assert alice.post.author.handle == "alice" and alice.post.my_reaction is None
    assert next(i for i in items if i.post.id == shown[3]).post.repost_of.id == shown[0]
    net.call(ERIN, "set_privacy", APP.records.Privacy(posts=APP.records.Visibility.public))
    assert len(public(net)) == len(shown) + 1


def test_a_signed_in_reader_of_the_public_feed_never_sees_someone_blocked(net: Net) -> None:
    mine = net.post(ALICE, "from alice")
    theirs = net.post(BOB, "from bob")
    net.call(ALICE, "block", BOB)
    assert [i.post.id for i in public(net, ALICE)] == [mine.id]
    assert [i.post.id for i in public(net, BOB)] == [theirs.id]
    assert [i.post.id for i in public(net)] == [theirs.id, mine.id]


def test_the_public_feed_pages_by_cursor(net: Net) -> None:
    ids = [net.post((ALICE, BOB, CAROL)[n % 3], f"post {n}").id for n in range(12)]
    net.post(ALICE, "private", "connections")
    seen, cursor, sizes = [], None, []
    while True:
        page = net.call(ANON, "public_feed", cursor, 5)
        sizes.append(len(page.items))
        seen += [i.post.id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ids[::-1] and sizes == [5, 5, 2]
    with pytest.raises(Reject, match="'n:3' is not a posts cursor; pass the next_cursor"):
        net.call(ANON, "public_feed", "n:3", 5)


def test_the_public_feed_reads_a_bounded_index(net: Net, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    closed = net.call(CAROL, "create_group", R.GroupInput("Closed", "", R.JoinPolicy.request)).id
    monkeypatch.setattr(APP.posts, "PUBLIC_INDEX_MAX", 6)
    monkeypatch.setattr(APP.feed, "MAX_FEED_SCAN", 3)
    for n in range(3):
        net.post(ALICE, f"early {n}")
    net.post(ALICE, "connections never enter the index", "connections")
    late = [net.post(ALICE, f"late {n}").id for n in range(3)]
    hidden = [net.post(CAROL, f"closed {n}", group_id=closed).id for n in range(3)]
    with inside(net):
        assert list(APP.posts.by_public.keys()) == late + hidden
    page = net.call(ANON, "public_feed", None, 10)
    assert page.items == [] and page.next_cursor == f"p:{hidden[0]}"
    page = net.call(ANON, "public_feed", page.next_cursor, 10)
    assert [i.post.id for i in page.items] == late[::-1] and page.next_cursor is None


def test_an_upgrade_builds_a_missing_public_index(net: Net) -> None:
    ids = [net.post(ALICE, "public").id, net.post(BOB, "private", "connections").id]
    with inside(net):
        APP.posts.by_public.clear()
    assert public(net) == []
    net.c.upgrade(None)
    assert [i.post.id for i in public(net)] == [ids[0]]


def test_what_the_landing_reads_works_for_anonymous_and_shows_public_sections_only(
        net: Net) -> None:
    V = APP.records.Visibility
    net.call(ALICE, "set_skills", ["Rust", "Kubernetes"])
    net.call(ALICE, "set_privacy", APP.records.Privacy(about=V.connections, skills=V.public))
    net.call(BOB, "set_skills", ["Rust"])
    net.call(BOB, "set_privacy", APP.records.Privacy(skills=V.connections))
    view = net.call(ANON, "profile", "@alice")
    assert view.handle == "alice" and view.skills is not None and view.about is None
    assert view.degree == 3 and view.relation == APP.records.Relation.none
    assert net.call(ANON, "profile", "bob").skills is None
    found = net.call(ANON, "search_people", "rust", None, 10).people
    assert [p.handle for p in found] == ["alice"]
    acme = org(net, DAVE, "Acme")
    job = APP.records.JobInput(title="Rust engineer", description="systems", location="Zurich",
                               workplace=APP.records.Workplace.remote,
                               seniority=APP.records.Seniority.senior, skills=["Rust"],
                               salary=None)
    net.call(DAVE, "post_job", acme, job)
    query = APP.records.JobQuery(words="", org_id=None, workplace=None, seniority=None,
                                 skill=None, min_salary=None, include_closed=False)
    assert [j.job.title for j in net.call(ANON, "search_jobs", query, None, 10).jobs] == [
        "Rust engineer"]
    tagged = net.post(ALICE, "learning #rust")
    net.post(ALICE, "quietly #rust", "connections")
    assert [p.id for p in net.call(ANON, "hashtag_posts", "rust", None, 10).posts] == [
        tagged.id]


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
    anyone = [pid for pid, author, audience, gid, _tag in made
              if readable(ANON, set(), set(), groups[0], blocked, private, author,
                          audience, gid)]
    assert [i.post.id for i in public(net, limit=3)] == sorted(anyone, reverse=True)


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
