"""canister-socket.js (the browser bundle's socket client) in Node against a live replica.

The chat canister is deployed with ``manage.py deploy`` on a real ``runreplica``; the
script (canister_socket.mjs) signs in two Ed25519 identities with @dfinity/agent, builds
the actor from chat.did with did.js, and uses `CanisterSocket` as the chat page does:
authentication with the identity's own key or through an @dfinity/identity delegation
chain, subscriptions the canister's ``can_subscribe`` allows or refuses, decoded
``ChatEvent``s, unsubscribe and close. A second script (canister_socket_resync.mjs)
stops reading on a replica with a small socket buffer and gets the ``resync`` close.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from icframework.agent import Agent, ManagementCanister
from icframework.candid import TEXT, encode
from icframework.identity import Ed25519Identity
from icframework.replica.execution.python_module import pack_python_module
from icframework.sdk import load_canister, service_did
from tests.agent.live_replica import running_replica
from tests.frontend.node_runner import HERE, run_script, websocket_flags
from tests.node import requires_node

pytestmark = requires_node

ROOT = Path(__file__).resolve().parents[2]
SEEDS = {"alice": bytes([7]) * 32, "bob": bytes([8]) * 32}
PUBLISHER = ROOT / "tests" / "channels" / "publisher_canister.py"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    project = tmp_path_factory.mktemp("socket_project")
    with pytest.MonkeyPatch.context() as env, override_settings(BASE_DIR=project):
        env.setenv("ICFRAMEWORK_HOME", str(project / "home"))
        env.setenv("DFX_CONFIG_ROOT", str(project / "dfxroot"))
        with running_replica(project / "state") as url:
            out = StringIO()
            call_command("deploy", str(ROOT / "apps" / "chat"), "--network", url,
                         stdout=out, stderr=StringIO())
            found = re.match(r"chat: canister (\S+) ", out.getvalue())
            assert found, out.getvalue()
            payload = {
                "host": url,
                "canisterId": found[1],
                "seeds": {name: seed.hex() for name, seed in SEEDS.items()},
            }
            data: dict[str, Any] = run_script("canister_socket.mjs", payload)
            data["host"], data["canisterId"] = url, found[1]
            yield data


def test_the_socket_url_and_challenge(result: dict[str, Any]) -> None:
    host = result["host"].replace("http://", "ws://")
    assert result["socketUrl"] == f"{host}/ws/canisters/{result['canisterId']}/events"
    # domain separator (24 bytes) + length byte + 10-byte canister id + 32-byte nonce
    assert result["challengeLength"] == 24 + 1 + 10 + 32


def test_authentication_gives_the_socket_the_key_principal(result: dict[str, Any]) -> None:
    bob = Ed25519Identity.from_seed(SEEDS["bob"]).principal.to_text()
    assert result["bobPrincipal"] == {"socket": bob, "key": bob}
    assert result["anonPrincipal"] == "2vxsx-fae"


def test_a_delegation_identity_authenticates_as_its_root(result: dict[str, Any]) -> None:
    alice = Ed25519Identity.from_seed(SEEDS["alice"]).principal.to_text()
    assert result["delegatedPrincipal"] == {"socket": alice, "root": alice}
    assert result["delegatedElsewhere"] == (
        "authentication refused: authentication failed: Invalid delegation: canister "
        f"{result['canisterId']} is not among the delegation targets")


def test_subscriptions_follow_can_subscribe(result: dict[str, Any]) -> None:
    bob = result["bobPrincipal"]["key"]
    subscribed = result["bobSubscribe"]
    assert sorted(subscribed["topics"]) == sorted(["room:1", f"user:{bob}"])
    assert list(subscribed["refused"]) == ["room:2"]
    assert "may not receive 'room:2'" in subscribed["refused"]["room:2"]
    anonymous = result["anonSubscribe"]
    assert anonymous["topics"] == ["room:1"]
    assert list(anonymous["refused"]) == [f"user:{bob}"]


def test_events_arrive_decoded_with_the_did_types(result: dict[str, Any]) -> None:
    event = result["bobEvent"]
    assert event["topic"] == "room:1"
    assert isinstance(event["height"], int)
    message = event["message"]
    assert message["id"] == result["sentId"] == "1"
    assert message["text"] == "hi @bob"
    assert message["author_handle"] == "alice"
    assert message["author"] == Ed25519Identity.from_seed(SEEDS["alice"]).principal.to_text()
    assert message["mentions"] == []  # mentions resolve to members only; bob has not joined
    assert message["reply_to"] == []
    assert result["anonEvent"] == {"topic": "room:1", "text": "hi @bob"}


def test_a_new_member_follows_the_private_room(result: dict[str, Any]) -> None:
    bob = result["bobPrincipal"]["key"]
    assert result["roomAdded"] == {"topic": f"user:{bob}", "room": "private room"}
    assert sorted(result["bobSubscribeAgain"]["topics"]) == sorted(
        ["room:1", "room:2", f"user:{bob}"]
    )
    assert result["bobSubscribeAgain"]["refused"] == {}
    assert result["privateText"] == "secret"


def test_unsubscribe_close_and_errors(result: dict[str, Any]) -> None:
    bob = result["bobPrincipal"]["key"]
    assert sorted(result["afterUnsubscribe"]) == sorted(["room:2", f"user:{bob}"])
    assert result["anonClosed"] == 1000  # a normal closure
    assert result["requestAfterClose"] == "the socket is closed"
    assert result["badCanister"] == "cannot open the canister socket of not-a-principal"


BUFFER = 100  # tests.channels.small_buffer_settings
POSTS = 400
TEXT_BYTES = 64 * 1024  # random text: permessage-deflate cannot shrink it on the wire


def test_a_page_that_stops_reading_gets_the_resync(tmp_path: Path) -> None:
    """The script stops its event loop while 400 large events are published; the server
    closes its socket with 4410 after a ``resync`` frame, which goes to ``onResync`` and
    is not taken as the answer to the subscribe sent just before."""
    identity = Ed25519Identity.from_seed(b"canister socket js resync".ljust(32, b"."))
    with running_replica(tmp_path / "state",
                         settings_module="tests.channels.small_buffer_settings") as url, \
            Agent(url, identity=identity, fetch_root_key=True) as agent:
        management = ManagementCanister(agent)
        canister = management.provisional_create_canister_with_cycles()
        did = service_did(load_canister("tests.channels.publisher_canister"))
        management.install_code(canister, pack_python_module(
            {"publisher.py": PUBLISHER.read_text()}, "publisher.py", did=did))
        node = subprocess.Popen(
            ["node", *websocket_flags(), str(HERE / "canister_socket_resync.mjs")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=ROOT,
        )
        try:
            assert node.stdin is not None and node.stdout is not None
            node.stdin.write(json.dumps({"host": url, "canisterId": canister.to_text()}) + "\n")
            node.stdin.flush()
            assert node.stdout.readline() == "ready\n", node.stderr and node.stderr.read()
            for _ in range(POSTS):
                text = base64.b64encode(os.urandom(TEXT_BYTES * 3 // 4)).decode()
                agent.update(canister, "post", encode((TEXT, TEXT), ("big", text)))
            node.stdin.write("go\n")
            node.stdin.flush()
            out, err = node.communicate(timeout=120)
        finally:
            node.kill()
        assert node.returncode == 0, err
    result = json.loads(out)
    events = result["events"]
    assert result["subscribed"] == {"topics": ["room:big"], "refused": {}}
    assert 0 < len(events) < POSTS - BUFFER
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    frame = {
        "op": "resync",
        "reason": f"this socket fell {BUFFER} events behind (the client reads more slowly "
                  "than its topics publish)",
        "last": {"room:big": {"seq": len(events), "height": events[-1]["height"]}},
    }
    assert result["resyncFrame"] == result["resync"] == frame
    assert result["order"] == ["resync", "close"]
    assert result["close"] == {"code": 4410, "reason": "resync: events were missed"}
    # the server does not answer the late subscribe before closing; had it answered first
    # that answer would be right too: what must not happen is the resync frame taken as it
    pending = result["pending"]
    assert pending in (
        {"error": f"socket closed (4410): it missed events ({frame['reason']}); read what "
                  "changed by query, then connect again", "resync": frame},
        {"answer": {"topics": ["room:big", "room:more"], "refused": {}}},
    ), pending
