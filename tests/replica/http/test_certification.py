"""`icframework.replica.certification`: the state tree, its caching, and the node key."""

from __future__ import annotations

from pathlib import Path

import cbor2

from icframework.core import ErrorCode, Principal, RejectCode, decode_uleb128
from icframework.protocol import (
    LookupStatus,
    decode_canister_ranges,
    lookup_path,
    lookup_value,
    reconstruct,
    verify_certificate,
)
from icframework.replica.certification import (
    StateCertifier,
    build_state_tree,
    canister_ranges,
    request_status_entries,
)
from icframework.replica.embedded import Replica, node_key
from icframework.replica.messages import RejectInfo
from icframework.replica.state import (
    CanisterSettings,
    CanisterState,
    IngressState,
    IngressStatus,
)
from tests.replica.http.conftest import data_certificate_wasm

OWNER = Principal.self_authenticating(b"certification owner")


def test_node_key_is_persisted(tmp_path: Path) -> None:
    with Replica.open(tmp_path) as replica:
        assert replica.node_key is not None
        first = replica.node_key.seed
        assert node_key(replica.store).seed == first
    with Replica.open(tmp_path) as replica:
        assert replica.node_key is not None and replica.node_key.seed == first
        assert len(replica.node_key.der_public_key) == 44


def test_state_tree_contents() -> None:
    replica = Replica.open()
    subnet = replica.subnet
    canister = replica.create_canister(sender=OWNER)
    replica.install_code(canister, data_certificate_wasm(), sender=OWNER)
    replied = replica.submit(canister, "certify", b"abc", sender=OWNER)
    assert replica.wait(replied).state is IngressState.REPLIED
    pending = replica.submit(canister, "certify", b"later", sender=OWNER)
    assert replica.node_key is not None
    tree = build_state_tree(subnet, replica.node_key)
    cid, sid = canister.raw, subnet.config.subnet_id
    assert decode_uleb128(lookup_value(["time"], tree) or b"")[0] == subnet.time_ns
    assert lookup_value(["canister", cid, "certified_data"], tree) == b"abc"
    assert lookup_value(["canister", cid, "module_hash"], tree) == (
        subnet.canister_state.states[cid].module_hash)
    controllers = lookup_value(["canister", cid, "controllers"], tree) or b""
    assert controllers.startswith(b"\xd9\xd9\xf7")
    assert list(cbor2.loads(controllers)) == [OWNER.raw]
    assert lookup_value(["canister", cid, "metadata", "greeting"], tree) == b"hello"
    assert lookup_value(["canister", cid, "metadata", "secret"], tree) == b"s3cret"
    assert lookup_value(["request_status", replied, "status"], tree) == b"replied"
    assert lookup_value(["request_status", replied, "reply"], tree) == b""
    # Submitted after the last round: not committed, so not certified.
    assert lookup_path(["request_status", pending], tree).status is LookupStatus.ABSENT
    assert lookup_value(["subnet", sid, "public_key"], tree) == subnet.config.root_key
    assert lookup_value(["subnet", sid, "type"], tree) == b"application"
    node = replica.node_key
    assert lookup_value(["subnet", sid, "node", node.principal.raw, "public_key"],
                        tree) == node.der_public_key
    ranges = decode_canister_ranges(lookup_value(["subnet", sid, "canister_ranges"], tree) or b"")
    assert any(low <= canister <= high for low, high in ranges)


def test_empty_canister_has_no_module_hash() -> None:
    replica = Replica.open()
    canister = replica.create_canister(sender=OWNER)
    assert replica.node_key is not None
    tree = build_state_tree(replica.subnet, replica.node_key)
    assert lookup_path(["canister", canister.raw, "module_hash"],
                       tree).status is LookupStatus.ABSENT
    assert lookup_value(["canister", canister.raw, "certified_data"], tree) == b""


def test_request_status_entries() -> None:
    rejected = IngressStatus(IngressState.REJECTED, b"s", b"c", 0, reject=RejectInfo(
        RejectCode.CANISTER_ERROR, "boom", ErrorCode.CANISTER_CALLED_TRAP))
    assert request_status_entries(rejected) == {
        "status": "rejected", "reject_code": 5, "reject_message": "boom", "error_code": "IC0503"}
    processing = IngressStatus(IngressState.PROCESSING, b"s", b"c", 0)
    assert request_status_entries(processing) == {"status": "processing"}


def test_canister_ranges_cover_specified_ids() -> None:
    replica = Replica.open()
    outside = Principal.from_canister_index(7)  # only older states hold such a canister
    replica.subnet.canister_state.add_canister(
        CanisterState(outside.raw, CanisterSettings([OWNER.raw]), 0))
    ranges = canister_ranges(replica.subnet)
    assert (outside, outside) in ranges
    config = replica.subnet.config
    assert (Principal.from_canister_index(config.first_canister_index),
            Principal.from_canister_index(config.last_canister_index)) in ranges
    assert ranges == sorted(ranges)


def test_certified_state_is_built_once_per_height() -> None:
    replica = Replica.open()
    replica.subnet.execute_round()
    certifier = replica.certifier
    first = certifier.certified_state(replica.subnet)
    assert certifier.certified_state(replica.subnet) is first
    replica.subnet.execute_round()
    second = certifier.certified_state(replica.subnet)
    assert second is not first and second.height == first.height + 1


def test_pruned_certificates_share_the_signature() -> None:
    replica = Replica.open()
    canister = replica.create_canister(sender=OWNER)
    assert replica.key is not None and replica.node_key is not None
    certified = StateCertifier(replica.key, replica.node_key).certified_state(replica.subnet)
    root = replica.subnet.config.root_key
    full_root = reconstruct(certified.tree)
    for paths in ([], [("subnet",)], [("canister", canister.raw, "controllers")]):
        cert = verify_certificate(certified.certificate(paths), root)
        assert reconstruct(cert.tree) == full_root
        assert cert.time_ns == replica.subnet.time_ns
    data = verify_certificate(certified.data_certificate(canister.raw), root)
    assert lookup_value(["canister", canister.raw, "certified_data"], data.tree) == b""
    assert lookup_path(["canister", canister.raw, "controllers"],
                       data.tree).status is LookupStatus.UNKNOWN
    assert certified.data_certificate(canister.raw) is certified.data_certificate(canister.raw)
