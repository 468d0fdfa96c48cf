"""`CanisterSocket` against a live ``manage.py runreplica``: auth, gated topics, events
and their ``seq``, calls whose certificates come back over the socket, and a client that
stops reading closed by the server with a resync (a replica with a small socket buffer)."""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.agent.socket import (
    CanisterSocket,
    LastEvent,
    SocketError,
    SocketEvent,
    SocketResync,
    events_missed,
)
from icframework.candid import BOOL, NAT, PRINCIPAL, TEXT, decode, encode
from icframework.core import Principal
from icframework.identity import DelegationIdentity, Ed25519Identity
from icframework.protocol.delegation import create_delegation_chain
from icframework.replica.execution.python_module import pack_python_module
from icframework.sdk import candid_type_of, load_canister, service_did
from tests.agent.live_replica import running_replica
from tests.channels.publisher_canister import Note

SOURCE = Path(__file__).parents[1] / "channels" / "publisher_canister.py"
ALICE = Ed25519Identity.from_seed(b"alice socket client seed 0000000")


@contextlib.contextmanager
def _publisher(state: Path, settings_module: str | None = None,
               ) -> Iterator[tuple[str, Principal]]:
    """A running replica at ``state`` with the publisher canister installed."""
    with running_replica(state, settings_module=settings_module) as url, \
            Agent(url, identity=ALICE, fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        did = service_did(load_canister("tests.channels.publisher_canister"))
        module = pack_python_module({"publisher.py": SOURCE.read_text()}, "publisher.py", did=did)
        management.install_code(canister, module)
        yield url, canister


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Principal]]:
    with _publisher(tmp_path_factory.mktemp("socket") / "state") as served:
        yield served


def test_authenticated_socket_events_and_calls(live: tuple[str, Principal]) -> None:
    url, canister = live
    with CanisterSocket.connect(url, canister, ALICE) as alice, \
            CanisterSocket.connect(url, canister) as anonymous:
        assert alice.principal == ALICE.principal
        assert anonymous.principal == Principal.anonymous()
        topics, refused = alice.subscribe("room:a", "room:secret")
        assert topics == ["room:a"] and "room:secret" in refused
        assert anonymous.subscribe("room:a") == (["room:a"], {})

        # an update over the socket: its certificate is verified by the agent
        alice.update("allow", encode((PRINCIPAL, BOOL), (ALICE.principal, True)))
        assert alice.subscribe("room:secret")[0] == ["room:a", "room:secret"]
        assert decode(alice.query("can_subscribe", encode((TEXT,), ("room:secret",))),
                      (BOOL,)) == (True,)

        alice.update("post", encode((TEXT, TEXT), ("a", "hello everyone")))
        for socket in (alice, anonymous):
            event = socket.next_event(timeout=10)
            assert event is not None and event.topic == "room:a"
            (note,) = decode(event.value, (candid_type_of(Note),))
            assert note["author"] == ALICE.principal and note["text"] == "hello everyone"
        alice.update("post", encode((TEXT, TEXT), ("secret", "psst")))
        event = alice.next_event(timeout=10)
        assert event is not None and event.topic == "room:secret"
        assert anonymous.next_event(timeout=0.5) is None

        with pytest.raises(RejectError):
            alice.update("post_then_reject", encode((TEXT,), ("a",)))
        assert alice.next_event(timeout=0.5) is None
        assert alice.unsubscribe("room:a") == ["room:secret"]


def test_a_delegation_identity_authenticates_as_the_chain_root(
    live: tuple[str, Principal],
) -> None:
    url, canister = live
    session = Ed25519Identity.generate()
    expiration = time.time_ns() + 3600 * 10**9
    chain = create_delegation_chain(ALICE, session.der_public_key, expiration, [canister])
    with CanisterSocket.connect(url, canister, DelegationIdentity(session, chain)) as socket:
        assert socket.principal == ALICE.principal
    elsewhere = create_delegation_chain(ALICE, session.der_public_key, expiration,
                                        [Principal.from_canister_index(999)])
    with pytest.raises(SocketError, match=f"authentication refused: authentication failed: "
                                          f"Invalid delegation: canister {canister} is not "
                                          "among the delegation targets"):
        CanisterSocket.connect(url, canister, DelegationIdentity(session, elsewhere))


def test_unreachable_replica_is_a_clear_error() -> None:
    with pytest.raises(SocketError, match="cannot open"):
        CanisterSocket.connect("http://127.0.0.1:9", Principal.from_canister_index(1),
                               timeout=2)


