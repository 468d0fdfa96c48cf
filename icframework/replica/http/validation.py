"""Checks on HTTP requests before and around the replica: pure functions that raise errors.

* `check_body`: size (413 over 2 MiB, from Content-Length before reading and from the
  body itself) and content type (400 unless ``application/cbor``).
* `decode_envelope`: parse, expiry window and signature of a request body of the
  expected type, returning the envelope and the delegation targets.
* `check_call_target` / `check_query_target`: the effective canister id rules.
* `authorize_canister_paths` / `authorize_subnet_paths`: which read_state paths a
  sender may read, with the IC's status codes (400, 403, 404) and messages.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from icframework.candid import PRINCIPAL, Field, Record
from icframework.core import Principal, PrincipalError
from icframework.protocol import (
    CallContent,
    Envelope,
    MalformedRequestError,
    QueryContent,
    ReadStateContent,
    check_ingress_expiry,
    parse_envelope,
    verify_envelope,
)
from icframework.replica.errors import decode_management_arg
from icframework.replica.http.errors import (
    BAD_REQUEST,
    FORBIDDEN,
    NOT_FOUND,
    PAYLOAD_TOO_LARGE,
    HttpError,
)
from icframework.replica.management import INGRESS_METHODS
from icframework.replica.subnet import Subnet

MAX_REQUEST_BYTES = 2 * 1024 * 1024
CBOR_CONTENT_TYPE = "application/cbor"
REQUEST_ID_BYTES = 32
# Management methods whose effective canister id may be any principal.
ANY_EFFECTIVE_ID_METHODS = frozenset({"provisional_create_canister_with_cycles", "create_canister"})
_TARGET_FIELD = {"install_chunked_code": "target_canister"}
_REQUEST_STATUS_LEAVES = frozenset(
    {b"status", b"reply", b"reject_code", b"reject_message", b"error_code"}
)
_SUBNET_LEAVES = frozenset({b"public_key", b"canister_ranges", b"node", b"type"})
_BOUNDARY_NODE_LEAVES = frozenset({b"domain", b"ipv4_address", b"ipv6_address"})

Paths = Sequence[Sequence[bytes]]


# -- the body ---------------------------------------------------------------------------


def check_content_length(content_length: str | None) -> None:
    """Refuse (413) a declared body over `MAX_REQUEST_BYTES` before reading it.

    The header is compared by its digits, so a 5,000-digit length is refused without
    being converted to an int; anything but ASCII digits is left to the server.
    """
    digits = length_digits(content_length)
    if digits is not None and digits_exceed(digits, MAX_REQUEST_BYTES):
        raise HttpError(PAYLOAD_TOO_LARGE, _too_large(shown_digits(digits)))


def length_digits(content_length: str | None) -> str | None:
    """A ``Content-Length``'s digits without leading zeros (``"0"`` for zero), or None
    when it is absent or not ASCII digits (the server refuses those itself)."""
    value = (content_length or "").strip()
    if not value.isascii() or not value.isdigit():
        return None
    return value.lstrip("0") or "0"


def digits_exceed(digits: str, limit: int) -> bool:
    """``int(digits) > limit`` without converting a number of any length (Python refuses
    to convert more than 4,300 digits)."""
    return len(digits) > len(str(limit)) or int(digits) > limit


def shown_digits(digits: str) -> str:
    """A number of any length as an error message shows it (the first 20 digits)."""
    return digits if len(digits) <= 20 else digits[:20] + "…"


def check_body(content_type: str | None, body: bytes) -> None:
    """Refuse a body over 2 MiB (413) or one not sent as ``application/cbor`` (400)."""
    if len(body) > MAX_REQUEST_BYTES:
        raise HttpError(PAYLOAD_TOO_LARGE, _too_large(len(body)))
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != CBOR_CONTENT_TYPE:
        raise HttpError(
            BAD_REQUEST,
            f"Unexpected content-type {content_type or '(none)'!r}, expected {CBOR_CONTENT_TYPE}.",
        )


def _too_large(size: int | str) -> str:
    return (
        f"Request body is {size} bytes, larger than the maximum of {MAX_REQUEST_BYTES} "
        "bytes (2 MiB); large Wasm modules go through upload_chunk and install_chunked_code."
    )


def parse_principal_text(text: str, what: str) -> Principal:
    """A principal from its textual form in the URL; 400 naming ``what`` if malformed."""
    try:
        return _principal_from_text(text)
    except PrincipalError as exc:
        raise HttpError(BAD_REQUEST, f"Invalid {what} {text!r} in the URL: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _principal_from_text(text: str) -> Principal:
    # Every request names its canister in the URL; parsing the text costs ~15 µs.
    # (A malformed text raises and is not cached.)
    return Principal.from_text(text)


# -- the envelope ------------------------------------------------------------------------


def decode_envelope(
    body: bytes, request_type: str, *, now_ns: int
) -> tuple[Envelope, frozenset[Principal] | None]:
    """Parse ``body``, check its expiry window and signature at ``now_ns``.

    Returns the envelope and its delegation targets (None when unrestricted). Raises
    a `ProtocolError` (malformed, ``Invalid request expiry: …``, authentication), or
    `MalformedRequestError` if the content is not a ``request_type`` request.
    """
    envelope = parse_envelope(body)
    expected = {"call": CallContent, "query": QueryContent, "read_state": ReadStateContent}
    if not isinstance(envelope.content, expected[request_type]):
        raise MalformedRequestError(
            f"this endpoint takes {request_type!r} requests, but request_type is "
            f"{envelope.content.request_type!r}"
        )
    check_ingress_expiry(envelope.content, now_ns)
    targets = verify_envelope(envelope, now_ns=now_ns)
    return envelope, targets


# -- effective canister ids ---------------------------------------------------------------


def management_target(method: str, arg: bytes) -> Principal | None:
    """The canister a management call acts on, which must be its effective canister id.

    None when any effective canister id is allowed (canister creation) or when the
    method cannot be called by ingress at all (the subnet's ingress check refuses it
    with the IC's reject). Raises `CanisterError` IC0408 if the argument lacks the
    canister id.
    """
    if method in ANY_EFFECTIVE_ID_METHODS or (
        method not in INGRESS_METHODS and method not in _TARGET_FIELD
    ):
        return None
    field = _TARGET_FIELD.get(method, "canister_id")
    value = decode_management_arg(method, arg, Record([Field(field, PRINCIPAL)]))
    target: Principal = value[field]
    return target


def check_call_target(content: CallContent, ecid: Principal) -> None:
    """Apply the effective canister id rules to an update call.

    A call to a canister must name the URL's canister; a management call's effective
    id is the canister in its argument (any id for canister creation). Raises
    `HttpError` 400 with the IC's message, or `CanisterError` IC0408 (see
    `management_target`).
    """
    if not content.canister_id.is_management_canister:
        if content.canister_id != ecid:
            raise HttpError(BAD_REQUEST, _mismatch(content.canister_id, ecid))
        return
    target = management_target(content.method_name, content.arg)
    if target is not None and target != ecid:
        raise HttpError(
            BAD_REQUEST,
            f"Specified CanisterId {target} (the canister_id argument of management method "
            f"{content.method_name}) does not match effective canister id in URL {ecid}",
        )


def check_query_target(content: QueryContent, ecid: Principal) -> None:
    """A query must name the URL's canister; queries to ``aaaaa-aa`` are exempt."""
    if not content.canister_id.is_management_canister and content.canister_id != ecid:
        raise HttpError(BAD_REQUEST, _mismatch(content.canister_id, ecid))


