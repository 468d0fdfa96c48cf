"""The agent: a client of the IC HTTP interface, blocking (`Agent`) or asyncio (`AsyncAgent`).

How it works: every operation (status, query, update, read_state, polling) is written
once, in `_AgentCore`, as a *flow*: a generator that yields the HTTP requests and
pauses it needs and is sent the responses back. The core owns the identity, the root
key, the clock and the node-key cache, and does all the CBOR, signing and
verification through `icframework.protocol`. `Agent` drives flows with an
``httpx.Client`` and ``time.sleep``, `AsyncAgent` with an ``httpx.AsyncClient`` and
``asyncio.sleep``, so both behave identically.

What is verified, as ``@dfinity/agent`` does:

* every certificate (update replies, polling, read_state) against the root key, its
  ``/time`` within ±5 minutes of the local clock;
* with ``verify_query_signatures`` (the default), every query response's node
  signatures, using the node keys of the canister's subnet read from a verified
  ``read_state`` of ``/subnet`` (cached for 5 minutes per effective canister id and
  re-fetched once when a signature does not verify).

Updates go to ``/api/v3/.../call`` (synchronous); a 202 means "still running" and the
agent polls ``read_state`` for the request status with exponential backoff, and a
404 means the replica has no v3 endpoint, so the call is re-sent to ``/api/v2``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from icframework.agent.errors import (
    AgentError,
    CertificateVerificationError,
    HttpError,
    RejectError,
    RequestStatusError,
    ResponseFormatError,
)
from icframework.core import Principal, PrincipalError, decode_uleb128
from icframework.identity import AnonymousIdentity, Identity
from icframework.protocol import (
    CallContent,
    Certificate,
    LookupStatus,
    NodeSignature,
    ProtocolError,
    QueryContent,
    ReadStateContent,
    decode_canister_ranges,
    sign_envelope,
    verify_certificate,
    verify_query_response,
)
from icframework.protocol._cbor import loads_strict
from icframework.protocol.hashtree import Labeled, flatten_forks, lookup_subtree, lookup_value

T = TypeVar("T")

NANOS_PER_SECOND = 1_000_000_000
DEFAULT_URL = "http://127.0.0.1:4943"
MAINNET_URL = "https://icp-api.io"

#: The IC mainnet root key (DER), used when neither ``root_key`` nor ``fetch_root_key`` is set.
IC_ROOT_KEY = bytes.fromhex(
    "308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100"
    "814c0e6ec71fab583b08bd81373c255c3c371b2e84863c98a4f1e08b74235d14fb5d9c0cd546d968"
    "5f913a0c0b2cc5341583bf4b4392e467db96d65b9bb4cb717112f8472e0d5a4d14505ffd7484b012"
    "91091c5f87b98883463f98091a0baaae"
)

#: How long node keys and query signatures stay acceptable (agent-js: 5 minutes).
NODE_KEY_TTL_NS = 5 * 60 * NANOS_PER_SECOND
QUERY_SIGNATURE_MAX_AGE_NS = 5 * 60 * NANOS_PER_SECOND
TERMINAL_STATUSES = frozenset({"replied", "rejected", "done"})
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_HEADERS = {"content-type": "application/cbor"}

CanisterLike = Principal | str
PathLike = Sequence[bytes | str | Principal]


@dataclass(frozen=True, slots=True)
class PollingStrategy:
    """Delays between ``request_status`` polls, in seconds: grow by ``factor`` up to ``max_delay``.

    Polling gives up with `RequestStatusError` after ``timeout`` seconds.
    """

    initial_delay: float = 0.05
    factor: float = 1.5
    max_delay: float = 1.0
    timeout: float = 300.0


@dataclass(frozen=True, slots=True)
class RequestStatus:
    """The certified status of a request, read from ``/request_status/<request id>``.

    ``status`` is ``received``, ``processing``, ``replied``, ``rejected``, ``done`` or
    ``unknown`` (the certificate does not know the request, yet or any more).
    """

    request_id: bytes
    status: str
    reply: bytes | None = None
    reject_code: int | None = None
    reject_message: str | None = None
    error_code: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the request has finished (replied, rejected, or done and forgotten)."""
        return self.status in TERMINAL_STATUSES


# -- the sans-IO core -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class _Sleep:
    seconds: float


