"""The chunk store and chunked install of the management canister, as the IC interface
specification defines them: ``upload_chunk``, ``stored_chunks``, ``clear_chunk_store`` and
``install_chunked_code`` (with a store canister), their controller checks, limits,
cycles and the IC's rejects, and the store surviving a restart.

The modules are the Motoko counter of the corpus padded with a custom section of
random bytes to over 2 MiB, the IC's ingress limit, so they cannot be installed with
one ``install_code`` message (raw and gzipped).
"""

from __future__ import annotations

import gzip
import hashlib
import random
from pathlib import Path
from typing import Any

import pytest

from icframework.candid import BLOB, NAT, PRINCIPAL
from icframework.candid.binary import decode, encode
from icframework.core import ErrorCode, Principal, encode_uleb128
from icframework.replica.chunk_store import (
    CHUNK_HASH,
    CHUNK_SIZE,
    CHUNK_STORE_ARGS,
    CHUNK_STORE_SIZE,
    STORED_CHUNKS_RESULT,
    UPLOAD_CHUNK_ARGS,
    chunk_namespace,
    install_chunked_code_args,
)
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from tests.node import requires_node
from tests.replica.corpus import motoko_wasm, run_motoko_build

OWNER = Principal.self_authenticating(b"chunk owner")
STRANGER = Principal.self_authenticating(b"someone else")
INGRESS_LIMIT = 2 * 1024 * 1024
EMPTY = encode([], [])


def padded(wasm: bytes, size: int, seed: int = 7) -> bytes:
    """``wasm`` with a custom section ``padding`` of random bytes, ``size`` bytes in all."""
    name = b"padding"
    filler = size - len(wasm) - 1 - 4 - 1 - len(name)
    payload = encode_uleb128(len(name)) + name + random.Random(seed).randbytes(filler)
    section = b"\x00" + encode_uleb128(len(payload)) + payload
    return wasm + section


@pytest.fixture(scope="module")
def large_wasm() -> bytes:
    wasm = padded(motoko_wasm("counter"), INGRESS_LIMIT + 700_000)
    assert len(wasm) > INGRESS_LIMIT
    return wasm


@pytest.fixture
def replica() -> Replica:
    return Replica.open()


@pytest.fixture
def canister(replica: Replica) -> Principal:
    return replica.create_canister(sender=OWNER)


def management(replica: Replica, method: str, arg: bytes, target: Principal,
               sender: Principal = OWNER) -> bytes:
    return replica.update(Principal.management_canister(), method, arg, sender=sender,
                          effective_canister_id=target)


def upload(replica: Replica, canister: Principal, chunk: bytes,
           sender: Principal = OWNER) -> bytes:
    arg = encode([UPLOAD_CHUNK_ARGS], [{"canister_id": canister, "chunk": chunk}])
    (result,) = decode(management(replica, "upload_chunk", arg, canister, sender), [CHUNK_HASH])
    digest: bytes = result["hash"]
    return digest


def stored(replica: Replica, canister: Principal, sender: Principal = OWNER) -> list[bytes]:
    arg = encode([CHUNK_STORE_ARGS], [{"canister_id": canister}])
    (result,) = decode(management(replica, "stored_chunks", arg, canister, sender),
                       [STORED_CHUNKS_RESULT])
    return [entry["hash"] for entry in result]


def clear(replica: Replica, canister: Principal, sender: Principal = OWNER) -> None:
    arg = encode([CHUNK_STORE_ARGS], [{"canister_id": canister}])
    management(replica, "clear_chunk_store", arg, canister, sender)


def install_chunked(replica: Replica, target: Principal, hashes: list[bytes],
                    module_hash: bytes, *, store: Principal | None = None,
                    mode: str = "install", sender: Principal = OWNER) -> None:
    arg = encode([install_chunked_code_args()], [{
        "mode": {mode: None}, "target_canister": target, "store_canister": store,
        "chunk_hashes_list": [{"hash": h} for h in hashes], "wasm_module_hash": module_hash,
        "arg": EMPTY, "sender_canister_version": None,
    }])
    management(replica, "install_chunked_code", arg, target, sender)


