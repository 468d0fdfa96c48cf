"""Ingress history retention: answers kept for the window, then ``done``, then forgotten."""

from __future__ import annotations

from pathlib import Path

from icframework.candid.binary import encode
from icframework.core import Principal
from icframework.protocol import (
    LookupStatus,
    lookup_path,
    lookup_value,
    reconstruct,
    verify_certificate,
)
from icframework.replica.certification import build_state_tree
from icframework.replica.embedded import Replica
from icframework.replica.ingress import INGRESS_WINDOW_NS, KV_INGRESS
from icframework.replica.management import PROVISIONAL_CREATE_ARGS
from icframework.replica.state import IngressState

OWNER = Principal.self_authenticating(b"ingress owner")
SECOND = 1_000_000_000


class Clock:
    """A clock the test moves by hand (ns since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000 * SECOND

    def __call__(self) -> int:
        return self.now


def answered_call(replica: Replica) -> bytes:
    """The request id of a replied management call (creating a canister)."""
    before = set(replica.subnet.ingress.statuses)
    replica.create_canister(sender=OWNER)
    (request_id,) = set(replica.subnet.ingress.statuses) - before
    return request_id


def status_certificate(replica: Replica, request_id: bytes) -> object:
    certified = replica.certified_state()
    cert = verify_certificate(certified.certificate([("request_status", request_id)]),
                              replica.subnet.config.root_key)
    return cert.tree


def test_answer_is_kept_then_done_then_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    replica = Replica.open(tmp_path, clock=clock)
    request_id = answered_call(replica)
    status = replica.subnet.ingress_status(request_id)
    assert status is not None and status.state is IngressState.REPLIED
    answered_ns, expiry_ns = status.updated_ns, status.expiry_ns

    # Still readable at the very end of the window after the expiry.
    clock.now = expiry_ns + INGRESS_WINDOW_NS - 1
    replica.subnet.execute_round()
    tree = status_certificate(replica, request_id)
    assert lookup_value(["request_status", request_id, "status"], tree) == b"replied"
    assert lookup_path(["request_status", request_id, "reply"], tree).status is LookupStatus.FOUND

    # Past it: `done`, with the reply dropped from the history, the store and the tree.
    clock.now = max(expiry_ns, answered_ns) + INGRESS_WINDOW_NS
    replica.subnet.execute_round()
    done = replica.subnet.ingress_status(request_id)
    assert done is not None and done.state is IngressState.DONE and done.reply is None
    tree = status_certificate(replica, request_id)
    assert lookup_value(["request_status", request_id, "status"], tree) == b"done"
    assert lookup_path(["request_status", request_id, "reply"], tree).status is LookupStatus.ABSENT
    replica.close()

    # A restart reads the `done` entry back and still forgets it on time.
    replica = Replica.open(tmp_path, clock=clock)
    again = replica.subnet.ingress_status(request_id)
    assert again is not None and again.state is IngressState.DONE
    clock.now += INGRESS_WINDOW_NS - SECOND
    replica.subnet.execute_round()
    assert replica.subnet.ingress_status(request_id) is not None
    clock.now += SECOND
    replica.subnet.execute_round()
    assert replica.subnet.ingress_status(request_id) is None
    assert replica.store.kv_get(KV_INGRESS, request_id) is None
    tree = status_certificate(replica, request_id)
    assert lookup_path(["request_status", request_id], tree).status is LookupStatus.ABSENT
    replica.close()

    replica = Replica.open(tmp_path, clock=clock)
    assert replica.subnet.ingress_status(request_id) is None
    replica.close()


def test_pending_requests_are_never_pruned() -> None:
    clock = Clock()
    replica = Replica.open(clock=clock)
    arg = encode([PROVISIONAL_CREATE_ARGS], [{
        "amount": None, "settings": None, "specified_id": None, "sender_canister_version": None,
    }])
    request_id = replica.submit(Principal.management_canister(),
                                "provisional_create_canister_with_cycles", arg, sender=OWNER)
    clock.now += 10 * INGRESS_WINDOW_NS
    # Not inducted yet: the round inducts it and rejects it as expired, which starts its window.
    replica.subnet.execute_round()
    status = replica.subnet.ingress_status(request_id)
    assert status is not None and status.state is IngressState.REJECTED
    assert status.reject is not None and "expired" in status.reject.message


def test_certificate_reveals_only_its_own_request() -> None:
    replica = Replica.open()
    first = answered_call(replica)
    second = answered_call(replica)
    tree = status_certificate(replica, first)
    assert lookup_value(["request_status", first, "status"], tree) == b"replied"
    assert lookup_path(["request_status", second, "reply"], tree).status is LookupStatus.UNKNOWN
    assert lookup_path(["request_status", second, "status"],
                       tree).status is LookupStatus.UNKNOWN
    absent = bytes(32)
    tree = status_certificate(replica, absent)
    assert lookup_path(["request_status", absent], tree).status is LookupStatus.ABSENT


def test_incremental_tree_matches_a_full_rebuild(tmp_path: Path) -> None:
    clock = Clock()
    replica = Replica.open(tmp_path, clock=clock)
    assert replica.node_key is not None

    def check() -> None:
        certified = replica.certified_state()
        full = build_state_tree(replica.subnet, replica.node_key)
        assert certified.root_hash == reconstruct(full)
        assert certified.tree == full

    check()
    canisters = [replica.create_canister(sender=OWNER) for _ in range(3)]
    check()
    replica.update_settings(canisters[0], {"controllers": [OWNER, Principal.anonymous()]},
                            sender=OWNER)
    replica.stop_canister(canisters[1], sender=OWNER)
    replica.delete_canister(canisters[1], sender=OWNER)
    check()
    clock.now += 2 * INGRESS_WINDOW_NS  # the first answers turn `done`
    replica.subnet.execute_round()
    check()
    answered_call(replica)
    clock.now += 2 * INGRESS_WINDOW_NS  # forgotten; the last one turns `done`
    replica.subnet.execute_round()
    check()
    replica.reload()  # a new subnet object is read whole
    check()
