"""The For You feed in plain CPython, on videos made through the real upload and worker
methods: ranked by the formula with each card's score, seen videos after unseen ones,
blocked creators, hidden and unfinished videos never shown, and session paging that
never repeats or skips a video even while scores change between pages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from icframework.sdk import LocalCanister, Reject

from .world import ANON, APP, MOD, As, fresh, mp4, ready_video, records, upload, user

S = APP.social_records


def register(c: LocalCanister, handle: str) -> As:
    who = As(c, user(handle))
    who.register(handle, handle.title())
    return who


@pytest.fixture
def c() -> LocalCanister:
    return fresh()


def session(who: As, limit: int = 30) -> list[Any]:
    """Every card of one For You session, paging to its end."""
    cards, cursor = [], None
    while True:
        page = who.for_you(cursor, limit)
        cards += page.items
        cursor = page.next
        if cursor is None:
            return cards


def ids(cards: list[Any]) -> list[int]:
    return [card.video.id for card in cards]


def test_the_feed_ranks_by_the_formula_and_shows_each_score(c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    plain = ready_video(c, alice, "plain")
    loved = ready_video(c, alice, "loved")
    for fan in (bob, register(c, "dave"), register(c, "erin")):
        fan.like(loved.id)
    cards = session(carol)
    assert ids(cards) == [loved.id, plain.id]
    scores = [card.score for card in cards]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    # the card's score is what explain_score gives for it, term by term
    why = carol.explain_score(loved.id)
    assert why.score == pytest.approx(cards[0].score, rel=1e-3)
    assert why.like > why.watch * 0 and why.follow == 1.0 and why.seen == 1.0
    assert cards[0].stats.likes == 3 and not cards[0].liked_by_me
    assert cards[0].creator.handle == "alice"


def test_following_the_creator_multiplies_the_score(c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    by_alice = ready_video(c, alice, "by alice")
    by_bob = ready_video(c, bob, "by bob")
    before = {card.video.id: card.score for card in session(carol)}
    carol.follow(alice.who)
    after = {card.video.id: card for card in session(carol)}
    assert after[by_alice.id].following_creator and not after[by_bob.id].following_creator
    assert after[by_alice.id].score > 1.4 * before[by_alice.id]
    assert carol.explain_score(by_alice.id).follow == 1.5
    assert ids(session(carol))[0] == by_alice.id


def test_seen_videos_sink_below_every_unseen_one_but_come_back_when_nothing_else_is_left(
        c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    videos = [ready_video(c, alice, f"clip {n}") for n in range(4)]
    star = videos[0]
    for fan in (bob, register(c, "dave"), register(c, "erin")):
        fan.like(star.id)
        fan.share(star.id)
    assert ids(session(carol))[0] == star.id
    carol.record_view(star.id, 15_000)
    carol.record_view(videos[2].id, 3_000)
    order = ids(session(carol))
    assert set(order[:2]) == {videos[1].id, videos[3].id}
    assert order[2:] == [star.id, videos[2].id]  # seen, still ranked by score
    seen = session(carol)[2]
    assert seen.score == pytest.approx(carol.explain_score(star.id).score, rel=1e-3)
    assert carol.explain_score(star.id).seen == 0.1
    # someone who has seen everything still gets a feed
    for v in videos:
        bob.record_view(v.id, 15_000)
    assert sorted(ids(session(bob))) == sorted(v.id for v in videos)


def test_blocked_creators_never_appear_whoever_blocked(c: LocalCanister) -> None:
    alice, bob, carol = (register(c, n) for n in ("alice", "bob", "carol"))
    mine = ready_video(c, alice, "alice's")
    theirs = ready_video(c, bob, "bob's")
    carol.follow(bob.who)
    carol.block(alice.who)
    assert ids(session(carol)) == [theirs.id]
    bob.block(carol.who)  # the other direction hides bob's too
    assert ids(session(carol)) == []
    assert carol.card(mine.id) is None and carol.card(theirs.id) is None
    assert carol.explain_score(theirs.id) is None
    assert sorted(ids(session(As(c, ANON)))) == [mine.id, theirs.id]


def test_hidden_and_unfinished_videos_never_appear(c: LocalCanister) -> None:
    alice, carol = register(c, "alice"), register(c, "carol")
    shown = ready_video(c, alice, "fine")
    reported = ready_video(c, alice, "reported")
    unfinished = upload(c, alice, mp4(200), "processing")
    assert unfinished.status == records.VideoStatus.processing
    assert sorted(ids(session(carol))) == [shown.id, reported.id]
    for name in ("reporter1", "reporter2", "reporter3"):
        register(c, name).report(S.ReportTarget(video=reported.id), "spam")
    assert ids(session(carol)) == [shown.id]
    assert carol.card(reported.id) is None
    As(c, MOD).moderate(S.ReportTarget(video=reported.id), S.Decision.keep)
    assert sorted(ids(session(carol))) == [shown.id, reported.id]
    As(c, MOD).moderate(S.ReportTarget(video=reported.id), S.Decision.remove)
    assert ids(session(carol)) == [shown.id]
    alice.delete_video(shown.id)
    assert ids(session(carol)) == []


def test_paging_never_repeats_or_skips_while_scores_change(c: LocalCanister) -> None:
    creators = [register(c, f"maker{n}") for n in range(3)]
    fans = [register(c, f"fan{n}") for n in range(3)]
    carol = register(c, "carol")
    made = [ready_video(c, creators[n % 3], f"video {n}").id for n in range(17)]
    got: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = carol.for_you(cursor, 4)
        got += ids(page.items)
        pages += 1
        # between pages, the videos not shown yet gain likes (their scores rise above
        # the page just shown) and one shown video is liked, too
        rest = [v for v in made if v not in got]
        for fan, video_id in zip(fans, rest[-3:], strict=False):
            fan.like(video_id)
        if page.items:
            fans[0].share(page.items[0].video.id)
        cursor = page.next
        if cursor is None:
            break
    assert len(got) == len(set(got))
    assert sorted(got) == sorted(made)
    assert pages == 5


def test_a_session_keeps_its_time_new_videos_wait_for_the_next_one(c: LocalCanister) -> None:
    alice, carol = register(c, "alice"), register(c, "carol")
    old = [ready_video(c, alice, f"old {n}").id for n in range(3)]
    first = carol.for_you(None, 2)
    late = ready_video(c, alice, "late").id
    rest = carol.for_you(first.next, 10)
    assert sorted(ids(first.items) + ids(rest.items)) == sorted(old)
    assert rest.next is None
    assert late in ids(session(carol))


def test_a_cursor_that_is_not_one_is_refused_with_the_fix(c: LocalCanister) -> None:
    carol = register(c, "carol")
    for bad in ("fy.12", "fy.x.AA", "ht.1.2", "fy.1.!!", "fy.99999999999999999999.",
                "fy.1.gICAgICAgICAgIAB", "fy.1.gA"):
        with pytest.raises(Reject, match="is not a For You cursor: pass the previous "
                                         "page's next unchanged, or null"):
            carol.for_you(bad, 5)


@given(st.sets(st.integers(0, 2**64 - 1), max_size=60), st.integers(0, 2**63))
def test_the_session_cursor_round_trips_any_set_of_ids(shown: set[int], at: int) -> None:
    cursor = APP.feeds.encode_session(at, shown)
    assert cursor.isascii() and len(cursor) < 30 + 14 * len(shown)
    assert APP.feeds.decode_session(cursor) == (at, shown)


PEOPLE = ["alice", "bob", "carol", "dave"]
act = st.one_of(
    st.tuples(st.just("post"), st.sampled_from(PEOPLE)),
    st.tuples(st.just("block"), st.sampled_from(PEOPLE), st.sampled_from(PEOPLE)),
    st.tuples(st.just("unblock"), st.sampled_from(PEOPLE), st.sampled_from(PEOPLE)),
    st.tuples(st.just("follow"), st.sampled_from(PEOPLE), st.sampled_from(PEOPLE)),
    st.tuples(st.just("like"), st.sampled_from(PEOPLE), st.integers(0, 20)),
    st.tuples(st.just("view"), st.sampled_from(PEOPLE), st.integers(0, 20)),
    st.tuples(st.just("delete"), st.integers(0, 20)),
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(act, min_size=3, max_size=25))
def test_a_session_holds_exactly_the_shown_videos_of_unblocked_creators_once(
        acts: list[Any]) -> None:
    c = fresh()
    who = {name: register(c, name) for name in PEOPLE}
    blocked: set[tuple[str, str]] = set()
    videos: list[tuple[int, str]] = []
    for a in acts:
        try:
            if a[0] == "post":
                videos.append((ready_video(c, who[a[1]], f"by {a[1]}").id, a[1]))
            elif a[0] in ("block", "unblock", "follow") and a[1] != a[2]:
                getattr(who[a[1]], a[0])(who[a[2]].who)
                if a[0] == "block":
                    blocked.add((a[1], a[2]))
                elif a[0] == "unblock":
                    blocked.discard((a[1], a[2]))
            elif a[0] in ("like", "view", "delete") and videos:
                video_id, maker = videos[a[-1] % len(videos)]
                if a[0] == "like":
                    who[a[1]].like(video_id)
                elif a[0] == "view":
                    who[a[1]].record_view(video_id, 7_000)
                else:
                    who[maker].delete_video(video_id)
                    videos.remove((video_id, maker))
        except Reject:
            pass  # e.g. a like across a block: refused, nothing changes
    for name in PEOPLE:
        got = ids(session(who[name], 3))
        assert len(got) == len(set(got))
        assert sorted(got) == sorted(
            v for v, maker in videos
            if (name, maker) not in blocked and (maker, name) not in blocked)
        tiers = [card.video.id in {v for v, _m in videos} for card in session(who[name])]
        assert all(tiers)


def test_candidates_come_from_the_newest_the_popular_and_the_followed_only(
        c: LocalCanister) -> None:
    limits = APP.limits
    makers = [register(c, f"maker{n}") for n in range(8)]  # under the upload rate limit
    friend, carol = register(c, "friend"), register(c, "carol")
    fans = [register(c, f"fan{n}") for n in range(3)]

    def made(n: int) -> int:
        return int(ready_video(c, makers[n % len(makers)], f"video {n}").id)

    popular_old = made(0)
    friends_old = ready_video(c, friend, "old, by a friend").id
    plain_old = [made(n) for n in range(limits.POPULAR_PER_DAY + 3)]
    for fan in fans:
        fan.like(popular_old)
    for n, video_id in enumerate(plain_old[:limits.POPULAR_PER_DAY - 1]):
        fans[n % 3].like(video_id)  # the day's top: these and popular_old
    newest = [made(n) for n in range(limits.NEWEST_POOL)]
    carol.follow(friend.who)
    got = set(ids(session(carol)))
    assert set(newest) <= got  # the newest pool
    assert popular_old in got  # its day's popularity bucket
    assert friends_old in got  # a followed creator's newest
    assert not set(plain_old[limits.POPULAR_PER_DAY:]) & got  # in no pool
    assert len(got) == limits.NEWEST_POOL + limits.POPULAR_PER_DAY + 1
