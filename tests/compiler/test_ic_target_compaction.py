"""The IC target's stable-memory log compacted on our replica: an app overwrites one key
many times, an upgrade's reload compacts the log (its end moves back to the live bytes,
stable memory keeps its size) and every value reads back; later commits reuse the freed
space and an explicit `StableLog.compact` in an update does the same.

The module is built once (the shared cache ``<repo>/.build/ic``, see test_ic_target.py)
and the replica compiles it once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from icframework.candid import BLOB, NAT64, TEXT, Opt, Vec
from icframework.compiler.ic_target import IcBuild
from icframework.core import Principal
from icframework.replica.embedded import Replica
from tests.compiler.ic_target_support import (
    CONTROLLER,
    build_app,
    call,
    install,
    open_replica,
)
from tests.node import requires_node

pytestmark = requires_node  # wasm-merge (binaryen) runs on node

HEADER = 16  # the log's header: magic and end

APP = '''"""Values overwritten many times, for the IC target's log-compaction tests."""

from icframework.sdk import StableBTreeMap, current_backend, ic, nat64, query, update

values = StableBTreeMap[str, bytes]("values")


@update
def put(key: str, value: bytes) -> None:
    values[key] = value


@update
def remove(key: str) -> None:
    del values[key]


@query
def get(key: str) -> bytes | None:
    return values.get(key)


@query
def log_stats() -> list[nat64]:
    """The log's end, live and dead bytes, and stable memory's size in bytes."""
    backend = current_backend()
    store = backend.store
    return [store.end, store.live_bytes, store.dead_bytes, backend._ic0.stable_size() * 65536]


@update
def compact() -> list[nat64]:
    """The bytes the compaction freed, the instructions it took and their estimate."""
    store = current_backend().store
    estimate = store.compaction_instructions()
    before = ic.performance_counter(0)
    freed = store.compact()
    return [freed, ic.performance_counter(0) - before, estimate]
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> IcBuild:
    return build_app(tmp_path_factory, APP, "compactapp")


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replica]:
    yield from open_replica(tmp_path_factory)


@pytest.fixture(scope="module")
def canister(replica: Replica, built: IcBuild) -> Principal:
    return install(replica, built)


def put(replica: Replica, canister: Principal, key: str, value: bytes) -> None:
    call(replica, canister, "put", [TEXT, BLOB], [key, value], None)


def stats(replica: Replica, canister: Principal) -> tuple[int, int, int, int]:
    end, live, dead, stable = call(replica, canister, "log_stats", [], [], Vec(NAT64),
                                   query=True)
    return end, live, dead, stable


def assert_reads_back(replica: Replica, canister: Principal, model: dict[str, bytes]) -> None:
    for key, value in model.items():
        assert call(replica, canister, "get", [TEXT], [key], Opt(BLOB), query=True) == value


def test_an_upgrade_compacts_a_log_of_overwrites_and_every_value_reads_back(
    replica: Replica, canister: Principal, built: IcBuild
) -> None:
    rng = random.Random(21)
    model = {f"cold{i}": rng.randbytes(1000 + i) for i in range(4)}  # stay in place
    for key, value in model.items():
        put(replica, canister, key, value)
    for _ in range(40):  # 40 x 64 KiB: the log passes the 1 MiB minimum, nearly all dead
        model["hot"] = rng.randbytes(64 * 1024)
        put(replica, canister, "hot", model["hot"])
    model["late"] = rng.randbytes(3000)  # after the dead values: it moves
    put(replica, canister, "late", model["late"])
    put(replica, canister, "cold1", b"")
    call(replica, canister, "remove", [TEXT], ["cold1"], None)
    del model["cold1"]
    end, live, dead, stable = stats(replica, canister)
    assert end == HEADER + live + dead and dead > 20 * live

    replica.install_code(canister, built.gzipped, mode="upgrade", sender=CONTROLLER)
    assert stats(replica, canister) == (HEADER + live, live, 0, stable)  # never shrunk
    assert call(replica, canister, "get", [TEXT], ["cold1"], Opt(BLOB), query=True) is None
    assert_reads_back(replica, canister, model)

    # Later commits reuse the freed space; an update can compact explicitly.
    for _ in range(3):
        model["hot"] = rng.randbytes(64 * 1024)
        put(replica, canister, "hot", model["hot"])
    end, after, dead, _ = stats(replica, canister)  # values of the same size: live the same
    assert after == live and dead >= 3 * 64 * 1024 and end == HEADER + live + dead
    freed, instructions, estimate = call(replica, canister, "compact", [], [], Vec(NAT64))
    assert freed == dead and 0 < instructions <= estimate
    assert stats(replica, canister) == (HEADER + live, live, 0, stable)
    assert call(replica, canister, "compact", [], [], Vec(NAT64))[0] == 0
    assert_reads_back(replica, canister, model)

    replica.install_code(canister, built.gzipped, mode="upgrade", sender=CONTROLLER)
    assert stats(replica, canister) == (HEADER + live, live, 0, stable)
    assert_reads_back(replica, canister, model)
