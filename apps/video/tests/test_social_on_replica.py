"""The built video canister's social side on an in-process replica, next to the built ledger.

The same code the CPython tests run, compiled to WebAssembly: register, follow, like,
super-like, comment and reply, views, reports that hide a video, notifications, socket
access, and a tip that awaits ``icrc2_transfer_from`` on a real ledger canister (the
``ledger`` template, built too). Both modules come from the app build cache under
``.build/apps``, so unchanged canisters are not packed again.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icframework.compiler.app_build import build_app, load_app, scaffold_app
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.demo import TypedCaller
from icframework.replica import CanisterError, Replica, pack_python_module, set_runtime_loader
from icframework.sdk import Canister
from icframework.sdk.dispatch import CompiledMethod, encode_args
from tests.compiler.runtime_support import CACHE_DIR, runtime_component

from .world import (
    APP,
    APP_DIR,
    MOD,
    SECOND,
    WORKER,
    chunks_of,
    mp4,
    records,
    rendition,
    rendition_bytes,
    upload_input,
    user,
)

R = APP.social_records
BUILD_CACHE = APP_DIR.parents[1] / ".build" / "apps"
OWNER = Principal.self_authenticating(b"video social replica test owner")
MINTER = Principal.self_authenticating(b"video social replica test minter")
FEE = 10_000
ALICE, BOB, CAROL, DAVE = (user(n) for n in ("alice", "bob", "carol", "dave"))
_LEDGER_DIR = Path(tempfile.mkdtemp(prefix="video-replica-ledger-"))
LEDGER_SRC = scaffold_app("vrtoken", "ledger", _LEDGER_DIR)
LEDGER_APP = load_app(LEDGER_SRC, "video_replica_test_ledger")


class Clock:
    """The replica's time: moved 5 s before every call, so no rate limit is reached."""

    def __init__(self) -> None:
        self.now = 1_750_000_000 * SECOND

    def __call__(self) -> int:
        return self.now


class Site:
    def __init__(self, replica: Replica, clock: Clock, video: Principal,
                 ledger: Principal) -> None:
        self.replica, self.clock = replica, clock
        self.video_id, self.ledger_id = video, ledger
        self.video = TypedCaller(replica, video, Canister(APP.__name__).methods)
        self.ledger = TypedCaller(replica, ledger, Canister(LEDGER_APP.__name__).methods)

    def call(self, who: Principal, method: str, *args: Any) -> Any:
        self.clock.now += 5 * SECOND
        return self.video(who, method, *args)

    def ready_video(self, creator: Principal, duration_ms: int = 10_000) -> Any:
        data = mp4(3000)
        ticket = self.call(creator, "begin_upload", upload_input(data, "on the replica"))
        for index, chunk in enumerate(chunks_of(data)):
            self.call(creator, "put_chunk", ticket.video_id, index, chunk)
        self.call(creator, "finish_upload", ticket.video_id)
        self.call(WORKER, "worker_claim", ticket.video_id)
        for kind in records.RenditionKind:
            part = rendition_bytes(ticket.video_id, kind)
            self.call(WORKER, "worker_put_rendition", ticket.video_id, rendition(kind, part))
        return self.call(WORKER, "worker_complete", ticket.video_id,
                         records.MediaInfo(duration_ms, 720, 1280))


def _install(replica: Replica, wasm: bytes, hook: CompiledMethod, arg: Any) -> Principal:
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, wasm, arg=encode_args(hook, (arg,)), sender=OWNER)
    return canister


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    runtime_component()
    previous = set_runtime_loader(functools.partial(load_runtime, cache_dir=CACHE_DIR,
                                                    progress=None))
    clock = Clock()
    replica = Replica.open(None, clock=clock)
    try:
        ledger_wasm = build_app(LEDGER_SRC, pack_python_module, cache_dir=BUILD_CACHE,
                                progress=None).wasm
        account = LEDGER_APP.Account
        ledger = _install(replica, ledger_wasm, Canister(LEDGER_APP.__name__).hooks["init"],
                          LEDGER_APP.LedgerArg(Init=LEDGER_APP.InitArgs(
                              token_name="Video Token", token_symbol="VTK",
                              minting_account=account(MINTER, None), transfer_fee=FEE,
                              initial_balances=[(account(BOB, None), 1_000_000)],
                              metadata=[], decimals=None, max_memo_length=None,
                              fee_collector_account=None)))
        video_wasm = build_app(APP_DIR, pack_python_module, cache_dir=BUILD_CACHE,
                               progress=None).wasm
        video = _install(replica, video_wasm, Canister(APP.__name__).hooks["init"],
                         records.InitArgs(admins=[MOD], workers=[WORKER], ledger=ledger))
        s = Site(replica, clock, video, ledger)
        for handle, who in (("alice", ALICE), ("bob", BOB), ("carol", CAROL), ("dave", DAVE)):
            s.call(who, "register", handle, handle.title())
        yield s
    finally:
        replica.close()
        set_runtime_loader(previous)


