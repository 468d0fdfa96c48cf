"""Each canister's Wasm chunk store and the management methods that use it.

The IC lets a module too large for one ingress message (2 MiB) be installed in pieces:
``upload_chunk`` stores a chunk of at most 1 MiB (`CHUNK_SIZE`) in the chunk store of a
canister and answers its SHA-256; ``stored_chunks`` lists the hashes, ``clear_chunk_store``
empties the store, and ``install_chunked_code`` concatenates the chunks a list of hashes
names, checks the result's SHA-256 against ``wasm_module_hash`` and installs it exactly as
``install_code`` would (raw or gzipped module). The rules are the IC interface
specification's (management canister: ``upload_chunk``, ``clear_chunk_store``,
``stored_chunks``, ``install_chunked_code``) and the replica's messages and reject codes
are the IC's: a chunk-store refusal is IC0504 ("Error from Wasm chunk store: ...").

How it works: the list of chunk hashes is part of the canister's record
(`CanisterState.chunk_hashes`), so it is certified, checkpointed and copied like the rest
of the record; the chunks themselves live in the state store's key/value data, one
namespace per canister (`chunk_namespace`), written in the round that uploads them
(`ChunkData`) and read back only when a module is assembled. A store holds at most
`CHUNK_STORE_SIZE` chunks and each counts as `CHUNK_SIZE` bytes of the canister's memory
(the IC charges storage for 1 MiB per chunk whatever its length). Uninstalling or
deleting the canister empties its store, as on the IC.
"""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Any

from icframework.candid import BLOB, NAT64, PRINCIPAL, Field, Opt, Record, Vec
from icframework.candid.binary import encode
from icframework.core import ErrorCode, Principal
from icframework.replica.errors import CanisterError
from icframework.replica.messages import Request
from icframework.replica.state import CanisterState
from icframework.replica.store import RoundChanges, StateStore

if TYPE_CHECKING:
    from icframework.candid import CandidType
    from icframework.replica.canisters import Canisters
    from icframework.replica.management import SubnetServices

__all__ = [
    "CHUNK_HASH",
    "CHUNK_SIZE",
    "CHUNK_STORE_SIZE",
    "MAX_CHUNKS_IN_LARGE_WASM",
    "UPLOAD_CHUNK_INSTRUCTIONS",
    "ChunkData",
    "ChunkStoreMethods",
    "chunk_namespace",
    "install_chunked_code_args",
]

#: The largest chunk ``upload_chunk`` accepts, in bytes (1 MiB, the IC's ``CHUNK_SIZE``).
CHUNK_SIZE = 1024 * 1024
#: The most chunks one canister's store holds: the IC's store capacity is the largest
#: module (100 MiB) and every chunk counts as `CHUNK_SIZE` bytes, so 100 entries.
CHUNK_STORE_SIZE = 100
#: The most hashes one ``install_chunked_code`` may list (the interface spec's
#: ``MAX_CHUNKS_IN_LARGE_WASM``): as many chunks as make the largest module, 100 MiB.
MAX_CHUNKS_IN_LARGE_WASM = 100
#: Instructions charged per ``upload_chunk`` (the IC's application-subnet setting,
#: ``upload_wasm_chunk_instructions``), paid in cycles at the execution rate.
UPLOAD_CHUNK_INSTRUCTIONS = 1_000_000_000

HASH_BYTES = 32
KV_CHUNK_PREFIX = "chunk:"

CHUNK_HASH = Record([Field("hash", BLOB)])
UPLOAD_CHUNK_ARGS = Record([Field("canister_id", PRINCIPAL), Field("chunk", BLOB)])
CHUNK_STORE_ARGS = Record([Field("canister_id", PRINCIPAL)])
STORED_CHUNKS_RESULT = Vec(CHUNK_HASH)


@functools.cache
def install_chunked_code_args() -> CandidType:
    """The ``install_chunked_code_args`` record of ``ic.did`` (its ``mode`` is
    ``install_code``'s, defined by the management canister module that imports this one)."""
    from icframework.replica.management import INSTALL_MODE

    return Record(
        [
            Field("mode", INSTALL_MODE),
            Field("target_canister", PRINCIPAL),
            Field("store_canister", Opt(PRINCIPAL)),
            Field("chunk_hashes_list", Vec(CHUNK_HASH)),
            Field("wasm_module_hash", BLOB),
            Field("arg", BLOB),
            Field("sender_canister_version", Opt(NAT64)),
        ]
    )


