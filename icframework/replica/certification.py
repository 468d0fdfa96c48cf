"""Certification of the committed state: the IC state tree, signed once per round height.

How it works: `build_state_tree` turns the subnet's committed state into the IC's
state tree (``/time``, ``/request_status``, ``/canister``, ``/subnet``; §4.4 of the
protocol notes). `StateCertifier.certified_state` builds that tree at most once per
round height, lazily when a read arrives for a newer height, and BLS-signs its root
hash once. Every certificate handed out at that height is then a *pruned* copy of
the tree (`prune` keeps the root hash) plus the same signature: read_state responses
reveal the requested paths and ``/time``; data certificates for query calls reveal
``/canister/<id>/certified_data`` and ``/time``.

The tree holds only committed state: requests still ``received`` (submitted after the
last round, not yet inducted) are left out, so a tree for a height is a function of
that height's committed state. Callers must hold the replica service's lock, since
the subnet is read directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cbor2

from icframework.core import Principal, encode_uleb128
from icframework.identity import Ed25519Identity
from icframework.protocol import (
    STATE_ROOT_DOMAIN,
    BlsKeyPair,
    Certificate,
    HashTree,
    TreeIndex,
    build_tree,
    encode_canister_ranges,
    index_tree,
    prune,
)
from icframework.replica.errors import ReplicaError
from icframework.replica.state import IngressState, IngressStatus
from icframework.replica.subnet import Subnet

SUBNET_TYPE = "application"
SELF_DESCRIBE_TAG = 55799
Path = Sequence[bytes | str]

__all__ = [
    "SUBNET_TYPE",
    "CertifiedState",
    "StateCertifier",
    "build_state_tree",
    "canister_ranges",
    "request_status_entries",
]


def canister_ranges(subnet: Subnet) -> list[tuple[Principal, Principal]]:
    """The subnet's canister ranges: its configured id range, plus any canister outside it.

    Canisters created with ``specified_id`` may lie outside the configured range;
    each gets a one-id range so agents that check ranges (query signatures) accept it.
    Returned sorted and merged, as closed intervals.
    """
    config = subnet.config
    low = Principal.from_canister_index(config.first_canister_index)
    high = Principal.from_canister_index(config.last_canister_index)
    ranges = [(low, high)]
    for raw in subnet.canisters:
        canister = Principal(raw)
        if not low <= canister <= high:
            ranges.append((canister, canister))
    ranges.sort()
    merged: list[tuple[Principal, Principal]] = []
    for start, end in ranges:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def request_status_entries(status: IngressStatus) -> dict[str, object]:
    """The ``/request_status/<id>`` subtree of one ingress status (values as leaves)."""
    entries: dict[str, object] = {"status": status.state.value}
    if status.state is IngressState.REPLIED and status.reply is not None:
        entries["reply"] = status.reply
    elif status.state is IngressState.REJECTED and status.reject is not None:
        entries["reject_code"] = int(status.reject.code)
        entries["reject_message"] = status.reject.message
        if status.reject.error_code is not None:
            entries["error_code"] = str(status.reject.error_code)
    return entries


def build_state_tree(subnet: Subnet, node: Ed25519Identity) -> HashTree:
    """The certified state tree of ``subnet``'s committed state, with ``node`` as its one node.

    Leaves: ``/time`` (ns, LEB128); ``/request_status/<id>/…`` for every inducted
    request; ``/canister/<id>/{certified_data, controllers, module_hash, metadata/<name>}``
    (controllers as tagged CBOR; module hash and metadata only when code is
    installed); ``/subnet/<id>/{public_key, canister_ranges, type, node/<id>/public_key}``.
    """
    config = subnet.config
    requests = {
        request_id: request_status_entries(status)
        for request_id, status in subnet.ingress_history.items()
        if status.state is not IngressState.RECEIVED
    }
    canisters: dict[bytes, object] = {}
    for canister_id, state in subnet.canisters.items():
        entry: dict[str, object] = {
            "certified_data": state.certified_data,
            "controllers": cbor2.dumps(
                cbor2.CBORTag(SELF_DESCRIBE_TAG, list(state.settings.controllers))
            ),
        }
        sandbox = subnet.sandboxes.get(canister_id)
        if state.module_hash is not None:
            entry["module_hash"] = state.module_hash
        if sandbox is not None and sandbox.module.metadata:
            entry["metadata"] = {
                name.encode("utf-8"): section.content
                for name, section in sandbox.module.metadata.items()
            }
        canisters[canister_id] = entry
    node_id = node.principal.raw
    subnet_entry = {
        config.subnet_id: {
            "canister_ranges": encode_canister_ranges(canister_ranges(subnet)),
            "node": {node_id: {"public_key": node.der_public_key}},
            "public_key": config.root_key,
            "type": SUBNET_TYPE,
        }
    }
    return build_tree({
        "canister": canisters,
        "request_status": requests,
        "subnet": subnet_entry,
        "time": encode_uleb128(subnet.time_ns),
    })


@dataclass
class CertifiedState:
    """The signed state tree of one round height; hands out pruned certificates.

    ``signature`` is the BLS signature of the tree's root hash, valid for every
    pruned copy of ``tree``. Data certificates are cached per canister.
    """

    height: int
    time_ns: int
    tree: HashTree
    signature: bytes
    index: TreeIndex
    _data_certificates: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    def certificate(self, paths: Iterable[Path]) -> bytes:
        """CBOR certificate revealing ``paths`` and ``/time``, and nothing else."""
        witness = prune(self.tree, [*paths, ("time",)], self.index)
        return Certificate(witness, self.signature).to_cbor()

    def data_certificate(self, canister_id: bytes) -> bytes:
        """The certificate ``ic0.data_certificate_copy`` gives a query of ``canister_id``."""
        cached = self._data_certificates.get(canister_id)
        if cached is None:
            cached = self.certificate([("canister", canister_id, "certified_data")])
            self._data_certificates[canister_id] = cached
        return cached


class StateCertifier:
    """Builds and signs the state tree once per height (see the module docstring)."""

    def __init__(self, key: BlsKeyPair, node: Ed25519Identity) -> None:
        self.key = key
        self.node = node
        self._current: CertifiedState | None = None

    def certified_state(self, subnet: Subnet) -> CertifiedState:
        """The certified state at ``subnet``'s last committed height (built on first use).

        Between two messages of a round (a caller the replica service let in) that is
        the tree built before the round started; raises `ReplicaError` if none was.
        """
        current = self._current
        if subnet.in_round:
            if current is None or current.height != subnet.committed_height:
                raise ReplicaError(
                    f"no certified state of round {subnet.committed_height} was built before "
                    f"round {subnet.height} started; call certified_state() between rounds"
                )
            return current
        if current is None or current.height != subnet.height or current.time_ns != subnet.time_ns:
            tree = build_state_tree(subnet, self.node)
            index = index_tree(tree)
            # What `sign_certificate` signs, computed once: every pruned copy of the
            # tree has the same root hash, so this signature serves all of them.
            signature = self.key.sign(STATE_ROOT_DOMAIN + index.digests[id(tree)])
            current = CertifiedState(subnet.height, subnet.time_ns, tree, signature, index)
            self._current = current
        return current
