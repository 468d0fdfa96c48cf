"""`Actor`: methods typed by a .did, Python values in and out, text in and out."""

from __future__ import annotations

import asyncio

import pytest

from icframework.agent import Actor, Agent, AgentError, AsyncAgent, PollingStrategy, RejectError
from icframework.candid import CandidError, parse_did
from tests.agent.fake_replica import COUNTER_DID, COUNTER_ID, FakeReplica

FAST = PollingStrategy(initial_delay=0.001, max_delay=0.01, timeout=5.0)


def make_actor(fake: FakeReplica) -> Actor:
    agent = Agent("http://fake", fetch_root_key=True, polling=FAST, transport=fake.transport())
    return Actor(agent, COUNTER_ID, COUNTER_DID)


def test_methods_are_typed_calls() -> None:
    fake = FakeReplica()
    counter = make_actor(fake)
    assert counter.inc() == 1
    assert counter.get() == 1
    assert counter.add(41, "hi") == (42, "hi!")
    assert sorted(counter.methods) == ["add", "get", "inc", "ping", "refuse"]
    assert "inc" in dir(counter)


def test_query_methods_use_the_query_endpoint() -> None:
    fake = FakeReplica()
    counter = make_actor(fake)
    counter.get()
    assert ("POST", f"/api/v2/canister/{COUNTER_ID}/query") in fake.requests
    assert not any(path.endswith("/call") for _, path in fake.requests)


def test_oneway_submits_without_waiting() -> None:
    fake = FakeReplica()
    counter = make_actor(fake)
    assert counter.ping() is None
    assert ("POST", f"/api/v2/canister/{COUNTER_ID}/call") in fake.requests
    assert fake.polls == 0


def test_rejects_and_bad_arguments() -> None:
    counter = make_actor(FakeReplica())
    with pytest.raises(RejectError, match="refuse: rejected \\(reject code 4"):
        counter.refuse()
    with pytest.raises(CandidError):
        counter.add("not a number", "x")
    with pytest.raises(AttributeError, match=r"no method 'nope' .*methods: add, get, inc"):
        counter.nope()


def test_call_text_round_trip() -> None:
    counter = make_actor(FakeReplica())
    assert counter.call_text("inc") == "(1 : nat64)"
    assert counter.call_text("add", '(1, "a")') == '(2 : nat64, "a!")'
    assert counter.call_text("get", "()") == "(1 : nat64)"


def test_interface_from_metadata_and_did_file() -> None:
    fake = FakeReplica()
    fake.metadata["candid:service"] = COUNTER_DID.encode()
    agent = Agent("http://fake", fetch_root_key=True, transport=fake.transport())
    counter = Actor.from_canister(agent, COUNTER_ID)
    assert counter.inc() == 1
    typed = Actor(agent, COUNTER_ID.to_text(), parse_did(COUNTER_DID))
    assert typed.get() == 1
    with pytest.raises(AgentError, match="publishes no 'candid:service'"):
        Actor.from_canister(
            Agent("http://fake", fetch_root_key=True, transport=FakeReplica().transport()),
            COUNTER_ID,
        )
    with pytest.raises(AgentError, match="declares no service"):
        Actor(agent, COUNTER_ID, "type t = nat;")


def test_async_actor() -> None:
    fake = FakeReplica()

    async def scenario() -> tuple[int, int, str]:
        async with AsyncAgent(
            "http://fake", fetch_root_key=True, polling=FAST, transport=fake.transport()
        ) as agent:
            counter = Actor(agent, COUNTER_ID, COUNTER_DID)
            first = await counter.inc()
            second = await counter.get()
            text = await counter.call_text("add", '(9, "x")')
            return first, second, text

    assert asyncio.run(scenario()) == (1, 1, '(10 : nat64, "x!")')