_Flow = Generator[_Request | _Sleep, _Response | None, T]


def as_principal(value: CanisterLike, what: str = "canister id") -> Principal:
    """``value`` as a `Principal`; text is parsed. Raises `AgentError` naming ``what``."""
    if isinstance(value, Principal):
        return value
    try:
        return Principal.from_text(value)
    except PrincipalError as exc:
        raise AgentError(f"{what} {value!r} is not a principal: {exc}") from None


def _routing(
    canister_id: CanisterLike, effective_canister_id: CanisterLike | None
) -> tuple[Principal, Principal]:
    """The target canister and the effective canister id (by default the target itself)."""
    target = as_principal(canister_id)
    if effective_canister_id is None:
        return target, target
    return target, as_principal(effective_canister_id, "effective canister id")


def _label(label: bytes | str | Principal) -> bytes:
    if isinstance(label, Principal):
        return label.raw
    return label.encode("utf-8") if isinstance(label, str) else bytes(label)


def _loads(body: bytes, what: str) -> Mapping[str, Any]:
    decoded = loads_strict(body, what, ResponseFormatError)
    if not isinstance(decoded, Mapping):
        raise ResponseFormatError(f"{what} must be a CBOR map, got {type(decoded).__name__}")
    return decoded


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _reject_from(
    fields: Mapping[str, Any], canister_id: Principal, method: str, *, certified: bool
) -> RejectError:
    code = fields.get("reject_code")
    message = fields.get("reject_message")
    error_code = fields.get("error_code")
    if not isinstance(code, int) or not isinstance(message, str):
        raise ResponseFormatError(
            f"a reject needs an integer reject_code and a text reject_message, got "
            f"{code!r} and {message!r}"
        )
    return RejectError(
        code,
        message,
        error_code if isinstance(error_code, str) else None,
        canister_id=canister_id.to_text(),
        method=method,
        certified=certified,
    )


def request_status_from_certificate(certificate: Certificate, request_id: bytes) -> RequestStatus:
    """Read ``/request_status/<request_id>/…`` out of a (verified) certificate."""
    base: list[bytes | str] = ["request_status", request_id]
    found = certificate.lookup([*base, "status"])
    if found.status is not LookupStatus.FOUND or found.value is None:
        return RequestStatus(request_id, "unknown")
    status = found.value.decode("utf-8", errors="replace")
    if status == "replied":
        reply = lookup_value([*base, "reply"], certificate.tree)
        if reply is None:
            raise CertificateVerificationError(
                f"request {request_id.hex()} is 'replied' but the certificate has no reply"
            )
        return RequestStatus(request_id, status, reply=reply)
    if status == "rejected":
        raw_code = lookup_value([*base, "reject_code"], certificate.tree)
        raw_message = lookup_value([*base, "reject_message"], certificate.tree)
        raw_error = lookup_value([*base, "error_code"], certificate.tree)
        if raw_code is None or raw_message is None:
            raise CertificateVerificationError(
                f"request {request_id.hex()} is 'rejected' but the certificate lacks "
                "reject_code or reject_message"
            )
        return RequestStatus(
            request_id,
            status,
            reject_code=decode_uleb128(raw_code)[0],
            reject_message=raw_message.decode("utf-8", errors="replace"),
            error_code=None if raw_error is None else raw_error.decode("utf-8", errors="replace"),
        )
    return RequestStatus(request_id, status)


def _outcome(status: RequestStatus, canister_id: Principal, method: str) -> bytes:
    """The reply bytes of a terminal status; raise for rejected or done."""
    if status.status == "replied":
        assert status.reply is not None
        return status.reply
    if status.status == "rejected":
        assert status.reject_code is not None and status.reject_message is not None
        raise RejectError(
            status.reject_code,
            status.reject_message,
            status.error_code,
            canister_id=canister_id.to_text(),
            method=method,
            certified=True,
        )
    raise RequestStatusError(
        f"call {canister_id}.{method} (request {status.request_id.hex()}) is '{status.status}': "
        "it finished but its reply is no longer available"
    )


