"""The professional network at 1,000 and 10,000 users: what its reads and writes cost as it grows.

An in-process replica (memory store, the wasm Python runtime) runs the social canister
(``apps/social``); calls enter through the replica's ingress and query paths, as the
HTTP interface's do, minus envelope signatures. The network is filled to `SIZES` users,
each asking up to `CONNECTIONS_PER_USER` earlier users to connect (recent neighbours
and a few at random, so people share connections and "people you may know" has
2nd-degree candidates; about 20 connections each) and each with `POSTS_PER_USER` posts
with words and hashtags: 10,000 users hold 99,807 connections and 100,000 posts. The
first `REPLICA_FILL` users, with their requests, accepts and posts (about 30,000 calls,
a minute here), go through the replica as ingress messages; past them the canister's
own methods run natively in this process (`LocalCanister`) straight on the canister's
key-value store, one transaction per call, as ``bench_marketplace.py`` fills (the
other 280,000 calls take about a minute that way, ten in wasm). The first round after
a native fill writes every key it added to the replica's state store; it is timed
apart ("first round after the fill") so the figures below are the steady state. Every
call is made as its user with the clock moved a second before it, so the per-user rate
limits (10 posts a minute, 20 connection requests an hour, ...) hold during the fill
as they do for real users.

At each size it prints, over `SAMPLES` different users: instructions (median) and
latency p50/p99 of the home feed newest first (the first page and the 5th) and by its
"top" score (the first page), a profile view with degree and mutual count, a
people search, a post search, people you may know, and two updates (a new post, a
comment); then the ratio of each median at the largest size to the smallest, with a
verdict (flat, logarithmic or growing: said out loud), and the state size per user.

No timed assertions. Usage: ``.venv/bin/python bench/bench_social.py [--sizes
1000,10000]`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.test import override_settings  # noqa: E402

from apps.social.canister.post_records import Audience, FeedOrder, PostInput  # noqa: E402
from apps.social.canister.records import ProfileInput  # noqa: E402
from apps.social.seed import _init_arg  # noqa: E402
from bench.support import StoreView, percentile, table  # noqa: E402
from icframework.compiler.app_build import build_app  # noqa: E402
from icframework.compiler.runtime_build import load_runtime  # noqa: E402
from icframework.core import Principal  # noqa: E402
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.execution.component import ComponentSandbox  # noqa: E402
from icframework.replica.execution.python_module import pack_python_module  # noqa: E402
from icframework.replica.execution.runtime import set_runtime_loader  # noqa: E402
from icframework.sdk import LocalBackend, LocalCanister  # noqa: E402
from icframework.sdk.dispatch import Reply, decode_result, encode_args, method_table  # noqa: E402

SIZES: tuple[int, ...] = (1_000, 10_000)
CONNECTIONS_PER_USER = 10
POSTS_PER_USER = 10
REPLICA_FILL = 1_000
SAMPLES = 20
FEED_PAGE = 20
LATER_PAGE = 5
SECOND = 1_000_000_000
CANISTER = "apps.social.canister"
ROLES = ["engineer", "designer", "manager", "analyst", "researcher", "recruiter",
         "founder", "teacher", "scientist", "writer"]
SKILLS = ["python", "rust", "design", "payments", "robotics", "data", "security",
          "product", "energy", "health", "cloud", "mobile"]
TOWNS = ["Lisbon", "London", "Zurich", "Berlin", "Madrid", "Paris", "Dublin", "Prague"]
TOPICS = ["canisters", "hiring", "design", "python", "energy", "security", "startups",
          "research"]
WORDS = ["shipped", "release", "team", "meetup", "launch", "lessons", "interview",
         "benchmark", "prototype", "customers", "roadmap", "offsite", "talk", "paper"]


def person(n: int) -> Principal:
    return Principal.self_authenticating(f"social bench {n}".encode())


def handle(n: int) -> str:
    return f"user{n:05d}"


def profile(n: int) -> ProfileInput:
    role, skill = ROLES[n % len(ROLES)], SKILLS[(n * 7) % len(SKILLS)]
    return ProfileInput(name=f"Person {n}", headline=f"{skill.title()} {role}",
                        about=f"Works on {skill} and {SKILLS[(n * 3) % len(SKILLS)]}.",
                        location=TOWNS[n % len(TOWNS)], links=[], open_to_work=n % 9 == 0)


def targets(n: int) -> list[int]:
    """The earlier users ``n`` asks to connect: neighbours and a few pseudo-random ones
    (about `CONNECTIONS_PER_USER`; fewer for the first users)."""
    near = [n - d for d in (1, 2, 3, 5, 8) if n - d >= 0]
    far = [(n * 7919 + k * 104_729) % n for k in range(1, 6)] if n > 10 else []
    out: list[int] = []
    for t in near + far:
        if t not in out:
            out.append(t)
    return out[:CONNECTIONS_PER_USER]


def post_text(n: int, k: int) -> str:
    words = " ".join(WORDS[(n * 3 + k * 5 + j) % len(WORDS)] for j in range(3))
    tags = f"#{TOPICS[(n + k) % len(TOPICS)]} #{TOPICS[(n * k + 3) % len(TOPICS)]}"
    return f"Post {k} of person {n}: {words} with the {SKILLS[n % len(SKILLS)]} team {tags}"


class Bench:
    def __init__(self) -> None:
        self.clock = time.time_ns()
        self.replica = Replica.open(None, clock=lambda: self.clock)
        with override_settings(BASE_DIR=ROOT):
            built = build_app(ROOT / "apps" / "social", pack_python_module,
                              cache_dir=ROOT / ".build" / "apps", progress=None)
        admin = Principal.self_authenticating(b"social bench admin")
        self.canister = self.replica.create_canister()
        self.replica.install_code(self.canister, built.wasm, _init_arg(built.did, admin))
        self.methods = method_table(CANISTER)
        self.users = 0
        self.comment_on: list[int] = []

    # -- calls --------------------------------------------------------------------------
    def encode(self, method: str, *args: Any) -> bytes:
        return encode_args(self.methods[method], args)

    def decode(self, method: str, reply: bytes) -> Any:
        return decode_result(self.methods[method], reply)

    def _done(self, request: bytes) -> bool:
        status = self.replica.subnet.ingress_status(request)
        return status is not None and status.state.name in ("REPLIED", "REJECTED", "DONE")

    def run(self, requests: list[bytes]) -> int:
        """Execute rounds until every request completed; the instructions spent."""
        spent = 0
        while any(not self._done(r) for r in requests):
            self.clock += SECOND
            spent += self.replica.subnet.execute_round().instructions
        for r in requests:
            status = self.replica.subnet.ingress_status(r)
            assert status is not None and status.reply is not None, status
        return spent

    def update(self, sender: Principal, method: str, *args: Any) -> tuple[int, float, Any]:
        """One update through the replica: instructions, seconds and the decoded reply."""
        started = time.perf_counter()
        request = self.replica.submit(self.canister, method, self.encode(method, *args),
                                      sender=sender)
        spent = self.run([request])
        seconds = time.perf_counter() - started
        status = self.replica.subnet.ingress_status(request)
        assert status is not None and status.reply is not None
        return spent, seconds, self.decode(method, status.reply)

    def query(self, sender: Principal, method: str, *args: Any) -> tuple[int, float, Any]:
        started = time.perf_counter()
        result = self.replica.run_query(self.canister, method, self.encode(method, *args),
                                        sender=sender)
        seconds = time.perf_counter() - started
        assert result.reply is not None, (method, result.reject)
        return result.instructions, seconds, self.decode(method, result.reply)

    # -- filling ------------------------------------------------------------------------
    def calls_for(self, n: int) -> list[tuple[Principal, str, tuple[Any, ...]]]:
        """User ``n``'s part of the fill: register, ask its `targets`, each of whom
        accepts, then its posts."""
        me = person(n)
        calls: list[tuple[Principal, str, tuple[Any, ...]]] = [
            (me, "register", (handle(n), profile(n)))]
        for t in targets(n):
            calls.append((me, "send_request", (person(t), "")))
            calls.append((person(t), "accept_request", (me,)))
        for k in range(POSTS_PER_USER):
            calls.append((me, "create_post", (PostInput(
                text=post_text(n, k), image_ids=[], audience=Audience.public, org_id=None,
                group_id=None),)))
        return calls

    def fill_replica(self, numbers: range) -> None:
        """Users ``numbers`` through the replica, each call in its own round (a request
        and its accept must not share one)."""
        for n in numbers:
            for sender, method, args in self.calls_for(n):
                self.update(sender, method, *args)

    def fill_natively(self, numbers: range) -> None:
        sandbox = self.replica.subnet.canister_state.sandboxes[self.canister.raw]
        assert isinstance(sandbox, ComponentSandbox)
        backend = LocalBackend(canister_id=self.canister, caller=person(0), time_ns=self.clock)
        backend.store = StoreView(sandbox.kv)  # type: ignore[assignment]
        native = LocalCanister(CANISTER, backend=backend)
        for n in numbers:
            for sender, method, args in self.calls_for(n):
                self.clock += SECOND
                backend.set_time(self.clock)
                outcome = native.run("update", method, self.encode(method, *args),
                                          caller=sender)
                assert isinstance(outcome, Reply), (method, outcome)
                sandbox.kv.commit()
        sandbox.reset_instance()  # its cache of committed values missed these writes

    def grow(self, size: int) -> float:
        started = time.perf_counter()
        first = min(size, REPLICA_FILL)
        if self.users < first:
            self.fill_replica(range(self.users, first))
            self.users = first
        if self.users < size:
            self.fill_natively(range(self.users, size))
            self.users = size
        return time.perf_counter() - started

    def state_bytes(self) -> int:
        sandbox = self.replica.subnet.canister_state.sandboxes[self.canister.raw]
        assert isinstance(sandbox, ComponentSandbox)
        return sandbox.kv.size_bytes


Measure = Callable[[Bench, int], tuple[int, float]]


def _feed_first(b: Bench, n: int) -> tuple[int, float]:
    spent, seconds, _page = b.query(person(n), "home_feed", FeedOrder.newest, None, FEED_PAGE)
    return spent, seconds


def _feed_later(b: Bench, n: int) -> tuple[int, float]:
    cursor = None
    for _ in range(LATER_PAGE - 1):
        cursor = b.query(person(n), "home_feed", FeedOrder.newest, cursor, FEED_PAGE
                         )[2].next_cursor
        if cursor is None:
            break
    spent, seconds, _page = b.query(person(n), "home_feed", FeedOrder.newest, cursor,
                                    FEED_PAGE)
    return spent, seconds


def _feed_top(b: Bench, n: int) -> tuple[int, float]:
    spent, seconds, _page = b.query(person(n), "home_feed", FeedOrder.top, None, FEED_PAGE)
    return spent, seconds


def _profile(b: Bench, n: int) -> tuple[int, float]:
    spent, seconds, _view = b.query(person(n), "profile", handle((n * 31 + 7) % b.users))
    return spent, seconds


def _people(b: Bench, n: int) -> tuple[int, float]:
    words = f"{SKILLS[n % len(SKILLS)]} {ROLES[n % len(ROLES)]}"
    spent, seconds, _page = b.query(person(n), "search_people", words, None, 20)
    return spent, seconds


def _posts(b: Bench, n: int) -> tuple[int, float]:
    words = f"{WORDS[n % len(WORDS)]} #{TOPICS[n % len(TOPICS)]}"
    spent, seconds, _page = b.query(person(n), "search_posts", words, None, 20)
    return spent, seconds


def _pymk(b: Bench, n: int) -> tuple[int, float]:
    spent, seconds, _people = b.query(person(n), "people_you_may_know")
    return spent, seconds


def _post(b: Bench, n: int) -> tuple[int, float]:
    spent, seconds, view = b.update(person(n), "create_post", PostInput(
        text=f"Measured post of person {n}: {post_text(n, 99)}", image_ids=[],
        audience=Audience.public, org_id=None, group_id=None))
    b.comment_on.append(int(view.id))
    return spent, seconds


def _comment(b: Bench, n: int) -> tuple[int, float]:
    post_id = b.comment_on[n % len(b.comment_on)]
    spent, seconds, _view = b.update(person(n), "add_comment", post_id, None,
                                     f"Congratulations, {handle(n)} here #{TOPICS[n % 8]}")
    return spent, seconds


OPERATIONS: list[tuple[str, Measure]] = [
    ("home feed, newest, first page", _feed_first),
    (f"home feed, newest, page {LATER_PAGE}", _feed_later),
    ("home feed, top, first page", _feed_top),
    ("profile view (degree, mutuals)", _profile),
    ("people search (2 words)", _people),
    ("post search (word + hashtag)", _posts),
    ("people you may know", _pymk),
    ("create_post (update)", _post),
    ("add_comment (update)", _comment),
]


def measure(b: Bench, size: int) -> dict[str, tuple[float, float, float]]:
    """Median instructions, p50 and p99 seconds of each operation over `SAMPLES` users."""
    step = max(1, size // SAMPLES)
    viewers = [(k * step + step // 2) % size for k in range(SAMPLES)]
    out = {}
    b.comment_on.clear()
    for name, run in OPERATIONS:
        spent, seconds = [], []
        for n in viewers:
            used, took = run(b, n)
            spent.append(used)
            seconds.append(took)
        out[name] = (statistics.median(spent), statistics.median(seconds),
                     percentile(seconds, 0.99))
    return out


def verdict(ratio: float, growth: float) -> str:
    """How a cost grew when the network grew ``growth`` times."""
    if ratio <= 1.25:
        return "flat"
    if ratio <= 1.25 * math.log10(10 * growth):
        return "logarithmic"
    return f"GROWS ({ratio:.1f}x for {growth:g}x users): not flat"


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    sizes = SIZES
    if args[:1] == ["--sizes"] and len(args) > 1:
        sizes = tuple(int(s) for s in args[1].split(","))
    previous = set_runtime_loader(load_runtime)
    try:
        b = Bench()
        print("Social benchmark (in-process replica, wasm Python runtime)")
        print(f"  fill: each user asks up to {CONNECTIONS_PER_USER} earlier users to connect "
              f"and writes {POSTS_PER_USER} posts; the first {REPLICA_FILL:,} users through "
              "the replica, the rest natively on the canister's store")
        results: dict[int, dict[str, tuple[float, float, float]]] = {}
        rows = []
        for size in sizes:
            fill = b.grow(size)
            settle = b.update(person(0), "follow_hashtag", f"size{size}")[1]
            state = b.state_bytes()
            results[size] = measure(b, size)
            print(f"{size:,} users: filled in {fill:,.0f} s (first round after the fill "
                  f"{settle:,.1f} s); state {state / 2**20:,.1f} MiB, "
                  f"{state / size:,.0f} bytes per user")
            for name, (spent, p50, p99) in results[size].items():
                rows.append([f"{size:,}", name, f"{spent:,.0f}", f"{p50 * 1000:,.1f} ms",
                             f"{p99 * 1000:,.1f} ms"])
        print(f"1. Cost per call (median instructions over {SAMPLES} users; latency p50/p99 "
              "in this process; p99 of 20 is the slowest)")
        table(["users", "call", "instructions", "p50", "p99"], rows)
        if len(sizes) > 1:
            small, large = results[sizes[0]], results[sizes[-1]]
            growth = sizes[-1] / sizes[0]
            print(f"2. Growth from {sizes[0]:,} to {sizes[-1]:,} users (ratio of median "
                  "instructions)")
            table(["call", "ratio", "verdict"],
                  [[name, f"{large[name][0] / small[name][0]:.2f}",
                    verdict(large[name][0] / small[name][0], growth)] for name in small])
    finally:
        set_runtime_loader(previous)


if __name__ == "__main__":
    main()
