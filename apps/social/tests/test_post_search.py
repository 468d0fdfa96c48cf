"""Post search in plain CPython: words and hashtags over the inverted index, paging,
bad queries, and (Hypothesis) results equal to a brute-force oracle over every post
the viewer may read, through edits and deletes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import Principal, Reject, set_backend

from .posts_world import ALICE, ANON, APP, BOB, CAROL, Net, people


@pytest.fixture
def net() -> Net:
    n = Net()
    people(n, "alice", "bob", "carol")
    return n


def search(net: Net, who: Principal, text: str, limit: int = 50) -> list[int]:
    ids, cursor = [], None
    while True:
        page = net.call(who, "search_posts", text, cursor, limit)
        ids += [p.id for p in page.posts]
        cursor = page.next_cursor
        if cursor is None:
            return ids


def test_words_and_hashtags_match_all_of_them(net: Net) -> None:
    a = net.post(ALICE, "Hiring a Rust engineer #hiring")
    b = net.post(BOB, "Rust and Python: a #rust story")
    c = net.post(CAROL, "python only")
    assert search(net, ANON, "rust") == [b.id, a.id]
    assert search(net, ANON, "RUST python") == [b.id]
    assert search(net, ANON, "#rust") == [b.id]
    assert search(net, ANON, "#hiring engineer") == [a.id]
    assert search(net, ANON, "python") == [c.id, b.id]
    assert search(net, ANON, "nothing") == []


def test_search_never_shows_what_the_viewer_may_not_read(net: Net) -> None:
    net.connect(ALICE, BOB)
    hidden = net.post(ALICE, "secret roadmap", "connections")
    assert search(net, BOB, "roadmap") == [hidden.id]
    assert search(net, CAROL, "roadmap") == []
    net.call(BOB, "block", ALICE)
    assert search(net, BOB, "roadmap") == []


def test_bad_queries_are_refused(net: Net) -> None:
    with pytest.raises(Reject, match="'a !' has no word to search for: give a word of 2"):
        net.call(ALICE, "search_posts", "a !", None, 10)
    with pytest.raises(Reject, match="a search has at most 8 words and hashtags, got 9"):
        net.call(ALICE, "search_posts", "aa bb cc dd ee ff gg hh ii", None, 10)
    with pytest.raises(Reject, match="'x' is not a search cursor"):
        net.call(ALICE, "search_posts", "rust", "x", 10)


def test_a_long_walk_stops_at_its_bound_and_the_cursor_continues() -> None:
    """Candidates the viewer may not read (here: index entries of posts that are gone)
    are examined and skipped; a search examines at most MAX_SEARCH_SCAN per call."""
    net = Net()
    people(net, "alice")
    bound = APP.limits.MAX_SEARCH_SCAN
    hit = net.post(ALICE, "common rare")
    previous = set_backend(net.c.backend)
    try:
        for n in range(bound + 5):  # fill the index directly: only the index is walked
            APP.post_search.index(1_000 + n, "common rare", [])
    finally:
        set_backend(previous)
    page = net.call(ALICE, "search_posts", "common rare", None, 10)
    assert page.posts == [] and page.next_cursor is not None
    assert search(net, ALICE, "common rare") == [hit.id]


WORDS = ["data", "cloud", "team", "launch"]
TAGS = ["ai", "jobs"]
USERS = [ALICE, BOB, CAROL]

step: st.SearchStrategy[Any] = st.one_of(
    st.tuples(st.just("post"), st.sampled_from(USERS),
              st.lists(st.sampled_from(WORDS + [f"#{t}" for t in TAGS]), min_size=1,
                       max_size=4),
              st.sampled_from(["public", "connections"])),
    st.tuples(st.just("edit"), st.integers(0, 12),
              st.lists(st.sampled_from(WORDS + [f"#{t}" for t in TAGS]), min_size=1,
                       max_size=4), st.just("")),
    st.tuples(st.just("delete"), st.integers(0, 12), st.just([]), st.just("")),
)
query = st.lists(st.sampled_from(WORDS + [f"#{t}" for t in TAGS]), min_size=1, max_size=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=15), st.lists(query, min_size=1, max_size=4),
       st.integers(1, 3))
def test_search_equals_a_brute_force_oracle(steps: list[Any], queries: list[list[str]],
                                            limit: int) -> None:
    net = Net()
    people(net, "alice", "bob", "carol")
    net.connect(ALICE, BOB)
    live: dict[int, tuple[Principal, str, str]] = {}
    order: list[int] = []
    for kind, who_or_index, words, audience in steps:
        text = " ".join(words)
        if kind == "post":
            post = net.post(who_or_index, text, audience)
            live[post.id] = (who_or_index, text, audience)
            order.append(post.id)
        elif order:
            post_id = order[who_or_index % len(order)]
            if post_id not in live:
                continue
            author, _old, aud = live[post_id]
            if kind == "edit":
                net.call(author, "edit_post", post_id, text)
                live[post_id] = (author, text, aud)
            else:
                net.call(author, "delete_post", post_id)
                del live[post_id]
    connected = {frozenset((ALICE, BOB))}
    for viewer in [ALICE, CAROL, ANON]:
        for q in queries:
            wanted = set(q)

            def has(text: str, wanted: set[str] = wanted) -> bool:
                words = set(re.findall(r"\w+", text.casefold()))
                tags = {"#" + t.casefold() for t in re.findall(r"#(\w+)", text)}
                return all((w in tags) if w.startswith("#") else (w in words) for w in wanted)

            oracle = sorted(
                (pid for pid, (author, text, aud) in live.items()
                 if has(text) and (aud == "public" or author == viewer
                                   or frozenset((author, viewer)) in connected)),
                reverse=True)
            assert search(net, viewer, " ".join(q), limit) == oracle