def chunk_namespace(canister_id: bytes) -> str:
    """The state store namespace holding the chunks of ``canister_id``'s store."""
    return KV_CHUNK_PREFIX + canister_id.hex()


def chunk_store_error(message: str) -> CanisterError:
    """IC0504 with the IC's wording for chunk store refusals."""
    return CanisterError(ErrorCode.CANISTER_CONTRACT_VIOLATION,
                         f"Error from Wasm chunk store: {message}.")


class ChunkData:
    """The chunks of every canister's store: written in the round that uploads them,
    read from the state store when a module is assembled.

    Only the writes of the current round are held in memory (at most a round's uploads);
    `write_changes` hands them to the round's commit.
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._staged: dict[tuple[str, bytes], bytes | None] = {}

    def put(self, canister_id: bytes, chunk_hash: bytes, chunk: bytes) -> None:
        """Store ``chunk`` under its hash in ``canister_id``'s namespace."""
        self._staged[(chunk_namespace(canister_id), chunk_hash)] = chunk

    def get(self, canister_id: bytes, chunk_hash: bytes) -> bytes | None:
        """The chunk with ``chunk_hash`` of ``canister_id``'s store, or None."""
        key = (chunk_namespace(canister_id), chunk_hash)
        if key in self._staged:
            return self._staged[key]
        return self.store.kv_get(*key)

    def drop(self, canister_id: bytes, hashes: list[bytes]) -> None:
        """Forget the chunks ``hashes`` of ``canister_id``'s store."""
        namespace = chunk_namespace(canister_id)
        for chunk_hash in hashes:
            self._staged[(namespace, chunk_hash)] = None

    def write_changes(self, changes: RoundChanges) -> None:
        """Add the staged puts and deletions to ``changes`` and forget them."""
        for key, value in self._staged.items():
            if value is None:
                changes.kv_puts.pop(key, None)
                changes.kv_deletes.add(key)
            else:
                changes.kv_deletes.discard(key)
                changes.kv_puts[key] = value
        self._staged.clear()


