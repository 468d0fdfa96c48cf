"""Typed helpers for the management canister ``aaaaa-aa``: create, install, status, cycles.

A module too large for one ingress message (`MAX_INSTALL_CODE_BYTES`) is installed
through the chunk store: `ManagementCanister.install_large_code` uploads it in chunks of
`CHUNK_BYTES` (skipping chunks the store already holds), installs it with
``install_chunked_code`` and clears the store; ``upload_chunk``, ``stored_chunks``,
``clear_chunk_store`` and ``install_chunked_code`` are also offered one by one.

Calls to ``aaaaa-aa`` are routed by an *effective canister id*: the canister they
manage (``canister_id`` in the argument), except canister creation, which any id
routes (``aaaaa-aa`` itself by default, as agent-js does; pass another to pick the
subnet). `ManagementCanister` wraps an `Agent`, `AsyncManagementCanister` an
`AsyncAgent`; both raise `icframework.agent.RejectError` for rejected calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from icframework.agent.actor import service_methods, unwrap_results
from icframework.agent.client import Agent, AsyncAgent, CanisterLike, as_principal
from icframework.agent.errors import AgentError
from icframework.candid import Func, decode, encode, parse_did
from icframework.core import Principal

MANAGEMENT_CANISTER = Principal.management_canister()

#: The largest chunk ``upload_chunk`` accepts, in bytes (1 MiB).
CHUNK_BYTES = 1024 * 1024
#: The largest module (plus argument) sent in one ``install_code``, in bytes: the IC's
#: 2 MiB ingress limit less room for the envelope and the rest of the Candid argument.
MAX_INSTALL_CODE_BYTES = 2 * 1024 * 1024 - 64 * 1024

InstallMode = Literal["install", "reinstall", "upgrade"]
WasmMemoryPersistence = Literal["keep", "replace"]

#: The part of the management canister's interface (``ic.did``) these helpers use.
#: Results newer than the 2024 interface are ``opt`` so older replicas decode too.
MANAGEMENT_DID = """
type canister_id = principal;
type log_visibility = variant { controllers; public; allowed_viewers : vec principal };
type canister_settings = record {
  controllers : opt vec principal;
  compute_allocation : opt nat;
  memory_allocation : opt nat;
  freezing_threshold : opt nat;
  reserved_cycles_limit : opt nat;
  log_visibility : opt log_visibility;
  wasm_memory_limit : opt nat;
  wasm_memory_threshold : opt nat;
};
type definite_canister_settings = record {
  controllers : vec principal;
  compute_allocation : opt nat;
  memory_allocation : opt nat;
  freezing_threshold : opt nat;
  reserved_cycles_limit : opt nat;
  log_visibility : opt log_visibility;
  wasm_memory_limit : opt nat;
  wasm_memory_threshold : opt nat;
};
type canister_install_mode = variant {
  install;
  reinstall;
  upgrade : opt record {
    skip_pre_upgrade : opt bool;
    wasm_memory_persistence : opt variant { keep; replace };
  };
};
type chunk_hash = record { hash : blob };
type canister_status_result = record {
  status : variant { running; stopping; stopped };
  settings : definite_canister_settings;
  module_hash : opt blob;
  memory_size : nat;
  cycles : nat;
  reserved_cycles : opt nat;
  idle_cycles_burned_per_day : opt nat;
  version : opt nat64;
};
service : {
  provisional_create_canister_with_cycles : (record {
    amount : opt nat;
    settings : opt canister_settings;
    specified_id : opt canister_id;
    sender_canister_version : opt nat64;
  }) -> (record { canister_id : canister_id });
  provisional_top_up_canister : (record { canister_id : canister_id; amount : nat }) -> ();
  install_code : (record {
    mode : canister_install_mode;
    canister_id : canister_id;
    wasm_module : blob;
    arg : blob;
    sender_canister_version : opt nat64;
  }) -> ();
  uninstall_code : (record {
    canister_id : canister_id;
    sender_canister_version : opt nat64;
  }) -> ();
  update_settings : (record {
    canister_id : principal;
    settings : canister_settings;
    sender_canister_version : opt nat64;
  }) -> ();
  canister_status : (record { canister_id : canister_id }) -> (canister_status_result);
  upload_chunk : (record { canister_id : principal; chunk : blob }) -> (chunk_hash);
  clear_chunk_store : (record { canister_id : canister_id }) -> ();
  stored_chunks : (record { canister_id : canister_id }) -> (vec chunk_hash);
  install_chunked_code : (record {
    mode : canister_install_mode;
    target_canister : canister_id;
    store_canister : opt canister_id;
    chunk_hashes_list : vec chunk_hash;
    wasm_module_hash : blob;
    arg : blob;
    sender_canister_version : opt nat64;
  }) -> ();
  start_canister : (record { canister_id : canister_id }) -> ();
  stop_canister : (record { canister_id : canister_id }) -> ();
  delete_canister : (record { canister_id : canister_id }) -> ();
}
"""

_METHODS: dict[str, Func] = service_methods(parse_did(MANAGEMENT_DID))

# The custom section Motoko (and others) use to say "upgrade me with wasm_memory_persistence
# = keep", as dfx reads it; upgrading such a module with ``replace`` would lose its heap.
_EOP_SECTION = b"icp:private enhanced-orthogonal-persistence"


@dataclass(frozen=True, slots=True)
class CanisterSettings:
    """Settings for creation or `update_settings`; None leaves a field unchanged.

    ``memory_allocation``, ``wasm_memory_limit`` and ``wasm_memory_threshold`` are in
    bytes, ``freezing_threshold`` in seconds, ``compute_allocation`` in percent,
    ``reserved_cycles_limit`` in cycles; ``log_visibility`` is ``controllers`` or ``public``.
    """

    controllers: Sequence[CanisterLike] | None = None
    compute_allocation: int | None = None
    memory_allocation: int | None = None
    freezing_threshold: int | None = None
    reserved_cycles_limit: int | None = None
    log_visibility: Literal["controllers", "public"] | None = None
    wasm_memory_limit: int | None = None
    wasm_memory_threshold: int | None = None

    def to_candid(self) -> dict[str, Any]:
        """The ``canister_settings`` record value."""
        return {
            "controllers": None
            if self.controllers is None
            else [as_principal(c, "controller") for c in self.controllers],
            "compute_allocation": self.compute_allocation,
            "memory_allocation": self.memory_allocation,
            "freezing_threshold": self.freezing_threshold,
            "reserved_cycles_limit": self.reserved_cycles_limit,
            "log_visibility": None if self.log_visibility is None else {self.log_visibility: None},
            "wasm_memory_limit": self.wasm_memory_limit,
            "wasm_memory_threshold": self.wasm_memory_threshold,
        }


@dataclass(frozen=True, slots=True)
class CanisterStatus:
    """The useful part of ``canister_status``; ``raw`` holds the whole decoded record.

    ``memory_size`` is in bytes, ``cycles`` and ``idle_cycles_burned_per_day`` in cycles,
    ``freezing_threshold`` in seconds.
    """

    status: str
    module_hash: bytes | None
    controllers: tuple[Principal, ...]
    memory_size: int
    cycles: int
    freezing_threshold: int | None
    idle_cycles_burned_per_day: int | None
    version: int | None
    raw: dict[str, Any]

    @classmethod
    def from_candid(cls, value: dict[str, Any]) -> CanisterStatus:
        """From the decoded ``canister_status_result`` record."""
        settings = value["settings"]
        return cls(
            status=next(iter(value["status"])),
            module_hash=value["module_hash"],
            controllers=tuple(settings["controllers"]),
            memory_size=value["memory_size"],
            cycles=value["cycles"],
            freezing_threshold=settings["freezing_threshold"],
            idle_cycles_burned_per_day=value["idle_cycles_burned_per_day"],
            version=value["version"],
            raw=value,
        )


def uses_enhanced_orthogonal_persistence(wasm: bytes) -> bool:
    """Whether a (non-gzipped) module declares Motoko's enhanced orthogonal persistence."""
    if wasm[:4] != b"\0asm":
        return False
    position = 8
    try:
        while position < len(wasm):
            section_id = wasm[position]
            size, position = _uleb(wasm, position + 1)
            end = position + size
            if section_id == 0:
                name_length, name_start = _uleb(wasm, position)
                if wasm[name_start : name_start + name_length] == _EOP_SECTION:
                    return True
            position = end
    except IndexError:
        return False
    return False