def upload_all(replica: Replica, canister: Principal, wasm: bytes) -> list[bytes]:
    return [upload(replica, canister, wasm[i : i + CHUNK_SIZE])
            for i in range(0, len(wasm), CHUNK_SIZE)]


def counter_value(replica: Replica, canister: Principal, method: str = "inc") -> int:
    call = replica.update if method == "inc" else replica.query
    (value,) = decode(call(canister, method, EMPTY, sender=OWNER), [NAT])
    result: int = value
    return result


def refused(call: Any, *args: Any, **kwargs: Any) -> CanisterError:
    with pytest.raises(CanisterError) as info:
        call(*args, **kwargs)
    return info.value


def test_module_over_the_ingress_limit_installs_from_chunks(
        replica: Replica, canister: Principal, large_wasm: bytes) -> None:
    hashes = upload_all(replica, canister, large_wasm)
    assert len(hashes) == 3
    assert hashes == [hashlib.sha256(large_wasm[i : i + CHUNK_SIZE]).digest()
                      for i in range(0, len(large_wasm), CHUNK_SIZE)]
    assert stored(replica, canister) == sorted(hashes)
    status = replica.canister_status(canister, sender=OWNER)
    assert status["memory_metrics"]["wasm_chunk_store_size"] == 3 * CHUNK_SIZE
    assert status["module_hash"] is None

    install_chunked(replica, canister, hashes, hashlib.sha256(large_wasm).digest())
    assert counter_value(replica, canister) == 1
    assert counter_value(replica, canister, "get") == 1
    status = replica.canister_status(canister, sender=OWNER)
    assert status["module_hash"] == hashlib.sha256(large_wasm).digest()
    # The store keeps its chunks until cleared (deploy tools clear it afterwards).
    assert stored(replica, canister) == sorted(hashes)
    clear(replica, canister)
    assert stored(replica, canister) == []
    assert replica.canister_status(
        canister, sender=OWNER)["memory_metrics"]["wasm_chunk_store_size"] == 0


def test_gzipped_module_installs_from_chunks_and_as_an_upgrade(
        replica: Replica, canister: Principal, large_wasm: bytes) -> None:
    replica.install_code(canister, motoko_wasm("counter"), sender=OWNER)
    assert counter_value(replica, canister) == 1
    gzipped = gzip.compress(large_wasm, mtime=0)
    assert len(gzipped) > INGRESS_LIMIT  # random padding does not compress
    hashes = upload_all(replica, canister, gzipped)
    install_chunked(replica, canister, hashes, hashlib.sha256(gzipped).digest(),
                    mode="upgrade")
    assert counter_value(replica, canister) == 2  # the heap was kept (Motoko persistence)
    status = replica.canister_status(canister, sender=OWNER)
    assert status["module_hash"] == hashlib.sha256(gzipped).digest()


def test_a_chunk_uploaded_twice_is_stored_once(replica: Replica, canister: Principal) -> None:
    first = upload(replica, canister, b"same bytes")
    cycles = replica.canister_status(canister, sender=OWNER)["cycles"]
    assert upload(replica, canister, b"same bytes") == first
    assert stored(replica, canister) == [first]
    assert replica.canister_status(canister, sender=OWNER)["cycles"] < cycles  # fee paid


