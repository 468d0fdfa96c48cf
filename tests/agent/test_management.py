"""Management-canister helpers: argument encoding, routing and install modes (no replica)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from icframework.agent import Agent, AgentError, CanisterSettings, ManagementCanister
from icframework.agent.management import (
    MANAGEMENT_CANISTER,
    install_mode_value,
    uses_enhanced_orthogonal_persistence,
)
from icframework.candid import decode, encode, parse_did
from icframework.core import Principal
from icframework.protocol import CallContent, parse_envelope

TARGET = Principal.from_canister_index(7)
PLAIN_WASM = b"\0asm\x01\0\0\0"


def custom_section(name: bytes, payload: bytes = b"") -> bytes:
    body = bytes([len(name)]) + name + payload
    return b"\0" + bytes([len(body)]) + body


def test_install_modes() -> None:
    assert install_mode_value("install", PLAIN_WASM) == {"install": None}
    assert install_mode_value("reinstall", PLAIN_WASM) == {"reinstall": None}
    assert install_mode_value("upgrade", PLAIN_WASM) == {"upgrade": None}
    assert install_mode_value("upgrade", PLAIN_WASM, "replace", True) == {
        "upgrade": {"skip_pre_upgrade": True, "wasm_memory_persistence": {"replace": None}}
    }
    with pytest.raises(AgentError, match="apply to mode 'upgrade' only"):
        install_mode_value("install", PLAIN_WASM, "keep")
    with pytest.raises(AgentError, match="not one of install"):
        install_mode_value("replace", PLAIN_WASM)  # type: ignore[arg-type]


def test_enhanced_orthogonal_persistence_modules_upgrade_with_keep() -> None:
    eop = (
        PLAIN_WASM
        + custom_section(b"name")
        + custom_section(b"icp:private enhanced-orthogonal-persistence")
    )
    assert uses_enhanced_orthogonal_persistence(eop)
    assert not uses_enhanced_orthogonal_persistence(PLAIN_WASM + custom_section(b"name"))
    assert not uses_enhanced_orthogonal_persistence(b"\x1f\x8b gzip")
    assert not uses_enhanced_orthogonal_persistence(PLAIN_WASM + b"\0\x7f")
    assert install_mode_value("upgrade", eop) == {
        "upgrade": {"skip_pre_upgrade": None, "wasm_memory_persistence": {"keep": None}}
    }


def test_settings_record() -> None:
    settings = CanisterSettings(
        controllers=[TARGET.to_text()], freezing_threshold=60, log_visibility="public"
    )
    record = settings.to_candid()
    assert record["controllers"] == [TARGET]
    assert record["log_visibility"] == {"public": None}
    assert record["memory_allocation"] is None


class Recorder:
    """A transport that records management calls and answers 500 (we only look at requests)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, CallContent]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        content = parse_envelope(request.content).content
        assert isinstance(content, CallContent)
        self.calls.append((request.url.path, content))
        return httpx.Response(500, text="recorded")


def recorded(action: Any) -> tuple[str, CallContent]:
    recorder = Recorder()
    agent = Agent(
        "http://fake", root_key=b"unused", retries=0, transport=httpx.MockTransport(recorder)
    )
    with pytest.raises(AgentError, match="HTTP 500"):
        action(ManagementCanister(agent))
    return recorder.calls[0]


def test_effective_canister_ids() -> None:
    path, content = recorded(lambda m: m.provisional_create_canister_with_cycles(10**12))
    assert path == "/api/v3/canister/aaaaa-aa/call"
    assert content.canister_id == MANAGEMENT_CANISTER
    assert content.method_name == "provisional_create_canister_with_cycles"
    path, _ = recorded(
        lambda m: m.provisional_create_canister_with_cycles(effective_canister_id=TARGET)
    )
    assert path == f"/api/v3/canister/{TARGET}/call"
    for action in (
        lambda m: m.canister_status(TARGET),
        lambda m: m.install_code(TARGET, PLAIN_WASM, mode="reinstall"),
        lambda m: m.stop_canister(TARGET),
        lambda m: m.start_canister(TARGET),
        lambda m: m.delete_canister(TARGET),
        lambda m: m.provisional_top_up_canister(TARGET, 5),
        lambda m: m.update_settings(TARGET, CanisterSettings(freezing_threshold=1)),
        lambda m: m.uninstall_code(TARGET),
    ):
        path, content = recorded(action)
        assert path == f"/api/v3/canister/{TARGET}/call"
        assert content.canister_id == MANAGEMENT_CANISTER


def test_install_argument_matches_the_interface_spec() -> None:
    _, content = recorded(
        lambda m: m.install_code(
            TARGET, PLAIN_WASM, b"DIDL\0\0", "upgrade", wasm_memory_persistence="keep"
        )
    )
    spec = parse_did("""
      type mode = variant { install; reinstall; upgrade : opt record {
        skip_pre_upgrade : opt bool; wasm_memory_persistence : opt variant { keep; replace } } };
      service : { install_code : (record { mode : mode; canister_id : principal;
        wasm_module : blob; arg : blob; sender_canister_version : opt nat64 }) -> () }
    """)
    service = spec.service
    assert service is not None
    func = service.method("install_code")  # type: ignore[attr-defined]
    (record,) = decode(content.arg, func.args)
    assert record["canister_id"] == TARGET
    assert record["wasm_module"] == PLAIN_WASM
    assert record["mode"] == {
        "upgrade": {"skip_pre_upgrade": None, "wasm_memory_persistence": {"keep": None}}
    }
    assert encode(func.args, [record]) == content.arg
