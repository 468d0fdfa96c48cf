"""The newest-first lists and what keeps their indexes: the Following feed (a merge of
followed creators), a creator's grid, hashtag pages and their cursors, trending tags,
one card, and the catalogue hooks (caption edits re-index hashtags, deletes and hiding
unindex, processing results and @mentions notify)."""

from __future__ import annotations

from typing import Any

import pytest

from icframework.sdk import LocalCanister, Reject

from .world import ANON, APP, MOD, WORKER, As, fresh, mp4, ready_video, records, upload, user

S = APP.social_records


def register(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle))
    who.register(handle, handle.title())
    return who


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def every(who: As, method: str, *args: Any, limit: int = 30) -> list[int]:
    """The ids of every page of a list, paging to the end."""
    got, cursor = [], None
    while True:
        page = getattr(who, method)(*args, cursor, limit)
        got += [card.video.id for card in page.items]
        cursor = page.next
        if cursor is None:
            return got


def test_the_following_feed_merges_followed_creators_newest_first(c: LocalCanister) -> None:
    alice, bob, carol, dave = (register(c, n) for n in ("alice", "bob", "carol", "dave"))
    made = [ready_video(c, (alice, bob, dave)[n % 3], f"video {n}") for n in range(9)]
    carol.follow(alice.who)
    carol.follow(bob.who)
    expected = [v.id for v in made if v.creator != dave.who][::-1]
    assert every(carol, "following_feed") == expected
    assert every(carol, "following_feed", limit=2) == expected  # pages join exactly
    page = carol.following_feed(None, 2)
    assert all(card.following_creator for card in page.items)
    assert every(As(c, ANON), "following_feed") == []
    carol.unfollow(bob.who)
    assert every(carol, "following_feed") == [v.id for v in made if v.creator == alice.who][::-1]


def test_a_creator_grid_is_their_shown_videos_newest_first(c: LocalCanister) -> None:
    alice, carol = register(c, "alice"), register(c, "carol")
    made = [ready_video(c, alice, f"n {n}").id for n in range(5)]
    upload(c, alice, mp4(300), "still processing")
    assert every(carol, "creator_videos", alice.who, limit=2) == made[::-1]
    alice.delete_video(made[1])
    assert every(carol, "creator_videos", alice.who) == [made[4], made[3], made[2], made[0]]
    carol.block(alice.who)
    assert every(carol, "creator_videos", alice.who) == []


def test_hashtag_pages_and_trending_counts_follow_captions(c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    cats = ready_video(c, alice, "my #Cats and #dogs")
    more = ready_video(c, bob, "#cats again #cats, not#this nor #café")
    dogs = ready_video(c, bob, "just #dogs")
    third = ready_video(c, alice, "#CATS #cats_club")
    assert every(carol, "hashtag", "cats") == [third.id, more.id, cats.id]
    assert every(carol, "hashtag", "#CATS", limit=1) == [third.id, more.id, cats.id]
    assert every(carol, "hashtag", "dogs") == [dogs.id, cats.id]
    assert every(carol, "hashtag", "this") == [] and every(carol, "hashtag", "caf") == []
    trending = [(t.tag, t.count) for t in carol.trending_tags(10)]
    assert trending == [("cats", 3), ("dogs", 2), ("cats_club", 1)]
    alice.edit_caption(cats.id, "now about #birds")
    assert every(carol, "hashtag", "cats") == [third.id, more.id]
    assert every(carol, "hashtag", "birds") == [cats.id]
    bob.delete_video(more.id)
    trending = [(t.tag, t.count) for t in carol.trending_tags(50)]
    assert trending == [("dogs", 1), ("cats_club", 1), ("cats", 1), ("birds", 1)]
    assert [t.tag for t in carol.trending_tags(2)] == ["dogs", "cats_club"]
    with pytest.raises(Reject, match="'#no way' is not a hashtag: use 1–30 characters"):
        carol.hashtag("#no way", None, 5)


def test_list_cursors_are_checked(c: LocalCanister) -> None:
    carol = register(c, "carol")
    with pytest.raises(Reject, match="is not a cursor of this list: pass the previous "
                                     "page's next unchanged, or null for the first page"):
        carol.hashtag("cats", "fy.1.2", 5)


def test_card_shows_a_video_only_to_whom_may_see_it(c: LocalCanister) -> None:
    alice, bob = register(c, "alice"), register(c, "bob")
    video = ready_video(c, alice, "hello")
    bob.like(video.id)
    bob.follow(alice.who)
    card = bob.card(video.id)
    assert card.liked_by_me and card.following_creator and card.score == 0
    assert (card.creator.handle, card.creator.name) == ("alice", "Alice")
    assert card.stats.likes == 1 and card.video.caption == "hello"
    assert bob.card(10_000) is None
    processing = upload(c, alice, mp4(300), "not yet")
    assert bob.card(processing.id) is None


def notes(who: As) -> list[tuple[str, int | None, str]]:
    return [(n.kind.value, n.video_id, n.text) for n in who.notifications(None).items]


def test_processing_results_and_mentions_notify_once(c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    video = ready_video(c, alice, "with @Bob and @nobody_here")
    assert notes(alice) == [("processing_done", video.id, "your video is ready")]
    assert notes(bob) == [("mention", video.id, "with @Bob and @nobody_here")]
    alice.edit_caption(video.id, "with @bob and @carol")
    assert len(notes(bob)) == 1  # already told
    assert notes(carol) == [("mention", video.id, "with @bob and @carol")]
    failed = upload(c, alice, mp4(400), "broken")
    As(c, WORKER).worker_reject(failed.id, "no video stream")
    assert notes(alice)[0] == ("processing_failed", failed.id, "no video stream")
    assert every(carol, "creator_videos", alice.who) == [video.id]


def test_the_indexes_survive_an_upgrade_and_a_suspension_empties_a_creators_lists(
        c: LocalCanister) -> None:
    alice, carol = register(c, "alice"), register(c, "carol")
    made = [ready_video(c, alice, f"#kept video {n}").id for n in range(3)]
    carol.follow(alice.who)
    c.upgrade(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None))
    assert every(carol, "hashtag", "kept") == made[::-1]
    assert every(carol, "following_feed") == made[::-1]
    assert [t.tag for t in carol.trending_tags(5)] == ["kept"]
    assert [v.video.id for v in carol.search("video", 10).videos] == made[::-1]
    As(c, MOD).moderate(S.ReportTarget(user=alice.who), S.Decision.remove)
    assert every(carol, "following_feed") == [] and every(carol, "hashtag", "kept") == []
    assert carol.trending_tags(5) == [] and carol.for_you(None, 10).items == []
    As(c, MOD).moderate(S.ReportTarget(user=alice.who), S.Decision.keep)
    assert every(carol, "creator_videos", alice.who) == made[::-1]
