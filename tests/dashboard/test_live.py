"""The dashboard socket: live frames from a running replica service and its round loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from icframework.channels.dashboard import CLOSE_FOREIGN_ORIGIN, CLOSE_NO_REPLICA
from icframework.channels.routing import websocket_urlpatterns
from icframework.deployments import save_canister_id
from icframework.replica.embedded import Replica
from icframework.replica.errors import CanisterError
from icframework.replica.metrics import RECENT_CALLS, RECENT_TRAPS
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests.dashboard.support import FAIL_LINE, OWNER, install_demo, python_runtime
from tests.replica.wat_counter import counter_wasm

__all__ = ["python_runtime"]

APP = URLRouter(websocket_urlpatterns)
HOST = (b"host", b"127.0.0.1:4943")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path / "state")
    with override_settings(BASE_DIR=tmp_path):
        yield running
    stop_service()


async def _frames(count: int, headers: list[tuple[bytes, bytes]] | None = None
                  ) -> list[dict[str, Any]]:
    socket = WebsocketCommunicator(APP, "/ws/dashboard", headers=headers or [])
    connected, _ = await socket.connect()
    assert connected
    frames = [json.loads(await socket.receive_from(timeout=10)) for _ in range(count)]
    await socket.disconnect()
    return frames


async def _answered(service: ReplicaService, request_id: bytes) -> None:
    """Wait for the service's own round loop to answer ``request_id``."""

    def terminal(replica: Replica) -> bool:
        status = replica.subnet.ingress_status(request_id)
        return status is not None and status.state.terminal

    while not service.run(terminal):
        await asyncio.sleep(0.01)


def test_frames_follow_the_round_loop(service: ReplicaService) -> None:
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    service.run(lambda replica: replica.install_code(canister, counter_wasm(), sender=OWNER))
    save_canister_id("counter", canister, "http://127.0.0.1:4943")

    async def scenario() -> None:
        (first,) = await _frames(1)
        for _ in range(3):
            await _answered(service, service.run(lambda replica: replica.submit(canister, "inc")))
        service.run(lambda replica: replica.query(canister, "get"))
        (second,) = await _frames(1)
        assert first["type"] == second["type"] == "live"
        assert second["height"] > first["height"]
        assert second["rounds"] > first["rounds"]
        assert second["clock"] > first["clock"]
        counters = second["canisters"][canister.to_text()]
        assert counters["messages"] == 3
        assert counters["instructions"] > 0 and counters["cycles_burned"] > 0
        assert [(c["kind"], c["method"], c["status"]) for c in second["calls"][:4]] == [
            ("query", "get", "replied")] + [("update", "inc", "replied")] * 3
        (row,) = second["rows"]
        assert row["id"] == canister.to_text() and row["name"] == "counter"
        assert row["memory"] > 0 and row["kv"] is None and row["http"] is False

    asyncio.run(scenario())


def test_a_python_trap_arrives_with_its_file_and_line(service: ReplicaService, tmp_path: Path,
                                                      python_runtime: None) -> None:
    canister = service.run(lambda replica: install_demo(replica, tmp_path))
    with pytest.raises(CanisterError):
        service.run(lambda replica: replica.update(canister, "fail"))
    (frame,) = asyncio.run(_frames(1))
    (trap,) = frame["traps"]
    assert trap["canister"] == canister.to_text()
    assert trap["method"] == "fail"
    assert trap["location"] == f"canister.py:{FAIL_LINE} in fail"
    (row,) = frame["rows"]
    assert row["kv"] is not None and row["candid"] is True


def test_a_page_of_another_site_is_refused(service: ReplicaService) -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(APP, "/ws/dashboard",
                                       headers=[(b"origin", b"http://evil.example"), HOST])
        connected, code = await socket.connect()
        assert (connected, code) == (False, CLOSE_FOREIGN_ORIGIN)
        same = await _frames(1, [(b"origin", b"http://127.0.0.1:4943"), HOST])
        assert same[0]["type"] == "live"

    asyncio.run(scenario())


def test_no_replica_no_socket() -> None:
    async def scenario() -> None:
        socket = WebsocketCommunicator(APP, "/ws/dashboard")
        connected, code = await socket.connect()
        assert (connected, code) == (False, CLOSE_NO_REPLICA)

    asyncio.run(scenario())


def test_the_docs_describe_the_frame_as_sent(service: ReplicaService) -> None:
    """docs/dashboard.md: its example frame has a real frame's fields, and its bounds are
    the metrics' own."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "dashboard.md").read_text("utf-8")
    example = json.loads(doc.split("```json\n")[1].split("```")[0])
    canister = service.run(lambda replica: replica.create_canister(sender=OWNER))
    service.run(lambda replica: replica.install_code(canister, counter_wasm(), sender=OWNER))
    (frame,) = asyncio.run(_frames(1, [HOST]))
    assert example.keys() == frame.keys()
    assert example["rows"][0].keys() == frame["rows"][0].keys()
    assert f"last **{RECENT_CALLS} calls**" in doc
    assert f"last **{RECENT_TRAPS} traps**" in doc
