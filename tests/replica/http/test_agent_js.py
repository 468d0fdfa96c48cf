"""Acceptance: @dfinity/agent 3.x, unmodified, against `manage.py runreplica` over real HTTP.

The node script (tests/js/agent_acceptance.mjs) creates and installs a Motoko counter
through ``aaaaa-aa``, calls it (v3 sync calls and a v2 call with read_state polling),
queries it with node-signature checks on, upgrades it keeping its memory, reads its
module hash and controllers, and has a non-controller try to reinstall it. agent-js
verifies every certificate and query signature itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from icframework.core import Principal
from tests.agent.live_replica import running_replica
from tests.node import requires_node, run_node
from tests.replica.corpus import motoko_wasm

pytestmark = requires_node

GHOST = Principal.from_canister_index(0x80000000001FFFF0)


@pytest.fixture(scope="module")
def replica_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_replica(tmp_path_factory.mktemp("replica"), startup_seconds=60) as url:
        yield url


@pytest.fixture(scope="module")
def acceptance(replica_url: str) -> dict[str, Any]:
    wasm = motoko_wasm("counter")
    result: dict[str, Any] = run_node(
        "agent_acceptance.mjs",
        {"host": replica_url, "wasm": wasm.hex(), "ghost": GHOST.to_text()},
        timeout=300,
    )
    print(result)
    assert result["ok"], result
    return result


def test_root_key_and_canister_creation(acceptance: dict[str, Any]) -> None:
    assert acceptance["rootKeyBytes"] == 133
    Principal.from_text(acceptance["canisterId"])


def test_update_calls_and_query(acceptance: dict[str, Any]) -> None:
    assert (acceptance["inc1"], acceptance["inc2"], acceptance["getAfterInc"]) == ("1", "2", "2")


def test_v2_call_and_read_state_polling(acceptance: dict[str, Any]) -> None:
    assert acceptance["asyncCallHttpStatus"] == 202
    assert acceptance["asyncReply"] == "12"


def test_upgrade_keeps_the_count(acceptance: dict[str, Any]) -> None:
    assert acceptance["getAfterUpgrade"] == "12"


def test_canister_status_paths(acceptance: dict[str, Any]) -> None:
    assert acceptance["moduleHash"] == acceptance["expectedModuleHash"]
    assert acceptance["controllers"] == [acceptance["owner"]]
    assert acceptance["candidMentionsInc"] is True
    assert acceptance["certifiedTimeSkewMs"] < 60_000


def test_non_controller_install_is_refused(acceptance: dict[str, Any]) -> None:
    refused = acceptance["strangerInstall"]
    assert refused["refused"] is True
    assert refused["codeName"] == "CertifiedRejectErrorCode"
    assert (refused["rejectCode"], refused["errorCode"]) == (5, "IC0512")
    assert acceptance["getAfterStranger"] == "12"


def test_unknown_canister_rejects(acceptance: dict[str, Any]) -> None:
    query, call = acceptance["ghostQuery"], acceptance["ghostCall"]
    assert query["rejected"] and call["rejected"]
    assert (query["rejectCode"], query["errorCode"]) == (3, "IC0301")
    assert query["codeName"] == "UncertifiedRejectErrorCode"
    assert (call["rejectCode"], call["errorCode"]) == (3, "IC0301")
    assert call["codeName"] == "UncertifiedRejectUpdateErrorCode"