class _AgentCore:
    """Identity, keys, clock and caches, and every operation as a sans-IO flow."""

    def __init__(
        self,
        identity: Identity | None,
        root_key: bytes | None,
        fetch_root_key: bool,
        verify_query_signatures: bool,
        ingress_expiry_seconds: float,
        polling: PollingStrategy | None,
        clock: Callable[[], int] | None,
        retries: int,
    ) -> None:
        if root_key is not None and fetch_root_key:
            raise AgentError("pass either root_key or fetch_root_key=True, not both")
        self.identity: Identity = identity or AnonymousIdentity()
        self.root_key: bytes | None = root_key if root_key or fetch_root_key else IC_ROOT_KEY
        self.verify_query_signatures = verify_query_signatures
        self.ingress_expiry_ns = int(ingress_expiry_seconds * NANOS_PER_SECOND)
        self.polling = polling or PollingStrategy()
        self.clock: Callable[[], int] = clock or time.time_ns
        self.retries = retries
        self._node_keys: dict[bytes, tuple[int, dict[Principal, bytes]]] = {}

    # -- helpers

    def _expiry(self) -> int:
        return self.clock() + self.ingress_expiry_ns

    def _verify(self, data: object, canister_id: Principal | None) -> Certificate:
        if not isinstance(data, bytes):
            raise ResponseFormatError(f"'certificate' must be bytes, got {type(data).__name__}")
        assert self.root_key is not None
        try:
            return verify_certificate(
                data, self.root_key, canister_id=canister_id, now_ns=self.clock()
            )
        except ProtocolError as exc:
            raise CertificateVerificationError(str(exc)) from exc

    def _post(self, path: str, body: bytes) -> _Flow[_Response]:
        delay = 0.2
        for attempt in range(self.retries + 1):
            response = yield _Request("POST", path, body)
            assert response is not None
            if response.status not in _RETRYABLE_HTTP or attempt == self.retries:
                return response
            yield _Sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _ensure_root_key(self) -> _Flow[bytes]:
        if self.root_key is None:
            yield from self.fetch_root_key()
        assert self.root_key is not None
        return self.root_key

    # -- operations

    def status(self) -> _Flow[dict[str, Any]]:
        response = yield _Request("GET", "/api/v2/status")
        assert response is not None
        if response.status != 200:
            raise HttpError(response.status, _text(response.body), url="/api/v2/status")
        return dict(_loads(response.body, "status response"))

    def fetch_root_key(self) -> _Flow[bytes]:
        status = yield from self.status()
        key = status.get("root_key")
        if not isinstance(key, bytes):
            raise ResponseFormatError("the status response has no 'root_key' byte string")
        self.root_key = key
        return key

    def read_state(
        self, target: CanisterLike, paths: Iterable[PathLike], *, subnet: bool = False
    ) -> _Flow[Certificate]:
        principal = as_principal(target, "subnet id" if subnet else "canister id")
        yield from self._ensure_root_key()
        content = ReadStateContent(
            sender=self.identity.principal,
            ingress_expiry=self._expiry(),
            paths=tuple(tuple(_label(label) for label in path) for path in paths),
        )
        envelope = sign_envelope(content, self.identity)
        kind = "subnet" if subnet else "canister"
        path = f"/api/v2/{kind}/{principal}/read_state"
        response = yield from self._post(path, envelope.to_cbor())
        if response.status != 200:
            raise HttpError(response.status, _text(response.body), url=path)
        body = _loads(response.body, "read_state response")
        return self._verify(body.get("certificate"), None if subnet else principal)

    def request_status(
        self, effective_canister_id: CanisterLike, request_id: bytes
    ) -> _Flow[RequestStatus]:
        certificate = yield from self.read_state(
            effective_canister_id, [[b"request_status", request_id]]
        )
        return request_status_from_certificate(certificate, request_id)

    def poll(
        self,
        effective_canister_id: Principal,
        request_id: bytes,
        canister_id: Principal,
        method: str,
    ) -> _Flow[bytes]:
        strategy = self.polling
        delay = strategy.initial_delay
        deadline = time.monotonic() + strategy.timeout
        while True:
            status = yield from self.request_status(effective_canister_id, request_id)
            if status.is_terminal:
                return _outcome(status, canister_id, method)
            if time.monotonic() >= deadline:
                raise RequestStatusError(
                    f"call {canister_id}.{method} (request {request_id.hex()}) is still "
                    f"'{status.status}' after {strategy.timeout:g} s of polling"
                )
            yield _Sleep(delay)
            delay = min(delay * strategy.factor, strategy.max_delay)

    def submit(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
        *,
        sync: bool = True,
    ) -> _Flow[tuple[bytes, bytes | None]]:
        """Send a call; return its request id, and the reply if the replica gave it at once."""
        target, ecid = _routing(canister_id, effective_canister_id)
        yield from self._ensure_root_key()
        content = CallContent(
            canister_id=target,
            method_name=method,
            arg=bytes(arg),
            sender=self.identity.principal,
            ingress_expiry=self._expiry(),
            nonce=os.urandom(16),
        )
        envelope = sign_envelope(content, self.identity)
        body = envelope.to_cbor()
        request_id = envelope.request_id
        path = f"/api/v3/canister/{ecid}/call"
        response = (yield from self._post(path, body)) if sync else None
        if response is None or response.status == 404:
            # No v3 endpoint (or an asynchronous submit): the v2 call answers 202 at once.
            path = f"/api/v2/canister/{ecid}/call"
            response = yield from self._post(path, body)
        if response.status == 202:
            return request_id, None
        if response.status != 200:
            raise HttpError(response.status, _text(response.body), url=path)
        reply = _loads(response.body, "call response")
        if "certificate" in reply:
            certificate = self._verify(reply["certificate"], ecid)
            status = request_status_from_certificate(certificate, request_id)
            if status.is_terminal:
                return request_id, _outcome(status, target, method)
            return request_id, None
        if "reject_code" in reply:
            raise _reject_from(reply, target, method, certified=False)
        raise ResponseFormatError(
            f"call response from {path} has neither 'certificate' nor 'reject_code': "
            f"fields {sorted(map(str, reply))}"
        )

    def update(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> _Flow[bytes]:
        target, ecid = _routing(canister_id, effective_canister_id)
        request_id, reply = yield from self.submit(target, method, arg, ecid)
        if reply is not None:
            return reply
        return (yield from self.poll(ecid, request_id, target, method))

    def query(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> _Flow[bytes]:
        target, ecid = _routing(canister_id, effective_canister_id)
        if self.verify_query_signatures:
            yield from self._ensure_root_key()
        content = QueryContent(
            canister_id=target,
            method_name=method,
            arg=bytes(arg),
            sender=self.identity.principal,
            ingress_expiry=self._expiry(),
        )
        envelope = sign_envelope(content, self.identity)
        path = f"/api/v2/canister/{ecid}/query"
        response = yield from self._post(path, envelope.to_cbor())
        if response.status != 200:
            raise HttpError(response.status, _text(response.body), url=path)
        reply = _loads(response.body, "query response")
        if self.verify_query_signatures:
            yield from self._check_query_signatures(reply, envelope.request_id, ecid)
        status = reply.get("status")
        if status == "replied":
            inner = reply.get("reply")
            arg_bytes = inner.get("arg") if isinstance(inner, Mapping) else None
            if not isinstance(arg_bytes, bytes):
                raise ResponseFormatError("a replied query response needs reply.arg bytes")
            return arg_bytes
        if status == "rejected":
            raise _reject_from(reply, target, method, certified=False)
        raise ResponseFormatError(
            f"query response status must be 'replied' or 'rejected', got {status!r}"
        )

    # -- query signatures

    def _check_query_signatures(
        self, reply: Mapping[str, Any], request_id: bytes, ecid: Principal
    ) -> _Flow[None]:
        signatures = _node_signatures(reply)
        now = self.clock()
        for signature in signatures:
            if now - signature.timestamp > QUERY_SIGNATURE_MAX_AGE_NS:
                raise CertificateVerificationError(
                    f"query response signature by node {signature.identity} is stale: signed "
                    f"{(now - signature.timestamp) // NANOS_PER_SECOND} s ago (limit 300 s)"
                )
        keys = yield from self.node_keys(ecid)
        if _all_signed(reply, request_id, signatures, keys):
            return
        keys = yield from self.node_keys(ecid, refresh=True)
        for signature in signatures:
            key = keys.get(signature.identity)
            if key is None:
                raise CertificateVerificationError(
                    f"query response is signed by node {signature.identity}, which is not a "
                    f"node of the subnet of {ecid}"
                )
            if not verify_query_response(reply, request_id, signature, key):
                raise CertificateVerificationError(
                    f"query response signature by node {signature.identity} is invalid"
                )

    def node_keys(self, ecid: Principal, *, refresh: bool = False) -> _Flow[dict[Principal, bytes]]:
        """The node id → DER key map of the subnet hosting ``ecid`` (cached 5 minutes)."""
        now = self.clock()
        cached = self._node_keys.get(ecid.raw)
        if cached is not None and not refresh and cached[0] > now:
            return cached[1]
        certificate = yield from self.read_state(ecid, [[b"subnet"]])
        assert self.root_key is not None
        subnet_id = (
            certificate.delegation.subnet_id
            if certificate.delegation is not None
            else Principal.self_authenticating(self.root_key)
        )
        raw_ranges = lookup_value(["subnet", subnet_id.raw, "canister_ranges"], certificate.tree)
        if raw_ranges is None:
            raise CertificateVerificationError(
                f"the /subnet certificate does not reveal /subnet/{subnet_id}/canister_ranges"
            )
        try:
            ranges = decode_canister_ranges(raw_ranges)
        except ProtocolError as exc:
            raise CertificateVerificationError(str(exc)) from exc
        if not any(low <= ecid <= high for low, high in ranges):
            raise CertificateVerificationError(
                f"canister {ecid} is outside the canister ranges of subnet {subnet_id}"
            )
        nodes = lookup_subtree(["subnet", subnet_id.raw, "node"], certificate.tree)
        keys: dict[Principal, bytes] = {}
        for child in flatten_forks(nodes) if nodes is not None else []:
            if not isinstance(child, Labeled):
                continue
            key = lookup_value(["public_key"], child.subtree)
            if key is None or len(key) != 44:
                raise CertificateVerificationError(
                    f"node {child.label.hex()} of subnet {subnet_id} has no 44-byte public_key"
                )
            keys[Principal(child.label)] = key
        if not keys:
            raise CertificateVerificationError(
                f"the /subnet certificate lists no node keys for subnet {subnet_id}"
            )
        self._node_keys[ecid.raw] = (now + NODE_KEY_TTL_NS, keys)
        return keys


def _node_signatures(reply: Mapping[str, Any]) -> list[NodeSignature]:
    raw = reply.get("signatures")
    if not isinstance(raw, list | tuple) or not raw:
        raise CertificateVerificationError(
            "the query response carries no node signatures; the replica must sign query "
            "responses (or create the agent with verify_query_signatures=False)"
        )
    out = []
    for entry in raw:
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("timestamp"), int)
            and isinstance(entry.get("signature"), bytes)
            and isinstance(entry.get("identity"), bytes)
        ):
            raise CertificateVerificationError(
                "a query response signature must be {timestamp: nat, signature: bytes, "
                "identity: bytes}"
            )
        out.append(
            NodeSignature(entry["timestamp"], entry["signature"], Principal(entry["identity"]))
        )
    return out


