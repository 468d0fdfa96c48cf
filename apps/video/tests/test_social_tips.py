"""Tips on the video canister against the real Python ICRC-1/2 ledger (the ``ledger``
template), both `LocalCanister`s connected as the marketplace's tests connect theirs.

A viewer approves the video canister, tips, and the tokens move from the viewer to the
creator (the viewer pays the fee); the canister records the tip and notifies the
creator. Refusals: no ledger configured, no or too small an allowance, too little
balance, one's own video, a block, an amount out of range.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from icframework.compiler.app_build import load_app, scaffold_app
from icframework.sdk import CanisterError, LocalBackend, LocalCanister, Principal

from .world import APP, MOD, WORKER, As, fresh, limits, ready_video, records, user

R = APP.social_records
_LEDGER_DIR = Path(tempfile.mkdtemp(prefix="video-ledger-"))
LEDGER_APP = load_app(scaffold_app("vtoken", "ledger", _LEDGER_DIR), "video_test_ledger")
VIDEO_ID = Principal.from_text("bkyz2-fmaaa-aaaaa-qaaaq-cai")
LEDGER_ID = Principal.from_text("bd3sg-teaaa-aaaaa-qaaba-cai")
FEE = 10_000
MINTER = Principal.self_authenticating(b"video test: minter")
ALICE, BOB, CAROL = user("alice"), user("bob"), user("carol")


def account(owner: Principal) -> Any:
    return LEDGER_APP.Account(owner=owner, subaccount=None)


def rejects(call: Any, *args: Any, match: str) -> None:
    with pytest.raises(CanisterError, match=match):
        call(*args)


class World:
    """The video canister with a ledger where bob and carol hold tokens."""

    def __init__(self) -> None:
        self.ledger = LocalCanister(LEDGER_APP, backend=LocalBackend(canister_id=LEDGER_ID))
        self.ledger.install(LEDGER_APP.LedgerArg(Init=LEDGER_APP.InitArgs(
            token_name="Video Token", token_symbol="VTK", minting_account=account(MINTER),
            transfer_fee=FEE, initial_balances=[(account(BOB), 1_000_000),
                                                (account(CAROL), 1_000_000)],
            metadata=[], decimals=None, max_memo_length=None, fee_collector_account=None)))
        self.c = LocalCanister(APP, backend=LocalBackend(canister_id=VIDEO_ID))
        self.c.connect(LEDGER_ID, self.ledger)
        self.c.install(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=LEDGER_ID))
        self.alice, self.bob, self.carol = (self.person(n) for n in ("alice", "bob", "carol"))
        self.video = ready_video(self.c, self.alice.who)

    def person(self, handle: str) -> As:
        who = As(self.c, user(handle))
        who.register(handle, handle.title())
        return who

    def balance(self, owner: Principal) -> int:
        result: int = self.ledger.query("icrc1_balance_of", account(owner))
        return result

    def approve(self, who: Principal, amount: int) -> None:
        self.ledger.backend.set_time(self.c.backend.time())
        self.ledger.update("icrc2_approve", LEDGER_APP.ApproveArgs(
            spender=account(VIDEO_ID), amount=amount, fee=None, memo=None,
            from_subaccount=None, created_at_time=None, expected_allowance=None,
            expires_at=None), caller=who)

    def tip(self, who: As, amount: int, video_id: int | None = None) -> int:
        self.ledger.backend.set_time(self.c.backend.time() + who.tick_ns)
        block: int = who.tip(self.video.id if video_id is None else video_id, amount)
        return block


@pytest.fixture
def w() -> World:
    return World()


def test_a_tip_moves_tokens_to_the_creator_and_is_recorded(w: World) -> None:
    w.approve(BOB, 500 + FEE)
    block = w.tip(w.bob, 500)
    # bob paid the approval's fee, the tip and the transfer's fee
    assert (w.balance(ALICE), w.balance(BOB)) == (500, 1_000_000 - FEE - 500 - FEE)
    w.approve(CAROL, 10_000 + FEE)
    second = w.tip(w.carol, 10_000)
    assert second > block
    summary = w.alice.tips_received()
    assert (summary.total, summary.count) == (10_500, 2)
    assert [(t.sender.handle, t.amount, t.block) for t in summary.recent] == [
        ("carol", 10_000, second), ("bob", 500, block)]
    assert w.bob.video_tips(w.video.id) == 10_500
    notes = [(n.actor.handle, n.text, n.video_id) for n in w.alice.notifications(None).items
             if n.kind == R.NotificationKind.tip]
    assert notes == [("carol", "tipped you 10000", w.video.id),
                     ("bob", "tipped you 500", w.video.id)]


def test_without_enough_allowance_or_balance_the_ledger_says_why(w: World) -> None:
    rejects(w.tip, w.bob, 500,
            match=r"this canister may spend only 0 of your tokens: approve at least 500 plus "
                  r"the ledger's fee \(icrc2_approve\)")
    w.approve(BOB, 100)
    rejects(w.tip, w.bob, 500, match="may spend only 100 of your tokens")
    w.approve(BOB, 5_000_000)
    assert w.balance(BOB) == 1_000_000 - 2 * FEE  # the approvals' fees
    rejects(w.tip, w.bob, 2_000_000,
            match="your balance is 980000, less than the tip of 2000000 plus the ledger's fee")
    assert w.balance(BOB) == 1_000_000 - 2 * FEE
    assert w.alice.tips_received().count == 0


def test_tips_that_are_refused_before_the_ledger(w: World) -> None:
    w.approve(BOB, 1_000 + FEE)
    rejects(w.tip, w.alice, 10, match="you cannot tip your own video")
    rejects(w.tip, w.bob, 0, match=f"a tip is {limits.MIN_TIP} to {limits.MAX_TIP} token units")
    rejects(w.tip, w.bob, 10, 999, match="no video 999 for you")
    w.alice.block(BOB)
    rejects(w.tip, w.bob, 10, match="no video")
    assert (w.balance(BOB), w.balance(ALICE)) == (1_000_000 - FEE, 0)


def test_without_a_ledger_tips_are_off_with_the_reason() -> None:
    c = fresh()
    alice, bob = As(c, ALICE), As(c, BOB)
    alice.register("alice", "Alice")
    bob.register("bob", "Bob")
    video = ready_video(c, ALICE)
    rejects(bob.tip, video.id, 100, match=r"tips are off: this canister was installed without "
                                          r"a ledger \(InitArgs.ledger\)")
    assert bob.video_tips(video.id) == 0


def test_a_ledger_that_does_not_answer_records_nothing() -> None:
    c = LocalCanister(APP, backend=LocalBackend(canister_id=VIDEO_ID))
    c.install(records.InitArgs(admins=[MOD], workers=[WORKER], ledger=LEDGER_ID))  # unconnected
    alice, bob = As(c, ALICE), As(c, BOB)
    alice.register("alice", "Alice")
    bob.register("bob", "Bob")
    video = ready_video(c, ALICE)
    rejects(bob.tip, video.id, 100,
            match="the ledger did not answer .*: the tip may or may not have gone through; "
                  "check your balance")
    assert (bob.video_tips(video.id), alice.tips_received().count) == (0, 0)