def _mismatch(canister_id: Principal, ecid: Principal) -> str:
    return f"Specified CanisterId {canister_id} does not match effective canister id in URL {ecid}"


# -- read_state paths --------------------------------------------------------------------


def authorize_canister_paths(
    subnet: Subnet,
    paths: Paths,
    *,
    sender: Principal,
    ecid: Principal,
    targets: frozenset[Principal] | None,
) -> None:
    """Check the paths of a read_state to ``/api/v2/canister/<ecid>/read_state``.

    Allowed: ``time``; the subnet and boundary-node paths; ``request_status/<id>[/…]``
    for one request id, sent by ``sender`` to ``ecid`` (and within its delegation
    ``targets``); ``canister/<ecid>/{module_hash,controllers,metadata/<name>}``, private
    metadata for controllers only. Raises `HttpError`: 400 for malformed ids or a
    canister other than ``ecid``, 403 for someone else's request or private metadata,
    404 for any other path.
    """
    request_id: bytes | None = None
    for path in paths:
        if _common_path(path):
            continue
        head, rest = path[0] if path else b"", list(path[1:])
        if head == b"request_status" and (
            len(rest) == 1 or (len(rest) == 2 and rest[1] in _REQUEST_STATUS_LEAVES)
        ):
            request_id = _check_request_status(subnet, rest[0], request_id, sender, ecid, targets)
        elif head == b"canister" and (
            (len(rest) == 2 and rest[1] in (b"module_hash", b"controllers"))
            or (len(rest) == 3 and rest[1] == b"metadata")
        ):
            canister = _path_canister_id(rest[0], ecid)
            if rest[1] == b"metadata":
                _check_metadata(subnet, canister, rest[2], sender)
        else:
            raise HttpError(NOT_FOUND, "Invalid path requested.")


