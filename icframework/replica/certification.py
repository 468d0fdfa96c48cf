"""Certification of the committed state: the IC state tree, updated and signed once per round.

How it works: the state tree (``/time``, ``/request_status``, ``/canister``,
``/subnet``; §4.4 of the protocol notes) is kept as persistent `LabeledMap` levels with
cached hashes. `StateCertifier.certified_state` brings them up to date at most once per
round height, lazily when a read arrives for a newer height: it re-enters only the
request statuses and canisters the rounds since the last update changed (the subnet
collects their ids at commit, `Subnet.take_certification_changes`), which rehashes
O(k log n) nodes for k changes among n entries, then BLS-signs the root hash once.
Every certificate handed out at that height is a witness cut from those levels in
O(paths × log n) (the root hash is kept) plus the same signature: read_state
responses reveal the requested paths and ``/time``, so a call's certificate shows its
own ``/request_status/<id>`` and never another caller's reply; data certificates for
query calls reveal ``/canister/<id>/certified_data`` and ``/time``. A new `Subnet`
object (a reload) is read whole once.

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
    build_tree,
    encode_canister_ranges,
)
from icframework.protocol.hashtree import LabeledMap
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
    "canister_entry",
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
    for raw in subnet.canister_state.states:
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


def canister_entry(subnet: Subnet, canister_id: bytes) -> dict[str, object] | None:
    """The ``/canister/<id>`` subtree of one canister, or None if it does not exist.

    ``certified_data``, ``controllers`` (tagged CBOR), and ``module_hash`` and
    ``metadata/<name>`` when code is installed.
    """
    state = subnet.canister_state.states.get(canister_id)
    if state is None:
        return None
    entry: dict[str, object] = {
        "certified_data": state.certified_data,
        "controllers": cbor2.dumps(
            cbor2.CBORTag(SELF_DESCRIBE_TAG, list(state.settings.controllers))
        ),
    }
    if state.module_hash is not None:
        entry["module_hash"] = state.module_hash
    sandbox = subnet.canister_state.sandboxes.get(canister_id)
    if sandbox is not None and sandbox.module.metadata:
        entry["metadata"] = {
            name.encode("utf-8"): section.content
            for name, section in sandbox.module.metadata.items()
        }
    return entry


def _certified_requests(subnet: Subnet) -> LabeledMap:
    return LabeledMap.from_items({
        request_id: request_status_entries(status)
        for request_id, status in subnet.ingress.statuses.items()
        if status.state is not IngressState.RECEIVED
    })


def _certified_canisters(subnet: Subnet) -> LabeledMap:
    return LabeledMap.from_items({
        canister_id: entry for canister_id in subnet.canister_state.states
        if (entry := canister_entry(subnet, canister_id)) is not None
    })


def _subnet_entry(subnet: Subnet, node: Ed25519Identity) -> HashTree:
    config = subnet.config
    return build_tree({
        config.subnet_id: {
            "canister_ranges": encode_canister_ranges(canister_ranges(subnet)),
            "node": {node.principal.raw: {"public_key": node.der_public_key}},
            "public_key": config.root_key,
            "type": SUBNET_TYPE,
        }
    })


def _state_root(canisters: LabeledMap, requests: LabeledMap, subnet_entry: HashTree,
                time_ns: int) -> LabeledMap:
    return LabeledMap.from_items({
        "canister": canisters,
        "request_status": requests,
        "subnet": subnet_entry,
        "time": encode_uleb128(time_ns),
    })


def build_state_tree(subnet: Subnet, node: Ed25519Identity) -> HashTree:
    """The whole certified state tree of ``subnet``, built from scratch (``node``: its node).

    Leaves: ``/time`` (ns, LEB128); ``/request_status/<id>/…`` for every inducted
    request; ``/canister/<id>/…`` (see `canister_entry`);
    ``/subnet/<id>/{public_key, canister_ranges, type, node/<id>/public_key}``. Same
    shape and root hash as the levels `StateCertifier` keeps up to date; O(n), for
    tests and checks.
    """
    root = _state_root(_certified_canisters(subnet), _certified_requests(subnet),
                       _subnet_entry(subnet, node), subnet.time_ns)
    return root.to_tree()


@dataclass
class CertifiedState:
    """The signed state tree of one round height; hands out witnesses of it.

    ``signature`` is the BLS signature of the root hash, valid for every witness cut
    from ``root``. Data certificates are cached per canister.
    """

    height: int
    time_ns: int
    root: LabeledMap
    signature: bytes
    _data_certificates: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    @property
    def root_hash(self) -> bytes:
        return self.root.digest

    @property
    def tree(self) -> HashTree:
        """The whole tree (O(n): for tests; certificates never need it)."""
        return self.root.to_tree()

    def certificate(self, paths: Iterable[Path]) -> bytes:
        """CBOR certificate revealing ``paths`` and ``/time``, and nothing else."""
        witness = self.root.witness([*paths, ("time",)])
        return Certificate(witness, self.signature).to_cbor()

    def data_certificate(self, canister_id: bytes) -> bytes:
        """The certificate ``ic0.data_certificate_copy`` gives a query of ``canister_id``."""
        cached = self._data_certificates.get(canister_id)
        if cached is None:
            cached = self.certificate([("canister", canister_id, "certified_data")])
            self._data_certificates[canister_id] = cached
        return cached


class StateCertifier:
    """Keeps the state tree up to date and signs it once per height (see the module docstring)."""

    def __init__(self, key: BlsKeyPair, node: Ed25519Identity) -> None:
        self.key = key
        self.node = node
        self._current: CertifiedState | None = None
        self._subnet: Subnet | None = None
        self._requests = LabeledMap()
        self._canisters = LabeledMap()
        self._subnet_entry: HashTree | None = None

    def certified_state(self, subnet: Subnet) -> CertifiedState:
        """The certified state at ``subnet``'s last committed height (built on first use).

        Between two messages of a round (a caller the replica service let in) that is
        the tree built before the round started; raises `ReplicaError` if none was.
        """
        current = self._current
        if subnet.in_round:
            if (current is None or self._subnet is not subnet
                    or current.height != subnet.committed_height):
                raise ReplicaError(
                    f"no certified state of round {subnet.committed_height} was built before "
                    f"round {subnet.height} started; call certified_state() between rounds"
                )
            return current
        if (current is None or self._subnet is not subnet or current.height != subnet.height
                or current.time_ns != subnet.time_ns):
            self._catch_up(subnet)
            assert self._subnet_entry is not None
            root = _state_root(self._canisters, self._requests, self._subnet_entry,
                               subnet.time_ns)
            # What `sign_certificate` signs, computed once: every witness cut from the
            # tree has the same root hash, so this signature serves all of them.
            signature = self.key.sign(STATE_ROOT_DOMAIN + root.digest)
            current = CertifiedState(subnet.height, subnet.time_ns, root, signature)
            self._current = current
        return current

    def _catch_up(self, subnet: Subnet) -> None:
        """Bring the kept levels to ``subnet``'s committed state (whole if it is new)."""
        changes = subnet.take_certification_changes()
        if self._subnet is not subnet:
            self._subnet = subnet
            self._requests = _certified_requests(subnet)
            self._canisters = _certified_canisters(subnet)
            self._subnet_entry = _subnet_entry(subnet, self.node)
            return
        requests = self._requests
        for request_id in changes.requests:
            status = subnet.ingress.statuses.get(request_id)
            if status is None or status.state is IngressState.RECEIVED:
                requests = requests.remove(request_id)
            else:
                requests = requests.set(request_id, request_status_entries(status))
        self._requests = requests
        canisters = self._canisters
        membership_changed = False
        for canister_id in changes.canisters:
            entry = canister_entry(subnet, canister_id)
            membership_changed |= (entry is None) == (canister_id in canisters)
            canisters = (canisters.remove(canister_id) if entry is None
                         else canisters.set(canister_id, entry))
        self._canisters = canisters
        if membership_changed or self._subnet_entry is None:
            self._subnet_entry = _subnet_entry(subnet, self.node)