class ChunkStoreMethods:
    """The chunk store methods of the management canister (mixed into it).

    Uses the management canister's subnet services, its argument decoding, its controller
    check and its ``install_code`` path (`_install_code`).
    """

    subnet: SubnetServices
    canisters: Canisters

    def _decode(self, request: Request, arg_type: CandidType) -> Any:
        raise NotImplementedError

    def _controlled(self, request: Request, canister: Principal) -> CanisterState:
        raise NotImplementedError

    def _install_code(self, request: Request, args: dict[str, Any]) -> int:
        raise NotImplementedError

    def _controlled_or_self(self, request: Request, canister: Principal) -> CanisterState:
        """The canister's state if the caller controls it or is the canister itself."""
        if request.sender == canister.raw:
            return self.canisters.canister(canister.raw)
        return self._controlled(request, canister)

    def _m_upload_chunk(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, UPLOAD_CHUNK_ARGS)
        state = self._controlled_or_self(request, args["canister_id"])
        chunk: bytes = args["chunk"]
        chunk_hash = hashlib.sha256(chunk).digest()
        new = chunk_hash not in state.chunk_hashes
        if new and len(chunk) > CHUNK_SIZE:
            raise chunk_store_error(
                f"Wasm chunk size {len(chunk)} exceeds the maximum chunk size of {CHUNK_SIZE}")
        if new and len(state.chunk_hashes) >= CHUNK_STORE_SIZE:
            raise chunk_store_error(
                "Wasm chunk store has already reached maximum capacity of "
                f"{CHUNK_STORE_SIZE * CHUNK_SIZE} bytes or the maximum number of entries, "
                f"{CHUNK_STORE_SIZE}; clear it with clear_chunk_store")
        fee = self._upload_fee(state, CHUNK_SIZE if new else 0)
        if new:
            state.chunk_hashes.append(chunk_hash)
            self.canisters.chunks.put(state.canister_id, chunk_hash, chunk)
        state.cycles -= fee
        state.cycles_consumed += fee
        self.canisters.mark_dirty(state.canister_id)
        return encode([CHUNK_HASH], [{"hash": chunk_hash}]), request.cycles

    def _upload_fee(self, state: CanisterState, added_bytes: int) -> int:
        """The fee of an upload, in cycles; raises `CanisterError` IC0504 unless the canister
        pays it and stays above its freezing threshold with ``added_bytes`` more memory."""
        fees = self.subnet.config.fees
        fee = fees.execution(UPLOAD_CHUNK_INSTRUCTIONS)
        memory = self.canisters.memory_usage(state.canister_id) + added_bytes
        threshold = fees.freezing_threshold_cycles(
            max(memory, state.settings.memory_allocation), state.settings.compute_allocation,
            state.settings.freezing_threshold)
        if state.cycles < fee + threshold:
            raise chunk_store_error(
                f"Cannot upload chunk to canister {Principal(state.canister_id).to_text()}. At "
                f"least {fee + threshold - state.cycles} additional cycles are required (the "
                f"upload fee is {fee}, the freezing threshold with the chunk {threshold})")
        return fee

    def _m_clear_chunk_store(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CHUNK_STORE_ARGS)
        state = self._controlled_or_self(request, args["canister_id"])
        self.clear_chunks(state)
        return encode([], []), request.cycles

    def clear_chunks(self, state: CanisterState) -> None:
        """Empty the chunk store of ``state``'s canister (also on uninstall)."""
        if state.chunk_hashes:
            self.canisters.chunks.drop(state.canister_id, state.chunk_hashes)
            state.chunk_hashes = []
            self.canisters.mark_dirty(state.canister_id)

    def _m_stored_chunks(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, CHUNK_STORE_ARGS)
        state = self._controlled_or_self(request, args["canister_id"])
        hashes = [{"hash": h} for h in sorted(state.chunk_hashes)]
        return encode([STORED_CHUNKS_RESULT], [hashes]), request.cycles

    def _m_install_chunked_code(self, request: Request) -> tuple[bytes, int]:
        args = self._decode(request, install_chunked_code_args())
        target: Principal = args["target_canister"]
        store_id: Principal = args["store_canister"] or target
        self._controlled(request, target)
        if store_id.raw not in self.canisters.states:
            raise CanisterError(
                ErrorCode.CANISTER_NOT_FOUND,
                f"Canister {store_id.to_text()} not found on the subnet of canister "
                f"{target.to_text()}: the store canister of install_chunked_code must be on the "
                "same subnet as the target canister",
            )
        store = self._controlled_or_self(request, store_id)
        wasm = self._assemble(store, args["chunk_hashes_list"], args["wasm_module_hash"])
        install_args = {
            "mode": args["mode"], "canister_id": target, "wasm_module": wasm,
            "arg": args["arg"], "sender_canister_version": args["sender_canister_version"],
        }
        self._install_code(request, install_args)
        # Assembling costs one instruction per byte, every chunk counted at full size.
        state = self.canisters.canister(target.raw)
        fees = self.subnet.config.fees
        cost = fees.execution(len(args["chunk_hashes_list"]) * CHUNK_SIZE) - fees.execution(0)
        cost = min(cost, state.cycles)
        state.cycles -= cost
        state.cycles_consumed += cost
        return encode([], []), request.cycles

    def _assemble(self, store: CanisterState, hashes: list[dict[str, bytes]],
                  wasm_module_hash: bytes) -> bytes:
        """The chunks named by ``hashes`` concatenated, checked against ``wasm_module_hash``."""
        if len(wasm_module_hash) != HASH_BYTES:
            raise chunk_store_error(
                f"Invalid wasm hash {wasm_module_hash.hex()}: a SHA-256 has {HASH_BYTES} bytes, "
                f"this one {len(wasm_module_hash)}")
        if len(hashes) > MAX_CHUNKS_IN_LARGE_WASM:
            raise chunk_store_error(
                f"chunk_hashes_list names {len(hashes)} chunks; a module may have at most "
                f"{MAX_CHUNKS_IN_LARGE_WASM}")
        parts = []
        for entry in hashes:
            chunk_hash = entry["hash"]
            if len(chunk_hash) != HASH_BYTES:
                raise chunk_store_error(
                    f"Chunk hash {chunk_hash.hex()} is invalid. The length is not {HASH_BYTES}")
            chunk = (self.canisters.chunks.get(store.canister_id, chunk_hash)
                     if chunk_hash in store.chunk_hashes else None)
            if chunk is None:
                raise chunk_store_error(
                    f"Chunk hash {chunk_hash.hex()} was not found in the chunk store of "
                    f"canister {Principal(store.canister_id).to_text()}; stored_chunks lists "
                    "what it holds")
            parts.append(chunk)
        wasm = b"".join(parts)
        actual = hashlib.sha256(wasm).digest()
        if actual != wasm_module_hash:
            raise chunk_store_error(
                f"Wasm module hash {actual.hex()} does not match given hash "
                f"{wasm_module_hash.hex()}")
        return wasm
