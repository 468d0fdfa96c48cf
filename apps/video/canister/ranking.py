"""The For You score: a pure, auditable formula over plain numbers (no storage, no clock).

Everything below is a function of a video's counters (`Signals`, from the social
stats), its age, and two facts about the viewer (follows the creator, has seen it).
`explain` returns every term, so the page can show "why this video".

    score = engagement × recency × follow × seen

**Engagement** (without time) is a weighted sum of six rates, each Bayesian-smoothed:
a rate is ``(events + PRIOR_VIEWS × prior) / (views + PRIOR_VIEWS)``, i.e. every video
starts as if it had `PRIOR_VIEWS` views behaving like an ordinary video. A new video
is therefore neither 0 nor 1, and a handful of views moves it only a little; a rate is
capped at 1 (replays can make watch time exceed duration × views).

=============  ====================================  =====  ======
term           events per view                       prior  weight
=============  ====================================  =====  ======
watch          watched ms / duration (mean fraction)  0.35   1.0
completion     views watched to the end               0.15   1.0
like           likes                                  0.04   4.0
super_like     super-likes (3 a day per user)         0.002  20.0
comment        comments                               0.01   8.0
share          shares                                 0.005  10.0
=============  ====================================  =====  ======

Watch share and completion are what a viewer *did* (they cannot be faked by one tap),
so they carry a base weight of 1. The explicit signals are rarer, so their weights
are roughly inverse to how often they happen: an ordinary video (every rate at its
prior) gets 0.35 + 0.15 + 0.16 + 0.04 + 0.08 + 0.05 = 0.83, and each signal can lift
it by about as much as watch time can. Super-likes are scarce (3 a day) and costly,
so one counts five likes; a share carries a video to people outside the app.
`popularity` is engagement as an integer (micro-units), the key of the canister's
popularity index; the feed ranks with that stored value (`combine`), so a page reads
no counters, and `explain` recomputes it from the counters (equal to 1e-6).

**Recency** is exponential decay with a half-life of `HALF_LIFE_NS` (36 hours):
``0.5 ** (age / half-life)``; a video from the future (clock skew) counts as new.

**Follow bonus**: × `FOLLOW_BONUS` (1.5) when the viewer follows the creator.

**Seen demotion**: × `SEEN_FACTOR` (0.1) when the viewer has watched the video
before; and `rank_key` puts every seen video after every unseen one (a second tier,
ordered by score), so seen videos come back only when nothing unseen is left.

Properties (tests/test_ranking.py, Hypothesis): more likes, super-likes, comments,
shares, completions or watch time never lower a score; a newer video never scores
lower at equal engagement; following never lowers it; seen is always below the same
video unseen; every score is finite and positive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECOND_NS = 1_000_000_000
HOUR_NS = 3600 * SECOND_NS

PRIOR_VIEWS = 20.0
"""Pseudo-views every video starts with (the smoothing strength)."""
PRIOR_WATCH = 0.35
PRIOR_COMPLETION = 0.15
PRIOR_LIKE = 0.04
PRIOR_SUPER_LIKE = 0.002
PRIOR_COMMENT = 0.01
PRIOR_SHARE = 0.005

W_WATCH = 1.0
W_COMPLETION = 1.0
W_LIKE = 4.0
W_SUPER_LIKE = 20.0
W_COMMENT = 8.0
W_SHARE = 10.0

HALF_LIFE_NS = 36 * HOUR_NS
"""Age at which recency halves the score."""
FOLLOW_BONUS = 1.5
SEEN_FACTOR = 0.1
POPULARITY_SCALE = 1_000_000
"""`popularity` is engagement × this, as an integer."""


@dataclass(frozen=True)
class Signals:
    """A video's counters as the ranking sees them (all totals since upload)."""

    views: int = 0
    watch_ms: int = 0
    duration_ms: int = 0
    completions: int = 0
    likes: int = 0
    super_likes: int = 0
    comments: int = 0
    shares: int = 0


@dataclass
class ScoreTerms:
    """Every term of one score (`explain`): the smoothed rates, the engagement they
    make, and the three factors; ``score`` is their product."""

    watch: float
    completion: float
    like: float
    super_like: float
    comment: float
    share: float
    engagement: float
    recency: float
    follow: float
    seen: float
    score: float


def smoothed(events: float, views: int, prior: float) -> float:
    """``(events + PRIOR_VIEWS × prior) / (views + PRIOR_VIEWS)``, capped at 1."""
    rate = (max(0.0, events) + PRIOR_VIEWS * prior) / (max(0, views) + PRIOR_VIEWS)
    return min(1.0, rate)


def watched_views(s: Signals) -> float:
    """Total watch time in whole-video units (0 when the duration is unknown)."""
    if s.duration_ms <= 0:
        return 0.0
    return s.watch_ms / s.duration_ms


def rates(s: Signals) -> tuple[float, float, float, float, float, float]:
    """The six smoothed rates: watch, completion, like, super-like, comment, share."""
    v = s.views
    return (smoothed(watched_views(s), v, PRIOR_WATCH),
            smoothed(s.completions, v, PRIOR_COMPLETION),
            smoothed(s.likes, v, PRIOR_LIKE),
            smoothed(s.super_likes, v, PRIOR_SUPER_LIKE),
            smoothed(s.comments, v, PRIOR_COMMENT),
            smoothed(s.shares, v, PRIOR_SHARE))


def engagement(s: Signals) -> float:
    """The weighted sum of the smoothed rates (see the module docstring)."""
    watch, completion, like, super_like, comment, share = rates(s)
    return (W_WATCH * watch + W_COMPLETION * completion + W_LIKE * like
            + W_SUPER_LIKE * super_like + W_COMMENT * comment + W_SHARE * share)


def popularity(s: Signals) -> int:
    """`engagement` in micro-units: the integer key of the popularity index."""
    return int(engagement(s) * POPULARITY_SCALE)


def recency(age_ns: int) -> float:
    """``0.5 ** (age / HALF_LIFE_NS)``; a negative age counts as 0."""
    return math.pow(0.5, max(0, age_ns) / HALF_LIFE_NS)


def combine(value: float, age_ns: int, follows: bool, seen: bool) -> float:
    """``value × recency × follow × seen``: the score of a video whose engagement is
    ``value`` (the feed passes the stored `popularity` / `POPULARITY_SCALE`)."""
    return (value * recency(age_ns) * (FOLLOW_BONUS if follows else 1.0)
            * (SEEN_FACTOR if seen else 1.0))


def explain(s: Signals, age_ns: int, follows: bool, seen: bool) -> ScoreTerms:
    """Every term of the score of a video with counters ``s``, ``age_ns`` old, for a
    viewer who ``follows`` its creator (or not) and has ``seen`` it (or not)."""
    watch, completion, like, super_like, comment, share = rates(s)
    value = engagement(s)
    decay = recency(age_ns)
    follow = FOLLOW_BONUS if follows else 1.0
    seen_factor = SEEN_FACTOR if seen else 1.0
    return ScoreTerms(watch, completion, like, super_like, comment, share, value, decay,
                      follow, seen_factor, combine(value, age_ns, follows, seen))


def score(s: Signals, age_ns: int, follows: bool, seen: bool) -> float:
    """``engagement × recency × follow × seen`` (see the module docstring)."""
    return explain(s, age_ns, follows, seen).score


def rank_key(score_value: float, seen: bool, video_id: int) -> tuple[int, float, int]:
    """The order of the For You feed, largest first: unseen before seen, then the
    score, then the newer id (ids grow with time)."""
    return (0 if seen else 1, score_value, video_id)
