"""Request envelopes: the typed content of call, query and read_state requests.

How it works: `sign_envelope` hashes the content to its request id and has the identity
sign ``\\x0Aic-request ‖ request_id``; `Envelope.to_cbor` writes the tagged CBOR map.
On the receiving side `parse_envelope` turns CBOR bytes into an `Envelope`: the bytes
are scanned first (`_cbor.scan`), so no CBOR tag, shared reference or oversized
structure is ever built; then it checks shape, field types, size limits and that the
sender matches ``sender_pubkey`` (or is anonymous and unsigned); `verify_envelope`
then checks the signature and delegation chain at a given time, and
`check_ingress_expiry` the expiry window. `decode_request` runs all three, which is
what a replica endpoint wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from icframework.core import Principal, PrincipalError
from icframework.identity import (
    Delegation,
    Identity,
    IdentityError,
    SignedDelegation,
    unwrap_der,
    verify_signature,
)
from icframework.protocol._cbor import CborLimits, dumps_tagged, loads_strict
from icframework.protocol._time import NANOS_PER_SECOND, format_ns
from icframework.protocol.delegation import MAX_DELEGATIONS, MAX_TARGETS, verify_delegation_chain
from icframework.protocol.errors import (
    AuthenticationError,
    IngressExpiryError,
    MalformedRequestError,
    ProtocolError,
)
from icframework.protocol.request_id import REQUEST_DOMAIN, request_id

MAX_NONCE_BYTES = 32
MAX_PATHS = 1000
MAX_PATH_LABELS = 127
MAX_INGRESS_TTL_NS = 300 * NANOS_PER_SECOND
# The deepest request is envelope → sender_delegation → entry → delegation → targets →
# principal; the most items a valid request holds is a read_state of MAX_PATHS paths of
# MAX_PATH_LABELS labels, plus the envelope around them.
MAX_REQUEST_DEPTH = 8
MAX_REQUEST_ITEMS = MAX_PATHS * (MAX_PATH_LABELS + 1) + 1000
REQUEST_CBOR_LIMITS = CborLimits(
    max_depth=MAX_REQUEST_DEPTH, max_items=MAX_REQUEST_ITEMS, text_keys=True
)
PERMITTED_DRIFT_NS = 30 * NANOS_PER_SECOND


@dataclass(frozen=True, slots=True)
class CallContent:
    """An update call: run ``method_name`` on ``canister_id`` with Candid ``arg``."""

    canister_id: Principal
    method_name: str
    arg: bytes
    sender: Principal
    ingress_expiry: int
    nonce: bytes | None = None

    request_type: ClassVar[str] = "call"

    def to_map(self) -> dict[str, object]:
        """The ``content`` map as sent on the wire (and hashed into the request id)."""
        return _method_call_map(self)


@dataclass(frozen=True, slots=True)
class QueryContent:
    """A query: same fields as a call, answered without consensus."""

    canister_id: Principal
    method_name: str
    arg: bytes
    sender: Principal
    ingress_expiry: int
    nonce: bytes | None = None

    request_type: ClassVar[str] = "query"

    def to_map(self) -> dict[str, object]:
        """The ``content`` map as sent on the wire (and hashed into the request id)."""
        return _method_call_map(self)


def _method_call_map(content: CallContent | QueryContent) -> dict[str, object]:
    out: dict[str, object] = {
        "request_type": content.request_type,
        "canister_id": content.canister_id.raw,
        "method_name": content.method_name,
        "arg": content.arg,
        "sender": content.sender.raw,
        "ingress_expiry": content.ingress_expiry,
    }
    if content.nonce is not None:
        out["nonce"] = content.nonce
    return out


@dataclass(frozen=True, slots=True)
class ReadStateContent:
    """A read_state request for the certified values at ``paths`` (each a tuple of labels)."""

    sender: Principal
    ingress_expiry: int
    paths: tuple[tuple[bytes, ...], ...]
    nonce: bytes | None = None

    request_type: ClassVar[str] = "read_state"

    def to_map(self) -> dict[str, object]:
        """The ``content`` map as sent on the wire (and hashed into the request id)."""
        out: dict[str, object] = {
            "request_type": self.request_type,
            "sender": self.sender.raw,
            "ingress_expiry": self.ingress_expiry,
            "paths": [list(path) for path in self.paths],
        }
        if self.nonce is not None:
            out["nonce"] = self.nonce
        return out


Content = CallContent | QueryContent | ReadStateContent


@dataclass(frozen=True, slots=True)
class Envelope:
    """A request as posted to the replica: content plus the sender's authentication."""

    content: Content
    sender_pubkey: bytes | None = None
    sender_sig: bytes | None = None
    sender_delegation: tuple[SignedDelegation, ...] | None = None
    _request_id: bytes | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def request_id(self) -> bytes:
        """The 32-byte request id (hash of the content map), computed once: verifying
        the signature and answering the request both need it."""
        rid = self._request_id
        if rid is None:
            rid = request_id(self.content.to_map())
            object.__setattr__(self, "_request_id", rid)
        return rid

    def to_map(self) -> dict[str, object]:
        """The envelope map; absent authentication fields are left out."""
        out: dict[str, object] = {"content": self.content.to_map()}
        if self.sender_pubkey is not None:
            out["sender_pubkey"] = self.sender_pubkey
        if self.sender_sig is not None:
            out["sender_sig"] = self.sender_sig
        if self.sender_delegation is not None:
            out["sender_delegation"] = [signed.to_map() for signed in self.sender_delegation]
        return out

    def to_cbor(self) -> bytes:
        """The request body: self-describe-tagged CBOR of `to_map`."""
        return dumps_tagged(self.to_map())


