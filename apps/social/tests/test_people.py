"""People search (indexed, equal to a brute-force oracle, privacy-aware) and people you may know."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from icframework.sdk import LocalCanister

from .network import As, connect, fresh, org, profile_input, records, register, user


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def test_search_by_name_headline_skill_and_organisation(c: LocalCanister) -> None:
    alice = register(c, "alice", "Backend engineer")
    bob = register(c, "bob", "Designer")
    bob.set_skills(["Figma", "Typography"])
    bob.set_experience([records.Experience("Designer", "Initech", None, "2020-01", None, "")])
    names = lambda words: [p.handle for p in alice.search_people(words, None, 10).people]  # noqa: E731
    assert names("engineer") == ["alice"]
    assert names("TYPOGRAPHY") == ["bob"]
    assert names("initech designer") == ["bob"]
    assert names("initech engineer") == []
    assert names("") == []
    bob.set_privacy(records.Privacy(skills=records.Visibility.connections,
                                    experience=records.Visibility.connections))
    assert names("typography") == [] and names("initech") == []  # hidden sections stay hidden


def test_search_pages_by_cursor(c: LocalCanister) -> None:
    people = [register(c, f"dev{i}", "Python developer") for i in range(5)]
    seen, cursor = [], None
    while True:
        page = people[0].search_people("python", cursor, 2)
        seen += [p.user for p in page.people]
        cursor = page.next
        if cursor is None:
            break
    assert seen == sorted((p.who for p in people), key=lambda p: p.raw)


def test_people_you_may_know_ranks_mutuals_orgs_and_skills(c: LocalCanister) -> None:
    me, friend, fof, colleague, peer, stranger = (
        register(c, n) for n in ("me_", "friend", "fof", "colleague", "peer", "stranger"))
    connect(me, friend)
    connect(friend, fof)
    org_id = org(me)
    entry = [records.Experience("Engineer", "Acme Corp", org_id, "2020-01", None, "")]
    me.set_experience(entry)
    colleague.set_experience(entry)
    me.set_skills(["Python"])
    peer.set_skills(["Python"])
    got = [(s.person.handle, s.mutual, s.shared_orgs, s.shared_skills, s.score)
           for s in me.people_you_may_know()]
    assert got == [("fof", 1, 0, 0, 10), ("colleague", 0, 1, 0, 5), ("peer", 0, 0, 1, 2)]
    me.dismiss_suggestion(fof.who)
    assert [s.person.handle for s in me.people_you_may_know()] == ["colleague", "peer"]
    me.send_request(colleague.who, "")
    assert [s.person.handle for s in me.people_you_may_know()] == ["peer"]
    assert stranger.who not in {s.person.user for s in me.people_you_may_know()}


WORDS = ["python", "rust", "design", "zurich", "data"]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from(WORDS), max_size=3),
                          st.lists(st.sampled_from(WORDS), max_size=2), st.booleans()),
                min_size=1, max_size=6),
       st.lists(st.sampled_from(WORDS), min_size=1, max_size=2), st.integers(0, 5))
def test_search_equals_a_brute_force_oracle(
        people: list[tuple[list[str], list[str], bool]], words: list[str], blocker: int) -> None:
    c = fresh()
    searcher = register(c, "searcher")
    truth = {}
    for n, (headline, skills, hide_skills) in enumerate(people):
        who = As(c, user(f"per{n}"))
        who.register(f"per{n}", profile_input(f"Person {n}", " ".join(headline)))
        who.set_skills(skills)
        if hide_skills:
            who.set_privacy(records.Privacy(skills=records.Visibility.connections))
        public = set(headline) | (set() if hide_skills else set(skills))
        truth[who.who] = public  # the query words never match a name or handle
    blocked = As(c, user(f"per{blocker}"))
    if blocked.who in truth:
        blocked.block(searcher.who)
    expected = sorted((p for p, terms in truth.items()
                       if set(words) <= terms and p != blocked.who), key=lambda p: p.raw)
    got = [p.user for p in searcher.search_people(" ".join(words), None, 50).people]
    assert got == expected
