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

Subnets and delegations (§4.6): a subnet signs with its own BLS key; its
`SubnetIdentity` says which key, the root key agents trust, its canister-id range and,
for any subnet but the root, the delegation by which the root key vouches for that
key and range (a root-signed certificate revealing ``/subnet/<id>/public_key``,
``/subnet/<id>/canister_ranges`` and ``/time``). Every certificate a delegated subnet
hands out (read_state, v3 call replies, data certificates) carries
``delegation = {subnet_id, certificate}``; the root subnet's carry none, which is the
embedded default. The subnet's own tree lists its key under
``/subnet/<id>/public_key`` (the subnet key, not the root key). agent-js accepts a
delegation up to 30 days old; a deployment replaces it with a fresh one once
`SubnetIdentity.needs_refresh` (older than `DELEGATION_REFRESH_NS`, a day), through
`StateCertifier.set_delegation`.
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
    CertificateDelegation,
    CertificateError,
    HashTree,
    build_tree,
    decode_canister_ranges,
    encode_canister_ranges,
    lookup_value,
    make_subnet_delegation,
    parse_certificate,
    verify_certificate,
)
from icframework.protocol.hashtree import LabeledMap
from icframework.replica.errors import ReplicaError
from icframework.replica.state import IngressState, IngressStatus
from icframework.replica.subnet import Subnet

SUBNET_TYPE = "application"
SELF_DESCRIBE_TAG = 55799
DEFAULT_FIRST_CANISTER_INDEX = 0x8000000000100000
DEFAULT_LAST_CANISTER_INDEX = 0x80000000001FFFFF
DELEGATION_REFRESH_NS = 24 * 3600 * 1_000_000_000
"""A delegation older than this (a day) should be replaced; agents refuse one older than
30 days (agent-js's policy), so a day leaves ample room for a slow refresh."""
Path = Sequence[bytes | str]

__all__ = [
    "DELEGATION_REFRESH_NS",
    "SUBNET_TYPE",
    "CertifiedState",
    "StateCertifier",
    "SubnetIdentity",
    "build_state_tree",
    "canister_entry",
    "canister_ranges",
    "request_status_entries",
]


