"""The built video canister's feed on an in-process replica: the same code the CPython
tests run, compiled to WebAssembly — For You with its session cursor and scores, the
Following feed, a hashtag page, search, trending tags, a card and ``explain_score``
(the module comes from the app build cache under ``.build/apps``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from icframework.core import Principal
from icframework.replica import CanisterError, Replica
from icframework.sdk import Canister
from icframework.sdk.dispatch import encode_args

from .replica_site import Clock, VideoSite, built, python_runtime
from .world import APP, APP_DIR, MOD, WORKER, records, user

OWNER = Principal.self_authenticating(b"video feed replica test owner")
ALICE, BOB, CAROL = (user(n) for n in ("alice", "bob", "carol"))


@pytest.fixture(scope="module")
def site() -> Iterator[VideoSite]:
    clock = Clock()
    with python_runtime(), Replica.open(None, clock=clock) as replica:
        canister = replica.create_canister(sender=OWNER)
        init = Canister(APP.__name__).hooks["init"]
        replica.install_code(canister, built(APP_DIR), sender=OWNER, arg=encode_args(
            init, (records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None),)))
        s = VideoSite(replica, clock, canister)
        for handle, who in (("alice", ALICE), ("bob", BOB), ("carol", CAROL)):
            s.call(who, "register", handle, handle.title())
        yield s


def test_the_feeds_search_and_trending_on_the_replica(site: VideoSite) -> None:
    made = [site.ready_video(ALICE if n % 2 else BOB, f"wasm clip {n} #replica #n{n % 2}",
                             size=2000, duration_ms=12_000) for n in range(5)]
    for fan in (BOB, CAROL):
        site.call(fan, "like", made[1].id)
    site.call(CAROL, "follow", ALICE)
    site.call(CAROL, "record_view", made[4].id, 12_000)
    # For You: a session of pages, each video once, the seen one last
    got: list[Any] = []
    cursor = None
    while True:
        page = site.call(CAROL, "for_you", cursor, 2)
        got += page.items
        cursor = page.next
        if cursor is None:
            break
    order = [card.video.id for card in got]
    assert sorted(order) == sorted(v.id for v in made) and order[-1] == made[4].id
    assert order[0] == made[1].id  # liked twice, and carol follows its creator
    assert all(card.score > 0 for card in got)
    why = site.call(CAROL, "explain_score", made[1].id)
    assert why.follow == 1.5 and why.score == pytest.approx(got[0].score, rel=1e-3)
    following = site.call(CAROL, "following_feed", None, 10)
    assert [c.video.id for c in following.items] == [made[3].id, made[1].id]
    tagged = site.call(CAROL, "hashtag", "#N0", None, 10)
    assert [c.video.id for c in tagged.items] == [made[4].id, made[2].id, made[0].id]
    found = site.call(CAROL, "search", "wasm ali", 10)
    assert [c.video.id for c in found.videos] == [made[3].id, made[1].id]
    assert [u.handle for u in site.call(CAROL, "search", "bo", 10).users] == ["bob"]
    trending = [(t.tag, t.count) for t in site.call(CAROL, "trending_tags", 3)]
    assert trending == [("replica", 5), ("n0", 3), ("n1", 2)]
    card = site.call(BOB, "card", made[1].id)
    assert card.liked_by_me and card.stats.likes == 2 and card.creator.handle == "alice"
    with pytest.raises(CanisterError, match="is not a For You cursor"):
        site.call(CAROL, "for_you", "fy.1.@@", 2)
