"""Child process for the kill -9 test: a replica making updates until it is killed.

Usage: ``python -m tests.replica.replica_crash_child STATE_DIR``. On first start it
creates and installs the WAT counter and records its id in ``STATE_DIR/canister``;
then it calls ``inc_everywhere`` forever, printing each reply value after the update
is answered (so after its round is committed).
"""

from __future__ import annotations

import sys
from pathlib import Path

from icframework.core import Principal
from icframework.replica.embedded import Replica
from tests.replica.wat_counter import counter_wasm

CONTROLLER = Principal.self_authenticating(b"crash test controller")


def main(state_dir: Path) -> None:
    replica = Replica.open(state_dir)
    id_file = state_dir / "canister"
    if id_file.exists():
        canister = Principal.from_text(id_file.read_text())
    else:
        canister = replica.create_canister(sender=CONTROLLER)
        replica.install_code(canister, counter_wasm(), sender=CONTROLLER)
        id_file.write_text(canister.to_text())
    print("ready", flush=True)
    while True:
        reply = replica.update(canister, "inc_everywhere")
        print(int.from_bytes(reply[7:15], "little"), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
