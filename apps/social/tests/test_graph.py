"""The graph: requests, connections, follows, blocks, degrees; Hypothesis for its invariants."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk import LocalCanister, Reject

from .network import As, connect, fresh, records, register, user


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def test_request_accept_and_counts(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    assert alice.send_request(bob.who, "we met at PyCon") is False
    assert alice.profile("bob").relation == records.Relation.request_sent
    assert bob.profile("alice").relation == records.Relation.request_received
    [incoming] = bob.incoming_requests()
    assert (incoming.user.handle, incoming.note) == ("alice", "we met at PyCon")
    assert [r.user.handle for r in alice.outgoing_requests()] == ["bob"]
    bob.accept_request(alice.who)
    assert alice.degree_of(bob.who) == 1 and bob.degree_of(alice.who) == 1
    assert alice.profile("bob").connection_count == 1
    assert [p.handle for p in alice.connections_of(bob.who, None, 10).people] == ["alice"]
    assert bob.incoming_requests() == [] and alice.outgoing_requests() == []


def test_decline_withdraw_remove_and_crossing_requests(c: LocalCanister) -> None:
    alice, bob, carol = register(c, "alice"), register(c, "bob"), register(c, "carol")
    alice.send_request(bob.who, "")
    bob.decline_request(alice.who)
    assert bob.incoming_requests() == []
    alice.send_request(carol.who, "")
    alice.withdraw_request(carol.who)
    with pytest.raises(Reject, match="you have no request waiting at"):
        alice.withdraw_request(carol.who)
    alice.send_request(bob.who, "")
    assert bob.send_request(alice.who, "") is True  # crossing requests connect at once
    assert alice.degree_of(bob.who) == 1
    alice.remove_connection(bob.who)
    assert alice.degree_of(bob.who) == 3
    with pytest.raises(Reject, match="you are not connected to"):
        alice.remove_connection(bob.who)


def test_degrees_and_mutuals(c: LocalCanister) -> None:
    a, b, d, e = (register(c, n) for n in ("anna", "bert", "dora", "emil"))
    connect(a, b)
    connect(b, d)
    connect(d, e)
    assert [a.degree_of(x.who) for x in (a, b, d, e)] == [0, 1, 2, 3]
    assert a.profile("dora").mutual_count == 1


def test_requests_to_oneself_twice_or_to_unknown_users_are_refused(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    with pytest.raises(Reject, match="that is your own profile"):
        alice.send_request(alice.who, "")
    alice.send_request(bob.who, "")
    with pytest.raises(Reject, match="already waiting: withdraw_request cancels it"):
        alice.send_request(bob.who, "")
    with pytest.raises(Reject, match="has no profile: check the principal or the handle"):
        alice.send_request(user("zed"), "")
    with pytest.raises(Reject, match="a request's note is at most 300 characters"):
        bob.send_request(register(c, "carol").who, "n" * 301)
    with pytest.raises(Reject, match=r"no request from .* is waiting for you"):
        alice.accept_request(bob.who)


def test_request_policy_is_enforced(c: LocalCanister) -> None:
    alice, bob, carol = register(c, "alice"), register(c, "bob"), register(c, "carol")
    carol.set_privacy(records.Privacy(requests=records.RequestPolicy.mutuals))
    with pytest.raises(Reject, match="@carol accepts requests only from people with a "
                                     "connection in common"):
        alice.send_request(carol.who, "")
    assert alice.profile("carol").can_request is False
    connect(carol, bob)
    connect(alice, bob)
    assert alice.profile("carol").can_request is True
    alice.send_request(carol.who, "")
    carol.set_privacy(records.Privacy(requests=records.RequestPolicy.nobody))
    bob.remove_connection(carol.who)
    with pytest.raises(Reject, match="@carol accepts no connection requests"):
        bob.send_request(carol.who, "")


def test_follow_is_one_way(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    alice.follow(bob.who)
    alice.follow(bob.who)  # idempotent
    assert bob.profile("bob").follower_count == 1 and alice.me().following_count == 1
    assert alice.profile("bob").following is True
    assert bob.degree_of(alice.who) == 3
    assert [p.handle for p in bob.followers_of(bob.who, None, 10).people] == ["alice"]
    alice.unfollow(bob.who)
    assert bob.me().follower_count == 0


def test_block_removes_every_edge_and_hides_both_ways(c: LocalCanister) -> None:
    alice, bob = register(c, "alice", "Engineer"), register(c, "bob", "Engineer")
    connect(alice, bob)
    alice.set_skills(["Python"])
    bob.endorse(alice.who, "Python")
    alice.follow(bob.who)
    bob.follow(alice.who)
    bob.block(alice.who)
    for me, other in ((alice, bob), (bob, alice)):
        assert me.profile(other.who.to_text()) is None
        assert me.degree_of(other.who) == 3
        assert other.who not in [p.user for p in me.search_people("engineer", None, 10).people]
        with pytest.raises(Reject, match="one of you blocked the other"):
            me.send_request(other.who, "")
        with pytest.raises(Reject, match="one of you blocked the other"):
            me.follow(other.who)
    assert alice.me().skills[0].endorsements == 0
    assert alice.me().follower_count == 0 and alice.me().following_count == 0
    assert [p.handle for p in bob.blocked()] == ["alice"]
    bob.unblock(alice.who)
    assert alice.profile("bob") is not None and alice.degree_of(bob.who) == 3


def test_flooding_requests_hits_the_rate_limit_with_a_clear_message(c: LocalCanister) -> None:
    alice = register(c, "alice")
    others = [register(c, f"user{i}") for i in range(21)]
    for other in others[:20]:
        c.update("send_request", other.who, "", caller=alice.who)
    with pytest.raises(Reject, match=r"rate limit on request: at most 20 connection requests "
                                     r"per 1 h; try again in \d+\.\d s"):
        c.update("send_request", others[20].who, "", caller=alice.who)
    assert len(alice.outgoing_requests()) == 20


# -- invariants ----------------------------------------------------------------------------

NAMES = ("ann", "ben", "cat", "dan")
OPS = st.lists(st.tuples(
    st.sampled_from(["request", "accept", "decline", "withdraw", "remove", "follow", "block",
                     "unblock", "endorse"]),
    st.integers(0, 3), st.integers(0, 3)), max_size=25)


def _run(c: LocalCanister, people: list[As], ops: list[tuple[str, int, int]]) -> None:
    calls = {"request": lambda a, b: a.send_request(b.who, ""),
             "accept": lambda a, b: a.accept_request(b.who),
             "decline": lambda a, b: a.decline_request(b.who),
             "withdraw": lambda a, b: a.withdraw_request(b.who),
             "remove": lambda a, b: a.remove_connection(b.who),
             "follow": lambda a, b: a.follow(b.who),
             "block": lambda a, b: a.block(b.who),
             "unblock": lambda a, b: a.unblock(b.who),
             "endorse": lambda a, b: a.endorse(b.who, "Python")}
    for op, i, j in ops:
        with contextlib.suppress(Reject):
            calls[op](people[i], people[j])


def _world() -> tuple[LocalCanister, list[As]]:
    c = fresh()
    people = [register(c, n) for n in NAMES]
    for p in people:
        p.set_skills(["Python"])
    return c, people


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_connections_stay_symmetric_and_counted(ops: list[tuple[str, int, int]]) -> None:
    c, people = _world()
    _run(c, people, ops)
    lists = {p.who: {q.user for q in p.connections_of(p.who, None, 100).people} for p in people}
    for p in people:
        for q in lists[p.who]:
            assert p.who in lists[q]
        assert p.me().connection_count == len(lists[p.who])


@settings(max_examples=40, deadline=None)
@given(OPS, st.integers(0, 3), st.integers(0, 3))
def test_a_block_removes_every_edge_and_hides_both_ways(
        ops: list[tuple[str, int, int]], i: int, j: int) -> None:
    c, people = _world()
    _run(c, people, ops)
    a, b = people[i], people[j]
    if a is b:
        return
    a.block(b.who)
    for me, other in ((a, b), (b, a)):
        assert me.profile(other.who.to_text()) is None
        assert me.degree_of(other.who) == 3
        assert other.who not in {q.user for q in me.connections_of(me.who, None, 100).people}
        assert other.who not in {q.user for q in me.followers_of(me.who, None, 100).people}
        assert other.who not in {q.user for q in me.following_of(me.who, None, 100).people}
        assert other.who not in {r.user.user for r in me.incoming_requests()}
        assert other.who not in {s.person.user for s in me.people_you_may_know()}
        assert other.who not in {q.user for q in me.endorsers(me.who, "Python")}


@settings(max_examples=40, deadline=None)
@given(OPS)
def test_endorsements_only_come_from_connections(ops: list[tuple[str, int, int]]) -> None:
    c, people = _world()
    _run(c, people, ops)
    for p in people:
        endorsers = {q.user for q in p.endorsers(p.who, "Python")}
        connected = {q.user for q in p.connections_of(p.who, None, 100).people}
        assert endorsers <= connected
        assert p.me().skills[0].endorsements == len(endorsers)
