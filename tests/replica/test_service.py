"""The replica service: the round loop answers calls submitted from other threads."""

from __future__ import annotations

import time
from pathlib import Path

from icframework.core import Principal
from icframework.replica.embedded import Replica
from icframework.replica.service import ReplicaService
from icframework.replica.state import IngressState
from tests.replica.wat_counter import counter_wasm, nat64_reply

OWNER = Principal.self_authenticating(b"service owner")


def test_round_loop_answers_submitted_calls(tmp_path: Path) -> None:
    service = ReplicaService(Replica.open(tmp_path), idle_round_seconds=0.05)
    try:
        canister = service.run(lambda r: r.create_canister(sender=OWNER))
        service.run(lambda r: r.install_code(canister, counter_wasm(), sender=OWNER))
        service.start()
        request_id = service.run(lambda r: r.submit(canister, "inc"))
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            status = service.run(lambda r: r.subnet.ingress_status(request_id))
            if status is not None and status.state.terminal:
                break
            time.sleep(0.005)
        assert status is not None and status.state is IngressState.REPLIED
        assert status.reply == nat64_reply(1)
        height = service.run(lambda r: r.subnet.height)
        time.sleep(0.2)
        assert service.run(lambda r: r.subnet.height) > height, "idle rounds keep running"
    finally:
        service.stop()
