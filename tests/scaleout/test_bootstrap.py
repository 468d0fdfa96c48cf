"""``manage.py cluster init`` / ``status`` / ``migrate`` against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import cbor2
import pytest

from icframework.candid import NAT64
from icframework.candid.binary import decode
from icframework.protocol import CertificateDelegation, verify_certificate
from icframework.replica import PostgresRegistry, WriterLease, subnet_range
from icframework.scaleout import (
    BootstrapError,
    ClusterConfig,
    cluster_status,
    init_cluster,
    load_keys,
    migrate_canister,
    writer_identity,
)
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import Answers, Client, ClusterProcesses, unique_names

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services


def _count(reply: bytes) -> int:
    (value,) = decode(reply, [NAT64])
    return int(value)


def test_init_is_idempotent_and_registers_keys_ranges_and_delegations(postgres_url: str) -> None:
    names = ["root", "app1", "app2"]
    assert init_cluster(postgres_url, names) == names
    keys = {name: load_keys(postgres_url, name) for name in names}
    assert init_cluster(postgres_url, names) == []
    assert {n: load_keys(postgres_url, n).bls.secret for n in names} == {
        n: k.bls.secret for n, k in keys.items()}
    with PostgresRegistry(postgres_url) as registry:
        records = {record.name: record for record in registry.subnets()}
        table = registry.routing_table()
    assert records["root"].is_root and not records["app1"].is_root
    root_key = records["root"].public_key_der
    for number, name in enumerate(names):
        record = records[name]
        assert record.public_key_der == keys[name].bls.public_key_der
        assert record.subnet_id == keys[name].subnet_id.raw
        assert table.ranges_of(name) == [subnet_range(number)]
        if name == "root":
            assert record.delegation is None
            continue
        assert record.delegation is not None
        fields = cbor2.loads(record.delegation)
        delegation = CertificateDelegation(keys[name].subnet_id, fields["certificate"])
        # The delegation is signed by the root key and vouches for this subnet's key.
        verify_certificate(delegation.certificate, root_key)
        _record, _keys, identity = writer_identity(postgres_url, name)
        assert identity.key.public_key_der == record.public_key_der
        assert identity.root_key_der == root_key
        assert (identity.first_canister_index, identity.last_canister_index) == (
            subnet_range(number).first, subnet_range(number).last)
    # A later init may add a subnet; the root must stay first.
    assert init_cluster(postgres_url, [*names, "app3"]) == ["app3"]
    with pytest.raises(BootstrapError, match="root subnet is 'root'"):
        init_cluster(postgres_url, ["app1", "root"])


def test_status_shows_lease_holders_and_migrate_needs_stopped_writers(postgres_url: str) -> None:
    init_cluster(postgres_url, ["root", "app1"])
    rows = {row.name: row for row in cluster_status(postgres_url)}
    assert rows["root"].holder is None and rows["root"].height == 0
    assert rows["app1"].ranges == [str(subnet_range(1))]
    with WriterLease(postgres_url, "app1", "w1", ttl_s=30) as lease:
        assert lease.acquire(blocking=False)
        rows = {row.name: row for row in cluster_status(postgres_url)}
        assert rows["app1"].holder == "w1" and rows["app1"].epoch == lease.epoch
        first = subnet_range(1).principals()[0]
        with pytest.raises(BootstrapError, match="running writer"):
            migrate_canister(postgres_url, first, "root")


def test_commands_init_twice_and_status(postgres_url: str, redis_url: str,
                                        tmp_path: Path) -> None:
    names = unique_names(2)
    with ClusterProcesses(tmp_path, ClusterConfig(postgres_url, redis_url, redis_url)) as procs:
        assert "registered " + ", ".join(names) in procs.init(names)
        assert "nothing new" in procs.init(names)
        status = procs.manage("cluster", "status")
    assert names[0] in status and names[1] in status and "no writer" in status
    assert str(subnet_range(1)) in status


def test_migrate_moves_a_canister_between_stopped_subnets(
        postgres_url: str, redis_url: str, tmp_path: Path) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, source, destination = names
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            writers = [procs.start_writer(name, f"{name}-w") for name in (source, destination)]
            client = Client(config, answers)
            counter = client.create_canister(source, 1)
            client.install(source, counter, wat_wasm("counter"))
            assert _count(client.update(source, counter, "inc")) == 1
            assert _count(client.update(source, counter, "inc")) == 2
            for writer in writers:
                assert writer.stop() == 0
            moved = procs.manage("cluster", "migrate", counter.to_text(), "--to", destination)
            assert f"from {source} to {destination}" in moved
            for name in (source, destination):
                procs.start_writer(name, f"{name}-w2")
            # Its state came along; the certificate verifies for it under the
            # destination's new delegation.
            assert _count(client.update(destination, counter, "inc")) == 3
            _body, request_id = client.send(source, counter, "inc", b"DIDL\x00\x00")
            assert answers.wait(request_id)["outcome"] == "refused"
            assert _count(client.update(destination, counter, "inc")) == 4
    finally:
        answers.close()