def test_chunks_from_a_store_canister_of_the_same_subnet(
        replica: Replica, canister: Principal, large_wasm: bytes) -> None:
    store = replica.create_canister(sender=OWNER)
    hashes = upload_all(replica, store, large_wasm)
    install_chunked(replica, canister, hashes, hashlib.sha256(large_wasm).digest(), store=store)
    assert counter_value(replica, canister) == 1
    assert stored(replica, canister) == []
    assert stored(replica, store) == sorted(hashes)

    # A caller controlling the target but not the store canister is refused.
    other_store = replica.create_canister(sender=STRANGER)
    upload(replica, other_store, b"chunk", sender=STRANGER)
    shared = replica.create_canister(sender=OWNER, controllers=[OWNER, STRANGER])
    error = refused(install_chunked, replica, shared, [hashlib.sha256(b"chunk").digest()],
                    hashlib.sha256(b"chunk").digest(), store=other_store)
    assert error.error_code == ErrorCode.CANISTER_INVALID_CONTROLLER
    assert "Only controllers of canister" in error.message

    missing = Principal.from_canister_index(0x7FFF_FFFF)
    error = refused(install_chunked, replica, canister, hashes,
                    hashlib.sha256(large_wasm).digest(), store=missing, mode="reinstall")
    assert error.error_code == ErrorCode.CANISTER_NOT_FOUND
    assert "same subnet as the target canister" in error.message


def test_bad_inputs_get_the_ic_rejects_and_change_nothing(
        replica: Replica, canister: Principal) -> None:
    good = upload(replica, canister, b"\x00asm\x01\x00\x00\x00")
    before = replica.canister_status(canister, sender=OWNER)

    error = refused(upload, replica, canister, b"x" * (CHUNK_SIZE + 1))
    assert error.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert error.message == ("Error from Wasm chunk store: Wasm chunk size 1048577 exceeds "
                             "the maximum chunk size of 1048576.")

    error = refused(upload, replica, canister, b"chunk", sender=STRANGER)
    assert error.error_code == ErrorCode.CANISTER_INVALID_CONTROLLER
    for method in (stored, clear):
        error = refused(method, replica, canister, sender=STRANGER)
        assert error.error_code == ErrorCode.CANISTER_INVALID_CONTROLLER

    wrong = hashlib.sha256(b"something else").digest()
    error = refused(install_chunked, replica, canister, [good], wrong)
    assert error.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert error.message.startswith("Error from Wasm chunk store: Wasm module hash ")
    assert f"does not match given hash {wrong.hex()}" in error.message

    absent = hashlib.sha256(b"never uploaded").digest()
    error = refused(install_chunked, replica, canister, [good, absent], wrong)
    assert error.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert f"Chunk hash {absent.hex()} was not found" in error.message

    error = refused(install_chunked, replica, canister, [good[:31]], wrong)
    assert "The length is not 32" in error.message
    error = refused(install_chunked, replica, canister, [good], wrong[:16])
    assert "Invalid wasm hash" in error.message

    error = refused(install_chunked, replica, canister, [good],
                    hashlib.sha256(b"\x00asm\x01\x00\x00\x00").digest(), sender=STRANGER)
    assert error.error_code == ErrorCode.CANISTER_INVALID_CONTROLLER

    # The hash matches but the bytes are no module the IC accepts: install_code's reject.
    not_wasm = upload(replica, canister, b"not a module")
    error = refused(install_chunked, replica, canister, [not_wasm],
                    hashlib.sha256(b"not a module").digest())
    assert error.error_code == ErrorCode.CANISTER_INVALID_WASM

    after = replica.canister_status(canister, sender=OWNER)
    assert after["module_hash"] is None
    assert after["version"] == before["version"]
    assert sorted(stored(replica, canister)) == sorted([good, not_wasm])


def test_the_store_holds_at_most_chunk_store_size_chunks(
        replica: Replica, canister: Principal) -> None:
    for number in range(CHUNK_STORE_SIZE):
        upload(replica, canister, number.to_bytes(4, "big"))
    error = refused(upload, replica, canister, b"one too many")
    assert error.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert "maximum number of entries, 100" in error.message
    assert upload(replica, canister, (5).to_bytes(4, "big"))  # a stored chunk is still fine
    assert replica.canister_status(
        canister, sender=OWNER)["memory_metrics"]["wasm_chunk_store_size"] == 100 * CHUNK_SIZE
    clear(replica, canister)
    upload(replica, canister, b"one too many")