def test_follows_likes_comments_and_views_on_the_replica(site: Site) -> None:
    video = site.ready_video(ALICE)
    site.call(BOB, "follow", ALICE)
    site.call(BOB, "like", video.id)
    site.call(BOB, "like", video.id)
    assert site.call(CAROL, "super_like", video.id) == 2
    root = site.call(BOB, "comment", video.id, None, "on wasm\x00!")
    reply = site.call(ALICE, "comment", video.id, root.id, "thanks")
    assert (root.text, reply.parent) == ("on wasm!", root.id)
    site.call(BOB, "record_view", video.id, 9_500)
    site.call(BOB, "record_view", video.id, 4_000)
    stats = site.call(BOB, "video_stats", video.id)
    assert (stats.likes, stats.super_likes, stats.comments, stats.views, stats.watch_ms,
            stats.completions) == (2, 1, 2, 1, 9_500, 1)
    profile = site.call(BOB, "profile_by_handle", "@alice")
    assert (profile.followers, profile.likes_received, profile.followed_by_me) == (1, 2, True)
    kinds = [n.kind for n in site.call(ALICE, "notifications", None).items]
    assert kinds[:4] == [R.NotificationKind.comment, R.NotificationKind.super_like,
                         R.NotificationKind.like, R.NotificationKind.follow]
    assert site.call(ALICE, "can_subscribe", f"user:{ALICE.to_text()}") is True
    assert site.call(BOB, "can_subscribe", f"user:{ALICE.to_text()}") is False
    with pytest.raises(CanisterError, match="you already super-liked"):
        site.call(CAROL, "super_like", video.id)


def test_reports_hide_a_video_on_the_replica(site: Site) -> None:
    video = site.ready_video(ALICE)
    reporters = (BOB, CAROL, DAVE)
    assert len(reporters) == APP.limits.AUTO_HIDE_REPORTS
    for who in reporters:
        site.call(who, "report", R.ReportTarget(video=video.id), "spam")
    assert site.call(BOB, "video", video.id) is None
    assert site.call(ALICE, "video_hidden_reason", video.id) is not None
    [case] = [c for c in site.call(MOD, "moderation_queue", None).items
              if c.target.value == video.id]
    assert case.reporters == APP.limits.AUTO_HIDE_REPORTS
    site.call(MOD, "moderate", R.ReportTarget(video=video.id), R.Decision.keep)
    assert site.call(BOB, "video", video.id) is not None


def test_a_tip_awaits_the_ledger_and_moves_the_tokens(site: Site) -> None:
    video = site.ready_video(ALICE)
    account = LEDGER_APP.Account
    with pytest.raises(CanisterError, match="may spend only 0 of your tokens"):
        site.call(BOB, "tip", video.id, 700)
    site.clock.now += SECOND
    site.ledger(BOB, "icrc2_approve", LEDGER_APP.ApproveArgs(
        spender=account(site.video_id, None), amount=700 + FEE, fee=None, memo=None,
        from_subaccount=None, created_at_time=None, expected_allowance=None,
        expires_at=None))
    block = site.call(BOB, "tip", video.id, 700)
    assert site.ledger(ALICE, "icrc1_balance_of", account(ALICE, None)) == 700
    received = site.call(ALICE, "tips_received")
    assert (received.total, received.count, received.recent[0].block) == (700, 1, block)


def test_deleting_a_video_drops_its_social_state_on_the_replica(site: Site) -> None:
    video = site.ready_video(CAROL)
    site.call(BOB, "like", video.id)
    root = site.call(BOB, "comment", video.id, None, "soon gone")
    site.call(DAVE, "like_comment", root.id)
    assert site.call(CAROL, "me").likes_received == 1
    site.call(CAROL, "delete_video", video.id)
    assert site.call(CAROL, "me").likes_received == 0
    assert site.call(BOB, "video_stats", video.id) is None
    with pytest.raises(CanisterError, match=f"no comment {root.id}"):
        site.call(DAVE, "like_comment", root.id)
