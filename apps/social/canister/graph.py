"""The graph: connection requests, connections, one-way follows, blocks and degrees.

A connection is mutual and stored both ways (``connections[(a, b)]`` and ``[(b, a)]``),
so each user's list is one range scan. A request goes ``send_request`` →
``accept_request`` / ``decline_request`` / ``withdraw_request``; two crossing requests
connect at once. A block removes every edge between the two (connection, requests,
follows both ways, endorsements) and from then on each is hidden from the other:
profiles, search, suggestions and lists leave them out, and neither can request,
follow or endorse the other. `degree` is 0 for oneself, 1 for a connection, 2 when
some connection is shared (at most `limits.MAX_DEGREE_SCAN` connections examined) and
3 for anything farther ("3rd+").
"""

from __future__ import annotations

from typing import Any

from icframework.sdk import Principal, Reject, StableBTreeMap, ic, nat8, nat32, query, update

from . import limits, notifications, profiles, ratelimit, safety, trust
from .records import ConnectionRequest, PersonCard, PersonPage
from .store import (
    MAX_PRINCIPAL,
    MIN_PRINCIPAL,
    PendingRequest,
    blocks,
    bump,
    counts_of,
    followers,
    follows,
    requests,
    requests_in,
)
from .store import (
    connections as edges,
)
from .text import bounded

# -- the contract ---------------------------------------------------------------------------

Pairs = StableBTreeMap[tuple[Principal, Principal], Any]


def _scan(table: Pairs, user: Principal, limit: int = 0) -> list[Principal]:
    """The second principals of ``table``'s pairs that start with ``user``, in order."""
    return [other for (_, other), _ in table.range(
        (user, MIN_PRINCIPAL), (user, MAX_PRINCIPAL), limit=limit)]


def connections(p: Principal) -> list[Principal]:
    """``p``'s 1st-degree connections, in principal order."""
    return _scan(edges, p)


def following(p: Principal) -> list[Principal]:
    """The people ``p`` follows (one-way), in principal order."""
    return _scan(follows, p)


def is_blocked(a: Principal, b: Principal) -> bool:
    """Whether ``a`` blocked ``b`` or ``b`` blocked ``a``."""
    return (a, b) in blocks or (b, a) in blocks


def is_connected(a: Principal, b: Principal) -> bool:
    return (a, b) in edges


def is_following(a: Principal, b: Principal) -> bool:
    return (a, b) in follows


def request_pending(sender: Principal, recipient: Principal) -> bool:
    return (sender, recipient) in requests


def _smaller_side(a: Principal, b: Principal) -> tuple[Principal, Principal]:
    return (a, b) if counts_of(a).connections <= counts_of(b).connections else (b, a)


def mutual_count(a: Principal, b: Principal) -> int:
    """Connections ``a`` and ``b`` share (counted over the smaller side's first
    `limits.MAX_DEGREE_SCAN` connections)."""
    small, large = _smaller_side(a, b)
    return sum(1 for c in _scan(edges, small, limits.MAX_DEGREE_SCAN) if (c, large) in edges)


def degree(viewer: Principal, p: Principal) -> int:
    """0 if ``viewer`` is ``p``, 1 for a connection, 2 if they share one, else 3 (3rd+)."""
    if viewer == p:
        return 0
    if viewer.is_anonymous or p.is_anonymous or is_blocked(viewer, p):
        return 3
    if (viewer, p) in edges:
        return 1
    small, large = _smaller_side(viewer, p)
    for c in _scan(edges, small, limits.MAX_DEGREE_SCAN):
        if (c, large) in edges:
            return 2
    return 3


# -- edges ----------------------------------------------------------------------------------

def _connect(a: Principal, b: Principal) -> None:
    now = ic.time()
    _drop_request(a, b)
    _drop_request(b, a)
    if (a, b) in edges:
        return
    if counts_of(a).connections >= limits.MAX_CONNECTIONS or \
            counts_of(b).connections >= limits.MAX_CONNECTIONS:
        raise Reject(f"a user has at most {limits.MAX_CONNECTIONS} connections: "
                     "remove some first")
    edges[(a, b)] = now
    edges[(b, a)] = now
    bump(a, connections=1)
    bump(b, connections=1)


def _disconnect(a: Principal, b: Principal) -> bool:
    if edges.remove((a, b)) is None:
        return False
    edges.remove((b, a))
    bump(a, connections=-1)
    bump(b, connections=-1)
    trust.drop_between(a, b)
    return True


