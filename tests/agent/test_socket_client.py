"""`CanisterSocket` against a live ``manage.py runreplica``: auth, gated topics, events,
and calls whose certificates come back over the socket."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from icframework.agent import Agent, ManagementCanister, RejectError
from icframework.agent.socket import CanisterSocket, SocketError
from icframework.candid import BOOL, PRINCIPAL, TEXT, decode, encode
from icframework.core import Principal
from icframework.identity import DelegationIdentity, Ed25519Identity
from icframework.protocol.delegation import create_delegation_chain
from icframework.replica.execution.python_module import pack_python_module
from icframework.sdk import candid_type_of, load_canister, service_did
from tests.agent.live_replica import running_replica
from tests.channels.publisher_canister import Note

SOURCE = Path(__file__).parents[1] / "channels" / "publisher_canister.py"
ALICE = Ed25519Identity.from_seed(b"alice socket client seed 0000000")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Principal]]:
    with running_replica(tmp_path_factory.mktemp("socket") / "state") as url, \
            Agent(url, identity=ALICE, fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        did = service_did(load_canister("tests.channels.publisher_canister"))
        module = pack_python_module({"publisher.py": SOURCE.read_text()}, "publisher.py", did=did)
        management.install_code(canister, module)
        yield url, canister


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
