"""A stateless front end of the scale-out deployment: the IC HTTP interface for every
subnet, routed by the registry.

`FrontendBackend` is an `ApiBackend` of the embedded HTTP interface
(`icframework.replica.http.asgi`): the same endpoint code serves the requests, with the
replica's part done here instead:

- **Routing.** The effective canister id of a request picks its subnet through the
  registry's routing table (`PostgresRegistry.routing_table`, reloaded when the
  registry's version moves, checked at most every `ROUTING_CHECK_S`); management
  canister calls (``aaaaa-aa``) go by the effective canister id in their URL, like every
  call; ``/api/v2/subnet/<id>/read_state`` by the subnet id; ``/api/v2/status`` to the
  root subnet (its key is the root key). A call the subnet's copy refuses, or a read
  for a canister the copy does not hold, makes the front end read the registry again
  at once: if the canister migrated meanwhile, the call or read goes to its new subnet
  (`FrontendBackend._moved_from`), so a stale routing table never shows to a client.
- **Reads.** Queries, read_state and status run on the front end's `ReadOnlyCopy` of
  that subnet (started on first use, refreshed on round notices): the copy certifies
  and signs as the subnet, so a client verifies the answer like the writer's.
- **Calls.** `forward_call` runs the embedded submission checks on the copy (the same
  non-replicated rejections; before refusing, the copy catches up with the writer's
  latest round and checks again, so a client never sees a refusal its own earlier call
  made stale), then the envelope goes to the subnet's writer as the
  Celery task ``icframework.subnet.submit`` on queue ``subnet.<name>``. A v3 call waits
  on `Answers` (registered before the task is sent) for the writer's certified answer,
  and after `CALL_WAIT_SECONDS` answers 202 as the embedded replica does, the client
  then polling read_state on any front end. Before a v3 answer goes out, the copy is
  brought to the answering round (`ReadOnlyCopy.catch_up_to`), so the caller's next
  query on the same front end sees its call (read-your-writes; other front ends see
  it within their staleness bound), and the copies of the other subnets catch up at
  their next read with every round committed before the answer came
  (`ReadOnlyCopy.require_rounds_before`): what the call's inter-canister calls changed
  there is visible too (causal reads).

A front end holds no state of its own: kill one and a client retries on another (a
resubmitted call is the same request id, so the writer runs it at most once).

`serve_frontend_backend` installs the backend in the process (the HTTP interface and the
canister socket's calls and queries use it); the ASGI application is the embedded one
(``config.asgi``).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cbor2

from icframework.agent import request_status_from_certificate
from icframework.core import ErrorCode, Principal
from icframework.protocol import CallContent, Envelope, ProtocolError, verify_certificate
from icframework.replica import (
    CALL_WAIT_SECONDS,
    ApiResponse,
    CanisterError,
    GatewayError,
    HttpError,
    PostgresRegistry,
    Registry,
    ReplicaReader,
    RoutingTable,
    forward_call,
    set_api_backend,
    set_gateway_backend,
)
from icframework.scaleout.answers import Answers
from icframework.scaleout.config import ClusterConfig
from icframework.scaleout.copies import REFRESH_MS, CopyError, ReadOnlyCopy

__all__ = ["ROUTING_CHECK_S", "FrontendBackend", "GatewayCanisters", "serve_frontend_backend"]

ROUTING_CHECK_S = 1.0
"""How often (at most) a front end checks the registry's version for routing changes."""
BAD_REQUEST = 400
NOT_FOUND = 404
SERVICE_UNAVAILABLE = 503
MANAGEMENT = Principal.management_canister()
CBOR = "application/cbor"
TEXT = "text/plain; charset=utf-8"
SELF_DESCRIBE = b"\xd9\xd9\xf7"

Send = Callable[[str, str, str, bytes], Any]


def _send_submit(subnet: str, kind: str, canister_id_text: str, body: bytes) -> Any:
    from icframework.scaleout.celery import send_submit

    return send_submit(subnet, kind, canister_id_text, body)


