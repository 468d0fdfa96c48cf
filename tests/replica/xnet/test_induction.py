"""Induction of slices into a subnet: requests for canisters it does not host and
requests beyond a sender's input queue capacity are answered through the reverse
stream with their cycles; the rest execute in stream order. WAT counter canister."""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from icframework.candid.binary import encode
from icframework.core import ErrorCode, Principal, RejectCode
from icframework.protocol import CertificateError, verify_certificate
from icframework.replica.cluster import Cluster
from icframework.replica.input_queues import INPUT_QUEUE_CAPACITY
from icframework.replica.management import CANISTER_ID
from icframework.replica.messages import CallOrigin, OriginKind, Request, Response
from icframework.replica.registry import subnet_range
from icframework.replica.xnet import StreamSlice, management_target
from tests.replica.test_canister_ids import DEPOSITOR_WAT
from tests.replica.wat_counter import counter_wasm, nat64_reply

CALLER = Principal.from_canister_index(subnet_range(0).first + 9).raw
"""A canister of the root subnet (as the cluster routes it); the slices come from there."""


def _request(receiver: bytes, number: int, method: str = "inc") -> Request:
    origin = CallOrigin(OriginKind.CANISTER, canister_id=CALLER, callback_id=number)
    return Request(CALLER, receiver, method, b"DIDL\x00\x00", origin, cycles=1_000 + number)


def _answers(cluster: Cluster) -> list[Response]:
    stream = cluster.subnet("app1").xnet.streams["root"]
    answers = [stream.get(i) for i in range(stream.begin, stream.end)]
    assert all(isinstance(a, Response) for a in answers)
    return answers  # type: ignore[return-value]


def test_requests_execute_in_order_and_missing_callees_are_answered() -> None:
    cluster = Cluster(("root", "app1"))
    app1 = cluster.replica("app1")
    counter = app1.create_canister()
    app1.install_code(counter, counter_wasm())
    absent = Principal.from_canister_index(subnet_range(1).first + 500).raw
    requests = [_request(counter.raw, 0), _request(absent, 1), _request(counter.raw, 2)]
    piece = StreamSlice("root", "app1", 0, tuple(requests), 0)
    assert app1.subnet.induct_slice(piece) == 3
    assert app1.subnet.induct_slice(piece) == 0
    assert app1.subnet.has_work()
    app1.subnet.run_until_idle()
    answers = _answers(cluster)
    by_callback = {a.origin.callback_id: a for a in answers}
    assert by_callback[0].reply == nat64_reply(1)
    assert by_callback[2].reply == nat64_reply(2)
    missing = by_callback[1]
    assert missing.reject is not None
    assert missing.reject.code is RejectCode.DESTINATION_INVALID
    assert missing.reject.error_code is ErrorCode.CANISTER_NOT_FOUND
    assert missing.reject.message == f"Canister {Principal(absent).to_text()} not found"
    assert missing.refund == 1_001
    assert app1.subnet.signals() == {"root": 3}
    # The answers leave in the next slice to root, with the signal.
    (back,) = app1.subnet.outgoing_slices()
    assert (back.destination, back.begin, back.signal) == ("root", 0, 3)
    assert list(back.messages) == answers


def test_requests_beyond_the_queue_capacity_are_refused_with_their_cycles() -> None:
    cluster = Cluster(("root", "app1"))
    app1 = cluster.replica("app1")
    counter = app1.create_canister()
    app1.install_code(counter, counter_wasm())
    count = INPUT_QUEUE_CAPACITY + 2
    piece = StreamSlice("root", "app1", 0,
                        tuple(_request(counter.raw, n) for n in range(count)), 0)
    assert app1.subnet.induct_slice(piece) == count
    app1.subnet.execute_round()
    refused = [a for a in _answers(cluster) if a.reject is not None]
    assert [a.origin.callback_id for a in refused] == [count - 2, count - 1]
    for answer in refused:
        assert answer.reject is not None
        assert answer.reject.code is RejectCode.SYS_TRANSIENT
        assert answer.reject.error_code is ErrorCode.CANISTER_QUEUE_FULL
        assert f"has {INPUT_QUEUE_CAPACITY} requests of" in answer.reject.message
        assert answer.refund == 1_000 + answer.origin.callback_id
    app1.subnet.run_until_idle()
    assert app1.query(counter, "get") == nat64_reply(INPUT_QUEUE_CAPACITY)
    assert app1.subnet.queues.requests_from(counter.raw, CALLER) == 0


