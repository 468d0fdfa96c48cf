"""Certificates: a hash tree plus a BLS signature on its root, optionally via a subnet.

How it works: `sign_certificate` adds nothing to the tree; the caller includes
``/time``. It signs ``\\x0Dic-state-root ‖ reconstruct(tree)`` with a `BlsKeyPair`.
`verify_certificate` reverses that: with a delegation it first verifies the
delegation's certificate against the root key, takes the subnet key from
``/subnet/<id>/public_key`` and checks the canister lies in
``/subnet/<id>/canister_ranges``; then it checks the signature and, given ``now_ns``,
that ``/time`` is fresh. Signing and verifying use blst (``pyblst``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from icframework.core import Principal, PrincipalError, decode_uleb128, encode_uleb128
from icframework.identity.errors import IdentityError
from icframework.protocol._bls import BlsKeyPair, bls_key_from_der, bls_verify
from icframework.protocol._cbor import dumps_tagged, loads_strict
from icframework.protocol._time import NANOS_PER_SECOND, format_ns
from icframework.protocol.errors import CertificateError, HashTreeError
from icframework.protocol.hashtree import (
    HashTree,
    LookupResult,
    Path,
    build_tree,
    lookup_path,
    lookup_value,
    reconstruct,
    tree_from_cbor_value,
    tree_to_cbor_value,
)
from icframework.protocol.request_id import STATE_ROOT_DOMAIN

DEFAULT_MAX_AGE_NS = 5 * 60 * NANOS_PER_SECOND
DEFAULT_MAX_FUTURE_NS = 5 * 60 * NANOS_PER_SECOND
DELEGATION_MAX_AGE_NS = 30 * 24 * 3600 * NANOS_PER_SECOND

__all__ = [
    "BlsKeyPair",
    "Certificate",
    "CertificateDelegation",
    "bls_verify",
    "decode_canister_ranges",
    "encode_canister_ranges",
    "make_subnet_delegation",
    "parse_certificate",
    "sign_certificate",
    "verify_certificate",
]


@dataclass(frozen=True, slots=True)
class CertificateDelegation:
    """``certificate`` (CBOR bytes, signed by the root key) vouches for ``subnet_id``'s key."""

    subnet_id: Principal
    certificate: bytes


@dataclass(frozen=True, slots=True)
class Certificate:
    """A parsed certificate. Parsing does not verify; see `verify_certificate`."""

    tree: HashTree
    signature: bytes
    delegation: CertificateDelegation | None = None

    def lookup(self, path: Path) -> LookupResult:
        """`lookup_path` in this certificate's tree."""
        return lookup_path(path, self.tree)

    @property
    def time_ns(self) -> int | None:
        """The certified ``/time`` in ns since the epoch, or None if the tree lacks it."""
        raw = lookup_value(["time"], self.tree)
        if raw is None:
            return None
        try:
            return decode_uleb128(raw)[0]
        except ValueError as exc:
            raise CertificateError(f"certificate /time is not a LEB128 nat: {raw.hex()}") from exc

    def to_cbor(self) -> bytes:
        """Self-describe-tagged CBOR ``{tree, signature, delegation?}``."""
        out: dict[str, object] = {
            "tree": tree_to_cbor_value(self.tree),
            "signature": self.signature,
        }
        if self.delegation is not None:
            out["delegation"] = {
                "subnet_id": self.delegation.subnet_id.raw,
                "certificate": self.delegation.certificate,
            }
        return dumps_tagged(out)


def sign_certificate(
    tree: HashTree, key: BlsKeyPair, delegation: CertificateDelegation | None = None
) -> bytes:
    """CBOR bytes of a certificate for ``tree`` signed by ``key`` (the root or subnet key)."""
    signature = key.sign(STATE_ROOT_DOMAIN + reconstruct(tree))
    return Certificate(tree, signature, delegation).to_cbor()