class FrontendBackend:
    """Serves the IC HTTP interface from copies and the subnets' writers (see above)."""

    def __init__(self, config: ClusterConfig, *, registry: Registry | None = None,
                 answers: Answers | None = None, refresh_ms: int = REFRESH_MS,
                 cache_dir: Path | None = None, send: Send = _send_submit,
                 call_wait_s: float = CALL_WAIT_SECONDS) -> None:
        self.config = config
        self.registry: Registry = registry or PostgresRegistry(config.database_url)
        self.answers = answers or Answers(config.redis_url)
        self.refresh_ms = refresh_ms
        self.cache_dir = cache_dir
        self.send = send
        self.call_wait_s = call_wait_s
        self._lock = threading.Lock()
        self._copies: dict[str, ReadOnlyCopy] = {}
        self._routing = RoutingTable()
        self._routing_version = -1
        self._routing_checked = 0.0
        self._by_id: dict[bytes, str] = {}
        self._root: str | None = None
        self.forwarded = 0
        self.answered = 0
        self.timed_out = 0

    def start(self) -> FrontendBackend:
        """Subscribe to answers and start a copy of every registered subnet that has
        state (the others start on first use)."""
        from icframework.scaleout.celery import configure

        configure(self.config)
        self.answers.start()
        self._refresh_routing(force=True)
        for record in self.registry.subnets():
            try:
                self.copy(record.name)
            except HttpError:
                continue
        return self

    def stop(self) -> None:
        self.answers.stop()
        with self._lock:
            copies = list(self._copies.values())
            self._copies.clear()
        for copy in copies:
            copy.stop()

    # -- routing --------------------------------------------------------------------------

    def _refresh_routing(self, *, force: bool = False) -> RoutingTable:
        """The routing table, with the subnet records, reloaded when the registry's
        version moved (checked at most every `ROUTING_CHECK_S`, or now with ``force``)."""
        now = time.monotonic()
        if force or now - self._routing_checked >= ROUTING_CHECK_S:
            self._routing_checked = now
            version = self.registry.version()
            if version != self._routing_version:
                records = self.registry.subnets()
                self._routing = self.registry.routing_table()
                self._by_id = {record.subnet_id: record.name for record in records}
                self._root = next((r.name for r in records if r.is_root), None)
                self._routing_version = version
        return self._routing

    def root_name(self) -> str:
        """The root subnet's name; raises `HttpError` 503 before ``cluster init``."""
        self._refresh_routing()
        if self._root is None:
            self._refresh_routing(force=True)
        if self._root is None:
            raise HttpError(SERVICE_UNAVAILABLE, "The cluster has no root subnet yet: run "
                            "`manage.py cluster init --subnets root,...` first.")
        return self._root

    def subnet_of(self, ecid: Principal) -> str:
        """The name of the subnet serving effective canister id ``ecid``; raises
        `HttpError` 400 when no subnet's range holds it."""
        if ecid == MANAGEMENT:
            return self.root_name()
        name = self._refresh_routing().subnet_of(ecid)
        if name is None:  # a range may just have moved: look again before refusing
            name = self._refresh_routing(force=True).subnet_of(ecid)
        if name is None:
            ranges = ", ".join(f"{subnet}: {r}" for r, subnet in self._routing.routes())
            raise HttpError(BAD_REQUEST, f"No subnet hosts effective canister id {ecid}: "
                            f"it is in no range of the routing table ({ranges}); use the id "
                            "of a canister, or one in the range of the subnet to create on.")
        return name

    def copy(self, name: str) -> ReadOnlyCopy:
        """The started copy of subnet ``name``; raises `HttpError` 503 if the subnet has
        no state yet (its writer has not committed)."""
        with self._lock:
            copy = self._copies.get(name)
            if copy is not None:
                return copy
            copy = ReadOnlyCopy(name, self.config, refresh_ms=self.refresh_ms,
                                cache_dir=self.cache_dir)
            try:
                copy.start()
            except CopyError as exc:
                copy.stop()
                raise HttpError(SERVICE_UNAVAILABLE, f"Subnet {name!r} is not serving yet: "
                                f"{exc}. Please try again...") from None
            self._copies[name] = copy
            return copy

    def mark_other_copies(self, answered_by: str, moment: float) -> None:
        """A call answered by subnet ``answered_by`` at ``moment``: every other copy
        catches up with the rounds committed before it at its next read
        (`ReadOnlyCopy.require_rounds_before`), so reads after a call see what its
        inter-canister calls did on other subnets (causal reads on this front end)."""
        for name, copy in self.copies.items():
            if name != answered_by:
                copy.require_rounds_before(moment)

    @property
    def copies(self) -> dict[str, ReadOnlyCopy]:
        with self._lock:
            return dict(self._copies)

    # -- ApiBackend -------------------------------------------------------------------------

    def reader(self, ecid: Principal) -> ReplicaReader:
        name = self.subnet_of(ecid)
        copy = self.copy(name)
        if ecid == MANAGEMENT or copy.replica.canister_record(ecid) is not None:
            return copy
        moved = self._moved_from(name, ecid)  # not there: did it move meanwhile?
        return copy if moved is None else self.copy(moved)

    def _moved_from(self, name: str, ecid: Principal) -> str | None:
        """The subnet the registry routes ``ecid`` to now, read again at once, if it is
        not ``name`` (a canister migrated since this front end last reloaded its routing
        table); else None. Called when the copy of ``name`` refused or lacks ``ecid``."""
        if ecid == MANAGEMENT:
            return None
        now = self._refresh_routing(force=True).subnet_of(ecid)
        return now if now is not None and now != name else None

    def subnet_reader(self, subnet_id: Principal) -> ReplicaReader:
        self._refresh_routing()
        name = self._by_id.get(subnet_id.raw)
        if name is None:
            self._refresh_routing(force=True)
            name = self._by_id.get(subnet_id.raw)
        if name is not None:
            return self.copy(name)
        raise HttpError(NOT_FOUND, f"No subnet {subnet_id} in this deployment's registry; "
                        "/api/v2/status and certificates' delegations name the subnets.")

    def root_reader(self) -> ReplicaReader:
        return self.copy(self.root_name())

    async def submit(self, body: bytes, envelope: Envelope, ecid: Principal, *,
                     v3: bool) -> ApiResponse:
        name = self.subnet_of(ecid)
        response = await self._submit_to(name, body, envelope, ecid, v3=v3)
        if _non_replicated_rejection(response):
            # Refused for a stale route (the canister migrated since the routing table
            # was loaded: "not found" or "stopped" on its old subnet)? Then the call goes
            # where the registry routes it now; any other refusal is the answer.
            moved = self._moved_from(name, ecid)
            if moved is not None:
                response = await self._submit_to(moved, body, envelope, ecid, v3=v3)
        return response

    async def _submit_to(self, name: str, body: bytes, envelope: Envelope, ecid: Principal,
                         *, v3: bool) -> ApiResponse:
        async def forward() -> ApiResponse | None:
            return await self._forward(name, body, envelope.request_id, ecid, v3=v3)

        copy = self.copy(name)

        async def catch_up() -> None:
            await asyncio.to_thread(copy.catch_up)

        return await forward_call(copy, envelope, ecid, v3=v3, forward=forward,
                                  catch_up=catch_up)

    async def _forward(self, name: str, body: bytes, request_id: bytes, ecid: Principal, *,
                       v3: bool) -> ApiResponse | None:
        future = self.answers.expect(request_id) if v3 else None
        try:
            try:
                await asyncio.to_thread(self.send, name, "call_v3" if v3 else "call",
                                        ecid.to_text(), body)
            except Exception as exc:
                raise HttpError(SERVICE_UNAVAILABLE, f"The broker did not take the call for "
                                f"subnet {name!r} ({type(exc).__name__}: {exc}); retry the "
                                "call (the same request runs at most once).") from exc
            self.forwarded += 1
            if future is None:
                return None
            answer = await self.answers.wait(future, self.call_wait_s)
        finally:
            if future is not None:
                self.answers.forget(request_id, future)
        if answer is None:
            self.timed_out += 1
            return None
        self.answered += 1
        if answer.outcome in ("replied", "rejected"):
            # Read-your-writes on this front end: the caller's next query sees the call,
            # and what its inter-canister calls changed on other subnets. The answering
            # subnet is the one the call was sent to, or the one its canister migrated
            # to (whose writer the old subnet's forwarded the call to).
            self.mark_other_copies(answer.subnet, time.monotonic())
            await asyncio.to_thread(self.copy(answer.subnet).catch_up_to, answer.height)
        content_type = CBOR if answer.body.startswith(SELF_DESCRIBE) else TEXT
        return ApiResponse(answer.status, answer.body, content_type)