def _uleb(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def install_mode_value(
    mode: InstallMode,
    wasm: bytes,
    wasm_memory_persistence: WasmMemoryPersistence | None = None,
    skip_pre_upgrade: bool | None = None,
) -> dict[str, Any]:
    """The ``canister_install_mode`` variant value.

    For ``upgrade`` without an explicit ``wasm_memory_persistence``, ``keep`` is chosen
    when the module declares enhanced orthogonal persistence (as dfx does).
    Raises `AgentError` for an unknown mode or upgrade options with another mode.
    """
    if mode not in ("install", "reinstall", "upgrade"):
        raise AgentError(f"install mode {mode!r} is not one of install, reinstall, upgrade")
    if mode != "upgrade":
        if wasm_memory_persistence is not None or skip_pre_upgrade is not None:
            raise AgentError(
                "wasm_memory_persistence and skip_pre_upgrade apply to mode 'upgrade' only"
            )
        return {mode: None}
    if wasm_memory_persistence is None and uses_enhanced_orthogonal_persistence(wasm):
        wasm_memory_persistence = "keep"
    if wasm_memory_persistence is None and skip_pre_upgrade is None:
        return {"upgrade": None}
    return {
        "upgrade": {
            "skip_pre_upgrade": skip_pre_upgrade,
            "wasm_memory_persistence": None
            if wasm_memory_persistence is None
            else {wasm_memory_persistence: None},
        }
    }


@dataclass(frozen=True, slots=True)
class _Call:
    """One management call: method, Candid argument record, routing, result conversion."""

    method: str
    arg: dict[str, Any]
    effective_canister_id: Principal
    convert: Callable[[Any], Any]

    def encoded(self) -> bytes:
        return encode(_METHODS[self.method].args, [self.arg])

    def result(self, reply: bytes) -> Any:
        return self.convert(unwrap_results(decode(reply, _METHODS[self.method].results)))


def _ignore(_: Any) -> None:
    return None


def _create(
    cycles: int | None,
    settings: CanisterSettings | None,
    specified_id: CanisterLike | None,
    effective_canister_id: CanisterLike | None,
) -> _Call:
    ecid = (
        MANAGEMENT_CANISTER
        if effective_canister_id is None
        else as_principal(effective_canister_id, "effective canister id")
    )
    return _Call(
        "provisional_create_canister_with_cycles",
        {
            "amount": cycles,
            "settings": None if settings is None else settings.to_candid(),
            "specified_id": None if specified_id is None else as_principal(specified_id),
            "sender_canister_version": None,
        },
        ecid,
        lambda record: record["canister_id"],
    )


_CONVERT: dict[str, Callable[[Any], Any]] = {
    "canister_status": CanisterStatus.from_candid,
    "upload_chunk": lambda record: record["hash"],
    "stored_chunks": lambda records: [record["hash"] for record in records],
}


def _targeted(method: str, canister_id: CanisterLike, **fields: Any) -> _Call:
    target = as_principal(canister_id)
    return _Call(method, {"canister_id": target, **fields}, target, _CONVERT.get(method, _ignore))


def chunks_of(wasm_module: bytes) -> list[bytes]:
    """``wasm_module`` cut into `CHUNK_BYTES` pieces, in order."""
    return [wasm_module[i : i + CHUNK_BYTES] for i in range(0, len(wasm_module), CHUNK_BYTES)]


def _install_chunked(
    canister_id: CanisterLike,
    chunk_hashes: Sequence[bytes],
    wasm_module_hash: bytes,
    arg: bytes,
    mode: InstallMode,
    store_canister: CanisterLike | None,
    wasm_module: bytes,
) -> _Call:
    target = as_principal(canister_id)
    return _Call(
        "install_chunked_code",
        {
            "mode": install_mode_value(mode, wasm_module),
            "target_canister": target,
            "store_canister": None if store_canister is None else as_principal(store_canister),
            "chunk_hashes_list": [{"hash": bytes(h)} for h in chunk_hashes],
            "wasm_module_hash": bytes(wasm_module_hash),
            "arg": bytes(arg),
            "sender_canister_version": None,
        },
        target,
        _ignore,
    )


def _install(
    canister_id: CanisterLike,
    wasm_module: bytes,
    arg: bytes,
    mode: InstallMode,
    wasm_memory_persistence: WasmMemoryPersistence | None,
    skip_pre_upgrade: bool | None,
) -> _Call:
    return _targeted(
        "install_code",
        canister_id,
        mode=install_mode_value(mode, wasm_module, wasm_memory_persistence, skip_pre_upgrade),
        wasm_module=bytes(wasm_module),
        arg=bytes(arg),
        sender_canister_version=None,
    )


class ManagementCanister:
    """Blocking calls to ``aaaaa-aa`` through an `Agent`."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def _call(self, call: _Call) -> Any:
        reply = self.agent.update(
            MANAGEMENT_CANISTER, call.method, call.encoded(), call.effective_canister_id
        )
        return call.result(reply)

    def provisional_create_canister_with_cycles(
        self,
        cycles: int | None = None,
        settings: CanisterSettings | None = None,
        *,
        specified_id: CanisterLike | None = None,
        effective_canister_id: CanisterLike | None = None,
    ) -> Principal:
        """Create an empty canister holding ``cycles`` (default: the replica's, 100T locally)."""
        result: Principal = self._call(
            _create(cycles, settings, specified_id, effective_canister_id)
        )
        return result

    def install_code(
        self,
        canister_id: CanisterLike,
        wasm_module: bytes,
        arg: bytes = b"DIDL\x00\x00",
        mode: InstallMode = "install",
        *,
        wasm_memory_persistence: WasmMemoryPersistence | None = None,
        skip_pre_upgrade: bool | None = None,
    ) -> None:
        """Install, reinstall or upgrade ``wasm_module`` (raw or gzipped) with init ``arg``."""
        self._call(
            _install(canister_id, wasm_module, arg, mode, wasm_memory_persistence, skip_pre_upgrade)
        )

    def uninstall_code(self, canister_id: CanisterLike) -> None:
        """Remove the code and state of a canister (keeps its cycles and controllers)."""
        self._call(_targeted("uninstall_code", canister_id, sender_canister_version=None))

    def canister_status(self, canister_id: CanisterLike) -> CanisterStatus:
        """Status, cycles, memory and controllers (callers must be controllers)."""
        result: CanisterStatus = self._call(_targeted("canister_status", canister_id))
        return result

    def start_canister(self, canister_id: CanisterLike) -> None:
        """Set the canister running."""
        self._call(_targeted("start_canister", canister_id))

    def stop_canister(self, canister_id: CanisterLike) -> None:
        """Stop the canister; returns once its open calls have finished."""
        self._call(_targeted("stop_canister", canister_id))

    def delete_canister(self, canister_id: CanisterLike) -> None:
        """Delete a stopped canister (its cycles are lost)."""
        self._call(_targeted("delete_canister", canister_id))

    def update_settings(self, canister_id: CanisterLike, settings: CanisterSettings) -> None:
        """Change the given settings; fields left None stay as they are."""
        self._call(
            _targeted(
                "update_settings",
                canister_id,
                settings=settings.to_candid(),
                sender_canister_version=None,
            )
        )

    def provisional_top_up_canister(self, canister_id: CanisterLike, cycles: int) -> None:
        """Mint ``cycles`` into the canister (development replicas only)."""
        self._call(_targeted("provisional_top_up_canister", canister_id, amount=cycles))

    def upload_chunk(self, canister_id: CanisterLike, chunk: bytes) -> bytes:
        """Store ``chunk`` (at most `CHUNK_BYTES`) in the canister's chunk store; its SHA-256."""
        result: bytes = self._call(_targeted("upload_chunk", canister_id, chunk=bytes(chunk)))
        return result

    def stored_chunks(self, canister_id: CanisterLike) -> list[bytes]:
        """The hashes of the chunks in the canister's chunk store."""
        result: list[bytes] = self._call(_targeted("stored_chunks", canister_id))
        return result

    def clear_chunk_store(self, canister_id: CanisterLike) -> None:
        """Empty the canister's chunk store."""
        self._call(_targeted("clear_chunk_store", canister_id))

    def install_chunked_code(
        self,
        canister_id: CanisterLike,
        chunk_hashes: Sequence[bytes],
        wasm_module_hash: bytes,
        arg: bytes = b"DIDL\x00\x00",
        mode: InstallMode = "install",
        *,
        store_canister: CanisterLike | None = None,
        wasm_module: bytes = b"",
    ) -> None:
        """Install the module made of the stored chunks ``chunk_hashes`` (in order), whose
        SHA-256 is ``wasm_module_hash``; ``wasm_module`` (if given) picks the upgrade's
        memory persistence as `install_code` does."""
        self._call(_install_chunked(canister_id, chunk_hashes, wasm_module_hash, arg, mode,
                                    store_canister, wasm_module))

    def install_large_code(
        self,
        canister_id: CanisterLike,
        wasm_module: bytes,
        arg: bytes = b"DIDL\x00\x00",
        mode: InstallMode = "install",
        *,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        """Install ``wasm_module`` of any size: by `install_code` when it fits one message,
        else chunk by chunk (chunks the store holds already are not sent again), then
        ``install_chunked_code``, then ``clear_chunk_store``."""
        if len(wasm_module) + len(arg) <= MAX_INSTALL_CODE_BYTES:
            self.install_code(canister_id, wasm_module, arg, mode)
            return
        chunks = chunks_of(wasm_module)
        stored = set(self.stored_chunks(canister_id))
        hashes = []
        for number, chunk in enumerate(chunks, 1):
            digest = hashlib.sha256(chunk).digest()
            if digest not in stored:
                if progress is not None:
                    progress(f"chunk {number}/{len(chunks)}: {len(chunk):,} bytes")
                digest = self.upload_chunk(canister_id, chunk)
                stored.add(digest)
            hashes.append(digest)
        self.install_chunked_code(canister_id, hashes, hashlib.sha256(wasm_module).digest(), arg,
                                  mode, wasm_module=wasm_module)
        self.clear_chunk_store(canister_id)


class AsyncManagementCanister:
    """The asyncio twin of `ManagementCanister`, over an `AsyncAgent`."""

    def __init__(self, agent: AsyncAgent) -> None:
        self.agent = agent

    async def _call(self, call: _Call) -> Any:
        reply = await self.agent.update(
            MANAGEMENT_CANISTER, call.method, call.encoded(), call.effective_canister_id
        )
        return call.result(reply)

    async def provisional_create_canister_with_cycles(
        self,
        cycles: int | None = None,
        settings: CanisterSettings | None = None,
        *,
        specified_id: CanisterLike | None = None,
        effective_canister_id: CanisterLike | None = None,
    ) -> Principal:
        """See `ManagementCanister.provisional_create_canister_with_cycles`."""
        result: Principal = await self._call(
            _create(cycles, settings, specified_id, effective_canister_id)
        )
        return result

    async def install_code(
        self,
        canister_id: CanisterLike,
        wasm_module: bytes,
        arg: bytes = b"DIDL\x00\x00",
        mode: InstallMode = "install",
        *,
        wasm_memory_persistence: WasmMemoryPersistence | None = None,
        skip_pre_upgrade: bool | None = None,
    ) -> None:
        """See `ManagementCanister.install_code`."""
        await self._call(
            _install(canister_id, wasm_module, arg, mode, wasm_memory_persistence, skip_pre_upgrade)
        )

    async def uninstall_code(self, canister_id: CanisterLike) -> None:
        """See `ManagementCanister.uninstall_code`."""
        await self._call(_targeted("uninstall_code", canister_id, sender_canister_version=None))

    async def canister_status(self, canister_id: CanisterLike) -> CanisterStatus:
        """See `ManagementCanister.canister_status`."""
        result: CanisterStatus = await self._call(_targeted("canister_status", canister_id))
        return result

    async def start_canister(self, canister_id: CanisterLike) -> None:
        """See `ManagementCanister.start_canister`."""
        await self._call(_targeted("start_canister", canister_id))

    async def stop_canister(self, canister_id: CanisterLike) -> None:
        """See `ManagementCanister.stop_canister`."""
        await self._call(_targeted("stop_canister", canister_id))

    async def delete_canister(self, canister_id: CanisterLike) -> None:
        """See `ManagementCanister.delete_canister`."""
        await self._call(_targeted("delete_canister", canister_id))

    async def update_settings(self, canister_id: CanisterLike, settings: CanisterSettings) -> None:
        """See `ManagementCanister.update_settings`."""
        await self._call(
            _targeted(
                "update_settings",
                canister_id,
                settings=settings.to_candid(),
                sender_canister_version=None,
            )
        )

    async def provisional_top_up_canister(self, canister_id: CanisterLike, cycles: int) -> None:
        """See `ManagementCanister.provisional_top_up_canister`."""
        await self._call(_targeted("provisional_top_up_canister", canister_id, amount=cycles))

    async def upload_chunk(self, canister_id: CanisterLike, chunk: bytes) -> bytes:
        """See `ManagementCanister.upload_chunk`."""
        result: bytes = await self._call(
            _targeted("upload_chunk", canister_id, chunk=bytes(chunk)))
        return result

    async def stored_chunks(self, canister_id: CanisterLike) -> list[bytes]:
        """See `ManagementCanister.stored_chunks`."""
        result: list[bytes] = await self._call(_targeted("stored_chunks", canister_id))
        return result

    async def clear_chunk_store(self, canister_id: CanisterLike) -> None:
        """See `ManagementCanister.clear_chunk_store`."""
        await self._call(_targeted("clear_chunk_store", canister_id))

    async def install_chunked_code(
        self,
        canister_id: CanisterLike,
        chunk_hashes: Sequence[bytes],
        wasm_module_hash: bytes,
        arg: bytes = b"DIDL\x00\x00",
        mode: InstallMode = "install",
        *,
        store_canister: CanisterLike | None = None,
        wasm_module: bytes = b"",
    ) -> None:
        """See `ManagementCanister.install_chunked_code`."""
        await self._call(_install_chunked(canister_id, chunk_hashes, wasm_module_hash, arg, mode,
                                          store_canister, wasm_module))