def test_events_carry_contiguous_seq(live: tuple[str, Principal]) -> None:
    url, canister = live
    with CanisterSocket.connect(url, canister) as socket:
        assert socket.subscribe("room:count") == (["room:count"], {})
        for _ in range(2):
            socket.update("post_many", encode((TEXT, NAT), ("count", 5)))
        seqs: list[int] = []
        for _ in range(10):
            event = socket.next_event(timeout=10)
            assert event is not None and event.topic == "room:count"
            assert not events_missed(seqs[-1] if seqs else None, event.seq)
            seqs.append(event.seq)
        assert seqs == list(range(1, 11))  # the topic's first events
        assert socket.next_event(timeout=0.5) is None


def test_events_missed_reads_seq_as_the_server_numbers_it() -> None:
    assert not events_missed(None, 318)  # the first event of a topic on this socket
    assert not events_missed(317, 318)
    assert not events_missed(318, 1)  # a new count: the server restarted
    assert events_missed(317, 319)
    assert events_missed(318, 318)
    assert events_missed(318, 2)


@pytest.fixture(scope="module")
def small_buffer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Principal]]:
    """A replica whose sockets may fall only `BUFFER` events behind."""
    with _publisher(tmp_path_factory.mktemp("resync") / "state",
                    settings_module="tests.channels.small_buffer_settings") as served:
        yield served


BUFFER = 100  # tests.channels.small_buffer_settings
POSTS = 400
# random text, so permessage-deflate cannot shrink it: 400 events are far more than the
# kernel's buffers of a connection that is not read
TEXT_BYTES = 64 * 1024


def test_a_client_that_stops_reading_is_told_to_resync(
    small_buffer: tuple[str, Principal],
) -> None:
    url, canister = small_buffer
    # holds one event for the caller, then stops reading the connection
    stalled = CanisterSocket.connect(url, canister, ALICE, max_events=1)
    reader = CanisterSocket.connect(url, canister)
    with stalled, reader:
        assert stalled.subscribe("room:big") == (["room:big"], {})
        assert reader.subscribe("room:big") == (["room:big"], {})
        received: list[SocketEvent] = []
        done = threading.Event()

        def read() -> None:
            while len(received) < POSTS and (event := reader.next_event(timeout=60)):
                received.append(event)
            done.set()

        threading.Thread(target=read, daemon=True).start()
        with Agent(url, identity=ALICE, fetch_root_key=True) as agent:
            for _ in range(POSTS):
                text = base64.b64encode(os.urandom(TEXT_BYTES * 3 // 4)).decode()
                agent.update(canister, "post", encode((TEXT, TEXT), ("big", text)))
        assert done.wait(120), f"the reading client got {len(received)} of {POSTS} events"
        assert [event.seq for event in received] == list(range(1, POSTS + 1))

        # a request made now waits behind the unread events; the resync frame that ends
        # them is the socket's close reason, never the answer to this subscribe
        answers: list[object] = []
        pending = threading.Thread(target=lambda: answers.append(_outcome(
            lambda: stalled.subscribe("room:more"))), daemon=True)
        pending.start()

        events: list[SocketEvent] = []
        with pytest.raises(SocketResync) as resync:
            while (event := stalled.next_event(timeout=30)) is not None:
                events.append(event)
        pending.join(30)
        assert 0 < len(events) < POSTS - BUFFER
        assert [event.seq for event in events] == list(range(1, len(events) + 1))
        assert resync.value.reason == (f"this socket fell {BUFFER} events behind (the client "
                                       "reads more slowly than its topics publish)")
        assert resync.value.last == {"room:big": LastEvent(len(events), events[-1].height)}
        assert f"room:big after seq {len(events)}" in str(resync.value)
        assert stalled.resync is not None
        # the server does not answer it before closing (its writer is stuck behind the
        # stalled connection), so it ends with the resync; had the server answered first,
        # that answer would be right too: what must not happen is the resync frame taken
        # as the answer ("unexpected frame")
        (answer,) = answers
        assert isinstance(answer, SocketResync) or answer == (["room:big", "room:more"], {}), \
            answer
        # the socket stays closed with that reason for every later read or request
        with pytest.raises(SocketResync):
            stalled.next_event(timeout=1)
        with pytest.raises(SocketError):
            stalled.subscribe("room:big")


def _outcome(request: Callable[[], object]) -> object:
    try:
        return request()
    except SocketError as exc:
        return exc