def authorize_subnet_paths(paths: Paths, *, subnet_id: Principal) -> None:
    """Check the paths of a read_state to ``/api/v2/subnet/<subnet_id>/read_state``.

    Allowed: ``time``, the subnet and boundary-node paths, ``subnet/<subnet_id>/metrics``
    and ``canister_ranges/<subnet_id>``. Raises `HttpError` 404 for other paths.
    """
    for path in paths:
        if _common_path(path):
            continue
        metrics = len(path) == 3 and path[0] == b"subnet" and path[2] == b"metrics"
        ranges = len(path) in (2, 3) and path[0] == b"canister_ranges"
        if metrics or ranges:
            _check_subnet_id(path[1], subnet_id)
        else:
            raise HttpError(NOT_FOUND, "Invalid path requested.")


def _common_path(path: Sequence[bytes]) -> bool:
    """Paths every read_state endpoint serves: time, subnets and boundary nodes."""
    size = len(path)
    if size == 0:
        return False
    head = path[0]
    if head == b"time":
        return size == 1
    if head == b"subnet":
        return (
            size <= 2
            or (size == 3 and path[2] in _SUBNET_LEAVES)
            or (size == 4 and path[2] == b"node")
            or (size == 5 and path[2] == b"node" and path[4] == b"public_key")
        )
    if head == b"api_boundary_nodes":
        return size <= 2 or (size == 3 and path[2] in _BOUNDARY_NODE_LEAVES)
    return False


def _check_request_status(
    subnet: Subnet,
    request_id: bytes,
    previous: bytes | None,
    sender: Principal,
    ecid: Principal,
    targets: frozenset[Principal] | None,
) -> bytes:
    if len(request_id) != REQUEST_ID_BYTES:
        raise HttpError(
            BAD_REQUEST,
            f"Invalid request id in paths. Maybe the request ID is not of {REQUEST_ID_BYTES} "
            f"bytes in length?! Got {len(request_id)} bytes.",
        )
    if previous is not None and previous != request_id:
        raise HttpError(
            BAD_REQUEST,
            "More than one non-unique request ID exists in request_status paths: "
            f"{previous.hex()} and {request_id.hex()}.",
        )
    status = subnet.ingress_status(request_id)
    if status is not None:
        if status.sender != sender.raw:
            raise HttpError(
                FORBIDDEN, "The user tries to access Request ID not signed by the caller."
            )
        receiver = Principal(status.canister_id)
        if targets is not None and receiver not in targets:
            raise HttpError(
                FORBIDDEN,
                "The user tries to access request IDs for canisters not belonging to sender "
                "delegation targets.",
            )
        if receiver != ecid:
            raise HttpError(
                FORBIDDEN,
                f"The user tries to access a request sent to effective canister id {receiver} "
                f"through effective canister id {ecid} in the URL.",
            )
    return request_id


def _path_canister_id(label: bytes, ecid: Principal) -> Principal:
    try:
        canister = Principal(label)
    except PrincipalError as exc:
        raise HttpError(BAD_REQUEST, f"Could not parse Canister ID: {exc}.") from None
    if canister != ecid:
        raise HttpError(
            BAD_REQUEST,
            f"Effective canister id in URL {ecid} does not match requested canister id: "
            f"{canister}.",
        )
    return canister


def _check_metadata(subnet: Subnet, canister: Principal, label: bytes, sender: Principal) -> None:
    try:
        name = label.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(
            BAD_REQUEST, f"Could not parse the custom section name: {exc}."
        ) from None
    state = subnet.canister_state.states.get(canister.raw)
    sandbox = subnet.canister_state.sandboxes.get(canister.raw)
    if state is None or sandbox is None:
        return
    section = sandbox.module.metadata.get(name)
    if section is None or section.public:
        return
    if sender.raw not in state.settings.controllers:
        raise HttpError(
            FORBIDDEN,
            f"Custom section {name[:100]} can only be requested by the controllers of the "
            "canister.",
        )


def _check_subnet_id(label: bytes, subnet_id: Principal) -> None:
    try:
        requested = Principal(label)
    except PrincipalError as exc:
        raise HttpError(BAD_REQUEST, f"Could not parse Subnet ID: {exc}.") from None
    if requested != subnet_id:
        raise HttpError(
            BAD_REQUEST,
            f"Effective principal id in URL {subnet_id} does not match requested principal id: "
            f"{requested}.",
        )