def _drop_request(sender: Principal, recipient: Principal) -> bool:
    if requests.remove((sender, recipient)) is None:
        return False
    requests_in.remove((recipient, sender))
    bump(sender, pending_out=-1)
    return True


def _unfollow(a: Principal, b: Principal) -> bool:
    if follows.remove((a, b)) is None:
        return False
    followers.remove((b, a))
    bump(a, following=-1)
    bump(b, followers=-1)
    return True


def _other(user: Principal, me: Principal) -> None:
    """`Reject` unless ``user`` is someone else with a profile."""
    if user == me:
        raise Reject("that is your own profile: pick someone else")
    profiles.require_profile(user)


# -- requests -------------------------------------------------------------------------------

@update
def send_request(user: Principal, note: str) -> bool:
    """Ask ``user`` to connect, with an optional note (≤ 300 characters). Returns true
    if this connected at once (``user`` had already asked the caller)."""
    me = ic.caller()
    profiles.require_user(me)
    _other(user, me)
    ratelimit.check(me, "request")
    text = bounded("a request's note", note, limits.MAX_NOTE_CHARS, one_line=False)
    if (me, user) in edges:
        raise Reject(f"you are already connected to {profiles.handle_of(user)}")
    if (user, me) in requests:
        _connect(me, user)
        notifications.notify(user, "accepted", me, "accepted your request", f"profile:{me}")
        return True
    refusal = safety.request_refusal(me, user)
    if refusal is not None:
        raise Reject(refusal)
    if (me, user) in requests:
        raise Reject(f"your request to @{profiles.handle_of(user)} is already waiting: "
                     "withdraw_request cancels it")
    if counts_of(me).pending_out >= limits.MAX_PENDING_REQUESTS:
        raise Reject(f"you have {limits.MAX_PENDING_REQUESTS} requests waiting: withdraw "
                     "some before sending more")
    now = ic.time()
    requests[(me, user)] = PendingRequest(text, now)
    requests_in[(user, me)] = now
    bump(me, pending_out=1)
    notifications.notify(user, "request", me, text or "wants to connect", f"profile:{me}")
    return False


@update
def accept_request(user: Principal) -> None:
    """Accept ``user``'s request: you are connected."""
    me = ic.caller()
    profiles.require_user(me)
    ratelimit.check(me, "graph")
    if (user, me) not in requests:
        raise Reject(f"no request from {user} is waiting for you: see incoming_requests")
    _connect(me, user)
    notifications.notify(user, "accepted", me, "accepted your request", f"profile:{me}")


@update
def decline_request(user: Principal) -> None:
    """Decline ``user``'s request (they are not told)."""
    me = ic.caller()
    profiles.require_user(me)
    if not _drop_request(user, me):
        raise Reject(f"no request from {user} is waiting for you: see incoming_requests")


@update
def withdraw_request(user: Principal) -> None:
    """Cancel the caller's request to ``user``."""
    me = ic.caller()
    profiles.require_user(me)
    if not _drop_request(me, user):
        raise Reject(f"you have no request waiting at {user}: see outgoing_requests")


@update
def remove_connection(user: Principal) -> None:
    """End the connection with ``user`` (both sides; endorsements between you go too)."""
    me = ic.caller()
    profiles.require_user(me)
    ratelimit.check(me, "graph")
    if not _disconnect(me, user):
        raise Reject(f"you are not connected to {user}")


def _request_cards(pairs: list[tuple[Principal, PendingRequest]], me: Principal
                   ) -> list[ConnectionRequest]:
    out = []
    for other, pending in pairs:
        profile = profiles.get_profile(other)
        if profile is not None:
            out.append(ConnectionRequest(profiles.card(profile, me), pending.note,
                                         pending.sent_at))
    return out


@query
def incoming_requests() -> list[ConnectionRequest]:
    """Requests waiting for the caller's answer, newest first."""
    me = ic.caller()
    profiles.require_user(me)
    pairs = [(other, requests[(other, me)]) for other in _scan(requests_in, me)]
    pairs.sort(key=lambda pair: -pair[1].sent_at)
    return _request_cards(pairs, me)


