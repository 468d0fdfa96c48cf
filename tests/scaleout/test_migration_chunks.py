"""A canister's Wasm chunk store moves with it: chunks uploaded on one subnet are listed
by ``stored_chunks`` and installed by ``install_chunked_code`` on the subnet it migrated
to (online with both writers running, and offline with both stopped), and the old
subnet keeps none of them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from icframework.candid import NAT64
from icframework.candid.binary import decode, encode
from icframework.core import Principal
from icframework.replica import PostgresStateStore
from icframework.replica.chunk_store import (
    CHUNK_HASH,
    CHUNK_STORE_ARGS,
    STORED_CHUNKS_RESULT,
    UPLOAD_CHUNK_ARGS,
    chunk_namespace,
    install_chunked_code_args,
)
from icframework.scaleout import ClusterConfig
from tests.replica.corpus import wat_wasm
from tests.scaleout.cluster_support import Answers, Client, ClusterProcesses, unique_names

pytest_plugins = ["tests.services"]
pytestmark = pytest.mark.services

MANAGEMENT = Principal.management_canister()
EMPTY = b"DIDL\x00\x00"


def _upload(client: Client, subnet: str, canister: Principal, wasm: bytes) -> list[bytes]:
    """Upload ``wasm`` in two chunks to ``canister``'s store; their hashes."""
    half = len(wasm) // 2
    hashes = []
    for chunk in (wasm[:half], wasm[half:]):
        reply = client.update(subnet, MANAGEMENT, "upload_chunk", encode(
            [UPLOAD_CHUNK_ARGS], [{"canister_id": canister, "chunk": chunk}]), ecid=canister)
        (result,) = decode(reply, [CHUNK_HASH])
        hashes.append(bytes(result["hash"]))
    return hashes


def _stored(client: Client, subnet: str, canister: Principal) -> list[bytes]:
    reply = client.update(subnet, MANAGEMENT, "stored_chunks", encode(
        [CHUNK_STORE_ARGS], [{"canister_id": canister}]), ecid=canister)
    (result,) = decode(reply, [STORED_CHUNKS_RESULT])
    return [bytes(entry["hash"]) for entry in result]


def _install_chunked(client: Client, subnet: str, canister: Principal, hashes: list[bytes],
                     wasm: bytes) -> None:
    client.update(subnet, MANAGEMENT, "install_chunked_code", encode(
        [install_chunked_code_args()], [{
            "mode": {"install": None}, "target_canister": canister, "store_canister": None,
            "chunk_hashes_list": [{"hash": h} for h in hashes],
            "wasm_module_hash": hashlib.sha256(wasm).digest(), "arg": EMPTY,
            "sender_canister_version": None}]), ecid=canister)


def _chunk_rows(url: str, subnet: str, canister: Principal) -> int:
    """The chunk-store rows of ``canister`` subnet ``subnet``'s committed state holds."""
    store = PostgresStateStore(url, subnet)
    try:
        return len(list(store.kv_scan(chunk_namespace(canister.raw))))
    finally:
        store.close()


@pytest.mark.parametrize("writers", ["running", "stopped"])
def test_the_chunk_store_moves_with_the_canister(
        postgres_url: str, redis_url: str, tmp_path: Path, writers: str) -> None:
    config = ClusterConfig(postgres_url, redis_url, redis_url)
    names = unique_names(3)
    _root, app1, app2 = names
    wasm = wat_wasm("counter")
    answers = Answers(redis_url, names)
    try:
        with ClusterProcesses(tmp_path, config) as procs:
            procs.init(names)
            first = [procs.start_writer(name, f"{name}-w1") for name in (app1, app2)]
            client = Client(config, answers)
            canister = client.create_canister(app1, 1)
            hashes = _upload(client, app1, canister, wasm)
            assert _stored(client, app1, canister) == hashes
            assert _chunk_rows(postgres_url, app1, canister) == 2

            if writers == "stopped":
                for writer in first:
                    assert writer.stop() == 0
            moved = procs.manage("cluster", "migrate", canister.to_text(), "--to", app2)
            assert f"from {app1} to {app2}" in moved
            if writers == "stopped":
                for name in (app1, app2):
                    procs.start_writer(name, f"{name}-w2")

            assert _chunk_rows(postgres_url, app1, canister) == 0
            assert _chunk_rows(postgres_url, app2, canister) == 2
            assert _stored(client, app2, canister) == hashes
            _install_chunked(client, app2, canister, hashes, wasm)
            (value,) = decode(client.update(app2, canister, "inc"), [NAT64])
            assert value == 1
    finally:
        answers.close()