@dataclass(frozen=True, slots=True)
class SubnetIdentity:
    """Who a subnet is: its BLS ``key``, the ``root_key_der`` agents trust, its
    canister-index range and, unless it is the root subnet, its ``delegation``.

    The subnet id is the self-authenticating principal of the subnet key's DER form. The
    root subnet's key is the root key and it has no delegation; any other subnet needs
    a delegation naming it. Use `root` and `delegated` to make one; raises
    `ReplicaError` for an inconsistent record.
    """

    key: BlsKeyPair
    root_key_der: bytes
    first_canister_index: int = DEFAULT_FIRST_CANISTER_INDEX
    last_canister_index: int = DEFAULT_LAST_CANISTER_INDEX
    delegation: CertificateDelegation | None = None

    def __post_init__(self) -> None:
        if self.first_canister_index > self.last_canister_index:
            raise ReplicaError(
                f"canister range {self.first_canister_index:#x}..{self.last_canister_index:#x} "
                "is empty: the first index must not exceed the last"
            )
        if self.is_root:
            if self.delegation is not None:
                raise ReplicaError(
                    "the root subnet signs with the root key itself and takes no delegation; "
                    "drop the delegation or use another subnet key"
                )
            return
        if self.delegation is None:
            raise ReplicaError(
                f"subnet {self.subnet_id} does not hold the root key, so agents only trust its "
                "certificates through a delegation; pass one (SubnetIdentity.delegated)"
            )
        if self.delegation.subnet_id != self.subnet_id:
            raise ReplicaError(
                f"the delegation names subnet {self.delegation.subnet_id}, not this subnet "
                f"{self.subnet_id}; ask the root subnet for one for this subnet's key"
            )
        try:
            inner = verify_certificate(self.delegation.certificate, self.root_key_der)
        except CertificateError as exc:
            raise ReplicaError(
                f"the delegation of subnet {self.subnet_id} does not verify under the root "
                f"key: {exc}"
            ) from exc
        vouched = lookup_value(["subnet", self.subnet_id.raw, "public_key"], inner.tree)
        if vouched != self.key.public_key_der:
            raise ReplicaError(
                f"the delegation of subnet {self.subnet_id} vouches for another key than the "
                "subnet's own; ask the root subnet for one for this key"
            )

    @classmethod
    def root(cls, key: BlsKeyPair, *,
             first_canister_index: int = DEFAULT_FIRST_CANISTER_INDEX,
             last_canister_index: int = DEFAULT_LAST_CANISTER_INDEX) -> SubnetIdentity:
        """The root subnet: ``key`` is the root key (the embedded replica's case)."""
        return cls(key, key.public_key_der, first_canister_index, last_canister_index)

    @classmethod
    def delegated(cls, root_key: BlsKeyPair, key: BlsKeyPair, *, first_canister_index: int,
                  last_canister_index: int, time_ns: int) -> SubnetIdentity:
        """A non-root subnet with ``key``, vouched for by ``root_key`` at ``time_ns``."""
        identity = cls.root(key, first_canister_index=first_canister_index,
                            last_canister_index=last_canister_index)
        return identity.with_delegation(make_subnet_delegation(
            root_key, identity.subnet_id, key.public_key_der, identity.canister_ranges,
            time_ns,
        ), root_key.public_key_der)

    @property
    def subnet_id(self) -> Principal:
        return Principal.self_authenticating(self.key.public_key_der)

    @property
    def is_root(self) -> bool:
        """Whether this subnet's key is the root key (no delegation needed)."""
        return self.key.public_key_der == self.root_key_der

    @property
    def canister_ranges(self) -> list[tuple[Principal, Principal]]:
        """The configured range as principals (closed interval)."""
        return [(Principal.from_canister_index(self.first_canister_index),
                 Principal.from_canister_index(self.last_canister_index))]

    def with_delegation(self, delegation: CertificateDelegation,
                        root_key_der: bytes | None = None) -> SubnetIdentity:
        """This identity with a new (refreshed) ``delegation`` (and root key, if given)."""
        return SubnetIdentity(self.key, root_key_der or self.root_key_der,
                              self.first_canister_index, self.last_canister_index, delegation)

    def fresh_delegation(self, root_key: BlsKeyPair, time_ns: int) -> CertificateDelegation:
        """A new delegation to this subnet's key and delegated ranges, signed at ``time_ns``
        by ``root_key`` (what the root subnet issues; hand it to `Replica.set_delegation`)."""
        return make_subnet_delegation(root_key, self.subnet_id, self.key.public_key_der,
                                      self.delegated_ranges(), time_ns)

    def delegation_time_ns(self) -> int | None:
        """The ``/time`` of the delegation's certificate, or None for the root subnet."""
        if self.delegation is None:
            return None
        time_ns = parse_certificate(self.delegation.certificate).time_ns
        if time_ns is None:
            raise ReplicaError(f"the delegation of subnet {self.subnet_id} has no /time")
        return time_ns

    def needs_refresh(self, now_ns: int) -> bool:
        """Whether the delegation is older than `DELEGATION_REFRESH_NS` at ``now_ns``."""
        time_ns = self.delegation_time_ns()
        return time_ns is not None and now_ns - time_ns > DELEGATION_REFRESH_NS

    def delegated_ranges(self) -> tuple[tuple[Principal, Principal], ...]:
        """The canister ranges the delegation vouches for (the configured one if root)."""
        if self.delegation is None:
            return tuple(self.canister_ranges)
        tree = parse_certificate(self.delegation.certificate).tree
        raw = lookup_value(["subnet", self.subnet_id.raw, "canister_ranges"], tree)
        if raw is None:
            raise ReplicaError(
                f"the delegation of subnet {self.subnet_id} does not reveal its canister_ranges"
            )
        try:
            return decode_canister_ranges(raw)
        except CertificateError as exc:
            raise ReplicaError(f"the delegation of subnet {self.subnet_id}: {exc}") from exc


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


