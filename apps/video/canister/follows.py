"""The follow graph and blocks: follow, unfollow, followers and following in pages, block.

A follow is one-way and needs no consent; it is stored both ways (``follows[(a, b)]``
and ``followers[(b, a)]``) so each list is one range scan, and counted in both users'
`Counts`. A block (``blocks[(a, b)]``: a blocked b) removes the follows between the two
both ways; from then on neither can follow the other, like, super-like, comment on or
tip the other's videos, and the feeds and comment lists leave each out for the other
(`is_blocked_either`, which the feed reads too).
"""

from __future__ import annotations

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat64, query, update

from . import limits, notifications, profiles, ratelimit
from .social_records import PeoplePage, ProfileCard
from .social_store import (
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    PP,
    blocks,
    bump,
    counts_of,
    followers,
    follows,
)

_Pairs = StableBTreeMap[PP, nat64]

# -- the contract ---------------------------------------------------------------------------


def is_following(a: Principal, b: Principal) -> bool:
    """Whether ``a`` follows ``b``."""
    return (a, b) in follows


def following_of(user: Principal, limit: int = limits.MAX_FOLLOWING) -> list[Principal]:
    """The people ``user`` follows, in principal order, at most ``limit`` (and never more
    than `limits.MAX_FOLLOWING`, which is also the most one may follow)."""
    n = max(0, min(limit, limits.MAX_FOLLOWING))
    if n == 0:
        return []
    return [other for (_, other), _ in follows.range(
        (user, MIN_PRINCIPAL), (user, MAX_PRINCIPAL), limit=n)]


def is_blocked_either(a: Principal, b: Principal) -> bool:
    """Whether ``a`` blocked ``b`` or ``b`` blocked ``a``."""
    return (a, b) in blocks or (b, a) in blocks


def refuse_if_blocked(me: Principal, other: Principal, what: str) -> None:
    """`Reject` saying ``me`` cannot ``what`` when a block stands between them."""
    if (other, me) in blocks:
        raise Reject(f"you cannot {what}: one of you blocked the other")
    if (me, other) in blocks:
        raise Reject(f"you cannot {what}: you blocked @{profiles.handle_of(other)}; "
                     "unblock them first")


# -- edges ----------------------------------------------------------------------------------


def _unfollow(a: Principal, b: Principal) -> bool:
    if follows.remove((a, b)) is None:
        return False
    followers.remove((b, a))
    bump(a, following=-1)
    bump(b, followers=-1)
    return True


def _other(user: Principal, me: Principal) -> None:
    if user == me:
        raise Reject("that is your own profile: pick someone else")
    profiles.require_profile(user)


@update
def follow(user: Principal) -> None:
    """Follow ``user`` (one-way; following again changes nothing)."""
    me = ic.caller()
    profiles.require_user(me)
    _other(user, me)
    refuse_if_blocked(me, user, f"follow {user}")
    if (me, user) in follows:
        return
    ratelimit.check(me, "follow")
    if counts_of(me).following >= limits.MAX_FOLLOWING:
        raise Reject(f"you follow {limits.MAX_FOLLOWING} people already: unfollow some first")
    now = ic.time()
    follows[(me, user)] = now
    followers[(user, me)] = now
    bump(me, following=1)
    bump(user, followers=1)
    notifications.notify(user, "follow", me, None, "started following you")


@update
def unfollow(user: Principal) -> None:
    """Stop following ``user`` (not following is fine)."""
    me = ic.caller()
    profiles.require_user(me)
    if (me, user) in follows:
        ratelimit.check(me, "follow")
        _unfollow(me, user)


@update
def block(user: Principal) -> None:
    """Block ``user``: the follows between you go both ways and each is hidden from the
    other (blocking again changes nothing)."""
    me = ic.caller()
    profiles.require_user(me)
    if user == me:
        raise Reject("you cannot block yourself")
    if user.is_anonymous:
        raise Reject("the anonymous principal cannot be blocked: it has no profile")
    if (me, user) in blocks:
        return
    ratelimit.check(me, "follow")
    _unfollow(me, user)
    _unfollow(user, me)
    blocks[(me, user)] = ic.time()


@update
def unblock(user: Principal) -> None:
    me = ic.caller()
    profiles.require_user(me)
    if (me, user) not in blocks:
        raise Reject(f"you have not blocked {user}: nothing to undo")
    ratelimit.check(me, "follow")
    blocks.remove((me, user))


@query
def blocked() -> list[ProfileCard]:
    """The people the caller blocked (at most `limits.MAX_FOLLOWING`)."""
    me = ic.caller()
    rows = blocks.range((me, MIN_PRINCIPAL), (me, MAX_PRINCIPAL), limit=limits.MAX_FOLLOWING)
    return [profiles.card_of(other) for (_, other), _ in rows]


# -- lists ----------------------------------------------------------------------------------


def _page(table: _Pairs, user: Principal, cursor: str | None) -> PeoplePage:
    viewer = ic.caller()
    if profiles.visible_to(user, viewer) is None:
        raise Reject(f"no profile {user} for you: it does not exist or is hidden")
    start = (user, MIN_PRINCIPAL)
    if cursor is not None:
        try:
            start = (user, Principal.from_text(cursor))
        except ValueError:
            raise Reject(f"bad cursor {cursor[:60]!r}: pass back the page's next, or null "
                         "for the first page") from None
    n = limits.PAGE_SIZE
    rows = list(table.range(start, (user, MAX_PRINCIPAL), limit=n + 1))
    items = []
    for (_, other), _since in rows[:n]:
        found = profiles.visible_to(other, viewer)
        if found is not None:
            items.append(profiles.view(found, viewer))
    more = rows[n][0][1].to_text() if len(rows) > n else None
    return PeoplePage(items, more)


@query(name="followers")
def followers_page(user: Principal, cursor: str | None) -> PeoplePage:
    """Who follows ``user``, `limits.PAGE_SIZE` per page (principal order)."""
    return _page(followers, user, cursor)


@query(name="following")
def following_page(user: Principal, cursor: str | None) -> PeoplePage:
    """Whom ``user`` follows, `limits.PAGE_SIZE` per page (principal order)."""
    return _page(follows, user, cursor)
