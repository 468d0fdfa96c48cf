"""Chunked install over real HTTP: a module over the 2 MiB ingress limit, which one
``install_code`` message cannot carry, installed through the chunk store by unmodified
``@dfinity/agent`` (tests/js/chunked_install.mjs) and by the Python agent
(`ManagementCanister.install_large_code`) against ``manage.py runreplica``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from icframework.agent import Agent, HttpError, ManagementCanister, RejectError
from icframework.candid import NAT, decode, encode
from icframework.identity import Ed25519Identity
from tests.agent.live_replica import running_replica
from tests.node import requires_node, run_node
from tests.replica.corpus import motoko_wasm
from tests.replica.test_chunked_install import INGRESS_LIMIT, padded

EMPTY = encode([], [])


@pytest.fixture(scope="module")
def large_wasm() -> bytes:
    return padded(motoko_wasm("counter"), INGRESS_LIMIT + 1_500_000, seed=11)


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica") / "state",
                         startup_seconds=60) as url:
        yield url


@requires_node
def test_agent_js_uploads_chunks_and_installs(replica_url: str, large_wasm: bytes) -> None:
    result: dict[str, Any] = run_node(
        "chunked_install.mjs", {"host": replica_url, "wasm": large_wasm.hex()}, timeout=300)
    assert result["ok"], result
    assert result["moduleBytes"] > INGRESS_LIMIT
    assert result["directInstall"]["refused"], result["directInstall"]
    # Refused with the 413 and its text (the replica lingers over the body the agent is
    # still sending before it closes, so undici never sees the connection reset).
    refusal = result["directInstall"]["message"]
    assert "413" in refusal, result["directInstall"]
    assert "larger than the maximum of 2097152 bytes" in refusal, result["directInstall"]
    assert len(result["uploadedHashes"]) == 4
    assert result["uploadedHashes"] == result["expectedHashes"]
    assert result["storedHashes"] == sorted(result["expectedHashes"])
    assert result["wrongHash"]["refused"]
    assert "IC0504" in result["wrongHash"]["message"]
    assert "does not match given hash" in result["wrongHash"]["message"]
    assert result["storedAfterClear"] == 0
    assert (result["inc"], result["get"]) == ("1", "1")


def test_python_agent_installs_a_large_module(replica_url: str, large_wasm: bytes) -> None:
    with Agent(replica_url, identity=Ed25519Identity.generate(), fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        with pytest.raises(HttpError) as refused:
            management.install_code(canister, large_wasm)
        assert refused.value.status == 413
        assert "go through upload_chunk and install_chunked_code" in refused.value.body
        lines: list[str] = []
        management.install_large_code(canister, large_wasm, progress=lines.append)
        assert lines == [f"chunk {n}/4: {size:,} bytes" for n, size in
                         ((1, 1 << 20), (2, 1 << 20), (3, 1 << 20),
                          (4, len(large_wasm) - 3 * (1 << 20)))]
        assert management.stored_chunks(canister) == []
        status = management.canister_status(canister)
        assert status.module_hash == hashlib.sha256(large_wasm).digest()
        assert decode(agent.update(canister, "inc", EMPTY), [NAT]) == (1,)

        # Upgrading with chunks the store still holds sends only the missing ones.
        first = management.upload_chunk(canister, large_wasm[: 1 << 20])
        assert management.stored_chunks(canister) == [first]
        lines.clear()
        management.install_large_code(canister, large_wasm, mode="upgrade",
                                      progress=lines.append)
        assert [line.split(":")[0] for line in lines] == ["chunk 2/4", "chunk 3/4", "chunk 4/4"]
        assert decode(agent.update(canister, "inc", EMPTY), [NAT]) == (2,)

        stranger = Agent(replica_url, identity=Ed25519Identity.generate(), fetch_root_key=True)
        with stranger, pytest.raises(RejectError) as info:
            ManagementCanister(stranger).upload_chunk(canister, b"chunk")
        assert info.value.error_code == "IC0512"
