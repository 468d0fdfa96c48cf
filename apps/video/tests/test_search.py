"""Search: the text rules (hashtags, mentions, words; Hypothesis), and the ``search``
query by caption word, hashtag, handle prefix and name, as one types; edits, deletes,
blocks and hiding keep the index right."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from icframework.sdk import LocalCanister, Reject

from .world import APP, MOD, As, fresh, ready_video, user

search = APP.search
S = APP.social_records


def register(c: LocalCanister, handle: str, name: str | None = None) -> As:
    who = As(c, user(handle))
    who.register(handle, name or handle.title())
    return who


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


# -- text rules -------------------------------------------------------------------------------

def test_hashtags_are_case_folded_bounded_and_never_glued_to_a_word() -> None:
    assert search.hashtags_of("#Cats love #DOGS and #cats") == ["cats", "dogs"]
    assert search.hashtags_of("a#b #café #ok_1 ##x #" + "a" * 31) == ["ok_1"]
    assert search.hashtags_of(" ".join(f"#t{n}" for n in range(15))) == [
        f"t{n}" for n in range(10)]
    assert search.mentions_of("hi @Bob, @al and @carol_1 x@dave") == ["bob", "carol_1"]


@given(st.text(max_size=300))
def test_every_hashtag_found_is_a_valid_tag_that_the_caption_holds(text: str) -> None:
    tags = search.hashtags_of(text)
    assert len(tags) == len(set(tags)) <= 10
    for tag in tags:
        assert re.fullmatch(r"[a-z0-9_]{1,30}", tag)
        assert "#" + tag in text.casefold()
        assert search.normalize_tag("#" + tag.upper()) == tag


@given(st.lists(st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True), max_size=8),
       st.sampled_from([" ", ", ", "\n", "! "]))
def test_tags_written_apart_are_all_found_in_order(tags: list[str], sep: str) -> None:
    caption = sep.join("#" + t.upper() for t in tags)
    assert search.hashtags_of(caption) == list(dict.fromkeys(tags))


@given(st.text(max_size=200))
def test_words_are_distinct_case_folded_and_2_to_40_characters(text: str) -> None:
    found = search.words(text)
    assert len(found) == len(set(found))
    assert all(2 <= len(w) <= 40 and w == w.casefold() for w in found)


# -- the query -------------------------------------------------------------------------------

def video_ids(results: object) -> list[int]:
    return [card.video.id for card in results.videos]  # type: ignore[attr-defined]


def test_search_finds_videos_by_caption_word_hashtag_and_creator_as_one_types(
        c: LocalCanister) -> None:
    alice = register(c, "alice", "Alice Liddell")
    bob = register(c, "bobby", "Robert Tables")
    viewer = register(c, "viewer")
    sunset = ready_video(c, alice, "Sunset over the lake #travel")
    surf = ready_video(c, bob, "Surfing lessons #Travel #sea")
    cake = ready_video(c, bob, "Baking a cake")
    assert video_ids(viewer.search("sunset", 10)) == [sunset.id]
    assert video_ids(viewer.search("su", 10)) == [surf.id, sunset.id]  # prefixes, newest first
    assert video_ids(viewer.search("travel", 10)) == [surf.id, sunset.id]
    assert video_ids(viewer.search("#travel sea", 10)) == [surf.id]
    assert video_ids(viewer.search("bobby", 10)) == [cake.id, surf.id]  # the creator's handle
    assert video_ids(viewer.search("LAKE sun", 10)) == [sunset.id]
    assert video_ids(viewer.search("lake cake", 10)) == []
    assert video_ids(viewer.search("su", 1)) == [surf.id]
    nothing = viewer.search("x", 10)  # no word of 2 characters yet: nothing, no error
    assert (nothing.videos, nothing.users, nothing.tags) == ([], [], [])


def test_search_finds_people_by_handle_prefix_and_hashtags_by_prefix(c: LocalCanister) -> None:
    register(c, "alice", "Alice Liddell")
    register(c, "alfred", "Alfred Pennyworth")
    bob = register(c, "bobby", "Robert Tables")
    viewer = register(c, "viewer")
    ready_video(c, bob, "#travel #trains")
    ready_video(c, bob, "#travel")
    assert sorted(u.handle for u in viewer.search("al", 10).users) == ["alfred", "alice"]
    assert [u.handle for u in viewer.search("ALI", 10).users] == ["alice"]
    found = viewer.search("bob", 10).users
    assert [(u.handle, u.name, u.videos) for u in found] == [("bobby", "Robert Tables", 2)]
    assert [(t.tag, t.count) for t in viewer.search("tra", 10).tags] == [
        ("travel", 2), ("trains", 1)]
    assert viewer.search("#tra", 10).tags == viewer.search("tra", 10).tags
    assert viewer.search("tra ins", 10).tags == []


def test_people_are_found_by_the_words_of_their_name(c: LocalCanister) -> None:
    alice = register(c, "alice", "Alice Liddell")
    viewer = register(c, "viewer")
    assert [u.handle for u in viewer.search("lidd", 10).users] == ["alice"]
    alice.update_profile(S.ProfileInput("Alice Pleasance", ""))
    assert viewer.search("liddell", 10).users == []
    assert [u.handle for u in viewer.search("alice pleas", 10).users] == ["alice"]


def test_edits_deletes_blocks_and_hiding_keep_search_right(c: LocalCanister) -> None:
    alice = register(c, "alice")
    viewer = register(c, "viewer")
    video = ready_video(c, alice, "old words here")
    other = ready_video(c, alice, "words too")
    alice.edit_caption(video.id, "brand new text")
    assert video_ids(viewer.search("old", 10)) == []
    assert video_ids(viewer.search("brand", 10)) == [video.id]
    alice.delete_video(video.id)
    assert video_ids(viewer.search("brand", 10)) == []
    for n in range(3):
        register(c, f"reporter{n}").report(S.ReportTarget(video=other.id), "spam")
    assert video_ids(viewer.search("words", 10)) == []
    As(c, MOD).moderate(S.ReportTarget(video=other.id), S.Decision.keep)
    assert video_ids(viewer.search("words", 10)) == [other.id]
    viewer.block(alice.who)
    results = viewer.search("alice words", 10)
    assert results.videos == [] and results.users == []


def test_a_search_of_too_many_words_is_refused_with_the_fix(c: LocalCanister) -> None:
    viewer = register(c, "viewer")
    with pytest.raises(Reject, match="a search has at most 6 words, got more: drop some"):
        viewer.search("one two three four five six seven", 10)
