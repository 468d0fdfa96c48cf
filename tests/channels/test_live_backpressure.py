"""Back-pressure through a real server: ``manage.py runreplica`` (its WebSocket server
and TCP) with a small outbox (`small_buffer_settings`), one client that reads and one
that stops reading (its WebSocket library stops taking data off the TCP connection once
it holds one frame, so the kernel's buffers and then the server's fill up)."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from icframework.agent import Agent, ManagementCanister
from icframework.agent.socket import socket_url
from icframework.candid import NAT, TEXT, decode, encode
from icframework.channels.delivery import CLOSE_RESYNC
from icframework.core import Principal
from icframework.identity import Ed25519Identity
from icframework.replica.execution.python_module import pack_python_module
from icframework.sdk import load_canister, service_did
from tests.agent.live_replica import running_replica
from tests.compiler.runtime_support import runtime

__all__ = ["runtime"]

SOURCE = Path(__file__).parent / "publisher_canister.py"
BUFFER = 100  # small_buffer_settings
EVENTS = 400
EVENT_BYTES = 64 * 1024  # 400 of them are far more than the stalled client's TCP holds
PER_CALL = 20  # a message may copy only so much to the host


def _open(url: str, canister: Principal, *, max_queue: int | None) -> ClientConnection:
    # no permessage-deflate: the padding of the events must take its size on the wire
    socket = connect(socket_url(url, canister), max_size=None, max_queue=max_queue,
                     compression=None)
    assert json.loads(socket.recv(timeout=30))["op"] == "hello"
    socket.send(json.dumps({"op": "subscribe", "topics": ["room:big"]}))
    assert json.loads(socket.recv(timeout=30)) == {"op": "subscribed", "topics": ["room:big"]}
    return socket


def _label(frame: dict[str, Any]) -> str:
    (text,) = decode(base64.b64decode(frame["value"]), (TEXT,))
    return str(text).split(" .", 1)[0]


def test_a_client_that_stops_reading_is_closed_and_others_get_everything(
    runtime: object, tmp_path: Path
) -> None:
    with running_replica(tmp_path / "state",
                         settings_module="tests.channels.small_buffer_settings") as url:
        installer = Ed25519Identity.from_seed(b"live back-pressure test".ljust(32, b"."))
        with Agent(url, identity=installer, fetch_root_key=True) as agent:
            management = ManagementCanister(agent)
            canister = management.provisional_create_canister_with_cycles()
            did = service_did(load_canister("tests.channels.publisher_canister"))
            management.install_code(canister, pack_python_module(
                {"publisher.py": SOURCE.read_text()}, "publisher.py", did=did))

            stalled = _open(url, canister, max_queue=1)
            reader = _open(url, canister, max_queue=None)
            got: list[dict[str, Any]] = []
            done = threading.Event()

            def read() -> None:
                while len(got) < EVENTS:
                    got.append(json.loads(reader.recv(timeout=60)))
                done.set()

            thread = threading.Thread(target=read, daemon=True)
            thread.start()
            for _ in range(EVENTS // PER_CALL):
                agent.update(canister, "post_padded",
                             encode((TEXT, NAT, NAT), ("big", PER_CALL, EVENT_BYTES)))
            assert done.wait(120), f"the reading client got {len(got)} of {EVENTS} events"
            assert [_label(f) for f in got] == (
                [f"message {i}" for i in range(PER_CALL)] * (EVENTS // PER_CALL))
            assert [f["seq"] for f in got] == list(range(1, EVENTS + 1))

            # the stalled client reads again: a prefix of the events, then why it ends
            frames = []
            try:
                while True:
                    frames.append(json.loads(stalled.recv(timeout=30)))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CLOSE_RESYNC
            *events, resync = frames
            assert 0 < len(events) < EVENTS - BUFFER
            assert [f["seq"] for f in events] == list(range(1, len(events) + 1))
            assert resync == {
                "op": "resync",
                "reason": f"this socket fell {BUFFER} events behind (the client reads more "
                          "slowly than its topics publish)",
                "last": {"room:big": {"seq": len(events), "height": events[-1]["height"]}},
            }
            reader.close()