def test_upload_needs_the_cycles_for_the_fee_and_the_chunks_memory(replica: Replica) -> None:
    poor = replica.create_canister(sender=OWNER, cycles=1_000_000)
    error = refused(upload, replica, poor, b"chunk")
    assert error.error_code == ErrorCode.CANISTER_CONTRACT_VIOLATION
    assert error.message.startswith("Error from Wasm chunk store: Cannot upload chunk to "
                                    f"canister {poor.to_text()}. At least ")
    assert stored(replica, poor) == []


def test_uninstall_and_delete_empty_the_store(replica: Replica, canister: Principal) -> None:
    replica.install_code(canister, motoko_wasm("counter"), sender=OWNER)
    upload(replica, canister, b"chunk")
    replica.uninstall_code(canister, sender=OWNER)
    assert stored(replica, canister) == []

    digest = upload(replica, canister, b"chunk")
    assert replica.store.kv_get(chunk_namespace(canister.raw), digest) == b"chunk"
    replica.stop_canister(canister, sender=OWNER)
    replica.delete_canister(canister, sender=OWNER)
    assert replica.store.kv_get(chunk_namespace(canister.raw), digest) is None


def test_the_store_survives_a_restart(tmp_path: Path, large_wasm: bytes) -> None:
    with Replica.open(tmp_path) as replica:
        canister = replica.create_canister(sender=OWNER)
        hashes = upload_all(replica, canister, large_wasm)
    with Replica.open(tmp_path) as replica:
        assert stored(replica, canister) == sorted(hashes)
        install_chunked(replica, canister, hashes, hashlib.sha256(large_wasm).digest())
        assert counter_value(replica, canister) == 1
    with Replica.open(tmp_path) as replica:
        assert counter_value(replica, canister, "get") == 1
        assert replica.canister_status(
            canister, sender=OWNER)["memory_metrics"]["wasm_chunk_store_size"] == 3 * CHUNK_SIZE


def test_a_gzipped_module_unpacking_past_100_mib_is_refused(
        replica: Replica, canister: Principal) -> None:
    bomb = gzip.compress(b"\x00asm\x01\x00\x00\x00" + bytes(100 * 1024 * 1024), mtime=0)
    assert len(bomb) < CHUNK_SIZE
    digest = upload(replica, canister, bomb)
    error = refused(install_chunked, replica, canister, [digest], hashlib.sha256(bomb).digest())
    assert error.error_code == ErrorCode.CANISTER_INVALID_WASM
    assert "decompresses to more than 104857600 bytes" in error.message


UPLOADER = """
persistent actor {
  type Hash = { hash : Blob };
  transient let ic = actor "aaaaa-aa" : actor {
    upload_chunk : ({ canister_id : Principal; chunk : Blob }) -> async Hash;
    stored_chunks : ({ canister_id : Principal }) -> async [Hash];
  };
  public func upload(target : Principal, chunk : Blob) : async Blob {
    (await ic.upload_chunk({ canister_id = target; chunk })).hash
  };
  public func stored(target : Principal) : async Nat {
    (await ic.stored_chunks({ canister_id = target })).size()
  };
};
"""


@requires_node
def test_a_canister_manages_its_own_chunk_store(replica: Replica, canister: Principal) -> None:
    answer = run_motoko_build({"/main.mo": UPLOADER}, "/main.mo", name="uploader")
    replica.install_code(canister, bytes.fromhex(answer["wasm_hex"]), sender=OWNER)
    (own,) = decode(replica.update(canister, "upload", encode(
        [PRINCIPAL, BLOB], [canister, b"from the canister"]), sender=OWNER), [BLOB])
    assert own == hashlib.sha256(b"from the canister").digest()
    assert stored(replica, canister) == [own]
    (size,) = decode(replica.update(canister, "stored", encode([PRINCIPAL], [canister]),
                                    sender=OWNER), [NAT])
    assert size == 1
    # Another canister's store is its controllers' (and its own), not this canister's.
    other = replica.create_canister(sender=OWNER)
    error = refused(replica.update, canister, "upload",
                    encode([PRINCIPAL, BLOB], [other, b"x"]), sender=OWNER)
    assert f"Only controllers of canister {other.to_text()}" in error.message
    assert stored(replica, other) == []
