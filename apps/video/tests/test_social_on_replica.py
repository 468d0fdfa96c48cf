"""The built video canister's social side on an in-process replica, next to the built ledger.

The same code the CPython tests run, compiled to WebAssembly: register, follow, like,
super-like, comment and reply, views, reports that hide a video, notifications, socket
access, and a tip that awaits ``icrc2_transfer_from`` on a real ledger canister (the
``ledger`` template, built too). Both modules come from the app build cache under
``.build/apps``, so unchanged canisters are not packed again.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from icframework.compiler.app_build import load_app, scaffold_app
from icframework.core import Principal
from icframework.demo import TypedCaller
from icframework.replica import CanisterError, Replica
from icframework.sdk import Canister
from icframework.sdk.dispatch import CompiledMethod, encode_args

from .replica_site import Clock, VideoSite, built, python_runtime
from .world import APP, APP_DIR, MOD, SECOND, WORKER, records, user

R = APP.social_records
OWNER = Principal.self_authenticating(b"video social replica test owner")
MINTER = Principal.self_authenticating(b"video social replica test minter")
FEE = 10_000
ALICE, BOB, CAROL, DAVE = (user(n) for n in ("alice", "bob", "carol", "dave"))
_LEDGER_DIR = Path(tempfile.mkdtemp(prefix="video-replica-ledger-"))
LEDGER_SRC = scaffold_app("vrtoken", "ledger", _LEDGER_DIR)
LEDGER_APP = load_app(LEDGER_SRC, "video_replica_test_ledger")


class Site(VideoSite):
    """The video canister beside the ledger its tips are paid in."""

    def __init__(self, replica: Replica, clock: Clock, video: Principal,
                 ledger: Principal) -> None:
        super().__init__(replica, clock, video)
        self.ledger_id = ledger
        self.ledger = TypedCaller(replica, ledger, Canister(LEDGER_APP.__name__).methods)


def _install(replica: Replica, wasm: bytes, hook: CompiledMethod, arg: Any) -> Principal:
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, wasm, arg=encode_args(hook, (arg,)), sender=OWNER)
    return canister


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    clock = Clock()
    with python_runtime(), Replica.open(None, clock=clock) as replica:
        account = LEDGER_APP.Account
        ledger = _install(replica, built(LEDGER_SRC), Canister(LEDGER_APP.__name__).hooks["init"],
                          LEDGER_APP.LedgerArg(Init=LEDGER_APP.InitArgs(
                              token_name="Video Token", token_symbol="VTK",
                              minting_account=account(MINTER, None), transfer_fee=FEE,
                              initial_balances=[(account(BOB, None), 1_000_000)],
                              metadata=[], decimals=None, max_memo_length=None,
                              fee_collector_account=None)))
        video = _install(replica, built(APP_DIR), Canister(APP.__name__).hooks["init"],
                         records.InitArgs(admins=[MOD], workers=[WORKER], ledger=ledger))
        s = Site(replica, clock, video, ledger)
        for handle, who in (("alice", ALICE), ("bob", BOB), ("carol", CAROL), ("dave", DAVE)):
            s.call(who, "register", handle, handle.title())
        yield s


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