@query
def outgoing_requests() -> list[ConnectionRequest]:
    """The caller's requests still waiting, newest first."""
    me = ic.caller()
    profiles.require_user(me)
    pairs = [(other, requests[(me, other)]) for other in _scan(requests, me)]
    pairs.sort(key=lambda pair: -pair[1].sent_at)
    return _request_cards(pairs, me)


# -- follows --------------------------------------------------------------------------------

@update
def follow(user: Principal) -> None:
    """Follow ``user``'s public activity (one-way; no consent needed)."""
    me = ic.caller()
    profiles.require_user(me)
    _other(user, me)
    ratelimit.check(me, "graph")
    if is_blocked(me, user):
        raise Reject(f"you cannot follow {user}: one of you blocked the other")
    if (me, user) in follows:
        return
    if counts_of(me).following >= limits.MAX_FOLLOWING:
        raise Reject(f"you follow {limits.MAX_FOLLOWING} people already: unfollow some first")
    now = ic.time()
    follows[(me, user)] = now
    followers[(user, me)] = now
    bump(me, following=1)
    bump(user, followers=1)


@update
def unfollow(user: Principal) -> None:
    me = ic.caller()
    profiles.require_user(me)
    _unfollow(me, user)


# -- blocks ---------------------------------------------------------------------------------

@update
def block(user: Principal) -> None:
    """Block ``user``: every edge between you goes, and each is hidden from the other."""
    me = ic.caller()
    profiles.require_user(me)
    if user == me:
        raise Reject("you cannot block yourself")
    if user.is_anonymous:
        raise Reject("the anonymous principal cannot be blocked: it has no profile")
    ratelimit.check(me, "graph")
    _disconnect(me, user)
    _drop_request(me, user)
    _drop_request(user, me)
    _unfollow(me, user)
    _unfollow(user, me)
    trust.drop_between(me, user)
    blocks[(me, user)] = ic.time()


@update
def unblock(user: Principal) -> None:
    me = ic.caller()
    profiles.require_user(me)
    if blocks.remove((me, user)) is None:
        raise Reject(f"you have not blocked {user}")


@query
def blocked() -> list[PersonCard]:
    """The people the caller blocked."""
    me = ic.caller()
    profiles.require_user(me)
    return [profiles.card_of(user, me) for user in _scan(blocks, me)]


# -- lists ----------------------------------------------------------------------------------

def _page(table: Pairs, user: Principal, viewer: Principal, cursor: str | None,
          limit: int) -> PersonPage:
    n = max(1, min(limit, limits.MAX_PAGE))
    start = (user, MIN_PRINCIPAL)
    if cursor:
        try:
            start = (user, Principal.from_text(cursor))
        except ValueError:
            raise Reject(f"bad cursor {cursor[:60]!r}: pass back the page's next") from None
    rows = table.range(start, (user, MAX_PRINCIPAL), limit=n + 1)
    found = [other for (_, other), _ in rows]
    more = found[n] if len(found) > n else None
    cards = []
    for other in found[:n]:
        profile = profiles.visible_to(other, viewer)
        if profile is not None:
            cards.append(profiles.card(profile, viewer))
    return PersonPage(cards, None if more is None else more.to_text())


def _visible_owner(user: Principal, viewer: Principal, section: str) -> None:
    if profiles.visible_to(user, viewer) is None:
        raise Reject(f"no profile {user} for you: it does not exist or a block hides it")
    if not safety.can_see_section(viewer, user, section):
        raise Reject(f"@{profiles.handle_of(user)} shows {section} to connections only")


@query
def connections_of(user: Principal, cursor: str | None, limit: nat32) -> PersonPage:
    """``user``'s connections in pages (when their visibility lets the caller see them)."""
    viewer = ic.caller()
    _visible_owner(user, viewer, "connections")
    return _page(edges, user, viewer, cursor, limit)


@query
def followers_of(user: Principal, cursor: str | None, limit: nat32) -> PersonPage:
    viewer = ic.caller()
    _visible_owner(user, viewer, "connections")
    return _page(followers, user, viewer, cursor, limit)


@query
def following_of(user: Principal, cursor: str | None, limit: nat32) -> PersonPage:
    viewer = ic.caller()
    _visible_owner(user, viewer, "connections")
    return _page(follows, user, viewer, cursor, limit)


@query
def degree_of(user: Principal) -> nat8:
    """The caller's degree to ``user``: 0 self, 1, 2, or 3 meaning 3rd+."""
    return degree(ic.caller(), user)
