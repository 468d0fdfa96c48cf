"""The For You formula (canister/ranking.py) as pure functions, with Hypothesis: more of
any engagement never lowers a score, newer never scores lower at equal engagement,
following never lowers it, seen is always below the same unseen (and after every unseen
video in the feed's order), smoothing keeps a new video away from 0 and 1, and
`explain`'s terms multiply to the score."""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "canister" / "ranking.py"
    spec = importlib.util.spec_from_file_location("video_ranking_under_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


ranking = _load()
Signals = ranking.Signals
DAY = 24 * ranking.HOUR_NS

counts = st.integers(min_value=0, max_value=10_000_000)
ages = st.integers(min_value=-DAY, max_value=400 * DAY)


@st.composite
def signals(draw: st.DrawFn) -> Any:
    views = draw(counts)
    return Signals(views=views, watch_ms=draw(st.integers(0, 10**12)),
                   duration_ms=draw(st.integers(0, 600_000)),
                   completions=draw(counts), likes=draw(counts),
                   super_likes=draw(counts), comments=draw(counts), shares=draw(counts))


FIELDS = ["watch_ms", "completions", "likes", "super_likes", "comments", "shares"]


@given(signals(), st.sampled_from(FIELDS), st.integers(1, 10**9), ages, st.booleans(),
       st.booleans())
def test_more_of_any_engagement_never_lowers_the_score(
        s: Any, field: str, more: int, age: int, follows: bool, seen: bool) -> None:
    richer = replace(s, **{field: getattr(s, field) + more})
    assert ranking.score(richer, age, follows, seen) >= ranking.score(s, age, follows, seen)
    assert ranking.popularity(richer) >= ranking.popularity(s)


@given(signals(), st.integers(0, 10_000), st.integers(0, 10_000))
def test_one_more_like_strictly_raises_engagement_while_likes_are_at_most_views(
        s: Any, likes: int, views: int) -> None:
    base = replace(s, likes=min(likes, views), views=views)
    more = replace(base, likes=base.likes + 1)
    assert ranking.engagement(more) > ranking.engagement(base)


@given(signals(), ages, ages, st.booleans(), st.booleans())
def test_newer_never_scores_lower_at_equal_engagement(
        s: Any, a: int, b: int, follows: bool, seen: bool) -> None:
    newer, older = min(a, b), max(a, b)
    assert ranking.score(s, newer, follows, seen) >= ranking.score(s, older, follows, seen)


@given(signals(), ages, st.booleans())
def test_following_never_lowers_and_seen_is_always_below_the_same_unseen(
        s: Any, age: int, follows: bool) -> None:
    assert ranking.score(s, age, True, False) >= ranking.score(s, age, False, False)
    unseen = ranking.score(s, age, follows, False)
    seen = ranking.score(s, age, follows, True)
    assert seen <= unseen
    if unseen > 0:
        assert seen < unseen


@given(signals(), signals(), ages, ages, st.booleans(), st.booleans(),
       st.integers(0, 10**6), st.integers(0, 10**6))
def test_every_seen_video_ranks_after_every_unseen_one(
        s1: Any, s2: Any, age1: int, age2: int, f1: bool, f2: bool,
        id1: int, id2: int) -> None:
    seen = ranking.rank_key(ranking.score(s1, age1, f1, True), True, id1)
    unseen = ranking.rank_key(ranking.score(s2, age2, f2, False), False, id2)
    assert unseen > seen


@given(signals(), ages, st.booleans(), st.booleans())
def test_scores_are_finite_non_negative_and_explain_multiplies_to_the_score(
        s: Any, age: int, follows: bool, seen: bool) -> None:
    terms = ranking.explain(s, age, follows, seen)
    assert math.isfinite(terms.score) and terms.score >= 0
    assert terms.score == terms.engagement * terms.recency * terms.follow * terms.seen
    rates = [terms.watch, terms.completion, terms.like, terms.super_like, terms.comment,
             terms.share]
    assert all(0 < r <= 1 for r in rates)
    assert math.isclose(terms.engagement, ranking.engagement(s))
    assert terms.follow == (ranking.FOLLOW_BONUS if follows else 1.0)
    assert terms.seen == (ranking.SEEN_FACTOR if seen else 1.0)


def test_a_new_video_scores_as_an_ordinary_one_neither_zero_nor_one() -> None:
    fresh = ranking.explain(Signals(duration_ms=15_000), 0, False, False)
    assert (fresh.watch, fresh.completion, fresh.like) == (
        ranking.PRIOR_WATCH, ranking.PRIOR_COMPLETION, ranking.PRIOR_LIKE)
    assert math.isclose(fresh.engagement, 0.83)
    # one view with a like moves the like rate only a little (smoothing), not to 1
    liked_once = ranking.explain(Signals(views=1, likes=1, duration_ms=15_000), 0, False,
                                 False)
    assert math.isclose(liked_once.like, (1 + 20 * 0.04) / 21)
    assert liked_once.like < 0.1


def test_recency_halves_every_half_life_and_the_follow_bonus_multiplies() -> None:
    s = Signals(views=100, watch_ms=900_000, duration_ms=10_000, likes=10)
    now = ranking.score(s, 0, False, False)
    assert math.isclose(ranking.score(s, ranking.HALF_LIFE_NS, False, False), now / 2)
    assert math.isclose(ranking.score(s, 2 * ranking.HALF_LIFE_NS, False, False), now / 4)
    assert math.isclose(ranking.score(s, 0, True, False), now * 1.5)
    assert ranking.score(s, -DAY, False, False) == now  # from the future: counts as new


def test_watch_share_is_the_mean_watched_fraction_capped_at_one() -> None:
    # 100 views of a 10 s video, 900 s watched in all: 90 % on average
    s = Signals(views=100, watch_ms=900_000, duration_ms=10_000)
    assert math.isclose(ranking.explain(s, 0, False, False).watch,
                        (90 + 20 * 0.35) / 120)
    replays = Signals(views=10, watch_ms=10**9, duration_ms=10_000)
    assert ranking.explain(replays, 0, False, False).watch == 1.0
    unknown = Signals(views=10, watch_ms=5_000, duration_ms=0)
    assert math.isclose(ranking.explain(unknown, 0, False, False).watch, 20 * 0.35 / 30)