def parse_certificate(data: bytes) -> Certificate:
    """Decode certificate CBOR without verifying it; raise `CertificateError` if malformed."""
    decoded = loads_strict(data, "certificate", CertificateError)
    if not isinstance(decoded, Mapping):
        raise CertificateError(f"certificate must be a CBOR map, got {type(decoded).__name__}")
    unexpected = set(decoded) - {"tree", "signature", "delegation"}
    if unexpected:
        raise CertificateError(f"certificate has unexpected fields {sorted(map(str, unexpected))}")
    if "tree" not in decoded or "signature" not in decoded:
        raise CertificateError("certificate needs both 'tree' and 'signature'")
    try:
        tree = tree_from_cbor_value(decoded["tree"])
    except HashTreeError as exc:
        raise CertificateError(f"certificate tree is malformed: {exc}") from exc
    signature = decoded["signature"]
    if not isinstance(signature, bytes):
        raise CertificateError("certificate 'signature' must be bytes")
    delegation = None
    if "delegation" in decoded:
        raw = decoded["delegation"]
        if not (
            isinstance(raw, Mapping)
            and isinstance(raw.get("subnet_id"), bytes)
            and isinstance(raw.get("certificate"), bytes)
        ):
            raise CertificateError(
                "certificate 'delegation' must be a map {subnet_id: bytes, certificate: bytes}"
            )
        try:
            subnet_id = Principal(raw["subnet_id"])
        except PrincipalError as exc:
            raise CertificateError(f"delegation subnet_id is not a principal: {exc}") from exc
        delegation = CertificateDelegation(subnet_id, raw["certificate"])
    return Certificate(tree, signature, delegation)


def verify_certificate(
    data: bytes,
    root_key_der: bytes,
    *,
    canister_id: Principal | None = None,
    now_ns: int | None = None,
    max_age_ns: int = DEFAULT_MAX_AGE_NS,
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
) -> Certificate:
    """Verify certificate CBOR against the 133-byte DER root key; return it parsed.

    With a delegation, ``canister_id`` (if given) must lie in the subnet's canister
    ranges. With ``now_ns``, ``/time`` must lie in ``[now - max_age, now + max_future]``
    (30 days of age for the delegation's own certificate, as agent-js allows).
    Raises `CertificateError` naming the failed check.
    """
    return _verify(
        data, root_key_der, canister_id, now_ns, max_age_ns, max_future_ns, allow_delegation=True
    )


def _verify(
    data: bytes,
    root_key_der: bytes,
    canister_id: Principal | None,
    now_ns: int | None,
    max_age_ns: int,
    max_future_ns: int,
    *,
    allow_delegation: bool,
) -> Certificate:
    cert = parse_certificate(data)
    time_ns = cert.time_ns
    if time_ns is None:
        raise CertificateError("certificate does not contain /time")
    key_der = root_key_der
    if cert.delegation is not None:
        if not allow_delegation:
            raise CertificateError(
                "a delegation's certificate must not itself contain a delegation"
            )
        key_der = _delegated_key(cert.delegation, root_key_der, canister_id, now_ns)
    try:
        key = bls_key_from_der(key_der)
    except IdentityError as exc:
        raise CertificateError(f"certificate key is not a BLS key: {exc}") from exc
    if not bls_verify(key, cert.signature, STATE_ROOT_DOMAIN + reconstruct(cert.tree)):
        raise CertificateError(
            "certificate signature is invalid: it does not verify under the "
            + ("delegated subnet key" if cert.delegation else "root key")
            + " (wrong root key, or the tree was altered)"
        )
    if now_ns is not None:
        if time_ns < now_ns - max_age_ns:
            raise CertificateError(
                f"certificate is stale: /time is {format_ns(time_ns)}, more than "
                f"{max_age_ns // NANOS_PER_SECOND} s before now ({format_ns(now_ns)})"
            )
        if time_ns > now_ns + max_future_ns:
            raise CertificateError(
                f"certificate is from the future: /time is {format_ns(time_ns)}, more than "
                f"{max_future_ns // NANOS_PER_SECOND} s after now ({format_ns(now_ns)})"
            )
    return cert