def sign_envelope(content: Content, identity: Identity) -> Envelope:
    """Sign ``content`` as ``identity``; anonymous identities produce unsigned envelopes.

    Raises `ProtocolError` if ``content.sender`` is not ``identity.principal``.
    """
    if content.sender != identity.principal:
        raise ProtocolError(
            f"content.sender is {content.sender} but the signing identity is "
            f"{identity.principal}; build the content with sender=identity.principal"
        )
    public_key = identity.der_public_key
    if public_key is None:
        return Envelope(content)
    signature = identity.sign(REQUEST_DOMAIN + request_id(content.to_map()))
    return Envelope(content, public_key, signature, identity.sender_delegation)


# -- parsing ----------------------------------------------------------------------

_ENVELOPE_FIELDS = frozenset({"content", "sender_pubkey", "sender_sig", "sender_delegation"})
_CALL_FIELDS = frozenset(
    {"request_type", "canister_id", "method_name", "arg", "sender", "ingress_expiry", "nonce"}
)
_READ_STATE_FIELDS = frozenset({"request_type", "sender", "ingress_expiry", "paths", "nonce"})


def _kind(value: object) -> str:
    """A CBOR-ish name for a decoded value's type, for error messages."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, bytes):
        return "bytes"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "map"
    if value is None:
        return "null"
    return type(value).__name__


def _check_fields(where: str, value: Mapping[object, object], allowed: frozenset[str]) -> None:
    for key in value:
        if key not in allowed:
            raise MalformedRequestError(
                f"{where} has unexpected field {key!r}; allowed: {', '.join(sorted(allowed))}"
            )


def _field(where: str, mapping: Mapping[object, object], name: str, kind: type) -> object:
    if name not in mapping:
        raise MalformedRequestError(f"{where} is missing required field {name!r}")
    value = mapping[name]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        expected = "a nat (CBOR unsigned integer)"
    elif kind is list:
        ok = isinstance(value, list | tuple)
        expected = "an array"
    elif kind is Mapping:
        ok = isinstance(value, Mapping)
        expected = "a map"
    else:
        ok = isinstance(value, kind)
        expected = "bytes" if kind is bytes else "text"
    if not ok:
        text = repr(value)
        shown = "" if value is None else " " + (text if len(text) <= 40 else text[:40] + "…")
        raise MalformedRequestError(
            f"{where} field {name!r} must be {expected}, got {_kind(value)}{shown}"
        )
    return value


def _bytes(where: str, mapping: Mapping[object, object], name: str) -> bytes:
    value = _field(where, mapping, name, bytes)
    assert isinstance(value, bytes)
    return value


def _nat(where: str, mapping: Mapping[object, object], name: str) -> int:
    value = _field(where, mapping, name, int)
    assert isinstance(value, int)
    return value


def _principal(where: str, mapping: Mapping[object, object], name: str) -> Principal:
    raw = _bytes(where, mapping, name)
    try:
        return Principal(raw)
    except PrincipalError as exc:
        raise MalformedRequestError(f"{where} field {name!r} is not a principal: {exc}") from exc


def _optional_nonce(mapping: Mapping[object, object]) -> bytes | None:
    if "nonce" not in mapping:
        return None
    nonce = _bytes("request content", mapping, "nonce")
    if len(nonce) > MAX_NONCE_BYTES:
        raise MalformedRequestError(
            f"request content field 'nonce' is {len(nonce)} bytes; the maximum is {MAX_NONCE_BYTES}"
        )
    return nonce


def _parse_content(raw: Mapping[object, object]) -> Content:
    where = "request content"
    request_type = _field(where, raw, "request_type", str)
    if request_type in ("call", "query"):
        _check_fields(where, raw, _CALL_FIELDS)
        method_name = _field(where, raw, "method_name", str)
        assert isinstance(method_name, str)
        cls = CallContent if request_type == "call" else QueryContent
        return cls(
            canister_id=_principal(where, raw, "canister_id"),
            method_name=method_name,
            arg=_bytes(where, raw, "arg"),
            sender=_principal(where, raw, "sender"),
            ingress_expiry=_nat(where, raw, "ingress_expiry"),
            nonce=_optional_nonce(raw),
        )
    if request_type == "read_state":
        _check_fields(where, raw, _READ_STATE_FIELDS)
        return ReadStateContent(
            sender=_principal(where, raw, "sender"),
            ingress_expiry=_nat(where, raw, "ingress_expiry"),
            paths=_parse_paths(_field(where, raw, "paths", list)),
            nonce=_optional_nonce(raw),
        )
    raise MalformedRequestError(
        f"unknown request_type {request_type!r}; expected 'call', 'query' or 'read_state'"
    )


def _parse_paths(paths: object) -> tuple[tuple[bytes, ...], ...]:
    assert isinstance(paths, list | tuple)
    if len(paths) > MAX_PATHS:
        raise MalformedRequestError(
            f"read_state request has {len(paths)} paths; the maximum is {MAX_PATHS}"
        )
    parsed = []
    for index, path in enumerate(paths):
        if not isinstance(path, list | tuple):
            raise MalformedRequestError(
                f"read_state path {index} must be an array of byte labels, got {_kind(path)}"
            )
        if len(path) > MAX_PATH_LABELS:
            raise MalformedRequestError(
                f"read_state path {index} has {len(path)} labels; the maximum is {MAX_PATH_LABELS}"
            )
        for label in path:
            if not isinstance(label, bytes):
                raise MalformedRequestError(
                    f"read_state path {index} has a label of type {_kind(label)}; labels are bytes"
                )
        parsed.append(tuple(path))
    return tuple(parsed)


def _parse_delegations(value: object) -> tuple[SignedDelegation, ...]:
    where = "sender_delegation"
    if not isinstance(value, list | tuple):
        raise MalformedRequestError(f"{where} must be an array, got {_kind(value)}")
    if len(value) > MAX_DELEGATIONS:
        raise MalformedRequestError(
            f"{where} has {len(value)} entries; the maximum is {MAX_DELEGATIONS}"
        )
    parsed = []
    for index, entry in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise MalformedRequestError(f"{at} must be a map, got {_kind(entry)}")
        _check_fields(at, entry, frozenset({"delegation", "signature"}))
        inner = _field(at, entry, "delegation", Mapping)
        assert isinstance(inner, Mapping)
        inner_at = f"{at}.delegation"
        _check_fields(inner_at, inner, frozenset({"pubkey", "expiration", "targets"}))
        targets: tuple[Principal, ...] | None = None
        if "targets" in inner:
            raw_targets = _field(inner_at, inner, "targets", list)
            assert isinstance(raw_targets, list | tuple)
            if len(raw_targets) > MAX_TARGETS:
                raise MalformedRequestError(
                    f"{inner_at} has {len(raw_targets)} targets; the maximum is {MAX_TARGETS}"
                )
            targets = tuple(_principal(inner_at, {"targets": t}, "targets") for t in raw_targets)
        parsed.append(
            SignedDelegation(
                Delegation(
                    _bytes(inner_at, inner, "pubkey"),
                    _nat(inner_at, inner, "expiration"),
                    targets,
                ),
                _bytes(at, entry, "signature"),
            )
        )
    return tuple(parsed)


def parse_envelope(data: bytes) -> Envelope:
    """Decode and validate a request body; raise a `ProtocolError` subclass naming the problem.

    Checks the CBOR before decoding it (`REQUEST_CBOR_LIMITS`: no tag but a leading
    55799, so integers fit 64 bits; definite lengths; at most `MAX_REQUEST_DEPTH` levels
    and `MAX_REQUEST_ITEMS` items; distinct text keys), the envelope and content shapes
    and field types, the nonce (≤ 32 bytes) and path limits (≤ 1000 paths of ≤ 127
    labels), and that the sender is the
    self-authenticating principal of ``sender_pubkey`` — or anonymous with no
    authentication fields at all. A null ``sender_pubkey``, ``sender_sig`` or
    ``sender_delegation`` counts as absent, as on the IC; a null anywhere else is a
    wrong type. Signatures are checked by `verify_envelope`.
    """
    decoded = loads_strict(data, "request body", MalformedRequestError, REQUEST_CBOR_LIMITS)
    if not isinstance(decoded, Mapping):
        raise MalformedRequestError(f"request envelope must be a CBOR map, got {_kind(decoded)}")
    _check_fields("request envelope", decoded, _ENVELOPE_FIELDS)
    if "content" not in decoded:
        raise MalformedRequestError("request envelope is missing required field 'content'")
    raw_content = decoded["content"]
    if not isinstance(raw_content, Mapping):
        raise MalformedRequestError(
            f"request envelope field 'content' must be a map, got {_kind(raw_content)}"
        )
    content = _parse_content(raw_content)
    # The IC reads a null authentication field as one left out, and agents rely on it
    # (ic-py sends ``sender_pubkey: null, sender_sig: null`` for anonymous requests).
    pubkey = (
        _bytes("request envelope", decoded, "sender_pubkey")
        if decoded.get("sender_pubkey") is not None else None
    )
    signature = (
        _bytes("request envelope", decoded, "sender_sig")
        if decoded.get("sender_sig") is not None else None
    )
    raw_delegations = decoded.get("sender_delegation")
    delegations = None if raw_delegations is None else _parse_delegations(raw_delegations)
    envelope = Envelope(content, pubkey, signature, delegations)
    _check_sender(envelope)
    return envelope


def _check_sender(envelope: Envelope) -> None:
    sender = envelope.content.sender
    authenticated = (envelope.sender_pubkey, envelope.sender_sig, envelope.sender_delegation)
    if sender.is_anonymous:
        if any(field is not None for field in authenticated):
            raise AuthenticationError(
                "the anonymous sender (2vxsx-fae) must not send sender_pubkey, sender_sig "
                "or sender_delegation"
            )
        return
    if envelope.sender_pubkey is None or envelope.sender_sig is None:
        raise AuthenticationError(
            f"sender {sender} is not anonymous, so the envelope needs sender_pubkey and sender_sig"
        )
    expected = Principal.self_authenticating(envelope.sender_pubkey)
    if sender != expected:
        raise AuthenticationError(
            f"sender {sender} does not match sender_pubkey, whose self-authenticating "
            f"principal is {expected}"
        )


def verify_envelope(
    envelope: Envelope, *, now_ns: int, effective_canister_id: Principal | None = None
) -> frozenset[Principal] | None:
    """Check the signature and delegation chain of a parsed envelope at time ``now_ns``.

    For call and query requests the target canister (and for read_state the
    ``effective_canister_id``, when given) must be among the delegation targets.
    Returns the allowed targets (None when unrestricted), which a replica needs to
    restrict read_state paths. Raises `AuthenticationError`.
    """
    _check_sender(envelope)
    if envelope.sender_pubkey is None:
        return None
    signing_key = envelope.sender_pubkey
    targets: frozenset[Principal] | None = None
    if envelope.sender_delegation:
        signing_key, targets = verify_delegation_chain(
            envelope.sender_pubkey, envelope.sender_delegation, now_ns=now_ns
        )
    signature = envelope.sender_sig
    if signature is None:
        raise AuthenticationError("the envelope has sender_pubkey but no sender_sig")
    rid = envelope.request_id
    try:
        valid = verify_signature(signing_key, REQUEST_DOMAIN + rid, signature)
    except IdentityError as exc:
        raise AuthenticationError(f"Invalid signature: unusable public key: {exc}") from exc
    if not valid:
        kind = unwrap_der(signing_key)[0].value
        raise AuthenticationError(
            f"Invalid signature: sender_sig does not verify for request id {rid.hex()} under "
            f"the {kind} key {'delegated by' if envelope.sender_delegation else 'of'} "
            f"{envelope.content.sender}"
        )
    if targets is not None:
        content = envelope.content
        target = (
            effective_canister_id if isinstance(content, ReadStateContent) else content.canister_id
        )
        if target is not None and target not in targets:
            raise AuthenticationError(
                f"Invalid delegation: canister {target} is not among the delegation targets "
                f"({', '.join(sorted(t.to_text() for t in targets)) or 'none'})"
            )
    return targets


def check_ingress_expiry(content: Content, now_ns: int) -> None:
    """Require ``now ≤ ingress_expiry ≤ now + 300 s + 30 s drift`` (all in ns).

    Raises `IngressExpiryError` whose text starts ``Invalid request expiry: `` exactly as
    the IC's does; agents match on that prefix to re-sync their clocks and retry.
    """
    expiry = content.ingress_expiry
    latest = now_ns + MAX_INGRESS_TTL_NS + PERMITTED_DRIFT_NS
    if not now_ns <= expiry <= latest:
        raise IngressExpiryError(
            "Invalid request expiry: Specified ingress_expiry not within expected range: "
            f"Minimum allowed expiry: {format_ns(now_ns)}, "
            f"Maximum allowed expiry: {format_ns(latest)}, "
            f"Provided expiry: {format_ns(expiry)}"
        )


def decode_request(
    data: bytes,
    *,
    now_ns: int,
    effective_canister_id: Principal | None = None,
    check_expiry: bool = True,
) -> Envelope:
    """`parse_envelope`, `check_ingress_expiry` (unless disabled), then `verify_envelope`."""
    envelope = parse_envelope(data)
    if check_expiry:
        check_ingress_expiry(envelope.content, now_ns)
    verify_envelope(envelope, now_ns=now_ns, effective_canister_id=effective_canister_id)
    return envelope