def _subnet_entry(subnet: Subnet, node: Ed25519Identity, public_key_der: bytes) -> HashTree:
    config = subnet.config
    return build_tree({
        config.subnet_id: {
            "canister_ranges": encode_canister_ranges(canister_ranges(subnet)),
            "node": {node.principal.raw: {"public_key": node.der_public_key}},
            "public_key": public_key_der,
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


def build_state_tree(subnet: Subnet, node: Ed25519Identity,
                     public_key_der: bytes | None = None) -> HashTree:
    """The whole certified state tree of ``subnet``, built from scratch (``node``: its node;
    ``public_key_der``: the subnet's key, by default the root key of its config).

    Leaves: ``/time`` (ns, LEB128); ``/request_status/<id>/…`` for every inducted
    request; ``/canister/<id>/…`` (see `canister_entry`);
    ``/subnet/<id>/{public_key, canister_ranges, type, node/<id>/public_key}``. Same
    shape and root hash as the levels `StateCertifier` keeps up to date; O(n), for
    tests and checks.
    """
    key = subnet.config.root_key if public_key_der is None else public_key_der
    root = _state_root(_certified_canisters(subnet), _certified_requests(subnet),
                       _subnet_entry(subnet, node, key), subnet.time_ns)
    return root.to_tree()


@dataclass
class CertifiedState:
    """The signed state tree of one round height; hands out witnesses of it.

    ``signature`` is the BLS signature of the root hash, valid for every witness cut
    from ``root``; ``delegation`` (a non-root subnet's) goes with every certificate.
    Data certificates are cached per canister.
    """

    height: int
    time_ns: int
    root: LabeledMap
    signature: bytes
    delegation: CertificateDelegation | None = None
    _data_certificates: dict[bytes, bytes] = field(default_factory=dict, repr=False)

    @property
    def root_hash(self) -> bytes:
        return self.root.digest

    @property
    def tree(self) -> HashTree:
        """The whole tree (O(n): for tests; certificates never need it)."""
        return self.root.to_tree()

    def certificate(self, paths: Iterable[Path]) -> bytes:
        """CBOR certificate revealing ``paths`` and ``/time``, and nothing else (with the
        subnet's delegation, if it has one)."""
        witness = self.root.witness([*paths, ("time",)])
        return Certificate(witness, self.signature, self.delegation).to_cbor()

    def data_certificate(self, canister_id: bytes) -> bytes:
        """The certificate ``ic0.data_certificate_copy`` gives a query of ``canister_id``."""
        cached = self._data_certificates.get(canister_id)
        if cached is None:
            cached = self.certificate([("canister", canister_id, "certified_data")])
            self._data_certificates[canister_id] = cached
        return cached


class StateCertifier:
    """Keeps the state tree up to date and signs it once per height (see the module docstring).

    ``delegation``: the root key's delegation to ``key`` when this is not the root subnet.
    """

    def __init__(self, key: BlsKeyPair, node: Ed25519Identity,
                 delegation: CertificateDelegation | None = None) -> None:
        self.key = key
        self.node = node
        self.delegation = delegation
        self._current: CertifiedState | None = None
        self._subnet: Subnet | None = None
        self._requests = LabeledMap()
        self._canisters = LabeledMap()
        self._subnet_entry: HashTree | None = None

    def set_delegation(self, delegation: CertificateDelegation) -> None:
        """Hand out ``delegation`` (a refreshed one) from now on, at this height too."""
        self.delegation = delegation
        if self._current is not None:
            current = self._current
            self._current = CertifiedState(current.height, current.time_ns, current.root,
                                           current.signature, delegation)

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
            current = CertifiedState(subnet.height, subnet.time_ns, root, signature,
                                     self.delegation)
            self._current = current
        return current

    def _catch_up(self, subnet: Subnet) -> None:
        """Bring the kept levels to ``subnet``'s committed state (whole if it is new)."""
        changes = subnet.take_certification_changes()
        if self._subnet is not subnet:
            self._subnet = subnet
            self._requests = _certified_requests(subnet)
            self._canisters = _certified_canisters(subnet)
            self._subnet_entry = _subnet_entry(subnet, self.node, self.key.public_key_der)
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
            self._subnet_entry = _subnet_entry(subnet, self.node, self.key.public_key_der)