def test_without_routing_a_subnet_rejects_unknown_callees_at_once() -> None:
    cluster = Cluster(("root",))
    subnet = cluster.subnet("root")
    subnet.routing = None
    elsewhere = Principal.from_canister_index(subnet_range(1).first).raw
    assert subnet.remote_subnet(elsewhere) is None
    subnet.send_request(_request(elsewhere, 4))
    assert subnet.xnet.streams == {}
    assert subnet.queues.has_messages(CALLER)


def test_a_management_call_about_a_remote_canister_runs_on_its_subnet() -> None:
    cluster = Cluster(("root", "app1"))
    root, app1 = cluster.replica("root"), cluster.replica("app1")
    depositor = root.create_canister()
    root.install_code(depositor, bytes(wasmtime.wat2wasm(DEPOSITOR_WAT)))
    target = app1.create_canister(cycles=10**12)
    arg = encode([CANISTER_ID], [{"canister_id": target}])
    before = app1.subnet.canister_state.states[target.raw].cycles
    reply = root.update(depositor, "deposit", (5_000_000).to_bytes(16, "little") + arg)
    assert reply == b"ok"
    assert app1.subnet.canister_state.states[target.raw].cycles == before + 5_000_000
    assert app1.subnet.signals() == {"root": 1}
    # The root subnet's management canister never saw it (it hosts no such canister).
    absent = Principal.from_canister_index(subnet_range(1).first + 300)
    missing = encode([CANISTER_ID], [{"canister_id": absent}])
    answer = root.update(depositor, "deposit", (7).to_bytes(16, "little") + missing)
    assert absent.to_text() in answer.decode()
    assert app1.subnet.signals() == {"root": 2}
    assert management_target("raw_rand", b"DIDL\x00\x00") is None
    assert management_target("canister_status", b"garbage") is None
    assert management_target("canister_status", arg) == target.raw


def test_each_subnet_certifies_under_the_root_key(tmp_path: Path) -> None:
    cluster = Cluster(("root", "app1", "app2"), tmp_path)
    canisters = {name: cluster.create_canister(name) for name in cluster.names}
    for name, canister in canisters.items():
        replica = cluster.replica(name)
        certificate = replica.certified_state().data_certificate(canister.raw)
        parsed = verify_certificate(certificate, cluster.root_key, canister_id=canister)
        assert (parsed.delegation is None) == (name == "root")
        other = canisters["app2" if name != "app2" else "app1"]
        if name != "root":
            with pytest.raises(CertificateError):
                verify_certificate(certificate, cluster.root_key, canister_id=other)
    ids = {name: cluster.replica(name).subnet_id for name in cluster.names}
    assert cluster.registry.root().name == "root"
    for number, name in enumerate(cluster.names):
        record = cluster.registry.subnet(name)
        assert record.subnet_id == ids[name].raw
        assert (record.delegation is None) == record.is_root == (name == "root")
        assert cluster.routing.ranges_of(name) == [subnet_range(number)]
    cluster.close()
    again = Cluster(("root", "app1", "app2"), tmp_path)
    assert {name: again.replica(name).subnet_id for name in again.names} == ids
    assert again.replica("app1").identity.delegation is not None
    again.close()


def test_a_subnet_speaks_only_for_its_own_canisters() -> None:
    cluster = Cluster(("root", "app1", "app2"))
    app1 = cluster.replica("app1")
    counter = app1.create_canister()
    app1.install_code(counter, counter_wasm())
    on_app2 = Principal.from_canister_index(subnet_range(2).first + 3).raw
    forged = Request(on_app2, counter.raw, "inc", b"DIDL\x00\x00",
                     CallOrigin(OriginKind.CANISTER, canister_id=on_app2, callback_id=1))
    genuine = _request(counter.raw, 2)
    piece = StreamSlice("root", "app1", 0, (forged, genuine), 0)
    assert app1.subnet.induct_slice(piece) == 2
    app1.subnet.run_until_idle()
    assert app1.subnet.xnet.dropped == 1
    assert app1.query(counter, "get") == nat64_reply(1)
    assert [a.origin.callback_id for a in _answers(cluster)] == [2]
    assert "app2" not in app1.subnet.xnet.streams
