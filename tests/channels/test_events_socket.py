"""The canister socket end to end: a running replica service, its round loop, the
EventBridge, the in-memory channel layer and `CanisterSocketConsumer`."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cbor2
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from icframework.candid import BOOL, PRINCIPAL, TEXT, encode
from icframework.channels import consumers
from icframework.channels.consumers import FRAME_BUDGET, MAX_TOPICS
from icframework.channels.events import bridge, group_name
from icframework.channels.routing import websocket_urlpatterns
from icframework.compiler.runtime_build import load_runtime
from icframework.core import Principal
from icframework.identity import DelegationIdentity, Ed25519Identity
from icframework.protocol import CallContent, QueryContent, sign_envelope
from icframework.protocol.delegation import create_delegation_chain
from icframework.protocol.socket_auth import auth_frame, sign_challenge
from icframework.replica.errors import CanisterError
from icframework.replica.execution.runtime import set_runtime_loader
from icframework.replica.service import ReplicaService, start_service, stop_service
from tests.compiler.runtime_support import CACHE_DIR, runtime
from tests.replica.test_events import install_publisher

__all__ = ["runtime"]

APP = URLRouter(websocket_urlpatterns)
ALICE = Ed25519Identity.from_seed(b"a" * 32)
MALLORY = Ed25519Identity.from_seed(b"m" * 32)


@pytest.fixture(autouse=True)
def python_runtime(runtime: object) -> Iterator[None]:
    previous = set_runtime_loader(
        functools.partial(load_runtime, cache_dir=CACHE_DIR, progress=None)
    )
    yield
    set_runtime_loader(previous)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[ReplicaService]:
    running = start_service(tmp_path)
    running.replica.subnet.event_listeners.append(bridge)
    yield running
    stop_service()


@pytest.fixture
def canister(service: ReplicaService) -> Principal:
    return service.run(install_publisher)


def _update(service: ReplicaService, canister: Principal, method: str, arg: bytes) -> bytes:
    return service.run(lambda replica: replica.update(canister, method, arg))


async def _frame(socket: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await socket.receive_from(timeout=10))  # type: ignore[no-any-return]


async def _send(socket: WebsocketCommunicator, **frame: Any) -> None:
    await socket.send_to(text_data=json.dumps(frame))


async def _open(canister: Principal, headers: list[tuple[bytes, bytes]] | None = None
                ) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    socket = WebsocketCommunicator(APP, f"/ws/canisters/{canister.to_text()}/events",
                                   headers=headers or [])
    connected, _ = await socket.connect()
    assert connected
    hello = await _frame(socket)
    assert hello["op"] == "hello" and hello["canister_id"] == canister.to_text()
    return socket, hello


async def _auth(socket: WebsocketCommunicator, hello: dict[str, Any],
                identity: Ed25519Identity | DelegationIdentity,
                canister: Principal) -> dict[str, Any]:
    proof = sign_challenge(identity, canister, base64.b64decode(hello["challenge"]))
    await socket.send_to(text_data=json.dumps(auth_frame(proof)))
    return await _frame(socket)


def _delegated(expires_in_ns: int, targets: list[Principal] | None) -> DelegationIdentity:
    """ALICE's principal through a delegation to a fresh session key (Internet Identity
    style: the page holds only the session key and the chain)."""
    session = Ed25519Identity.generate()
    chain = create_delegation_chain(ALICE, session.der_public_key,
                                    time.time_ns() + expires_in_ns, targets)
    return DelegationIdentity(session, chain)


def test_a_delegated_identity_authenticates_as_the_chain_root(
    service: ReplicaService, canister: Principal
) -> None:
    hour = 3600 * 10**9
    other = Principal.from_canister_index(4242)

    async def scenario() -> None:
        for targets in (None, [other, canister]):
            socket, hello = await _open(canister)
            reply = await _auth(socket, hello, _delegated(hour, targets), canister)
            assert reply == {"op": "authenticated", "principal": ALICE.principal.to_text()}
            await socket.disconnect()

        socket, hello = await _open(canister)
        reply = await _auth(socket, hello, _delegated(-hour, None), canister)
        assert reply["op"] == "error" and reply["kind"] == "auth"
        assert reply["message"].startswith(
            "authentication failed: Invalid delegation: delegation 1 expired at ")
        assert (await socket.receive_output(timeout=5))["code"] == consumers.CLOSE_AUTH_FAILED

        socket, hello = await _open(canister)
        reply = await _auth(socket, hello, _delegated(hour, [other]), canister)
        assert reply["message"] == (
            f"authentication failed: Invalid delegation: canister {canister} is not among "
            "the delegation targets")
        assert (await socket.receive_output(timeout=5))["code"] == consumers.CLOSE_AUTH_FAILED

        socket, hello = await _open(canister)
        frame = auth_frame(sign_challenge(_delegated(hour, None), canister,
                                          base64.b64decode(hello["challenge"])))
        frame["delegations"][0]["delegation"]["expiration"] = 17  # type: ignore[index]
        await socket.send_to(text_data=json.dumps(frame))
        reply = await _frame(socket)
        assert reply["message"] == (
            "authentication failed: delegation 1: \"expiration\" must be nanoseconds since "
            "the epoch as a decimal string, not 17")

    asyncio.run(scenario())


def test_a_socket_opened_from_another_site_stays_anonymous(
    service: ReplicaService, canister: Principal
) -> None:
    host = (b"host", b"127.0.0.1:4943")

    async def scenario() -> None:
        foreign, hello = await _open(canister, [(b"origin", b"http://evil.example"), host])
        reply = await _auth(foreign, hello, ALICE, canister)
        assert reply == {"op": "error", "kind": "auth", "message": (
            "authentication refused: this socket was opened from a page of "
            "http://evil.example, another site than this replica, so it stays anonymous; "
            "authenticate from a page the replica serves, or from a program (no Origin)")}
        await _send(foreign, op="subscribe", topics=["room:a"])  # anonymous access goes on
        assert await _frame(foreign) == {"op": "subscribed", "topics": ["room:a"]}
        await foreign.disconnect()

        for origin in (b"http://127.0.0.1:4943", None):  # its own pages, and programs
            headers = [host] if origin is None else [(b"origin", origin), host]
            own, hello = await _open(canister, headers)
            assert (await _auth(own, hello, ALICE, canister))["op"] == "authenticated"
            await own.disconnect()

    asyncio.run(scenario())


def test_foreign_origins() -> None:
    host = (b"host", b"127.0.0.1:4943")
    assert consumers.foreign_origin([host]) is None
    assert consumers.foreign_origin([(b"origin", b"http://127.0.0.1:4943"), host]) is None
    for origin in (b"http://127.0.0.1:8000", b"http://localhost:4943", b"null",
                   b"http://abc.localhost:4943"):
        assert consumers.foreign_origin([(b"origin", origin), host]) == origin.decode()
    assert consumers.foreign_origin([(b"origin", b"http://127.0.0.1:4943")]) == (
        "http://127.0.0.1:4943")


def test_subscribers_receive_committed_events_only(
    service: ReplicaService, canister: Principal
) -> None:
    other = service.run(install_publisher)

    async def scenario() -> None:
        alice, _ = await _open(canister)
        bob, _ = await _open(canister)
        await _send(alice, op="subscribe", topics=["room:a"])
        assert await _frame(alice) == {"op": "subscribed", "topics": ["room:a"]}
        await _send(bob, op="subscribe", topics=["room:b", "room:a"])
        assert (await _frame(bob))["topics"] == ["room:a", "room:b"]

        def work() -> None:
            _update(service, other, "post", encode((TEXT, TEXT), ("a", "elsewhere")))
            _update(service, canister, "post", encode((TEXT, TEXT), ("a", "hi")))
            for method in ("post_then_trap", "post_then_reject"):
                with pytest.raises(CanisterError):
                    _update(service, canister, method, encode((TEXT,), ("a",)))
            _update(service, canister, "post", encode((TEXT, TEXT), ("b", "for bob")))

        await asyncio.to_thread(work)
        first = await _frame(alice)
        assert first["op"] == "event" and first["topic"] == "room:a"
        assert first["canister_id"] == canister.to_text()
        assert b"hi" in base64.b64decode(first["value"])
        assert await alice.receive_nothing(timeout=0.3)  # not room:b, not the other canister
        got = [await _frame(bob), await _frame(bob)]
        assert [g["topic"] for g in got] == ["room:a", "room:b"]
        assert got[0]["height"] < got[1]["height"]
        assert got[0]["seq"] == first["seq"]  # numbered per topic, not per socket
        await alice.disconnect()
        await bob.disconnect()

    asyncio.run(scenario())


def test_private_topics_need_the_canisters_consent(
    service: ReplicaService, canister: Principal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumers, "RECHECK_SECONDS", 0.2)

    async def scenario() -> None:
        socket, hello = await _open(canister)
        await _send(socket, op="subscribe", topics=["room:secret", "room:open"])
        reply = await _frame(socket)
        assert reply["topics"] == ["room:open"] and "room:secret" in reply["refused"]
        await asyncio.to_thread(_update, service, canister, "allow",
                                encode((PRINCIPAL, BOOL), (ALICE.principal, True)))
        assert await _auth(socket, hello, ALICE, canister) == {
            "op": "authenticated", "principal": ALICE.principal.to_text()
        }
        await _send(socket, op="subscribe", topics=["room:secret"])
        assert (await _frame(socket))["topics"] == ["room:open", "room:secret"]
        await asyncio.to_thread(_update, service, canister, "post",
                                encode((TEXT, TEXT), ("secret", "psst")))
        assert (await _frame(socket))["topic"] == "room:secret"
        # the canister withdraws consent: the next check drops the topic
        await asyncio.to_thread(_update, service, canister, "allow",
                                encode((PRINCIPAL, BOOL), (ALICE.principal, False)))
        frame = await _frame(socket)
        while frame["op"] == "event":
            frame = await _frame(socket)
        assert frame["op"] == "unsubscribed" and frame["topics"] == ["room:secret"]
        await asyncio.to_thread(_update, service, canister, "post",
                                encode((TEXT, TEXT), ("secret", "not for alice")))
        assert await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()

    asyncio.run(scenario())


def test_forged_and_replayed_authentication_is_refused(
    service: ReplicaService, canister: Principal
) -> None:
    async def scenario() -> None:
        socket, hello = await _open(canister)
        nonce = base64.b64decode(hello["challenge"])
        forged = sign_challenge(MALLORY, canister, nonce)
        await _send(socket, op="auth", public_key=base64.b64encode(ALICE.der_public_key).decode(),
                    signature=base64.b64encode(forged.signature).decode())
        reply = await _frame(socket)
        assert reply["op"] == "error" and "does not verify" in reply["message"]
        assert (await socket.receive_output(timeout=5))["code"] == consumers.CLOSE_AUTH_FAILED

        # a proof for one socket's challenge is useless on another socket
        first, first_hello = await _open(canister)
        second, _ = await _open(canister)
        proof = sign_challenge(ALICE, canister, base64.b64decode(first_hello["challenge"]))
        await _send(second, op="auth", public_key=base64.b64encode(proof.public_key).decode(),
                    signature=base64.b64encode(proof.signature).decode())
        assert (await _frame(second))["op"] == "error"
        assert (await _auth(first, first_hello, ALICE, canister))["op"] == "authenticated"
        await _send(first, op="auth", public_key="", signature="")
        assert "already used" in (await _frame(first))["message"]
        await first.disconnect()

    asyncio.run(scenario())


def test_signed_calls_and_queries_over_the_socket(
    service: ReplicaService, canister: Principal
) -> None:
    def envelope(kind: type[CallContent] | type[QueryContent], method: str, arg: bytes,
                 identity: Ed25519Identity = ALICE) -> str:
        content = kind(canister, method, arg, identity.principal,
                       time.time_ns() + 60_000_000_000)
        return base64.b64encode(sign_envelope(content, identity).to_cbor()).decode()

    async def scenario() -> None:
        socket, _ = await _open(canister)
        await _send(socket, op="subscribe", topics=["room:x"])
        await _frame(socket)
        await _send(socket, op="call", id="c1",
                    envelope=envelope(CallContent, "post", encode((TEXT, TEXT), ("x", "via ws"))))
        frames = [await _frame(socket), await _frame(socket)]
        response = next(f for f in frames if f["op"] == "response")
        assert response["id"] == "c1" and response["status"] == 200
        body = cbor2.loads(base64.b64decode(response["body"]))
        assert body["status"] == "replied" and "certificate" in body
        event = next(f for f in frames if f["op"] == "event")
        assert b"via ws" in base64.b64decode(event["value"])

        await _send(socket, op="query", id=2,
                    envelope=envelope(QueryContent, "can_subscribe", encode((TEXT,), ("x",))))
        response = await _frame(socket)
        query = cbor2.loads(base64.b64decode(response["body"]))
        assert response["id"] == 2 and query["status"] == "replied" and query["signatures"]

        # a forged envelope: Mallory's signature on Alice's request
        content = CallContent(canister, "post", encode((TEXT, TEXT), ("x", "forged")),
                              ALICE.principal, time.time_ns() + 60_000_000_000)
        good = sign_envelope(content, ALICE)
        bad = sign_envelope(CallContent(canister, "post", b"", MALLORY.principal,
                                        content.ingress_expiry), MALLORY)
        forged = cbor2.dumps(cbor2.CBORTag(55799, {**good.to_map(), "sender_sig": bad.sender_sig}))
        await _send(socket, op="call", id="f", envelope=base64.b64encode(forged).decode())
        response = await _frame(socket)
        assert response["status"] == 400
        assert b"Invalid signature" in base64.b64decode(response["body"])
        await _send(socket, op="call", id="g", envelope="not base64!")
        assert (await _frame(socket))["status"] == 400
        assert await socket.receive_nothing(timeout=0.3)  # nothing forged was published
        await socket.disconnect()

    asyncio.run(scenario())


def test_protocol_errors_flooding_and_bad_canister(
    service: ReplicaService, canister: Principal
) -> None:
    async def scenario() -> None:
        socket, _ = await _open(canister)
        for frame, expected in [
            ("not json", "not JSON"),
            ("[1]", "JSON object"),
            (json.dumps({"op": "dance"}), "unknown op 'dance'"),
            (json.dumps({"op": "subscribe", "topics": []}), "non-empty list"),
            (json.dumps({"op": "subscribe", "topics": [3]}), "topic 3"),
            (json.dumps({"op": "subscribe", "topics": ["x" * 300]}), "longer than 256"),
            (json.dumps({"op": "subscribe", "topics": [f"t{i}" for i in range(MAX_TOPICS + 1)]}),
             f"at most {MAX_TOPICS}"),
            (json.dumps({"op": "call", "envelope": ""}), "needs an \"id\""),
        ]:
            await socket.send_to(text_data=frame)
            reply = await _frame(socket)
            assert reply["op"] == "error" and expected in reply["message"], (frame, reply)
        await socket.send_to(bytes_data=b"\x00")
        assert "JSON text" in (await _frame(socket))["message"]
        await _send(socket, op="subscribe", topics=["ok"])
        assert (await _frame(socket))["topics"] == ["ok"]
        await _send(socket, op="unsubscribe", topics=["ok", "no"])
        assert (await _frame(socket))["topics"] == []
        for _ in range(FRAME_BUDGET):
            await socket.send_to(text_data="{}")
        closed = None
        while closed is None:
            output = await socket.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                closed = output
        assert closed["code"] == consumers.CLOSE_POLICY

        bad = WebsocketCommunicator(APP, "/ws/canisters/not-a-principal!/events")
        connected, code = await bad.connect()
        assert not connected and code == consumers.CLOSE_BAD_CANISTER

    asyncio.run(scenario())


def test_group_names_are_valid_and_distinct() -> None:
    a, b = Principal.from_canister_index(1), Principal.from_canister_index(2)
    names = {group_name(a, "x"), group_name(b, "x"), group_name(a, "y"), group_name(a, "é" * 256)}
    assert len(names) == 4
    assert all(len(n) < 100 and n.isascii() for n in names)