def _all_signed(
    reply: Mapping[str, Any],
    request_id: bytes,
    signatures: list[NodeSignature],
    keys: Mapping[Principal, bytes],
) -> bool:
    for signature in signatures:
        key = keys.get(signature.identity)
        if key is None or not verify_query_response(reply, request_id, signature, key):
            return False
    return True


# -- drivers ----------------------------------------------------------------------------


class _AgentBase:
    """Configuration shared by `Agent` and `AsyncAgent` (see `Agent` for the arguments)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        identity: Identity | None = None,
        root_key: bytes | None = None,
        fetch_root_key: bool = False,
        verify_query_signatures: bool = True,
        ingress_expiry_seconds: float = 240,
        *,
        polling: PollingStrategy | None = None,
        clock: Callable[[], int] | None = None,
        timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._core = _AgentCore(
            identity,
            root_key,
            fetch_root_key,
            verify_query_signatures,
            ingress_expiry_seconds,
            polling,
            clock,
            retries,
        )

    @property
    def identity(self) -> Identity:
        """Who signs this agent's requests."""
        return self._core.identity

    @identity.setter
    def identity(self, identity: Identity) -> None:
        self._core.identity = identity

    @property
    def root_key(self) -> bytes | None:
        """The DER root key certificates are checked against (None until fetched)."""
        return self._core.root_key

    @root_key.setter
    def root_key(self, key: bytes) -> None:
        self._core.root_key = key
        self._core._node_keys.clear()

    def _unreachable(self, request: _Request, exc: Exception) -> AgentError:
        return AgentError(
            f"cannot reach the replica at {self.url}{request.path}: {exc} "
            "(is it running? start one with `python manage.py runreplica`)"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r}, identity={self.identity!r})"


