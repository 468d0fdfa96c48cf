"""Certification cost per update as the ingress history grows: rebuilt tree vs kept levels.

An in-process replica (memory store) holds N answered request statuses (1k, 10k,
100k; written straight into its ingress history, 8-byte replies). Each sample is one
update: a ``provisional_top_up_canister`` call submitted and executed in a round of its
own (not timed), then the time (``time.perf_counter``) to certify that round and cut
the call's certificate (``/request_status/<id>`` and ``/time``), two ways in the same
run:

- **rebuild** (the method before certification became incremental): build the whole
  state tree from the subnet with ``build_tree``, hash every node (``index_tree``),
  sign the root, prune the certificate out of the whole tree;
- **kept**: `StateCertifier.certified_state` (re-enters the ids the round changed in
  the kept `LabeledMap` levels and signs) and `CertifiedState.certificate` (a witness
  of O(paths × log n) nodes).

Columns: the median per update of each, their ratio, the witness size, and the one-off
cost of reading a whole subnet of that size into kept levels (what a restart pays).

Usage: ``.venv/bin/python bench/bench_certification.py`` or ``main()`` (``bench/run.py``).
"""

from __future__ import annotations

import hashlib
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.support import table  # noqa: E402
from icframework.candid.binary import encode  # noqa: E402
from icframework.core import Principal, encode_uleb128  # noqa: E402
from icframework.identity import Ed25519Identity  # noqa: E402
from icframework.protocol import (  # noqa: E402
    STATE_ROOT_DOMAIN,
    Certificate,
    HashTree,
    build_tree,
    encode_canister_ranges,
    index_tree,
    prune,
)
from icframework.replica.certification import (  # noqa: E402
    SUBNET_TYPE,
    StateCertifier,
    canister_entry,
    canister_ranges,
    request_status_entries,
)
from icframework.replica.embedded import Replica  # noqa: E402
from icframework.replica.management import TOP_UP_ARGS  # noqa: E402
from icframework.replica.state import IngressState, IngressStatus  # noqa: E402
from icframework.replica.subnet import Subnet  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
KEPT_SAMPLES = 30
REBUILD_SAMPLES = {1_000: 10, 10_000: 5, 100_000: 3}
OWNER = Principal.self_authenticating(b"bench certification owner")


def rebuilt_tree(subnet: Subnet, node: Ed25519Identity) -> HashTree:
    """The whole state tree built from the subnet, as certification did before."""
    config = subnet.config
    return build_tree({
        "canister": {cid: canister_entry(subnet, cid) for cid in subnet.canister_state.states},
        "request_status": {
            request_id: request_status_entries(status)
            for request_id, status in subnet.ingress.statuses.items()
            if status.state is not IngressState.RECEIVED
        },
        "subnet": {config.subnet_id: {
            "canister_ranges": encode_canister_ranges(canister_ranges(subnet)),
            "node": {node.principal.raw: {"public_key": node.der_public_key}},
            "public_key": config.root_key,
            "type": SUBNET_TYPE,
        }},
        "time": encode_uleb128(subnet.time_ns),
    })


def one_update(replica: Replica, canister: Principal) -> bytes:
    """Submit and execute one top-up call in a round of its own; its request id."""
    arg = encode([TOP_UP_ARGS], [{"canister_id": canister, "amount": 1}])
    request_id = replica.submit(Principal.management_canister(), "provisional_top_up_canister",
                                arg, sender=OWNER, effective_canister_id=canister)
    replica.subnet.execute_round()
    return request_id


def measure(size: int) -> list[str]:
    replica = Replica.open()
    subnet = replica.subnet
    node = replica.node_key
    assert node is not None
    canister = replica.create_canister(sender=OWNER)
    history = subnet.ingress.statuses
    for index in range(size):
        request_id = hashlib.sha256(index.to_bytes(8, "big")).digest()
        history[request_id] = IngressStatus(IngressState.REPLIED, OWNER.raw, canister.raw, 0,
                                            reply=index.to_bytes(8, "big"))
    certifier = StateCertifier(replica.key, node)
    started = time.perf_counter()
    certifier.certified_state(subnet)
    full_read = time.perf_counter() - started

    kept: list[float] = []
    witness_bytes = 0
    for _ in range(KEPT_SAMPLES):
        request_id = one_update(replica, canister)
        started = time.perf_counter()
        certificate = certifier.certified_state(subnet).certificate(
            [("request_status", request_id)])
        kept.append(time.perf_counter() - started)
        witness_bytes = len(certificate)

    rebuild: list[float] = []
    for _ in range(REBUILD_SAMPLES[size]):
        request_id = one_update(replica, canister)
        started = time.perf_counter()
        tree = rebuilt_tree(subnet, node)
        index = index_tree(tree)
        signature = replica.key.sign(STATE_ROOT_DOMAIN + index.digests[id(tree)])
        witness = prune(tree, [("request_status", request_id), ("time",)], index)
        Certificate(witness, signature).to_cbor()
        rebuild.append(time.perf_counter() - started)

    before, after = statistics.median(rebuild), statistics.median(kept)
    return [f"{size:,}", f"{before * 1e3:.2f}", f"{after * 1e3:.3f}", f"{before / after:.0f}x",
            f"{witness_bytes:,}", f"{full_read * 1e3:.0f}"]


def main() -> None:
    print("Certification per update (median ms) vs stored request statuses")
    rows = [measure(size) for size in SIZES]
    table(["statuses", "rebuild ms", "kept ms", "ratio", "certificate B", "full read ms"], rows)


if __name__ == "__main__":
    main()