def _delegated_key(
    delegation: CertificateDelegation,
    root_key_der: bytes,
    canister_id: Principal | None,
    now_ns: int | None,
) -> bytes:
    try:
        inner = _verify(
            delegation.certificate,
            root_key_der,
            None,
            now_ns,
            DELEGATION_MAX_AGE_NS,
            DEFAULT_MAX_FUTURE_NS,
            allow_delegation=False,
        )
    except CertificateError as exc:
        raise CertificateError(f"certificate delegation is invalid: {exc}") from exc
    subnet = delegation.subnet_id
    if canister_id is not None:
        raw_ranges = lookup_value(["subnet", subnet.raw, "canister_ranges"], inner.tree)
        if raw_ranges is None:
            raise CertificateError(
                f"certificate delegation does not reveal /subnet/{subnet}/canister_ranges"
            )
        if not any(low <= canister_id <= high for low, high in decode_canister_ranges(raw_ranges)):
            raise CertificateError(
                f"subnet {subnet} is not authorised to certify canister {canister_id}: "
                "it lies outside the subnet's canister ranges"
            )
    key = lookup_value(["subnet", subnet.raw, "public_key"], inner.tree)
    if key is None:
        raise CertificateError(
            f"certificate delegation does not reveal /subnet/{subnet}/public_key"
        )
    return key


def encode_canister_ranges(ranges: Sequence[tuple[Principal, Principal]]) -> bytes:
    """Tagged CBOR ``[[low, high], …]`` (closed intervals of principal bytes)."""
    return dumps_tagged([[low.raw, high.raw] for low, high in ranges])


def decode_canister_ranges(data: bytes) -> tuple[tuple[Principal, Principal], ...]:
    """Parse a ``canister_ranges`` leaf; raise `CertificateError` if malformed."""
    decoded = loads_strict(data, "canister_ranges", CertificateError)
    ranges = []
    if isinstance(decoded, list | tuple):
        for entry in decoded:
            if not (
                isinstance(entry, list | tuple)
                and len(entry) == 2
                and all(isinstance(bound, bytes) for bound in entry)
            ):
                break
            try:
                ranges.append((Principal(entry[0]), Principal(entry[1])))
            except PrincipalError:
                break
        else:
            return tuple(ranges)
    raise CertificateError("canister_ranges is not a CBOR array of [low, high] principal pairs")


def make_subnet_delegation(
    root_key: BlsKeyPair,
    subnet_id: Principal,
    subnet_public_key_der: bytes,
    canister_ranges: Sequence[tuple[Principal, Principal]],
    time_ns: int,
) -> CertificateDelegation:
    """A root-signed delegation to a subnet key, as the NNS issues for other subnets.

    Its certificate reveals ``/subnet/<id>/public_key``, ``/subnet/<id>/canister_ranges``
    (what agent-js 3.x and `verify_certificate` read), the same ranges as one shard
    ``/canister_ranges/<id>/<first id>`` (what newer agents read) and ``/time``
    (``time_ns``: agents accept a delegation up to 30 days old). Raises
    `CertificateError` if ``canister_ranges`` is empty.
    """
    if not canister_ranges:
        raise CertificateError(
            f"a delegation to subnet {subnet_id} needs at least one canister range"
        )
    ranges = encode_canister_ranges(canister_ranges)
    tree = build_tree(
        {
            "canister_ranges": {subnet_id.raw: {min(canister_ranges)[0].raw: ranges}},
            "subnet": {
                subnet_id.raw: {
                    "canister_ranges": ranges,
                    "public_key": subnet_public_key_der,
                }
            },
            "time": encode_uleb128(time_ns),
        }
    )
    return CertificateDelegation(subnet_id, sign_certificate(tree, root_key))