class Agent(_AgentBase):
    """A blocking client of the IC HTTP interface at ``url``.

    ``identity`` signs requests (anonymous by default). Certificates are checked
    against ``root_key`` (DER); with ``fetch_root_key=True`` the key is taken from the
    replica's ``/api/v2/status`` on first use (only ever do that for a local replica);
    with neither, the IC mainnet key is used. ``ingress_expiry_seconds`` is how far
    ahead requests expire (the IC accepts at most 300 s + 30 s drift). Keyword-only:
    ``polling`` (a `PollingStrategy`), ``clock`` (a function giving ns since the epoch,
    for tests), ``timeout`` (HTTP, seconds), ``retries`` (for 429/502/503/504) and
    ``transport`` (an ``httpx`` transport, for tests). Every method raises an
    `AgentError` subclass: `RejectError`, `HttpError`, `CertificateVerificationError`,
    `RequestStatusError` or `ResponseFormatError`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        identity: Identity | None = None,
        root_key: bytes | None = None,
        fetch_root_key: bool = False,
        verify_query_signatures: bool = True,
        ingress_expiry_seconds: float = 240,
        *,
        polling: PollingStrategy | None = None,
        clock: Callable[[], int] | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            url,
            identity,
            root_key,
            fetch_root_key,
            verify_query_signatures,
            ingress_expiry_seconds,
            polling=polling,
            clock=clock,
            timeout=timeout,
            retries=retries,
        )
        self._client = httpx.Client(base_url=self.url, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, flow: _Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Sleep):
                    time.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    def _send(self, request: _Request) -> _Response:
        try:
            response = self._client.request(
                request.method,
                request.path,
                content=request.body,
                headers=_HEADERS if request.body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from exc
        return _Response(response.status_code, response.content)

    def status(self) -> dict[str, Any]:
        """The replica's ``/api/v2/status`` map (``root_key``, ``replica_health_status``, …)."""
        return self._run(self._core.status())

    def fetch_root_key(self) -> bytes:
        """Fetch, store and return the replica's DER root key (for local replicas only)."""
        return self._run(self._core.fetch_root_key())

    def query(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """Run query ``method`` with Candid ``arg``; return the Candid reply bytes.

        Raises `RejectError` if the canister or replica rejects it.
        """
        return self._run(self._core.query(canister_id, method, arg, effective_canister_id))

    def update(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """Run update ``method`` and wait for its certified reply (Candid bytes).

        ``effective_canister_id`` routes calls to the management canister (see
        `icframework.agent.management`); it defaults to ``canister_id``.
        """
        return self._run(self._core.update(canister_id, method, arg, effective_canister_id))

    def submit(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """Send an update without waiting (``/api/v2/.../call``); return its request id.

        Follow it with `request_status` or `poll`. Used for ``oneway`` methods.
        """
        return self._run(
            self._core.submit(canister_id, method, arg, effective_canister_id, sync=False)
        )[0]

    def poll(
        self, effective_canister_id: CanisterLike, request_id: bytes, method: str = "?"
    ) -> bytes:
        """Poll a submitted call until it finishes; return the reply or raise `RejectError`."""
        ecid = as_principal(effective_canister_id)
        return self._run(self._core.poll(ecid, request_id, ecid, method))

    def read_state(self, canister_id: CanisterLike, paths: Iterable[PathLike]) -> Certificate:
        """A verified certificate revealing ``paths`` (lists of labels) of the state tree."""
        return self._run(self._core.read_state(canister_id, paths))

    def read_subnet_state(self, subnet_id: CanisterLike, paths: Iterable[PathLike]) -> Certificate:
        """Like `read_state`, through ``/api/v2/subnet/<subnet_id>/read_state``."""
        return self._run(self._core.read_state(subnet_id, paths, subnet=True))

    def request_status(
        self, effective_canister_id: CanisterLike, request_id: bytes
    ) -> RequestStatus:
        """The certified status of a request sent to ``effective_canister_id``."""
        return self._run(self._core.request_status(effective_canister_id, request_id))

    def node_keys(self, effective_canister_id: CanisterLike) -> dict[Principal, bytes]:
        """Node id → DER Ed25519 key of the subnet of ``effective_canister_id`` (cached)."""
        return self._run(self._core.node_keys(as_principal(effective_canister_id)))

    def canister_metadata(self, canister_id: CanisterLike, name: str) -> bytes | None:
        """The public metadata section ``name`` (e.g. ``candid:service``), or None if absent."""
        principal = as_principal(canister_id)
        path: list[bytes | str] = ["canister", principal.raw, "metadata", name]
        return lookup_value(path, self.read_state(principal, [path]).tree)


class AsyncAgent(_AgentBase):
    """The asyncio twin of `Agent`: same arguments (``transport`` is an async transport)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        identity: Identity | None = None,
        root_key: bytes | None = None,
        fetch_root_key: bool = False,
        verify_query_signatures: bool = True,
        ingress_expiry_seconds: float = 240,
        *,
        polling: PollingStrategy | None = None,
        clock: Callable[[], int] | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url,
            identity,
            root_key,
            fetch_root_key,
            verify_query_signatures,
            ingress_expiry_seconds,
            polling=polling,
            clock=clock,
            timeout=timeout,
            retries=retries,
        )
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()

    async def __aenter__(self) -> AsyncAgent:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _run(self, flow: _Flow[T]) -> T:
        try:
            step = next(flow)
            while True:
                if isinstance(step, _Sleep):
                    await asyncio.sleep(step.seconds)
                    step = flow.send(None)
                else:
                    step = flow.send(await self._send(step))
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]

    async def _send(self, request: _Request) -> _Response:
        try:
            response = await self._client.request(
                request.method,
                request.path,
                content=request.body,
                headers=_HEADERS if request.body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise self._unreachable(request, exc) from exc
        return _Response(response.status_code, response.content)

    async def status(self) -> dict[str, Any]:
        """See `Agent.status`."""
        return await self._run(self._core.status())

    async def fetch_root_key(self) -> bytes:
        """See `Agent.fetch_root_key`."""
        return await self._run(self._core.fetch_root_key())

    async def query(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """See `Agent.query`."""
        return await self._run(self._core.query(canister_id, method, arg, effective_canister_id))

    async def update(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """See `Agent.update`."""
        return await self._run(self._core.update(canister_id, method, arg, effective_canister_id))

    async def submit(
        self,
        canister_id: CanisterLike,
        method: str,
        arg: bytes,
        effective_canister_id: CanisterLike | None = None,
    ) -> bytes:
        """See `Agent.submit`."""
        result = await self._run(
            self._core.submit(canister_id, method, arg, effective_canister_id, sync=False)
        )
        return result[0]

    async def poll(
        self, effective_canister_id: CanisterLike, request_id: bytes, method: str = "?"
    ) -> bytes:
        """See `Agent.poll`."""
        ecid = as_principal(effective_canister_id)
        return await self._run(self._core.poll(ecid, request_id, ecid, method))

    async def read_state(self, canister_id: CanisterLike, paths: Iterable[PathLike]) -> Certificate:
        """See `Agent.read_state`."""
        return await self._run(self._core.read_state(canister_id, paths))

    async def read_subnet_state(
        self, subnet_id: CanisterLike, paths: Iterable[PathLike]
    ) -> Certificate:
        """See `Agent.read_subnet_state`."""
        return await self._run(self._core.read_state(subnet_id, paths, subnet=True))

    async def request_status(
        self, effective_canister_id: CanisterLike, request_id: bytes
    ) -> RequestStatus:
        """See `Agent.request_status`."""
        return await self._run(self._core.request_status(effective_canister_id, request_id))

    async def node_keys(self, effective_canister_id: CanisterLike) -> dict[Principal, bytes]:
        """See `Agent.node_keys`."""
        return await self._run(self._core.node_keys(as_principal(effective_canister_id)))

    async def canister_metadata(self, canister_id: CanisterLike, name: str) -> bytes | None:
        """See `Agent.canister_metadata`."""
        principal = as_principal(canister_id)
        path: list[bytes | str] = ["canister", principal.raw, "metadata", name]
        certificate = await self.read_state(principal, [path])
        return lookup_value(path, certificate.tree)