def serve_frontend_backend(config: ClusterConfig, **options: Any) -> FrontendBackend:
    """Start a `FrontendBackend` and serve this process's IC HTTP interface and its HTTP
    gateway (canister pages on ``<canister-id>.localhost``) from it."""
    backend = FrontendBackend(config, **options).start()
    set_api_backend(backend)
    set_gateway_backend(GatewayCanisters(backend))
    return backend


GATEWAY_UPDATE_TIMEOUT_S = 60.0
INGRESS_EXPIRY_NS = 240 * 10**9
ANONYMOUS = Principal.anonymous()


class GatewayCanisters:
    """The HTTP gateway's `CanisterBackend` on a front end: ``http_request`` queries on
    the copy of the canister's subnet, ``http_request_update`` calls (anonymous, as the
    gateway makes them) to its writer, answered through `Answers` with the certificate
    verified under the root key. Blocking: the gateway runs in Django's threads."""

    def __init__(self, frontend: FrontendBackend, *,
                 update_timeout_s: float = GATEWAY_UPDATE_TIMEOUT_S) -> None:
        self.frontend = frontend
        self.update_timeout_s = update_timeout_s

    def query(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        copy = self.frontend.reader(canister_id)
        return copy.run(lambda replica: replica.query(canister_id, method, arg))

    def update(self, canister_id: Principal, method: str, arg: bytes) -> bytes:
        """Raises `CanisterError` on a reject, `GatewayError` 504 after the timeout and
        502 on a refusal that is not a canister reject."""
        frontend = self.frontend
        name = frontend.subnet_of(canister_id)
        content = CallContent(canister_id, method, arg, ANONYMOUS,
                              time.time_ns() + INGRESS_EXPIRY_NS, os.urandom(8))
        envelope = Envelope(content)
        request_id = envelope.request_id
        future = frontend.answers.expect_blocking(request_id)
        try:
            frontend.send(name, "call_v3", canister_id.to_text(), envelope.to_cbor())
            answer = future.result(self.update_timeout_s)
        except TimeoutError:
            raise GatewayError(504, f"{method} on canister {canister_id} was not answered "
                               f"within {self.update_timeout_s:g} s") from None
        finally:
            frontend.answers.forget(request_id, future)
        if answer.outcome in ("replied", "rejected"):
            frontend.mark_other_copies(answer.subnet, time.monotonic())
            frontend.copy(answer.subnet).catch_up_to(answer.height)  # the next page shows it
        body = _cbor_map(answer.body) if answer.body.startswith(SELF_DESCRIBE) else None
        if body is None:
            raise GatewayError(502, f"{method} on canister {canister_id} was refused: "
                               f"{answer.status} {answer.body[:200].decode(errors='replace')}")
        if "certificate" not in body:  # a non-replicated rejection
            raise _reject(body.get("error_code"), str(body.get("reject_message", "")))
        try:
            certificate = verify_certificate(body["certificate"], self.root_key(),
                                             canister_id=canister_id)
        except ProtocolError as exc:
            raise GatewayError(502, f"the answer of {method} on canister {canister_id} "
                               f"has an invalid certificate: {exc}") from exc
        status = request_status_from_certificate(certificate, request_id)
        if status.status == "replied" and status.reply is not None:
            return bytes(status.reply)
        raise _reject(status.error_code, status.reject_message or "")

    def root_key(self) -> bytes:
        return self.frontend.copy(self.frontend.root_name()).replica.identity.root_key_der

    def now_ns(self) -> int:
        return time.time_ns()


def _non_replicated_rejection(response: ApiResponse) -> bool:
    """Whether ``response`` refuses a call before execution (a CBOR reject without a
    certificate, from the copy's checks or from the writer's submission)."""
    if response.status != 200 or not response.body.startswith(SELF_DESCRIBE):
        return False
    body = _cbor_map(response.body)
    return body is not None and "reject_code" in body and "certificate" not in body


def _cbor_map(body: bytes) -> Mapping[str, Any] | None:
    value = cbor2.loads(body)
    value = value.value if isinstance(value, cbor2.CBORTag) else value
    return value if isinstance(value, Mapping) else None


def _reject(error_code: object, message: str) -> CanisterError:
    """The `CanisterError` of a reject with ``IC0xxx`` code ``error_code`` (a canister's
    own reject when it has none)."""
    if isinstance(error_code, str) and error_code.startswith("IC"):
        try:
            return CanisterError(ErrorCode(int(error_code[2:])), message)
        except ValueError:
            pass
    return CanisterError(ErrorCode.CANISTER_REJECTED_MESSAGE, message)
