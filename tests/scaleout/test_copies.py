"""Read-only copies: a front end's copy of a subnet serves what the writer committed, with
the writer's certificates byte for byte, and refuses to be written to."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from icframework.core import Principal
from icframework.protocol import BlsKeyPair
from icframework.replica import PostgresStateStore, Replica, subnet_range
from icframework.replica.certification import SubnetIdentity
from icframework.replica.store import RoundChanges
from icframework.scaleout.copies import CopyError, ReadOnlyCopy
from tests.replica.wat_counter import counter_wasm, nat64_reply

pytest_plugins = ["tests.services"]

CONTROLLER = Principal.self_authenticating(b"copies test controller")


@dataclass(frozen=True)
class Source:
    database_url: str
    redis_url: str | None = None


def writer_with_counter(url: str) -> tuple[Replica, Principal]:
    writer = Replica.open(store=PostgresStateStore(url, "app1"))
    counter = writer.create_canister(sender=CONTROLLER)
    writer.install_code(counter, counter_wasm(), sender=CONTROLLER)
    return writer, counter


@pytest.mark.services
def test_a_copy_certifies_byte_identically_to_the_writer(postgres_url: str) -> None:
    writer, counter = writer_with_counter(postgres_url)
    request_id = writer.submit(counter, "inc")
    writer.wait(request_id)
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    try:
        assert copy.sync() == writer.height
        paths = [("request_status", request_id), ("canister", counter.raw, "certified_data")]
        assert copy.run(lambda r: r.certified_state().certificate(paths)) == \
            writer.certified_state().certificate(paths)
        assert copy.replica.subnet_id == writer.subnet_id
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(1)

        for _ in range(2):
            writer.update(counter, "inc")
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(1)  # not yet synced
        assert copy.sync() == writer.height
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(3)
        assert copy.run(lambda r: r.certified_state().certificate(paths)) == \
            writer.certified_state().certificate(paths)
    finally:
        copy.stop()
        writer.close()


@pytest.mark.services
def test_a_copy_marked_after_a_call_elsewhere_catches_up_at_its_next_read(
        postgres_url: str) -> None:
    """Causal reads across subnets: a call answered by another subnet may have changed
    this one (its inter-canister calls committed here first); once marked with the
    answer's arrival, the copy's next read catches up without waiting for a refresh,
    and later reads cost nothing more."""
    writer, counter = writer_with_counter(postgres_url)
    copy = ReadOnlyCopy("app1", Source(postgres_url), refresh_ms=3_600_000)
    try:
        copy.sync()
        writer.update(counter, "inc")  # committed here before the other subnet answered
        answered = time.monotonic()
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(0)  # not marked
        copy.require_rounds_before(answered)
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(1)
        syncs = copy.refreshes
        assert asyncio.run(copy.call(lambda r: r.query(counter, "get"))) == nat64_reply(1)
        assert copy.refreshes == syncs

        writer.update(counter, "inc")
        copy.require_rounds_before(time.monotonic())
        assert asyncio.run(copy.call(lambda r: r.query(counter, "get"))) == nat64_reply(2)
        copy.require_rounds_before(answered)  # an older moment: already caught up
        assert copy.run(lambda r: r.height) == writer.height
    finally:
        copy.stop()
        writer.close()


@pytest.mark.services
def test_a_copy_refuses_rounds_and_writes(postgres_url: str) -> None:
    writer, counter = writer_with_counter(postgres_url)
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    try:
        height = copy.sync()
        with pytest.raises(CopyError, match="refused a commit"):
            copy.run(lambda r: r.update(counter, "inc"))
        with pytest.raises(CopyError, match="refused a commit"):
            copy.replica.store.commit_round(RoundChanges(height=height + 1, time_ns=1))
        assert copy.height == height
        assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(0)
    finally:
        copy.stop()
        writer.close()


@pytest.mark.services
def test_a_copy_without_a_writer_says_so(postgres_url: str) -> None:
    copy = ReadOnlyCopy("app2", Source(postgres_url))
    with pytest.raises(CopyError, match="no stored keys"):
        copy.sync()
    with pytest.raises(CopyError, match="no state yet"):
        _ = copy.replica
    copy.stop()


@pytest.mark.services
def test_a_started_copy_follows_round_notices(postgres_url: str, redis_url: str) -> None:
    """With the refresher running (Redis notices and polling), the copy reaches each new
    height of the writer within its staleness bound."""
    import redis

    writer, counter = writer_with_counter(postgres_url)
    copy = ReadOnlyCopy("app1", Source(postgres_url, redis_url), refresh_ms=20).start()
    client = redis.Redis.from_url(redis_url)
    try:
        for expected in range(1, 4):
            writer.update(counter, "inc")
            client.publish("icframework:rounds:app1", str(writer.height))
            assert copy.wait_for_height(writer.height, timeout=30)
            assert copy.run(lambda r: r.query(counter, "get")) == nat64_reply(expected)
        assert copy.refreshes >= 4
    finally:
        copy.stop()
        writer.close()
        client.close()


@pytest.mark.services
def test_a_copy_certifies_with_the_writers_renewed_delegation(postgres_url: str) -> None:
    """A delegated subnet's copy serves the writer's delegation, and the renewed one once
    the writer renewed it, so its certificates stay byte-identical."""
    root_key, key = BlsKeyPair.generate(), BlsKeyPair.generate()
    app = subnet_range(1)
    identity = SubnetIdentity.delegated(root_key, key, first_canister_index=app.first,
                                        last_canister_index=app.last, time_ns=10**18)
    writer = Replica.open(store=PostgresStateStore(postgres_url, "app1"), identity=identity)
    counter = writer.create_canister(sender=CONTROLLER)
    writer.install_code(counter, counter_wasm(), sender=CONTROLLER)
    copy = ReadOnlyCopy("app1", Source(postgres_url))
    paths = [("canister", counter.raw, "certified_data")]
    try:
        copy.sync()
        before = copy.run(lambda r: r.certified_state().certificate(paths))
        assert before == writer.certified_state().certificate(paths)
        writer.set_delegation(identity.fresh_delegation(root_key, 2 * 10**18))
        writer.update(counter, "inc")
        copy.sync()
        after = copy.run(lambda r: r.certified_state().certificate(paths))
        assert after == writer.certified_state().certificate(paths)
        assert copy.replica.identity.delegation == writer.identity.delegation
        assert copy.replica.identity.delegation != identity.delegation
    finally:
        copy.stop()
        writer.close()
