"""A feed page's cost does not grow with the number of videos: the stored entries a
page reads, counted two ways — the feed's own meter (`feed_store.meter`: every index
entry it scans and every lookup it makes) and every key-value read of the whole message
(a backend that counts ``kv_get`` calls and the entries ``kv_scan`` returns) — stay
flat as the canister grows from 100 to 3,000 videos, and stay far below the number of
videos. No clock is involved: counts, not time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from icframework.sdk import LocalBackend, LocalCanister

from .world import APP, MOD, WORKER, As, ready_video, records, user

meter = APP.feed_store.meter
L = APP.limits


class CountingBackend(LocalBackend):
    """The local backend, counting the stored entries messages read."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def kv_get(self, key: bytes) -> bytes | None:
        self.reads += 1
        return super().kv_get(key)

    def kv_scan(self, start: bytes, end: bytes | None, reverse: bool,
                limit: int) -> list[tuple[bytes, bytes]]:
        found = super().kv_scan(start, end, reverse, limit)
        self.reads += max(1, len(found))
        return found


def cost(backend: CountingBackend, call: Callable[[], Any]) -> tuple[int, int, Any]:
    """(feed meter reads, all key-value reads, result) of one query."""
    meter.reset()
    backend.reads = 0
    result = call()
    return meter.reads, backend.reads, result


def test_page_reads_stay_flat_from_100_to_3000_videos() -> None:
    backend = CountingBackend()
    c = LocalCanister(APP, backend=backend)
    c.install(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=None))
    creators = []
    for n in range(40):
        who = As(c, user(f"maker{n}"))
        who.register(f"maker{n}", f"Maker {n}")
        creators.append(who)
    fan = As(c, user("fan"))
    fan.register("fan", "Fan")
    viewer = As(c, user("viewer"))
    viewer.register("viewer", "Viewer")
    for who in creators[:20]:
        viewer.follow(who.who)
    queries: dict[str, Callable[[], Any]] = {
        "for_you": lambda: viewer.for_you(None, 10),
        "following": lambda: viewer.following_feed(None, 10),
        "creator": lambda: viewer.creator_videos(creators[3].who, None, 10),
        "hashtag": lambda: viewer.hashtag("common", None, 10),
        "search": lambda: viewer.search("clip common", 10),
        "trending": lambda: viewer.trending_tags(10),
    }
    made = 0
    measured: dict[int, dict[str, tuple[int, int]]] = {}
    for size in (100, 1000, 3000):
        while made < size:
            video = ready_video(c, creators[made % len(creators)],
                                f"clip {made} #common #tag{made % 97}", size=64)
            if made % 7 == 0:
                fan.like(video.id)
            made += 1
        measured[size] = {}
        second: str = viewer.for_you(None, 10).next

        def page_two(cursor: str = second) -> Any:
            return viewer.for_you(cursor, 10)

        queries["for_you page 2"] = page_two
        for name, call in queries.items():
            feed_reads, kv_reads, result = cost(backend, call)
            measured[size][name] = (feed_reads, kv_reads)
            assert result is not None
    small, mid, large = measured[100], measured[1000], measured[3000]
    for name in queries:
        # flat: 3,000 videos cost what 1,000 do (the pools are full at both), give or
        # take a few entries, and never more than a small share of the videos
        assert large[name][0] <= mid[name][0] + 10, (name, mid[name], large[name])
        assert large[name][1] <= mid[name][1] * 1.1 + 20, (name, mid[name], large[name])
        assert large[name][1] < 3000 // 2, (name, large[name])
        assert small[name][1] < 3000 // 2
    # For You reads a bounded pool: candidates from the newest, the popularity buckets
    # and the followed creators, a few entries each
    pool = (L.NEWEST_POOL + L.POPULAR_DAYS * L.POPULAR_PER_DAY + L.FOLLOWED_POOL
            + L.FOLLOWING_FEED_SOURCES)
    assert large["for_you"][0] <= 6 * pool
    # a newest-first list reads a page of its index (and one key more) plus five
    # lookups per card (video, counters, creator, liked, following)
    assert large["creator"][0] <= 11 + 10 * 5
    assert large["hashtag"][0] <= 11 + 10 * 5
    print({size: measured[size] for size in measured})
